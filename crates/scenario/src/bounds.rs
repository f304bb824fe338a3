//! The largest value of every size and limit a scenario file may give, in
//! one place, each with the reason for its value (docs/scenarios.md lists
//! them). A value past its bound is refused by the loader as
//! `file:line:column: field: message`, never left to panic or exhaust memory
//! in the simulator.

use crate::model::{LafsSpec, S3Operation, Workload};

/// `seeds`: an `estimate` keeps one report per (policy, seed) until it
/// summarises, so seeds are bounded like other sizes (see also
/// [`OPERATION_RECORDS_MAX`]). A million seeds is far past any useful
/// interval: at 10^6 seeds a Clopper-Pearson interval is already ±0.1%.
pub const SEEDS_MAX: u64 = 1_000_000;

/// `seeds` × operations per run: `estimate` keeps every operation's latency
/// and outcome (9 bytes) of every seed of a policy, so 10^8 of them is at
/// most 900 MB per policy.
pub const OPERATION_RECORDS_MAX: u64 = 100_000_000;

/// `limits.simulated_time_s_max`: 10^9 s (about 32 years) of virtual time.
/// The world's watchdog can time at most `retrylab_sim::SIMULATED_TIME_MAX`
/// (2^33 s, 272 years: the clock is a `std::time::Instant` counted from zero,
/// which holds 2^64 ns on every platform, and traces keep times as u64
/// nanoseconds); the harness tests that this bound stays below it.
pub const SIMULATED_TIME_S_MAX_CEILING: u64 = 1_000_000_000;

/// `limits.events_max`: the trace counts events in a u64 and, with
/// `--trace`, keeps every one (about 100 bytes each); at about a microsecond
/// of wall time each, 10^9 events is already hours for one seed.
pub const EVENTS_MAX_CEILING: u64 = 1_000_000_000;

/// `s3.request_timeout_ms`, `s3.eventual_window_ms`, `lafs.rpc_timeout_ms`:
/// a timeout or window longer than the longest possible run never ends
/// inside it.
pub const DURATION_MS_MAX: u64 = SIMULATED_TIME_S_MAX_CEILING * 1000;

/// `workload.operations` and `workload.keys` of an `s3-requests` workload:
/// each operation costs at least two trace events and a result of about
/// 40 bytes held until the run ends (400 MB at this bound for one seed).
pub const OPERATIONS_MAX: u64 = 10_000_000;

/// `workload.puts` and `workload.appends`: put i writes lines 1..i, so a run
/// writes puts²/2 lines (and an append reads and rewrites the whole file):
/// 10^5 puts is already 5·10^9 lines per gateway.
pub const MUTABLE_WRITES_MAX: u64 = 100_000;

/// `workload.files`: backups per run (each one a directory of files).
pub const BACKUPS_MAX: u64 = 10_000;

/// Each entry of `workload.files`: files uploaded by one backup, each an
/// immutable upload of N shares (N S3 objects per file).
pub const FILES_PER_BACKUP_MAX: u64 = 100_000;

/// `workload.object_bytes`, `workload.line_bytes`, `workload.file_bytes_step`,
/// `lafs.design.chunk_bytes`, and the largest single file a grid workload
/// writes (the last put: puts lines of `max(line_bytes, digits + 1)` bytes;
/// the last file of a backup: `(files[j] - 1) · file_bytes_step`): 64 MiB.
/// Every body is built in memory, encoded into N shares of 1/k of it, and
/// kept by the simulated S3 buckets.
pub const FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Bytes the world stores by the end of one run, estimated from the
/// workload ([`stored_bytes`]): the simulated S3 buckets hold every stored
/// byte in memory, once per run and per worker thread running a seed.
pub const STORED_BYTES_MAX: u64 = 1024 * 1024 * 1024;

/// `lafs.servers`: each storage server is a node with its own S3 bucket and
/// client; a grid reads and writes through all of them.
pub const SERVERS_MAX: u64 = 10_000;

/// More gateways than this is a mistake of units, not a load test: each
/// gateway is a node with its own files.
pub const GATEWAYS_MAX: u64 = 10_000;

/// `lafs.server_concurrency_max` and `lafs.server_queue_max`: slots and
/// queue places of one storage server. Each waiting request holds its
/// handler's state in memory; a million is far past any grid's load.
pub const SERVER_QUEUE_MAX: u64 = 1_000_000;

/// `workload.clients`: concurrent request streams of one S3 client.
pub const CLIENTS_MAX: u64 = 100_000;

/// Reads after each write of a grid workload: more than this is a mistake
/// of units (a read costs a servermap update on every server).
pub const READS_PER_WRITE_MAX: u64 = 100;

/// `workload.keys` of a mixed s3-requests workload: every key is stored and
/// read back at the end, and key names have five digits (`data/00000`).
pub const MIXED_KEYS_MAX: u64 = 100_000;

/// The shortest mean sojourn of a Gilbert-Elliott state, in milliseconds:
/// the simulator's clock resolution (every latency and delay is whole
/// milliseconds). A chain that switches many times between two requests is
/// in its stationary distribution at each of them, which is independent
/// faults at the stationary rate (`kind = "independent"` says that
/// directly); shorter means only cost time stepping the chain.
pub const BURST_MEAN_MS_MIN: f64 = retrylab_faults::BURST_MEAN_MS_MIN;

/// `window_ms` and `open_ms` of a "circuit-breaker", `window_ms` of a
/// "client-throttle": [`DURATION_MS_MAX`], like every other window (checked
/// by `PolicyConfig::validate`, which names the field).
pub const LOAD_POLICY_DURATION_MS_MAX: u64 = DURATION_MS_MAX;

/// `minimum_calls` and `half_open_calls` of a "circuit-breaker": a million
/// trial attempts is a mistake of units, not a trial.
pub const BREAKER_CALLS_MAX: u32 = retrylab_retry::BREAKER_CALLS_MAX;

/// `k` of a "client-throttle" (at least 1): at 1000 it refuses nothing until
/// 99.9% of requests fail, which is no throttle at all.
pub const THROTTLE_K_MAX: f64 = retrylab_retry::THROTTLE_K_MAX;

/// What the world stores by the end of one run of `workload`, in bytes (an
/// estimate from above, saturating): S3 objects for an `s3-requests`
/// workload (`min(keys, operations)` bodies of `object_bytes`), and for a
/// grid the shares of each gateway's files (N shares of 1/k of a file's
/// bytes): the last put's file, the appended lines, or every backed-up file.
pub fn stored_bytes(workload: &Workload, lafs: Option<&LafsSpec>) -> u128 {
    let per_gateway: u128 = match workload {
        Workload::S3Requests { operations, keys, object_bytes, operation, .. } => {
            let keys = match operation {
                S3Operation::Mixed(_) => *keys,
                S3Operation::Put | S3Operation::Get => (*keys).min(*operations),
            };
            return u128::from(keys) * u128::from(*object_bytes);
        }
        Workload::MutablePuts { puts, line_bytes, .. } => {
            u128::from(*puts) * u128::from(line_width(*puts, *line_bytes))
        }
        Workload::MutableAppends { appends, .. } => u128::from(*appends) * u128::from(line_width(*appends, 0)),
        Workload::Backups { files, file_bytes_step } => files
            .iter()
            .map(|&count| {
                // Files of 0, step, .., (count - 1) · step bytes.
                let count = u128::from(count);
                u128::from(*file_bytes_step) * count * count.saturating_sub(1) / 2
            })
            .fold(0u128, u128::saturating_add),
    };
    let Some(lafs) = lafs else { return per_gateway };
    let expansion_num = u128::from(lafs.shares_total.max(1));
    let expansion_den = u128::from(lafs.shares_needed.max(1));
    per_gateway.saturating_mul(u128::from(lafs.gateways)).saturating_mul(expansion_num) / expansion_den
}

/// Bytes of the longest line a mutable-file workload writes with `writes`
/// writes: the number and "\n", padded to `line_bytes`.
pub fn line_width(writes: u64, line_bytes: u64) -> u64 {
    let digits = u64::from(writes.max(1).ilog10()) + 1;
    line_bytes.max(digits + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_policy_durations_are_bounded_like_every_window() {
        assert_eq!(retrylab_retry::LOAD_POLICY_DURATION_MAX.as_millis(), u128::from(LOAD_POLICY_DURATION_MS_MAX));
    }

    #[test]
    fn line_width_counts_digits_and_newline() {
        assert_eq!(line_width(9, 0), 2);
        assert_eq!(line_width(10, 0), 3);
        assert_eq!(line_width(10_000, 0), 6);
        assert_eq!(line_width(10, 100), 100);
    }

    #[test]
    fn backups_store_the_sum_of_their_files() {
        let workload = Workload::Backups { files: vec![3, 4], file_bytes_step: 10 };
        // 0 + 10 + 20 and 0 + 10 + 20 + 30.
        assert_eq!(stored_bytes(&workload, None), 90);
    }
}
