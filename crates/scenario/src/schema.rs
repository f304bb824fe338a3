//! The file format of `sim-scenarios/*.toml`, as serde structs.
//!
//! Every table denies unknown keys. Tables with a `kind` are plain structs
//! holding the union of every kind's fields as `Option`s, not serde enums:
//! internally tagged enums buffer their content, which loses the spans and
//! field paths that errors need. `load.rs` checks which fields each kind
//! takes and turns these structs into the internal types of `model.rs`.
//!
//! Units are the last part of a name: `_s` are seconds and `_ms`
//! milliseconds (both may be fractional where the name says `f64`).

use std::fmt;

use std::borrow::Cow;

use retrylab_design::{Listing, ModifyRetry, Named, ReadCheck, WriteCheck};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A closed set of names (`kind = "..."` and the like) deserialised from a
/// string. Hand-written rather than derived so that a value of the wrong
/// type still lists the names ("expected one of `strong`, `eventual`").
macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum $name {
            $($variant),+
        }

        impl $name {
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            #[allow(dead_code)]
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value named `name`, if it is one.
            #[allow(dead_code)]
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct NameVisitor;

                impl Visitor<'_> for NameVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        expecting_names(f, $name::NAMES)
                    }

                    fn visit_str<E: de::Error>(self, value: &str) -> Result<$name, E> {
                        match value {
                            $($text => Ok($name::$variant),)+
                            _ => Err(E::unknown_variant(value, $name::NAMES)),
                        }
                    }
                }

                deserializer.deserialize_str(NameVisitor)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                names_schema($name::NAMES)
            }
        }
    };
}

/// The JSON Schema of a closed set of names: a string, one of `names`.
fn names_schema(names: &[&str]) -> Schema {
    json_schema!({ "type": "string", "enum": names })
}

fn expecting_names(f: &mut fmt::Formatter<'_>, names: &[&str]) -> fmt::Result {
    if let [only] = names {
        return write!(f, "`{only}`");
    }
    f.write_str("one of ")?;
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "`{name}`")?;
    }
    Ok(())
}

/// A retrylab scenario: the workload, the simulated S3 and network, the
/// faults, and the retry policies to compare (docs/scenarios.md).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a scenario table")]
pub(crate) struct ScenarioFile {
    /// The scenario's name, shown in reports (required, not blank).
    pub name: String,
    /// Free text shown with the name. Default "".
    #[serde(default)]
    pub description: String,
    /// Seeds per policy for `estimate`, `explore` and `compare` without
    /// `--seeds`: 1 to 1,000,000. Default 100.
    pub seeds: Option<u64>,
    /// When a run is stopped as looping or stalled.
    pub limits: Option<LimitsTable>,
    /// The simulated network between nodes. Default: no latency, no loss.
    pub network: Option<NetworkTable>,
    /// The simulated S3 service. Default: strong consistency, 20 ms
    /// constant latency, 30 s request timeout.
    pub s3: Option<S3Table>,
    /// How S3 fails, and (grid workloads) crashes, partitions and
    /// corruption. Absent: no faults at all.
    pub faults: Option<FaultsTable>,
    /// What the run does (required).
    pub workload: WorkloadTable,
    /// The Tahoe-LAFS grid: required by (and only allowed with) the
    /// workload kinds on a grid (every kind but `s3-requests`).
    pub lafs: Option<LafsTable>,
    /// The retry policies to compare (at least one, names unique).
    pub policies: Vec<PolicyTable>,
}

/// `[limits]`: when a run is stopped as looping or stalled.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a [limits] table")]
pub(crate) struct LimitsTable {
    /// Virtual seconds after which a run stops with an error naming its
    /// seed: > 0, at most 10^9 s. Default 1,000,000 s.
    pub simulated_time_s_max: Option<f64>,
    /// Trace events after which a run stops with an error naming its seed:
    /// 1 to 10^9. Default 10,000,000.
    pub events_max: Option<u64>,
}

/// `[network]`: every message between nodes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a [network] table")]
pub(crate) struct NetworkTable {
    /// One-way latency of every message, in milliseconds. Default: constant 0 ms.
    pub latency_ms: Option<LatencyTable>,
    /// Probability in [0, 1] that one message is lost (the caller then
    /// times out). Default 0.
    pub loss_probability: Option<f64>,
}

names!(ConsistencyName { Strong = "strong", Eventual = "eventual" });

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an [s3] table")]
pub(crate) struct S3Table {
    /// "strong" (S3 since December 2020) or "eventual" (2012: after an
    /// overwrite or delete, a GET sees the previous version with
    /// probability 1/2 for `eventual_window_ms`). Default "strong".
    pub consistency: Option<ConsistencyName>,
    /// Milliseconds an overwrite or delete may go unseen: required with
    /// "eventual" (1 to 10^12), refused with "strong".
    pub eventual_window_ms: Option<u64>,
    /// The client's per-attempt timeout in milliseconds (1 to 10^12): a
    /// request with no answer by then fails as a timeout. Default 30,000.
    pub request_timeout_ms: Option<u64>,
    /// Service time of a request that succeeds, in milliseconds. Default: constant 20 ms.
    pub latency_ms: Option<LatencyTable>,
    /// Service time of a request answered with an error, in milliseconds.
    /// Default: as `latency_ms`.
    pub error_latency_ms: Option<LatencyTable>,
    /// S3 with finite capacity: requests queue for a fixed number of
    /// servers, so that load (and retries) cost latency. Default: none
    /// (every request is served at once, whatever the load).
    pub capacity: Option<CapacityTable>,
    /// S3's request-rate limits per partitioned prefix, answering
    /// `503 SlowDown` above them. Default: none (no limit).
    pub rate_limits: Option<RateLimitsTable>,
}

/// `[s3.capacity]`: a first-come-first-served queue in front of S3.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an [s3.capacity] table such as { servers = 100 }")]
pub(crate) struct CapacityTable {
    /// Requests served at once, 1 to 1,000,000 (required): with the mean
    /// service time this is the capacity (servers / mean latency, requests per second).
    pub servers: u64,
    /// Load shedding: a request arriving when this many wait is answered
    /// `503 SlowDown` at once (0 to 10^9). Default: no bound.
    pub queue_max: Option<u64>,
    /// A request that would wait longer than this many milliseconds is
    /// answered `503 SlowDown` when it has waited that long, without being
    /// served (1 to 10^12). Default: none.
    pub queue_timeout_ms: Option<u64>,
    /// Stretches in which every request starting service is slower: the
    /// capacity blip that triggers a retry storm.
    #[serde(default)]
    pub slowdowns: Vec<SlowdownTable>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a slowdown table such as { start_s = 60, end_s = 70, factor = 10 }")]
pub(crate) struct SlowdownTable {
    /// When it starts: virtual seconds from the run's start, >= 0.
    pub start_s: f64,
    /// When it ends (exclusive): virtual seconds > start_s.
    pub end_s: f64,
    /// Service times are multiplied by this (finite, 1 to 10^6).
    pub factor: f64,
}

/// `[s3.rate_limits]`: S3's documented limits per partitioned prefix.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an [s3.rate_limits] table")]
pub(crate) struct RateLimitsTable {
    /// PUT/COPY/POST/DELETE requests per second per partition (finite, > 0). Default 3,500.
    pub writes_per_s: Option<f64>,
    /// GET/HEAD (and LIST) requests per second per partition (finite, > 0). Default 5,500.
    pub reads_per_s: Option<f64>,
    /// A key's partition is its first this many `/`-separated segments, 1 to 64. Default 2.
    pub prefix_depth: Option<u64>,
    /// A partition throttling continuously for this many seconds splits
    /// (its limits double) if it holds two keys or more (finite, > 0). Default 60.
    pub split_after_s: Option<f64>,
    /// Splits per partition at most, 0 to 20. Default 4.
    pub splits_max: Option<u64>,
}

names!(LatencyKind {
    Constant = "constant",
    Uniform = "uniform",
    Normal = "normal",
    LogNormal = "lognormal",
    Exponential = "exponential",
    Mixture = "mixture",
    Empirical = "empirical",
});

impl LatencyKind {
    /// The parameters this kind takes, all required.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            LatencyKind::Constant => &["ms"],
            LatencyKind::Uniform => &["low_ms", "high_ms"],
            LatencyKind::Normal => &["mean_ms", "std_dev_ms"],
            LatencyKind::LogNormal => &["median_ms", "sigma"],
            LatencyKind::Exponential => &["mean_ms"],
            LatencyKind::Mixture => &["components"],
            LatencyKind::Empirical => &["quantiles"],
        }
    }
}

/// A latency distribution in milliseconds, e.g.
/// `{ kind = "uniform", low_ms = 900, high_ms = 1000 }`. Each kind takes
/// only its own parameters, all required; samples are rounded to whole
/// milliseconds.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a latency table such as { kind = \"constant\", ms = 20 }")]
pub(crate) struct LatencyTable {
    /// "constant" (ms), "uniform" (low_ms, high_ms), "normal" (mean_ms,
    /// std_dev_ms), "lognormal" (median_ms, sigma), "exponential"
    /// (mean_ms), "mixture" (components) or "empirical" (quantiles).
    pub kind: LatencyKind,
    /// "constant": the latency, milliseconds >= 0.
    pub ms: Option<f64>,
    /// "uniform": the lowest latency, milliseconds >= 0.
    pub low_ms: Option<f64>,
    /// "uniform": the highest latency, milliseconds >= low_ms.
    pub high_ms: Option<f64>,
    /// "normal" and "exponential": the mean, milliseconds.
    pub mean_ms: Option<f64>,
    /// "normal": the standard deviation, milliseconds >= 0 (negative draws count as 0).
    pub std_dev_ms: Option<f64>,
    /// "lognormal": the median, milliseconds > 0.
    pub median_ms: Option<f64>,
    /// "lognormal": the standard deviation of the log, >= 0 (no unit).
    pub sigma: Option<f64>,
    /// "mixture": the weighted parts, at least one; each a non-mixture
    /// distribution with a `weight`.
    pub components: Option<Vec<ComponentTable>>,
    /// "empirical": `[probability, milliseconds]` points, linear between
    /// them, probabilities increasing from 0 to 1 and latencies never
    /// decreasing (2 to 10,000 points; what `retrylab fit` writes).
    pub quantiles: Option<Vec<[f64; 2]>>,
}

/// One weighted part of a mixture: a non-mixture distribution plus `weight`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mixture component such as { weight = 1, kind = \"constant\", ms = 20 }")]
pub(crate) struct ComponentTable {
    /// The relative weight of this part, finite and >= 0 (weights need not sum to 1; not all 0).
    pub weight: f64,
    /// Any kind but "mixture".
    pub kind: LatencyKind,
    /// "constant": the latency, milliseconds >= 0.
    pub ms: Option<f64>,
    /// "uniform": the lowest latency, milliseconds >= 0.
    pub low_ms: Option<f64>,
    /// "uniform": the highest latency, milliseconds >= low_ms.
    pub high_ms: Option<f64>,
    /// "normal" and "exponential": the mean, milliseconds.
    pub mean_ms: Option<f64>,
    /// "normal": the standard deviation, milliseconds >= 0.
    pub std_dev_ms: Option<f64>,
    /// "lognormal": the median, milliseconds > 0.
    pub median_ms: Option<f64>,
    /// "lognormal": the standard deviation of the log, >= 0 (no unit).
    pub sigma: Option<f64>,
}

impl LatencyTable {
    /// The parameters as `(name, value)`, in declaration order.
    pub fn params(&self) -> [(&'static str, Option<f64>); 7] {
        [
            ("ms", self.ms),
            ("low_ms", self.low_ms),
            ("high_ms", self.high_ms),
            ("mean_ms", self.mean_ms),
            ("std_dev_ms", self.std_dev_ms),
            ("median_ms", self.median_ms),
            ("sigma", self.sigma),
        ]
    }
}

impl ComponentTable {
    pub fn params(&self) -> [(&'static str, Option<f64>); 7] {
        [
            ("ms", self.ms),
            ("low_ms", self.low_ms),
            ("high_ms", self.high_ms),
            ("mean_ms", self.mean_ms),
            ("std_dev_ms", self.std_dev_ms),
            ("median_ms", self.median_ms),
            ("sigma", self.sigma),
        ]
    }
}

names!(FaultsKind { None = "none", Independent = "independent", GilbertElliott = "gilbert-elliott" });

/// `[faults]`: how S3 requests fail, and on a grid which nodes crash, which
/// are cut off and what S3 corrupts.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a [faults] table")]
pub(crate) struct FaultsTable {
    /// "none", "independent" (failure_probability) or "gilbert-elliott"
    /// (good_mean_s, bad_mean_s, good_failure, bad_failure: bursts).
    pub kind: FaultsKind,
    /// "independent" only (required): each request fails with this probability, in [0, 1].
    pub failure_probability: Option<f64>,
    /// "gilbert-elliott" only (required): mean sojourn in the good state,
    /// virtual seconds, at least 0.001.
    pub good_mean_s: Option<f64>,
    /// "gilbert-elliott" only (required): mean sojourn in the bad state
    /// (a burst), virtual seconds, at least 0.001.
    pub bad_mean_s: Option<f64>,
    /// "gilbert-elliott" only (required): probability in [0, 1] that a request fails in the good state.
    pub good_failure: Option<f64>,
    /// "gilbert-elliott" only (required): probability in [0, 1] that a request fails in the bad state.
    pub bad_failure: Option<f64>,
    /// Of the faults that may be applied (all but slow_down), the fraction
    /// in [0, 1] where S3 applied the PUT or DELETE although the client sees
    /// the error. Default 0.
    pub ambiguous_fraction: Option<f64>,
    /// The weights of the kinds of fault. Absent: every fault is a 500
    /// InternalError. Present: kinds not listed weigh 0.
    pub mix: Option<MixTable>,
    /// Scripted outages: every request arriving in [start_s, end_s) fails. Default none.
    #[serde(default)]
    pub outages: Vec<OutageTable>,
    /// Grid workloads only: nodes that crash and restart. Default none.
    #[serde(default)]
    pub crashes: Vec<CrashTable>,
    /// Grid workloads only: groups of nodes cut off from each other for a while. Default none.
    #[serde(default)]
    pub partitions: Vec<PartitionTable>,
    /// Grid workloads only: per-request probabilities of corruption at S3. Default none.
    pub corruption: Option<CorruptionTable>,
}

/// `[[faults.crashes]]`: `node` crashes at `at_s` and restarts `down_s` later.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a crash table such as { node = \"storage-server.0\", at_s = 5, down_s = 2 }")]
pub(crate) struct CrashTable {
    /// The node: "storage-server.<i>" (i below lafs.servers) or "gateway.<g>" (g below lafs.gateways).
    pub node: String,
    /// When it crashes: virtual seconds from the run's start, >= 0, at most 8,640,000 (100 days).
    pub at_s: f64,
    /// How long it stays down: virtual seconds > 0 (at least 1 ms), at most 8,640,000.
    pub down_s: f64,
}

/// `[[faults.partitions]]`: `between = [[..], [..]]`, two groups of node names.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    expecting = "a partition table such as { between = [[\"gateway.0\"], [\"storage-server.0\"]], start_s = 5, duration_s = 2 }"
)]
pub(crate) struct PartitionTable {
    /// Two groups of node names ("storage-server.<i>", "gateway.<g>"), no
    /// node in both: every message between the groups is lost while it lasts.
    pub between: Vec<Vec<String>>,
    /// When it starts: virtual seconds from the run's start, >= 0, at most 8,640,000.
    pub start_s: f64,
    /// How long it lasts: virtual seconds > 0 (at least 1 ms), at most 8,640,000.
    pub duration_s: f64,
}

/// `[faults.corruption]`: each kind's probability per S3 request, in
/// [0, 1], 0 when absent.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a [faults.corruption] table")]
pub(crate) struct CorruptionTable {
    /// A PUT's stored body gets one bit flipped at rest. Default 0.
    pub bit_flip: Option<f64>,
    /// A PUT's stored body is cut short at rest. Default 0.
    pub truncate: Option<f64>,
    /// A GET is answered with the version before the current one. Default 0.
    pub stale_read: Option<f64>,
    /// A GET's answer has one byte altered in transit. Default 0.
    pub tampered_read: Option<f64>,
}

/// `[faults.mix]`: the relative weight of each kind of fault (finite,
/// >= 0, not all 0; kinds not listed weigh 0).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a table of fault kind weights")]
pub(crate) struct MixTable {
    /// 500 InternalError. Default 0 (when the table is present).
    pub internal_error: Option<f64>,
    /// 503 SlowDown (throttling; never applied). Default 0.
    pub slow_down: Option<f64>,
    /// A connection reset: no status line. Default 0.
    pub connection_reset: Option<f64>,
    /// No answer: the client waits `s3.request_timeout_ms`. Default 0.
    pub timeout: Option<f64>,
}

names!(FaultKindName {
    InternalError = "internal_error",
    SlowDown = "slow_down",
    ConnectionReset = "connection_reset",
    Timeout = "timeout",
});

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an outage table such as { start_s = 100, end_s = 160 }")]
pub(crate) struct OutageTable {
    /// When it starts: virtual seconds from the run's start, >= 0 (rounded to whole milliseconds).
    pub start_s: f64,
    /// When it ends (exclusive): virtual seconds > start_s.
    pub end_s: f64,
    /// The fault every request in it gets: "internal_error", "slow_down",
    /// "connection_reset" or "timeout". Default "internal_error".
    pub kind: Option<FaultKindName>,
}

names!(WorkloadKind {
    S3Requests = "s3-requests",
    MutablePuts = "mutable-puts",
    MutableAppends = "mutable-appends",
    Backups = "backups",
});

impl WorkloadKind {
    /// The fields this kind takes (besides `kind`), required or not.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            WorkloadKind::S3Requests => &[
                "operations",
                "operation",
                "mix",
                "object_bytes",
                "keys",
                "clients",
                "arrivals",
                "think_time_ms",
                "deadline_ms",
                "concurrency_max",
                "zipf_exponent",
                "prefixes",
            ],
            WorkloadKind::MutablePuts => &["puts", "line_bytes", "reads_per_write"],
            WorkloadKind::MutableAppends => &["appends", "reads_per_write", "writers_per_file"],
            WorkloadKind::Backups => &["files", "file_bytes_step"],
        }
    }
}

/// The keys a table of the JSON Schema definition `definition` (a struct
/// of this file by name) takes when its `kind` is `kind`: for a hint that
/// lists a policy's own fields, not the union of every kind's. `None` for
/// tables without kinds, or a kind that is not one.
pub(crate) fn fields_of_kind(definition: &str, kind: &str) -> Option<Vec<&'static str>> {
    let (always, of_kind): (&[&'static str], &[&'static str]) = match definition {
        "PolicyTable" => (&["name", "kind", "gateway"], PolicyKind::from_name(kind)?.fields()),
        "InnerPolicyTable" => (&["kind"], PolicyKind::from_name(kind)?.fields()),
        "WorkloadTable" => (&["kind"], WorkloadKind::from_name(kind)?.fields()),
        "LatencyTable" => (&["kind"], LatencyKind::from_name(kind)?.fields()),
        "ComponentTable" => (&["weight", "kind"], LatencyKind::from_name(kind)?.fields()),
        _ => return None,
    };
    Some(always.iter().chain(of_kind).copied().collect())
}

names!(OperationName { Put = "put", Get = "get", Mixed = "mixed" });

/// `workload.mix` of a mixed `s3-requests` workload: the weight of each
/// request kind (absent: 0).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a mix table such as { get = 0.4, put = 0.3, delete = 0.1, list = 0.2 }")]
pub(crate) struct OperationMixTable {
    /// Weight of GETs (finite, >= 0). Default 0.
    pub get: Option<f64>,
    /// Weight of PUTs (finite, >= 0). Default 0.
    pub put: Option<f64>,
    /// Weight of DELETEs (finite, >= 0). Default 0.
    pub delete: Option<f64>,
    /// Weight of LISTs of every key, all pages (finite, >= 0). Default 0.
    pub list: Option<f64>,
}

/// `[workload]`: the union of every workload kind's fields; each kind
/// takes only its own.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a [workload] table")]
pub(crate) struct WorkloadTable {
    /// "s3-requests" (S3 requests from one storage server), "mutable-puts",
    /// "mutable-appends" or "backups" (the last three on a Tahoe-LAFS grid: need [lafs]).
    pub kind: WorkloadKind,
    /// "s3-requests" (required): requests per run, 1 to 10^7.
    pub operations: Option<u64>,
    /// "s3-requests" (required): "put", "get" or "mixed".
    pub operation: Option<OperationName>,
    /// "s3-requests" with operation = "mixed" only (required then): the
    /// weight of each request kind.
    pub mix: Option<OperationMixTable>,
    /// "s3-requests": bytes of each object, at most 64 MiB. Default 1024.
    pub object_bytes: Option<u64>,
    /// "s3-requests": keys cycled over (drawn from, when mixed), 1 to 10^7
    /// (100,000 when mixed). Default 1.
    pub keys: Option<u64>,
    /// "s3-requests": concurrent request streams sharing one S3 client, 1 to 100,000. Default 1.
    pub clients: Option<u64>,
    /// "s3-requests" with operation "put" or "get": open-loop arrivals
    /// (instead of `operations` and `clients`): operations arrive at a rate,
    /// whatever the system does. Default: none (closed loop).
    pub arrivals: Option<ArrivalsTable>,
    /// "s3-requests", closed loop: each client waits this long (a latency
    /// distribution, milliseconds) between an operation's end and its next. Default: none.
    pub think_time_ms: Option<LatencyTable>,
    /// "s3-requests": a client gives up an operation this many milliseconds
    /// after it arrived (1 to 10^12). Default: none.
    pub deadline_ms: Option<u64>,
    /// "s3-requests", open loop: operations in flight at most; an arrival
    /// beyond it is refused at once (1 to 10^9). Default: no limit.
    pub concurrency_max: Option<u64>,
    /// "s3-requests" with operation "put" or "get": keys drawn by Zipf
    /// popularity with this exponent (finite, > 0, at most 10) instead of
    /// cycled over. Default: none.
    pub zipf_exponent: Option<f64>,
    /// "s3-requests": the keys are spread over this many key prefixes
    /// (`shares/p0000/..`, `shares/p0001/..`: S3 partitions), 1 to 10,000. Default 1.
    pub prefixes: Option<u64>,
    /// "mutable-puts" (required): puts to one mutable file per gateway, 1 to 100,000.
    pub puts: Option<u64>,
    /// "mutable-puts": each line padded to at least this many bytes (0: no padding). Default 0.
    pub line_bytes: Option<u64>,
    /// "mutable-appends" (required): one-line appends per gateway, 1 to 100,000.
    pub appends: Option<u64>,
    /// "mutable-puts" and "mutable-appends": reads after each write, 0 to 100. Default 0.
    pub reads_per_write: Option<u64>,
    /// "mutable-appends": gateways sharing each file, taking turns, 1 to 10,000. Default 1.
    pub writers_per_file: Option<u64>,
    /// "backups" (required): files uploaded by each backup run, one entry a
    /// backup (at most 10,000 entries, each 1 to 100,000).
    pub files: Option<Vec<u64>>,
    /// "backups": the files of a backup are 0, step, 2 step, .. bytes. Default 8.
    pub file_bytes_step: Option<u64>,
}

/// `[workload.arrivals]`: a Poisson process whose rate follows a schedule.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an [workload.arrivals] table such as { rate_per_s = 700, duration_s = 180 }")]
pub(crate) struct ArrivalsTable {
    /// Operations arriving per second at time 0 (finite, 0 to 10^6; required).
    pub rate_per_s: f64,
    /// Arrivals stop after this many virtual seconds (finite, > 0; required);
    /// the run then lets the operations in flight end.
    pub duration_s: f64,
    /// Changes of the rate, in time order: from `at_s` on the rate is
    /// `rate_per_s`; with `ramp = true` it moves there linearly from the previous point.
    #[serde(default)]
    pub schedule: Vec<RatePointTable>,
    /// A periodic swing of the rate (e.g. a day). Default: none.
    pub diurnal: Option<DiurnalTable>,
    /// Extra arrivals on top of the rate for a while.
    #[serde(default)]
    pub bursts: Vec<BurstTable>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a schedule point such as { at_s = 60, rate_per_s = 1400 }")]
pub(crate) struct RatePointTable {
    /// Virtual seconds from the run's start (finite, >= 0, not before the previous point).
    pub at_s: f64,
    /// The rate from then on, operations per second (finite, 0 to 10^6).
    pub rate_per_s: f64,
    /// Reach the rate linearly from the previous point (true) or step to it at `at_s` (false). Default false.
    pub ramp: Option<bool>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a diurnal table such as { amplitude = 0.3, period_s = 86400 }")]
pub(crate) struct DiurnalTable {
    /// The rate swings by this fraction either way, in [0, 1).
    pub amplitude: f64,
    /// Seconds of one period (finite, > 0).
    pub period_s: f64,
    /// When the rate peaks, seconds (finite, >= 0). Default 0.
    pub peak_at_s: Option<f64>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a burst table such as { start_s = 60, duration_s = 10, rate_per_s = 700 }")]
pub(crate) struct BurstTable {
    /// Virtual seconds from the run's start (finite, >= 0).
    pub start_s: f64,
    /// Seconds (finite, > 0).
    pub duration_s: f64,
    /// Extra operations per second during the burst (finite, 0 to 10^6).
    pub rate_per_s: f64,
}

/// `[lafs]`: the Tahoe-LAFS grid, for every workload kind but `s3-requests`.
/// Counts are read as `u64` and range-checked in `load.rs`, so that an
/// out-of-range value gets a message that says the range.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a [lafs] table")]
pub(crate) struct LafsTable {
    /// k: shares needed to read, 1 to 255. Default 3.
    pub shares_needed: Option<u64>,
    /// N: shares written, shares_needed to 255. Default 10.
    pub shares_total: Option<u64>,
    /// Distinct servers that must hold a share for an immutable upload to
    /// succeed, 1 to min(shares_total, servers). Default 7.
    pub servers_of_happiness: Option<u64>,
    /// Storage servers, each with its own S3 bucket, 1 to 10,000. Default 10.
    pub servers: Option<u64>,
    /// Gateway-to-server call timeout in milliseconds, 1 to 10^12. Default 300,000.
    pub rpc_timeout_ms: Option<u64>,
    /// Gateways running the workload at once, each on its own files, 1 to 10,000. Default 1.
    pub gateways: Option<u64>,
    /// Whether the gateways' own retry layers (a policy's `gateway`) each
    /// have their own quota or budget ("per-gateway") or share one
    /// ("shared"). Default "per-gateway".
    pub gateway_budgets: Option<BudgetScopeName>,
    /// The design switches. Absent: the safe design.
    pub design: Option<DesignTable>,
    /// Requests each storage server runs at once, 1 to 1,000,000; the
    /// others wait in a first-come-first-served queue. Default: no limit
    /// (and no queue).
    pub server_concurrency_max: Option<u64>,
    /// Requests that may wait for a slot, 0 to 1,000,000 (needs
    /// `server_concurrency_max`); an arrival that finds this many waiting is
    /// rejected at once (load shedding). Default: no bound.
    pub server_queue_max: Option<u64>,
    /// Milliseconds a request may wait for a slot before it is rejected, 1
    /// to 10^12 (needs `server_concurrency_max`). Default: no limit.
    pub server_queue_timeout_ms: Option<u64>,
}

names!(BudgetScopeName { PerGateway = "per-gateway", Shared = "shared" });

names!(ShareLayoutName { Whole = "whole", Chunked = "chunked" });

/// A design switch read by the name `retrylab-design` gives its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByName<T>(pub T);

impl<'de, T: Named> Deserialize<'de> for ByName<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor<T>(std::marker::PhantomData<T>);

        impl<T: Named> Visitor<'_> for NameVisitor<T> {
            type Value = ByName<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                expecting_names(f, T::NAMES)
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<ByName<T>, E> {
                T::from_name(value).map(ByName).ok_or_else(|| E::unknown_variant(value, T::NAMES))
            }
        }

        deserializer.deserialize_str(NameVisitor(std::marker::PhantomData))
    }
}

impl<T: Named> JsonSchema for ByName<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        let full = std::any::type_name::<T>();
        full.rsplit("::").next().unwrap_or(full).to_owned().into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        names_schema(T::NAMES)
    }
}

/// `[lafs.design]`: every switch optional, defaulting to the safe design.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a [lafs.design] table")]
pub(crate) struct DesignTable {
    /// "whole": one S3 object per share (safe), or "chunked": chunk objects
    /// written with no commit step (known-bad: the write hole). Default "whole".
    pub share_layout: Option<ShareLayoutName>,
    /// share_layout = "chunked" only: bytes per chunk object, 1 to 64 MiB. Default 524,288.
    pub chunk_bytes: Option<u64>,
    /// Serialise operations on one storage index within a server (false is known-bad). Default true.
    pub per_index_lock: Option<bool>,
    /// "prefixed": LIST under the storage index, all pages (safe), or
    /// "whole-bucket-first-page" (known-bad). Default "prefixed".
    pub listing: Option<ByName<Listing>>,
    /// "if-match": PUT conditional on the ETag tested (safe), or "blind":
    /// overwrite trusting a possibly stale read (known-bad). Default "if-match".
    pub write_check: Option<ByName<WriteCheck>>,
    /// "listed-etag": GET a share until its ETag is the listed one (safe),
    /// or "trust-get" (known-bad). Default "listed-etag".
    pub read_check: Option<ByName<ReadCheck>>,
    /// "reconcile": after an indeterminate failure re-read before
    /// re-applying (safe), or "replay": re-run the whole read-modify-write
    /// (known-bad). Default "reconcile".
    pub modify_retry: Option<ByName<ModifyRetry>>,
}

names!(PolicyKind {
    None = "none",
    Immediate = "immediate",
    Schedule = "schedule",
    Exponential = "exponential",
    AwsStandard = "aws-standard",
    AwsStandardV2_1 = "aws-standard-2.1",
    AwsAdaptive = "aws-adaptive",
    ObjectStore = "object-store",
    GrpcThrottled = "grpc-throttled",
    RetryBudget = "retry-budget",
    Hedged = "hedged",
    TahoeCloud = "tahoe-cloud",
    Deadline = "deadline",
    CircuitBreaker = "circuit-breaker",
    ClientThrottle = "client-throttle",
});

/// The parameters of the AWS kinds (`AwsRetryConfig`), all optional.
const AWS_FIELDS: &[&str] = &[
    "attempts_max",
    "initial_backoff_ms",
    "non_throttling_initial_backoff_ms",
    "max_backoff_ms",
    "quota_capacity",
    "retry_cost",
    "timeout_retry_cost",
    "throttling_retry_cost",
    "first_try_reward",
];

impl PolicyKind {
    /// The fields this kind takes (besides `kind`), required or not.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            PolicyKind::None => &[],
            PolicyKind::Immediate => &["retries"],
            PolicyKind::Schedule => &["delays_ms"],
            PolicyKind::Exponential => &["base_ms", "cap_ms", "attempts_max", "jitter"],
            PolicyKind::AwsStandard | PolicyKind::AwsStandardV2_1 | PolicyKind::AwsAdaptive => AWS_FIELDS,
            PolicyKind::ObjectStore => {
                &["init_backoff_ms", "max_backoff_ms", "base", "max_retries", "retry_timeout_ms"]
            }
            PolicyKind::GrpcThrottled => &["max_tokens", "token_ratio", "inner"],
            PolicyKind::RetryBudget => &["ttl_ms", "min_retries_per_sec", "percent_can_retry", "inner"],
            PolicyKind::Hedged => &["delay_ms", "quantile", "inner"],
            PolicyKind::TahoeCloud => &["delays_ms", "return_first_error"],
            PolicyKind::Deadline => &["deadline_ms", "inner"],
            PolicyKind::CircuitBreaker => {
                &["window_ms", "minimum_calls", "failure_rate_threshold", "open_ms", "half_open_calls", "inner"]
            }
            PolicyKind::ClientThrottle => &["window_ms", "k", "inner"],
        }
    }
}

names!(JitterName { None = "none", Full = "full", Equal = "equal", Decorrelated = "decorrelated" });

/// Declares [`PolicyTable`] (a `[[policies]]` entry) and [`InnerPolicyTable`]
/// (the policy a wrapper kind wraps: the same fields but `name`) from one
/// list of the fields after `kind`, each an `Option`, and
/// `InnerPolicyTable::present`, which says which of them the file gives.
macro_rules! policy_tables {
    ($($(#[$doc:meta])* $field:ident: $ty:ty,)+) => {
        /// One `[[policies]]` entry: the union of every policy kind's
        /// fields; each kind takes only its own. Durations are whole milliseconds.
        #[derive(Debug, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields, expecting = "a policy table with name and kind")]
        pub(crate) struct PolicyTable {
            /// The policy's name, unique in the file (`--policy NAME`).
            pub name: String,
            /// The retry policy (docs/scenarios.md, docs/policies.md); on a
            /// grid, the storage server's policy for each S3 request.
            pub kind: PolicyKind,
            $($(#[$doc])* pub $field: Option<$ty>,)+
            /// Grid workloads only: each gateway's own retry layer around a
            /// whole failed operation (a policy table without `name`; it
            /// may not hedge). Default: none.
            pub gateway: Option<Box<InnerPolicyTable>>,
        }

        /// `inner = { kind = .., .. }`: a policy table without `name`.
        #[derive(Debug, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields, expecting = "an inner policy table such as { kind = \"aws-standard\" }")]
        pub(crate) struct InnerPolicyTable {
            /// The retry policy.
            pub kind: PolicyKind,
            $($(#[$doc])* pub $field: Option<$ty>,)+
        }

        impl PolicyTable {
            /// The name, the gateway layer and the policy itself.
            pub fn split(self) -> (String, Option<Box<InnerPolicyTable>>, InnerPolicyTable) {
                (self.name, self.gateway, InnerPolicyTable { kind: self.kind, $($field: self.$field,)+ })
            }
        }

        impl InnerPolicyTable {
            /// Every field after `kind` with whether the file gives it, in declaration order.
            pub fn present(&self) -> Vec<(&'static str, bool)> {
                vec![$((stringify!($field), self.$field.is_some()),)+]
            }
        }
    };
}

policy_tables! {
    /// "immediate" (required): retries sent at once after a failure (2012's retry-once is 1).
    retries: u32,
    /// "schedule" (required): one retry after each delay, in milliseconds, in
    /// order. "tahoe-cloud": default [0, 2000, 10000].
    delays_ms: Vec<u64>,
    /// "exponential" (required): the first delay's scale, milliseconds.
    base_ms: u64,
    /// "exponential" (required): the largest delay, milliseconds.
    cap_ms: u64,
    /// "exponential" (required): attempts in all, the first included. The
    /// AWS kinds: default 3.
    attempts_max: u32,
    /// "exponential": "none", "full", "equal" or "decorrelated". Default "full".
    jitter: JitterName,
    /// The AWS kinds: the base delay after a throttling error, milliseconds. Default 1000.
    initial_backoff_ms: u64,
    /// The AWS kinds: the base delay after any other error, milliseconds.
    /// Default 1000 (50 for "aws-standard-2.1").
    non_throttling_initial_backoff_ms: u64,
    /// The largest delay, milliseconds: the AWS kinds (default 20,000) and
    /// "object-store" (default 15,000).
    max_backoff_ms: u64,
    /// The AWS kinds: tokens in the retry quota. Default 500.
    quota_capacity: u32,
    /// The AWS kinds: tokens a retry costs after an error that is neither a
    /// timeout nor throttling. Default 5 (14 for "aws-standard-2.1").
    retry_cost: u32,
    /// The AWS kinds: tokens a retry costs after a timeout. Default 10 (14 for "aws-standard-2.1").
    timeout_retry_cost: u32,
    /// The AWS kinds: tokens a retry costs after throttling. Default 5.
    throttling_retry_cost: u32,
    /// The AWS kinds: tokens a first-try success adds to the quota. Default 1.
    first_try_reward: u32,
    /// "object-store": the first delay, milliseconds. Default 100.
    init_backoff_ms: u64,
    /// "object-store": the growth factor of the delay. Default 2.0.
    base: f64,
    /// "object-store": retries at most. Default 10.
    max_retries: u32,
    /// "object-store": no retry once this many milliseconds have passed
    /// since the first attempt. Default 180,000.
    retry_timeout_ms: u64,
    /// "grpc-throttled": the token bucket's size; no retries while tokens
    /// <= max_tokens / 2. Default 10.
    max_tokens: u32,
    /// "grpc-throttled": tokens a success gives back. Default 0.1.
    token_ratio: f64,
    /// "retry-budget": the window of requests the budget counts, milliseconds. Default 10,000.
    ttl_ms: u64,
    /// "retry-budget": retries allowed per second whatever the traffic. Default 10.
    min_retries_per_sec: u32,
    /// "retry-budget": the fraction of recent requests that may retry, in [0, 1000]. Default 0.2.
    percent_can_retry: f64,
    /// "hedged" (required): milliseconds until a second copy of an
    /// unanswered attempt is sent (with `quantile`: until 20 latencies have
    /// been observed).
    delay_ms: u64,
    /// "hedged": hedge after this quantile of the observed latencies (e.g. 0.95),
    /// in (0, 1). Default: none (always `delay_ms`).
    quantile: f64,
    /// "tahoe-cloud": when retries are spent, raise the first error (true)
    /// or the last (false). Default true.
    return_first_error: bool,
    /// "deadline" (required): give up when the time spent plus the next
    /// delay would pass this many milliseconds.
    deadline_ms: u64,
    /// The sliding window of outcomes, milliseconds: "circuit-breaker"
    /// (default 10,000) and "client-throttle" (default 120,000).
    window_ms: u64,
    /// "circuit-breaker": outcomes in the window before the failure rate is
    /// judged. Default 20.
    minimum_calls: u32,
    /// "circuit-breaker": the failure rate that opens it, in (0, 1]. Default 0.5.
    failure_rate_threshold: f64,
    /// "circuit-breaker": milliseconds it stays open, every attempt refused. Default 5,000.
    open_ms: u64,
    /// "circuit-breaker": trial attempts let through when half-open. Default 10.
    half_open_calls: u32,
    /// "client-throttle": the multiplier K of accepts, at least 1. Default 2.0.
    k: f64,
    /// The wrapped policy, a policy table without `name`: "deadline"
    /// (required); "grpc-throttled" (default exponential 100 ms to 1 s, 5
    /// attempts), "retry-budget" (default exponential 5 ms to 200 ms, 3
    /// attempts, decorrelated), "hedged" (default "none"),
    /// "circuit-breaker" and "client-throttle" (default "aws-standard").
    inner: Box<InnerPolicyTable>,
}
