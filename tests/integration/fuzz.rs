//! Fuzzing scenario files end to end: every shipped scenario with one field
//! mutated (extreme numbers, other types, huge arrays), cut short, or with
//! random bytes in it is loaded and, when it loads, run for one seed with
//! its workload shrunk and small limits. Nothing may panic, and every
//! refusal is one line naming the file, line and field.
//!
//! The cases come from a fixed seed, so a red run replays exactly. For a
//! wider sweep with fresh cases (docs/bug-finding.md):
//! `RETRYLAB_FUZZ_CASES=5000 RETRYLAB_FUZZ_SEED=random cargo test --test integration fuzz`
//! (`RETRYLAB_FUZZ_SEED=<n>` replays the sweep of seed n).

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner};
use retrylab_harness::{run_seed, RunError, TraceMode};
use retrylab_scenario::{bounds, parse, ErrorKind, S3Operation, Scenario, ScenarioError, ShareLayout, Workload};

/// Cases in `cargo test` (about 3 s); `RETRYLAB_FUZZ_CASES` overrides.
const CASES_DEFAULT: u32 = 500;
/// The fixed seed of `cargo test`; `RETRYLAB_FUZZ_SEED` overrides.
const SEED_DEFAULT: u64 = 0x9_f022;

/// Values that reach the loader's edges: zero, negatives, the largest and
/// smallest floats, NaN, integers at and past TOML's range, and other types.
const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1",
    "0.5",
    "-0.0",
    "1e308",
    "-1e308",
    "1e-320",
    "1e19",
    "1e12",
    "nan",
    "inf",
    "-inf",
    "9223372036854775807",
    "-9223372036854775808",
    "1000000000000",
    "4294967296",
    "255",
    "256",
    "0.001",
    "\"\"",
    "\"x\"",
    "\"gateway.99\"",
    "true",
    "false",
    "[]",
    "[[]]",
    "[0]",
    "[-1]",
    "[1000000000000]",
    "{}",
    "{ kind = \"none\" }",
    "{ kind = \"constant\", ms = 1e308 }",
    "1979-05-27T07:32:00Z",
];

#[derive(Clone, Debug)]
pub(crate) enum Mutation {
    /// The value of the n-th `key = value` line becomes `TOKENS[token]`.
    Value { line: usize, token: usize },
    /// The number of the n-th `key = value` line is multiplied by `factor`
    /// (kept whole when it was): mostly values still in range, so that many
    /// cases load and run.
    Scale { line: usize, factor: f64 },
    /// The value of the n-th `key = value` line becomes an array of `len` ones.
    HugeArray { line: usize, len: usize },
    /// The file is cut at byte `at` (at a character boundary).
    Truncate { at: usize },
    /// `bytes` (made valid UTF-8) are inserted at byte `at`.
    RandomBytes { at: usize, bytes: Vec<u8> },
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => (any::<usize>(), any::<usize>()).prop_map(|(line, token)| Mutation::Value { line, token }),
        6 => (any::<usize>(), prop::sample::select(vec![0.0, 0.1, 0.5, 2.0, 3.0, 10.0, 1000.0]))
            .prop_map(|(line, factor)| Mutation::Scale { line, factor }),
        1 => (any::<usize>(), prop_oneof![1..100usize, 10_000..200_000usize])
            .prop_map(|(line, len)| Mutation::HugeArray { line, len }),
        1 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::RandomBytes { at, bytes }),
    ]
}

fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// `text` with the value of its n-th (mod count) `key = value` line
/// replaced by what `new_value` makes of the old one.
fn replace_value(text: &str, line: usize, new_value: impl Fn(&str) -> String) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let assignments: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(" = ")).collect();
    let Some(&target) = assignments.get(line % assignments.len().max(1)) else { return text.to_owned() };
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    if let Some((key, value)) = lines[target].split_once(" = ") {
        out[target] = format!("{key} = {}", new_value(value));
    }
    out.join("\n")
}

/// `value` (a TOML number, perhaps with a comment after it) times `factor`.
fn scaled(value: &str, factor: f64) -> String {
    let number = value.split('#').next().unwrap_or("").trim().replace('_', "");
    if let Ok(whole) = number.parse::<i64>() {
        return format!("{}", (whole as f64 * factor).round() as i64);
    }
    match number.parse::<f64>() {
        Ok(float) => format!("{:?}", float * factor),
        Err(_) => value.to_owned(),
    }
}

pub(crate) fn apply(text: &str, mutation: &Mutation) -> String {
    match mutation {
        Mutation::Value { line, token } => replace_value(text, *line, |_| TOKENS[token % TOKENS.len()].to_owned()),
        Mutation::Scale { line, factor } => replace_value(text, *line, |value| scaled(value, *factor)),
        Mutation::HugeArray { line, len } => {
            replace_value(text, *line, |_| format!("[{}]", vec!["1"; *len].join(", ")))
        }
        Mutation::Truncate { at } => text[..floor_boundary(text, *at)].to_owned(),
        Mutation::RandomBytes { at, bytes } => {
            let at = floor_boundary(text, *at);
            format!("{}{}{}", &text[..at], String::from_utf8_lossy(bytes), &text[at..])
        }
    }
}

/// `scenario` cut to a run of a fraction of a second of wall time: a few
/// operations, at most four gateways (more when a disruption names one),
/// small bodies, and limits of 20,000 events and 20,000 simulated seconds.
fn shrunk(mut scenario: Scenario) -> Scenario {
    let cap = |value: &mut u64, max: u64| *value = (*value).min(max);
    match &mut scenario.workload {
        Workload::S3Requests { operations, object_bytes, keys, clients, operation } => {
            cap(operations, 40);
            cap(object_bytes, 4096);
            cap(clients, 8);
            if !matches!(operation, S3Operation::Mixed(_)) {
                cap(keys, 40);
            }
        }
        Workload::MutablePuts { puts, line_bytes, reads_per_write } => {
            cap(puts, 4);
            cap(line_bytes, 2000);
            cap(reads_per_write, 1);
        }
        Workload::MutableAppends { appends, reads_per_write, writers_per_file } => {
            cap(appends, 4);
            cap(reads_per_write, 1);
            cap(writers_per_file, 4);
        }
        Workload::Backups { files, file_bytes_step } => {
            files.truncate(2);
            files.iter_mut().for_each(|count| cap(count, 4));
            cap(file_bytes_step, 2000);
        }
    }
    let named_gateways = scenario
        .disruptions
        .crashes
        .iter()
        .map(|crash| crash.node)
        .chain(scenario.disruptions.partitions.iter().flat_map(|p| p.side_a.iter().chain(&p.side_b).copied()))
        .filter_map(|node| match node {
            retrylab_faults::GridNode::Gateway(g) => Some(g + 1),
            retrylab_faults::GridNode::StorageServer(_) => None,
        })
        .max()
        .unwrap_or(0);
    if let Some(lafs) = &mut scenario.lafs {
        lafs.gateways = lafs.gateways.min(4.max(named_gateways));
        if let ShareLayout::Chunked { chunk_bytes } = &mut lafs.design.share_layout {
            *chunk_bytes = (*chunk_bytes).max(256);
        }
    }
    scenario.limits.events_max = scenario.limits.events_max.min(20_000);
    scenario.limits.simulated_time_max = scenario.limits.simulated_time_max.min(Duration::from_secs(20_000));
    scenario
}

/// What an accepted file may ask of memory and time is bounded (the runs
/// below are shrunk, so the bounds themselves are checked here).
fn assert_within_bounds(scenario: &Scenario) {
    let stored = bounds::stored_bytes(&scenario.workload, scenario.lafs.as_ref());
    assert!(stored <= u128::from(bounds::STORED_BYTES_MAX), "{stored} bytes stored");
    let records = u128::from(scenario.seeds_default) * u128::from(scenario.operations_per_run());
    assert!(records <= u128::from(bounds::OPERATION_RECORDS_MAX), "{records} operation records");
    assert!(scenario.limits.simulated_time_max <= Duration::from_secs(bounds::SIMULATED_TIME_S_MAX_CEILING));
    assert!(scenario.limits.events_max <= bounds::EVENTS_MAX_CEILING);
}

/// A refusal is one line naming the file, the line and the field.
fn check_refusal(err: &ScenarioError, source: &str, path: &Path) -> Result<(), TestCaseError> {
    let rendered = err.to_string();
    prop_assert!(!rendered.contains('\n'), "{}", rendered);
    prop_assert!(rendered.starts_with(&format!("{}:", path.display())), "{}", rendered);
    prop_assert!(!err.message().is_empty(), "{}", rendered);
    let line = err.line();
    prop_assert!(line.is_some_and(|line| line >= 1 && line <= source.lines().count() + 1), "{}", rendered);
    // A syntax error names the key of its line when that can be told for
    // sure (a bare key under a plain header); every other refusal does.
    if err.kind() != ErrorKind::Syntax {
        prop_assert!(err.field().is_some(), "{}", rendered);
    }
    Ok(())
}

/// Loads `source`; when it loads, runs one seed of it shrunk. No panic
/// anywhere; a run ends finished or at a limit, never in a caught panic.
/// `Ok(true)`: it loaded and ran.
fn check_case(source: &str, path: &Path, seed: u64) -> Result<bool, TestCaseError> {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let scenario = match parse(source, path) {
            Ok(scenario) => scenario,
            Err(err) => return Err(err),
        };
        assert_within_bounds(&scenario);
        let scenario = shrunk(scenario);
        let policy = &scenario.policies[(seed % scenario.policies.len() as u64) as usize];
        Ok(run_seed(&scenario, policy, seed, TraceMode::HashOnly))
    }));
    match outcome {
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(TestCaseError::fail(format!("panicked: {message}")))
        }
        Ok(Err(err)) => check_refusal(&err, source, path).map(|()| false),
        Ok(Ok(
            Ok(_) | Err(RunError::TimeLimit { .. } | RunError::EventLimit { .. } | RunError::WallTimeLimit { .. }),
        )) => Ok(true),
        Ok(Ok(Err(err @ RunError::Panicked { .. }))) => Err(TestCaseError::fail(err.to_string())),
    }
}

pub(crate) fn shipped_scenarios() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display())) {
            let path = entry.unwrap_or_else(|err| panic!("{}: {err}", dir.display())).path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "toml") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("sim-scenarios"), &mut found);
    found.sort();
    found
}

/// The sweep's size and seed: fixed unless the environment asks otherwise.
// Reading the environment is the test's own configuration, outside any simulated world.
#[allow(clippy::disallowed_methods)]
pub(crate) fn config() -> Config {
    let cases = std::env::var("RETRYLAB_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(CASES_DEFAULT);
    let rng_seed = match std::env::var("RETRYLAB_FUZZ_SEED").ok().as_deref() {
        None => RngSeed::Fixed(SEED_DEFAULT),
        Some("random") => RngSeed::Random,
        Some(seed) => RngSeed::Fixed(seed.parse().unwrap_or_else(|_| panic!("RETRYLAB_FUZZ_SEED: {seed:?}"))),
    };
    Config {
        cases,
        rng_seed,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/fuzz-scenarios.txt"
        )))),
        ..Config::default()
    }
}

#[test]
fn mutated_shipped_scenarios_load_or_are_refused_on_one_line_and_run_without_panicking() {
    let files = shipped_scenarios();
    assert!(files.len() >= 10, "{files:?}");
    let sources: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            // Errors name the file as the user gave it: relative, as the CLI is usually called.
            let relative = path.strip_prefix(env!("CARGO_MANIFEST_DIR")).map(Path::to_path_buf).unwrap_or(path);
            (relative, text)
        })
        .collect();
    let config = config();
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let strategy = (0..sources.len(), mutation(), 0..1_000u64);
    let (tried, ran) = (Cell::new(0u32), Cell::new(0u32));
    let result = runner.run(&strategy, |(file, mutation, seed)| {
        let (path, text) = &sources[file];
        let loaded = check_case(&apply(text, &mutation), path, seed)?;
        tried.set(tried.get() + 1);
        ran.set(ran.get() + u32::from(loaded));
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, (file, mutation, seed))) => {
            panic!("{} with {mutation:?}, seed {seed}: {why}", sources[file].0.display())
        }
        Err(TestError::Abort(why)) => panic!("aborted: {why}"),
    }
    // Not vacuous: many mutations (a value still in range, a comment cut) load and run.
    assert_eq!(tried.get(), cases);
    eprintln!("{} of {cases} mutated files loaded and ran", ran.get());
    assert!(ran.get() >= cases / 5, "only {} of {cases} mutated files loaded and ran", ran.get());
}

/// The unmutated shipped scenarios pass the same check (a baseline: a
/// failure here is not the mutation's doing).
#[test]
fn shipped_scenarios_shrunk_run_without_panicking() {
    for path in shipped_scenarios() {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        match check_case(&text, &path, 1) {
            Ok(true) => {}
            Ok(false) => panic!("{} is refused", path.display()),
            Err(why) => panic!("{}: {why}", path.display()),
        }
    }
}
