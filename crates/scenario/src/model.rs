//! The validated, internal form of a scenario: what the harness runs.
//!
//! These types are not the file format (see `schema.rs`): the file may
//! change spelling and defaults without the simulator noticing, and the
//! simulator may change representation without breaking anyone's files.

use std::path::PathBuf;
use std::time::Duration;

use retrylab_faults::{FaultModel, LatencyDist};
use retrylab_retry::PolicyConfig;

/// One validated scenario file.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Where it was read from (as given by the user), for messages and reproduction commands.
    pub path: PathBuf,
    /// Seeds `estimate` runs per policy when `--seeds` is not given.
    pub seeds_default: u64,
    pub limits: Limits,
    pub network: NetworkSpec,
    pub s3: S3Spec,
    pub faults: FaultModel,
    pub workload: Workload,
    /// At least one; names are unique.
    pub policies: Vec<NamedPolicy>,
}

impl Scenario {
    pub fn policy(&self, name: &str) -> Option<&NamedPolicy> {
        self.policies.iter().find(|p| p.name == name)
    }
}

/// When a run is stopped as looping or stalled.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub simulated_time_max: Duration,
    pub events_max: u64,
}

/// The simulated network between nodes (storage server, S3).
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSpec {
    /// One-way latency of each message.
    pub latency: LatencyDist,
    /// Probability that one message is lost (the caller then times out).
    pub loss_probability: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    /// Read-after-write for everything (S3 since December 2020).
    Strong,
    /// 2012 S3: after an overwrite or delete, a GET may return the previous
    /// version for up to `window`.
    Eventual { window: Duration },
}

#[derive(Clone, Debug, PartialEq)]
pub struct S3Spec {
    /// Service time of a request that succeeds (between arrival and answer).
    pub latency: LatencyDist,
    /// Service time of a request answered with an error; `None`: as `latency`.
    pub error_latency: Option<LatencyDist>,
    pub consistency: Consistency,
    /// The client's per-attempt timeout (a request with no answer by then fails as a timeout).
    pub request_timeout: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum S3Operation {
    Put,
    Get,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Workload {
    /// `operations` sequential S3 requests from one storage server, cycling over `keys` keys.
    S3Requests { operations: u64, operation: S3Operation, object_bytes: u64, keys: u64 },
}

impl Workload {
    pub fn operations(&self) -> u64 {
        match self {
            Workload::S3Requests { operations, .. } => *operations,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NamedPolicy {
    pub name: String,
    pub config: PolicyConfig,
}
