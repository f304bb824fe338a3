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

use retrylab_design::{Listing, ModifyRetry, Named, ReadCheck, WriteCheck};
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
    };
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

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a scenario table")]
pub(crate) struct ScenarioFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seeds `estimate` runs per policy by default (100 when absent).
    pub seeds: Option<u64>,
    pub limits: Option<LimitsTable>,
    pub network: Option<NetworkTable>,
    pub s3: Option<S3Table>,
    /// Absent: no faults at all.
    pub faults: Option<FaultsTable>,
    pub workload: WorkloadTable,
    /// Required by (and only allowed with) workloads on a Tahoe-LAFS grid.
    pub lafs: Option<LafsTable>,
    pub policies: Vec<PolicyTable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [limits] table")]
pub(crate) struct LimitsTable {
    pub simulated_time_s_max: Option<f64>,
    pub events_max: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [network] table")]
pub(crate) struct NetworkTable {
    pub latency_ms: Option<LatencyTable>,
    pub loss_probability: Option<f64>,
}

names!(ConsistencyName { Strong = "strong", Eventual = "eventual" });

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [s3] table")]
pub(crate) struct S3Table {
    pub consistency: Option<ConsistencyName>,
    /// Required with `eventual`, refused with `strong`.
    pub eventual_window_ms: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    pub latency_ms: Option<LatencyTable>,
    pub error_latency_ms: Option<LatencyTable>,
}

names!(LatencyKind {
    Constant = "constant",
    Uniform = "uniform",
    Normal = "normal",
    LogNormal = "lognormal",
    Exponential = "exponential",
    Mixture = "mixture",
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
        }
    }
}

/// A latency distribution in milliseconds, e.g.
/// `{ kind = "uniform", low_ms = 900, high_ms = 1000 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a latency table such as { kind = \"constant\", ms = 20 }")]
pub(crate) struct LatencyTable {
    pub kind: LatencyKind,
    pub ms: Option<f64>,
    pub low_ms: Option<f64>,
    pub high_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    pub std_dev_ms: Option<f64>,
    pub median_ms: Option<f64>,
    pub sigma: Option<f64>,
    pub components: Option<Vec<ComponentTable>>,
}

/// One weighted part of a mixture: a non-mixture distribution plus `weight`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mixture component such as { weight = 1, kind = \"constant\", ms = 20 }")]
pub(crate) struct ComponentTable {
    pub weight: f64,
    pub kind: LatencyKind,
    pub ms: Option<f64>,
    pub low_ms: Option<f64>,
    pub high_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    pub std_dev_ms: Option<f64>,
    pub median_ms: Option<f64>,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [faults] table")]
pub(crate) struct FaultsTable {
    pub kind: FaultsKind,
    /// `independent` only.
    pub failure_probability: Option<f64>,
    /// `gilbert-elliott` only: mean sojourn in the good state, seconds.
    pub good_mean_s: Option<f64>,
    pub bad_mean_s: Option<f64>,
    pub good_failure: Option<f64>,
    pub bad_failure: Option<f64>,
    pub ambiguous_fraction: Option<f64>,
    /// Absent: every fault a 500 InternalError. Present: weights not listed are 0.
    pub mix: Option<MixTable>,
    #[serde(default)]
    pub outages: Vec<OutageTable>,
    /// Grid workloads only: nodes that crash and restart.
    #[serde(default)]
    pub crashes: Vec<CrashTable>,
    /// Grid workloads only: groups of nodes cut off from each other for a while.
    #[serde(default)]
    pub partitions: Vec<PartitionTable>,
    /// Grid workloads only: per-request probabilities of corruption at S3.
    pub corruption: Option<CorruptionTable>,
}

/// `[[faults.crashes]]`: `node` crashes at `at_s` and restarts `down_s` later.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a crash table such as { node = \"storage-server.0\", at_s = 5, down_s = 2 }")]
pub(crate) struct CrashTable {
    pub node: String,
    pub at_s: f64,
    pub down_s: f64,
}

/// `[[faults.partitions]]`: `between = [[..], [..]]`, two groups of node names.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a partition table such as { between = [[\"gateway.0\"], [\"storage-server.0\"]], start_s = 5, duration_s = 2 }"
)]
pub(crate) struct PartitionTable {
    pub between: Vec<Vec<String>>,
    pub start_s: f64,
    pub duration_s: f64,
}

/// `[faults.corruption]`: each kind's probability per S3 request, 0 when absent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [faults.corruption] table")]
pub(crate) struct CorruptionTable {
    pub bit_flip: Option<f64>,
    pub truncate: Option<f64>,
    pub stale_read: Option<f64>,
    pub tampered_read: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table of fault kind weights")]
pub(crate) struct MixTable {
    pub internal_error: Option<f64>,
    pub slow_down: Option<f64>,
    pub connection_reset: Option<f64>,
    pub timeout: Option<f64>,
}

names!(FaultKindName {
    InternalError = "internal_error",
    SlowDown = "slow_down",
    ConnectionReset = "connection_reset",
    Timeout = "timeout",
});

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an outage table such as { start_s = 100, end_s = 160 }")]
pub(crate) struct OutageTable {
    pub start_s: f64,
    pub end_s: f64,
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
            WorkloadKind::S3Requests => &["operations", "operation", "mix", "object_bytes", "keys", "clients"],
            WorkloadKind::MutablePuts => &["puts", "line_bytes", "reads_per_write"],
            WorkloadKind::MutableAppends => &["appends", "reads_per_write", "writers_per_file"],
            WorkloadKind::Backups => &["files", "file_bytes_step"],
        }
    }
}

names!(OperationName { Put = "put", Get = "get", Mixed = "mixed" });

/// `workload.mix` of a mixed `s3-requests` workload: the weight of each
/// request kind (absent: 0).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mix table such as { get = 0.4, put = 0.3, delete = 0.1, list = 0.2 }")]
pub(crate) struct OperationMixTable {
    pub get: Option<f64>,
    pub put: Option<f64>,
    pub delete: Option<f64>,
    pub list: Option<f64>,
}

/// The union of every workload kind's fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [workload] table")]
pub(crate) struct WorkloadTable {
    pub kind: WorkloadKind,
    /// `s3-requests`.
    pub operations: Option<u64>,
    pub operation: Option<OperationName>,
    /// Only with `operation = "mixed"`.
    pub mix: Option<OperationMixTable>,
    pub object_bytes: Option<u64>,
    pub keys: Option<u64>,
    pub clients: Option<u64>,
    /// `mutable-puts`.
    pub puts: Option<u64>,
    pub line_bytes: Option<u64>,
    /// `mutable-appends`.
    pub appends: Option<u64>,
    /// `mutable-puts` and `mutable-appends`: reads during the run.
    pub reads_per_write: Option<u64>,
    /// `mutable-appends`: gateways sharing each file.
    pub writers_per_file: Option<u64>,
    /// `backups`.
    pub files: Option<Vec<u64>>,
    pub file_bytes_step: Option<u64>,
}

/// `[lafs]`: the Tahoe-LAFS grid, for every workload kind but `s3-requests`.
/// Counts are read as `u64` and range-checked in `load.rs`, so that an
/// out-of-range value gets a message that says the range.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [lafs] table")]
pub(crate) struct LafsTable {
    pub shares_needed: Option<u64>,
    pub shares_total: Option<u64>,
    pub servers_of_happiness: Option<u64>,
    pub servers: Option<u64>,
    pub rpc_timeout_ms: Option<u64>,
    pub gateways: Option<u64>,
    pub gateway_budgets: Option<BudgetScopeName>,
    /// Absent: the safe design.
    pub design: Option<DesignTable>,
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

/// `[lafs.design]`: every switch optional, defaulting to the safe design.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [lafs.design] table")]
pub(crate) struct DesignTable {
    pub share_layout: Option<ShareLayoutName>,
    /// `chunked` only.
    pub chunk_bytes: Option<u64>,
    pub per_index_lock: Option<bool>,
    pub listing: Option<ByName<Listing>>,
    pub write_check: Option<ByName<WriteCheck>>,
    pub read_check: Option<ByName<ReadCheck>>,
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
        /// One `[[policies]]` entry: the union of every policy kind's fields.
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields, expecting = "a policy table with name and kind")]
        pub(crate) struct PolicyTable {
            pub name: String,
            pub kind: PolicyKind,
            $($(#[$doc])* pub $field: Option<$ty>,)+
            /// The gateways' own retry layer (grid workloads only).
            pub gateway: Option<Box<InnerPolicyTable>>,
        }

        /// `inner = { kind = .., .. }`: a policy table without `name`.
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields, expecting = "an inner policy table such as { kind = \"aws-standard\" }")]
        pub(crate) struct InnerPolicyTable {
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
    /// `immediate`.
    retries: u32,
    /// `schedule` (required), `tahoe-cloud`.
    delays_ms: Vec<u64>,
    /// `exponential`.
    base_ms: u64,
    cap_ms: u64,
    /// `exponential` (required) and the AWS kinds.
    attempts_max: u32,
    /// `exponential`, default `full`.
    jitter: JitterName,
    /// The AWS kinds (`AwsRetryConfig`): the base delay after a throttling error.
    initial_backoff_ms: u64,
    /// The base delay after any other error.
    non_throttling_initial_backoff_ms: u64,
    /// The AWS kinds and `object-store`.
    max_backoff_ms: u64,
    quota_capacity: u32,
    retry_cost: u32,
    timeout_retry_cost: u32,
    throttling_retry_cost: u32,
    first_try_reward: u32,
    /// `object-store` (`ObjectStoreConfig`).
    init_backoff_ms: u64,
    base: f64,
    max_retries: u32,
    retry_timeout_ms: u64,
    /// `grpc-throttled`.
    max_tokens: u32,
    token_ratio: f64,
    /// `retry-budget`.
    ttl_ms: u64,
    min_retries_per_sec: u32,
    percent_can_retry: f64,
    /// `hedged` (required): the hedge delay, or with `quantile` the delay
    /// until enough latencies have been observed.
    delay_ms: u64,
    /// `hedged`: hedge after this quantile of observed latency (e.g. 0.95).
    quantile: f64,
    /// `tahoe-cloud`.
    return_first_error: bool,
    /// `deadline` (required).
    deadline_ms: u64,
    /// The wrapped policy: `grpc-throttled`, `retry-budget`, `hedged`, `deadline` (required).
    inner: Box<InnerPolicyTable>,
}
