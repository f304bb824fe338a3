//! The validated, internal form of a scenario: what the harness runs.
//!
//! These types are not the file format (see `schema.rs`): the file may
//! change spelling and defaults without the simulator noticing, and the
//! simulator may change representation without breaking anyone's files.

use std::path::PathBuf;
use std::time::Duration;

pub use retrylab_design::{Design, Listing, ModifyRetry, ReadCheck, ServerCapacity, ShareLayout, WriteCheck};
use retrylab_faults::{Disruptions, FaultModel, LatencyDist};
pub use retrylab_load::{QueueSpec, RateLimitSpec, Traffic};
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
    /// Crashes, partitions and corruption (`[[faults.crashes]]`,
    /// `[[faults.partitions]]`, `[faults.corruption]`): grid workloads only.
    pub disruptions: Disruptions,
    pub workload: Workload,
    /// How the workload's operations arrive (`s3-requests` only; the
    /// default is the closed loop every other workload runs).
    pub traffic: Traffic,
    /// At least one; names are unique.
    pub policies: Vec<NamedPolicy>,
    /// The Tahoe-LAFS-style grid; `None` for workloads that talk to S3 directly.
    pub lafs: Option<LafsSpec>,
}

impl Scenario {
    pub fn policy(&self, name: &str) -> Option<&NamedPolicy> {
        self.policies.iter().find(|p| p.name == name)
    }

    /// Settings that cannot affect a run, each as a human-readable sentence
    /// naming its field (the loader accepts them; a user should know):
    /// [`crate::lint`]'s warnings as `field: message`.
    pub fn warnings(&self) -> Vec<String> {
        crate::lint(self).iter().map(ToString::to_string).collect()
    }

    /// User-level operations in one run: the workload's, once per gateway.
    pub fn operations_per_run(&self) -> u64 {
        // Open-loop arrivals on the grid are the run's, not each gateway's.
        let gateways = match (&self.lafs, &self.traffic.open_loop) {
            (Some(lafs), None) => u64::from(lafs.gateways),
            _ => 1,
        };
        self.workload.operations().saturating_mul(gateways)
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
    /// A queue in front of S3 (`None`: every request is served at once).
    pub capacity: Option<QueueSpec>,
    /// S3's per-prefix request-rate limits (`None`: no limit).
    pub rate_limits: Option<RateLimitSpec>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum S3Operation {
    Put,
    Get,
    /// GETs, PUTs, DELETEs and LISTs drawn at random by weight, recorded as
    /// a history and checked (`retrylab_check::check_kv`).
    Mixed(OperationMix),
}

/// The relative weights of each request kind in a mixed workload: finite,
/// at least 0, not all 0 (the loader checks; they need not sum to 1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OperationMix {
    pub get: f64,
    pub put: f64,
    pub delete: f64,
    /// A LIST of every key under `data/`, following every continuation
    /// token: one S3 request a page.
    pub list: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Workload {
    /// `operations` S3 requests from one storage server, cycling over `keys`
    /// keys, issued by `clients` concurrent request streams (1: one after
    /// another, the 2012 experiment) that share the server's one S3 client,
    /// and so its retry quota: stream c sends operations c, c + clients, ..
    /// A mixed workload instead draws each operation's kind and key at
    /// random (keys `data/00000` ..), starting with every key holding a
    /// value, and checks its history.
    S3Requests { operations: u64, operation: S3Operation, object_bytes: u64, keys: u64, clients: u64 },
    /// `tahoe put` to one mutable file, `puts` times in a row: put i (1-based)
    /// overwrites the file with lines "1\n" .. "i\n" (the 2012 expt03), then
    /// `line_bytes` pads each line to at least that many bytes (0: no padding;
    /// the write-hole scenario uses it to make shares span several chunks).
    /// After each put the gateway makes `reads_per_write` reads, each of the
    /// next gateway's file in turn (its own first), recorded and checked.
    MutablePuts { puts: u64, line_bytes: u64, reads_per_write: u64 },
    /// `appends` read-modify-write appends of one line each to one mutable
    /// file (Tahoe's `modify`), the gateway retrying a whole modify when the
    /// design says so; `reads_per_write` reads after each, as for puts.
    /// `writers_per_file` gateways share each file (gateways 0..w the
    /// first, w..2w the next, ...), so their modifies contend: test vectors
    /// fail and uncoordinated-write retries run (1: a file per gateway).
    MutableAppends { appends: u64, reads_per_write: u64, writers_per_file: u64 },
    /// `tahoe backup` runs: backup j uploads `files[j]` files of sizes
    /// 0, step, 2*step, .. bytes in one directory (expt01: [101] with step 8;
    /// expt02: [101, 201, .., 1001]).
    Backups { files: Vec<u64>, file_bytes_step: u64 },
}

impl Workload {
    /// Gateways writing each mutable file (1 but for shared appends).
    pub fn writers_per_file(&self) -> u64 {
        match self {
            Workload::MutableAppends { writers_per_file, .. } => (*writers_per_file).max(1),
            _ => 1,
        }
    }

    /// The number of user-level operations the workload performs (reads
    /// during the run count: a user sees a failed read as a failure).
    pub fn operations(&self) -> u64 {
        let with_reads = |writes: u64, reads_per_write: u64| writes.saturating_mul(reads_per_write.saturating_add(1));
        match self {
            Workload::S3Requests { operations, .. } => *operations,
            Workload::MutablePuts { puts, reads_per_write, .. } => with_reads(*puts, *reads_per_write),
            Workload::MutableAppends { appends, reads_per_write, .. } => with_reads(*appends, *reads_per_write),
            Workload::Backups { files, .. } => files.len() as u64,
        }
    }

    /// Whether S3 eventual consistency can change what this workload sees:
    /// only a workload that reads a key after overwriting or deleting it.
    pub fn reads_after_overwrite(&self) -> bool {
        match self {
            Workload::S3Requests { operation: S3Operation::Mixed(mix), .. } => {
                mix.get > 0.0 && (mix.put > 0.0 || mix.delete > 0.0)
            }
            Workload::S3Requests { .. } => false,
            Workload::MutablePuts { .. } | Workload::MutableAppends { .. } | Workload::Backups { .. } => true,
        }
    }

    /// Whether the workload runs on a Tahoe-LAFS grid (needs `[lafs]`).
    pub fn needs_lafs(&self) -> bool {
        !matches!(self, Workload::S3Requests { .. })
    }
}

/// The Tahoe-LAFS-style grid of a scenario: encoding, servers and the design
/// switches, each of which selects a known-bad variant when not the default.
#[derive(Clone, Debug, PartialEq)]
pub struct LafsSpec {
    /// Shares needed to read (k), shares written (N), servers that must hold
    /// a share for an immutable upload to count (happy). 2012: 1, 1, 1.
    pub shares_needed: u8,
    pub shares_total: u8,
    pub servers_of_happiness: u8,
    /// Storage servers in the grid, each with its own S3 bucket.
    pub servers: u32,
    /// Gateway-to-server RPC timeout.
    pub rpc_timeout: Duration,
    /// Gateways (client nodes) running the workload at once, each on its
    /// own files, all sharing the storage servers (and so each server's S3
    /// client and retry quota). Operations per run: the workload's times this.
    pub gateways: u32,
    /// Whether the gateways' own retry policies (`NamedPolicy::gateway`)
    /// draw on one quota or budget, or each on its own.
    pub gateway_budgets: BudgetScope,
    pub design: Design,
    /// Each storage server's capacity (`server_concurrency_max`,
    /// `server_queue_max`, `server_queue_timeout_ms`): default unlimited.
    pub server_capacity: ServerCapacity,
}

/// Who shares a retry quota, budget or rate limiter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BudgetScope {
    /// Each gateway its own (separate processes, as separate `tahoe` clients are).
    #[default]
    PerGateway,
    /// One for all gateways (one process serving many users, as one AWS SDK
    /// client's token bucket is shared by everything that uses it).
    Shared,
}

/// One entry of `[[policies]]`: the retry layers it names.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedPolicy {
    pub name: String,
    /// How the storage server retries its S3 requests (for `s3-requests`:
    /// the one client's policy).
    pub config: PolicyConfig,
    /// How each gateway retries a whole failed operation (put, append,
    /// backup); `None`: it does not. Two layers that both retry multiply:
    /// this is where request amplification comes from.
    pub gateway: Option<PolicyConfig>,
}
