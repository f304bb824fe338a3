//! Goodness of fit shown, not asserted: failure-run lengths and P(fail | the
//! previous request failed within Δ), observed against replicas of the fitted
//! models simulated by `FaultSchedule` at the observed timestamps.

use std::time::Duration;

use retrylab_faults::{sub_seed, BurstParams, FaultModel, FaultProcess, FaultSchedule};
use retrylab_stats::{clopper_pearson, Interval};
use serde::{Deserialize, Serialize};

use crate::{validate_observations, FitError, Observation};

/// Run-length bins: 1, 2, ..., RUN_LENGTH_BINS - 1, and RUN_LENGTH_BINS or longer.
pub const RUN_LENGTH_BINS: usize = 8;

/// The gaps Δ of P(fail | previous request failed at most Δ earlier): 1 s, 10 s, 60 s, 600 s.
pub const CONDITIONAL_GAPS_MS: [f64; 4] = [1_000.0, 10_000.0, 60_000.0, 600_000.0];

/// A model's replicas summarised: mean and the central 95% of replicas.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelBand {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunLengthBin {
    /// Runs of exactly this many consecutive failed requests (at least this many in the last bin).
    pub length: usize,
    pub or_longer: bool,
    pub observed: u64,
    pub gilbert_elliott: Option<ModelBand>,
    pub independent: ModelBand,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionalFailure {
    pub gap_ms: f64,
    /// Requests whose previous request failed at most `gap_ms` earlier.
    pub requests: u64,
    pub failures: u64,
    pub observed: f64,
    /// Clopper-Pearson, 95%.
    pub observed_interval: Interval,
    /// The same statistic in the replicas (replicas without such requests are left out).
    pub gilbert_elliott: Option<ModelBand>,
    pub independent: ModelBand,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GoodnessOfFit {
    pub replicas: usize,
    pub seed: u64,
    pub run_lengths: Vec<RunLengthBin>,
    pub conditional: Vec<ConditionalFailure>,
}

/// Statistics of one sequence of outcomes at the observed times.
struct Statistics {
    run_lengths: [u64; RUN_LENGTH_BINS],
    conditional: [(u64, u64); CONDITIONAL_GAPS_MS.len()],
}

fn statistics(times_ms: &[f64], failed: &[bool]) -> Statistics {
    let mut run_lengths = [0u64; RUN_LENGTH_BINS];
    let mut run = 0usize;
    let mut close_run = |run: &mut usize| {
        if *run > 0 {
            run_lengths[(*run).min(RUN_LENGTH_BINS) - 1] += 1;
            *run = 0;
        }
    };
    let mut conditional = [(0u64, 0u64); CONDITIONAL_GAPS_MS.len()];
    for i in 0..failed.len() {
        if failed[i] {
            run += 1;
        } else {
            close_run(&mut run);
        }
        if i > 0 && failed[i - 1] {
            let gap_ms = times_ms[i] - times_ms[i - 1];
            for (slot, &limit_ms) in conditional.iter_mut().zip(CONDITIONAL_GAPS_MS.iter()) {
                if gap_ms <= limit_ms {
                    slot.0 += 1;
                    slot.1 += u64::from(failed[i]);
                }
            }
        }
    }
    close_run(&mut run);
    Statistics { run_lengths, conditional }
}

/// One replica: the model's outcomes at the observed times (shifted to start at 0).
fn simulate(model: &FaultModel, seed: u64, times_ms: &[f64]) -> Vec<bool> {
    let origin_ms = times_ms.first().copied().unwrap_or(0.0);
    let mut schedule = FaultSchedule::new(model.clone(), seed);
    times_ms
        .iter()
        .enumerate()
        .map(|(slot, &time_ms)| {
            let since_ms = (time_ms - origin_ms).max(0.0);
            schedule.decide(slot as u64, Duration::from_secs_f64(since_ms / 1000.0)).is_some()
        })
        .collect()
}

fn band(mut values: Vec<f64>) -> Option<ModelBand> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let rank = |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    Some(ModelBand { mean, low: rank(0.025), high: rank(0.975) })
}

fn replicate(model: &FaultModel, seed: u64, label: &str, replicas: usize, times_ms: &[f64]) -> Vec<Statistics> {
    (0..replicas)
        .map(|replica| {
            let replica_seed = sub_seed(seed, &format!("fit.{label}.{replica}"));
            statistics(times_ms, &simulate(model, replica_seed, times_ms))
        })
        .collect()
}

fn run_length_bands(replicas: &[Statistics], bin: usize) -> Option<ModelBand> {
    band(replicas.iter().map(|s| s.run_lengths[bin] as f64).collect())
}

fn conditional_bands(replicas: &[Statistics], slot: usize) -> Option<ModelBand> {
    band(
        replicas
            .iter()
            .filter(|s| s.conditional[slot].0 > 0)
            .map(|s| s.conditional[slot].1 as f64 / s.conditional[slot].0 as f64)
            .collect(),
    )
}

const EMPTY_BAND: ModelBand = ModelBand { mean: 0.0, low: 0.0, high: 0.0 };

/// Observed statistics against `replicas` simulations of each fitted model
/// (the chain's only if `chain` is given), deterministic given `seed`.
///
/// Cost: one `FaultSchedule::decide` per request per replica per model
/// (tens of nanoseconds each): 200 replicas of 20,000 requests take a
/// fraction of a second, of 1,000,000 requests some seconds to tens of seconds;
/// the caller picks `replicas` accordingly.
pub fn goodness_of_fit(
    observations: &[Observation],
    independent_failure_probability: f64,
    chain: Option<&BurstParams>,
    replicas: usize,
    seed: u64,
) -> Result<GoodnessOfFit, FitError> {
    validate_observations(observations)?;
    let times_ms: Vec<f64> = observations.iter().map(|o| o.time_ms).collect();
    let failed: Vec<bool> = observations.iter().map(|o| o.failed).collect();
    let observed = statistics(&times_ms, &failed);
    let independent_model = FaultModel::independent(independent_failure_probability.clamp(0.0, 1.0));
    let independent = replicate(&independent_model, seed, "independent", replicas, &times_ms);
    let chain_replicas = chain.map(|params| {
        let model = FaultModel { process: FaultProcess::GilbertElliott(params.clone()), ..FaultModel::default() };
        replicate(&model, seed, "gilbert_elliott", replicas, &times_ms)
    });
    let run_lengths = (0..RUN_LENGTH_BINS)
        .map(|bin| RunLengthBin {
            length: bin + 1,
            or_longer: bin + 1 == RUN_LENGTH_BINS,
            observed: observed.run_lengths[bin],
            gilbert_elliott: chain_replicas.as_ref().and_then(|r| run_length_bands(r, bin)),
            independent: run_length_bands(&independent, bin).unwrap_or(EMPTY_BAND),
        })
        .collect();
    let conditional = CONDITIONAL_GAPS_MS
        .iter()
        .enumerate()
        .map(|(slot, &gap_ms)| {
            let (requests, failures) = observed.conditional[slot];
            ConditionalFailure {
                gap_ms,
                requests,
                failures,
                observed: retrylab_stats::rate(failures, requests),
                observed_interval: clopper_pearson(failures, requests, 0.95),
                gilbert_elliott: chain_replicas.as_ref().and_then(|r| conditional_bands(r, slot)),
                independent: conditional_bands(&independent, slot).unwrap_or(EMPTY_BAND),
            }
        })
        .collect();
    Ok(GoodnessOfFit { replicas, seed, run_lengths, conditional })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_lengths_and_conditionals_of_a_hand_sequence() {
        // F F S F F F S S F at 1 s spacing, except a 20 s gap before the last.
        let times = [0.0, 1e3, 2e3, 3e3, 4e3, 5e3, 6e3, 7e3, 27e3];
        let failed = [true, true, false, true, true, true, false, false, true];
        let s = statistics(&times, &failed);
        assert_eq!(&s.run_lengths[..4], &[1, 1, 1, 0]);
        // After a failure within 1 s: requests 1, 2, 4, 5, 6 -> failures at 1, 4, 5.
        assert_eq!(s.conditional[0], (5, 3));
    }

    #[test]
    fn replicas_are_deterministic_given_the_seed() {
        let observations: Vec<_> =
            (0..2000).map(|i| Observation { time_ms: f64::from(i) * 1000.0, failed: i % 37 == 0 }).collect();
        let params = BurstParams { good_mean_ms: 60_000.0, bad_mean_ms: 5_000.0, good_failure: 0.01, bad_failure: 0.5 };
        let a = goodness_of_fit(&observations, 0.03, Some(&params), 20, 9).unwrap();
        let b = goodness_of_fit(&observations, 0.03, Some(&params), 20, 9).unwrap();
        assert_eq!(a, b);
        let singles = &a.run_lengths[0];
        assert_eq!(singles.observed, 55);
        // Independent at 3% over 2000 requests: ~58 single failures.
        assert!((40.0..75.0).contains(&singles.independent.mean), "{singles:?}");
    }
}
