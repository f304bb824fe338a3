//! `[[faults.crashes]]`, `[[faults.partitions]]` and `[faults.corruption]`:
//! what loads, what each mistake says and where, and that a written scenario
//! loads back equal.

use std::path::Path;
use std::time::Duration;

use retrylab_faults::{Corruption, Crash, GridNode, Partition};
use retrylab_scenario::{parse, to_toml, ErrorKind, ScenarioError};

const FIXTURE: &str = include_str!("../data/disruptions.toml");
const S3_REQUESTS: &str = include_str!("../data/full.toml");
const FILE: &str = "sim-scenarios/x.toml";

fn error_in(fixture: &str, from: &str, to: &str) -> ScenarioError {
    assert!(fixture.contains(from), "the fixture lacks {from:?}");
    match parse(&fixture.replacen(from, to, 1), Path::new(FILE)) {
        Ok(_) => panic!("{from:?} -> {to:?} was accepted"),
        Err(err) => err,
    }
}

#[test]
fn the_fixture_loads_into_the_shared_fault_types() {
    let scenario = parse(FIXTURE, Path::new(FILE)).expect("the fixture loads");
    let disruptions = &scenario.disruptions;
    assert_eq!(
        disruptions.crashes,
        vec![
            Crash { node: GridNode::StorageServer(3), at: Duration::from_millis(1500), down: Duration::from_secs(2) },
            Crash { node: GridNode::Gateway(1), at: Duration::ZERO, down: Duration::from_millis(250) },
        ]
    );
    assert_eq!(
        disruptions.partitions,
        vec![Partition {
            side_a: vec![GridNode::Gateway(0)],
            side_b: vec![GridNode::StorageServer(0), GridNode::StorageServer(9)],
            start: Duration::from_millis(500),
            duration: Duration::from_secs(1),
        }]
    );
    assert_eq!(
        disruptions.corruption,
        Corruption { bit_flip: 0.01, truncate: 0.02, stale_read: 0.03, tampered_read: 0.04 }
    );
}

#[test]
fn a_written_scenario_with_disruptions_loads_back_equal() {
    let scenario = parse(FIXTURE, Path::new(FILE)).expect("the fixture loads");
    let text = to_toml(&scenario);
    assert!(text.contains("[[faults.crashes]]") && text.contains("[faults.corruption]"), "{text}");
    assert!(!text.contains("# not exact"), "{text}");
    assert_eq!(parse(&text, Path::new(FILE)).expect("written text loads"), scenario);
}

#[test]
fn absent_disruptions_write_nothing() {
    let scenario = parse(S3_REQUESTS, Path::new(FILE)).expect("the fixture loads");
    let text = to_toml(&scenario);
    assert!(!text.contains("crashes") && !text.contains("partitions") && !text.contains("corruption"), "{text}");
}

#[rustfmt::skip]
const CASES: &[(&str, &str, ErrorKind, usize, &str, &str)] = &[
    ("node = \"storage-server.3\"", "node = \"storage-server.10\"", ErrorKind::Invalid, 8, "faults.crashes[0].node",
        "8:8: faults.crashes[0].node: no node \"storage-server.10\" in this grid: lafs.servers = 10, so storage-server.0 to storage-server.9"),
    ("node = \"gateway.1\"", "node = \"gateway.2\"", ErrorKind::Invalid, 13, "faults.crashes[1].node",
        "13:8: faults.crashes[1].node: no node \"gateway.2\" in this grid: lafs.gateways = 2, so gateway.0 to gateway.1"),
    ("node = \"storage-server.3\"", "node = \"s3.3\"", ErrorKind::Invalid, 8, "faults.crashes[0].node",
        "8:8: faults.crashes[0].node: \"s3.3\" is not a node name (\"storage-server.<i>\" or \"gateway.<g>\")"),
    ("at_s = 1.5", "at_s = -1", ErrorKind::Invalid, 9, "faults.crashes[0].at_s",
        "9:8: faults.crashes[0].at_s: must be a finite number of seconds >= 0, got -1"),
    ("down_s = 2", "down_s = 0", ErrorKind::Invalid, 10, "faults.crashes[0].down_s",
        "10:10: faults.crashes[0].down_s: must be a finite number of seconds > 0, got 0"),
    ("down_s = 2", "down_s = 0.0001", ErrorKind::Invalid, 10, "faults.crashes[0].down_s",
        "10:10: faults.crashes[0].down_s: must be at least 1 ms once rounded to whole milliseconds, got 0.0001 s"),
    ("at_s = 1.5", "at_s = 1e12", ErrorKind::Invalid, 9, "faults.crashes[0].at_s",
        "9:8: faults.crashes[0].at_s: must be at most 8640000 s, got 1000000000000"),
    ("down_s = 2", "down_s = 2\nup_s = 1", ErrorKind::UnknownField, 11, "faults.crashes[0].up_s",
        "11:1: faults.crashes[0].up_s: unknown field `up_s`, expected one of `node`, `at_s`, `down_s`"),
    ("\"storage-server.9\"]]", "\"gateway.0\"]]", ErrorKind::Invalid, 18, "faults.partitions[0].between[1][1]",
        "18:48: faults.partitions[0].between[1][1]: gateway.0 is in both groups (a node cannot be cut off from itself)"),
    ("between = [[\"gateway.0\"], [\"storage-server.0\", \"storage-server.9\"]]", "between = [[\"gateway.0\"]]",
        ErrorKind::Invalid, 18, "faults.partitions[0].between",
        "18:11: faults.partitions[0].between: must be two groups of node names, such as [[\"gateway.0\"], [\"storage-server.0\"]], got 1 group(s)"),
    ("between = [[\"gateway.0\"],", "between = [[],", ErrorKind::Invalid, 18, "faults.partitions[0].between[0]",
        "18:12: faults.partitions[0].between[0]: a group needs at least one node name"),
    ("\"storage-server.9\"]]", "\"storage-server.99\"]]", ErrorKind::Invalid, 18, "faults.partitions[0].between[1][1]",
        "18:48: faults.partitions[0].between[1][1]: no node \"storage-server.99\" in this grid: lafs.servers = 10, so storage-server.0 to storage-server.9"),
    ("duration_s = 1", "duration_s = -2", ErrorKind::Invalid, 20, "faults.partitions[0].duration_s",
        "20:14: faults.partitions[0].duration_s: must be a finite number of seconds > 0, got -2"),
    ("truncate = 0.02", "truncate = 1.5", ErrorKind::Invalid, 24, "faults.corruption.truncate",
        "24:12: faults.corruption.truncate: must be a probability in [0, 1], got 1.5"),
    ("stale_read = 0.03", "stale_read = -0.1", ErrorKind::Invalid, 25, "faults.corruption.stale_read",
        "25:14: faults.corruption.stale_read: must be a probability in [0, 1], got -0.1"),
    ("tampered_read = 0.04", "tampered_read = 0.04\nrot = 1", ErrorKind::UnknownField, 27, "faults.corruption.rot",
        "27:1: faults.corruption.rot: unknown field `rot`, expected one of `bit_flip`, `truncate`, `stale_read`, `tampered_read`"),
];

#[test]
fn each_disruption_mistake_has_its_line_field_and_message() {
    let mut failures = Vec::new();
    for (from, to, kind, line, field, rendered) in CASES {
        let err = error_in(FIXTURE, from, to);
        let expected = format!("{FILE}:{rendered}");
        if err.kind() != *kind
            || err.line() != Some(*line)
            || err.field() != Some(*field)
            || err.to_string() != expected
        {
            failures.push(format!("{from:?} -> {to:?}\n  got      {err}\n  expected {expected}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases wrong:\n{}", failures.len(), CASES.len(), failures.join("\n"));
}

#[test]
fn an_s3_requests_workload_refuses_disruptions() {
    for (table, name) in [
        ("[[faults.crashes]]\nnode = \"storage-server.0\"\nat_s = 1\ndown_s = 1\n", "crashes"),
        (
            "[[faults.partitions]]\nbetween = [[\"gateway.0\"], [\"storage-server.0\"]]\nstart_s = 1\nduration_s = 1\n",
            "partitions",
        ),
        ("[faults.corruption]\nbit_flip = 0.1\n", "corruption"),
    ] {
        let err = error_in(S3_REQUESTS, "[workload]", &format!("{table}\n[workload]"));
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
        assert_eq!(err.field(), Some(format!("faults.{name}").as_str()), "{err}");
        assert!(
            err.to_string().contains("not allowed with an \"s3-requests\" workload (it has no Tahoe-LAFS grid"),
            "{err}"
        );
    }
}
