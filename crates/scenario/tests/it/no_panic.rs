//! `parse` never panics, whatever the text: arbitrary strings and valid
//! files mutated at random all come back as `Ok` or a one-line error.

use std::path::Path;

use proptest::prelude::*;
use retrylab_scenario::parse;

const FULL: &str = include_str!("../data/full.toml");
const LAFS: &str = include_str!("../data/lafs.toml");
const POLICIES: &str = include_str!("../data/policies.toml");

/// Replacement text that tends to reach validation code: odd numbers,
/// wrong types, stray keys and brackets.
const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1.5",
    "-0.0",
    "nan",
    "inf",
    "-inf",
    "1e308",
    "1e-320",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "4294967296",
    "\"\"",
    "\"none\"",
    "\"mixture\"",
    "\"eventual\"",
    "\"gilbert-elliott\"",
    "\"s3-requests\"",
    "\"mutable-puts\"",
    "\"mutable-appends\"",
    "\"backups\"",
    "\"chunked\"",
    "\"whole\"",
    "255",
    "256",
    "false",
    "[]",
    "[[]]",
    "{}",
    "{ kind = \"mixture\", components = [] }",
    "true",
    "1979-05-27T07:32:00Z",
    "\n[faults]\n",
    "\n[[policies]]\n",
    "\n[[faults.outages]]\n",
    "\n[lafs]\n",
    "\n[lafs.design]\n",
    "=",
    "[",
    "]",
    "{",
    "}",
    ",",
    ".",
    "\"",
    "'''",
    "\"\"\"",
    "#",
    "\n",
    "é",
    "\u{0}",
    "components",
    "kind",
    "weight",
    "ms",
    "files",
    "chunk_bytes",
    "\"aws-standard\"",
    "\"object-store\"",
    "\"grpc-throttled\"",
    "\"retry-budget\"",
    "\"hedged\"",
    "\"tahoe-cloud\"",
    "\"deadline\"",
    "inner",
    "name",
    "{ kind = \"deadline\", deadline_ms = 0, inner = { kind = \"none\" } }",
    "{ kind = \"hedged\" }",
    "\n[policies.inner]\n",
    "\n[policies.inner.inner]\n",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete {
        at: usize,
        len: usize,
    },
    Insert {
        at: usize,
        token: usize,
    },
    /// Replaces the value of the n-th `key = value` line.
    Value {
        line: usize,
        token: usize,
    },
    Duplicate {
        line: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), any::<usize>()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        (any::<usize>(), any::<usize>()).prop_map(|(line, token)| Mutation::Value { line, token }),
        any::<usize>().prop_map(|line| Mutation::Duplicate { line }),
    ]
}

fn floor_boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, mutation: &Mutation) -> String {
    match *mutation {
        Mutation::Delete { at, len } => {
            let start = floor_boundary(text, at);
            let end = floor_boundary(text, start.saturating_add(len).min(text.len()));
            format!("{}{}", &text[..start], &text[end..])
        }
        Mutation::Insert { at, token } => {
            let at = floor_boundary(text, at);
            format!("{}{}{}", &text[..at], TOKENS[token % TOKENS.len()], &text[at..])
        }
        Mutation::Value { line, token } => {
            let lines: Vec<&str> = text.lines().collect();
            let assignments: Vec<usize> = (0..lines.len()).filter(|&i| lines[i].contains(" = ")).collect();
            if assignments.is_empty() {
                return text.to_owned();
            }
            let target = assignments[line % assignments.len()];
            let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            if let Some((key, _)) = lines[target].split_once(" = ") {
                out[target] = format!("{key} = {}", TOKENS[token % TOKENS.len()]);
            }
            out.join("\n")
        }
        Mutation::Duplicate { line } => {
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                return text.to_owned();
            }
            let target = line % lines.len();
            let mut out = lines.clone();
            out.insert(target, lines[target]);
            out.join("\n")
        }
    }
}

fn check(source: &str) -> Result<(), TestCaseError> {
    if let Err(err) = parse(source, Path::new("fuzz.toml")) {
        let rendered = err.to_string();
        prop_assert!(rendered.starts_with("fuzz.toml"), "{}", rendered);
        prop_assert!(!rendered.contains('\n'), "{}", rendered);
        prop_assert!(!err.message().is_empty(), "{}", rendered);
        if let Some(line) = err.line() {
            prop_assert!(
                line >= 1 && line <= source.lines().count() + 1,
                "{} in {} lines",
                line,
                source.lines().count()
            );
        }
    }
    Ok(())
}

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/proptest_seed.rs"));

proptest! {
    #![proptest_config(ProptestConfig { rng_seed: proptest_rng_seed(), cases: 2000, failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proptest-regressions/scenario-no-panic.txt")))), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_do_not_panic(source in any::<String>()) {
        check(&source)?;
    }

    #[test]
    fn toml_ish_strings_do_not_panic(source in "([a-z_.]{1,12} ?= ?[-+0-9.einaf\"'\\[\\]{},]{0,12}\n|\\[{1,2}[a-z_.]{1,10}\\]{1,2}\n){0,12}") {
        check(&source)?;
    }

    #[test]
    fn mutated_valid_files_do_not_panic(mutations in proptest::collection::vec(mutation(), 1..6)) {
        let mut source = FULL.to_owned();
        for mutation in &mutations {
            source = apply(&source, mutation);
        }
        check(&source)?;
    }

    #[test]
    fn mutated_policy_files_do_not_panic(mutations in proptest::collection::vec(mutation(), 1..6)) {
        let mut source = POLICIES.to_owned();
        for mutation in &mutations {
            source = apply(&source, mutation);
        }
        check(&source)?;
    }

    #[test]
    fn mutated_lafs_files_do_not_panic(mutations in proptest::collection::vec(mutation(), 1..6)) {
        let mut source = LAFS.to_owned();
        for mutation in &mutations {
            source = apply(&source, mutation);
        }
        check(&source)?;
    }
}
