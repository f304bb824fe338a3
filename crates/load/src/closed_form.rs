//! Queueing closed forms the models are validated against: M/M/1 and M/M/c (Erlang C).

/// Erlang C: the probability that an arrival waits in an M/M/c queue with
/// `servers` servers and offered load `a = lambda / mu` (a < servers).
///
/// Through Erlang B's recurrence `B(0) = 1`, `B(k) = a B(k-1) / (k + a B(k-1))`,
/// every term in (0, 1] (no factorials, no powers: stable for thousands of
/// servers), then `C = c B / (c - a (1 - B))`. 1 when `a >= servers` (an
/// unstable queue: everyone waits), 0 when `a <= 0`.
pub fn erlang_c(servers: u32, offered_load: f64) -> f64 {
    let servers_f = f64::from(servers);
    if offered_load.is_nan() || offered_load >= servers_f {
        return 1.0;
    }
    if offered_load <= 0.0 {
        return 0.0;
    }
    let blocking = (1..=servers).fold(1.0, |previous, k| {
        let carried = offered_load * previous;
        carried / (f64::from(k) + carried)
    });
    servers_f * blocking / (servers_f - offered_load * (1.0 - blocking))
}

/// Mean wait in queue (seconds) of M/M/c with arrival rate `lambda` and
/// service rate `mu` per server (per second): `C(c, a) / (c mu - lambda)`.
/// Infinite when `lambda >= servers mu` (the queue grows without bound).
pub fn mmc_mean_wait_s(lambda: f64, mu: f64, servers: u32) -> f64 {
    let capacity_per_s = f64::from(servers) * mu;
    if lambda.is_nan() || capacity_per_s.is_nan() || lambda >= capacity_per_s {
        return f64::INFINITY;
    }
    erlang_c(servers, lambda / mu) / (capacity_per_s - lambda)
}

/// Utilisation of M/M/1: `lambda / mu`.
pub fn mm1_utilisation(lambda: f64, mu: f64) -> f64 {
    lambda / mu
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mm1_waits_rho_over_mu_minus_lambda() {
        // M/M/1 at rho = 0.5: C = rho, Wq = rho / (mu - lambda) = 0.5 / 5.
        assert!((erlang_c(1, 0.5) - 0.5).abs() < 1e-15);
        assert!((mmc_mean_wait_s(5.0, 10.0, 1) - 0.1).abs() < 1e-15);
        assert_eq!(mm1_utilisation(5.0, 10.0), 0.5);
    }

    #[test]
    fn mm2_by_hand() {
        // c = 2, a = 1 (rho = 0.5): P0 = 1 / (1 + a + a^2 / (2! (1 - rho))) = 1/3,
        // C = a^2 / (2! (1 - rho)) P0 = 1/3; Wq = C / (c mu - lambda) = (1/3) / (2 - 1).
        assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-15);
        assert!((mmc_mean_wait_s(1.0, 1.0, 2) - 1.0 / 3.0).abs() < 1e-15);
        // c = 3, a = 2.4: 0.6472 (the M/M/3 the queue test checks).
        assert!((erlang_c(3, 2.4) - 0.647_19).abs() < 1e-5, "{}", erlang_c(3, 2.4));
    }

    #[test]
    fn many_servers_stay_finite_and_ordered() {
        let heavy = erlang_c(10_000, 9_900.0);
        let light = erlang_c(10_000, 9_000.0);
        assert!(heavy.is_finite() && (0.0..=1.0).contains(&heavy), "{heavy}");
        assert!(light < heavy && light >= 0.0, "{light} {heavy}");
        assert_eq!(erlang_c(4, 4.0), 1.0);
        assert_eq!(erlang_c(4, 0.0), 0.0);
        assert_eq!(mmc_mean_wait_s(10.0, 1.0, 10), f64::INFINITY);
    }
}
