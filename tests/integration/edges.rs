//! Issue 9's reproductions at the command line and in the harness, each kept
//! fixed: bounded seeds and jobs, repeated policies, output that could not be
//! written, `--json` errors, `shrink`'s files and quoting, the wall-clock
//! budget, Holm's correction and the notes that keep intervals honest.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use retrylab_faults::{FaultKind, FaultModel, Outage};
use retrylab_harness::{estimate, Check, EstimateOptions, SEEDS_MAX};
use retrylab_retry::PolicyConfig;

use crate::cli::{retrylab, stderr, stdout};
use crate::support::{lab_notebook_10k, put_scenario};

fn shipped(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios").join(path).to_string_lossy().into_owned()
}

fn lab() -> String {
    lab_notebook_10k().to_string_lossy().into_owned()
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("edges").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The lab notebook scenario with `from` replaced by `to`, written to `dir`.
fn lab_with(dir: &Path, from: &str, to: &str) -> String {
    let source = std::fs::read_to_string(lab_notebook_10k()).unwrap();
    assert!(source.contains(from), "{from}");
    let path = dir.join("edited.toml");
    std::fs::write(&path, source.replace(from, to)).unwrap();
    path.to_string_lossy().into_owned()
}

fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| panic!("{error}: {}", stdout(output)))
}

#[test]
fn seeds_past_the_maximum_or_past_the_last_seed_are_refused_naming_the_flag() {
    for command in ["estimate", "explore", "compare"] {
        let output = retrylab(&[command, &lab(), "--seeds", "18446744073709551615"]);
        assert_eq!(output.status.code(), Some(2), "{command}: {}", stderr(&output));
        assert!(stderr(&output).contains("--seeds 18446744073709551615"), "{}", stderr(&output));
        assert!(stderr(&output).contains(&SEEDS_MAX.to_string()), "{}", stderr(&output));
    }
    // F + N past 2^64 used to wrap to an empty range: 0 operations, or "no
    // violations" on a known-bad scenario, with exit status 0.
    let known_bad = shipped("known-bad/replayed-append.toml");
    for (command, scenario) in [("estimate", lab()), ("explore", known_bad)] {
        let output = retrylab(&[command, &scenario, "--first-seed", "18446744073709551615", "--seeds", "2"]);
        assert_eq!(output.status.code(), Some(2), "{command}: {}", stderr(&output));
        let message = stderr(&output);
        assert!(message.contains("--first-seed 18446744073709551615") && message.contains("--seeds 2"), "{message}");
        assert!(message.contains("at most 18446744073709551614"), "{message}");
        assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    }
    // The very last seeds are fine.
    let output = retrylab(&[
        "estimate",
        &lab(),
        "--first-seed",
        "18446744073709551614",
        "--seeds",
        "2",
        "--policy",
        "none",
        "--json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(json(&output)["policies"][0]["operations"], 20_000);
}

#[test]
fn seeds_from_the_scenario_file_are_bounded_too() {
    let dir = scratch("scenario-seeds");
    let scenario = lab_with(&dir, "seeds = 200", "seeds = 1000000000000");
    let output = retrylab(&["estimate", &scenario, "--json"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("seeds"), "{}", stderr(&output));
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
    // Refused by the loader or by the command: either way the file and field.
    let error = json(&output);
    assert_eq!(error["file"], scenario.as_str(), "{error}");
    assert_eq!(error["field"], "seeds", "{error}");
}

#[test]
fn jobs_are_bounded() {
    for jobs in ["100000", "0", "257"] {
        let output = retrylab(&["estimate", &lab(), "--seeds", "1", "--jobs", jobs]);
        assert_eq!(output.status.code(), Some(2), "--jobs {jobs}: {}", stderr(&output));
        assert!(stderr(&output).contains("--jobs"), "{}", stderr(&output));
    }
}

#[test]
fn a_policy_named_twice_is_refused() {
    for command in ["estimate", "explore", "compare"] {
        let output = retrylab(&[command, &lab(), "--seeds", "1", "--policy", "none", "--policy", "none"]);
        assert_eq!(output.status.code(), Some(2), "{command}: {}", stderr(&output));
        assert!(stderr(&output).contains("--policy \"none\" is given twice"), "{}", stderr(&output));
    }
}

#[test]
fn output_that_cannot_be_written_is_an_error_but_a_closed_pipe_is_not() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full exists on Linux");
    let output = Command::new(env!("CARGO_BIN_EXE_retrylab"))
        .args(["run", &lab(), "--seed", "1"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("cannot write the output"), "{}", stderr(&output));
    // A reader that went away (`| head`) ends the command quietly.
    let mut child = Command::new(env!("CARGO_BIN_EXE_retrylab"))
        .args(["run", &lab(), "--seed", "1", "--trace"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
}

#[test]
fn json_callers_get_errors_as_one_json_object_with_the_same_status() {
    let dir = scratch("json-errors");
    // A bad scenario: file, line and field.
    let broken = lab_with(&dir, "bad_failure = 0.6", "bad_failure = 1.6");
    let output = retrylab(&["estimate", &broken, "--json"]);
    assert_eq!(output.status.code(), Some(2));
    let error = json(&output);
    assert_eq!(error["file"], broken.as_str());
    assert!(error["line"].as_u64().unwrap() > 1, "{error}");
    assert_eq!(error["field"], "faults.bad_failure");
    assert_eq!(error["status"], 2);
    assert!(error["error"].as_str().unwrap().contains("faults.bad_failure"), "{error}");
    // A run that hits a limit: the seed.
    let limited = lab_with(&dir, "events_max = 2000000", "events_max = 1000");
    for args in [vec!["run", &limited, "--seed", "3", "--json"], vec!["estimate", &limited, "--seeds", "2", "--json"]] {
        let output = retrylab(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", stderr(&output));
        let error = json(&output);
        assert!(error["error"].as_str().unwrap().contains("events"), "{error}");
        assert!(error["seed"].is_u64(), "{error}");
        assert_eq!(error["status"], 1);
    }
    // Usage errors too, ours and clap's.
    let output = retrylab(&["compare", &lab(), "--seeds", "0", "--json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(json(&output)["error"].as_str().unwrap().contains("--seeds 0"));
    let output = retrylab(&["estimate", &lab(), "--json", "--jobs", "100000"]);
    assert_eq!(output.status.code(), Some(2));
    let error = json(&output);
    assert!(error["error"].as_str().unwrap().contains("--jobs"), "{error}");
    assert_eq!(error["status"], 2);
}

#[test]
fn shrink_numbers_existing_files_refuses_a_file_as_out_and_quotes_its_replay_command() {
    let dir = scratch("shrink");
    // A policy name a shell would split and run.
    let source = std::fs::read_to_string(shipped("known-bad/replayed-append.toml")).unwrap();
    let scenario = dir.join("odd-policy.toml");
    std::fs::write(&scenario, source.replace("name = \"none\"", "name = \"a b; echo x\"")).unwrap();
    let scenario = scenario.to_string_lossy().into_owned();
    let out = dir.join("cases with space");
    let shrink =
        || retrylab(&["shrink", &scenario, "--operations-max", "100", "--out", &out.to_string_lossy(), "--json"]);
    let first = shrink();
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
    let second = shrink();
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    let (first, second) = (json(&first), json(&second));
    let (file_1, file_2) = (first["file"].as_str().unwrap(), second["file"].as_str().unwrap());
    assert_ne!(file_1, file_2, "the second shrink must not overwrite the first");
    assert!(file_2.ends_with("-2.toml"), "{file_2}");
    assert!(Path::new(file_1).is_file() && Path::new(file_2).is_file());
    // The printed command replays the case when a shell runs it.
    let command = second["reproduce"].as_str().unwrap();
    let arguments = command.strip_prefix("retrylab ").unwrap();
    let replay = Command::new("sh")
        .arg("-c")
        .arg(format!("\"$RETRYLAB\" {arguments}"))
        .env("RETRYLAB", env!("CARGO_BIN_EXE_retrylab"))
        .output()
        .unwrap();
    assert_eq!(replay.status.code(), Some(1), "{command}: {}", stderr(&replay));
    assert!(stdout(&replay).contains("policy      a b; echo x"), "{}", stdout(&replay));
    assert!(stdout(&replay).contains("append-duplicated"), "{}", stdout(&replay));
    // --out naming a regular file: a clear usage error.
    let output = retrylab(&["shrink", &scenario, "--out", file_1]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("is a file, not a directory"), "{}", stderr(&output));
}

#[test]
fn a_wall_clock_budget_stops_a_run_and_names_its_seed() {
    // A grid workload of 10,000 puts takes seconds; a 50 ms budget stops it.
    let slow = shipped("lab-notebook/expt03-mutable-put-10k.toml");
    let output = retrylab(&["run", &slow, "--seed", "4", "--timeout", "0.05"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("seed 4") && message.contains("wall-clock budget"), "{message}");
    for command in ["estimate", "compare"] {
        let output = retrylab(&[command, &slow, "--seeds", "1", "--first-seed", "9", "--timeout", "0.05", "--json"]);
        assert_eq!(output.status.code(), Some(1), "{command}: {}", stderr(&output));
        assert_eq!(json(&output)["seed"], 9);
    }
    let output = retrylab(&["explore", &slow, "--seeds", "1", "--policy", "none", "--timeout", "0.05", "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let exploration = json(&output);
    assert_eq!(exploration["violations"][0]["invariant"], "run-did-not-finish");
    for bad in ["0", "-1", "nan", "1e9"] {
        let output = retrylab(&["run", &slow, "--seed", "1", "--timeout", bad]);
        assert_eq!(output.status.code(), Some(2), "--timeout {bad}");
    }
    // A generous budget changes nothing.
    let plain = retrylab(&["run", &lab(), "--seed", "2"]);
    let budgeted = retrylab(&["run", &lab(), "--seed", "2", "--timeout", "600"]);
    assert_eq!(plain.stdout, budgeted.stdout);
}

#[test]
fn compare_applies_holm_s_correction_and_says_so() {
    let output = retrylab(&["compare", &lab(), "--seeds", "3"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("Holm's correction over the 3 pairs"), "{text}");
    assert!(text.contains("raw p = ") && text.contains("adjusted p = "), "{text}");
    let output = retrylab(&["compare", &lab(), "--seeds", "3", "--json"]);
    let value = json(&output);
    assert_eq!(value["p_value_correction"], "holm");
    let pairs = value["pairs"].as_array().unwrap();
    let raw: Vec<f64> = pairs.iter().map(|p| p["p_value_raw"].as_f64().unwrap()).collect();
    let adjusted: Vec<f64> = pairs.iter().map(|p| p["p_value"].as_f64().unwrap()).collect();
    assert_eq!(adjusted, retrylab_stats::holm(&raw));
    for (pair, p) in pairs.iter().zip(&adjusted) {
        assert_eq!(pair["significant"], *p < retrylab_harness::SIGNIFICANCE, "{pair}");
    }
}

#[test]
fn a_fixed_outage_on_every_seed_is_noted_beside_the_interval() {
    let outage = Outage { start_ms: 1_000, end_ms: 3_000, kind: FaultKind::InternalError };
    let faults = FaultModel { outages: vec![outage], ..FaultModel::independent(0.01) };
    let scenario = put_scenario(faults, vec![("none", PolicyConfig::None)], 100);
    let options = EstimateOptions { seeds: 4, ..EstimateOptions::default() };
    let result = estimate(&scenario, &options, &|| {}).unwrap();
    assert_eq!(result.notes.len(), 1, "{:?}", result.notes);
    assert!(result.notes[0].contains("faults.outages") && result.notes[0].contains("seeds' noise"));
    // Swarm mode draws each seed's own faults: no such note.
    let swarm = estimate(&scenario, &EstimateOptions { swarm: true, ..options.clone() }, &|| {}).unwrap();
    assert!(swarm.notes.is_empty(), "{:?}", swarm.notes);
    let plain = put_scenario(FaultModel::independent(0.01), vec![("none", PolicyConfig::None)], 100);
    assert!(estimate(&plain, &options, &|| {}).unwrap().notes.is_empty());
}

#[test]
fn a_check_without_its_sequential_test_says_so() {
    let scenario = put_scenario(FaultModel::independent(0.0), vec![("none", PolicyConfig::None)], 20);
    // At 50% confidence the test's two error rates add up to 1: Wald's
    // test cannot be built, and every seed runs.
    let verdict = Check::from_scenario(scenario.clone()).seeds(300).confidence(0.5).target_success(0.9).run();
    assert!(!verdict.stopped_early);
    assert_eq!(verdict.seeds_used, 300);
    assert!(verdict.notes.iter().any(|note| note.contains("sequential test could not be set up")), "{verdict}");
    assert!(verdict.to_string().contains("Note: the sequential test"), "{verdict}");
    // With it, the same check stops early and has nothing to note.
    let verdict = Check::from_scenario(scenario).seeds(300).confidence(0.99).target_success(0.9).run();
    assert!(verdict.stopped_early, "{verdict}");
    assert!(verdict.notes.is_empty(), "{:?}", verdict.notes);
}

#[test]
fn check_seed_ranges_do_not_wrap() {
    let scenario = put_scenario(FaultModel::independent(0.0), vec![("none", PolicyConfig::None)], 5);
    let error = Check::from_scenario(scenario.clone()).first_seed(u64::MAX).seeds(2).evaluate().unwrap_err();
    assert!(error.to_string().contains("past the last seed"), "{error}");
    let verdict = Check::from_scenario(scenario).first_seed(u64::MAX - 1).seeds(2).evaluate().unwrap();
    assert_eq!(verdict.seeds_used, 2);
    assert!(verdict.invariants_held());
}

/// A wall-clock budget measures real time even though madsim answers every
/// clock read inside a world with simulated time: a world that lives a
/// simulated century in a moment is not stopped by an hour's budget (a
/// budget that read `Instant::now` inside the world once stopped runs whose
/// simulated time passed the machine's uptime).
#[test]
fn a_wall_clock_budget_counts_real_time_not_simulated_time() {
    let budget = retrylab_harness::RunTimeout::seconds(3600.0).unwrap();
    let mut config = retrylab_sim::WorldConfig::new(1);
    config.limits.simulated_time_max = std::time::Duration::from_secs(200 * 365 * 24 * 3600);
    config.wall_budget = Some(budget.start());
    let run = retrylab_sim::run(&config, |world| async move {
        let node = world.net().add_node("client");
        for i in 0..4096u64 {
            madsim::time::sleep(std::time::Duration::from_secs(24 * 3600)).await;
            world.trace().record(node, retrylab_sim::EventKind::Note { what: "day", value: i });
        }
    });
    let run = run.expect("an hour's budget does not stop a run that takes a moment");
    assert!(run.elapsed >= std::time::Duration::from_secs(4096 * 24 * 3600));
}
