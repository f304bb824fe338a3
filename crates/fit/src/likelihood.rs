//! Log-likelihoods of the observed failures: independent (binomial) and the
//! continuous-time Gilbert-Elliott chain by the scaled forward algorithm.

use retrylab_faults::BurstParams;

use crate::Observation;

/// `ln` of the binomial likelihood of `failures` out of `n` (without the
/// binomial coefficient, which the Gilbert-Elliott likelihood has not either).
pub fn independent_log_likelihood(failures: u64, n: u64, p: f64) -> f64 {
    let successes = n - failures.min(n);
    let mut ll = 0.0;
    if failures > 0 {
        ll += failures as f64 * p.ln();
    }
    if successes > 0 {
        ll += successes as f64 * (1.0 - p).ln();
    }
    ll
}

/// Below this the running product of predictive probabilities is folded into
/// the log-likelihood (one `ln` per ~700 factors of 1/e instead of one each).
const PRODUCT_FOLD_BELOW: f64 = 1e-250;

/// The log-likelihood of the observations under the chain `params`, started
/// in its stationary distribution at the first request.
///
/// Between two requests `gap` apart the probability of the bad state relaxes
/// towards the stationary `pi_bad` as `pi_bad + (p_bad - pi_bad) e^{-s gap}`
/// with `s = 1/good_mean + 1/bad_mean`: the exact two-state transition matrix
/// applied to the filtered state, with one `exp` per gap (none when the gap
/// repeats the previous one, as 1-second log timestamps often do). A zero gap
/// keeps the state: requests logged with the same timestamp saw the same
/// state. Returns `-inf` when the data are impossible under `params` (a
/// failure where both states have failure probability 0).
pub fn gilbert_elliott_log_likelihood(observations: &[Observation], params: &BurstParams) -> f64 {
    if observations.is_empty() {
        return 0.0;
    }
    let rate = 1.0 / params.good_mean_ms + 1.0 / params.bad_mean_ms;
    let pi_bad = params.stationary_bad_fraction();
    let (good_failure, bad_failure) = (params.good_failure, params.bad_failure);
    let mut p_bad = pi_bad;
    let mut last_time_ms = observations[0].time_ms;
    let mut last_gap_ms = f64::NAN;
    let mut decay = 1.0;
    let mut log_likelihood = 0.0;
    let mut product = 1.0;
    for observation in observations {
        let gap_ms = observation.time_ms - last_time_ms;
        last_time_ms = observation.time_ms;
        if gap_ms > 0.0 {
            if gap_ms != last_gap_ms {
                decay = (-rate * gap_ms).exp();
                last_gap_ms = gap_ms;
            }
            p_bad = pi_bad + (p_bad - pi_bad) * decay;
        }
        let (bad_term, good_term) = if observation.failed {
            (p_bad * bad_failure, (1.0 - p_bad) * good_failure)
        } else {
            (p_bad * (1.0 - bad_failure), (1.0 - p_bad) * (1.0 - good_failure))
        };
        let predictive = bad_term + good_term;
        if predictive.is_nan() || predictive <= 0.0 {
            return f64::NEG_INFINITY;
        }
        p_bad = bad_term / predictive;
        product *= predictive;
        if product < PRODUCT_FOLD_BELOW {
            log_likelihood += product.ln();
            product = 1.0;
        }
    }
    log_likelihood + product.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(time_ms: f64, failed: bool) -> Observation {
        Observation { time_ms, failed }
    }

    /// Two requests 1 s apart, the first failed, the second not, worked by hand.
    #[test]
    fn two_observations_match_a_hand_computation() {
        let params = BurstParams { good_mean_ms: 3000.0, bad_mean_ms: 1000.0, good_failure: 0.1, bad_failure: 0.8 };
        // pi_bad = 1000 / 4000 = 0.25; P(fail) = 0.75*0.1 + 0.25*0.8 = 0.275.
        // P(bad | fail) = 0.2 / 0.275; s = 1/3000 + 1/1000; decay = e^{-s 1000} = e^{-4/3}.
        let p_fail: f64 = 0.275;
        let post_bad = 0.2 / 0.275;
        let decay = (-4.0f64 / 3.0).exp();
        let prior_bad = 0.25 + (post_bad - 0.25) * decay;
        let p_success = prior_bad * 0.2 + (1.0 - prior_bad) * 0.9;
        let expected = p_fail.ln() + p_success.ln();
        let got = gilbert_elliott_log_likelihood(&[obs(0.0, true), obs(1000.0, false)], &params);
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
        // A third request at the same timestamp sees the same state (no decay).
        let post_bad_2 = prior_bad * 0.2 / p_success;
        let p_fail_3 = post_bad_2 * 0.8 + (1.0 - post_bad_2) * 0.1;
        let got3 = gilbert_elliott_log_likelihood(&[obs(0.0, true), obs(1000.0, false), obs(1000.0, true)], &params);
        assert!((got3 - (expected + p_fail_3.ln())).abs() < 1e-12);
    }

    /// Equal failure probabilities in both states make the chain irrelevant:
    /// the likelihood is the binomial one, whatever the means and gaps.
    #[test]
    fn equal_state_failure_rates_give_the_binomial_likelihood() {
        let params = BurstParams { good_mean_ms: 50.0, bad_mean_ms: 7.0, good_failure: 0.3, bad_failure: 0.3 };
        let pattern = [true, false, false, true, true, false, true, false, false, false];
        let observations: Vec<_> =
            pattern.iter().enumerate().map(|(i, &failed)| obs((i * i) as f64 * 3.0, failed)).collect();
        let got = gilbert_elliott_log_likelihood(&observations, &params);
        let expected = independent_log_likelihood(4, 10, 0.3);
        assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    }

    #[test]
    fn impossible_data_is_minus_infinity_not_nan() {
        let params = BurstParams { good_mean_ms: 50.0, bad_mean_ms: 7.0, good_failure: 0.0, bad_failure: 0.0 };
        let ll = gilbert_elliott_log_likelihood(&[obs(0.0, false), obs(1.0, true)], &params);
        assert_eq!(ll, f64::NEG_INFINITY);
    }
}
