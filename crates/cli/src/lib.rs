//! The `retrylab` command line: parses arguments, loads scenarios, calls the
//! harness and prints human tables or `--json`. No simulation logic lives here.
//!
//! Exit status: 0 success; 1 a run failed (a limit was hit) or the checkers
//! found an invariant violation (`run`, `explore`, `estimate`, `compare`,
//! `shrink`); 2 bad usage or a bad scenario file.

mod args;
mod output;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use retrylab_harness::{
    compare, estimate, explore, run_seed, select_policies, swarm_scenario, EstimateOptions, ExploreOptions,
    PolicyEstimate, Property, PropertyError, TraceMode, Variation,
};
use retrylab_scenario::Scenario;

use crate::args::{Cli, Command, RunArgs, SeedsArgs, ShrinkArgs};

/// Exit status for a failed run or check.
const EXIT_FAILED: u8 = 1;
/// Exit status for bad usage or a bad scenario (clap uses 2 as well).
const EXIT_USAGE: u8 = 2;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(&args),
        Command::Estimate(args) => run_estimate(&args),
        Command::Explore(args) => run_explore(&args),
        Command::Compare(args) => run_compare(&args),
        Command::Shrink(args) => run_shrink(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.status)
        }
    }
}

struct Failure {
    status: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl ToString) -> Self {
        Failure { status: EXIT_USAGE, message: message.to_string() }
    }

    fn failed(message: impl ToString) -> Self {
        Failure { status: EXIT_FAILED, message: message.to_string() }
    }
}

/// Loads a scenario and warns on stderr, once, of each setting that cannot affect a run.
fn load(path: &std::path::Path) -> Result<Scenario, Failure> {
    let scenario = retrylab_scenario::load(path).map_err(Failure::usage)?;
    for warning in scenario.warnings() {
        eprintln!("warning: {warning}");
    }
    Ok(scenario)
}

fn print(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a message.
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
    Ok(())
}

fn run(args: &RunArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    let names: Vec<String> = args.policy.iter().cloned().collect();
    let policies = select_policies(&scenario, &names).map_err(Failure::usage)?;
    let Some(policy) = policies.first() else {
        return Err(Failure::usage("the scenario has no policies"));
    };
    let mode = if args.trace { TraceMode::Full } else { TraceMode::HashOnly };
    let report = if args.swarm {
        run_seed(&swarm_scenario(&scenario, args.seed), policy, args.seed, mode)
    } else {
        run_seed(&scenario, policy, args.seed, mode)
    }
    .map_err(Failure::failed)?;
    if args.json {
        print(&output::run_json(&scenario, &report))?;
    } else {
        print(&output::run_human(&scenario, &report))?;
    }
    if report.violations.is_empty() {
        Ok(())
    } else {
        Err(Failure::failed(format!("seed {}: {} invariant violation(s)", report.seed, report.violations.len())))
    }
}

fn progress_bar(total: u64) -> indicatif::ProgressBar {
    // indicatif draws only when stderr is a terminal, so pipes and CI stay clean.
    indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} runs ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    )
}

fn run_explore(args: &SeedsArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    let options = ExploreOptions {
        seeds: args.seeds.unwrap_or(scenario.seeds_default),
        first_seed: args.first_seed,
        policies: args.policy.clone(),
        jobs: args.jobs,
        swarm: args.swarm,
    };
    if options.seeds == 0 {
        return Err(Failure::usage("--seeds must be at least 1"));
    }
    let chosen = select_policies(&scenario, &options.policies).map_err(Failure::usage)?;
    let bar = progress_bar(options.seeds * chosen.len() as u64);
    let result = explore(&scenario, &options, &|| bar.inc(1));
    bar.finish_and_clear();
    let exploration = result.map_err(Failure::failed)?;
    if args.json {
        print(&output::explore_json(&exploration))?;
    } else {
        print(&output::explore_human(&exploration))?;
    }
    if exploration.violations.is_empty() {
        Ok(())
    } else {
        Err(Failure::failed(format!(
            "{} violation(s) in {} runs; replay one with the command shown",
            exploration.violations.len(),
            exploration.runs
        )))
    }
}

fn estimate_options(args: &SeedsArgs, scenario: &Scenario) -> Result<EstimateOptions, Failure> {
    let options = EstimateOptions {
        seeds: args.seeds.unwrap_or(scenario.seeds_default),
        first_seed: args.first_seed,
        policies: args.policy.clone(),
        confidence: 0.95,
        jobs: args.jobs,
        swarm: args.swarm,
    };
    if options.seeds == 0 {
        return Err(Failure::usage("--seeds must be at least 1"));
    }
    Ok(options)
}

fn run_compare(args: &SeedsArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    let options = estimate_options(args, &scenario)?;
    let chosen = select_policies(&scenario, &options.policies).map_err(Failure::usage)?;
    let bar = progress_bar(options.seeds * chosen.len() as u64);
    let result = compare(&scenario, &options, &|| bar.inc(1));
    bar.finish_and_clear();
    let comparison = result.map_err(Failure::failed)?;
    if args.json {
        print(&output::compare_json(&comparison))?;
    } else {
        print(&output::compare_human(&scenario, &comparison))?;
    }
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
        Err(Failure::failed(format!(
            "invariant violations under {}; replay one with the command shown",
            violating.join(", ")
        )))
    }
}

fn run_estimate(args: &SeedsArgs) -> Result<(), Failure> {
    let scenario = load(&args.scenario)?;
    let options = estimate_options(args, &scenario)?;
    let chosen = select_policies(&scenario, &options.policies).map_err(Failure::usage)?;
    let bar = progress_bar(options.seeds * chosen.len() as u64);
    let result = estimate(&scenario, &options, &|| bar.inc(1));
    bar.finish_and_clear();
    let estimate = result.map_err(Failure::failed)?;
    if args.json {
        print(&output::estimate_json(&estimate))?;
    } else {
        print(&output::estimate_human(&scenario, &estimate))?;
    }
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
    let found = property.evaluate().map_err(|error| match error {
        PropertyError::Scenario(_) | PropertyError::UnknownPolicy(_) => Failure::usage(error),
        PropertyError::Aborted(_) => Failure::failed(error),
    })?;
    let policy = args.policy.clone().or_else(|| scenario.policies.first().map(|p| p.name.clone())).unwrap_or_default();
    if args.json {
        print(&output::shrink_json(&scenario, &policy, args.cases, found.as_ref()))?;
    } else {
        print(&output::shrink_human(&scenario, &policy, args.cases, found.as_ref()))?;
    }
    match found {
        None => Ok(()),
        Some(failure) => Err(Failure::failed(match &failure.file {
            Some(file) => format!("invariant broken; shrunk case written to {}", file.display()),
            None => "invariant broken; the shrunk case could not be written (see above)".to_owned(),
        })),
    }
}
