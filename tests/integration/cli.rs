//! The `retrylab` binary as users run it: output, exit statuses, errors.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::lab_notebook_10k;

pub(crate) fn retrylab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_retrylab")).args(args).output().expect("the retrylab binary runs")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn scenario() -> String {
    lab_notebook_10k().to_string_lossy().into_owned()
}

#[test]
fn run_prints_the_same_bytes_for_the_same_seed() {
    let first = retrylab(&["run", &scenario(), "--seed", "5", "--policy", "retry-once"]);
    let second = retrylab(&["run", &scenario(), "--seed", "5", "--policy", "retry-once"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(first.stdout, second.stdout);
    assert!(stdout(&first).contains("trace hash"));
}

#[test]
fn run_json_has_the_stable_fields() {
    let output = retrylab(&["run", &scenario(), "--seed", "7", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["seed"], 7);
    assert_eq!(value["policy"], "none");
    assert_eq!(value["operations"], 10_000);
    assert!(value["failures"].as_u64().unwrap() > 0);
    let hash = value["trace_hash"].as_str().unwrap();
    assert_eq!(hash.len(), 16);
    assert!(hash.chars().all(|c| c.is_ascii_hexdigit()));
    // The whole summary is pinned: any change to the simulation shows here.
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("snapshots");
    settings.bind(|| insta::assert_snapshot!("run_seed_7_none", stdout(&output)));
}

#[test]
fn estimate_json_has_the_stable_fields() {
    let output = retrylab(&["estimate", &scenario(), "--seeds", "4", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["scenario"], "s3-10k-requests");
    assert_eq!(value["seeds"], 4);
    let policies = value["policies"].as_array().unwrap();
    let names: Vec<&str> = policies.iter().map(|p| p["policy"].as_str().unwrap()).collect();
    assert_eq!(names, ["none", "retry-once", "multi-retry"]);
    for policy in policies {
        for field in [
            "operations",
            "failures",
            "failure_rate",
            "ci_low",
            "ci_high",
            "design_effect",
            "ci_low_independent",
            "ci_high_independent",
            "attempts_per_op",
            "gateway_attempts_per_op",
            "latency_ms_p50",
            "latency_ms_p99",
            "latency_ms_max",
        ] {
            assert!(policy[field].is_number(), "{field} missing in {policy}");
        }
        assert_eq!(policy["operations"], 40_000);
    }
}

#[test]
fn estimate_does_not_depend_on_threads() {
    let one = retrylab(&["estimate", &scenario(), "--seeds", "3", "--jobs", "1", "--json"]);
    let two = retrylab(&["estimate", &scenario(), "--seeds", "3", "--jobs", "2", "--json"]);
    assert!(one.status.success());
    assert_eq!(one.stdout, two.stdout);
}

#[test]
fn a_broken_scenario_gets_one_line_naming_file_line_and_field_and_status_2() {
    let dir = std::env::temp_dir().join(format!("retrylab-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken.toml");
    let source = std::fs::read_to_string(lab_notebook_10k()).unwrap().replace("bad_failure = 0.6", "bad_failure = 1.6");
    std::fs::write(&path, &source).unwrap();
    let line = source.lines().position(|l| l.starts_with("bad_failure")).unwrap() + 1;
    let output = retrylab(&["run", path.to_str().unwrap(), "--seed", "1"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    let expected = format!("{}:{line}:", path.display());
    assert!(message.contains(&expected), "{message} lacks {expected}");
    assert!(message.contains("faults.bad_failure"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_policy_and_missing_file_are_usage_errors() {
    let output = retrylab(&["run", &scenario(), "--seed", "1", "--policy", "nope"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("retry-once"), "lists the known policies: {}", stderr(&output));
    let missing = Path::new("no/such/scenario.toml");
    let output = retrylab(&["estimate", missing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no/such/scenario.toml"));
}

#[test]
fn help_teaches() {
    let output = retrylab(&["estimate", "--help"]);
    assert!(output.status.success());
    let help = stdout(&output);
    assert!(help.contains("Clopper-Pearson"));
    assert!(help.contains("--seeds"));
}

#[test]
fn shrink_writes_a_minimal_failing_case_and_exits_1() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bad = root.join("sim-scenarios/known-bad/replayed-append.toml");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-shrink");
    let _ = std::fs::remove_dir_all(&out);
    let output = retrylab(&[
        "shrink",
        &bad.to_string_lossy(),
        "--operations-max",
        "100",
        "--out",
        &out.to_string_lossy(),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["found"], true);
    let file = value["file"].as_str().unwrap();
    assert!(Path::new(file).starts_with(&out), "{file}");
    // The written case is a scenario `run` replays to the same violation.
    let seed = value["seed"].as_u64().unwrap().to_string();
    let replay = retrylab(&["run", file, "--seed", &seed]);
    assert_eq!(replay.status.code(), Some(1), "{}", stderr(&replay));
    assert!(stdout(&replay).contains("append-duplicated"), "{}", stdout(&replay));
    // The safe design holds; a policy the scenario lacks is a usage error.
    let safe = root.join("sim-scenarios/policies/mutable-bursty.toml");
    let held = retrylab(&["shrink", &safe.to_string_lossy(), "--cases", "8", "--operations-max", "10"]);
    assert!(held.status.success(), "{}", stderr(&held));
    assert!(stdout(&held).contains("no invariant broken"), "{}", stdout(&held));
    let unknown = retrylab(&["shrink", &safe.to_string_lossy(), "--policy", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(stderr(&unknown).contains("nope"), "{}", stderr(&unknown));
}

#[test]
fn a_setting_that_cannot_affect_a_run_is_warned_about_once_on_stderr() {
    let dir = std::env::temp_dir().join(format!("retrylab-cli-warning-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("eventual-puts.toml");
    let source = std::fs::read_to_string(lab_notebook_10k())
        .unwrap()
        .replace("consistency = \"strong\"", "consistency = \"eventual\"\neventual_window_ms = 2000")
        .replace("operations = 10000", "operations = 10");
    std::fs::write(&path, &source).unwrap();
    let output = retrylab(&["run", path.to_str().unwrap(), "--seed", "1"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = "warning: s3.consistency: \"eventual\" has no effect: an s3-requests put/get workload never \
                    reads a key after overwriting it\n";
    assert_eq!(stderr(&output), expected);
    let clean = retrylab(&["run", &scenario(), "--seed", "1"]);
    assert!(!stderr(&clean).contains("warning:"), "{}", stderr(&clean));
    std::fs::remove_dir_all(&dir).unwrap();
}
