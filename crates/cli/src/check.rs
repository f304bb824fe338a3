//! `retrylab check` (scenario files validated without running: every error
//! with its hint, and the settings that have no effect) and `retrylab
//! schema` (the JSON Schema of the format, for editors).

use std::path::PathBuf;

use clap::Args;
use retrylab_scenario::{check_file, ErrorKind, FileCheck, S3Operation, Scenario, ScenarioError, Warning, Workload};
use serde::Serialize;

use crate::{print, Failure, EXIT_USAGE};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The scenario files (TOML) to check.
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    /// Print a JSON array, one object per file (`file`, `ok`, `errors`, `warnings`, and for a file
    /// that loads `workload`, `operations_per_run`, `policies`, `seeds`), instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// Checks every file and prints what it found; exit status 2 when any file has an error.
pub fn run(args: &CheckArgs) -> Result<(), Failure> {
    let checks: Vec<FileCheck> = args.scenarios.iter().map(|path| check_file(path)).collect();
    if args.json {
        let files: Vec<FileJson> = checks.iter().map(FileJson::of).collect();
        let mut text = serde_json::to_string_pretty(&files).unwrap_or_else(|_| "[]".to_owned());
        text.push('\n');
        print(&text)?;
    } else {
        print(&checks.iter().map(human).collect::<String>())?;
    }
    let failed = checks.iter().filter(|check| !check.errors.is_empty()).count();
    if failed == 0 {
        return Ok(());
    }
    let errors: usize = checks.iter().map(|check| check.errors.len()).sum();
    Err(Failure {
        status: EXIT_USAGE,
        output_written: true,
        ..Failure::usage(format!("{errors} error(s) in {failed} of {} scenario file(s)", checks.len()))
    })
}

/// `retrylab schema`: the JSON Schema of scenario files.
pub fn schema() -> Result<(), Failure> {
    print(&retrylab_scenario::json_schema())
}

/// One file's lines: `OK path (...)` or its errors, each with its hint, then its warnings.
fn human(check: &FileCheck) -> String {
    let mut out = String::new();
    if let Some(scenario) = &check.scenario {
        out.push_str(&format!("OK {} ({})\n", check.path.display(), summary(scenario)));
    }
    for error in &check.errors {
        out.push_str(&format!("{error}\n"));
        if let Some(hint) = error.hint() {
            out.push_str(&format!("  hint: {hint}\n"));
        }
    }
    for warning in &check.warnings {
        out.push_str(&format!("{}: warning: {warning}\n", located(check, warning.line, warning.column)));
    }
    out
}

/// `path:line:column`, leaving out what is unknown.
fn located(check: &FileCheck, line: Option<usize>, column: Option<usize>) -> String {
    let mut place = check.path.display().to_string();
    if let Some(line) = line {
        place.push_str(&format!(":{line}"));
        if let Some(column) = column {
            place.push_str(&format!(":{column}"));
        }
    }
    place
}

/// `mutable-puts, 10 operations per run, 3-of-10 grid on 10 servers, 2 gateways, 4 policies, 100 seeds`.
fn summary(scenario: &Scenario) -> String {
    let operations = counted(scenario.operations_per_run(), "operation", "operations");
    let mut parts = vec![workload_name(&scenario.workload), format!("{operations} per run")];
    if let Some(lafs) = &scenario.lafs {
        let servers = counted(u64::from(lafs.servers), "server", "servers");
        parts.push(format!("{}-of-{} grid on {servers}", lafs.shares_needed, lafs.shares_total));
        parts.push(counted(u64::from(lafs.gateways), "gateway", "gateways"));
    }
    parts.push(counted(scenario.policies.len() as u64, "policy", "policies"));
    parts.push(counted(scenario.seeds_default, "seed", "seeds"));
    parts.join(", ")
}

/// `1 policy`, `3 policies`.
fn counted(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The workload's kind as the file names it (`s3-requests put`).
fn workload_name(workload: &Workload) -> String {
    match workload {
        Workload::S3Requests { operation: S3Operation::Put, .. } => "s3-requests put".to_owned(),
        Workload::S3Requests { operation: S3Operation::Get, .. } => "s3-requests get".to_owned(),
        Workload::S3Requests { operation: S3Operation::Mixed(_), .. } => "s3-requests mixed".to_owned(),
        Workload::MutablePuts { .. } => "mutable-puts".to_owned(),
        Workload::MutableAppends { .. } => "mutable-appends".to_owned(),
        Workload::Backups { .. } => "backups".to_owned(),
    }
}

/// `check --json`: one file. Field names are a stable interface.
#[derive(Serialize)]
struct FileJson {
    file: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    workload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    operations_per_run: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policies: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seeds: Option<u64>,
    errors: Vec<ProblemJson>,
    warnings: Vec<ProblemJson>,
}

/// An error or a warning; absent parts are `null`, so every object has every field.
#[derive(Serialize)]
struct ProblemJson {
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    field: Option<String>,
    /// Errors only: `io`, `syntax`, `unknown-field`, `missing-field`, `type` or `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    message: String,
    hint: Option<String>,
}

impl FileJson {
    fn of(check: &FileCheck) -> Self {
        let file = check.path.display().to_string();
        let scenario = check.scenario.as_ref();
        FileJson {
            ok: check.errors.is_empty(),
            workload: scenario.map(|s| workload_name(&s.workload)),
            operations_per_run: scenario.map(Scenario::operations_per_run),
            policies: scenario.map(|s| s.policies.iter().map(|p| p.name.clone()).collect()),
            seeds: scenario.map(|s| s.seeds_default),
            errors: check.errors.iter().map(ProblemJson::error).collect(),
            warnings: check.warnings.iter().map(|w| ProblemJson::warning(&file, w)).collect(),
            file,
        }
    }
}

impl ProblemJson {
    fn error(error: &ScenarioError) -> Self {
        ProblemJson {
            file: error.path().display().to_string(),
            line: error.line(),
            column: error.column(),
            field: error.field().map(str::to_owned),
            kind: Some(kind_name(error.kind())),
            message: error.message().to_owned(),
            hint: error.hint().map(str::to_owned),
        }
    }

    fn warning(file: &str, warning: &Warning) -> Self {
        ProblemJson {
            file: file.to_owned(),
            line: warning.line,
            column: warning.column,
            field: Some(warning.field.clone()),
            kind: None,
            message: warning.message.clone(),
            hint: None,
        }
    }
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Io => "io",
        ErrorKind::Syntax => "syntax",
        ErrorKind::UnknownField => "unknown-field",
        ErrorKind::MissingField => "missing-field",
        ErrorKind::Type => "type",
        ErrorKind::Invalid => "invalid",
    }
}
