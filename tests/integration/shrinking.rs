//! The property-test API (`Property`) as a user writes it: on a known-bad
//! design it finds the broken invariant, shrinks the case and writes a
//! scenario file that `retrylab run` replays; on the safe design it holds
//! across generated fault models, workload sizes and policy parameters.

use std::path::{Path, PathBuf};
use std::process::Command;

use retrylab_harness::{Property, Variation};
use retrylab_scenario::Workload;

fn shipped(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios").join(file)
}

/// An empty directory for one test's shrunk cases (never overwritten, so
/// those of an earlier run would be numbered past).
fn failures_dir(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("retrylab-failures").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_replayed_append_is_shrunk_and_written_as_a_scenario_retrylab_run_replays() {
    let dir = failures_dir("replayed-append");
    let property = || {
        Property::scenario(shipped("known-bad/replayed-append.toml"))
            .vary(Variation { operations: Some(1..=100), ..Variation::default() })
            .cases(64)
            .write_failures_to(&dir)
    };
    let failure = property().evaluate().unwrap().expect("the known-bad design is found");
    assert!(failure.reason.contains("append-duplicated"), "{failure}");
    // Shrunk: fewer appends than the shipped 100, and the faults the bug
    // needs (failed writes S3 applied anyway) are still there.
    let scenario = &failure.case.scenario;
    let Workload::MutableAppends { appends, .. } = scenario.workload else { panic!("{:?}", scenario.workload) };
    assert!(appends < 100, "{failure}");
    assert!(scenario.faults.ambiguous_fraction > 0.0, "{failure}");
    assert!(scenario.faults.process.stationary_failure_rate() > 0.0, "{failure}");
    // The file holds exactly the shrunk case.
    let file = failure.file.clone().expect("the case was written");
    let mut loaded = retrylab_scenario::load(&file).unwrap();
    loaded.path = scenario.path.clone();
    assert_eq!(&loaded, scenario);
    // And `retrylab run` replays it: the same violation, exit status 1.
    let seed = failure.case.seed.to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_retrylab"))
        .args(["run", &file.to_string_lossy(), "--seed", &seed, "--policy", &failure.case.policy().name])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("append-duplicated"), "{stdout}");
    assert!(failure.to_string().contains(&failure.reproduce), "{failure}");
    // `run()` is the same as a test: it panics with the file and the
    // command. The same case again does not replace the first file: it is
    // written beside it, numbered.
    let panic = std::panic::catch_unwind(|| property().run()).unwrap_err();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    let second = format!("{}-2.toml", file.with_extension("").display());
    assert!(message.contains("retrylab run") && message.contains(&second), "{message}");
    assert!(file.is_file() && Path::new(&second).is_file());
}

#[test]
fn a_blind_overwrite_needs_no_faults_at_all() {
    // Under 2012 eventual consistency a blind overwrite loses writes even on
    // a fault-free S3: shrinking takes the fault rate all the way to zero.
    let failure = Property::scenario(shipped("known-bad/blind-overwrite.toml"))
        .vary(Variation { operations: Some(1..=50), ..Variation::default() })
        .cases(32)
        .write_failures_to(failures_dir("blind-overwrite"))
        .evaluate()
        .unwrap()
        .expect("the known-bad design is found");
    assert_eq!(failure.case.scenario.faults.process.stationary_failure_rate(), 0.0, "{failure}");
}

#[test]
fn the_safe_design_holds_across_generated_faults_workloads_and_policy_parameters() {
    for policy in ["none", "multi-retry", "aws-standard", "object-store", "grpc"] {
        Property::scenario(shipped("policies/mutable-bursty.toml"))
            .policy(policy)
            .vary(Variation { operations: Some(1..=30), policy_parameters: true, ..Variation::default() })
            .cases(48)
            .regressions(concat!(env!("CARGO_MANIFEST_DIR"), "/proptest-regressions/integration-safe-design.txt"))
            .write_failures_to(failures_dir("safe-design"))
            .run();
    }
    // Every kind of grid workload, not only the scenario's puts.
    Property::scenario(shipped("policies/mutable-bursty.toml"))
        .policy("aws-standard")
        .vary(Variation { operations: Some(1..=10), workload_kinds: true, ..Variation::default() })
        .cases(48)
        .write_failures_to(failures_dir("safe-design-kinds"))
        .run();
}

#[test]
fn a_scenario_that_cannot_load_is_an_error_not_a_panic() {
    let error = Property::scenario("no/such/scenario.toml").evaluate().unwrap_err();
    assert!(error.to_string().contains("no/such/scenario.toml"), "{error}");
    let error = Property::scenario(shipped("known-bad/blind-overwrite.toml")).policy("nope").evaluate().unwrap_err();
    assert!(error.to_string().contains("nope"), "{error}");
}
