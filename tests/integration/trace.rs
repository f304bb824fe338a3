//! Traces a person can read: `retrylab run --trace`, `--trace-json`,
//! `--trace-filter`, `--op`, and the harness's records read back from a
//! full trace. The descriptive detail must never change a trace hash.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use retrylab_harness::{operation_records, run_seed, s3_request_records, EventKind, TraceMode};

use crate::cli::{retrylab, stderr, stdout};
use crate::support::lab_notebook_10k;

fn lab() -> String {
    lab_notebook_10k().to_string_lossy().into_owned()
}

fn shipped(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios").join(path).to_string_lossy().into_owned()
}

/// A two-layer grid: three gateways retrying whole appends over the servers' S3 retries.
fn layered_grid() -> String {
    shipped("grid/appends-3of10.toml")
}

/// The trace lines of a `run --trace` output (the summary follows a blank line).
fn trace_lines(text: &str) -> Vec<&str> {
    text.lines().take_while(|line| !line.is_empty()).collect()
}

/// A line's time, node and `key=value` fields.
fn parse_line(line: &str) -> (f64, String, String, Vec<(String, String)>) {
    let mut words = line.split_whitespace();
    let at: f64 = words.next().unwrap().trim_end_matches('s').parse().unwrap();
    let node = words.next().unwrap().to_owned();
    let event = words.next().unwrap().to_owned();
    let fields = words.map(|w| w.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap()).collect();
    (at, node, event, fields)
}

fn get<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn filters_select_exactly_the_events_they_name() {
    let full = retrylab(&["run", &lab(), "--seed", "7", "--policy", "retry-once", "--trace"]);
    assert!(full.status.success(), "{}", stderr(&full));
    let full_text = stdout(&full);
    let all = trace_lines(&full_text);
    assert_eq!(all.len(), 40_480, "every event of the run");
    // A window of virtual time and a node.
    let args = ["--trace-filter", "node=s3", "--from", "1200s", "--to", "1300000ms"];
    let filtered = retrylab(&[&["run", &lab(), "--seed", "7", "--policy", "retry-once"][..], &args[..]].concat());
    assert!(filtered.status.success(), "{}", stderr(&filtered));
    let filtered_text = stdout(&filtered);
    let expected: Vec<&str> = all
        .iter()
        .copied()
        .filter(|line| {
            let (at, node, _, _) = parse_line(line);
            node == "s3" && (1200.0..=1300.0).contains(&at)
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(trace_lines(&filtered_text), expected);
    // Operations (a range), an event name, and 20m as a time.
    let ops = retrylab(&[
        "run",
        &lab(),
        "--seed",
        "7",
        "--policy",
        "retry-once",
        "--trace-filter",
        "op=10..20,event=retry,event=send",
        "--to",
        "20m",
    ]);
    let ops_text = stdout(&ops);
    let expected: Vec<&str> = all
        .iter()
        .copied()
        .filter(|line| {
            let (at, _, event, fields) = parse_line(line);
            let op: Option<u64> = get(&fields, "op").map(|op| op.parse().unwrap());
            at <= 1200.0 && op.is_some_and(|op| (10..=20).contains(&op)) && (event == "retry" || event == "send")
        })
        .collect();
    // Operation 15 is retried once: 11 first sends and a retry with its send.
    assert_eq!(expected.len(), 13, "{expected:#?}");
    assert_eq!(trace_lines(&ops_text), expected);
}

/// The lab notebook's workload on five keys, 2,000 operations (its own file in the test's directory).
fn lab_on_five_keys() -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("trace");
    std::fs::create_dir_all(&dir).unwrap();
    let source = std::fs::read_to_string(lab_notebook_10k()).unwrap();
    let edited = source.replace("operations = 10000", "operations = 2000").replace("keys = 1", "keys = 5");
    assert_ne!(edited, source);
    let path = dir.join("five-keys.toml");
    std::fs::write(&path, edited).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_key_filter_selects_the_events_of_the_operations_on_that_key() {
    let scenario = lab_on_five_keys();
    let full = retrylab(&["run", &scenario, "--seed", "3", "--policy", "retry-once", "--trace"]);
    assert!(full.status.success(), "{}", stderr(&full));
    let full_text = stdout(&full);
    let all = trace_lines(&full_text);
    // Operation 2's key: operations take the keys in turn.
    let (_, _, _, start) = parse_line(all.iter().find(|line| line.contains("op-start op=2 ")).unwrap());
    let key = get(&start, "key").expect("an operation's first line names its key").to_owned();
    let filter = format!("key={key}");
    let filtered = retrylab(&["run", &scenario, "--seed", "3", "--policy", "retry-once", "--trace-filter", &filter]);
    let filtered_text = stdout(&filtered);
    let ops_on_key: std::collections::BTreeSet<String> = all
        .iter()
        .filter_map(|line| {
            let (_, _, event, fields) = parse_line(line);
            (event == "op-start" && get(&fields, "key") == Some(key.as_str()))
                .then(|| get(&fields, "op").unwrap().to_owned())
        })
        .collect();
    let expected: Vec<&str> = all
        .iter()
        .copied()
        .filter(|line| {
            let (_, _, _, fields) = parse_line(line);
            get(&fields, "key") == Some(key.as_str()) || get(&fields, "op").is_some_and(|op| ops_on_key.contains(op))
        })
        .collect();
    assert_eq!(ops_on_key.len(), 400, "one operation in five");
    assert!(expected.len() > 4 * ops_on_key.len());
    assert_eq!(trace_lines(&filtered_text), expected);
    // A prefix: every key.
    let prefix =
        retrylab(&["run", &scenario, "--seed", "3", "--policy", "retry-once", "--trace-filter", "key=shares/*"]);
    assert_eq!(trace_lines(&stdout(&prefix)), all);
}

#[test]
fn bad_filters_are_usage_errors_that_say_what_is_wrong() {
    for (args, message) in [
        (vec!["--trace-filter", "nod=s3"], "unknown field \"nod\""),
        (vec!["--trace-filter", "op=x"], "op=x: not an operation number"),
        (vec!["--trace-filter", "op=9..2"], "the range is empty"),
        (vec!["--trace-filter", "event=explode"], "no such event"),
        (vec!["--trace-filter", "node"], "is not FIELD=VALUE"),
        (vec!["--from", "20q"], "not a virtual time"),
        (vec!["--from=-5"], "not a virtual time"),
        (vec!["--from", "20m", "--to", "10m"], "the window would be empty"),
    ] {
        let output = retrylab(&[&["run", &lab(), "--seed", "7"][..], &args[..]].concat());
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(message), "{args:?}: {}", stderr(&output));
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    let missing = retrylab(&["run", &lab(), "--seed", "7", "--op", "10000"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no operation 10000 in this run (operations are numbered 0 to 9999)"));
}

#[test]
fn the_story_of_a_retried_operation_tells_each_attempt_fault_and_decision() {
    let output = retrylab(&["run", &lab(), "--seed", "7", "--policy", "retry-once", "--op", "15"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let story: Vec<&str> = text.lines().take_while(|line| !line.starts_with("scenario")).collect();
    let position = |needle: &str| {
        story.iter().position(|line| line.contains(needle)).unwrap_or_else(|| panic!("{needle}: {text}"))
    };
    let order = [
        "starts PUT shares/aa/",
        "[attempt 1] sends PUT",
        "[attempt 1] injects fault internal_error (status 500) into slot 15",
        "[attempt 1] gets slot 15's answer: status 500",
        "[attempt 1] retries after 0 ms: error InternalError (server_error); policy immediate, at most 2 attempts",
        "[attempt 2] sends PUT",
        "[attempt 2] gets slot 16's answer: status 200",
        "ends: success",
    ];
    let positions: Vec<usize> = order.iter().map(|needle| position(needle)).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}\n{text}");
    assert!(story[1].contains("succeeded (200) after 2 attempt(s), 1 retry in all layers, 2 S3 request(s)"), "{text}");
    // The story, then the usual summary.
    assert!(text.contains("trace hash  "), "{text}");
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.bind(|| insta::assert_snapshot!("op_15_seed_7_retry_once", story.join("\n")));
}

#[test]
fn a_short_human_trace_reads_well() {
    let output = retrylab(&["run", &lab(), "--seed", "7", "--policy", "retry-once", "--trace-filter", "op=14..15"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.bind(|| insta::assert_snapshot!("trace_ops_14_15_seed_7_retry_once", trace_lines(&text).join("\n")));
}

#[test]
fn json_lines_parse_and_carry_the_documented_fields() {
    let output = retrylab(&["run", &lab(), "--seed", "7", "--policy", "retry-once", "--trace-json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let (summary, events) = lines.split_last().unwrap();
    assert_eq!(events.len(), 40_480);
    for event in events {
        for field in ["at_s", "at_ns", "node", "node_id", "event"] {
            assert!(event.get(field).is_some(), "{field} missing: {event}");
        }
    }
    let of = |name: &'static str| events.iter().filter(move |e| e["event"] == name);
    for send in of("send") {
        for field in ["op", "attempt", "what", "to", "slot", "key"] {
            assert!(send.get(field).is_some(), "{field} missing: {send}");
        }
        assert_eq!(send["node"], "storage-server");
        assert_eq!(send["to"], "s3");
    }
    for fault in of("fault") {
        for field in ["op", "attempt", "fault", "slot", "applied", "key", "ambiguous", "chain"] {
            assert!(fault.get(field).is_some(), "{field} missing: {fault}");
        }
        assert!(fault["chain"] == "good" || fault["chain"] == "bad", "{fault}");
    }
    for retry in of("retry") {
        for field in ["op", "attempt", "delay_ms", "policy", "error", "class", "attempts_max", "elapsed_ms"] {
            assert!(retry.get(field).is_some(), "{field} missing: {retry}");
        }
    }
    for end in of("op-end") {
        assert!(end["ok"].is_boolean() && end["status"].is_u64(), "{end}");
    }
    assert_eq!(summary["event"], "run-summary");
    let plain = retrylab(&["run", &lab(), "--seed", "7", "--policy", "retry-once", "--json"]);
    let plain: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert_eq!(summary["summary"], plain, "the summary line is run --json's object");
    assert_eq!(summary["summary"]["events"].as_u64(), Some(events.len() as u64));
}

/// The detail a full trace adds is not hashed: a run's hash is the same
/// whether or not its events are kept, on S3 workloads and on grids.
#[test]
fn describing_events_changes_no_trace_hash() {
    for (scenario, policy, seed) in [
        (lab(), "retry-once", "7"),
        (layered_grid(), "layered-multi-retry", "1"),
        (shipped("faults/partition.toml"), "aws-standard", "2"),
    ] {
        let hash_only = retrylab(&["run", &scenario, "--seed", seed, "--policy", policy, "--json"]);
        let hash_only: serde_json::Value = serde_json::from_slice(&hash_only.stdout).unwrap();
        let traced = retrylab(&["run", &scenario, "--seed", seed, "--policy", policy, "--trace-json"]);
        let text = stdout(&traced);
        let summary: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
        assert_eq!(summary["summary"]["trace_hash"], hash_only["trace_hash"], "{scenario}");
        assert_eq!(summary["summary"]["events"], hash_only["events"], "{scenario}");
    }
}

#[test]
fn a_closed_pipe_ends_a_streaming_trace_quietly() {
    for flag in ["--trace", "--trace-json"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_retrylab"))
            .args(["run", &lab(), "--seed", "1", flag])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read the first line, as `| head -1` does, then go away.
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(first.contains("op-start") || first.contains("\"op-start\""), "{first}");
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{flag}: {}", stderr(&output));
        assert_eq!(stderr(&output), "", "{flag}");
    }
}

#[test]
fn records_from_a_full_trace_agree_with_the_report() {
    let scenario = retrylab_scenario::load(&lab_notebook_10k()).unwrap();
    let policy = scenario.policies.iter().find(|p| p.name == "retry-once").unwrap();
    let report = run_seed(&scenario, policy, 7, TraceMode::Full).unwrap();
    let operations = operation_records(&report);
    assert_eq!(operations.len() as u64, report.operations);
    assert!(operations.iter().enumerate().all(|(i, op)| op.operation == i as u64 && op.node == "storage-server"));
    let failed: Vec<bool> = operations.iter().map(|op| !op.ok).collect();
    let outcomes: Vec<bool> = report.outcomes.iter().map(|ok| !ok).collect();
    assert_eq!(failed, outcomes, "each record's outcome is the report's");
    assert_eq!(
        operations.iter().filter(|op| op.retried).count() as u64,
        report.retries,
        "retry-once retries at most once"
    );
    assert_eq!(operations.iter().map(|op| u64::from(op.attempts)).sum::<u64>(), report.attempts);
    let latencies: Vec<u64> = operations.iter().map(|op| (op.end - op.start).as_micros() as u64).collect();
    assert_eq!(latencies, report.latencies_us);
    assert!(operations.iter().filter(|op| !op.ok).all(|op| op.error.is_some()));
    let requests = s3_request_records(&report);
    assert_eq!(requests.len() as u64, report.attempts);
    assert_eq!(requests.iter().filter(|r| r.fault.is_some()).count() as u64, report.faults_injected);
    // The scenario is bursty: every request met the chain in one state or the other, and
    // faults are far likelier in the bad state.
    assert!(requests.iter().all(|r| r.arrived && r.chain_bad.is_some() && !r.in_outage));
    let rate = |bad: bool| {
        let met: Vec<_> = requests.iter().filter(|r| r.chain_bad == Some(bad)).collect();
        met.iter().filter(|r| r.fault.is_some()).count() as f64 / met.len().max(1) as f64
    };
    assert!(rate(true) > 10.0 * rate(false), "bad {} good {}", rate(true), rate(false));
    assert!(requests.iter().all(|r| r.operation.is_some() && r.answered));
}

#[test]
fn grid_records_attribute_retries_in_every_layer_to_the_gateway_operation() {
    let scenario = retrylab_scenario::load(std::path::Path::new(&layered_grid())).unwrap();
    let policy = scenario.policies.iter().find(|p| p.name == "layered-multi-retry").unwrap();
    let report = run_seed(&scenario, policy, 1, TraceMode::Full).unwrap();
    assert!(report.gateway_retries > 0 && report.s3_retries > 0);
    assert_eq!(report.retries, report.s3_retries + report.gateway_retries);
    let operations = operation_records(&report);
    assert_eq!(operations.len() as u64, report.operations);
    // Every gateway-layer retry, and every S3 retry made for an operation, is on its record.
    let trace = report.trace.as_ref().unwrap();
    let attributed_retries =
        trace.iter().filter(|e| matches!(e.kind, EventKind::RetryDecided { .. }) && e.operation().is_some()).count();
    assert_eq!(operations.iter().map(|op| u64::from(op.retries)).sum::<u64>(), attributed_retries as u64);
    let gateway_layer = operations.iter().map(|op| u64::from(op.attempts - 1)).sum::<u64>();
    assert_eq!(gateway_layer, report.gateway_retries);
    assert_eq!(operations.iter().map(|op| u64::from(op.attempts)).sum::<u64>(), report.gateway_attempts);
    // During the workload, everything a gateway does belongs to an
    // operation (the files' creation before it, a server's handler of a
    // creation still working, and the checks at quiescence belong to none).
    let first_start = operations.iter().map(|op| op.start).min().unwrap();
    let last_end = operations.iter().map(|op| op.end).max().unwrap();
    let gateway_events: Vec<_> = trace
        .iter()
        .filter(|e| report.node_names.name(e.node).starts_with("gateway") && e.at > first_start && e.at < last_end)
        .collect();
    assert!(gateway_events.len() > operations.len());
    assert!(
        gateway_events.iter().all(|e| e.operation().is_some()),
        "{:?}",
        gateway_events.iter().find(|e| e.operation().is_none())
    );
    assert!(
        operations.iter().any(|op| op.retried && op.attempts == 1),
        "S3-layer retries alone mark an operation retried"
    );
    assert!(operations
        .iter()
        .all(|op| op.node.starts_with("gateway") && op.key.as_deref().is_some_and(|k| k.starts_with("file."))));
}

#[test]
fn the_run_summary_counts_both_layers_retries() {
    let output = retrylab(&["run", &layered_grid(), "--seed", "1", "--policy", "layered-multi-retry", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let (total, s3, gateway) = (
        value["retries"].as_u64().unwrap(),
        value["s3_retries"].as_u64().unwrap(),
        value["gateway_retries"].as_u64().unwrap(),
    );
    assert!(gateway > 0 && s3 > 0);
    assert_eq!(total, s3 + gateway);
    let human = retrylab(&["run", &layered_grid(), "--seed", "1", "--policy", "layered-multi-retry"]);
    assert!(
        stdout(&human).contains(&format!("{total} retries ({s3} by S3 layers, {gateway} by gateway layers)")),
        "{}",
        stdout(&human)
    );
}

/// A violation names operations by the trace's numbers, and `--op` tells
/// the story of the operation it names.
#[test]
fn a_violation_names_the_operation_whose_story_explains_it() {
    let scenario = shipped("known-bad/replayed-append.toml");
    let output = retrylab(&["run", &scenario, "--seed", "1", "--policy", "none", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let detail = value["violations"][0]["detail"].as_str().unwrap();
    assert!(detail.ends_with("holds line 15 2 times [trace: line 15 = op 15]"), "{detail}");
    let story = retrylab(&["run", &scenario, "--seed", "1", "--policy", "none", "--op", "15"]);
    let text = stdout(&story);
    assert!(text.starts_with("operation 15: append file.0 on gateway"), "{text}");
    // The append's share write failed with an ambiguous 500 that took
    // effect, and the modify loop tried again: the line went in twice.
    assert!(
        text.contains("injects fault internal_error (status 500) into slot 69; the request took effect anyway"),
        "{text}"
    );
    assert!(text.contains("gateway          modify retries after 2961.078 ms (its try 1 failed"), "{text}");
    assert!(
        text.contains("succeeded (200) after 1 attempt(s), 0 retries in all layers and 1 by the modify loop"),
        "{text}"
    );
}
