//! The simulator's prediction for a real run, and whether the run agreed
//! with it.
//!
//! A real run is one realisation of the scenario's fault process, so it is
//! compared with the spread of single runs in the simulator, not with the
//! (much narrower) interval of the mean over many seeds. The simulator runs
//! the same scenario, shortened as the real run was, on `n` seeds after the
//! real run's own; the prediction interval of a run's failure rate is
//! `[min, max]` of those `n` rates. For any continuous distribution a new
//! draw falls inside the range of `n` others with probability
//! `(n - 1) / (n + 1)` (order statistics), whatever the distribution; with
//! ties (rates are counts over operations) the chance is higher. `n = 199`
//! gives 99%. The run on the real run's own seed is reported beside it: the
//! wire layer draws the same fault per request slot as the simulated S3, so
//! the two see nearly the same faults (they part where wall-clock overhead
//! moves a Gilbert-Elliott transition past a request).

use retrylab_harness::{estimate_state, EstimateError, EstimateOptions, PolicyEstimate, RunTimeout};
use retrylab_scenario::Scenario;
use serde::Serialize;

/// Attempts per operation agree when the real run's is within this
/// relative distance of the simulator's mean.
pub const ATTEMPTS_TOLERANCE: f64 = 0.05;

/// Simulated seeds behind a prediction interval by default: 199 gives a
/// 99% interval.
pub const SIM_SEEDS_DEFAULT: u64 = 199;

/// What the simulator predicts for one policy's real run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyPrediction {
    pub policy: String,
    /// Simulated seeds behind the interval (the real run's seed excluded).
    pub sim_seeds: u64,
    /// The chance that a run of the simulated process falls inside the
    /// interval: `(sim_seeds - 1) / (sim_seeds + 1)`.
    pub coverage: f64,
    /// The prediction interval of one run's failure rate.
    pub failure_rate_low: f64,
    pub failure_rate_high: f64,
    /// The simulator's run on the real run's own seed.
    pub same_seed_failure_rate: f64,
    /// S3 requests per operation, over the simulated seeds after the real run's.
    pub attempts_per_op: f64,
    /// S3 requests per operation of the simulator's run on the real run's seed.
    pub same_seed_attempts_per_op: f64,
    /// Operation latencies over every simulated seed (scenario time): the
    /// shape real mode's latencies are compared with.
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
}

/// Runs the simulator on seeds `seed` (the real run's own) and the
/// `sim_seeds` after it, for `policies` of `scenario` (already shortened
/// as the real run was).
pub fn predict(
    scenario: &Scenario,
    policies: &[String],
    seed: u64,
    sim_seeds: u64,
    timeout: Option<RunTimeout>,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<PolicyPrediction>, EstimateError> {
    let options = |first_seed, seeds| EstimateOptions {
        seeds,
        first_seed,
        policies: policies.to_vec(),
        timeout,
        ..EstimateOptions::default()
    };
    let same_seed = estimate_state(scenario, &options(seed, 1), progress)?;
    let others = estimate_state(scenario, &options(seed.saturating_add(1), sim_seeds), progress)?;
    let per_policy: Vec<PolicyPrediction> = same_seed
        .policies
        .iter()
        .zip(&others.policies)
        .map(|(same, others)| {
            let rates: Vec<f64> =
                others.per_seed().iter().map(|&(failures, operations)| ratio(failures, operations)).collect();
            let low = rates.iter().copied().fold(f64::INFINITY, f64::min);
            let high = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let n = rates.len() as f64;
            PolicyPrediction {
                policy: others.policy().to_owned(),
                sim_seeds: rates.len() as u64,
                coverage: if n >= 1.0 { (n - 1.0) / (n + 1.0) } else { 0.0 },
                failure_rate_low: if low.is_finite() { low } else { 0.0 },
                failure_rate_high: if high.is_finite() { high } else { 1.0 },
                same_seed_failure_rate: ratio(same.per_seed().iter().map(|p| p.0).sum(), same.operations()),
                attempts_per_op: ratio(others.attempts(), others.operations()),
                same_seed_attempts_per_op: ratio(same.attempts(), same.operations()),
                latency_ms_p50: 0.0,
                latency_ms_p99: 0.0,
                latency_ms_max: 0.0,
            }
        })
        .collect();
    let estimate = others.finish(scenario);
    Ok(per_policy
        .into_iter()
        .zip(&estimate.policies)
        .map(|(prediction, simulated)| PolicyPrediction {
            latency_ms_p50: simulated.latency_ms_p50,
            latency_ms_p99: simulated.latency_ms_p99,
            latency_ms_max: simulated.latency_ms_max,
            ..prediction
        })
        .collect())
}

/// `count / total`, 0 for an empty total.
fn ratio(count: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        count as f64 / total as f64
    }
}

/// One policy's real run against its prediction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Agreement {
    pub policy: String,
    pub real_failure_rate: f64,
    pub prediction: PolicyPrediction,
    /// The real failure rate lies inside the prediction interval.
    pub failure_rate_agrees: bool,
    pub real_attempts_per_op: f64,
    /// `real / simulated - 1`, against the simulated mean.
    pub attempts_relative_difference: f64,
    /// Within [`ATTEMPTS_TOLERANCE`] of the simulated mean, or of the
    /// simulator's run on the same seed (which met the same faults: with a
    /// few operations, a failure that cuts one short moves the mean).
    pub attempts_agree: bool,
    /// Real median latency minus the simulated one (scenario time): what
    /// loopback HTTP, the file system and the timers add to every
    /// operation, divided by the time scale. Latency is compared as a shape
    /// (docs/validation.md), never asserted equal.
    pub latency_ms_p50_offset: f64,
}

impl Agreement {
    pub fn of(real: &PolicyEstimate, prediction: PolicyPrediction) -> Agreement {
        let rate = real.failure_rate;
        // A rate equal to an end of the interval is inside it; rates are
        // ratios of counts, compared with a tolerance for rounding.
        let epsilon = 1e-12;
        let failure_rate_agrees =
            rate >= prediction.failure_rate_low - epsilon && rate <= prediction.failure_rate_high + epsilon;
        let relative = |simulated: f64| if simulated > 0.0 { real.attempts_per_op / simulated - 1.0 } else { 0.0 };
        let attempts_relative_difference = relative(prediction.attempts_per_op);
        let attempts_agree = attempts_relative_difference.abs() <= ATTEMPTS_TOLERANCE
            || relative(prediction.same_seed_attempts_per_op).abs() <= ATTEMPTS_TOLERANCE;
        Agreement {
            policy: real.policy.clone(),
            real_failure_rate: rate,
            failure_rate_agrees,
            real_attempts_per_op: real.attempts_per_op,
            attempts_relative_difference,
            attempts_agree,
            latency_ms_p50_offset: real.latency_ms_p50 - prediction.latency_ms_p50,
            prediction,
        }
    }

    pub fn agrees(&self) -> bool {
        self.failure_rate_agrees && self.attempts_agree
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(low: f64, high: f64, attempts_per_op: f64) -> PolicyPrediction {
        PolicyPrediction {
            policy: "p".into(),
            sim_seeds: 199,
            coverage: 0.99,
            failure_rate_low: low,
            failure_rate_high: high,
            same_seed_failure_rate: low,
            attempts_per_op,
            same_seed_attempts_per_op: attempts_per_op * 2.0,
            latency_ms_p50: 100.0,
            latency_ms_p99: 200.0,
            latency_ms_max: 300.0,
        }
    }

    fn real(failure_rate: f64, attempts_per_op: f64) -> PolicyEstimate {
        let scenario = crate::tests::scenario();
        let runs = [("p".to_owned(), vec![retrylab_harness::RunReport::empty(0, "p")])];
        let mut estimate =
            retrylab_harness::EstimateState::of_reports(&scenario, &runs, 0, 0.95).finish(&scenario).policies.remove(0);
        estimate.failure_rate = failure_rate;
        estimate.attempts_per_op = attempts_per_op;
        estimate.latency_ms_p50 = 130.0;
        estimate
    }

    #[test]
    fn a_rate_inside_the_range_or_on_its_ends_agrees_and_one_outside_does_not() {
        for (rate, inside) in [(0.01, true), (0.005, true), (0.02, true), (0.0049, false), (0.0201, false)] {
            let agreement = Agreement::of(&real(rate, 1.0), prediction(0.005, 0.02, 1.0));
            assert_eq!(agreement.failure_rate_agrees, inside, "rate {rate}");
            assert_eq!(agreement.agrees(), inside, "rate {rate}");
        }
    }

    #[test]
    fn attempts_per_operation_agree_within_five_percent() {
        for (attempts, agree) in [(1.0, true), (1.049, true), (0.951, true), (1.051, false), (0.949, false)] {
            let agreement = Agreement::of(&real(0.01, attempts), prediction(0.0, 0.02, 1.0));
            assert_eq!(agreement.attempts_agree, agree, "attempts/op {attempts}");
            assert!((agreement.attempts_relative_difference - (attempts - 1.0)).abs() < 1e-12);
        }
    }

    /// With few operations a failure that cuts one short moves the mean:
    /// the run on the same seed, which met the same faults, also counts.
    #[test]
    fn attempts_agree_with_the_same_seeds_run_too() {
        let agreement = Agreement::of(&real(0.01, 2.0), prediction(0.0, 0.02, 1.0));
        assert!(agreement.attempts_agree && agreement.attempts_relative_difference > 0.99);
        let agreement = Agreement::of(&real(0.01, 1.5), prediction(0.0, 0.02, 1.0));
        assert!(!agreement.attempts_agree);
    }

    #[test]
    fn the_latency_offset_is_real_minus_simulated_median() {
        let agreement = Agreement::of(&real(0.01, 1.0), prediction(0.0, 0.02, 1.0));
        assert!((agreement.latency_ms_p50_offset - 30.0).abs() < 1e-12);
    }

    /// The range of n simulated runs holds a new run (n - 1) / (n + 1) of
    /// the time: 99% for the default 199, and the prediction says so.
    #[test]
    fn the_prediction_interval_is_the_range_of_the_seeds_after_the_real_ones() {
        assert!((f64::from(198u32) / 200.0 - 0.99).abs() < 1e-12);
        let scenario = crate::tests::scenario();
        let predicted = predict(&scenario, &[], 3, 9, None, &|| {}).expect("prediction");
        let state = estimate_state(
            &scenario,
            &EstimateOptions { seeds: 10, first_seed: 3, ..EstimateOptions::default() },
            &|| {},
        )
        .expect("estimate");
        for (prediction, summary) in predicted.iter().zip(&state.policies) {
            let rates: Vec<f64> = summary.per_seed().iter().map(|&(f, o)| f as f64 / o as f64).collect();
            assert_eq!(prediction.sim_seeds, 9);
            assert!((prediction.coverage - 0.8).abs() < 1e-12);
            assert_eq!(prediction.same_seed_failure_rate, rates[0]);
            assert_eq!(prediction.failure_rate_low, rates[1..].iter().copied().fold(f64::INFINITY, f64::min));
            assert_eq!(prediction.failure_rate_high, rates[1..].iter().copied().fold(f64::NEG_INFINITY, f64::max));
        }
    }
}
