//! Scenario x seeds -> run reports, in parallel, and the statistics over
//! them; the entry points the CLI and users' own tests call.
//!
//! - [`run_seed`]: one scenario, one policy, one seed: a [`RunReport`].
//! - [`estimate`]: every chosen policy over many seeds, spread over all
//!   cores, summarised per policy with confidence intervals ([`Estimate`]).
//! - [`Check`]: "this policy breaks no invariant and meets this success
//!   target" as a test, with a confidence bound, early stopping and a replay
//!   command on failure.
//! - [`compare`]: every policy on the same seeds, with paired significance
//!   tests; the best policy on each measure is never one that broke an
//!   invariant. `estimate` and `compare` count each policy's violations.
//! - [`explore`]: many seeds through the invariant checkers; each violation
//!   comes back with its seed and the command that replays it.
//! - [`Property`] and [`strategies`]: proptest over fault models, workload
//!   sizes, policy parameters and seeds; a broken invariant is shrunk to a
//!   minimal case and written as a scenario file `retrylab run` replays.
//! - [`Shard`]: the K-th of N blocks of a seed range; the `*_state`
//!   functions ([`estimate_state`], [`compare_state`], [`explore_state`])
//!   return the exact, serializable state behind each result, which merges
//!   across shards into what one machine would have computed.
//! - [`operation_records`] and [`s3_request_records`]: a full trace read
//!   back as one record per operation and per S3 request.
//! - [`write_under`], [`check_put_file`], [`object_body`], ...: the parts
//!   of the workloads and checks that real mode (`retrylab-real`) shares.
//! - [`warnings_after_run`]: the scripted outages, crashes and partitions
//!   that runs never reached ([`DisruptionsReached`], in every
//!   [`PolicyEstimate`] and from [`DisruptionsReached::of_runs`]).

mod check;
mod compare;
mod disruptions;
mod estimate;
mod explore;
mod lafs_workload;
mod load_summary;
mod load_workload;
mod nightly;
mod property;
mod reached;
mod report;
mod runner;
mod s3_mixed;
mod shard;
pub mod strategies;
mod swarm;
mod trace_records;
mod workload;

pub use check::{Check, CheckError, Verdict};
pub use compare::{compare, compare_state, Best, Comparison, ComparisonState, PairComparison, SIGNIFICANCE};
pub use estimate::{
    estimate, estimate_state, select_policies, Estimate, EstimateError, EstimateOptions, EstimateState, PolicyEstimate,
    PolicySummary, TraceHashes,
};
pub use explore::{
    explore, explore_state, reproduce_command, shell_quote, Exploration, ExplorationState, ExploreOptions, Finding,
    ViolationTally,
};
pub use load_summary::{LoadEstimate, LoadSummary, LoadWindow};
pub use load_workload::{trigger, window_of, LoadReport, RECOVERY_SMOOTHING_WINDOWS, RECOVERY_TOLERANCE};
pub use nightly::{CASES_VAR, FAILURES_DIR_VAR, SEEDS_VAR};
pub use property::{check_case, Property, PropertyError, PropertyFailure};
pub use reached::{warnings_after_run, DisruptionsReached};
pub use report::RunReport;
pub use retrylab_check::Violation;
pub use retrylab_lafs::MODIFY_RETRY_NOTE;
pub use retrylab_sim::{Event, EventKind, NodeNames, RunError, TraceMode, Value as TraceValue, WallBudget};
pub use runner::{RunTimeout, Seeds, SeedsError, JOBS_MAX, SEEDS_MAX, TIMEOUT_S_MAX};
pub use shard::{merge_order, MergeError, Shard, ShardError, SHARDS_MAX};
pub use strategies::{Case, Variation};
pub use swarm::{swarm_faults, swarm_scenario};
pub use trace_records::{operation_records, s3_request_records, OperationRecord, S3RequestRecord};
pub use workload::{run_seed, run_seed_within};

// The parts of the workloads and their checks that real mode
// (`retrylab-real`) runs too, so that both modes share one definition.
pub use disruptions::shares_checked;
pub use lafs_workload::{
    append_line, backups, check_backups, check_put_file, create, decode_puts, final_read_with, lafs_config, outcome_of,
    read_under, write_under, BackupDone, Backups, GatewayClient, StoredState,
};
pub use workload::{object_body, s3_config, s3_requests_key};
