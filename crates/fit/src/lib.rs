//! retrylab-fit: fits S3's fault process, outages, fault mix and latency shape to observed requests.
//!
//! The statistical core of `retrylab fit` (issue 13); the method is described
//! in `docs/fit.md`. Everything here is a pure function of its arguments (the
//! goodness-of-fit replicas take an explicit seed), so the same log gives the
//! same fit on every machine.
//!
//! - [`fit_fault_process`]: maximum likelihood for independent faults and the
//!   continuous-time Gilbert-Elliott chain observed at the requests' own
//!   timestamps, 95% intervals (profile likelihood, or Wald on large inputs),
//!   likelihood ratio, AIC and a verdict.
//! - [`find_outages`]: runs of failures the fitted chain cannot explain, and
//!   the fit refitted without them.
//! - [`fit_fault_mix`]: the fault kinds' shares with Clopper-Pearson intervals.
//! - [`fit_latency`]: an empirical quantile table and a log-normal mixture,
//!   chosen by Kolmogorov-Smirnov distance on held-out samples, with QQ points.
//! - [`goodness_of_fit`]: failure-run lengths and P(fail | previous failed
//!   within Δ), observed against replicas of the fitted models simulated at
//!   the observed timestamps.

mod goodness;
mod intervals;
mod latency;
mod likelihood;
mod mix;
mod optimise;
mod outages;
mod process;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use goodness::{
    goodness_of_fit, ConditionalFailure, GoodnessOfFit, ModelBand, RunLengthBin, CONDITIONAL_GAPS_MS, RUN_LENGTH_BINS,
};
pub use intervals::{BurstIntervals, IntervalMethod, ParameterInterval, PROFILE_OBSERVATIONS_MAX};
pub use latency::{fit_latency, LatencyChoice, LatencyFit, MixtureFit, QqPoint, EM_SAMPLES_MAX};
pub use likelihood::{gilbert_elliott_log_likelihood, independent_log_likelihood};
pub use mix::{fit_fault_mix, FaultMixFit, KindShare, FAULT_KIND_NAMES};
pub use outages::{find_outages, DetectedOutage, OutageReport, OUTAGE_SIGNIFICANCE};
pub use process::{
    fit_fault_process, FaultProcessFit, FitOptions, GilbertElliottFit, IndependentFit, ModelComparison, Verdict,
};

/// One request as the fitter sees it: when it arrived and whether it failed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Arrival time in milliseconds from any origin; non-decreasing along the slice.
    pub time_ms: f64,
    pub failed: bool,
}

/// Input the fitter refuses (degenerate but valid data gives a fit with notes instead).
#[derive(Clone, Debug, PartialEq)]
pub enum FitError {
    /// A time that is NaN or infinite, at this index.
    NonFiniteTime { index: usize },
    /// A time earlier than the one before it, at this index.
    Unsorted { index: usize },
}

impl fmt::Display for FitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FitError::NonFiniteTime { index } => write!(f, "observation {index}: time is not a finite number"),
            FitError::Unsorted { index } => {
                write!(f, "observation {index}: earlier than the one before it (observations must be sorted by time)")
            }
        }
    }
}

impl std::error::Error for FitError {}

/// Checks that the times are finite and non-decreasing.
pub fn validate_observations(observations: &[Observation]) -> Result<(), FitError> {
    let mut previous = f64::NEG_INFINITY;
    for (index, observation) in observations.iter().enumerate() {
        if !observation.time_ms.is_finite() {
            return Err(FitError::NonFiniteTime { index });
        }
        if observation.time_ms < previous {
            return Err(FitError::Unsorted { index });
        }
        previous = observation.time_ms;
    }
    Ok(())
}
