//! Pure fault and latency models for simulated S3 requests.
//!
//! Nothing here knows about madsim, the network or S3 itself: a model is a
//! function of virtual time and a seeded RNG. That keeps the models testable
//! against analytic values and lets the same schedule drive any layer.
//!
//! Common random numbers: a [`FaultSchedule`] draws the Gilbert-Elliott state
//! trajectory from its own stream as a function of virtual time only, and one
//! uniform per request slot from a second stream. Two retry policies run on
//! the same seed therefore face the same bursts, and the n-th request of each
//! meets the same luck.

mod disruption;
pub mod draw;
mod latency;
mod model;
mod rng;

pub use disruption::{
    flip_bit, tamper, truncated_len, Corruption, CorruptionDecision, CorruptionDraw, Crash, DisruptionError,
    Disruptions, GridNode, Partition, DISRUPTION_SECONDS_MAX,
};
pub use latency::{LatencyDist, LatencyError, LatencySampler, MixtureComponent, Quantile, QUANTILES_MAX};
/// The one math library of simulated code (see [`draw`]).
pub use libm;
pub use model::{
    BurstParams, FaultDecision, FaultKind, FaultMix, FaultModel, FaultProcess, FaultSchedule, ModelError, Outage,
    BURST_MEAN_MS_MIN,
};
pub use rng::{slot_rng, stream, sub_seed, SimRng};
