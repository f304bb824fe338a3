//! Real mode checked against the simulator: the same retry layer, storage
//! server and gateway on tokio, over HTTP to the s3s server these tests
//! start themselves on 127.0.0.1, with the scenario's faults on the wire.
//!
//! Each test runs a shortened shipped scenario for real and asks the
//! simulator for its prediction (the range of 199 simulated runs of the same
//! length: a 99% prediction interval for one run); a policy's real failure
//! rate must lie inside it and its attempts per operation within 5% of the
//! simulator's. The checkers then read what the real server stored.

use std::path::{Path, PathBuf};

use retrylab_harness::TraceMode;
use retrylab_real::{RealOptions, RealRun};
use retrylab_scenario::Scenario;

fn shipped(relative: &str) -> Scenario {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios").join(relative);
    retrylab_scenario::load(Path::new(&path)).unwrap_or_else(|error| panic!("{error}"))
}

fn run_real(scenario: &Scenario, options: &RealOptions) -> RealRun {
    retrylab_real::run(scenario, options, &|| {}, &|| {}).unwrap_or_else(|error| panic!("real run: {error}"))
}

/// Every policy of `run` agreed with the simulator, and the wire injected faults.
fn assert_agrees(run: &RealRun) {
    let agreement = run.agreement.as_ref().expect("a prediction was asked for");
    assert_eq!(agreement.len(), run.estimate.policies.len());
    for a in agreement {
        assert!(
            a.agrees(),
            "{}: real failure rate {:.5} (simulated interval [{:.5}, {:.5}], same seed {:.5}), attempts/op {:.4} \
             against {:.4}",
            a.policy,
            a.real_failure_rate,
            a.prediction.failure_rate_low,
            a.prediction.failure_rate_high,
            a.prediction.same_seed_failure_rate,
            a.real_attempts_per_op,
            a.prediction.attempts_per_op
        );
    }
    for lane in &run.faults_injected {
        assert!(lane.counts.faults_total() > 0, "{}: no fault reached the wire: {:?}", lane.policy, lane.counts);
        assert!(lane.counts.requests >= run.requests, "{}: fewer requests than operations", lane.policy);
    }
}

/// The 2012 experiment, 1,000 requests per policy at 1/200 of real time:
/// no retry fails about 1.3% of them, retry-once a few, the schedule none,
/// as the simulator predicts for the same length of run.
#[test]
fn the_10k_request_scenario_for_real_agrees_with_the_simulator() {
    let scenario = shipped("lab-notebook/s3-10k-requests.toml");
    let hash_of_seed_7 = || {
        let report = retrylab_harness::run_seed(&scenario, &scenario.policies[1], 7, TraceMode::HashOnly);
        report.expect("a simulated run").trace_hash
    };
    let before = hash_of_seed_7();
    let options = RealOptions { requests: Some(1000), time_scale: 0.005, ..RealOptions::default() };
    let run = run_real(&scenario, &options);
    // One process, one binary: tokio and real time outside madsim's runtime
    // leave the simulation exactly as it was.
    assert_eq!(hash_of_seed_7(), before);
    assert_eq!(run.estimate.policies.len(), 3);
    assert_agrees(&run);
    let none = &run.estimate.policies[0];
    assert_eq!(none.operations, 1000);
    // Without retries every injected fault is a failed request.
    assert_eq!(none.failures, run.faults_injected[0].counts.faults_total());
    assert!(none.failures > 0);
    // With retries, requests = operations + retries.
    let retry_once = &run.estimate.policies[1];
    assert!(retry_once.failures < none.failures);
    assert!(run.faults_injected[1].counts.requests > 1000);
}

/// Mutable puts through the gateway and one storage server (7 S3 requests
/// a put), shortened to 150 puts: agreement, and the checkers find the
/// file intact at rest.
#[test]
fn mutable_puts_for_real_agree_with_the_simulator_and_are_clean() {
    let scenario = shipped("lab-notebook/expt03-mutable-put-10k.toml");
    let options = RealOptions { requests: Some(150), time_scale: 0.01, ..RealOptions::default() };
    let run = run_real(&scenario, &options);
    assert_agrees(&run);
    for policy in &run.estimate.policies {
        assert!(policy.is_clean(), "{}: {:?}", policy.policy, policy.invariants);
        assert!(policy.attempts_per_op > 3.0, "a put is several S3 requests: {}", policy.attempts_per_op);
    }
}

/// Seeds real runs of the checker test use: 0, 1, ...
const CHECKED_SEEDS: u64 = 8;

/// `scenario` with half of its faulted writes applied (the ambiguous
/// "applied but 500"), run for real on seeds 0.. under its first policy:
/// whether each seed's run broke an invariant, stopping at the first that
/// did when `stop_at_first`.
fn seeds_with_violations_for_real(mut scenario: Scenario, stop_at_first: bool) -> Vec<u64> {
    scenario.faults.ambiguous_fraction = 0.5;
    let policy = scenario.policies[0].name.clone();
    let mut found = Vec::new();
    for seed in 0..CHECKED_SEEDS {
        let options = RealOptions {
            seed,
            policies: vec![policy.clone()],
            sim_seeds: None,
            time_scale: 0.01,
            ..RealOptions::default()
        };
        if !run_real(&scenario, &options).estimate.policies[0].is_clean() {
            found.push(seed);
            if stop_at_first {
                break;
            }
        }
    }
    found
}

/// `known-bad/write-hole.toml` at a tenth of its bytes: lines of 10 kB and
/// chunks of 32 KiB keep its shape (a share of several chunks, each put a
/// PUT per chunk) while real mode's unoptimised HTTP stack moves 5 MB a run
/// instead of 46 MB.
fn write_hole_scaled_down() -> Scenario {
    let mut scenario = shipped("known-bad/write-hole.toml");
    match &mut scenario.workload {
        retrylab_scenario::Workload::MutablePuts { line_bytes, .. } => *line_bytes = 10_000,
        other => panic!("the write hole's workload changed: {other:?}"),
    }
    let lafs = scenario.lafs.as_mut().expect("the write hole runs on the grid");
    lafs.design.share_layout = retrylab_design::ShareLayout::Chunked { chunk_bytes: 32_768 };
    scenario
}

/// The checkers on real state: after real runs with ambiguous faults, the
/// shares stored by the real server, read back over HTTP, are clean for the
/// safe design and broken for the write hole (chunked shares with no
/// commit), whose torn writes the simulator finds on the same seeds.
#[test]
fn the_checkers_read_real_state_clean_for_the_safe_design_and_find_the_write_hole() {
    let mut safe = write_hole_scaled_down();
    if let Some(lafs) = safe.lafs.as_mut() {
        lafs.design.share_layout = retrylab_design::ShareLayout::Whole;
    }
    assert_eq!(seeds_with_violations_for_real(safe, false), Vec::<u64>::new(), "the safe design broke an invariant");
    let write_hole = seeds_with_violations_for_real(write_hole_scaled_down(), true);
    assert!(!write_hole.is_empty(), "the write hole was not found on any of {CHECKED_SEEDS} seeds");
}

/// The 2012 backup of 101 files for real, with half of the faulted writes
/// applied: the harness's own backups driver on the real gateway, then the
/// immutable checker downloads every file of every completed backup (and
/// the root's `Latest` is checked as a register), reading over HTTP.
#[test]
fn backups_for_real_pass_the_immutable_checker() {
    let mut scenario = shipped("lab-notebook/expt01-backup-101-files.toml");
    scenario.faults.ambiguous_fraction = 0.5;
    let options = RealOptions { sim_seeds: None, ..RealOptions::default() };
    let run = run_real(&scenario, &options);
    for policy in &run.estimate.policies {
        assert!(policy.is_clean(), "{}: {:?}", policy.policy, policy.invariants);
    }
    // The retrying policies complete the backup, so every file was downloaded and compared.
    let completed = run.estimate.policies.iter().filter(|policy| policy.failures == 0).count();
    assert!(completed >= 2, "{:?}", run.estimate.policies.iter().map(|p| p.failures).collect::<Vec<_>>());
    assert!(run.faults_injected.iter().all(|lane| lane.counts.requests > 101));
}

/// A scenario real mode cannot run is refused with the reason, before any
/// server starts.
#[test]
fn real_mode_refuses_what_it_cannot_run() {
    let eventual = shipped("grid/puts-3of10-eventual.toml");
    let error = retrylab_real::run(&eventual, &RealOptions::default(), &|| {}, &|| {}).expect_err("refused");
    let message = error.to_string();
    assert!(message.contains("puts-3of10-eventual.toml"), "{message}");
    let bad_scale = RealOptions { time_scale: 0.0, ..RealOptions::default() };
    let scenario = shipped("lab-notebook/s3-10k-requests.toml");
    let error = retrylab_real::run(&scenario, &bad_scale, &|| {}, &|| {}).expect_err("refused");
    assert!(error.to_string().contains("--time-scale"), "{error}");
}
