//! The mixed `s3-requests` workload (`operation = "mixed"` with a `mix` of weights) and
//! `Scenario::warnings`, which names settings that cannot affect a run.

use std::path::Path;

use retrylab_scenario::{parse, ErrorKind, OperationMix, S3Operation, Workload, MIXED_KEYS_MAX};

const FILE: &str = "sim-scenarios/x.toml";

/// A scenario with `s3` as its `[s3]` table (empty: none) whose `[workload]` table (line 3 without
/// `s3`) ends with `workload` (line 8 onwards).
fn mixed(s3: &str, workload: &str) -> String {
    format!(
        "name = \"m\"\n{s3}\n[workload]\nkind = \"s3-requests\"\noperations = 100\nkeys = 2500\nclients = 3\n\
         {workload}\n\n[[policies]]\nname = \"none\"\nkind = \"none\"\n"
    )
}

const MIX: &str = "operation = \"mixed\"\nmix = { get = 0.4, put = 0.3, delete = 0.1, list = 0.2 }";

fn error(source: &str) -> String {
    parse(source, Path::new(FILE)).unwrap_err().to_string()
}

#[test]
fn a_mixed_workload_loads_with_its_weights() {
    let scenario = parse(&mixed("", MIX), Path::new(FILE)).unwrap();
    let Workload::S3Requests { operations, operation, keys, clients, .. } = scenario.workload else {
        panic!("{:?}", scenario.workload)
    };
    assert_eq!((operations, keys, clients), (100, 2500, 3));
    assert_eq!(operation, S3Operation::Mixed(OperationMix { get: 0.4, put: 0.3, delete: 0.1, list: 0.2 }));
    // Absent weights are 0.
    let only_gets = parse(&mixed("", "operation = \"mixed\"\nmix = { get = 1 }"), Path::new(FILE)).unwrap();
    assert!(matches!(
        only_gets.workload,
        Workload::S3Requests {
            operation: S3Operation::Mixed(OperationMix { get: 1.0, put: 0.0, delete: 0.0, list: 0.0 }),
            ..
        }
    ));
}

#[test]
fn mix_mistakes_name_their_field() {
    let cases = [
        ("operation = \"mixed\"", "3:1: workload.mix: required with operation = \"mixed\""),
        ("operation = \"put\"\nmix = { get = 1 }", "9:1: workload.mix: only allowed with operation = \"mixed\""),
        ("operation = \"mixed\"\nmix = { get = 1, head = 1 }", "9:18: workload.mix.head: unknown field `head`"),
        (
            "operation = \"mixed\"\nmix = { get = -0.5 }",
            "9:15: workload.mix.get: must be a finite number >= 0, got -0.5",
        ),
        ("operation = \"mixed\"\nmix = { put = nan }", "9:15: workload.mix.put: must be a finite number >= 0, got NaN"),
        (
            "operation = \"mixed\"\nmix = { list = inf }",
            "9:16: workload.mix.list: must be a finite number >= 0, got inf",
        ),
        (
            "operation = \"mixed\"\nmix = { get = 0, list = 0.0 }",
            "9:7: workload.mix: at least one of get, put, delete and list must weigh more than 0",
        ),
        ("operation = \"mixed\"\nmix = { get = \"a lot\" }", "9:15: workload.mix.get: invalid type: string"),
        (
            "operation = \"gets\"",
            "8:13: workload.operation: unknown variant `gets`, expected one of `put`, `get`, `mixed`",
        ),
    ];
    let mut wrong = Vec::new();
    for (workload, expected) in cases {
        let got = error(&mixed("", workload));
        if !got.starts_with(&format!("{FILE}:{expected}")) {
            wrong.push(format!("{workload:?}\n  got      {got}\n  expected {FILE}:{expected}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn mixed_keys_are_bounded() {
    let source = mixed("", MIX).replace("keys = 2500", &format!("keys = {}", MIXED_KEYS_MAX + 1));
    let err = parse(&source, Path::new(FILE)).unwrap_err();
    assert_eq!((err.kind(), err.field()), (ErrorKind::Invalid, Some("workload.keys")));
    assert!(err.to_string().ends_with("must be at most 100000 with operation = \"mixed\", got 100001"), "{err}");
    let at_max = mixed("", MIX).replace("keys = 2500", &format!("keys = {MIXED_KEYS_MAX}"));
    parse(&at_max, Path::new(FILE)).unwrap();
}

const EVENTUAL: &str = "[s3]\nconsistency = \"eventual\"\neventual_window_ms = 2000\n";

fn warnings(s3: &str, workload: &str) -> Vec<String> {
    parse(&mixed(s3, workload), Path::new(FILE)).unwrap().warnings()
}

#[test]
fn eventual_consistency_that_cannot_show_is_warned_about() {
    let put_get = "s3.consistency: \"eventual\" has no effect: an s3-requests put/get workload never reads a key \
                   after overwriting it";
    // The fixture's 2500 keys are more than a put/get workload's 100 operations reach.
    let keys = "workload.keys: 2500 keys but 100 operations: the operations cycle over the keys, so keys past the \
                100th are never used";
    assert_eq!(warnings(EVENTUAL, "operation = \"put\""), [put_get, keys]);
    assert_eq!(warnings(EVENTUAL, "operation = \"get\""), [put_get, keys]);
    for mix in ["{ put = 1, delete = 1, list = 1 }", "{ get = 1, list = 1 }"] {
        let warned = warnings(EVENTUAL, &format!("operation = \"mixed\"\nmix = {mix}"));
        assert_eq!(warned.len(), 1, "{mix}: {warned:?}");
        assert!(warned[0].starts_with("s3.consistency: \"eventual\" has no effect: this mixed"), "{warned:?}");
    }
    // Where it can show, or where consistency is strong, nothing is said.
    assert!(warnings(EVENTUAL, MIX).is_empty());
    assert!(warnings(EVENTUAL, "operation = \"mixed\"\nmix = { get = 1, delete = 1 }").is_empty());
    assert_eq!(warnings("", "operation = \"put\""), [keys]);
    assert!(warnings("[s3]\nconsistency = \"strong\"\n", MIX).is_empty());
}
