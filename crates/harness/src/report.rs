//! What one seeded run produced.

use std::collections::BTreeMap;
use std::time::Duration;

use retrylab_check::Violation;
use retrylab_sim::{Event, NodeNames};

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
    /// S3 requests sent, first tries, retries and hedges (summed over the
    /// storage servers' retry layers): S3 requests / operations is the
    /// request amplification.
    pub attempts: u64,
    /// Tries of whole operations by the gateways' own retry layers
    /// (`operations` when they do not retry; 0 for `s3-requests`).
    pub gateway_attempts: u64,
    /// Retries in every retry layer: `s3_retries + gateway_retries`.
    pub retries: u64,
    /// Retries of S3 requests by the storage servers' retry layers.
    pub s3_retries: u64,
    /// Retries of whole operations by the gateways' retry layers (0 for `s3-requests`).
    pub gateway_retries: u64,
    /// Give-ups because a retry quota, throttle or budget ran dry, in every
    /// retry layer (server and gateway).
    pub quota_exhausted: u64,
    /// Faults the S3 model injected (whether or not a retry hid them).
    pub faults_injected: u64,
    /// Requests the storage servers turned away unrun (queue full, or
    /// waited past the queue timeout; see `lafs.server_concurrency_max`).
    /// 0 when servers are unlimited, and for `s3-requests`.
    pub server_rejections: u64,
    /// S3 requests that arrived inside each `[[faults.outages]]` entry, in
    /// the fault model's order (summed over a grid's buckets): an outage no
    /// request reached did not affect the run (`crate::warnings_after_run`).
    pub outage_requests: Vec<u64>,
    /// Each operation's latency, first request to final answer, in microseconds.
    pub latencies_us: Vec<u64>,
    /// Each operation's outcome, in order (true: success), for paired comparisons.
    pub outcomes: Vec<bool>,
    pub trace_hash: u64,
    pub events: u64,
    pub simulated_time: Duration,
    /// Every event, when run with `TraceMode::Full`.
    pub trace: Option<Vec<Event>>,
    /// The world's node names by id (`storage-server`, `s3.2`, `gateway.3`),
    /// for reading the trace (`Event::line`, `Event::json`).
    pub node_names: NodeNames,
    /// Invariants the checkers found broken (Tahoe-LAFS workloads and mixed s3-requests workloads).
    pub violations: Vec<Violation>,
    /// Measures of a run under load (`s3-requests` with load settings).
    pub load: Option<crate::load_workload::LoadReport>,
}

impl RunReport {
    /// A report with nothing in it yet.
    pub fn empty(seed: u64, policy: &str) -> Self {
        RunReport {
            seed,
            policy: policy.to_owned(),
            operations: 0,
            failures: 0,
            failures_by_kind: BTreeMap::new(),
            failures_by_status: BTreeMap::new(),
            attempts: 0,
            gateway_attempts: 0,
            retries: 0,
            s3_retries: 0,
            gateway_retries: 0,
            quota_exhausted: 0,
            faults_injected: 0,
            server_rejections: 0,
            outage_requests: Vec::new(),
            latencies_us: Vec::new(),
            outcomes: Vec::new(),
            trace_hash: 0,
            events: 0,
            simulated_time: Duration::ZERO,
            trace: None,
            node_names: NodeNames::default(),
            violations: Vec::new(),
            load: None,
        }
    }

    /// Appends `part`'s operations (counts, latencies, outcomes in order)
    /// and violations to this report's.
    pub(crate) fn absorb(&mut self, part: RunReport) {
        self.operations += part.operations;
        self.failures += part.failures;
        for (kind, count) in part.failures_by_kind {
            *self.failures_by_kind.entry(kind).or_default() += count;
        }
        for (status, count) in part.failures_by_status {
            *self.failures_by_status.entry(status).or_default() += count;
        }
        self.latencies_us.extend(part.latencies_us);
        self.outcomes.extend(part.outcomes);
        self.violations.extend(part.violations);
    }
}
