//! Shards merged exactly: `--shard K/N` parts put together by `retrylab merge`
//! print what one machine running every seed prints, human and JSON, and
//! parts that do not belong together are refused.

use std::path::{Path, PathBuf};
use std::process::Output;

use retrylab_harness::{estimate, estimate_state, EstimateOptions};

use crate::cli::{retrylab, stderr, stdout};

/// Violations on 9 of 14 seeds, one policy.
const KNOWN_BAD: &str = "sim-scenarios/known-bad/replayed-append.toml";
/// No violation; bursty faults (design effect above 1), policies that differ significantly.
const CLEAN: &str = "sim-scenarios/policies/s3-bursty-1.3pct.toml";
const CLEAN_POLICIES: [&str; 4] = ["--policy", "none", "--policy", "retry-once"];

/// A fresh directory for one test's parts.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("retrylab-shards-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn args<'a>(command: &'a str, scenario: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![command, scenario, "--seeds", "14"];
    args.extend_from_slice(extra);
    args
}

/// Runs `retrylab ARGS... --shard K/N --json` for every K, each part to a file.
fn write_parts(dir: &Path, args: &[&str], shards: u64) -> Vec<String> {
    (1..=shards)
        .map(|k| {
            let shard = format!("{k}/{shards}");
            let mut line = args.to_vec();
            line.extend(["--shard", &shard, "--json"]);
            let output = retrylab(&line);
            assert!(output.status.code() == Some(0) || output.status.code() == Some(1), "{}", stderr(&output));
            let path = dir.join(format!("part-{k}-of-{shards}.json"));
            std::fs::write(&path, &output.stdout).unwrap();
            path.to_string_lossy().into_owned()
        })
        .collect()
}

fn merge(parts: &[String], json: bool) -> Output {
    let mut line = vec!["merge"];
    line.extend(parts.iter().map(String::as_str));
    if json {
        line.push("--json");
    }
    retrylab(&line)
}

/// The whole check: for 1, 2 and 7 shards, the merge's JSON (as values and as
/// bytes), its human text and its exit status are the unsharded run's.
/// Returns the unsharded JSON for further assertions.
fn merged_equals_unsharded(name: &str, args: &[&str]) -> serde_json::Value {
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let whole_json = retrylab(&json_args);
    let whole_human = retrylab(args);
    assert!(stdout(&whole_json).starts_with('{'), "{}", stderr(&whole_json));
    let whole_value: serde_json::Value = serde_json::from_slice(&whole_json.stdout).unwrap();
    for shards in [1, 2, 7] {
        let dir = scratch(&format!("{name}-{shards}"));
        let parts = write_parts(&dir, args, shards);
        let merged_json = merge(&parts, true);
        let merged_value: serde_json::Value = serde_json::from_slice(&merged_json.stdout)
            .unwrap_or_else(|error| panic!("{error}: {}", stderr(&merged_json)));
        assert_eq!(merged_value, whole_value, "{name}: {shards} shards, JSON values");
        assert_eq!(stdout(&merged_json), stdout(&whole_json), "{name}: {shards} shards, JSON text");
        assert_eq!(merged_json.status.code(), whole_json.status.code(), "{name}: {shards} shards, status");
        let merged_human = merge(&parts, false);
        assert_eq!(stdout(&merged_human), stdout(&whole_human), "{name}: {shards} shards, human text");
        assert_eq!(merged_human.status.code(), whole_human.status.code());
        let _ = std::fs::remove_dir_all(&dir);
    }
    whole_value
}

#[test]
fn estimate_merges_exactly_with_violations() {
    let whole = merged_equals_unsharded("estimate-bad", &args("estimate", KNOWN_BAD, &[]));
    let policy = &whole["policies"][0];
    assert!(policy["seeds_with_violations"].as_u64().unwrap() > 1, "{policy}");
    // The example is the lowest seed with a violation, not shard 1's seed 0.
    assert_eq!(policy["violation_example"]["seed"], 1);
}

#[test]
fn estimate_merges_exactly_without_violations() {
    let whole = merged_equals_unsharded("estimate-clean", &args("estimate", CLEAN, &CLEAN_POLICIES));
    let policies = whole["policies"].as_array().unwrap();
    assert!(policies.iter().all(|p| p["violations"] == 0));
    // Failures cluster within seeds: the design effect, from per-seed tallies, is above 1.
    assert!(policies.iter().all(|p| p["design_effect"].as_f64().unwrap() > 1.5), "{whole}");
}

#[test]
fn compare_merges_exactly_with_violations() {
    merged_equals_unsharded("compare-bad", &args("compare", KNOWN_BAD, &[]));
}

#[test]
fn compare_merges_exactly_without_violations() {
    let whole = merged_equals_unsharded("compare-clean", &args("compare", CLEAN, &CLEAN_POLICIES));
    let pair = &whole["pairs"][0];
    assert_eq!(pair["seeds_discordant"], 14, "{pair}");
    assert_eq!(pair["significant"], true, "{pair}");
    assert_eq!(whole["best"][0]["policy"], "retry-once");
}

#[test]
fn explore_merges_exactly_with_violations() {
    let whole = merged_equals_unsharded("explore-bad", &args("explore", KNOWN_BAD, &[]));
    assert!(whole["violations"].as_array().unwrap().len() > 1);
}

#[test]
fn explore_merges_exactly_without_violations() {
    let whole = merged_equals_unsharded("explore-clean", &args("explore", CLEAN, &CLEAN_POLICIES));
    assert_eq!(whole["violations"].as_array().unwrap().len(), 0);
}

/// As a user types it: two shards to two files, merged, against the unsharded table.
#[test]
fn two_shards_from_the_command_line_merge_into_the_unsharded_table() {
    let dir = scratch("cli");
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    let scenario = CLEAN;
    for (shard, file) in [("1/2", &a), ("2/2", &b)] {
        let output = retrylab(&["estimate", scenario, "--seeds", "6", "--policy", "none", "--shard", shard, "--json"]);
        assert!(output.status.success(), "{}", stderr(&output));
        std::fs::write(file, &output.stdout).unwrap();
        let part: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        // A part is the shard's normal output (its own seeds) plus the shard and its state.
        assert_eq!(part["seeds"], 3);
        assert_eq!(part["shard"]["seeds"], 6);
        assert_eq!(part["shard"]["command"], "estimate");
        assert!(part["state"]["policies"][0]["latencies_us"].is_array());
    }
    let merged = retrylab(&["merge", a.to_str().unwrap(), b.to_str().unwrap()]);
    let whole = retrylab(&["estimate", scenario, "--seeds", "6", "--policy", "none"]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_eq!(stdout(&merged), stdout(&whole));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Parts that do not split one run are refused, exit status 2, saying why.
#[test]
fn mismatched_parts_are_refused() {
    let dir = scratch("refuse");
    let parts_in = |name: &str, args: &[&str], shards| {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub).unwrap();
        write_parts(&sub, args, shards)
    };
    let two = parts_in("two", &args("estimate", CLEAN, &["--policy", "none"]), 2);
    let refused = |parts: &[&String], expected: &str| {
        let output = merge(&parts.iter().map(|p| (*p).clone()).collect::<Vec<_>>(), false);
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(stderr(&output).contains(expected), "expected {expected:?} in: {}", stderr(&output));
    };
    // A shard twice (overlap) and a shard missing.
    refused(&[&two[0], &two[0]], "shard 1/2 is given twice");
    refused(&[&two[1]], "shard 1/2 is missing");
    // Another split of the same seeds.
    let three = parts_in("three", &args("estimate", CLEAN, &["--policy", "none"]), 3);
    refused(&[&two[0], &three[1], &three[2]], "parts of 2 shards and of 3 shards");
    // Other policies.
    let other_policies = parts_in("policies", &args("estimate", CLEAN, &["--policy", "retry-once"]), 2);
    refused(&[&two[0], &other_policies[1]], "policies [none] against [retry-once]");
    // Another command.
    let compare = parts_in("compare", &args("compare", CLEAN, &["--policy", "none"]), 2);
    refused(&[&two[0], &compare[1]], "it is a part of `compare`, not of `estimate`");
    // Another scenario file.
    let other_scenario = parts_in("scenario", &args("estimate", KNOWN_BAD, &["--policy", "none"]), 2);
    refused(&[&two[0], &other_scenario[1]], "is not the same text as");
    // Another seed range.
    let more_seeds = parts_in("seeds", &args("estimate", CLEAN, &["--policy", "none", "--first-seed", "1"]), 2);
    refused(&[&two[0], &more_seeds[1]], "it splits 14 seeds from 1, the others 14 seeds from 0");
    // An edited scenario text.
    let mut part: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&two[1]).unwrap()).unwrap();
    part["shard"]["scenario_toml"] = serde_json::Value::String("name = \"edited\"".to_owned());
    let edited = dir.join("edited.json");
    std::fs::write(&edited, serde_json::to_string(&part).unwrap()).unwrap();
    let edited = edited.to_string_lossy().into_owned();
    refused(&[&two[0], &edited], "does not match its SHA-256: the part was altered");
    refused(&[&edited, &two[0]], "does not match its SHA-256: the part was altered");
    // A state that holds other seeds than its shard's.
    let mut part: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&two[1]).unwrap()).unwrap();
    part["state"]["first_seed"] = serde_json::json!(8);
    let shifted = dir.join("shifted.json");
    std::fs::write(&shifted, serde_json::to_string(&part).unwrap()).unwrap();
    refused(&[&two[0], &shifted.to_string_lossy().into_owned()], "should hold seeds 7..=13");
    // Not a part at all: the unsharded output, and a run's error object.
    let whole = dir.join("whole.json");
    std::fs::write(&whole, retrylab(&["estimate", CLEAN, "--seeds", "2", "--json"]).stdout).unwrap();
    refused(&[&whole.to_string_lossy().into_owned()], "not a part: it has no \"shard\" object");
    let error = dir.join("error.json");
    std::fs::write(&error, retrylab(&["estimate", CLEAN, "--seeds", "0", "--json"]).stdout).unwrap();
    refused(&[&error.to_string_lossy().into_owned()], "not a part: it holds the error its run ended with");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_shards_are_usage_errors() {
    for (shard, expected) in [
        ("0/4", "JOB_COMPLETION_INDEX + 1"),
        ("5/4", "shards of 4 are 1/4 to 4/4"),
        ("1/0", "the shard count must be 1 to 10000"),
        ("1/10001", "the shard count must be 1 to 10000"),
        ("two/4", "write K/N"),
    ] {
        let output = retrylab(&["estimate", CLEAN, "--seeds", "4", "--shard", shard]);
        assert_eq!(output.status.code(), Some(2), "{shard}");
        assert!(stderr(&output).contains(expected), "{shard}: {}", stderr(&output));
    }
    let output = retrylab(&["explore", CLEAN, "--seeds", "3", "--shard", "1/4", "--json"]);
    assert_eq!(output.status.code(), Some(2));
    let error: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(error["error"].as_str().unwrap().contains("use at most 3 shards"), "{error}");
}

/// The library path: the states of two halves merged finish into the
/// estimate of the whole range, value for value.
#[test]
fn merged_states_finish_into_the_whole_estimate() {
    let scenario = retrylab_scenario::load(Path::new(CLEAN)).unwrap();
    let options = |first_seed, seeds| EstimateOptions {
        seeds,
        first_seed,
        policies: vec!["none".to_owned(), "retry-once".to_owned()],
        ..EstimateOptions::default()
    };
    let mut state = estimate_state(&scenario, &options(3, 4), &|| {}).unwrap();
    state.merge(estimate_state(&scenario, &options(7, 5), &|| {}).unwrap()).unwrap();
    assert_eq!(state.finish(&scenario), estimate(&scenario, &options(3, 9), &|| {}).unwrap());
    // Out of order: refused.
    let mut late = estimate_state(&scenario, &options(7, 5), &|| {}).unwrap();
    let early = estimate_state(&scenario, &options(3, 4), &|| {}).unwrap();
    assert!(late.merge(early).unwrap_err().to_string().contains("starts at seed 3 where seed 12 was expected"));
}

// ---------------------------------------------------------------------------
// The examples in docs/examples/, rendered as their engines would run them.

mod examples {
    use std::collections::BTreeSet;

    use retrylab_cli::{parse_args, Command};
    use retrylab_harness::Shard;
    use yaml_rust2::{Yaml, YamlLoader};

    fn load(file: &str) -> Vec<Yaml> {
        let path = format!("{}/docs/examples/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
        YamlLoader::load_from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    fn text(yaml: &Yaml) -> &str {
        yaml.as_str().unwrap_or_else(|| panic!("not a string: {yaml:?}"))
    }

    /// One command line of a shell script, as the shell would run it.
    struct Line {
        words: Vec<String>,
        /// The file after `>`, if any.
        stdout: Option<String>,
    }

    /// The lines of `script` that run `program`, after joining continued
    /// lines and substituting `vars`; each is cut at `||` and its `>` target kept.
    fn lines_of(script: &str, program: &str, vars: &[(&str, String)]) -> Vec<Line> {
        let mut script = script.replace("\\\n", " ");
        for (name, value) in vars {
            script = script.replace(name, value);
        }
        script
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with(&format!("{program} ")))
            .map(|line| {
                let line = line.split(" || ").next().unwrap_or_default();
                let (command, stdout) = match line.split_once(" > ") {
                    Some((command, target)) => (command, Some(target.trim().to_owned())),
                    None => (line, None),
                };
                assert!(!command.contains('$'), "a variable left unsubstituted: {command}");
                let words = command.split_whitespace().map(|word| word.trim_matches('"').to_owned()).collect();
                Line { words, stdout }
            })
            .collect()
    }

    /// Whether `name` matches `pattern` with at most one `*` (as a shell glob would).
    fn glob_matches(pattern: &str, name: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == name,
            Some((head, tail)) => {
                name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail)
            }
        }
    }

    /// `words` with each glob replaced by the files it matches, in order.
    fn expand(words: &[String], files: &BTreeSet<String>) -> Vec<String> {
        words
            .iter()
            .flat_map(|word| {
                if word.contains('*') {
                    let matched: Vec<String> = files.iter().filter(|f| glob_matches(word, f)).cloned().collect();
                    assert!(!matched.is_empty(), "{word} matches no file");
                    matched
                } else {
                    vec![word.clone()]
                }
            })
            .collect()
    }

    /// A matrix list that must be exactly 1..=N, once each.
    fn one_to_n(list: &Yaml) -> u64 {
        let values: Vec<i64> = list.as_vec().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        let n = values.len() as i64;
        assert_eq!(values, (1..=n).collect::<Vec<_>>(), "the matrix must list 1..=N once each");
        n as u64
    }

    /// The `run` scripts of a job's steps, joined.
    fn scripts(job: &Yaml) -> String {
        job["steps"].as_vec().unwrap().iter().filter_map(|step| step["run"].as_str()).collect::<Vec<_>>().join("\n")
    }

    /// Parses `words` as the binary would and checks it is shard `k` of `n` of a `--json` estimate of an existing scenario.
    fn assert_shard_command(words: &[String], k: u64, n: u64) {
        let cli = parse_args(words).unwrap_or_else(|error| panic!("{words:?}: {error}"));
        let Command::Estimate(args) = cli.command else { panic!("not an estimate: {words:?}") };
        assert_eq!(args.shard, Some(Shard::new(k, n).unwrap()), "{words:?}");
        assert!(args.json, "a part needs --json: {words:?}");
        let scenario = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(&args.scenario);
        assert!(scenario.is_file(), "{} does not exist", args.scenario.display());
    }

    fn assert_merges(words: &[String], parts: &BTreeSet<String>) {
        let cli = parse_args(words).unwrap_or_else(|error| panic!("{words:?}: {error}"));
        let Command::Merge(args) = cli.command else { panic!("not a merge: {words:?}") };
        let merged: BTreeSet<String> = args.parts.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        assert_eq!(merged.len(), args.parts.len(), "a part merged twice: {words:?}");
        assert_eq!(&merged, parts, "the merge must take every part");
    }

    #[test]
    fn github_actions_matrix_runs_every_shard_once_and_merges_every_part() {
        let doc = &load("github-actions-shards.yml")[0];
        let env: Vec<(String, String)> = doc["env"]
            .as_hash()
            .unwrap()
            .iter()
            .map(|(name, value)| (format!("${}", text(name)), text(value).to_owned()))
            .collect();
        let shard_job = &doc["jobs"]["shard"];
        let n = one_to_n(&shard_job["strategy"]["matrix"]["shard"]);
        let upload = shard_job["steps"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|step| step["uses"].as_str().is_some_and(|u| u.starts_with("actions/upload-artifact")))
            .unwrap();
        let (mut artifacts, mut files) = (BTreeSet::new(), BTreeSet::new());
        for k in 1..=n {
            let mut vars: Vec<(&str, String)> =
                vec![("${{ matrix.shard }}", k.to_string()), ("${{ strategy.job-total }}", n.to_string())];
            vars.extend(env.iter().map(|(name, value)| (name.as_str(), value.clone())));
            let lines = lines_of(&scripts(shard_job), "retrylab", &vars);
            assert_eq!(lines.len(), 1, "one retrylab command per shard");
            assert_shard_command(&lines[0].words, k, n);
            let written = lines[0].stdout.clone().expect("the part goes to a file");
            let uploaded = text(&upload["with"]["path"]).replace("${{ matrix.shard }}", &k.to_string());
            assert_eq!(written, uploaded, "shard {k} uploads the file it wrote");
            artifacts.insert(text(&upload["with"]["name"]).replace("${{ matrix.shard }}", &k.to_string()));
            files.insert(written);
        }
        assert_eq!(artifacts.len() as u64, n, "one artifact per shard");
        let merge_job = &doc["jobs"]["merge"];
        let needs: Vec<&str> = merge_job["needs"].as_vec().unwrap().iter().map(text).collect();
        assert!(needs.contains(&"shard"), "the merge waits for every shard");
        let download = merge_job["steps"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|step| step["with"]["pattern"].as_str().is_some())
            .expect("the merge job downloads the parts");
        let pattern = text(&download["with"]["pattern"]);
        assert!(artifacts.iter().all(|name| glob_matches(pattern, name)), "{pattern} must match every part");
        assert_eq!(download["with"]["merge-multiple"].as_bool(), Some(true), "every part in one directory");
        let directory = text(&download["with"]["path"]);
        let downloaded: BTreeSet<String> = files.iter().map(|file| format!("{directory}/{file}")).collect();
        let merges = lines_of(&scripts(merge_job), "retrylab", &[]);
        assert!(!merges.is_empty());
        for line in &merges {
            assert_merges(&expand(&line.words, &downloaded), &downloaded);
        }
    }

    #[test]
    fn kubernetes_indexed_job_runs_shard_index_plus_one_and_merges_every_part() {
        let docs = load("k8s-indexed-job.yml");
        let (shards, merge) = (&docs[0], &docs[1]);
        assert_eq!(text(&shards["spec"]["completionMode"]), "Indexed");
        let n = shards["spec"]["completions"].as_i64().unwrap() as u64;
        let container = &shards["spec"]["template"]["spec"]["containers"][0];
        let script = text(&container["args"][0]);
        let mut files = BTreeSet::new();
        for index in 0..n {
            // Kubernetes sets JOB_COMPLETION_INDEX to 0 ..= completions - 1.
            let vars = [("$((JOB_COMPLETION_INDEX + 1))", (index + 1).to_string())];
            let lines = lines_of(script, "retrylab", &vars);
            assert_eq!(lines.len(), 1);
            assert_shard_command(&lines[0].words, index + 1, n);
            assert!(files.insert(lines[0].stdout.clone().expect("the part goes to a file")), "two pods, one file");
        }
        let merge_script = text(&merge["spec"]["template"]["spec"]["containers"][0]["args"][0]);
        let merges = lines_of(merge_script, "retrylab", &[]);
        assert!(!merges.is_empty());
        for line in &merges {
            assert_merges(&expand(&line.words, &files), &files);
        }
        let claim = |job: &Yaml| {
            text(&job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]).to_owned()
        };
        assert_eq!(claim(shards), claim(merge), "the merge reads the volume the shards wrote");
    }

    #[test]
    fn nextest_partitions_cover_every_partition_once() {
        let doc = &load("github-actions-nextest-partition.yml")[0];
        let job = &doc["jobs"]["tests"];
        let n = one_to_n(&job["strategy"]["matrix"]["partition"]);
        for k in 1..=n {
            let vars = [("${{ matrix.partition }}", k.to_string()), ("${{ strategy.job-total }}", n.to_string())];
            let lines = lines_of(&scripts(job), "cargo", &vars);
            assert_eq!(lines.len(), 1);
            let words = &lines[0].words;
            assert_eq!(words[..3], ["cargo", "nextest", "run"]);
            let partition = words.iter().position(|w| w == "--partition").expect("--partition");
            assert_eq!(words[partition + 1], format!("count:{k}/{n}"));
        }
    }
}
