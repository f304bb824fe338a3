//! The same seed gives the same world, byte for byte; different seeds differ.

use retrylab_harness::{run_seed, TraceMode};

use crate::support::lab_notebook_10k;

#[test]
fn same_seed_same_trace_hash_and_report() {
    let scenario = retrylab_scenario::load(&lab_notebook_10k()).unwrap();
    for policy in &scenario.policies {
        let first = run_seed(&scenario, policy, 7, TraceMode::HashOnly).unwrap();
        let second = run_seed(&scenario, policy, 7, TraceMode::HashOnly).unwrap();
        assert_eq!(first, second, "policy {}", policy.name);
        assert!(first.events > 10_000 * 3, "the trace saw {} events", first.events);
    }
}

#[test]
fn full_trace_hashes_like_hash_only() {
    let scenario = retrylab_scenario::load(&lab_notebook_10k()).unwrap();
    let policy = scenario.policy("multi-retry").unwrap();
    let full = run_seed(&scenario, policy, 3, TraceMode::Full).unwrap();
    let hash_only = run_seed(&scenario, policy, 3, TraceMode::HashOnly).unwrap();
    assert_eq!(full.trace_hash, hash_only.trace_hash);
    assert_eq!(full.trace.as_ref().map(|t| t.len() as u64), Some(full.events));
}

#[test]
fn different_seeds_differ() {
    let scenario = retrylab_scenario::load(&lab_notebook_10k()).unwrap();
    let policy = &scenario.policies[0];
    let hashes: std::collections::BTreeSet<u64> =
        (0..8).map(|seed| run_seed(&scenario, policy, seed, TraceMode::HashOnly).unwrap().trace_hash).collect();
    assert_eq!(hashes.len(), 8);
}

#[test]
fn policies_face_the_same_faults_on_a_seed() {
    // Common random numbers: the fault schedule is drawn per request slot
    // and per virtual time, never from a stream the policy perturbs. Until
    // the first retry, two policies see identical requests and faults.
    let scenario = retrylab_scenario::load(&lab_notebook_10k()).unwrap();
    let none = run_seed(&scenario, scenario.policy("none").unwrap(), 11, TraceMode::Full).unwrap();
    let once = run_seed(&scenario, scenario.policy("retry-once").unwrap(), 11, TraceMode::Full).unwrap();
    let (none, once) = (none.trace.unwrap(), once.trace.unwrap());
    let first_retry = once
        .iter()
        .position(|e| matches!(e.kind, retrylab_sim::EventKind::RetryDecided { .. }))
        .expect("seed 11 has at least one fault");
    assert!(first_retry > 10, "the first fault comes early: {first_retry}");
    assert_eq!(none[..first_retry], once[..first_retry]);
}

#[test]
fn grid_workloads_replay_exactly() {
    // Gateway, storage servers, buckets, checkers: the same seed gives the
    // same trace hash and the same findings, for every kind of grid workload.
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios");
    for file in [
        "lab-notebook/expt01-backup-101-files.toml",
        "known-bad/replayed-append.toml",
        "known-bad/blind-overwrite.toml",
    ] {
        let scenario = retrylab_scenario::load(&root.join(file)).unwrap();
        let policy = &scenario.policies[0];
        let first = run_seed(&scenario, policy, 4, TraceMode::HashOnly).unwrap();
        let second = run_seed(&scenario, policy, 4, TraceMode::HashOnly).unwrap();
        assert_eq!(first, second, "{file}");
        let other = run_seed(&scenario, policy, 5, TraceMode::HashOnly).unwrap();
        assert_ne!(first.trace_hash, other.trace_hash, "{file}");
    }
}
