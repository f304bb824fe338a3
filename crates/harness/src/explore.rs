//! Exploration: many seeds through the invariant checkers, every violation
//! reported with the seed and the command that replays it.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use retrylab_scenario::Scenario;
use retrylab_sim::RunError;
use serde::{Deserialize, Serialize};

use crate::estimate::{select_policies, EstimateError};
use crate::report::RunReport;
use crate::runner::{RunTimeout, Runner, Seeds};
use crate::shard::{check_follows, MergeError};

#[derive(Clone, Debug)]
pub struct ExploreOptions {
    pub seeds: u64,
    pub first_seed: u64,
    /// Policy names; empty: every policy of the scenario.
    pub policies: Vec<String>,
    pub jobs: Option<usize>,
    /// Swarm mode: each seed draws its own fault model (see `swarm_faults`).
    pub swarm: bool,
    /// Wall-clock budget of each run; a run past it is a finding.
    pub timeout: Option<RunTimeout>,
}

impl Default for ExploreOptions {
    fn default() -> Self {
        ExploreOptions { seeds: 100, first_seed: 0, policies: Vec::new(), jobs: None, swarm: false, timeout: None }
    }
}

/// One broken invariant on one seed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

/// The shell command that replays `seed` of `scenario` under `policy`,
/// every argument quoted for a POSIX shell.
pub fn reproduce_command(scenario: &Scenario, policy: &str, seed: u64) -> String {
    run_command(&scenario.path, policy, seed)
}

/// `retrylab run FILE --seed SEED --policy POLICY`, quoted for a POSIX shell.
pub(crate) fn run_command(file: &std::path::Path, policy: &str, seed: u64) -> String {
    let file = file.to_string_lossy();
    // A leading `-` would read as an option: `./-x.toml`, `--policy=-x`.
    let file = if file.starts_with('-') { format!("./{file}") } else { file.into_owned() };
    let policy = if policy.starts_with('-') {
        format!("--policy={}", shell_quote(policy))
    } else {
        format!("--policy {}", shell_quote(policy))
    };
    format!("retrylab run {} --seed {seed} {policy}", shell_quote(&file))
}

/// `word` as one word for a POSIX shell: as is when it holds only
/// characters no shell treats specially, else in single quotes (a single
/// quote inside becomes `'\''`).
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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

    pub fn is_clean(&self) -> bool {
        self.violations == 0
    }

    /// Adds another tally of other seeds: counts add, and the example is
    /// the one on the lower seed, as if every seed had been counted here.
    pub fn merge(&mut self, other: ViolationTally) {
        self.violations = self.violations.saturating_add(other.violations);
        self.seeds_with_violations = self.seeds_with_violations.saturating_add(other.seeds_with_violations);
        for (invariant, n) in other.violations_by_invariant {
            let slot = self.violations_by_invariant.entry(invariant).or_default();
            *slot = slot.saturating_add(n);
        }
        if let Some(example) = other.violation_example {
            if self.violation_example.as_ref().is_none_or(|mine| example.seed < mine.seed) {
                self.violation_example = Some(example);
            }
        }
    }
}

/// Runs the seeds of every chosen policy and collects what the checkers
/// found, per policy in seed order (whatever the threads' timing).
pub fn explore(
    scenario: &Scenario,
    options: &ExploreOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<Exploration, EstimateError> {
    Ok(explore_state(scenario, options, progress)?.finish(scenario))
}

/// What an [`Exploration`] is made of, per policy: serializable, so that
/// shards of the seeds merge ([`ExplorationState::merge`]) into what one
/// machine would have found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExplorationState {
    pub first_seed: u64,
    pub seeds: u64,
    pub swarm: bool,
    pub policies: Vec<String>,
    /// Per policy (in `policies`' order), the findings in seed order.
    pub findings: Vec<Vec<Finding>>,
}

/// [`explore`], stopping short of the report: the state to finish or merge.
pub fn explore_state(
    scenario: &Scenario,
    options: &ExploreOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<ExplorationState, EstimateError> {
    let policies = select_policies(scenario, &options.policies)?;
    let seeds = Seeds::new(options.first_seed, options.seeds).map_err(EstimateError::Seeds)?;
    let runner = Runner::new(scenario, &policies, options.jobs, options.swarm, options.timeout)?;
    let mut per_policy: Vec<Vec<Finding>> = policies.iter().map(|_| Vec::new()).collect();
    runner.run(seeds, progress, &mut |chunk| {
        for ((policy, findings), runs) in policies.iter().zip(&mut per_policy).zip(chunk) {
            for run in runs {
                findings.extend(findings_of(scenario, &policy.name, options.swarm, run));
            }
        }
        ControlFlow::Continue(())
    });
    Ok(ExplorationState {
        first_seed: options.first_seed,
        seeds: options.seeds,
        swarm: options.swarm,
        policies: policies.iter().map(|p| p.name.clone()).collect(),
        findings: per_policy,
    })
}

impl ExplorationState {
    /// The exploration of `scenario` (the one these seeds ran).
    pub fn finish(self, scenario: &Scenario) -> Exploration {
        Exploration {
            scenario: scenario.name.clone(),
            seeds: self.seeds,
            first_seed: self.first_seed,
            runs: self.seeds * self.policies.len() as u64,
            policies: self.policies,
            violations: self.findings.into_iter().flatten().collect(),
        }
    }

    /// Appends `next`, the findings on the seeds that follow these under the same policies.
    pub fn merge(&mut self, next: ExplorationState) -> Result<(), MergeError> {
        check_follows(self.first_seed, self.seeds, next.first_seed)?;
        if next.policies != self.policies || next.swarm != self.swarm || next.findings.len() != self.findings.len() {
            return Err(MergeError::Mismatch(format!(
                "policies [{}]{} against [{}]{}",
                self.policies.join(", "),
                if self.swarm { " (swarm)" } else { "" },
                next.policies.join(", "),
                if next.swarm { " (swarm)" } else { "" }
            )));
        }
        for (findings, more) in self.findings.iter_mut().zip(next.findings) {
            findings.extend(more);
        }
        self.seeds += next.seeds;
        Ok(())
    }
}

/// What one run's checkers found; a run that loops, stalls, panics or runs
/// out of wall-clock time is itself a finding.
fn findings_of(scenario: &Scenario, policy: &str, swarm: bool, run: Result<RunReport, RunError>) -> Vec<Finding> {
    let seed = match &run {
        Ok(report) => report.seed,
        Err(error) => error.seed(),
    };
    let finding = |invariant: &str, detail: String| Finding {
        seed,
        policy: policy.to_owned(),
        invariant: invariant.to_owned(),
        detail,
        reproduce: replay_command(scenario, policy, seed, swarm),
    };
    match run {
        Ok(report) => report.violations.iter().map(|v| finding(v.invariant, v.detail.clone())).collect(),
        Err(error) => vec![finding("run-did-not-finish", error.to_string())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(seed: u64, invariant: &str, violations: u64) -> ViolationTally {
        ViolationTally {
            violations,
            seeds_with_violations: 1,
            violations_by_invariant: [(invariant.to_owned(), violations)].into_iter().collect(),
            violation_example: Some(Finding {
                seed,
                policy: "p".to_owned(),
                invariant: invariant.to_owned(),
                detail: String::new(),
                reproduce: String::new(),
            }),
        }
    }

    #[test]
    fn merged_tallies_add_and_keep_the_lowest_seed_example() {
        let mut merged = ViolationTally::default();
        merged.merge(tally(9, "stale-read", 2));
        merged.merge(ViolationTally::default());
        merged.merge(tally(4, "lost-write", 1));
        merged.merge(tally(7, "stale-read", 3));
        assert_eq!((merged.violations, merged.seeds_with_violations), (6, 3));
        assert_eq!(merged.violations_by_invariant.get("stale-read"), Some(&5));
        assert_eq!(merged.violation_example.map(|e| (e.seed, e.invariant)), Some((4, "lost-write".to_owned())));
    }

    #[test]
    fn replay_commands_quote_what_a_shell_would_split_or_run() {
        assert_eq!(shell_quote("aws-standard"), "aws-standard");
        assert_eq!(shell_quote("a b; echo x"), "'a b; echo x'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME`x`"), "'$HOME`x`'");
        let path = std::path::Path::new("dir with space/f.toml");
        assert_eq!(run_command(path, "a b", 3), "retrylab run 'dir with space/f.toml' --seed 3 --policy 'a b'");
        assert_eq!(
            run_command(std::path::Path::new("-f.toml"), "-x", 1),
            "retrylab run ./-f.toml --seed 1 --policy=-x"
        );
    }
}
