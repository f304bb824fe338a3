//! What one seeded run produced.

use std::collections::BTreeMap;
use std::time::Duration;

use retrylab_check::Violation;
use retrylab_sim::Event;

/// The outcome of one scenario run under one policy on one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    pub seed: u64,
    pub policy: String,
    pub operations: u64,
    /// Operations whose final answer was an error.
    pub failures: u64,
    /// Failed operations per final error: the S3 code (`InternalError`) or
    /// the transport error (`connection_reset`, `timeout`).
    pub failures_by_kind: BTreeMap<String, u64>,
    /// Failed operations per HTTP status (`"none"` when no status line came).
    pub failures_by_status: BTreeMap<String, u64>,
    /// S3 requests sent, first tries and retries.
    pub attempts: u64,
    pub retries: u64,
    /// Operations given up because a retry quota, throttle or budget ran dry.
    pub quota_exhausted: u64,
    /// Faults the S3 model injected (whether or not a retry hid them).
    pub faults_injected: u64,
    /// Each operation's latency, first request to final answer, in microseconds.
    pub latencies_us: Vec<u64>,
    /// Each operation's outcome, in order (true: success), for paired comparisons.
    pub outcomes: Vec<bool>,
    pub trace_hash: u64,
    pub events: u64,
    pub simulated_time: Duration,
    /// Every event, when run with `TraceMode::Full`.
    pub trace: Option<Vec<Event>>,
    /// Invariants the checkers found broken (Tahoe-LAFS workloads).
    pub violations: Vec<Violation>,
}
