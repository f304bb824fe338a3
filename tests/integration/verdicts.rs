//! Verdicts count corruption: `Check`, `estimate` and `compare` fail on a
//! broken invariant whatever the success rate, and name the invariant, the
//! seed and the replay command.

use std::path::{Path, PathBuf};

use retrylab_harness::Check;

use crate::cli::{retrylab, stderr, stdout};

fn shipped(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios").join(path)
}

fn replayed_append() -> PathBuf {
    shipped("known-bad/replayed-append.toml")
}

fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {}", stdout(output)))
}

/// The replayed-append design with a second policy that retries S3 errors
/// eight times, so its gateway never sees the 500 it would replay: one
/// corrupting policy beside a clean one, on the same seeds.
fn corrupting_and_clean_policies() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verdicts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("replayed-append-two-policies.toml");
    let mut text = std::fs::read_to_string(replayed_append()).unwrap();
    text.push_str("\n[[policies]]\nname = \"immediate-8\"\nkind = \"immediate\"\nretries = 8\n");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_fails_a_corrupting_design_even_with_a_target_of_zero() {
    let verdict = Check::scenario(replayed_append()).seeds(100).target_success(0.0).evaluate().unwrap();
    assert!(!verdict.passed, "{verdict}");
    assert!(!verdict.invariants_held());
    assert!(verdict.invariants.violations_by_invariant["append-duplicated"] > 0, "{verdict}");
    let example = verdict.invariants.violation_example.clone().expect("a violation to replay");
    let message = verdict.to_string();
    let replay = format!("retrylab run {} --seed {} --policy none", replayed_append().display(), example.seed);
    assert_eq!(example.reproduce, replay);
    assert!(message.contains("append-duplicated"), "{message}");
    assert!(message.contains(&format!("seed {}", example.seed)), "{message}");
    assert!(message.contains(&replay), "{message}");
    // `run` panics with the same message, for #[test] functions.
    let panic = std::panic::catch_unwind(|| Check::scenario(replayed_append()).seeds(100).target_success(0.0).run());
    let panic = panic.unwrap_err().downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(panic.contains("append-duplicated") && panic.contains("retrylab run"), "{panic}");
    // The replay command does replay the violation.
    let seed = example.seed.to_string();
    let replayed = retrylab(&["run", &replayed_append().to_string_lossy(), "--seed", &seed, "--policy", "none"]);
    assert_eq!(replayed.status.code(), Some(1), "{}", stderr(&replayed));
    assert!(stdout(&replayed).contains("append-duplicated"), "{}", stdout(&replayed));
}

#[test]
fn check_fails_on_a_violation_whatever_the_success_rate_and_stops_at_once() {
    // The success rate (about 88%) clears a 50% target; the violations do not.
    let verdict = Check::scenario(replayed_append()).seeds(1000).target_success(0.5).evaluate().unwrap();
    assert!(verdict.success_lower_bound >= 0.5, "{verdict}");
    assert!(!verdict.passed, "{verdict}");
    let message = verdict.to_string();
    assert!(message.contains("at or above the target 0.5"), "{message}");
    assert!(message.contains("FAILED") && message.contains("append-duplicated"), "{message}");
    // A violation decides the check: it ends after the first batch.
    assert!(verdict.stopped_early && verdict.seeds_used == 100, "{verdict}");
    assert_eq!(verdict.invariants.violations, verdict.invariants.violations_by_invariant.values().sum::<u64>());
    assert!(verdict.invariants.seeds_with_violations <= verdict.seeds_used);
}

#[test]
fn an_invariants_only_check_of_the_safe_design_runs_every_seed_and_passes() {
    let verdict = Check::scenario(shipped("policies/mutable-bursty.toml"))
        .policy("aws-standard")
        .seeds(150)
        .target_success(0.0)
        .evaluate()
        .unwrap();
    assert!(verdict.passed, "{verdict}");
    assert!(verdict.invariants_held() && verdict.invariants.violation_example.is_none());
    // With a target of 0 no success rate settles the question: no early stop.
    assert!(!verdict.stopped_early && verdict.seeds_used == 150, "{verdict}");
    // No violation in 150 seeds: at most ln(100) / 150 (about 3%) of seeds break one, at 99%.
    let bound = verdict.seeds_with_violations_upper_bound;
    assert!((0.029..0.032).contains(&bound), "{bound}");
    assert!(verdict.to_string().contains("No invariant broken on 150 seeds"), "{verdict}");
    // With a target the sequential test can settle early; `stop_early(false)`
    // keeps the checkers running over every seed.
    let check = || Check::scenario(shipped("policies/mutable-bursty.toml")).policy("aws-standard").seeds(150);
    let early = check().target_success(0.5).evaluate().unwrap();
    assert!(early.passed && early.stopped_early && early.seeds_used == 100, "{early}");
    let every = check().target_success(0.5).stop_early(false).evaluate().unwrap();
    assert!(every.passed && !every.stopped_early && every.seeds_used == 150, "{every}");
    // A target of 1 or more can never be met; below 0 means nothing.
    for target in [1.0, -0.1, f64::NAN] {
        assert!(Check::scenario(shipped("policies/mutable-bursty.toml")).target_success(target).evaluate().is_err());
    }
}

#[test]
fn estimate_on_a_corrupting_design_reports_violations_and_exits_1() {
    let scenario = replayed_append().to_string_lossy().into_owned();
    let output = retrylab(&["estimate", &scenario, "--seeds", "20", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("invariant violations under none"), "{}", stderr(&output));
    let value = json(&output);
    let policy = &value["policies"][0];
    let violations = policy["violations"].as_u64().unwrap();
    let seeds_with = policy["seeds_with_violations"].as_u64().unwrap();
    assert!(violations >= seeds_with && seeds_with > 0 && seeds_with <= 20, "{policy}");
    assert_eq!(policy["violations_by_invariant"]["append-duplicated"].as_u64(), Some(violations));
    let example = &policy["violation_example"];
    assert_eq!(example["invariant"], "append-duplicated");
    assert_eq!(example["policy"], "none");
    let seed = example["seed"].as_u64().unwrap();
    assert_eq!(example["reproduce"], format!("retrylab run {scenario} --seed {seed} --policy none"));

    let human = retrylab(&["estimate", &scenario, "--seeds", "20"]);
    assert_eq!(human.status.code(), Some(1), "{}", stderr(&human));
    let text = stdout(&human);
    let line = format!(
        "none: {violations} violations on {seeds_with} of 20 seeds ({violations} x append-duplicated); \
         replay: retrylab run {scenario} --seed {seed} --policy none"
    );
    assert!(text.contains(&line), "{text}\nlacks\n{line}");
}

#[test]
fn estimate_on_a_clean_scenario_reports_no_violation_and_exits_0() {
    let scenario = shipped("policies/mutable-bursty.toml").to_string_lossy().into_owned();
    let args = ["estimate", &scenario, "--seeds", "20", "--policy", "aws-standard", "--policy", "none"];
    let output = retrylab(&[&args[..], &["--json"]].concat());
    assert!(output.status.success(), "{}", stderr(&output));
    for policy in json(&output)["policies"].as_array().unwrap() {
        assert_eq!(policy["violations"], 0, "{policy}");
        assert_eq!(policy["seeds_with_violations"], 0, "{policy}");
        assert_eq!(policy["violations_by_invariant"], serde_json::json!({}), "{policy}");
        assert!(policy["violation_example"].is_null(), "{policy}");
    }
    let human = retrylab(&args);
    assert!(human.status.success(), "{}", stderr(&human));
    assert!(stdout(&human).contains("invariants: no violation on any seed of any policy"), "{}", stdout(&human));
}

#[test]
fn compare_never_names_a_corrupting_policy_best() {
    let scenario = corrupting_and_clean_policies();
    let scenario = scenario.to_string_lossy();
    let output = retrylab(&["compare", &scenario, "--seeds", "40", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let value = json(&output);
    let policies = value["policies"].as_array().unwrap();
    let by_name = |name: &str| policies.iter().find(|p| p["policy"] == name).unwrap().clone();
    let (none, retrying) = (by_name("none"), by_name("immediate-8"));
    assert!(none["violations"].as_u64().unwrap() > 0, "{none}");
    assert_eq!(retrying["violations"], 0, "{retrying}");
    // Without retries "none" sends the fewest requests: it would be the best
    // on attempts per operation if corruption did not rule it out.
    assert!(none["attempts_per_op"].as_f64() < retrying["attempts_per_op"].as_f64(), "{none}\n{retrying}");
    assert_eq!(value["best_excludes"], serde_json::json!(["none"]));
    let best = value["best"].as_array().unwrap();
    assert_eq!(best.len(), 5, "{best:?}");
    assert!(best.iter().all(|b| b["policy"] == "immediate-8"), "{best:?}");

    let human = retrylab(&["compare", &scenario, "--seeds", "40"]);
    assert_eq!(human.status.code(), Some(1), "{}", stderr(&human));
    let text = stdout(&human);
    assert!(text.contains("best (among the policies that broke no invariant; left out: none):"), "{text}");
    assert!(text.contains("attempts_per_op  immediate-8"), "{text}");
}
