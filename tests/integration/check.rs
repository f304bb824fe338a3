//! `retrylab check` and `retrylab schema` as users run them: the shipped
//! scenarios pass, a typo gets its hint at its line and column, exit
//! statuses, warnings; the committed JSON Schema is the generated one, the
//! shipped scenarios stay inside it and docs/scenarios.md names every field
//! it knows; and `check` never panics on the fuzz corpus.

use std::cell::Cell;
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use proptest::test_runner::{FileFailurePersistence, TestCaseError, TestError, TestRunner};
use retrylab_scenario::{check_source, json_schema, parse};
use serde_json::Value;

use crate::cli::{retrylab, stderr, stdout};
use crate::fuzz::{apply, config, mutation, shipped_scenarios};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A scratch directory of this test process, removed by the caller.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("retrylab-check-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn shipped_relative() -> Vec<String> {
    shipped_scenarios()
        .iter()
        .map(|path| path.strip_prefix(ROOT).unwrap_or(path).to_string_lossy().into_owned())
        .collect()
}

/// Every shipped scenario loads with no error and no warning: none of them
/// holds a setting that does nothing. (Judged real when one appears: a new
/// warning on a shipped scenario means the scenario or the lint is wrong.)
#[test]
fn every_shipped_scenario_checks_ok_without_warnings() {
    let files = shipped_relative();
    assert!(files.len() >= 20, "{files:?}");
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_retrylab"))
        .args(&args)
        .current_dir(ROOT)
        .output()
        .expect("the retrylab binary runs");
    assert_eq!(output.status.code(), Some(0), "{}{}", stdout(&output), stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), files.len(), "{text}");
    for (line, file) in lines.iter().zip(&files) {
        assert!(line.starts_with(&format!("OK {file} (")), "{line}");
    }
    assert_eq!(stderr(&output), "");
}

#[test]
fn a_typo_gets_did_you_mean_at_its_line_and_column_and_every_unknown_key_is_reported() {
    let dir = scratch("typo");
    let path = dir.join("typo.toml");
    let source = std::fs::read_to_string(Path::new(ROOT).join("sim-scenarios/lab-notebook/s3-10k-requests.toml"))
        .unwrap()
        .replace("bad_mean_s = 8.0", "bad_mena_s = 8.0")
        .replace("operation = \"put\"", "operation = \"put\"\n  clinets = 2")
        .replace("kind = \"none\"", "kind = \"nnoe\"");
    std::fs::write(&path, &source).unwrap();
    let line_of = |prefix: &str| source.lines().position(|l| l.trim_start().starts_with(prefix)).unwrap() + 1;
    let file = path.display().to_string();
    let output = retrylab(&["check", &file]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stdout(&output);
    let expected = [
        format!("{file}:{}:1: faults.bad_mena_s: unknown field `bad_mena_s`", line_of("bad_mena_s")),
        "  hint: did you mean `bad_mean_s`?".to_owned(),
        format!("{file}:{}:3: workload.clinets: unknown field `clinets`", line_of("clinets")),
        "  hint: did you mean `clients`?".to_owned(),
    ];
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..4], expected, "{text}");
    // The unknown policy kind: its value's column, and every valid kind.
    assert!(
        lines[4]
            .starts_with(&format!("{file}:{}:8: policies[0].kind: unknown name \"nnoe\"", line_of("kind = \"nnoe\""))),
        "{text}"
    );
    assert!(
        lines[5].starts_with("  hint: did you mean \"none\"? (one of \"none\", \"immediate\", \"schedule\""),
        "{text}"
    );
    assert_eq!(lines.len(), 6, "{text}");
    assert_eq!(stderr(&output), "error: 3 error(s) in 1 of 1 scenario file(s)\n");

    // --json: the same errors as objects, every field present.
    let output = retrylab(&["check", "--json", &file]);
    assert_eq!(output.status.code(), Some(2));
    let files: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let errors = files[0]["errors"].as_array().unwrap();
    assert_eq!(files[0]["ok"], false);
    assert_eq!(errors.len(), 3);
    assert_eq!(errors[0]["file"], file.as_str());
    assert_eq!(errors[0]["line"], line_of("bad_mena_s"));
    assert_eq!(errors[0]["column"], 1);
    assert_eq!(errors[0]["field"], "faults.bad_mena_s");
    assert_eq!(errors[0]["kind"], "unknown-field");
    assert_eq!(errors[0]["hint"], "did you mean `bad_mean_s`?");
    assert_eq!(files[0]["warnings"], Value::Array(Vec::new()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exit_statuses_and_the_eventual_consistency_warning() {
    let dir = scratch("status");
    let lab = std::fs::read_to_string(Path::new(ROOT).join("sim-scenarios/lab-notebook/s3-10k-requests.toml")).unwrap();
    let eventual = dir.join("eventual.toml");
    let source = lab.replace("consistency = \"strong\"", "consistency = \"eventual\"\neventual_window_ms = 2000");
    std::fs::write(&eventual, &source).unwrap();
    let line = source.lines().position(|l| l.starts_with("consistency")).unwrap() + 1;
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, lab.replace("bad_failure = 0.6", "bad_failure = 1.6")).unwrap();
    let (eventual, broken) = (eventual.display().to_string(), broken.display().to_string());

    // Warnings alone: status 0, the warning located.
    let output = retrylab(&["check", &eventual]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let expected = format!(
        "OK {eventual} (s3-requests put, 10000 operations per run, 3 policies, 200 seeds)\n\
         {eventual}:{line}:1: warning: s3.consistency: \"eventual\" has no effect: an s3-requests put/get workload \
         never reads a key after overwriting it\n"
    );
    assert_eq!(stdout(&output), expected);
    let json: Value = serde_json::from_str(&stdout(&retrylab(&["check", "--json", &eventual]))).unwrap();
    let warning = &json[0]["warnings"][0];
    assert_eq!((warning["field"].as_str(), warning["line"].as_u64()), (Some("s3.consistency"), Some(line as u64)));
    assert_eq!(warning["hint"], Value::Null);
    assert_eq!(json[0]["ok"], true);
    assert_eq!(json[0]["policies"].as_array().map(Vec::len), Some(3));

    // An error in any file: status 2, every file still reported, in order.
    let output = retrylab(&["check", &eventual, &broken]);
    assert_eq!(output.status.code(), Some(2));
    let text = stdout(&output);
    assert!(text.starts_with(&format!("OK {eventual}")), "{text}");
    assert!(
        text.contains(&format!("{broken}:")) && text.contains("faults.bad_failure: must be a probability"),
        "{text}"
    );
    let json: Value = serde_json::from_str(&stdout(&retrylab(&["check", "--json", &eventual, &broken]))).unwrap();
    assert_eq!(json.as_array().map(Vec::len), Some(2));
    assert_eq!((json[0]["ok"].as_bool(), json[1]["ok"].as_bool()), (Some(true), Some(false)));

    // A missing file is an error of its own; no file at all is bad usage.
    let output = retrylab(&["check", "no/such/scenario.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stdout(&output).starts_with("no/such/scenario.toml: cannot read the file"), "{}", stdout(&output));
    assert_eq!(retrylab(&["check"]).status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The run commands print the lint's warnings too (the existing
/// `warning:` lines): a new kind of warning reaches `estimate` and its JSON.
#[test]
fn estimate_prints_the_lint_warnings_on_stderr_and_in_json() {
    let dir = scratch("estimate");
    let path = dir.join("keys.toml");
    let source = std::fs::read_to_string(Path::new(ROOT).join("sim-scenarios/lab-notebook/s3-10k-requests.toml"))
        .unwrap()
        .replace("operations = 10000", "operations = 5")
        .replace("keys = 1", "keys = 8");
    std::fs::write(&path, source).unwrap();
    let file = path.display().to_string();
    let expected = "workload.keys: 8 keys but 5 operations: the operations cycle over the keys, so keys past the 5th \
                    are never used";
    let output = retrylab(&["estimate", &file, "--seeds", "2", "--policy", "none"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), format!("warning: {expected}\n"));
    let output = retrylab(&["estimate", &file, "--seeds", "2", "--policy", "none", "--json"]);
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["warnings"], serde_json::json!([expected]));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn committed_schema() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("docs/scenario.schema.json")).unwrap()
}

#[test]
fn the_committed_json_schema_is_the_generated_one() {
    assert!(
        committed_schema() == json_schema(),
        "docs/scenario.schema.json is not what `retrylab schema` prints: the scenario format changed. \
         Regenerate it with `cargo run --release -- schema > docs/scenario.schema.json` and commit it."
    );
    let output = retrylab(&["schema"]);
    assert!(output.status.success());
    assert_eq!(stdout(&output), json_schema());
}

/// The JSON Schema's definitions and the schema of the property `name` of `schema`.
struct Schema {
    root: Value,
}

impl Schema {
    fn committed() -> Self {
        Schema { root: serde_json::from_str(&committed_schema()).unwrap() }
    }

    /// `schema` with `$ref` and one-element `allOf` followed.
    fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        loop {
            if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
                let name = reference.trim_start_matches("#/definitions/");
                schema = &self.root["definitions"][name];
            } else if let Some([only]) = schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
                schema = only;
            } else {
                return schema;
            }
        }
    }

    /// Every key of `value` is a property of `schema` and every name one it allows.
    fn validate(&self, schema: &Value, value: &toml::Value, at: &str, problems: &mut Vec<String>) {
        let schema = self.resolve(schema);
        match value {
            toml::Value::Table(table) => {
                let properties = schema["properties"].as_object();
                for (key, child) in table {
                    match properties.and_then(|p| p.get(key)) {
                        Some(property) => self.validate(property, child, &format!("{at}.{key}"), problems),
                        None => problems.push(format!("{at}.{key}: not in the schema")),
                    }
                }
                for required in schema["required"].as_array().into_iter().flatten() {
                    if !table.contains_key(required.as_str().unwrap_or("")) {
                        problems.push(format!("{at}: lacks {required}"));
                    }
                }
            }
            toml::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.validate(&schema["items"], item, &format!("{at}[{i}]"), problems);
                }
            }
            toml::Value::String(text) => {
                if let Some(names) = schema["enum"].as_array() {
                    if !names.iter().any(|name| name == text) {
                        problems.push(format!("{at}: \"{text}\" is not one of {names:?}"));
                    }
                }
            }
            _ => {}
        }
    }

    /// Every property name at any depth.
    fn property_names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let definitions = self.root["definitions"].as_object().into_iter().flat_map(|d| d.values());
        for schema in std::iter::once(&self.root).chain(definitions) {
            names.extend(schema["properties"].as_object().into_iter().flat_map(|p| p.keys().cloned()));
        }
        names
    }
}

/// What taplo does with the committed schema, done here for the shipped
/// scenarios: every key they use is one the schema knows, every required
/// key is there and every name is one it allows.
#[test]
fn every_shipped_scenario_validates_against_the_committed_schema() {
    let schema = Schema::committed();
    let mut problems = Vec::new();
    for path in shipped_scenarios() {
        let value: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = path.strip_prefix(ROOT).unwrap_or(&path).display().to_string();
        schema.validate(&schema.root, &value, &name, &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // Not vacuous: a key the format lacks is caught.
    let mut wrong = Vec::new();
    let typo: toml::Value =
        toml::from_str("name = \"x\"\nworkload = { kind = \"backup\", fils = [1] }\npolicies = []").unwrap();
    schema.validate(&schema.root, &typo, "typo", &mut wrong);
    assert_eq!(wrong, ["typo.workload.fils: not in the schema", "typo.workload.kind: \"backup\" is not one of [String(\"s3-requests\"), String(\"mutable-puts\"), String(\"mutable-appends\"), String(\"backups\")]"]);
}

/// docs/scenarios.md names every field the format has, as `field`, so the
/// reference cannot fall behind the schema.
#[test]
fn docs_scenarios_md_names_every_field_of_the_schema() {
    let docs = std::fs::read_to_string(Path::new(ROOT).join("docs/scenarios.md")).unwrap();
    let names = Schema::committed().property_names();
    assert!(names.len() > 60, "{names:?}");
    let missing: Vec<&String> = names.iter().filter(|name| !docs.contains(&format!("`{name}`"))).collect();
    assert!(missing.is_empty(), "docs/scenarios.md does not name these fields (as `field`): {missing:?}");
}

/// `check` over the fuzz corpus (fuzz.rs's mutations of every shipped
/// scenario): no panic, and it agrees with the loader: a file loads iff
/// check finds no error, and a file the loader refuses gets at least the
/// loader's error, every error on one line with a line number.
#[test]
fn check_never_panics_on_the_fuzz_corpus_and_agrees_with_the_loader() {
    let sources: Vec<(PathBuf, String)> = shipped_scenarios()
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path.strip_prefix(ROOT).map(Path::to_path_buf).unwrap_or(path), text)
        })
        .collect();
    let mut config = config();
    config.failure_persistence = Some(Box::new(FileFailurePersistence::Direct(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/proptest-regressions/check-scenarios.txt"
    ))));
    let cases = config.cases;
    let mut runner = TestRunner::new(config);
    let refused = Cell::new(0u32);
    let result = runner.run(&(0..sources.len(), mutation()), |(file, mutation)| {
        let (path, text) = &sources[file];
        let source = apply(text, &mutation);
        let checked = catch_unwind(AssertUnwindSafe(|| check_source(&source, path)))
            .map_err(|_| TestCaseError::fail("check_source panicked"))?;
        let loaded = parse(&source, path);
        prop_assert_loaded(loaded.is_ok(), checked.errors.is_empty(), checked.scenario.is_some())?;
        if let Err(error) = loaded {
            refused.set(refused.get() + 1);
            let covered = checked.errors.iter().any(|e| e.field() == error.field() && e.kind() == error.kind());
            if !covered {
                return Err(TestCaseError::fail(format!(
                    "the loader's error {error} is not among {:?}",
                    checked.errors
                )));
            }
        }
        for error in &checked.errors {
            let line = error.to_string();
            if line.contains('\n') || !line.starts_with(&path.display().to_string()) {
                return Err(TestCaseError::fail(format!("not one line naming the file: {line:?}")));
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(why, (file, mutation))) => panic!("{} with {mutation:?}: {why}", sources[file].0.display()),
        Err(TestError::Abort(why)) => panic!("aborted: {why}"),
    }
    // Not vacuous: many mutations are refused, and many are not.
    let refused = refused.get();
    assert!(refused >= cases / 5 && refused <= cases * 4 / 5, "{refused} of {cases} refused");
}

fn prop_assert_loaded(loads: bool, no_errors: bool, has_scenario: bool) -> Result<(), TestCaseError> {
    if loads == no_errors && loads == has_scenario {
        Ok(())
    } else {
        Err(TestCaseError::fail(format!("the loader says loads = {loads}; check has no errors = {no_errors}")))
    }
}
