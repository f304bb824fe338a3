//! Checking a scenario file without running it (`retrylab check`): every
//! unknown key and unknown name the file holds, each with a hint, then the
//! loader's own verdict, then the warnings of [`crate::lint`], located.
//!
//! serde stops at the first error, so before loading, the file's TOML
//! document is walked against the JSON Schema of the format (`json_schema.rs`,
//! generated from the same serde structs the loader uses): one source for
//! which keys exist where, so the walk cannot disagree with the loader.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use toml_edit::{ImDocument, InlineTable, Item, Table};

use crate::error::{ErrorKind, ScenarioError};
use crate::json_schema::root_schema;
use crate::lint::{lint, Warning};
use crate::load::{locate_field, parse};
use crate::model::Scenario;
use crate::schema::fields_of_kind;

/// What checking one file found.
#[derive(Clone, Debug)]
pub struct FileCheck {
    /// The file as given.
    pub path: PathBuf,
    /// The scenario, when the file loads.
    pub scenario: Option<Scenario>,
    /// Every error found, in file order (empty when the file loads).
    pub errors: Vec<ScenarioError>,
    /// Settings that have no effect (only for a file that loads).
    pub warnings: Vec<Warning>,
}

/// Reads and checks the scenario file at `path`.
pub fn check_file(path: &Path) -> FileCheck {
    match std::fs::read_to_string(path) {
        Ok(source) => check_source(&source, path),
        Err(err) => FileCheck {
            path: path.to_path_buf(),
            scenario: None,
            errors: vec![ScenarioError::new(path, ErrorKind::Io, format!("cannot read the file: {err}"))],
            warnings: Vec::new(),
        },
    }
}

/// Checks the scenario text `source`, named `path` in messages.
pub fn check_source(source: &str, path: &Path) -> FileCheck {
    let mut errors = match ImDocument::parse(source) {
        Ok(doc) => unknown_names(source, path, &doc),
        Err(_) => Vec::new(),
    };
    let (scenario, warnings) = match parse(source, path) {
        Ok(scenario) => {
            let warnings = lint(&scenario).into_iter().map(|warning| located(warning, source, path)).collect();
            (Some(scenario), warnings)
        }
        Err(error) => {
            // serde's first error is usually one the walk found already, with a hint.
            if !errors.iter().any(|found| found.field() == error.field() && found.kind() == error.kind()) {
                let hint = loader_hint(&error);
                errors.push(error.with_hint(hint));
            }
            (None, Vec::new())
        }
    };
    errors.sort_by_key(|error| (error.line().unwrap_or(usize::MAX), error.column().unwrap_or(usize::MAX)));
    // A file the walk faulted but serde accepted cannot happen (they read the
    // same structs); if it did, the errors stand and the scenario is dropped.
    let scenario = if errors.is_empty() { scenario } else { None };
    FileCheck { path: path.to_path_buf(), scenario, errors, warnings }
}

/// A hint for a loader error that names the fields its place takes (`not a
/// field of an "aws-standard" policy (it takes attempts_max, ...)`): the
/// closest of them to the key given, when it is a likely typo.
fn loader_hint(error: &ScenarioError) -> Option<String> {
    let (_, takes) = error.message().split_once("(it takes ")?;
    let names: Vec<&str> = takes.split(')').next()?.split(", ").collect();
    let given = error.field()?.rsplit('.').next()?;
    closest(given, &names).filter(|name| *name != given).map(|name| format!("did you mean `{name}`?"))
}

/// `warning` with the line and column of its field in `source`.
fn located(mut warning: Warning, source: &str, path: &Path) -> Warning {
    if let Some(offset) = locate_field(source, path, &warning.field) {
        let (line, column) = crate::error::line_column(source, offset);
        warning.line = Some(line);
        warning.column = Some(column);
    }
    warning
}

// ---------------------------------------------------------------------------
// The walk against the schema

/// Every key the schema does not know at its place, and every string that
/// is not one of the names its place allows, as errors with hints.
fn unknown_names(source: &str, path: &Path, doc: &ImDocument<&str>) -> Vec<ScenarioError> {
    let root = root_schema();
    let empty = Map::new();
    let definitions = root.get("definitions").and_then(Value::as_object).unwrap_or(&empty);
    let mut walk = Walk { source, path, definitions, errors: Vec::new() };
    walk.table(&root, Entries::of_table(doc.as_table()), "");
    walk.errors
}

struct Walk<'a> {
    source: &'a str,
    path: &'a Path,
    definitions: &'a Map<String, Value>,
    errors: Vec<ScenarioError>,
}

/// One key of a table and what it holds.
enum Child<'d> {
    Item(&'d Item),
    Value(&'d toml_edit::Value),
}

/// A table's or inline table's keys, with the byte offset of each.
struct Entries<'d>(Vec<(&'d str, Option<usize>, Child<'d>)>);

impl<'d> Entries<'d> {
    fn of_table(table: &'d Table) -> Self {
        Entries(
            table
                .iter()
                .map(|(name, item)| {
                    let offset = table.get_key_value(name).and_then(|(key, _)| key.span()).map(|span| span.start);
                    (name, offset, Child::Item(item))
                })
                .collect(),
        )
    }

    fn of_inline(table: &'d InlineTable) -> Self {
        Entries(
            table
                .iter()
                .map(|(name, value)| {
                    let offset = table.get_key_value(name).and_then(|(key, _)| key.span()).map(|span| span.start);
                    (name, offset, Child::Value(value))
                })
                .collect(),
        )
    }
}

impl<'a> Walk<'a> {
    /// `schema` with `$ref` and one-element `allOf` followed to the definition.
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        self.resolve_named(schema).1
    }

    /// The definition `schema` names (its name, when a `$ref` was followed) and its schema.
    fn resolve_named(&self, mut schema: &'a Value) -> (Option<&'a str>, &'a Value) {
        let mut named = None;
        for _ in 0..16 {
            if let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next()) {
                match self.definitions.get_key_value(name) {
                    Some((name, definition)) => (named, schema) = (Some(name.as_str()), definition),
                    None => break,
                }
            } else if let Some([only]) = schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
                schema = only;
            } else {
                break;
            }
        }
        (named, schema)
    }

    fn table(&mut self, schema: &'a Value, entries: Entries<'_>, at: &str) {
        let (definition, schema) = self.resolve_named(schema);
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else { return };
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        // A table with a `kind` takes that kind's fields: hints name those.
        let kind = entries.0.iter().find_map(|(name, _, child)| match (name, child) {
            (&"kind", Child::Item(Item::Value(toml_edit::Value::String(kind))))
            | (&"kind", Child::Value(toml_edit::Value::String(kind))) => Some(kind.value().clone()),
            _ => None,
        });
        let of_kind = definition.zip(kind.as_deref()).and_then(|(definition, kind)| fields_of_kind(definition, kind));
        for (name, offset, child) in entries.0 {
            let field = if at.is_empty() { name.to_owned() } else { format!("{at}.{name}") };
            match properties.get(name) {
                Some(property) => match child {
                    Child::Item(item) => self.item(property, item, &field),
                    Child::Value(value) => self.value(property, value, &field),
                },
                None if closed => {
                    let every: Vec<&str> = properties.keys().map(String::as_str).collect();
                    let known = of_kind.as_deref().unwrap_or(&every);
                    let place = match (at.is_empty(), &kind) {
                        (true, _) => "the top level".to_owned(),
                        (false, Some(kind)) if of_kind.is_some() => {
                            format!("`{}` of kind \"{kind}\"", strip_indices(at))
                        }
                        (false, _) => format!("`{}`", strip_indices(at)),
                    };
                    let hint = match closest(name, known).or_else(|| closest(name, &every)) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => format!("{place} takes {}", known.join(", ")),
                    };
                    self.push(ErrorKind::UnknownField, &field, offset, format!("unknown field `{name}`"), hint);
                }
                None => {}
            }
        }
    }

    fn item(&mut self, schema: &'a Value, item: &Item, at: &str) {
        match item {
            Item::None => {}
            Item::Value(value) => self.value(schema, value, at),
            Item::Table(table) => self.table(schema, Entries::of_table(table), at),
            Item::ArrayOfTables(array) => {
                let items = self.items(schema);
                for (i, table) in array.iter().enumerate() {
                    if let Some(items) = items {
                        self.table(items, Entries::of_table(table), &format!("{at}[{i}]"));
                    }
                }
            }
        }
    }

    fn value(&mut self, schema: &'a Value, value: &toml_edit::Value, at: &str) {
        match value {
            toml_edit::Value::InlineTable(table) => self.table(schema, Entries::of_inline(table), at),
            toml_edit::Value::Array(array) => {
                if let Some(items) = self.items(schema) {
                    for (i, element) in array.iter().enumerate() {
                        self.value(items, element, &format!("{at}[{i}]"));
                    }
                }
            }
            toml_edit::Value::String(text) => {
                let schema = self.resolve(schema);
                let Some(names) = schema.get("enum").and_then(Value::as_array) else { return };
                let names: Vec<&str> = names.iter().filter_map(Value::as_str).collect();
                let given = text.value();
                if names.contains(&given.as_str()) {
                    return;
                }
                let quoted: Vec<String> = names.iter().map(|name| format!("\"{name}\"")).collect();
                let hint = match closest(given, &names) {
                    Some(close) => format!("did you mean \"{close}\"? (one of {})", quoted.join(", ")),
                    None => format!("one of {}", quoted.join(", ")),
                };
                let offset = value.span().map(|span| span.start);
                self.push(ErrorKind::Type, at, offset, format!("unknown name \"{given}\""), hint);
            }
            _ => {}
        }
    }

    /// The schema of an array's elements.
    fn items(&self, schema: &'a Value) -> Option<&'a Value> {
        self.resolve(schema).get("items")
    }

    fn push(&mut self, kind: ErrorKind, field: &str, offset: Option<usize>, message: String, hint: String) {
        let error = ScenarioError::new(self.path, kind, message)
            .with_field(Some(field.to_owned()))
            .at_offset(self.source, offset)
            .with_hint(Some(hint));
        self.errors.push(error);
    }
}

/// `policies[2].inner` as `policies.inner`: the place in the format, not in one file.
fn strip_indices(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut depth = 0usize;
    for c in field.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The known name `given` most likely misspells: the shortest that `given`
/// begins (`file_bytes` for `file_bytes_step`, at least 3 characters
/// given), else the closest by edit distance (a transposition counts as one
/// edit; case and `-`/`_` are ignored) if close enough to be a typo: at
/// most a third of its length, and at most 3 edits.
fn closest<'n>(given: &str, known: &[&'n str]) -> Option<&'n str> {
    let normal = |name: &str| name.to_ascii_lowercase().replace('-', "_");
    let given = normal(given);
    let extended =
        known.iter().filter(|name| given.len() >= 3 && normal(name).starts_with(&given)).min_by_key(|name| name.len());
    if let Some(name) = extended {
        return Some(name);
    }
    known
        .iter()
        .map(|name| (strsim::damerau_levenshtein(&given, &normal(name)), *name))
        .filter(|(distance, name)| *distance <= (name.chars().count() / 3).clamp(1, 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "t"

[faults]
kind = "gilbert-elliott"
good_mean_s = 100
bad_mean_s = 5
good_failure = 0.01
bad_failure = 0.5

[workload]
kind = "s3-requests"
operations = 10
operation = "put"

[[policies]]
name = "none"
kind = "none"
"#;

    fn check(text: &str) -> FileCheck {
        check_source(text, Path::new("t.toml"))
    }

    #[test]
    fn a_good_file_loads_with_no_errors() {
        let checked = check(GOOD);
        assert!(checked.errors.is_empty(), "{:?}", checked.errors);
        assert!(checked.scenario.is_some());
    }

    #[test]
    fn every_unknown_key_is_reported_with_a_hint_and_its_place() {
        let text = GOOD
            .replace("bad_mean_s = 5", "bad_mena_s = 5")
            .replace("operations = 10", "operatoins = 10")
            .replace("name = \"none\"\nkind", "name = \"none\"\nretires = 1\nkind");
        let checked = check(&text);
        let rendered: Vec<String> =
            checked.errors.iter().map(|e| format!("{e} | {}", e.hint().unwrap_or(""))).collect();
        assert_eq!(checked.errors.len(), 3, "{rendered:#?}");
        assert_eq!(checked.errors[0].to_string(), "t.toml:7:1: faults.bad_mena_s: unknown field `bad_mena_s`");
        assert_eq!(checked.errors[0].hint(), Some("did you mean `bad_mean_s`?"));
        assert_eq!(checked.errors[1].field(), Some("workload.operatoins"));
        assert!(checked.errors[1].hint().unwrap().starts_with("did you mean `operations`?"), "{rendered:#?}");
        assert_eq!(checked.errors[2].field(), Some("policies[0].retires"));
        assert!(checked.errors[2].hint().unwrap().starts_with("did you mean `retries`?"), "{rendered:#?}");
        assert!(checked.scenario.is_none());
    }

    #[test]
    fn an_unknown_name_lists_the_valid_ones() {
        let checked = check(&GOOD.replace("kind = \"none\"", "kind = \"aws-standrad\""));
        assert_eq!(checked.errors.len(), 1, "{:?}", checked.errors);
        let error = &checked.errors[0];
        assert_eq!(error.field(), Some("policies[0].kind"));
        assert_eq!((error.line(), error.column()), (Some(18), Some(8)));
        let hint = error.hint().unwrap();
        assert!(hint.starts_with("did you mean \"aws-standard\"? (one of \"none\", \"immediate\""), "{hint}");
    }

    #[test]
    fn a_far_typo_gets_the_list_alone() {
        let checked = check(&GOOD.replace("good_failure", "zzz"));
        let hint = checked.errors[0].hint().unwrap();
        assert!(hint.starts_with("`faults` takes kind,") || hint.starts_with("`faults` takes "), "{hint}");
        assert!(!hint.contains("did you mean"), "{hint}");
    }

    #[test]
    fn errors_past_the_walk_come_from_the_loader() {
        let checked = check(&GOOD.replace("bad_failure = 0.5", "bad_failure = 1.5"));
        assert_eq!(checked.errors.len(), 1);
        assert_eq!(checked.errors[0].field(), Some("faults.bad_failure"));
        assert_eq!(checked.errors[0].hint(), None);
    }

    #[test]
    fn a_field_of_another_kind_gets_the_closest_of_this_kind() {
        let text = GOOD.replace("kind = \"none\"", "kind = \"exponential\"\nbase_ms = 1\ncap_ms = 2\nattempt_max = 3");
        let checked = check(&text);
        assert_eq!(checked.errors.len(), 1, "{:?}", checked.errors);
        let error = &checked.errors[0];
        // `attempt_max` is no field of any policy: the walk finds it.
        assert_eq!(
            (error.field(), error.hint()),
            (Some("policies[0].attempt_max"), Some("did you mean `attempts_max`?"))
        );
        let text = GOOD.replace("kind = \"none\"", "kind = \"object-store\"\nmax_backof_ms = 3");
        assert_eq!(check(&text).errors[0].hint(), Some("did you mean `max_backoff_ms`?"));
        // `init_backoff_ms` is object-store's, not an AWS kind's: the loader says so, with a hint.
        let text = GOOD.replace("kind = \"none\"", "kind = \"aws-standard\"\ninit_backoff_ms = 3");
        let error = &check(&text).errors[0];
        assert!(error.message().starts_with("not a field of an \"aws-standard\" policy"), "{error}");
        assert_eq!(error.hint(), Some("did you mean `initial_backoff_ms`?"), "{error}");
        let text = GOOD.replace("kind = \"none\"", "kind = \"object-store\"\nretries = 3");
        let error = &check(&text).errors[0];
        assert!(error.message().starts_with("not a field of an \"object-store\" policy (it takes"), "{error}");
        assert_eq!(error.hint(), None, "{error}");
    }

    #[test]
    fn a_far_typo_in_a_kinded_table_lists_that_kinds_fields() {
        let text = GOOD.replace("kind = \"none\"", "kind = \"immediate\"\nretries = 1\nzzz = 1");
        let hint = check(&text).errors[0].hint().unwrap().to_owned();
        assert_eq!(hint, "`policies` of kind \"immediate\" takes name, kind, gateway, retries");
        // A close name of the kind wins over one of another kind.
        let text = GOOD.replace("kind = \"none\"", "kind = \"exponential\"\nbase_ms = 1\ncap_ms = 1\nbas = 1");
        assert_eq!(check(&text).errors[0].hint(), Some("did you mean `base_ms`?"));
    }

    #[test]
    fn warnings_are_located() {
        let checked = check(
            &GOOD.replace("[workload]", "[s3]\nconsistency = \"eventual\"\neventual_window_ms = 5\n\n[workload]"),
        );
        assert!(checked.errors.is_empty(), "{:?}", checked.errors);
        assert_eq!(checked.warnings.len(), 1, "{:?}", checked.warnings);
        let warning = &checked.warnings[0];
        assert_eq!((warning.field.as_str(), warning.line, warning.column), ("s3.consistency", Some(12), Some(1)));
    }

    #[test]
    fn closeness() {
        assert_eq!(closest("bad_mena_s", &["good_mean_s", "bad_mean_s"]), Some("bad_mean_s"));
        assert_eq!(closest("Bad-Mean-S", &["bad_mean_s"]), Some("bad_mean_s"));
        assert_eq!(closest("x", &["ms", "sigma"]), None);
        assert_eq!(closest("attempts", &["attempts_max"]), Some("attempts_max"));
        assert_eq!(closest("file_bytes", &["line_bytes", "file_bytes_step", "files"]), Some("file_bytes_step"));
        assert_eq!(closest("ab", &["abc"]), Some("abc"));
        assert_eq!(closest("zz", &["zzzzzz"]), None);
        assert_eq!(closest("attempt_max", &["attempts_max"]), Some("attempts_max"));
        assert_eq!(strip_indices("policies[2].inner"), "policies.inner");
    }
}
