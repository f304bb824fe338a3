//! Every kind of mistake in a scenario file is reported on one line with
//! the right file, line, column and field path.

use std::path::Path;

use retrylab_scenario::{parse, ErrorKind, ScenarioError};

const FULL: &str = include_str!("../data/full.toml");
const LAFS: &str = include_str!("../data/lafs.toml");
const POLICIES: &str = include_str!("../data/policies.toml");
const FILE: &str = "sim-scenarios/x.toml";

/// `fixture` with the first `from` replaced by `to`, which must fail.
fn error_in(fixture: &str, from: &str, to: &str) -> ScenarioError {
    assert!(fixture.contains(from), "the fixture lacks {from:?}");
    let source = fixture.replacen(from, to, 1);
    match parse(&source, Path::new(FILE)) {
        Ok(_) => panic!("{from:?} -> {to:?} was accepted"),
        Err(err) => err,
    }
}

/// FULL with the first `from` replaced by `to`, which must fail.
fn error_after(from: &str, to: &str) -> ScenarioError {
    error_in(FULL, from, to)
}

struct Case {
    from: &'static str,
    to: &'static str,
    kind: ErrorKind,
    line: usize,
    field: &'static str,
    /// The whole `Display`, without the leading `FILE:`.
    rendered: &'static str,
}

const fn case(
    from: &'static str,
    to: &'static str,
    kind: ErrorKind,
    line: usize,
    field: &'static str,
    rendered: &'static str,
) -> Case {
    Case { from, to, kind, line, field, rendered }
}

use ErrorKind::{Invalid, MissingField, Syntax, Type, UnknownField};

#[rustfmt::skip]
const CASES: &[Case] = &[
    // A gateway layer needs a grid.
    case("retries = 1", "retries = 1\ngateway = { kind = \"none\" }", Invalid, 63, "policies[1].gateway",
        "63:1: policies[1].gateway: only allowed with a workload on a Tahoe-LAFS grid (an s3-requests workload has no gateway)"),
    case("keys = 16", "keys = 16\nclients = 0", Invalid, 54, "workload.clients",
        "54:11: workload.clients: must be at least 1, got 0"),
    // TOML syntax.
    case("bad_failure = 0.6", "bad_failure = 0.6.", Syntax, 30, "faults.bad_failure",
        "30:18: faults.bad_failure: expected newline, `#`"),
    case("delays_ms = [0, 2000, 10000]", "delays_ms = [0,\n  2000x, 10000]", Syntax, 68, "policies[2].delays_ms",
        "68:7: policies[2].delays_ms: invalid array; expected `]`"),
    case("median_ms = 20, sigma", "median_ms = 20 sigma", Syntax, 20, "s3.latency_ms",
        "20:57: s3.latency_ms: invalid inline table; expected `}`"),
    case("[faults.mix]", "[faults]", Syntax, 33, "faults",
        "33:1: faults: invalid table header; duplicate key `faults` in document root"),
    // Unknown fields.
    case("operations = 10000", "operatoins = 10000", UnknownField, 50, "workload.operatoins",
        "50:1: workload.operatoins: unknown field `operatoins`, expected one of `kind`, `operations`, `operation`, `mix`, `object_bytes`, `keys`, `clients`, `arrivals`, `think_time_ms`, `deadline_ms`, `concurrency_max`, `zipf_exponent`, `prefixes`, `puts`, `line_bytes`, `appends`, `reads_per_write`, `writers_per_file`, `files`, `file_bytes_step`"),
    case("seeds = 200", "seed = 200", UnknownField, 5, "seed",
        "5:1: seed: unknown field `seed`, expected one of `name`, `description`, `seeds`, `limits`, `network`, `s3`, `faults`, `workload`, `lafs`, `policies`"),
    case("mean_ms = 950 }", "mean_ms = 950, mean = 1 }", UnknownField, 21, "s3.latency_ms.components[1].mean",
        "21:59: s3.latency_ms.components[1].mean: unknown field `mean`, expected one of `weight`, `kind`, `ms`, `low_ms`, `high_ms`, `mean_ms`, `std_dev_ms`, `median_ms`, `sigma`"),
    case("end_s = 301", "end_s = 301\nend_ms = 1", UnknownField, 46, "faults.outages[1].end_ms",
        "46:1: faults.outages[1].end_ms: unknown field `end_ms`, expected one of `start_s`, `end_s`, `kind`"),
    // Wrong types and names.
    case("operations = 10000", "operations = \"10000\"", Type, 50, "workload.operations",
        "50:14: workload.operations: invalid type: string \"10000\", expected u64"),
    case("retries = 1", "retries = -1", Type, 62, "policies[1].retries",
        "62:11: policies[1].retries: invalid value: integer `-1`, expected u32"),
    case("base_ms = 100", "base_ms = 100.5", Type, 72, "policies[3].base_ms",
        "72:11: policies[3].base_ms: invalid type: floating point `100.5`, expected u64"),
    case("jitter = \"decorrelated\"", "jitter = \"fuzzy\"", Type, 75, "policies[3].jitter",
        "75:10: policies[3].jitter: unknown variant `fuzzy`, expected one of `none`, `full`, `equal`, `decorrelated`"),
    case("kind = \"slow_down\"", "kind = 503", Type, 46, "faults.outages[1].kind",
        "46:8: faults.outages[1].kind: invalid type: integer `503`, expected one of `internal_error`, `slow_down`, `connection_reset`, `timeout`"),
    case("error_latency_ms = { kind = \"normal\", mean_ms = 40, std_dev_ms = 10 }", "error_latency_ms = 40", Type, 23,
        "s3.error_latency_ms",
        "23:20: s3.error_latency_ms: invalid type: integer `40`, expected a latency table such as { kind = \"constant\", ms = 20 }"),
    case("delays_ms = [0, 2000, 10000]", "delays_ms = [0, 2000, -1]", Type, 67, "policies[2].delays_ms[2]",
        "67:23: policies[2].delays_ms[2]: invalid value: integer `-1`, expected u64"),
    // Missing fields.
    case("kind = \"s3-requests\"\n", "", MissingField, 48, "workload.kind",
        "48:1: workload.kind: missing field `kind`"),
    case("name = \"expo\"\n", "", MissingField, 69, "policies[3].name",
        "69:1: policies[3].name: missing field `name`"),
    case("{ weight = 0.01, kind", "{ kind", MissingField, 21, "s3.latency_ms.components[1].weight",
        "21:5: s3.latency_ms.components[1].weight: missing field `weight`"),
    case("name = \"s3-10k-requests\"\n", "", MissingField, 1, "name", "1:1: name: missing field `name`"),
    case("retries = 1\n", "", MissingField, 59, "policies[1].retries",
        "59:1: policies[1].retries: required for an \"immediate\" policy (it takes retries)"),
    case("eventual_window_ms = 2000\n", "", MissingField, 15, "s3.eventual_window_ms",
        "15:1: s3.eventual_window_ms: required with consistency = \"eventual\""),
    case("good_mean_s = 2000.0\n", "", MissingField, 25, "faults.good_mean_s",
        "25:1: faults.good_mean_s: required for \"gilbert-elliott\" faults (it takes good_mean_s, bad_mean_s, good_failure, bad_failure)"),
    case(", mean_ms = 950 }", " }", MissingField, 21, "s3.latency_ms.components[1].mean_ms",
        "21:5: s3.latency_ms.components[1].mean_ms: required for an \"exponential\" latency (it takes mean_ms)"),
    // Fields that do not belong to the kind.
    case("kind = \"normal\", mean_ms = 40, std_dev_ms = 10", "kind = \"constant\", ms = 1, high_ms = 10", Invalid, 23,
        "s3.error_latency_ms.high_ms",
        "23:49: s3.error_latency_ms.high_ms: not a field of a \"constant\" latency (it takes ms)"),
    case("kind = \"gilbert-elliott\"", "kind = \"independent\"", Invalid, 27, "faults.good_mean_s",
        "27:1: faults.good_mean_s: not a field of \"independent\" faults (it takes failure_probability)"),
    case("retries = 1", "retries = 1\ndelays_ms = [1]", Invalid, 63, "policies[1].delays_ms",
        "63:1: policies[1].delays_ms: not a field of an \"immediate\" policy (it takes retries)"),
    case("consistency = \"eventual\"", "consistency = \"strong\"", Invalid, 17, "s3.eventual_window_ms",
        "17:1: s3.eventual_window_ms: only allowed with consistency = \"eventual\""),
    case("kind = \"exponential\", mean_ms = 950", "kind = \"mixture\", mean_ms = 950", Invalid, 21,
        "s3.latency_ms.components[1].kind",
        "21:29: s3.latency_ms.components[1].kind: a mixture component cannot itself be a mixture"),
    // Values out of range.
    case("bad_failure = 0.6", "bad_failure = 1.5", Invalid, 30, "faults.bad_failure",
        "30:15: faults.bad_failure: must be a probability in [0, 1], got 1.5"),
    case("ambiguous_fraction = 0.25", "ambiguous_fraction = -0.25", Invalid, 31, "faults.ambiguous_fraction",
        "31:22: faults.ambiguous_fraction: must be a probability in [0, 1], got -0.25"),
    case("loss_probability = 0.001", "loss_probability = nan", Invalid, 13, "network.loss_probability",
        "13:20: network.loss_probability: must be a probability in [0, 1], got NaN"),
    case("good_mean_s = 2000.0", "good_mean_s = -1", Invalid, 27, "faults.good_mean_s",
        "27:15: faults.good_mean_s: must be a finite number of seconds > 0, got -1"),
    case("high_ms = 3.5", "high_ms = 0.5", Invalid, 12, "network.latency_ms.high_ms",
        "12:56: network.latency_ms.high_ms: must be >= low_ms (1), got 0.5"),
    case("mean_ms = 40", "mean_ms = -40", Invalid, 23, "s3.error_latency_ms.mean_ms",
        "23:49: s3.error_latency_ms.mean_ms: must be a finite number >= 0, got -40"),
    case("sigma = 0.5", "sigma = inf", Invalid, 20, "s3.latency_ms.components[0].sigma",
        "20:66: s3.latency_ms.components[0].sigma: must be a finite number >= 0, got inf"),
    case("weight = 0.01", "weight = -0.01", Invalid, 21, "s3.latency_ms.components[1].weight",
        "21:16: s3.latency_ms.components[1].weight: must be a finite number >= 0, got -0.01"),
    case("{ weight = 0.99, kind = \"lognormal\", median_ms = 20, sigma = 0.5 },\n    { weight = 0.01, kind = \"exponential\", mean_ms = 950 },\n",
        "", Invalid, 19, "s3.latency_ms.components",
        "19:47: s3.latency_ms.components: a mixture needs at least one component"),
    case("end_s = 160.0", "end_s = 90", Invalid, 41, "faults.outages[0].end_s",
        "41:9: faults.outages[0].end_s: an outage must end after it starts (start_s 100), got 90"),
    case("end_s = 301", "end_s = 300.5002", Invalid, 45, "faults.outages[1].end_s",
        "45:9: faults.outages[1].end_s: an outage must last at least 1 ms once rounded to whole milliseconds (start_s 300.5, end_s 300.5002)"),
    case("start_s = 100.0", "start_s = -inf", Invalid, 40, "faults.outages[0].start_s",
        "40:11: faults.outages[0].start_s: must be a finite number of seconds >= 0, got -inf"),
    case("connection_reset = 0.02", "connection_reset = -0.02", Invalid, 36, "faults.mix.connection_reset",
        "36:20: faults.mix.connection_reset: a fault mix weight must be >= 0, got -0.02"),
    case("internal_error = 0.98\nslow_down = 0.0\nconnection_reset = 0.02\ntimeout = 0.0\n", "", Invalid, 33, "faults.mix",
        "33:1: faults.mix: at least one fault kind needs a weight > 0"),
    case("operations = 10000", "operations = 0", Invalid, 50, "workload.operations",
        "50:14: workload.operations: must be at least 1, got 0"),
    case("keys = 16", "keys = 0", Invalid, 53, "workload.keys", "53:8: workload.keys: must be at least 1, got 0"),
    case("seeds = 200", "seeds = 0", Invalid, 5, "seeds", "5:9: seeds: must be at least 1, got 0"),
    case("events_max = 2000000", "events_max = 0", Invalid, 9, "limits.events_max",
        "9:14: limits.events_max: must be at least 1, got 0"),
    case("simulated_time_s_max = 200000", "simulated_time_s_max = 1e300", Invalid, 8, "limits.simulated_time_s_max",
        "8:24: limits.simulated_time_s_max: is too large, got 1e300"),
    case("simulated_time_s_max = 200000", "simulated_time_s_max = 1e-10", Invalid, 8, "limits.simulated_time_s_max",
        "8:24: limits.simulated_time_s_max: must be at least 1 ns, got 1e-10 s"),
    case("request_timeout_ms = 15000", "request_timeout_ms = 0", Invalid, 18, "s3.request_timeout_ms",
        "18:22: s3.request_timeout_ms: must be > 0 ms, got 0"),
    case("name = \"s3-10k-requests\"", "name = \"  \"", Invalid, 2, "name", "2:8: name: must not be blank"),
    case("name = \"expo\"", "name = \"retry-once\"", Invalid, 70, "policies[3].name",
        "70:8: policies[3].name: duplicate policy name \"retry-once\" (also the name of policies[1])"),
    case("cap_ms = 20000", "cap_ms = 20", Invalid, 73, "policies[3].cap_ms",
        "73:10: policies[3].cap_ms: must be >= base_ms (100 ms), got 20 ms"),
    case("attempts_max = 5", "attempts_max = 0", Invalid, 74, "policies[3].attempts_max",
        "74:16: policies[3].attempts_max: must be at least 1 (the first try counts)"),
    case("base_ms = 100", "base_ms = 0", Invalid, 72, "policies[3].base_ms", "72:11: policies[3].base_ms: must be > 0"),
];

/// Mistakes in `data/lafs.toml`: the new workload kinds, `[lafs]` and `[lafs.design]`.
#[rustfmt::skip]
const LAFS_CASES: &[Case] = &[
    // Many gateways and a gateway retry layer.
    case("servers = 5", "servers = 5\ngateways = 0", Invalid, 24, "lafs.gateways",
        "24:12: lafs.gateways: must be in 1..=10000, got 0"),
    case("servers = 5", "servers = 5\ngateways = 10001", Invalid, 24, "lafs.gateways",
        "24:12: lafs.gateways: must be in 1..=10000, got 10001"),
    case("servers = 5", "servers = 5\ngateway_budgets = \"all\"", Type, 24, "lafs.gateway_budgets",
        "24:19: lafs.gateway_budgets: unknown variant `all`, expected `per-gateway` or `shared`"),
    case("delays_ms = [0, 2000, 10000]", "delays_ms = [0, 2000, 10000]\ngateway = { kind = \"hedged\", delay_ms = 100 }",
        Invalid, 38, "policies[0].gateway.kind",
        "38:20: policies[0].gateway.kind: a gateway does not hedge: hedging sends a request twice at once, and a whole put or backup sent twice is two writes racing each other (hedge S3 requests instead)"),
    case("delays_ms = [0, 2000, 10000]", "delays_ms = [0, 2000, 10000]\ngateway = { kind = \"deadline\", deadline_ms = 1000, inner = { kind = \"hedged\", delay_ms = 100 } }",
        Invalid, 38, "policies[0].gateway.kind",
        "38:20: policies[0].gateway.kind: a gateway does not hedge: hedging sends a request twice at once, and a whole put or backup sent twice is two writes racing each other (hedge S3 requests instead)"),
    case("delays_ms = [0, 2000, 10000]", "delays_ms = [0, 2000, 10000]\ngateway = { kind = \"exponential\", base_ms = 100 }",
        MissingField, 38, "policies[0].gateway.cap_ms",
        "38:11: policies[0].gateway.cap_ms: required for an \"exponential\" policy (it takes base_ms, cap_ms, attempts_max, jitter)"),
    // Unknown fields and wrong types.
    case("servers = 5", "server = 5", UnknownField, 23, "lafs.server",
        "23:1: lafs.server: unknown field `server`, expected one of `shares_needed`, `shares_total`, `servers_of_happiness`, `servers`, `rpc_timeout_ms`, `gateways`, `gateway_budgets`, `design`, `server_concurrency_max`, `server_queue_max`, `server_queue_timeout_ms`"),
    case("per_index_lock = false", "per_index_locks = false", UnknownField, 29, "lafs.design.per_index_locks",
        "29:1: lafs.design.per_index_locks: unknown field `per_index_locks`, expected one of `share_layout`, `chunk_bytes`, `per_index_lock`, `listing`, `write_check`, `read_check`, `modify_retry`"),
    case("puts = 10000", "put = 10000", UnknownField, 16, "workload.put",
        "16:1: workload.put: unknown field `put`, expected one of `kind`, `operations`, `operation`, `mix`, `object_bytes`, `keys`, `clients`, `arrivals`, `think_time_ms`, `deadline_ms`, `concurrency_max`, `zipf_exponent`, `prefixes`, `puts`, `line_bytes`, `appends`, `reads_per_write`, `writers_per_file`, `files`, `file_bytes_step`"),
    case("kind = \"mutable-puts\"", "kind = \"mutable-put\"", Type, 15, "workload.kind",
        "15:8: workload.kind: unknown variant `mutable-put`, expected one of `s3-requests`, `mutable-puts`, `mutable-appends`, `backups`"),
    case("listing = \"whole-bucket-first-page\"", "listing = \"whole-bucket\"", Type, 30, "lafs.design.listing",
        "30:11: lafs.design.listing: unknown variant `whole-bucket`, expected `prefixed` or `whole-bucket-first-page`"),
    case("share_layout = \"chunked\"", "share_layout = 2", Type, 27, "lafs.design.share_layout",
        "27:16: lafs.design.share_layout: invalid type: integer `2`, expected one of `whole`, `chunked`"),
    case("write_check = \"blind\"", "write_check = \"if_match\"", Type, 31, "lafs.design.write_check",
        "31:15: lafs.design.write_check: unknown variant `if_match`, expected `if-match` or `blind`"),
    case("modify_retry = \"replay\"", "modify_retry = \"retry\"", Type, 32, "lafs.design.modify_retry",
        "32:16: lafs.design.modify_retry: unknown variant `retry`, expected `reconcile` or `replay`"),
    case("per_index_lock = false", "per_index_lock = \"no\"", Type, 29, "lafs.design.per_index_lock",
        "29:18: lafs.design.per_index_lock: invalid type: string \"no\", expected a boolean"),
    case("shares_needed = 2", "shares_needed = -2", Type, 20, "lafs.shares_needed",
        "20:17: lafs.shares_needed: invalid value: integer `-2`, expected u64"),
    case("rpc_timeout_ms = 60000", "rpc_timeout_ms = 60.5", Type, 24, "lafs.rpc_timeout_ms",
        "24:18: lafs.rpc_timeout_ms: invalid type: floating point `60.5`, expected u64"),
    case("[lafs.design]\nshare_layout = \"chunked\"\nchunk_bytes = 65536\nper_index_lock = false\nlisting = \"whole-bucket-first-page\"\nwrite_check = \"blind\"\nmodify_retry = \"replay\"\n",
        "design = \"safe\"\n", Type, 26, "lafs.design",
        "26:10: lafs.design: invalid type: string \"safe\", expected a [lafs.design] table"),
    // Fields of another workload kind.
    case("kind = \"mutable-puts\"\nputs = 10000", "kind = \"mutable-appends\"\nappends = 3", Invalid, 17, "workload.line_bytes",
        "17:1: workload.line_bytes: not a field of a \"mutable-appends\" workload (it takes appends, reads_per_write, writers_per_file)"),
    case("kind = \"mutable-puts\"", "kind = \"backups\"\nfiles = [1]", Invalid, 17, "workload.puts",
        "17:1: workload.puts: not a field of a \"backups\" workload (it takes files, file_bytes_step)"),
    case("line_bytes = 4096", "line_bytes = 4096\noperations = 5", Invalid, 18, "workload.operations",
        "18:1: workload.operations: not a field of a \"mutable-puts\" workload (it takes puts, line_bytes, reads_per_write)"),
    case("line_bytes = 4096", "file_bytes_step = 8", Invalid, 17, "workload.file_bytes_step",
        "17:1: workload.file_bytes_step: not a field of a \"mutable-puts\" workload (it takes puts, line_bytes, reads_per_write)"),
    case("kind = \"mutable-puts\"\nputs = 10000\nline_bytes = 4096",
        "kind = \"s3-requests\"\noperations = 1\noperation = \"put\"\nappends = 1", Invalid, 18, "workload.appends",
        "18:1: workload.appends: not a field of an \"s3-requests\" workload (it takes operations, operation, mix, object_bytes, keys, clients, arrivals, think_time_ms, deadline_ms, concurrency_max, zipf_exponent, prefixes)"),
    // Missing and misplaced fields and tables.
    case("puts = 10000\n", "", MissingField, 14, "workload.puts",
        "14:1: workload.puts: required for a \"mutable-puts\" workload (it takes puts, line_bytes, reads_per_write)"),
    case("kind = \"mutable-puts\"\nputs = 10000\nline_bytes = 4096", "kind = \"mutable-appends\"", MissingField, 14,
        "workload.appends",
        "14:1: workload.appends: required for a \"mutable-appends\" workload (it takes appends, reads_per_write, writers_per_file)"),
    case("kind = \"mutable-puts\"\nputs = 10000\nline_bytes = 4096", "kind = \"backups\"\nfile_bytes_step = 1",
        MissingField, 14, "workload.files",
        "14:1: workload.files: required for a \"backups\" workload (it takes files, file_bytes_step)"),
    case("[lafs]\nshares_needed = 2\nshares_total = 4\nservers_of_happiness = 3\nservers = 5\nrpc_timeout_ms = 60000\n\n[lafs.design]\nshare_layout = \"chunked\"\nchunk_bytes = 65536\nper_index_lock = false\nlisting = \"whole-bucket-first-page\"\nwrite_check = \"blind\"\nmodify_retry = \"replay\"\n",
        "", MissingField, 1, "lafs",
        "1:1: lafs: required for a \"mutable-puts\" workload (it runs on a Tahoe-LAFS grid)"),
    case("kind = \"mutable-puts\"\nputs = 10000\nline_bytes = 4096", "kind = \"s3-requests\"\noperations = 1\noperation = \"put\"",
        Invalid, 19, "lafs",
        "19:2: lafs: not allowed with an \"s3-requests\" workload (it talks to S3 directly; [lafs] is for the workload kinds \"mutable-puts\", \"mutable-appends\" or \"backups\")"),
    case("share_layout = \"chunked\"", "share_layout = \"whole\"", Invalid, 28, "lafs.design.chunk_bytes",
        "28:1: lafs.design.chunk_bytes: only allowed with share_layout = \"chunked\""),
    case("share_layout = \"chunked\"\n", "", Invalid, 27, "lafs.design.chunk_bytes",
        "27:1: lafs.design.chunk_bytes: only allowed with share_layout = \"chunked\" (share_layout is \"whole\" by default)"),
    // Values out of range.
    case("puts = 10000", "puts = 0", Invalid, 16, "workload.puts", "16:8: workload.puts: must be at least 1, got 0"),
    case("kind = \"mutable-puts\"\nputs = 10000\nline_bytes = 4096", "kind = \"mutable-appends\"\nappends = 0", Invalid, 16,
        "workload.appends", "16:11: workload.appends: must be at least 1, got 0"),
    case("kind = \"mutable-puts\"\nputs = 10000\nline_bytes = 4096", "kind = \"backups\"\nfiles = []", Invalid, 16,
        "workload.files", "16:9: workload.files: at least one backup is required"),
    case("kind = \"mutable-puts\"\nputs = 10000\nline_bytes = 4096", "kind = \"backups\"\nfiles = [101, 0, 301]", Invalid, 16,
        "workload.files[1]", "16:15: workload.files[1]: must be at least 1, got 0"),
    case("kind = \"mutable-puts\"\nputs = 10000\nline_bytes = 4096", "kind = \"backups\"\nfiles = [101, -1]", Type, 16,
        "workload.files[1]", "16:15: workload.files[1]: invalid value: integer `-1`, expected u64"),
    case("shares_needed = 2", "shares_needed = 0", Invalid, 20, "lafs.shares_needed",
        "20:17: lafs.shares_needed: must be in 1..=255, got 0"),
    case("shares_needed = 2", "shares_needed = 256", Invalid, 20, "lafs.shares_needed",
        "20:17: lafs.shares_needed: must be in 1..=255, got 256"),
    case("shares_total = 4", "shares_total = 1", Invalid, 21, "lafs.shares_total",
        "21:16: lafs.shares_total: must be >= shares_needed (2), got 1"),
    case("shares_total = 4", "shares_total = 256", Invalid, 21, "lafs.shares_total",
        "21:16: lafs.shares_total: must be at most 255, got 256"),
    case("shares_needed = 2\nshares_total = 4\n", "shares_needed = 12\n", Invalid, 19, "lafs.shares_total",
        "19:1: lafs.shares_total: must be >= shares_needed (12), got the default 10"),
    case("servers_of_happiness = 3", "servers_of_happiness = 0", Invalid, 22, "lafs.servers_of_happiness",
        "22:24: lafs.servers_of_happiness: must be at least 1, got 0"),
    case("servers_of_happiness = 3", "servers_of_happiness = 5", Invalid, 22, "lafs.servers_of_happiness",
        "22:24: lafs.servers_of_happiness: must be at most shares_total (4), got 5"),
    case("servers_of_happiness = 3\n", "", Invalid, 19, "lafs.servers_of_happiness",
        "19:1: lafs.servers_of_happiness: must be at most shares_total (4), got the default 7"),
    case("servers = 5", "servers = 2", Invalid, 22, "lafs.servers_of_happiness",
        "22:24: lafs.servers_of_happiness: must be at most servers (2), got 3"),
    case("shares_total = 4\nservers_of_happiness = 3\nservers = 5\n", "shares_total = 12\nservers_of_happiness = 11\n",
        Invalid, 22, "lafs.servers_of_happiness",
        "22:24: lafs.servers_of_happiness: must be at most servers (the default 10), got 11"),
    case("servers = 5", "servers = 0", Invalid, 23, "lafs.servers", "23:11: lafs.servers: must be at least 1, got 0"),
    case("servers = 5", "servers = 10001", Invalid, 23, "lafs.servers",
        "23:11: lafs.servers: must be at most 10000, got 10001"),
    case("rpc_timeout_ms = 60000", "rpc_timeout_ms = 0", Invalid, 24, "lafs.rpc_timeout_ms",
        "24:18: lafs.rpc_timeout_ms: must be > 0 ms, got 0"),
    case("chunk_bytes = 65536", "chunk_bytes = 0", Invalid, 28, "lafs.design.chunk_bytes",
        "28:15: lafs.design.chunk_bytes: must be > 0 bytes, got 0"),
    // A storage server's capacity.
    case("servers = 5", "servers = 5\nserver_concurrency_max = 0", Invalid, 24, "lafs.server_concurrency_max",
        "24:26: lafs.server_concurrency_max: must be at least 1, got 0"),
    case("servers = 5", "servers = 5\nserver_concurrency_max = 1000001", Invalid, 24, "lafs.server_concurrency_max",
        "24:26: lafs.server_concurrency_max: must be at most 1000000, got 1000001"),
    case("servers = 5", "servers = 5\nserver_queue_max = 4", Invalid, 24, "lafs.server_queue_max",
        "24:1: lafs.server_queue_max: needs lafs.server_concurrency_max (a queue forms only behind a concurrency limit)"),
    case("servers = 5", "servers = 5\nserver_queue_timeout_ms = 100", Invalid, 24, "lafs.server_queue_timeout_ms",
        "24:1: lafs.server_queue_timeout_ms: needs lafs.server_concurrency_max (a queue forms only behind a concurrency limit)"),
    case("servers = 5", "servers = 5\nserver_concurrency_max = 2\nserver_queue_max = 1000001", Invalid, 25, "lafs.server_queue_max",
        "25:20: lafs.server_queue_max: must be at most 1000000, got 1000001"),
    case("servers = 5", "servers = 5\nserver_concurrency_max = 2\nserver_queue_timeout_ms = 0", Invalid, 25, "lafs.server_queue_timeout_ms",
        "25:27: lafs.server_queue_timeout_ms: must be > 0 ms, got 0 (server_queue_max = 0 refuses any wait)"),
];

/// Mistakes in `data/policies.toml`: every policy kind, wrappers and their `inner` policies.
#[rustfmt::skip]
const POLICY_CASES: &[Case] = &[
    // Fields that do not belong to the kind, at any depth.
    case("kind = \"object-store\"", "kind = \"object-store\"\nretry_cost = 3", Invalid, 33, "policies[5].retry_cost",
        "33:1: policies[5].retry_cost: not a field of an \"object-store\" policy (it takes init_backoff_ms, max_backoff_ms, base, max_retries, retry_timeout_ms)"),
    case("name = \"none\"\nkind = \"none\"", "name = \"none\"\nkind = \"none\"\ninner = { kind = \"none\" }", Invalid, 13, "policies[0].inner",
        "13:1: policies[0].inner: not a field of a \"none\" policy (it takes no parameters)"),
    case("return_first_error = false", "return_first_error = false\nbase_ms = 3", Invalid, 58, "policies[10].base_ms",
        "58:1: policies[10].base_ms: not a field of a \"tahoe-cloud\" policy (it takes delays_ms, return_first_error)"),
    case("kind = \"aws-standard\"\n", "kind = \"aws-standard\"\nretries = 1\n", Invalid, 21, "policies[2].retries",
        "21:1: policies[2].retries: not a field of an \"aws-standard\" policy (it takes attempts_max, initial_backoff_ms, non_throttling_initial_backoff_ms, max_backoff_ms, quota_capacity, retry_cost, timeout_retry_cost, throttling_retry_cost, first_try_reward)"),
    case("inner = { kind = \"aws-standard\", attempts_max = 4 }", "inner = { kind = \"aws-standard\", base_ms = 4 }", Invalid, 104, "policies[16].inner.base_ms",
        "104:34: policies[16].inner.base_ms: not a field of an \"aws-standard\" policy (it takes attempts_max, initial_backoff_ms, non_throttling_initial_backoff_ms, max_backoff_ms, quota_capacity, retry_cost, timeout_retry_cost, throttling_retry_cost, first_try_reward)"),
    case("inner = { kind = \"immediate\", retries = 2 }", "inner = { kind = \"immediate\", retries = 2, delays_ms = [] }", Invalid, 124, "policies[18].inner.inner.inner.delays_ms",
        "124:44: policies[18].inner.inner.inner.delays_ms: not a field of an \"immediate\" policy (it takes retries)"),
    case("inner = { kind = \"aws-standard-2.1\" }", "inner = { kind = \"aws-standard-2.1\", name = \"x\" }", UnknownField, 110, "policies[17].inner.name",
        "110:38: policies[17].inner.name: unknown field `name`, expected one of `kind`, `retries`, `delays_ms`, `base_ms`, `cap_ms`, `attempts_max`, `jitter`, `initial_backoff_ms`, `non_throttling_initial_backoff_ms`, `max_backoff_ms`, `quota_capacity`, `retry_cost`, `timeout_retry_cost`, `throttling_retry_cost`, `first_try_reward`, `init_backoff_ms`, `base`, `max_retries`, `retry_timeout_ms`, `max_tokens`, `token_ratio`, `ttl_ms`, `min_retries_per_sec`, `percent_can_retry`, `delay_ms`, `quantile`, `return_first_error`, `deadline_ms`, `window_ms`, `minimum_calls`, `failure_rate_threshold`, `open_ms`, `half_open_calls`, `k`, `inner`"),
    // Required fields missing, at any depth.
    case("delay_ms = 1200\n", "delay_ms = 1200\nquantile = 1.5\n", Invalid, 46, "policies[8].quantile",
        "46:12: policies[8].quantile: must be within (0, 1), e.g. 0.95, got 1.5"),
    case("delay_ms = 1200\n", "", MissingField, 42, "policies[8].delay_ms",
        "42:1: policies[8].delay_ms: required for a \"hedged\" policy (it takes delay_ms, quantile, inner)"),
    case("deadline_ms = 5000\n", "", MissingField, 47, "policies[9].deadline_ms",
        "47:1: policies[9].deadline_ms: required for a \"deadline\" policy (it takes deadline_ms, inner)"),
    case("inner = { kind = \"aws-standard\" }\n", "", MissingField, 47, "policies[9].inner",
        "47:1: policies[9].inner: required for a \"deadline\" policy (it takes deadline_ms, inner)"),
    case("inner = { kind = \"immediate\", retries = 2 }", "inner = { kind = \"immediate\" }", MissingField, 124, "policies[18].inner.inner.inner.retries",
        "124:9: policies[18].inner.inner.inner.retries: required for an \"immediate\" policy (it takes retries)"),
    case("delay_ms = 300\n", "", MissingField, 121, "policies[18].inner.inner.delay_ms",
        "121:1: policies[18].inner.inner.delay_ms: required for a \"hedged\" policy (it takes delay_ms, quantile, inner)"),
    case("deadline_ms = 5000\ninner = { kind = \"aws-standard\" }", "deadline_ms = 5000\ninner = { kind = \"deadline\" }", MissingField, 51, "policies[9].inner.deadline_ms",
        "51:9: policies[9].inner.deadline_ms: required for a \"deadline\" policy (it takes deadline_ms, inner)"),
    case("deadline_ms = 5000\ninner = { kind = \"aws-standard\" }", "deadline_ms = 5000\ninner = { kind = \"deadline\", deadline_ms = 1 }", MissingField, 51, "policies[9].inner.inner",
        "51:9: policies[9].inner.inner: required for a \"deadline\" policy (it takes deadline_ms, inner)"),
    case("inner = { kind = \"aws-standard-2.1\" }", "inner = { attempts_max = 2 }", MissingField, 110, "policies[17].inner.kind",
        "110:9: policies[17].inner.kind: missing field `kind`"),
    // Wrong types and names.
    case("kind = \"aws-standard-2.1\"", "kind = \"aws-standard-v2.1\"", Type, 24, "policies[3].kind",
        "24:8: policies[3].kind: unknown variant `aws-standard-v2.1`, expected one of `none`, `immediate`, `schedule`, `exponential`, `aws-standard`, `aws-standard-2.1`, `aws-adaptive`, `object-store`, `grpc-throttled`, `retry-budget`, `hedged`, `tahoe-cloud`, `deadline`, `circuit-breaker`, `client-throttle`"),
    case("inner = { kind = \"aws-standard-2.1\" }", "inner = { kind = \"aws-2.1\" }", Type, 110, "policies[17].inner.kind",
        "110:18: policies[17].inner.kind: unknown variant `aws-2.1`, expected one of `none`, `immediate`, `schedule`, `exponential`, `aws-standard`, `aws-standard-2.1`, `aws-adaptive`, `object-store`, `grpc-throttled`, `retry-budget`, `hedged`, `tahoe-cloud`, `deadline`, `circuit-breaker`, `client-throttle`"),
    case("inner = { kind = \"aws-standard-2.1\" }", "inner = \"aws-standard-2.1\"", Type, 110, "policies[17].inner",
        "110:9: policies[17].inner: invalid type: string \"aws-standard-2.1\", expected an inner policy table such as { kind = \"aws-standard\" }"),
    case("quota_capacity = 50", "quota_capacity = -50", Type, 80, "policies[13].quota_capacity",
        "80:18: policies[13].quota_capacity: invalid value: integer `-50`, expected u32"),
    case("return_first_error = false", "return_first_error = \"no\"", Type, 57, "policies[10].return_first_error",
        "57:22: policies[10].return_first_error: invalid type: string \"no\", expected a boolean"),
    case("delay_ms = 1200", "delay_ms = 1.5", Type, 45, "policies[8].delay_ms",
        "45:12: policies[8].delay_ms: invalid type: floating point `1.5`, expected u64"),
    case("delays_ms = [0, 500]", "delays_ms = [0, -500]", Type, 56, "policies[10].delays_ms[1]",
        "56:17: policies[10].delays_ms[1]: invalid value: integer `-500`, expected u64"),
    // Values the policy refuses (`PolicyConfig::validate`), mapped to the field at its depth.
    case("base_ms = 50", "base_ms = 0", Invalid, 96, "policies[15].inner.base_ms",
        "96:43: policies[15].inner.base_ms: must be > 0"),
    case("cap_ms = 2000", "cap_ms = 20", Invalid, 96, "policies[15].inner.cap_ms",
        "96:56: policies[15].inner.cap_ms: must be >= base_ms (50 ms), got 20 ms"),
    case("percent_can_retry = 0.5", "percent_can_retry = 5000", Invalid, 119, "policies[18].inner.percent_can_retry",
        "119:21: policies[18].inner.percent_can_retry: must be within [0, 1000], got 5000"),
    case("percent_can_retry = 0.5", "percent_can_retry = 5000\nttl_ms = 0", Invalid, 120, "policies[18].inner.ttl_ms",
        "120:10: policies[18].inner.ttl_ms: must be within [1 s, 60 s] (Finagle), got 0 ms"),
    case("ttl_ms = 5000", "ttl_ms = 500", Invalid, 101, "policies[16].ttl_ms",
        "101:10: policies[16].ttl_ms: must be within [1 s, 60 s] (Finagle), got 500 ms"),
    case("token_ratio = 0.5", "token_ratio = 0", Invalid, 95, "policies[15].token_ratio",
        "95:15: policies[15].token_ratio: must be > 0 with at most 3 decimals (gRFC A6), got 0"),
    case("max_tokens = 20", "max_tokens = 0", Invalid, 94, "policies[15].max_tokens",
        "94:14: policies[15].max_tokens: must be > 0 (gRFC A6)"),
    // A circuit breaker's and a client throttle's fields, each bounded.
    case("window_ms = 60000", "window_ms = 0", Invalid, 153, "policies[23].window_ms",
        "153:13: policies[23].window_ms: must be within [1, 1000000000000] ms, got 0 ms"),
    case("minimum_calls = 5", "minimum_calls = 0", Invalid, 140, "policies[21].minimum_calls",
        "140:17: policies[21].minimum_calls: must be within [1, 1000000], got 0"),
    case("failure_rate_threshold = 0.25", "failure_rate_threshold = 1.5", Invalid, 141, "policies[21].failure_rate_threshold",
        "141:26: policies[21].failure_rate_threshold: must be within (0, 1], e.g. 0.5, got 1.5"),
    case("open_ms = 2000", "open_ms = 1000000000001", Invalid, 142, "policies[21].open_ms",
        "142:11: policies[21].open_ms: must be within [1, 1000000000000] ms, got 1000000000001 ms"),
    case("half_open_calls = 3", "half_open_calls = 2000000", Invalid, 143, "policies[21].half_open_calls",
        "143:19: policies[21].half_open_calls: must be within [1, 1000000], got 2000000"),
    case("k = 1.5", "k = 0.5", Invalid, 154, "policies[23].k",
        "154:5: policies[23].k: must be within [1, 1000] (below 1 a healthy backend is throttled), got 0.5"),
    case("k = 1.5", "k = \"two\"", Type, 154, "policies[23].k",
        "154:5: policies[23].k: invalid type: string \"two\", expected f64"),
    case("k = 1.5", "k = 1.5\nminimum_calls = 3", Invalid, 155, "policies[23].minimum_calls",
        "155:1: policies[23].minimum_calls: not a field of a \"client-throttle\" policy (it takes window_ms, k, inner)"),
    case("minimum_calls = 5", "minimum_calls = 5\nk = 3.0", Invalid, 141, "policies[21].k",
        "141:1: policies[21].k: not a field of a \"circuit-breaker\" policy (it takes window_ms, minimum_calls, failure_rate_threshold, open_ms, half_open_calls, inner)"),
    case("deadline_ms = 30000", "deadline_ms = 0", Invalid, 115, "policies[18].deadline_ms",
        "115:15: policies[18].deadline_ms: must be > 0"),
    case("init_backoff_ms = 50", "init_backoff_ms = 0", Invalid, 85, "policies[14].init_backoff_ms",
        "85:19: policies[14].init_backoff_ms: must be > 0"),
    case("init_backoff_ms = 50\nmax_backoff_ms = 5000", "init_backoff_ms = 50000", Invalid, 82, "policies[14].max_backoff_ms",
        "82:1: policies[14].max_backoff_ms: must be >= init_backoff_ms (50000 ms) (not given: the default of an \"object-store\" policy)"),
    case("base = 3.0", "base = 0.5", Invalid, 87, "policies[14].base",
        "87:8: policies[14].base: must be a finite number >= 1, got 0.5"),
    case("max_backoff_ms = 10000", "max_backoff_ms = 0", Invalid, 65, "policies[11].max_backoff_ms",
        "65:18: policies[11].max_backoff_ms: must be > 0"),
    case("attempts_max = 5", "attempts_max = 0", Invalid, 62, "policies[11].attempts_max",
        "62:16: policies[11].attempts_max: must be at least 1 (the first try counts)"),
    case("deadline_ms = 5000\ninner = { kind = \"aws-standard\" }", "deadline_ms = 5000\ninner = { kind = \"deadline\", deadline_ms = 1, inner = { kind = \"aws-adaptive\", attempts_max = 0 } }", Invalid, 51, "policies[9].inner.inner.attempts_max",
        "51:95: policies[9].inner.inner.attempts_max: must be at least 1 (the first try counts)"),
];

/// Runs `cases` against `fixture`, reporting every wrong one at once.
fn check_cases(fixture: &str, cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let err = error_in(fixture, case.from, case.to);
        let rendered = err.to_string();
        let expected = format!("{FILE}:{}", case.rendered);
        let ok = err.kind() == case.kind
            && err.line() == Some(case.line)
            && err.field() == Some(case.field)
            && err.path() == Path::new(FILE)
            && rendered == expected
            && !rendered.contains('\n');
        if !ok {
            failures.push(format!(
                "{:?} -> {:?}\n  got      {:?} line {:?} field {:?}\n  {rendered}\n  expected {:?} line {} field {}\n  {expected}",
                case.from,
                case.to,
                err.kind(),
                err.line(),
                err.field(),
                case.kind,
                case.line,
                case.field
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases wrong:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn each_mistake_has_its_line_field_and_message() {
    check_cases(FULL, CASES);
}

#[test]
fn each_lafs_mistake_has_its_line_field_and_message() {
    check_cases(LAFS, LAFS_CASES);
}

#[test]
fn each_policy_mistake_has_its_line_field_and_message() {
    check_cases(POLICIES, POLICY_CASES);
}

#[test]
fn empty_policy_list_is_rejected() {
    let source = FULL.split("[[policies]]").next().unwrap().replace("seeds = 200", "seeds = 200\npolicies = []");
    let err = parse(&source, Path::new(FILE)).unwrap_err();
    assert_eq!((err.kind(), err.line(), err.field()), (Invalid, Some(6), Some("policies")));
    insta::assert_snapshot!(err, @"sim-scenarios/x.toml:6:12: policies: at least one policy is required");
}

#[test]
fn mixture_weights_must_not_all_be_zero() {
    let source = FULL.replacen("weight = 0.99", "weight = 0", 1).replacen("weight = 0.01", "weight = 0.0", 1);
    let err = parse(&source, Path::new(FILE)).unwrap_err();
    assert_eq!((err.kind(), err.line(), err.field()), (Invalid, Some(19), Some("s3.latency_ms.components")));
    insta::assert_snapshot!(err, @"sim-scenarios/x.toml:19:47: s3.latency_ms.components: mixture weights must not all be zero");
}

#[test]
fn missing_policies_point_at_the_start_of_the_file() {
    let source = FULL.split("[[policies]]").next().unwrap();
    let err = parse(source, Path::new(FILE)).unwrap_err();
    assert_eq!((err.kind(), err.line(), err.field()), (MissingField, Some(1), Some("policies")));
}

#[test]
fn an_implicit_table_is_located_by_its_key() {
    let source = "name = \"x\"\n[faults.mix]\nslow_down = 1\n";
    let err = parse(source, Path::new(FILE)).unwrap_err();
    insta::assert_snapshot!(err, @"sim-scenarios/x.toml:2:2: faults.kind: missing field `kind`");
}

#[test]
fn a_file_that_is_not_toml_at_all() {
    let err = parse("this is not toml", Path::new("notes.txt")).unwrap_err();
    assert_eq!(err.kind(), Syntax);
    assert_eq!(err.line(), Some(1));
    assert_eq!(err.field(), None);
    insta::assert_snapshot!(err, @"notes.txt:1:6: expected `.`, `=`");
}

#[test]
fn syntax_errors_toml_leaves_unexplained_get_a_message() {
    let err = parse("name = \"x\"\n# a \u{7} bell\n", Path::new(FILE)).unwrap_err();
    insta::assert_snapshot!(err, @"sim-scenarios/x.toml:2:5: invalid control character U+0007");
    let err = parse("name = \"x\"\nseeds = ", Path::new(FILE)).unwrap_err();
    insta::assert_snapshot!(err, @"sim-scenarios/x.toml:2:9: seeds: unexpected end of file");
}

#[test]
fn snapshots_of_rendered_errors() {
    insta::assert_snapshot!(
        error_after("bad_failure = 0.6", "bad_failure = 1.5"),
        @"sim-scenarios/x.toml:30:15: faults.bad_failure: must be a probability in [0, 1], got 1.5"
    );
    insta::assert_snapshot!(
        error_after("operations = 10000", "operatoins = 10000"),
        @"sim-scenarios/x.toml:50:1: workload.operatoins: unknown field `operatoins`, expected one of `kind`, `operations`, `operation`, `mix`, `object_bytes`, `keys`, `clients`, `arrivals`, `think_time_ms`, `deadline_ms`, `concurrency_max`, `zipf_exponent`, `prefixes`, `puts`, `line_bytes`, `appends`, `reads_per_write`, `writers_per_file`, `files`, `file_bytes_step`"
    );
    insta::assert_snapshot!(
        error_after("kind = \"uniform\", low_ms = 1", "kind = \"constant\", ms = 1"),
        @r#"sim-scenarios/x.toml:12:43: network.latency_ms.high_ms: not a field of a "constant" latency (it takes ms)"#
    );
    insta::assert_snapshot!(
        error_after("kind = \"lognormal\"", "kind = \"gamma\""),
        @"sim-scenarios/x.toml:20:29: s3.latency_ms.components[0].kind: unknown variant `gamma`, expected one of `constant`, `uniform`, `normal`, `lognormal`, `exponential`, `mixture`, `empirical`"
    );
    insta::assert_snapshot!(
        error_after("kind = \"schedule\"\n", ""),
        @"sim-scenarios/x.toml:64:1: policies[2].kind: missing field `kind`"
    );
    insta::assert_snapshot!(
        error_after("name = \"multi-retry\"", "name = \"none\""),
        @r#"sim-scenarios/x.toml:65:8: policies[2].name: duplicate policy name "none" (also the name of policies[0])"#
    );
}
