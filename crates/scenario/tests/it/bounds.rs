//! Every size and limit of a scenario has a maximum (`retrylab_scenario::bounds`):
//! the reproductions of issue 9, which panicked, aborted out of memory or
//! hung, are now refused on one line naming file, line and field.

use std::path::Path;

use retrylab_scenario::bounds::{
    stored_bytes, BACKUPS_MAX, EVENTS_MAX_CEILING, FILES_PER_BACKUP_MAX, FILE_BYTES_MAX, MUTABLE_WRITES_MAX,
    OPERATIONS_MAX, OPERATION_RECORDS_MAX, SEEDS_MAX, SERVERS_MAX, SIMULATED_TIME_S_MAX_CEILING, STORED_BYTES_MAX,
};
use retrylab_scenario::{parse, Scenario};

const FILE: &str = "sim-scenarios/x.toml";

const S3: &str = r#"name = "bounds"
seeds = 10

[limits]
simulated_time_s_max = 1000
events_max = 100000

[workload]
kind = "s3-requests"
operations = 100
operation = "get"
object_bytes = 1024

[[policies]]
name = "none"
kind = "none"
"#;

const BACKUPS: &str = r#"name = "bounds"
seeds = 10

[workload]
kind = "backups"
files = [3, 4]
file_bytes_step = 8

[lafs]
servers = 10

[[policies]]
name = "none"
kind = "none"
"#;

const PUTS: &str = r#"name = "bounds"
seeds = 10

[workload]
kind = "mutable-puts"
puts = 30
line_bytes = 100

[lafs]
gateways = 1

[[policies]]
name = "none"
kind = "none"
"#;

fn ok(source: &str) -> Scenario {
    parse(source, Path::new(FILE)).unwrap_or_else(|err| panic!("refused: {err}"))
}

/// `source` with `from` replaced by `to` must be refused at `line` and
/// `field`, on one line, with `message` in it.
fn refused(source: &str, from: &str, to: &str, line: usize, field: &str, message: &str) {
    assert!(source.contains(from), "the fixture lacks {from:?}");
    let source = source.replacen(from, to, 1);
    let err = match parse(&source, Path::new(FILE)) {
        Ok(_) => panic!("{to:?} was accepted"),
        Err(err) => err,
    };
    let rendered = err.to_string();
    assert!(!rendered.contains('\n'), "{rendered}");
    assert!(rendered.starts_with(&format!("{FILE}:{line}:")), "{rendered}");
    assert_eq!(err.field(), Some(field), "{rendered}");
    assert!(rendered.contains(message), "{rendered} lacks {message:?}");
}

#[test]
fn the_fixtures_load() {
    ok(S3);
    ok(BACKUPS);
    ok(PUTS);
}

// The reproductions of issue 9.

#[test]
fn a_time_limit_past_the_clock_is_refused() {
    // Panicked "overflow when adding duration to instant" in the watchdog.
    refused(
        S3,
        "simulated_time_s_max = 1000",
        "simulated_time_s_max = 1e19",
        5,
        "limits.simulated_time_s_max",
        "must be at most 1000000000 s",
    );
    let ceiling = format!("simulated_time_s_max = {SIMULATED_TIME_S_MAX_CEILING}");
    ok(&S3.replace("simulated_time_s_max = 1000", &ceiling));
}

#[test]
fn operations_past_the_bound_are_refused() {
    // Panicked "capacity overflow".
    refused(
        S3,
        "operations = 100",
        "operations = 9223372036854775807",
        10,
        "workload.operations",
        "must be at most 10000000",
    );
    // Aborted out of memory.
    refused(S3, "operations = 100", "operations = 1000000000000", 10, "workload.operations", "must be at most");
    ok(&S3.replace("operations = 100", &format!("operations = {OPERATIONS_MAX}")).replace("seeds = 10", "seeds = 1"));
}

#[test]
fn object_bytes_past_the_bound_are_refused() {
    refused(
        S3,
        "object_bytes = 1024",
        "object_bytes = 1000000000000",
        12,
        "workload.object_bytes",
        "must be at most 67108864",
    );
    // Within the per-object bound, but 100 keys of 64 MiB is past what the buckets may hold.
    let many_keys = S3.replace("object_bytes = 1024", &format!("object_bytes = {FILE_BYTES_MAX}\nkeys = 100"));
    refused(
        &many_keys,
        "operations = 100",
        "operations = 100",
        12,
        "workload.object_bytes",
        "at most 1073741824 (1 GiB)",
    );
}

#[test]
fn backup_sizes_past_the_bound_are_refused() {
    refused(BACKUPS, "files = [3, 4]", "files = [1000000000000]", 6, "workload.files[0]", "must be at most 100000");
    refused(
        BACKUPS,
        "files = [3, 4]",
        &format!("files = [3, {}]", FILES_PER_BACKUP_MAX + 1),
        6,
        "workload.files[1]",
        "must be at most 100000",
    );
    let backups = vec!["1"; BACKUPS_MAX as usize + 1].join(", ");
    refused(BACKUPS, "files = [3, 4]", &format!("files = [{backups}]"), 6, "workload.files", "must be at most 10000");
    refused(
        BACKUPS,
        "file_bytes_step = 8",
        "file_bytes_step = 1000000000000",
        7,
        "workload.file_bytes_step",
        "must be at most 67108864",
    );
    // Each size within its bound, but the largest file is not.
    refused(
        BACKUPS,
        "file_bytes_step = 8",
        "file_bytes_step = 67108864",
        6,
        "workload.files[0]",
        "the largest file of this backup",
    );
    // Every file within bounds, but all of them together are not.
    refused(BACKUPS, "files = [3, 4]", "files = [100000]", 6, "workload.files", "would store about");
}

#[test]
fn mutable_file_sizes_past_the_bound_are_refused() {
    refused(
        PUTS,
        "puts = 30",
        &format!("puts = {}", MUTABLE_WRITES_MAX + 1),
        6,
        "workload.puts",
        "must be at most 100000",
    );
    refused(
        PUTS,
        "line_bytes = 100",
        "line_bytes = 1000000000000",
        7,
        "workload.line_bytes",
        "must be at most 67108864",
    );
    refused(PUTS, "line_bytes = 100", "line_bytes = 10000000", 7, "workload.line_bytes", "the last put writes a file");
    // 64 MiB files are fine for one gateway, not for a thousand.
    let big = PUTS.replace("puts = 30", "puts = 64").replace("line_bytes = 100", "line_bytes = 1000000");
    ok(&big);
    refused(&big, "gateways = 1", "gateways = 1000", 7, "workload.line_bytes", "would store about");
}

#[test]
fn seeds_past_the_bound_are_refused() {
    // Aborted out of memory (seeds = 10^12 in a file).
    refused(S3, "seeds = 10", "seeds = 1000000000000", 2, "seeds", &format!("must be at most {SEEDS_MAX}"));
    // A million seeds of 100 operations is 10^8 records: allowed; of 101, not.
    ok(&S3.replace("seeds = 10", &format!("seeds = {SEEDS_MAX}")));
    refused(
        &S3.replace("seeds = 10", &format!("seeds = {SEEDS_MAX}")),
        "operations = 100",
        "operations = 101",
        2,
        "seeds",
        &format!("seeds × operations per run must be at most {OPERATION_RECORDS_MAX}"),
    );
}

/// Issue 9: `good_mean_s = bad_mean_s = 1e-320` looped forever in the
/// chain's advance; anything below the clock's 1 ms resolution is refused.
#[test]
fn burst_means_below_a_millisecond_are_refused() {
    let burst = S3.replace(
        "[workload]",
        "[faults]\nkind = \"gilbert-elliott\"\ngood_mean_s = 1.0\nbad_mean_s = 1.0\ngood_failure = 0.0\nbad_failure = 0.5\n\n[workload]",
    );
    ok(&burst);
    ok(&burst.replace("good_mean_s = 1.0", "good_mean_s = 0.001"));
    refused(&burst, "good_mean_s = 1.0", "good_mean_s = 1e-320", 10, "faults.good_mean_s", "must be at least 0.001 s");
    refused(&burst, "bad_mean_s = 1.0", "bad_mean_s = 1e-9", 11, "faults.bad_mean_s", "must be at least 0.001 s");
}

/// An outage that starts when every run has already been stopped cannot be meant.
#[test]
fn an_outage_after_the_time_limit_is_refused() {
    let outage = S3.replace(
        "[workload]",
        "[faults]\nkind = \"none\"\n\n[[faults.outages]]\nstart_s = 999.9\nend_s = 2000\n\n[workload]",
    );
    ok(&outage);
    refused(
        &outage,
        "start_s = 999.9",
        "start_s = 1000",
        12,
        "faults.outages[0].start_s",
        "at or after limits.simulated_time_s_max (1000 s)",
    );
}

#[test]
fn limits_and_timeouts_past_the_bound_are_refused() {
    refused(
        S3,
        "events_max = 100000",
        &format!("events_max = {}", EVENTS_MAX_CEILING + 1),
        6,
        "limits.events_max",
        "must be at most 1000000000",
    );
    let timeout = S3.replace("[workload]", "[s3]\nrequest_timeout_ms = 1000\n\n[workload]");
    refused(
        &timeout,
        "request_timeout_ms = 1000",
        "request_timeout_ms = 9223372036854775807",
        9,
        "s3.request_timeout_ms",
        "must be at most 1000000000000",
    );
    refused(
        PUTS,
        "gateways = 1",
        &format!("servers = {}", SERVERS_MAX + 1),
        10,
        "lafs.servers",
        "must be at most 10000",
    );
    refused(PUTS, "gateways = 1", "rpc_timeout_ms = 9223372036854775807", 10, "lafs.rpc_timeout_ms", "must be at most");
}

#[test]
fn stored_bytes_of_the_fixtures_are_small() {
    let scenario = ok(PUTS);
    let bytes = stored_bytes(&scenario.workload, scenario.lafs.as_ref());
    // 30 lines of 100 bytes, 10 shares of a third of it each.
    assert_eq!(bytes, 30 * 100 * 10 / 3);
    assert!(bytes < u128::from(STORED_BYTES_MAX));
}
