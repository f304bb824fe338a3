//! Maximum-likelihood fits of the fault process: independent faults and the
//! Gilbert-Elliott chain, their comparison and a verdict.

use retrylab_faults::BurstParams;
use retrylab_stats::{clopper_pearson, Interval};
use serde::{Deserialize, Serialize};

use crate::intervals::{burst_intervals, BurstIntervals, PROFILE_OBSERVATIONS_MAX};
use crate::likelihood::{gilbert_elliott_log_likelihood, independent_log_likelihood};
use crate::optimise::{from_coordinates, minimise, to_coordinates};
use crate::{validate_observations, FitError, Observation};

/// What to compute besides the point fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// Compute 95% intervals for the four chain parameters.
    pub intervals: bool,
    /// Above this many observations the intervals are Wald instead of profile likelihood.
    pub profile_observations_max: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions { intervals: true, profile_observations_max: PROFILE_OBSERVATIONS_MAX }
    }
}

/// Independent faults: each request fails with one probability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndependentFit {
    pub requests: u64,
    pub failures: u64,
    pub failure_probability: f64,
    /// Clopper-Pearson, 95%.
    pub interval: Interval,
    pub log_likelihood: f64,
}

/// The Gilbert-Elliott chain's maximum-likelihood parameters (the names of
/// `BurstParams`; bad_failure >= good_failure by convention).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GilbertElliottFit {
    pub good_mean_ms: f64,
    pub bad_mean_ms: f64,
    pub good_failure: f64,
    pub bad_failure: f64,
    pub stationary_failure_rate: f64,
    pub log_likelihood: f64,
    /// Nelder-Mead stopped on its tolerance (not its iteration cap) from the best start.
    pub converged: bool,
    /// Likelihood evaluations of the point fit (all starts and the polish).
    pub evaluations: u64,
    /// Starting points tried.
    pub starts: usize,
    /// None when intervals were not asked for.
    pub intervals: Option<BurstIntervals>,
}

impl GilbertElliottFit {
    pub fn params(&self) -> BurstParams {
        BurstParams {
            good_mean_ms: self.good_mean_ms,
            bad_mean_ms: self.bad_mean_ms,
            good_failure: self.good_failure,
            bad_failure: self.bad_failure,
        }
    }
}

/// Independent (k = 1) against Gilbert-Elliott (k = 4).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelComparison {
    /// 2 (ll_GE - ll_independent), >= 0. Its chi-square reference (3 degrees
    /// of freedom) is not exact: under independence the chain's means are not
    /// identified and good_failure = bad_failure lies on the boundary.
    pub likelihood_ratio: f64,
    pub aic_independent: f64,
    pub aic_gilbert_elliott: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The chain's AIC is lower: failures cluster in time.
    Bursty,
    /// The independent model's AIC is lower or equal, or the chain could not be fitted.
    Independent,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultProcessFit {
    pub independent: IndependentFit,
    /// None when the data cannot support a chain (see `notes`).
    pub gilbert_elliott: Option<GilbertElliottFit>,
    pub comparison: Option<ModelComparison>,
    pub verdict: Verdict,
    /// Why something was not fitted, or how to read it.
    pub notes: Vec<String>,
}

/// 1.96², the two-sided 95% normal quantile squared, is the χ²₁ quantile.
pub(crate) const CHI_SQUARE_1_95: f64 = 3.841_458_820_694_124;

/// Fits both models to `observations` (sorted by time). Degenerate data (fewer
/// than 2 requests, no failures, only failures, every request at one instant)
/// gives the independent fit alone, verdict `Independent`, and a note.
pub fn fit_fault_process(observations: &[Observation], options: &FitOptions) -> Result<FaultProcessFit, FitError> {
    validate_observations(observations)?;
    let independent = fit_independent(observations);
    if let Some(reason) = degenerate_reason(observations, &independent) {
        return Ok(FaultProcessFit {
            independent,
            gilbert_elliott: None,
            comparison: None,
            verdict: Verdict::Independent,
            notes: vec![reason],
        });
    }
    let mut notes = Vec::new();
    let mut chain = fit_gilbert_elliott(observations, &independent);
    if !chain.converged {
        notes.push("Nelder-Mead reached its iteration cap before its tolerance: the chain's fit may be rough".into());
    }
    if options.intervals {
        let intervals = burst_intervals(observations, &chain.params(), options.profile_observations_max);
        notes.extend(intervals.notes.iter().cloned());
        chain.intervals = Some(intervals);
    }
    // The chain contains independence (equal failure probabilities), so its
    // maximum is at least the binomial one; a shortfall is optimiser noise.
    let likelihood_ratio = (2.0 * (chain.log_likelihood - independent.log_likelihood)).max(0.0);
    let comparison = ModelComparison {
        likelihood_ratio,
        aic_independent: 2.0 - 2.0 * independent.log_likelihood,
        aic_gilbert_elliott: 8.0 - 2.0 * (independent.log_likelihood + likelihood_ratio / 2.0),
    };
    let verdict = if comparison.aic_gilbert_elliott < comparison.aic_independent {
        Verdict::Bursty
    } else {
        Verdict::Independent
    };
    Ok(FaultProcessFit { independent, gilbert_elliott: Some(chain), comparison: Some(comparison), verdict, notes })
}

pub(crate) fn fit_independent(observations: &[Observation]) -> IndependentFit {
    let requests = observations.len() as u64;
    let failures = observations.iter().filter(|o| o.failed).count() as u64;
    let failure_probability = retrylab_stats::rate(failures, requests);
    IndependentFit {
        requests,
        failures,
        failure_probability,
        interval: clopper_pearson(failures, requests, 0.95),
        log_likelihood: independent_log_likelihood(failures, requests, failure_probability),
    }
}

fn degenerate_reason(observations: &[Observation], independent: &IndependentFit) -> Option<String> {
    let n = independent.requests;
    if n < 2 {
        return Some(format!("{n} request(s): a Gilbert-Elliott chain needs at least 2"));
    }
    if independent.failures == 0 {
        return Some(
            "no failures: nothing to say about bursts; the independent fit's upper bound is the result".into(),
        );
    }
    if independent.failures == n {
        return Some("every request failed: the chain's states cannot be told apart".into());
    }
    if observations.first().map(|o| o.time_ms) == observations.last().map(|o| o.time_ms) {
        return Some("every request has the same timestamp: the chain's means cannot be estimated".into());
    }
    None
}

/// The median of the positive gaps between requests (1 ms if there is none).
pub(crate) fn median_positive_gap_ms(observations: &[Observation]) -> f64 {
    let mut gaps: Vec<f64> =
        observations.windows(2).map(|w| w[1].time_ms - w[0].time_ms).filter(|gap| *gap > 0.0).collect();
    if gaps.is_empty() {
        return 1.0;
    }
    gaps.sort_by(f64::total_cmp);
    gaps[gaps.len() / 2].max(1.0)
}

/// Deterministic starting points from the data: the chain's stationary
/// failure rate at the marginal rate; bad sojourns of 3 to 3,000 typical
/// gaps and of 10 s to 3 hours (the two sets differ when requests are dense
/// or sparse; near-duplicates within a factor of 2 are dropped); the bad
/// state failing half or 90% of the time. Each costs one evaluation: only
/// the most likely few are optimised.
fn starting_points(observations: &[Observation], independent: &IndependentFit) -> Vec<BurstParams> {
    let rate = independent.failure_probability;
    let gap_ms = median_positive_gap_ms(observations);
    let good_failure = (rate / 2.0).clamp(1e-6, 0.45);
    let mut bad_means_ms: Vec<f64> = [3.0, 30.0, 300.0, 3000.0].iter().map(|gaps| gaps * gap_ms).collect();
    bad_means_ms.extend([10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0]);
    bad_means_ms.sort_by(f64::total_cmp);
    bad_means_ms.dedup_by(|later, earlier| *later < 2.0 * *earlier);
    let mut starts = Vec::new();
    for bad_failure in [0.5f64, 0.9] {
        let bad_failure = if bad_failure > rate { bad_failure } else { (1.0 + rate) / 2.0 };
        let bad_fraction = ((rate - good_failure) / (bad_failure - good_failure)).clamp(1e-6, 0.5);
        for &bad_mean_ms in &bad_means_ms {
            let good_mean_ms = bad_mean_ms * (1.0 - bad_fraction) / bad_fraction;
            starts.push(BurstParams { good_mean_ms, bad_mean_ms, good_failure, bad_failure });
        }
    }
    starts
}

/// Starts Nelder-Mead from the most likely few of the starting points,
/// keeps the best end, and polishes it with a fresh simplex.
///
/// On more than `STARTS_OBSERVATIONS_MAX` requests the starts are optimised
/// on an even stride through them (the same chain observed at fewer times,
/// over the whole span) and only the polish sees every request.
fn fit_gilbert_elliott(observations: &[Observation], independent: &IndependentFit) -> GilbertElliottFit {
    const STARTS_OPTIMISED: usize = 3;
    const STARTS_OBSERVATIONS_MAX: usize = 100_000;
    let stride = observations.len().div_ceil(STARTS_OBSERVATIONS_MAX);
    let thinned: Vec<Observation> =
        if stride > 1 { observations.iter().step_by(stride).copied().collect() } else { Vec::new() };
    let start_data = if stride > 1 { &thinned[..] } else { observations };
    let negative_ll = |x: &[f64]| -gilbert_elliott_log_likelihood(observations, &from_coordinates(x));
    let negative_ll_starts = |x: &[f64]| -gilbert_elliott_log_likelihood(start_data, &from_coordinates(x));
    let starts = starting_points(start_data, independent);
    let mut ranked: Vec<(f64, Vec<f64>)> = starts
        .iter()
        .map(|start| {
            let x = to_coordinates(start);
            (negative_ll_starts(&x), x)
        })
        .collect();
    let mut evaluations = ranked.len() as u64;
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut best: Option<crate::optimise::Minimum> = None;
    for (_, x) in ranked.iter().take(STARTS_OPTIMISED) {
        let minimum = minimise(&negative_ll_starts, x, 1.0, 1e-7, 2000);
        evaluations += minimum.evaluations;
        if best.as_ref().is_none_or(|b| minimum.value < b.value) {
            best = Some(minimum);
        }
    }
    let first = best.unwrap_or_else(|| crate::optimise::Minimum {
        x: ranked[0].1.clone(),
        value: ranked[0].0,
        evaluations: 0,
        converged: false,
    });
    let first_value = if stride > 1 { negative_ll(&first.x) } else { first.value };
    let polished = minimise(&negative_ll, &first.x, 0.3, 1e-9, 2000);
    evaluations += polished.evaluations;
    let best =
        if polished.value <= first_value { polished } else { crate::optimise::Minimum { value: first_value, ..first } };
    let params = canonical_labels(from_coordinates(&best.x));
    GilbertElliottFit {
        good_mean_ms: params.good_mean_ms,
        bad_mean_ms: params.bad_mean_ms,
        good_failure: params.good_failure,
        bad_failure: params.bad_failure,
        stationary_failure_rate: params.stationary_failure_rate(),
        log_likelihood: -best.value,
        converged: best.converged,
        evaluations,
        starts: starts.len(),
        intervals: None,
    }
}

/// Swaps the states' names so the bad state fails at least as often as the
/// good one (the likelihood does not change: the labels are arbitrary).
pub(crate) fn canonical_labels(params: BurstParams) -> BurstParams {
    if params.good_failure <= params.bad_failure {
        return params;
    }
    BurstParams {
        good_mean_ms: params.bad_mean_ms,
        bad_mean_ms: params.good_mean_ms,
        good_failure: params.bad_failure,
        bad_failure: params.good_failure,
    }
}
