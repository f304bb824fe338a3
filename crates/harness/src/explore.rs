//! Exploration: many seeds through the invariant checkers, every violation
//! reported with the seed and the command that replays it.

use retrylab_scenario::Scenario;
use retrylab_sim::RunError;
use serde::Serialize;

use crate::estimate::{run_many, select_policies, EstimateError};

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
            reproduce: if options.swarm {
                reproduce_command_swarm(scenario, &policy.name, seed)
            } else {
                reproduce_command(scenario, &policy.name, seed)
            },
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
