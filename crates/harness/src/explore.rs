//! Exploration: many seeds through the invariant checkers, every violation
//! reported with the seed and the command that replays it.

use std::collections::BTreeMap;

use retrylab_scenario::Scenario;
use retrylab_sim::RunError;
use serde::Serialize;

use crate::estimate::{run_many, select_policies, EstimateError};
use crate::report::RunReport;

#[derive(Clone, Debug)]
pub struct ExploreOptions {
    pub seeds: u64,
    pub first_seed: u64,
    /// Policy names; empty: every policy of the scenario.
    pub policies: Vec<String>,
    pub jobs: Option<usize>,
    /// Swarm mode: each seed draws its own fault model (see `swarm_faults`).
    pub swarm: bool,
}

/// One broken invariant on one seed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub seed: u64,
    pub policy: String,
    /// Stable kebab-case name (see `retrylab_check::invariant`), or
    /// `run-did-not-finish` when the run hit a limit or panicked.
    pub invariant: String,
    pub detail: String,
    /// The command that replays this seed.
    pub reproduce: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Exploration {
    pub scenario: String,
    pub seeds: u64,
    pub first_seed: u64,
    pub policies: Vec<String>,
    pub runs: u64,
    pub violations: Vec<Finding>,
}

/// The shell command that replays `seed` of `scenario` under `policy`.
pub fn reproduce_command(scenario: &Scenario, policy: &str, seed: u64) -> String {
    format!("retrylab run {} --seed {seed} --policy {policy}", scenario.path.display())
}

/// The same for a seed run in swarm mode.
pub fn reproduce_command_swarm(scenario: &Scenario, policy: &str, seed: u64) -> String {
    format!("{} --swarm", reproduce_command(scenario, policy, seed))
}

/// The replay command for a seed run as `swarm` says (plain or swarm mode).
pub(crate) fn replay_command(scenario: &Scenario, policy: &str, seed: u64, swarm: bool) -> String {
    if swarm {
        reproduce_command_swarm(scenario, policy, seed)
    } else {
        reproduce_command(scenario, policy, seed)
    }
}

/// What the invariant checkers found over one policy's seeds: the part of
/// every verdict (`estimate`, `compare`, `Check`) that counts corruption.
/// Its fields appear flattened in each verdict's JSON, under stable names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ViolationTally {
    /// Invariant violations over all seeds (a seed can break several).
    pub violations: u64,
    /// Seeds with at least one violation.
    pub seeds_with_violations: u64,
    /// Violations per invariant (stable kebab-case names).
    pub violations_by_invariant: BTreeMap<String, u64>,
    /// The first violation, on the lowest seed that has one, with the
    /// command that replays it.
    pub violation_example: Option<Finding>,
}

impl ViolationTally {
    /// Counts one run's violations; `replay` gives the command for its seed.
    pub(crate) fn add(&mut self, report: &RunReport, replay: impl FnOnce(u64) -> String) {
        let Some(first) = report.violations.first() else { return };
        self.violations += report.violations.len() as u64;
        self.seeds_with_violations += 1;
        for violation in &report.violations {
            *self.violations_by_invariant.entry(violation.invariant.to_owned()).or_default() += 1;
        }
        let lower_seed = self.violation_example.as_ref().is_none_or(|example| report.seed < example.seed);
        if lower_seed {
            self.violation_example = Some(Finding {
                seed: report.seed,
                policy: report.policy.clone(),
                invariant: first.invariant.to_owned(),
                detail: first.detail.clone(),
                reproduce: replay(report.seed),
            });
        }
    }

    /// The tally of one policy's runs.
    pub(crate) fn of(scenario: &Scenario, policy: &str, reports: &[RunReport], swarm: bool) -> ViolationTally {
        let mut tally = ViolationTally::default();
        for report in reports {
            tally.add(report, |seed| replay_command(scenario, policy, seed, swarm));
        }
        tally
    }

    pub fn is_clean(&self) -> bool {
        self.violations == 0
    }
}

/// Runs the seeds of every chosen policy and collects what the checkers found.
pub fn explore(
    scenario: &Scenario,
    options: &ExploreOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<Exploration, EstimateError> {
    let policies = select_policies(scenario, &options.policies)?;
    let seeds = options.first_seed..options.first_seed + options.seeds;
    let reports = run_many(scenario, &policies, seeds.clone(), options.jobs, options.swarm, progress)?;
    let pairs = policies.iter().flat_map(|policy| seeds.clone().map(move |seed| (*policy, seed)));
    let mut violations = Vec::new();
    for ((policy, seed), report) in pairs.zip(reports) {
        let finding = |invariant: &str, detail: String| Finding {
            seed,
            policy: policy.name.clone(),
            invariant: invariant.to_owned(),
            detail,
            reproduce: replay_command(scenario, &policy.name, seed, options.swarm),
        };
        match report {
            Ok(report) => violations.extend(report.violations.iter().map(|v| finding(v.invariant, v.detail.clone()))),
            // A run that loops, stalls or panics is itself a finding.
            Err(error @ (RunError::TimeLimit { .. } | RunError::EventLimit { .. } | RunError::Panicked { .. })) => {
                violations.push(finding("run-did-not-finish", error.to_string()));
            }
        }
    }
    Ok(Exploration {
        scenario: scenario.name.clone(),
        seeds: options.seeds,
        first_seed: options.first_seed,
        policies: policies.iter().map(|p| p.name.clone()).collect(),
        runs: options.seeds * policies.len() as u64,
        violations,
    })
}
