//! Load (issue 12) through the whole simulator: the queue against its
//! closed forms, the retry storm of the shipped scenario, open-loop
//! arrivals on the grid's mutable files, determinism and the scenario
//! file's load settings.

use std::path::{Path, PathBuf};

use retrylab_harness::{estimate, run_seed, EstimateOptions, TraceMode};
use retrylab_load::closed_form::{erlang_c, mmc_mean_wait_s};
use retrylab_scenario::{parse, to_toml, Scenario};
use retrylab_stats::mean_interval;

fn scenario(text: &str) -> Scenario {
    parse(text, Path::new("load-test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

/// Open-loop GETs at `rate_per_s` for `duration_s` against `servers`
/// servers of exponential service with mean `mean_ms`, no faults.
fn queue_scenario(rate_per_s: f64, duration_s: u64, servers: u64, mean_ms: f64) -> Scenario {
    scenario(&format!(
        r#"
name = "queue"
[limits]
simulated_time_s_max = 100000
events_max = 100000000
[s3]
request_timeout_ms = 1000000
latency_ms = {{ kind = "exponential", mean_ms = {mean_ms} }}
[s3.capacity]
servers = {servers}
[faults]
kind = "none"
[workload]
kind = "s3-requests"
operation = "get"
keys = 100
[workload.arrivals]
rate_per_s = {rate_per_s}
duration_s = {duration_s}
[[policies]]
name = "none"
kind = "none"
"#
    ))
}

/// Per-seed values of `measure` over `seeds` runs of `scenario`'s first policy.
fn per_seed(scenario: &Scenario, seeds: u64, measure: impl Fn(&retrylab_harness::LoadReport) -> f64) -> Vec<f64> {
    (0..seeds)
        .map(|seed| {
            let report = run_seed(scenario, &scenario.policies[0], seed, TraceMode::HashOnly).unwrap();
            measure(report.load.as_ref().expect("a run under load reports its load"))
        })
        .collect()
}

#[test]
fn an_mmc_queue_waits_as_erlang_c_says() {
    // lambda 80/s, mu 10/s per server, c = 10: rho = 0.8, C(10, 8) = 0.409,
    // Wq = C / (c mu - lambda) = 20.4 ms.
    let scenario = queue_scenario(80.0, 1000, 10, 100.0);
    let waits_ms = per_seed(&scenario, 10, |load| load.s3_wait_us as f64 / load.s3_served as f64 / 1000.0);
    let interval = mean_interval(&waits_ms, 0.99).unwrap();
    let expected_ms = mmc_mean_wait_s(80.0, 10.0, 10) * 1000.0;
    assert!((erlang_c(10, 8.0) - 0.409).abs() < 0.001);
    assert!(
        interval.low <= expected_ms && expected_ms <= interval.high,
        "M/M/10 at rho 0.8: Wq = {expected_ms:.2} ms outside the 99% interval {interval:?} of {waits_ms:?}"
    );
}

#[test]
fn an_mm1_queue_is_busy_lambda_over_mu_of_the_time() {
    // lambda 5/s, mean service 100 ms: utilisation 0.5, measured over the
    // whole windows before arrivals stop.
    let duration_s = 2000;
    let scenario = queue_scenario(5.0, duration_s, 1, 100.0);
    let utilisation = per_seed(&scenario, 12, |load| {
        let windows = (duration_s * 1000 / load.series.window_ms) as usize;
        let busy: u64 = load.series.busy_us.iter().take(windows).sum();
        busy as f64 / (duration_s as f64 * 1e6)
    });
    let interval = mean_interval(&utilisation, 0.99).unwrap();
    let expected = retrylab_load::closed_form::mm1_utilisation(5.0, 10.0);
    assert!(
        interval.low <= expected && expected <= interval.high,
        "M/M/1: utilisation {expected} outside the 99% interval {interval:?} of {utilisation:?}"
    );
}

fn storm() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios/load/metastable-retry-storm.toml")
}

#[test]
fn the_storm_keeps_naive_retries_down_and_budgets_recover() {
    let scenario = retrylab_scenario::load(&storm()).unwrap();
    let policies = ["naive-immediate", "aws-standard", "budget-20pct"].map(String::from).to_vec();
    let options = EstimateOptions { seeds: 2, policies, confidence: 0.95, ..EstimateOptions::default() };
    let estimate = estimate(&scenario, &options, &|| {}).unwrap();
    let load = |name: &str| {
        let policy = estimate.policies.iter().find(|p| p.policy == name).unwrap();
        policy.load.clone().expect("load measures")
    };
    let naive = load("naive-immediate");
    assert_eq!((naive.seeds_judged, naive.seeds_recovered), (2, 0), "{naive:?}");
    assert!(naive.retry_share > 0.4, "naive retries should dominate the requests: {}", naive.retry_share);
    for name in ["aws-standard", "budget-20pct"] {
        let recovered = load(name);
        assert_eq!((recovered.seeds_judged, recovered.seeds_recovered), (2, 2), "{name}: {recovered:?}");
        let worst = recovered.recovery_s_max.unwrap();
        assert!(worst < 60.0, "{name} took {worst} s to recover");
    }
}

#[test]
fn a_run_under_load_replays_to_the_same_hash() {
    let scenario = queue_scenario(500.0, 20, 8, 20.0);
    let policy = &scenario.policies[0];
    let first = run_seed(&scenario, policy, 7, TraceMode::HashOnly).unwrap();
    let again = run_seed(&scenario, policy, 7, TraceMode::HashOnly).unwrap();
    assert_eq!(first.trace_hash, again.trace_hash);
    assert_eq!(first.load, again.load);
    let other = run_seed(&scenario, policy, 8, TraceMode::HashOnly).unwrap();
    assert_ne!(first.trace_hash, other.trace_hash);
}

#[test]
fn load_settings_round_trip_through_the_writer() {
    let text = r#"
name = "round trip"
[s3]
latency_ms = { kind = "exponential", mean_ms = 30 }
[s3.capacity]
servers = 40
queue_max = 500
queue_timeout_ms = 2500
slowdowns = [{ start_s = 10, end_s = 12.5, factor = 4 }]
[s3.rate_limits]
writes_per_s = 100
prefix_depth = 3
split_after_s = 30
[workload]
kind = "s3-requests"
operation = "put"
keys = 1000
deadline_ms = 4000
concurrency_max = 300
zipf_exponent = 1.1
prefixes = 8
[workload.arrivals]
rate_per_s = 200
duration_s = 60
schedule = [{ at_s = 20, rate_per_s = 400, ramp = true }, { at_s = 40, rate_per_s = 100 }]
diurnal = { amplitude = 0.25, period_s = 30, peak_at_s = 5 }
bursts = [{ start_s = 30, duration_s = 2, rate_per_s = 1000 }]
[[policies]]
name = "none"
kind = "none"
"#;
    let loaded = scenario(text);
    let written = to_toml(&loaded);
    let again = parse(&written, Path::new("load-test.toml")).unwrap_or_else(|e| panic!("{e}\n{written}"));
    assert_eq!(again, loaded, "{written}");
    // The expected arrivals set the operations of an open loop.
    let retrylab_scenario::Workload::S3Requests { operations, .. } = loaded.workload else { unreachable!() };
    assert!((14_000..22_000).contains(&operations), "{operations}");
}

/// The error of loading `text`, as one line.
fn error(text: &str) -> String {
    parse(text, Path::new("bad.toml")).unwrap_err().to_string()
}

const BASE: &str = "name = \"bad\"\n[[policies]]\nname = \"none\"\nkind = \"none\"\n";

#[test]
fn bad_load_settings_name_their_field() {
    let cases = [
        (
            "[workload]\nkind = \"s3-requests\"\noperation = \"get\"\noperations = 5\n[workload.arrivals]\nrate_per_s = 1\nduration_s = 1\n",
            "workload.operations: not allowed with [workload.arrivals]",
        ),
        (
            "[workload]\nkind = \"s3-requests\"\noperation = \"get\"\n[workload.arrivals]\nrate_per_s = -1\nduration_s = 1\n",
            "workload.arrivals.rate_per_s: must be a finite number",
        ),
        (
            "[workload]\nkind = \"s3-requests\"\noperation = \"get\"\n[workload.arrivals]\nrate_per_s = 1\nduration_s = 10\nschedule = [{ at_s = 5, rate_per_s = 2 }, { at_s = 2, rate_per_s = 3 }]\n",
            "workload.arrivals.schedule[1].at_s: schedule points must be in time order",
        ),
        (
            "[workload]\nkind = \"s3-requests\"\noperation = \"get\"\n",
            "workload.operations: required",
        ),
        (
            "[workload]\nkind = \"s3-requests\"\noperation = \"get\"\noperations = 5\nconcurrency_max = 3\n",
            "workload.concurrency_max: only allowed with [workload.arrivals]",
        ),
        (
            "[workload]\nkind = \"s3-requests\"\noperation = \"mixed\"\nmix = { get = 1 }\noperations = 5\ndeadline_ms = 3\n",
            "workload.deadline_ms: not supported with operation = \"mixed\"",
        ),
        (
            "[s3.capacity]\nservers = 0\n[workload]\nkind = \"s3-requests\"\noperation = \"get\"\noperations = 5\n",
            "s3.capacity.servers: must be at least 1",
        ),
        (
            "[s3.capacity]\nservers = 2\nslowdowns = [{ start_s = 5, end_s = 6, factor = 0.5 }]\n[workload]\nkind = \"s3-requests\"\noperation = \"get\"\noperations = 5\n",
            "s3.capacity.slowdowns[0].factor: must be a finite number from 1",
        ),
        (
            "[s3.rate_limits]\nprefix_depth = 0\n[workload]\nkind = \"s3-requests\"\noperation = \"get\"\noperations = 5\n",
            "s3.rate_limits.prefix_depth: must be at least 1",
        ),
        (
            "[workload]\nkind = \"s3-requests\"\noperation = \"get\"\n[workload.arrivals]\nrate_per_s = 1000000\nduration_s = 100000\n",
            "workload.arrivals: about",
        ),
        (
            "[workload]\nkind = \"mutable-puts\"\nputs = 3\n[workload.arrivals]\nrate_per_s = 1\nduration_s = 10\n[lafs]\n",
            "workload.puts: not allowed with [workload.arrivals]",
        ),
        (
            "[workload]\nkind = \"mutable-appends\"\nthink_time_ms = { kind = \"constant\", ms = 5 }\n[workload.arrivals]\nrate_per_s = 1\nduration_s = 10\n[lafs]\n",
            "workload.think_time_ms: load settings",
        ),
        (
            "[workload]\nkind = \"mutable-puts\"\nputs = 3\ndeadline_ms = 100\n[lafs]\n",
            "workload.deadline_ms: only allowed with [workload.arrivals]",
        ),
        (
            "[workload]\nkind = \"backups\"\nfiles = [1]\n[workload.arrivals]\nrate_per_s = 1\nduration_s = 10\n[lafs]\n",
            "workload.arrivals: load settings",
        ),
    ];
    for (body, expected) in cases {
        let message = error(&format!("{BASE}{body}"));
        assert!(message.contains(expected), "expected {expected:?} in {message:?}");
        assert!(message.starts_with("bad.toml:"), "{message}");
    }
}

#[test]
fn a_mixed_workload_runs_open_loop_with_zipf_keys_and_its_history_is_checked() {
    let scenario = scenario(
        r#"
name = "mixed open loop"
[s3]
latency_ms = { kind = "exponential", mean_ms = 20 }
[s3.capacity]
servers = 4
[faults]
kind = "independent"
failure_probability = 0.05
ambiguous_fraction = 0.5
[workload]
kind = "s3-requests"
operation = "mixed"
mix = { get = 0.5, put = 0.3, delete = 0.1, list = 0.1 }
keys = 50
zipf_exponent = 1.2
[workload.arrivals]
rate_per_s = 100
duration_s = 20
[[policies]]
name = "aws-standard"
kind = "aws-standard"
"#,
    );
    let report = run_seed(&scenario, &scenario.policies[0], 3, TraceMode::HashOnly).unwrap();
    // About 2,000 arrivals (Poisson: within 5 standard deviations).
    assert!((1_780..2_230).contains(&report.operations), "{}", report.operations);
    assert_eq!(report.outcomes.len() as u64, report.operations);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    assert!(report.faults_injected > 0);
    let again = run_seed(&scenario, &scenario.policies[0], 3, TraceMode::HashOnly).unwrap();
    assert_eq!(report.trace_hash, again.trace_hash);
}

#[test]
fn load_measures_of_shards_merge_into_the_unsharded_estimate() {
    use retrylab_harness::estimate_state;
    let mut scenario = queue_scenario(400.0, 20, 6, 20.0);
    // A trigger, so recovery is measured and merged too.
    scenario.s3.capacity.as_mut().unwrap().slowdowns = vec![retrylab_load::Slowdown {
        start: std::time::Duration::from_secs(8),
        end: std::time::Duration::from_secs(10),
        service_time_factor: 5.0,
    }];
    let options = |first_seed, seeds| EstimateOptions { seeds, first_seed, ..EstimateOptions::default() };
    let whole = estimate_state(&scenario, &options(0, 4), &|| {}).unwrap().finish(&scenario);
    let mut merged = estimate_state(&scenario, &options(0, 1), &|| {}).unwrap();
    merged.merge(estimate_state(&scenario, &options(1, 3), &|| {}).unwrap()).unwrap();
    let merged = merged.finish(&scenario);
    let load = whole.policies[0].load.clone().expect("load measures");
    assert_eq!(load.seeds_judged, 4);
    assert_eq!(merged.policies[0].load, Some(load));
    assert_eq!(merged, whole);
}

/// One gateway overwriting a mutable file under open-loop puts and reads,
/// with the storage server reading through `read_check`.
fn grid_open_loop(read_check: &str) -> Scenario {
    scenario(&format!(
        r#"
name = "grid open loop"
[s3]
consistency = "eventual"
eventual_window_ms = 3000
latency_ms = {{ kind = "normal", mean_ms = 60, std_dev_ms = 10 }}
[workload]
kind = "mutable-puts"
reads_per_write = 1
deadline_ms = 2000
[workload.arrivals]
rate_per_s = 4
duration_s = 15
[lafs]
shares_needed = 1
shares_total = 1
servers_of_happiness = 1
servers = 1
[lafs.design]
read_check = "{read_check}"
[[policies]]
name = "none"
kind = "none"
"#
    ))
}

#[test]
fn open_loop_puts_and_reads_on_the_grid_are_checked_and_replay() {
    let safe = grid_open_loop("listed-etag");
    let written = to_toml(&safe);
    assert_eq!(parse(&written, Path::new("load-test.toml")).unwrap(), safe, "{written}");
    let policy = &safe.policies[0];
    let report = run_seed(&safe, policy, 5, TraceMode::HashOnly).unwrap();
    // About 60 arrivals (Poisson: within 4 standard deviations), each one operation.
    assert!((30..95).contains(&report.operations), "{}", report.operations);
    assert_eq!(report.outcomes.len() as u64, report.operations);
    assert!(report.violations.is_empty(), "{:?}", report.violations);
    let load = report.load.as_ref().expect("an open loop measures its load");
    assert_eq!(load.series.offered.iter().sum::<u64>(), report.operations);
    let again = run_seed(&safe, policy, 5, TraceMode::HashOnly).unwrap();
    assert_eq!(report.trace_hash, again.trace_hash);
    // The same arrivals with a server that trusts a stale GET: reads that
    // overlap puts must catch it on some seed.
    let stale = grid_open_loop("trust-get");
    let caught = (0..6).any(|seed| {
        let report = run_seed(&stale, &stale.policies[0], seed, TraceMode::HashOnly).unwrap();
        report.violations.iter().any(|v| v.invariant == "stale-read")
    });
    assert!(caught, "a stale GET under open-loop reads went unnoticed");
}
