//! retrylab-stats: the statistics that turn simulated runs into claims about retry policies.
//!
//! Everything here is a pure function of its arguments: no randomness source,
//! no clock and no hash-ordered collections, so a report computed from the same
//! simulated outcomes is byte-for-byte the same on every machine. Bad input
//! never panics; each function documents what it returns instead.
//!
//! - [`interval`]: exact (Clopper-Pearson) and Wilson confidence intervals for a
//!   success or event rate, and the one-sided bounds used in acceptance checks.
//! - [`cluster`]: the design effect of operations that fail together within a
//!   seed, and Clopper-Pearson bounds on the effective number of trials it
//!   leaves, for rates pooled over correlated operations.
//! - [`percentile`]: nearest-rank percentiles and a latency summary.
//! - [`histogram`]: exact counts per latency value, which add across machines
//!   and give the same nearest-rank summary as the sorted values.
//! - [`sprt`]: Wald's sequential probability ratio test, to stop simulating as
//!   soon as the evidence decides between two success rates.
//! - [`mod@mcnemar`]: McNemar's paired test for two policies run over the same
//!   operations.
//! - [`multiple`]: Holm's correction of p-values when many pairs are tested
//!   at once.
//! - [`proportion`]: an unpaired two-proportion z-test, for when the runs are
//!   not paired.

pub mod cluster;
pub mod histogram;
mod incomplete_beta;
pub mod interval;
pub mod mcnemar;
pub mod mean;
pub mod multiple;
pub mod percentile;
pub mod proportion;
pub mod sprt;

pub use cluster::{
    clopper_pearson_clustered, clopper_pearson_clustered_lower_one_sided, clopper_pearson_clustered_upper_one_sided,
    design_effect, effective_trials, ClusterError, DesignEffect, MIN_CLUSTERS_FOR_DESIGN_EFFECT,
};
pub use histogram::{HistogramError, LatencyHistogram};
pub use interval::{
    clopper_pearson, clopper_pearson_lower_one_sided, clopper_pearson_upper_one_sided, rate, wilson, Interval,
};
pub use mcnemar::{
    discordant_pairs, mcnemar, mcnemar_clustered, ClusteredMcNemar, McNemar, McNemarMethod,
    CLUSTERED_MCNEMAR_CLUSTERS_MIN, MCNEMAR_EXACT_BELOW,
};
pub use mean::{mean_interval, MeanInterval};
pub use multiple::holm;
pub use percentile::{percentile_nearest_rank, LatencySummary};
pub use proportion::{two_proportion_z_test, TwoProportion};
pub use sprt::{Sprt, SprtError, SprtVerdict};
