//! Outages: runs of consecutive failures far longer than the fitted chain
//! explains, reported separately, and the fault process refitted without them.

use retrylab_faults::BurstParams;
use serde::{Deserialize, Serialize};

use crate::process::{fit_fault_process, FaultProcessFit, FitOptions};
use crate::{FitError, Observation};

/// A run is an outage when its probability under the fitted model, times the
/// number of failure runs in the data (the chances it had to happen), is
/// below this: fewer than one such run expected in a thousand logs like this.
pub const OUTAGE_SIGNIFICANCE: f64 = 1e-3;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectedOutage {
    /// Time of the first and last failed request of the run.
    pub start_ms: f64,
    pub end_ms: f64,
    pub requests: u64,
    pub failures: u64,
    /// log10 of the probability that, once the run's first request failed,
    /// all the following ones did too, at their observed times.
    pub log10_probability: f64,
    /// That probability times the number of failure runs: how many such runs
    /// the fitted model expects in the whole log.
    pub expected_runs: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutageReport {
    /// Failure runs in the log (each a chance for an outage).
    pub failure_runs: u64,
    pub outages: Vec<DetectedOutage>,
    /// The fault process fitted to the log without the outages' requests (None when there is none).
    pub refit: Option<FaultProcessFit>,
}

/// The predictive failure probabilities of a run under the chain, in logs:
/// the state at the run's first request is the stationary one given that it
/// failed; each later request's state relaxes over its gap and is updated
/// by its failure.
fn chain_run_log_probability(params: &BurstParams, times_ms: &[f64]) -> f64 {
    let pi_bad = params.stationary_bad_fraction();
    let rate = 1.0 / params.good_mean_ms + 1.0 / params.bad_mean_ms;
    let first = pi_bad * params.bad_failure + (1.0 - pi_bad) * params.good_failure;
    if first.is_nan() || first <= 0.0 {
        return 0.0;
    }
    let mut p_bad = pi_bad * params.bad_failure / first;
    let mut log_probability = 0.0;
    for pair in times_ms.windows(2) {
        let gap_ms = pair[1] - pair[0];
        p_bad = pi_bad + (p_bad - pi_bad) * (-rate * gap_ms).exp();
        let predictive = p_bad * params.bad_failure + (1.0 - p_bad) * params.good_failure;
        if predictive.is_nan() || predictive <= 0.0 {
            return f64::NEG_INFINITY;
        }
        log_probability += predictive.ln();
        p_bad = p_bad * params.bad_failure / predictive;
    }
    log_probability
}

/// Maximal runs of consecutive failed requests, as index ranges.
fn failure_runs(observations: &[Observation]) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut start = None;
    for (index, observation) in observations.iter().enumerate() {
        match (observation.failed, start) {
            (true, None) => start = Some(index),
            (false, Some(first)) => {
                runs.push(first..index);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(first) = start {
        runs.push(first..observations.len());
    }
    runs
}

/// A failure run judged an outage: its place in the log and how unlikely the chain finds it.
fn outage(
    observations: &[Observation],
    run: &std::ops::Range<usize>,
    log_probability: f64,
    runs: u64,
) -> DetectedOutage {
    let times = &observations[run.clone()];
    DetectedOutage {
        start_ms: times[0].time_ms,
        end_ms: times[times.len() - 1].time_ms,
        requests: run.len() as u64,
        failures: run.len() as u64,
        log10_probability: (log_probability / std::f64::consts::LN_10).max(-1e300),
        expected_runs: runs as f64 * log_probability.exp(),
    }
}

/// The log probability of `run` under `fit`: its chain if it has one, else independent faults.
fn run_log_probability(observations: &[Observation], run: &std::ops::Range<usize>, fit: &FaultProcessFit) -> f64 {
    match &fit.gilbert_elliott {
        Some(chain) => {
            let times_ms: Vec<f64> = observations[run.clone()].iter().map(|o| o.time_ms).collect();
            chain_run_log_probability(&chain.params(), &times_ms)
        }
        None => (run.len() - 1) as f64 * fit.independent.failure_probability.ln(),
    }
}

fn without(observations: &[Observation], removed: &[bool]) -> Vec<Observation> {
    observations.iter().zip(removed).filter(|(_, removed)| !**removed).map(|(o, _)| *o).collect()
}

/// The outages of `observations` under `fit` (its chain if it has one, else
/// independent faults), and a refit of the rest with `options`.
///
/// Two passes. First, every run of two or more failures that `fit` expects
/// fewer than [`OUTAGE_SIGNIFICANCE`] times in the whole log. Then, because
/// a long outage pulls the fit towards itself (a 10-minute outage in a
/// 30-minute log is "explained" by a bad state that always fails and lasts
/// minutes), the longest remaining run is judged again by a chain fitted
/// without it (and without the outages found so far); while that chain
/// cannot explain it either, it is an outage and the next longest is judged.
pub fn find_outages(
    observations: &[Observation],
    fit: &FaultProcessFit,
    options: &FitOptions,
) -> Result<OutageReport, FitError> {
    crate::validate_observations(observations)?;
    let runs = failure_runs(observations);
    let failure_runs = runs.len() as u64;
    let mut outages = Vec::new();
    let mut removed = vec![false; observations.len()];
    let mut candidates: Vec<&std::ops::Range<usize>> = Vec::new();
    for run in runs.iter().filter(|run| run.len() >= 2) {
        let log_probability = run_log_probability(observations, run, fit);
        if failure_runs as f64 * log_probability.exp() < OUTAGE_SIGNIFICANCE {
            outages.push(outage(observations, run, log_probability, failure_runs));
            removed[run.clone()].iter_mut().for_each(|r| *r = true);
        } else {
            candidates.push(run);
        }
    }
    // Longest first; the earlier of equal runs first, so the order is the log's.
    candidates.sort_by_key(|run| (std::cmp::Reverse(run.len()), run.start));
    let point_fit = FitOptions { intervals: false, ..options.clone() };
    for run in candidates {
        let mut masked = removed.clone();
        masked[run.clone()].iter_mut().for_each(|r| *r = true);
        let rest = without(observations, &masked);
        if rest.len() < 2 {
            break;
        }
        let leave_out = fit_fault_process(&rest, &point_fit)?;
        let log_probability = run_log_probability(observations, run, &leave_out);
        if failure_runs as f64 * log_probability.exp() >= OUTAGE_SIGNIFICANCE {
            break;
        }
        outages.push(outage(observations, run, log_probability, failure_runs));
        removed = masked;
    }
    outages.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    let refit =
        if outages.is_empty() { None } else { Some(fit_fault_process(&without(observations, &removed), options)?) };
    Ok(OutageReport { failure_runs, outages, refit })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::fit_independent;
    use crate::Verdict;

    #[test]
    fn a_long_run_under_independent_faults_is_an_outage_and_short_ones_are_not() {
        // 1% failures spread evenly, plus 40 consecutive failures right after one of them.
        let mut observations: Vec<_> =
            (0..5000).map(|i| Observation { time_ms: f64::from(i) * 1000.0, failed: i % 100 == 0 }).collect();
        for o in &mut observations[2001..2041] {
            o.failed = true;
        }
        let fit = FaultProcessFit {
            independent: fit_independent(&observations),
            gilbert_elliott: None,
            comparison: None,
            verdict: Verdict::Independent,
            notes: vec![],
        };
        let options = FitOptions { intervals: false, ..FitOptions::default() };
        let report = find_outages(&observations, &fit, &options).unwrap();
        assert_eq!(report.outages.len(), 1, "{report:?}");
        let outage = &report.outages[0];
        assert_eq!((outage.start_ms, outage.end_ms, outage.requests), (2_000_000.0, 2_040_000.0, 41));
        // Under independent faults at p = 90 / 5000 the 40 failures after the first have
        // probability p^40, and the log's 50 failure runs were 50 chances for one.
        let p: f64 = 90.0 / 5000.0;
        assert_eq!(report.failure_runs, 50);
        assert!((outage.log10_probability - 40.0 * p.log10()).abs() < 1e-9, "{outage:?}");
        let expected_runs = 50.0 * p.powi(40);
        assert!((outage.expected_runs / expected_runs - 1.0).abs() < 1e-9, "{outage:?}");
        let refit = report.refit.unwrap();
        assert_eq!(refit.independent.failures, 49);
    }

    /// The run's probability is the chain's likelihood of the whole run given its first failure:
    /// the forward algorithm's, from the stationary start, divided by that of the first request.
    #[test]
    fn a_run_s_probability_is_the_likelihood_of_the_run_given_its_first_failure() {
        let params = BurstParams { good_mean_ms: 60_000.0, bad_mean_ms: 5_000.0, good_failure: 0.02, bad_failure: 0.6 };
        // Gaps short and long against the chain's means, and two requests at one instant.
        let times_ms = [0.0, 700.0, 1_500.0, 1_500.0, 9_000.0, 90_000.0, 90_250.0];
        let run: Vec<Observation> = times_ms.iter().map(|&time_ms| Observation { time_ms, failed: true }).collect();
        let expected = crate::gilbert_elliott_log_likelihood(&run, &params)
            - crate::gilbert_elliott_log_likelihood(&run[..1], &params);
        let got = chain_run_log_probability(&params, &times_ms);
        assert!((got - expected).abs() < 1e-9, "{got} against the forward algorithm's {expected}");
    }

    #[test]
    fn chain_run_probability_of_a_sure_bad_state() {
        // Bad fails always, good never, bad lasts forever in effect: a run continues surely.
        let params = BurstParams { good_mean_ms: 1e9, bad_mean_ms: 1e12, good_failure: 0.0, bad_failure: 1.0 };
        let lp = chain_run_log_probability(&params, &[0.0, 1.0, 2.0, 3.0]);
        assert!(lp.abs() < 1e-6, "{lp}");
    }
}
