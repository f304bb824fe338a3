//! Queueing closed forms the models are validated against: M/M/1 and M/M/c (Erlang C).

/// Erlang C: the probability that an arrival waits in an M/M/c queue with
/// `servers` servers and offered load `a = lambda / mu` (a < servers).
pub fn erlang_c(servers: u32, offered_load: f64) -> f64 {
    let _ = (servers, offered_load);
    todo!("helper")
}

/// Mean wait in queue (seconds) of M/M/c with arrival rate `lambda` and
/// service rate `mu` per server (per second): `C(c, a) / (c mu - lambda)`.
pub fn mmc_mean_wait_s(lambda: f64, mu: f64, servers: u32) -> f64 {
    let _ = (lambda, mu, servers);
    todo!("helper")
}

/// Utilisation of M/M/1: `lambda / mu`.
pub fn mm1_utilisation(lambda: f64, mu: f64) -> f64 {
    lambda / mu
}
