//! The `retrylab` command line: parses arguments, loads scenarios, calls the
//! harness and prints human tables or `--json`. No simulation logic lives here.
//!
//! Exit status: 0 success; 1 a run failed (a limit or `--timeout` was hit),
//! the checkers found an invariant violation (`run`, `explore`, `estimate`,
//! `compare`, `merge`, `shrink`) or the output could not be written; 2 bad usage or
//! a bad scenario file. With `--json` an error is also a JSON object on
//! stdout. A closed pipe ends the command quietly with status 0.

mod access_log;
mod args;
pub mod calibration;
mod check;
mod fit;
mod merge;
mod output;
mod plot;
mod real;
mod report;
mod trace_output;
mod trust;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use retrylab_harness::{
    compare_state, estimate_state, explore_state, run_seed_within, select_policies, swarm_scenario, warnings_after_run,
    Comparison, DisruptionsReached, Estimate, EstimateError, EstimateOptions, Exploration, ExploreOptions,
    PolicyEstimate, Property, PropertyError, RunError, Seeds, SeedsError, TraceMode, Variation, SEEDS_MAX,
};
use retrylab_scenario::{Scenario, ScenarioError};

pub use crate::args::{Cli, Command, MergeArgs, SeedsArgs};
use crate::args::{RunArgs, ShrinkArgs};
use crate::merge::PartKind;

/// Exit status for a failed run or check.
const EXIT_FAILED: u8 = 1;
/// Exit status for bad usage or a bad scenario (clap uses 2 as well).
const EXIT_USAGE: u8 = 2;

/// Parses a `retrylab` command line (the program name first) with the
/// binary's own definition: for tests that check documented commands.
pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    Cli::try_parse_from(args)
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    let json = cli.command.json();
    let result = match cli.command {
        Command::Run(args) => run(&args),
        Command::Fit(args) => fit::fit(&args),
        Command::Estimate(args) => run_estimate(&args),
        Command::Explore(args) => run_explore(&args),
        Command::Compare(args) => run_compare(&args),
        Command::Shrink(args) => run_shrink(&args),
        Command::Merge(args) => merge::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Schema => check::schema(),
        Command::Plot(args) => plot::run_plot(&args),
        Command::Real(args) => real::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(json),
    }
}

/// A command line clap refused: its own message and status, and with
/// `--json` anywhere on the line, the JSON error object as well.
fn usage_error(error: &clap::Error) -> ExitCode {
    let json = std::env::args_os().any(|arg| arg == "--json");
    if !json || !error.use_stderr() {
        // --help and --version come this way too, to stdout, status 0.
        error.exit()
    }
    let text = error.to_string();
    let message = text.lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned();
    Failure { status: u8::try_from(error.exit_code()).unwrap_or(EXIT_USAGE), ..Failure::usage(message) }.report(true)
}

/// Why a command did not succeed: the exit status, the message and, where
/// known, where the trouble lies (for `--json` callers).
#[derive(Debug, Default)]
struct Failure {
    status: u8,
    message: String,
    /// Boxed: every function returns `Result<_, Failure>`, and most succeed.
    place: Box<Place>,
    /// The command's own output (its JSON, with the verdict) went out
    /// already: no JSON error object after it.
    output_written: bool,
    /// A closed pipe: end quietly, status 0.
    quiet: bool,
}

/// Where a failure lies, as far as known.
#[derive(Debug, Default)]
struct Place {
    file: Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    field: Option<String>,
    seed: Option<u64>,
}

/// `--json`'s error object: field names are a stable interface.
#[derive(serde::Serialize)]
struct ErrorJson<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    status: u8,
}

impl Failure {
    fn usage(message: impl ToString) -> Self {
        Failure { status: EXIT_USAGE, message: message.to_string(), ..Failure::default() }
    }

    fn failed(message: impl ToString) -> Self {
        Failure { status: EXIT_FAILED, message: message.to_string(), ..Failure::default() }
    }

    /// A verdict (violations found) after the command printed its output.
    fn verdict(message: impl ToString) -> Self {
        Failure { output_written: true, ..Failure::failed(message) }
    }

    fn scenario(error: &ScenarioError) -> Self {
        let place = Place {
            file: Some(error.path().display().to_string()),
            line: error.line(),
            column: error.column(),
            field: error.field().map(str::to_owned),
            seed: None,
        };
        Failure { place: Box::new(place), ..Failure::usage(error) }
    }

    fn run(error: &RunError) -> Self {
        Failure::failed(error).at_seed(error.seed())
    }

    /// Usage errors (an unknown or repeated policy, bad seeds) are status 2;
    /// a run that failed is status 1 and names its seed.
    fn estimate(error: &EstimateError) -> Self {
        match error {
            EstimateError::Run(error) => Failure::run(error),
            EstimateError::Threads(_) => Failure::failed(error),
            EstimateError::DuplicatePolicy(name) => {
                Failure::usage(format!("--policy {name:?} is given twice: name each policy once"))
            }
            _ => Failure::usage(error),
        }
    }

    fn at_seed(mut self, seed: u64) -> Self {
        self.place.seed = Some(seed);
        self
    }

    /// Prints the failure (stderr; and stdout as JSON with `--json`) and
    /// gives the exit status.
    fn report(self, json: bool) -> ExitCode {
        if self.quiet {
            return ExitCode::SUCCESS;
        }
        // stderr may be closed too; nothing is left to tell then.
        let _ = writeln!(std::io::stderr(), "error: {}", self.message);
        if json && !self.output_written {
            let object = ErrorJson {
                error: &self.message,
                file: self.place.file.as_deref(),
                line: self.place.line,
                column: self.place.column,
                field: self.place.field.as_deref(),
                seed: self.place.seed,
                status: self.status,
            };
            let mut text = serde_json::to_string_pretty(&object).unwrap_or_default();
            text.push('\n');
            let _ = write_stdout(&text);
        }
        ExitCode::from(self.status)
    }
}

/// Writes `bytes` to `path` whole or not at all: into a temporary file
/// beside it, then renamed over it, so a full disk or a killed process never
/// leaves half a report or half an image under the name asked for. A path that exists and is not a regular file (`/dev/stdout`, a pipe) is
/// written in place: renaming over it would replace the device.
pub(crate) fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let special = std::fs::metadata(path).is_ok_and(|metadata| !metadata.is_file());
    if special {
        return std::fs::write(path, bytes)
            .map_err(|error| Failure::failed(format!("cannot write {}: {error}", path.display())));
    }
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    let written = std::fs::write(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, path));
    written.map_err(|error| {
        let _ = std::fs::remove_file(&temporary);
        Failure::failed(format!("cannot write {}: {error}", path.display()))
    })
}

/// Loads a scenario and warns on stderr, once, of each setting that cannot affect a run.
fn load(path: &std::path::Path) -> Result<Scenario, Failure> {
    let scenario = retrylab_scenario::load(path).map_err(|error| Failure::scenario(&error))?;
    print_scenario_warnings(&scenario);
    Ok(scenario)
}

fn print_scenario_warnings(scenario: &Scenario) {
    for warning in scenario.warnings() {
        let _ = writeln!(std::io::stderr(), "warning: {warning}");
    }
}

/// The warnings about settings a command's runs could not have met: the
/// scenario's own (printed when it was loaded) and, after the runs, each
/// scripted outage, crash or partition no run reached. Those found after the
/// runs go to stderr here; all of them go in `--json` output.
fn warnings_after<'a>(scenario: &Scenario, reached: impl IntoIterator<Item = &'a DisruptionsReached>) -> Vec<String> {
    let mut after: Vec<String> = Vec::new();
    for reached in reached {
        for warning in warnings_after_run(scenario, reached) {
            if !after.contains(&warning) {
                after.push(warning);
            }
        }
    }
    for warning in &after {
        let _ = writeln!(std::io::stderr(), "warning: {warning}");
    }
    scenario.warnings().into_iter().chain(after).collect()
}

/// `json` (one pretty-printed object) with a `warnings` array added last,
/// its other fields in their order.
fn with_warnings(json: &str, warnings: &[String]) -> String {
    let body = json.trim_end();
    let Some(open) = body.strip_suffix('}') else { return json.to_owned() };
    let array = serde_json::to_string(warnings).unwrap_or_else(|_| "[]".to_owned());
    let open = open.trim_end();
    let separator = if open.ends_with('{') { "" } else { "," };
    format!("{open}{separator}\n  \"warnings\": {array}\n}}\n")
}

/// Writes `text` to standard output, all of it or an error. (A stdout
/// closed with `>&-` is not seen here: Rust's runtime reopens descriptors
/// 0-2 on /dev/null before `main`, so it is the same as `>/dev/null`.)
fn write_stdout(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()
}

/// Prints the command's output; output that could not be written (a full
/// disk, a closed file) is an error, status 1, except a closed pipe
/// (`| head`), which ends the command quietly.
fn print(text: &str) -> Result<(), Failure> {
    write_stdout(text).map_err(output_failure)
}

/// Output that could not be written: status 1, or quietly 0 for a closed pipe.
fn output_failure(error: std::io::Error) -> Failure {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        Failure { quiet: true, ..Failure::default() }
    } else {
        Failure { output_written: true, ..Failure::failed(format!("cannot write the output: {error}")) }
    }
}

/// The seeds a many-seed command runs, refused with the flag named when
/// there are none, too many, or the last would pass 2^64 - 1.
fn seeds(args: &SeedsArgs, scenario: &Scenario) -> Result<u64, Failure> {
    let (count, source) = match args.seeds {
        Some(count) => (count, format!("--seeds {count}")),
        None => (scenario.seeds_default, format!("the scenario's seeds = {}", scenario.seeds_default)),
    };
    let failure = match Seeds::new(args.first_seed, count) {
        Ok(_) => return Ok(count),
        Err(SeedsError::None) => Failure::usage(format!("{source}: must be at least 1")),
        Err(SeedsError::AboveMax { .. }) => {
            Failure::usage(format!("{source}: more than the maximum, {SEEDS_MAX} seeds per policy"))
        }
        Err(SeedsError::PastLastSeed { first, count }) => Failure::usage(format!(
            "--first-seed {first} with {source}: the last seed would pass {}; --first-seed can be at most {}",
            u64::MAX,
            u64::MAX - (count - 1)
        )),
    };
    if args.seeds.is_some() {
        return Err(failure);
    }
    // From the file: say which, and which field, to --json callers too.
    let place =
        Place { file: Some(scenario.path.display().to_string()), field: Some("seeds".to_owned()), ..Place::default() };
    Err(Failure { place: Box::new(place), ..failure })
}

fn run(args: &RunArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    let names: Vec<String> = args.policy.iter().cloned().collect();
    let policies = select_policies(&scenario, &names).map_err(|error| Failure::estimate(&error))?;
    let Some(policy) = policies.first() else {
        return Err(Failure::usage("the scenario has no policies"));
    };
    let view = trace_output::View::of(args).map_err(Failure::usage)?;
    let mode = if view.is_some() || args.access_log.is_some() { TraceMode::Full } else { TraceMode::HashOnly };
    let budget = args.timeout.map(|timeout| timeout.start());
    let mut report = if args.swarm {
        run_seed_within(&swarm_scenario(&scenario, args.seed), policy, args.seed, mode, budget)
    } else {
        run_seed_within(&scenario, policy, args.seed, mode, budget)
    }
    .map_err(|error| Failure::run(&error))?;
    let warnings = warnings_after(&scenario, [&DisruptionsReached::of_runs(std::slice::from_ref(&report), args.swarm)]);
    if let Some(path) = &args.access_log {
        let requests = access_log::write(&report, path, &scenario.name)?;
        eprintln!("wrote {requests} S3 requests to {}", path.display());
    }
    if let Some(view) = view {
        view.print(&scenario, &mut report, &warnings).map_err(|error| match error {
            trace_output::ViewError::Usage(message) => Failure::usage(message),
            trace_output::ViewError::Io(error) => output_failure(error),
        })?;
    } else if args.json {
        print(&with_warnings(&output::run_json(&scenario, &report), &warnings))?;
    } else {
        print(&output::run_human(&scenario, &report))?;
    }
    if report.violations.is_empty() {
        Ok(())
    } else {
        Err(Failure::verdict(format!("seed {}: {} invariant violation(s)", report.seed, report.violations.len())))
    }
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    progress_bar_of(total, "runs")
}

/// A progress bar counting `total` of `unit` (runs, operations, ...).
fn progress_bar_of(total: u64, unit: &str) -> indicatif::ProgressBar {
    // indicatif draws only when stderr is a terminal, so pipes and CI stay clean.
    let template = format!("{{spinner}} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} {unit} ({{eta}} left)");
    indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(&template).unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    )
}

fn run_explore(args: &SeedsArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    report::check(args.report.as_deref())?;
    let mut options = ExploreOptions {
        seeds: seeds(args, &scenario)?,
        first_seed: args.first_seed,
        policies: args.policy.clone(),
        jobs: args.jobs.map(usize::from),
        swarm: args.swarm,
        timeout: args.timeout,
    };
    let part = merge::shard_seeds(args, PartKind::Explore, &mut options.first_seed, &mut options.seeds)?;
    let state = with_progress(&scenario, &options.policies, options.seeds, |progress| {
        explore_state(&scenario, &options, progress)
    })?;
    emit_seeds(args, &scenario, part, state, |state, emit| emit_explore(&scenario, &state.finish(&scenario), emit))
}

/// Runs a many-seed command over `seeds` seeds of each chosen policy under a
/// progress bar (cleared before anything is printed).
fn with_progress<S>(
    scenario: &Scenario,
    policies: &[String],
    seeds: u64,
    run: impl FnOnce(&(dyn Fn() + Sync)) -> Result<S, EstimateError>,
) -> Result<S, Failure> {
    let chosen = select_policies(scenario, policies).map_err(|error| Failure::estimate(&error))?;
    let bar = progress_bar(seeds.saturating_mul(chosen.len() as u64));
    let result = run(&|| bar.inc(1));
    bar.finish_and_clear();
    result.map_err(|error| Failure::estimate(&error))
}

/// Emits a many-seed command's result as `args` ask (JSON or human, a
/// shard's part fields from `state`, a report), through `emit_result`.
fn emit_seeds<S: serde::Serialize>(
    args: &SeedsArgs,
    scenario: &Scenario,
    part: Option<merge::PartHeader>,
    state: S,
    emit_result: impl FnOnce(S, &Emit) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let part = part.map(|header| merge::part_fields(&header, &state));
    let scenario_text = report::scenario_text(scenario);
    emit_result(state, &Emit::new(args.json, part.as_deref(), args.report.as_deref(), &scenario_text))
}

/// How a result goes out: JSON or the human table, a shard's part fields
/// (for `merge`), and a report file with the scenario's text.
pub(crate) struct Emit<'a> {
    pub(crate) json: bool,
    pub(crate) part: Option<&'a str>,
    pub(crate) report: Option<report::ReportTo<'a>>,
}

impl<'a> Emit<'a> {
    pub(crate) fn new(json: bool, part: Option<&'a str>, report: Option<&'a Path>, scenario_text: &'a str) -> Self {
        Emit { json, part, report: report.map(|path| report::ReportTo { path, scenario_text }) }
    }
}

/// Prints an exploration (with a shard's part fields, if any), writes its
/// report and gives its verdict: the one output path of `explore` and of `merge`.
fn emit_explore(scenario: &Scenario, exploration: &Exploration, emit: &Emit) -> Result<(), Failure> {
    if emit.json {
        print(&merge::with_part(&output::explore_json(exploration), emit.part))?;
    } else {
        print(&output::explore_human(exploration))?;
    }
    report::write(emit.report.as_ref(), scenario, retrylab_report::Results::Exploration(exploration), &[])?;
    if exploration.violations.is_empty() {
        Ok(())
    } else {
        let failure = Failure::verdict(format!(
            "{} violation(s) in {} runs; replay one with the command shown",
            exploration.violations.len(),
            exploration.runs
        ));
        Err(match exploration.violations.first() {
            Some(first) => failure.at_seed(first.seed),
            None => failure,
        })
    }
}

fn estimate_options(args: &SeedsArgs, scenario: &Scenario) -> Result<EstimateOptions, Failure> {
    Ok(EstimateOptions {
        seeds: seeds(args, scenario)?,
        first_seed: args.first_seed,
        policies: args.policy.clone(),
        confidence: 0.95,
        jobs: args.jobs.map(usize::from),
        swarm: args.swarm,
        timeout: args.timeout,
    })
}

fn run_compare(args: &SeedsArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    report::check(args.report.as_deref())?;
    let mut options = estimate_options(args, &scenario)?;
    let part = merge::shard_seeds(args, PartKind::Compare, &mut options.first_seed, &mut options.seeds)?;
    let state = with_progress(&scenario, &options.policies, options.seeds, |progress| {
        compare_state(&scenario, &options, progress)
    })?;
    emit_seeds(args, &scenario, part, state, |state, emit| emit_compare(&scenario, &state.finish(&scenario), emit))
}

/// Prints a comparison (with a shard's part fields, if any), writes its
/// report and gives its verdict: the one output path of `compare` and of `merge`.
fn emit_compare(scenario: &Scenario, comparison: &Comparison, emit: &Emit) -> Result<(), Failure> {
    let warnings = warnings_after(scenario, comparison.policies.iter().map(|p| &p.disruptions_reached));
    if emit.json {
        print(&merge::with_part(&with_warnings(&output::compare_json(comparison), &warnings), emit.part))?;
    } else {
        print(&output::compare_human(scenario, comparison))?;
    }
    report::write(emit.report.as_ref(), scenario, retrylab_report::Results::Comparison(comparison), &warnings)?;
    violations_fail(&comparison.policies)
}

/// Exit status 1 when any policy's runs broke an invariant: a verdict that
/// counted only failed operations would bless a policy that corrupts data.
fn violations_fail(policies: &[PolicyEstimate]) -> Result<(), Failure> {
    let violating: Vec<String> = policies
        .iter()
        .filter(|p| !p.is_clean())
        .map(|p| format!("{} ({} on {} seeds)", p.policy, p.invariants.violations, p.invariants.seeds_with_violations))
        .collect();
    if violating.is_empty() {
        Ok(())
    } else {
        Err(Failure::verdict(format!(
            "invariant violations under {}; replay one with the command shown",
            violating.join(", ")
        )))
    }
}

fn run_estimate(args: &SeedsArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    report::check(args.report.as_deref())?;
    let mut options = estimate_options(args, &scenario)?;
    let part = merge::shard_seeds(args, PartKind::Estimate, &mut options.first_seed, &mut options.seeds)?;
    let state = with_progress(&scenario, &options.policies, options.seeds, |progress| {
        estimate_state(&scenario, &options, progress)
    })?;
    emit_seeds(args, &scenario, part, state, |state, emit| emit_estimate(&scenario, &state.finish(&scenario), emit))
}

/// Prints an estimate (with a shard's part fields, if any), writes its
/// report and gives its verdict: the one output path of `estimate` and of `merge`.
fn emit_estimate(scenario: &Scenario, estimate: &Estimate, emit: &Emit) -> Result<(), Failure> {
    let warnings = warnings_after(scenario, estimate.policies.iter().map(|p| &p.disruptions_reached));
    if emit.json {
        print(&merge::with_part(&with_warnings(&output::estimate_json(estimate), &warnings), emit.part))?;
    } else {
        print(&output::estimate_human(scenario, estimate))?;
    }
    report::write(emit.report.as_ref(), scenario, retrylab_report::Results::Estimate(estimate), &warnings)?;
    violations_fail(&estimate.policies)
}

fn run_shrink(args: &ShrinkArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    if args.cases == 0 {
        return Err(Failure::usage("--cases must be at least 1"));
    }
    if args.operations_max == Some(0) {
        return Err(Failure::usage("--operations-max must be at least 1"));
    }
    if let Some(out) = args.out.as_ref().filter(|out| out.exists() && !out.is_dir()) {
        return Err(Failure::usage(format!(
            "--out {}: is a file, not a directory: name the directory to write the shrunk case to \
             (it is created if missing)",
            out.display()
        )));
    }
    let variation = Variation {
        operations: args.operations_max.map(|max| 1..=max),
        policy_parameters: args.vary_policy,
        workload_kinds: args.vary_workload_kind,
        ..Variation::default()
    };
    let mut property =
        Property::from_scenario(scenario.clone()).vary(variation).cases(args.cases).proptest_seed(args.proptest_seed);
    if let Some(name) = &args.policy {
        property = property.policy(name);
    }
    if let Some(out) = &args.out {
        property = property.write_failures_to(out);
    }
    if let Some(timeout) = args.timeout {
        property = property.timeout(timeout);
    }
    let found = property.evaluate().map_err(|error| match error {
        PropertyError::Scenario(_) | PropertyError::UnknownPolicy(_) => Failure::usage(error),
        PropertyError::Aborted(_) | PropertyError::TimedOut(_) => Failure::failed(error),
    })?;
    let policy = args.policy.clone().or_else(|| scenario.policies.first().map(|p| p.name.clone())).unwrap_or_default();
    if args.json {
        print(&output::shrink_json(&scenario, &policy, args.cases, found.as_ref()))?;
    } else {
        print(&output::shrink_human(&scenario, &policy, args.cases, found.as_ref()))?;
    }
    match found {
        None => Ok(()),
        Some(failure) => {
            let verdict = match &failure.file {
                Some(file) => Failure::verdict(format!("invariant broken; shrunk case written to {}", file.display())),
                // The case is lost unless written: that is an error of its own.
                None => Failure::verdict(format!(
                    "invariant broken; the shrunk case could not be written: {}",
                    failure.write_error.as_deref().unwrap_or("unknown error")
                )),
            };
            Err(verdict.at_seed(failure.case.seed))
        }
    }
}
