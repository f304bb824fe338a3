//! Property tests users can write in a few lines: "this policy meets this
//! success target on this scenario", decided with a confidence bound and
//! stopped early by a sequential test, failing with the command that replays
//! a failed operation.
//!
//! ```no_run
//! retrylab_harness::Check::scenario("sim-scenarios/policies/s3-bursty-1.3pct.toml")
//!     .policy("aws-standard")
//!     .seeds(2000)
//!     .target_success(0.999)
//!     .run();
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use retrylab_scenario::Scenario;
use retrylab_stats::{clopper_pearson_lower_one_sided, design_effect, Sprt, SprtVerdict};

use crate::estimate::{run_many, select_policies, EstimateError};
use crate::explore::reproduce_command;

/// Seeds run between two looks at the evidence.
const BATCH_SEEDS: u64 = 100;

/// Seeds with a failure below which the design effect is a rough estimate.
const MIN_SEEDS_WITH_A_FAILURE: u64 = retrylab_stats::MIN_CLUSTERS_FOR_DESIGN_EFFECT;

/// A success-rate check of one policy on one scenario.
#[derive(Clone, Debug)]
pub struct Check {
    scenario: Result<Scenario, String>,
    policy: Option<String>,
    seeds_max: u64,
    first_seed: u64,
    target_success: f64,
    confidence: f64,
    jobs: Option<usize>,
}

/// What a check found.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub passed: bool,
    pub scenario: String,
    pub policy: String,
    pub seeds_used: u64,
    pub operations: u64,
    pub failures: u64,
    pub target_success: f64,
    /// One-sided lower confidence bound of the success rate: Clopper-Pearson
    /// on the effective number of operations (`operations / design_effect`),
    /// since operations of one seed fail together under bursty faults.
    /// The verdict rests on this bound.
    pub success_lower_bound: f64,
    /// The same bound treating every operation as independent (plain
    /// Clopper-Pearson): optimistic when failures cluster within seeds.
    pub success_lower_bound_independent: f64,
    /// How much the seeds' clustering of failures inflates the variance
    /// (Kish's design effect, at least 1), estimated from per-seed counts.
    pub design_effect: f64,
    /// Whether enough seeds (10) saw a failure for the design effect to be
    /// trusted; with fewer it is a rough estimate, and the message says so.
    pub design_effect_reliable: bool,
    pub confidence: f64,
    /// Whether the sequential test stopped the check before `seeds`.
    pub stopped_early: bool,
    /// A failed operation (seed, operation index) and the command that replays its seed.
    pub failed_example: Option<(u64, u64)>,
    pub reproduce: Option<String>,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = if self.operations == 0 { 0.0 } else { 1.0 - self.failures as f64 / self.operations as f64 };
        write!(
            f,
            "policy {:?} on {}: success rate {:.5} ({} of {} operations failed over {} seeds{}); \
             the one-sided {:.0}% lower bound {:.5} (design effect {:.2} over seeds{}) is {} the target {}",
            self.policy,
            self.scenario,
            rate,
            self.failures,
            self.operations,
            self.seeds_used,
            if self.stopped_early { ", stopped early by the sequential test" } else { "" },
            self.confidence * 100.0,
            self.success_lower_bound,
            self.design_effect,
            if self.design_effect_reliable { "" } else { ", from fewer than 10 seeds with a failure" },
            if self.passed { "at or above" } else { "below" },
            self.target_success,
        )?;
        if let (Some((seed, operation)), Some(command)) = (self.failed_example, &self.reproduce) {
            write!(f, ". Operation {operation} of seed {seed} failed; replay it with: {command}")?;
        }
        Ok(())
    }
}

/// Why a check could not be made at all.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckError {
    Scenario(String),
    Estimate(EstimateError),
    BadTarget(f64),
    /// The statistics refused the counts (a bug: reports never give such counts).
    Stats(String),
}

impl CheckError {
    fn stats(error: impl fmt::Display) -> Self {
        CheckError::Stats(error.to_string())
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Scenario(message) => f.write_str(message),
            CheckError::Estimate(error) => error.fmt(f),
            CheckError::BadTarget(target) => write!(f, "target_success must be in (0, 1), got {target}"),
            CheckError::Stats(message) => write!(f, "statistics: {message}"),
        }
    }
}

impl std::error::Error for CheckError {}

impl Check {
    /// A check of the scenario in `path` (relative paths are taken from the
    /// current directory; `cargo test` runs in the package's directory).
    pub fn scenario(path: impl AsRef<Path>) -> Check {
        let path: PathBuf = path.as_ref().to_path_buf();
        Check::with(retrylab_scenario::load(&path).map_err(|error| error.to_string()))
    }

    /// A check of a scenario built in code.
    pub fn from_scenario(scenario: Scenario) -> Check {
        Check::with(Ok(scenario))
    }

    fn with(scenario: Result<Scenario, String>) -> Check {
        Check {
            scenario,
            policy: None,
            seeds_max: 1000,
            first_seed: 0,
            target_success: 0.999,
            confidence: 0.99,
            jobs: None,
        }
    }

    /// The policy to check, by name [default: the scenario's first].
    pub fn policy(mut self, name: &str) -> Check {
        self.policy = Some(name.to_owned());
        self
    }

    /// At most this many seeds (fewer if the sequential test decides sooner).
    pub fn seeds(mut self, seeds: u64) -> Check {
        self.seeds_max = seeds;
        self
    }

    pub fn first_seed(mut self, seed: u64) -> Check {
        self.first_seed = seed;
        self
    }

    /// The success rate per operation the policy must reach.
    pub fn target_success(mut self, target: f64) -> Check {
        self.target_success = target;
        self
    }

    /// Confidence of the one-sided lower bound [default 0.99].
    pub fn confidence(mut self, confidence: f64) -> Check {
        self.confidence = confidence;
        self
    }

    pub fn jobs(mut self, jobs: usize) -> Check {
        self.jobs = Some(jobs);
        self
    }

    /// Runs the check and returns the verdict (never panics).
    pub fn evaluate(&self) -> Result<Verdict, CheckError> {
        let scenario = self.scenario.as_ref().map_err(|message| CheckError::Scenario(message.clone()))?;
        let target = self.target_success;
        if !(target > 0.0 && target < 1.0) {
            return Err(CheckError::BadTarget(target));
        }
        let names: Vec<String> = self.policy.iter().cloned().collect();
        let policies = select_policies(scenario, &names).map_err(CheckError::Estimate)?;
        let policy = policies[..1].to_vec();
        // The sequential test weighs "fails twice as often as allowed"
        // against "half as often"; it only decides when to stop looking.
        // The verdict itself is always the confidence bound.
        let allowed_failure = 1.0 - target;
        let mut sprt = Sprt::new(
            (1.0 - 2.0 * allowed_failure).max(1e-9),
            (1.0 - allowed_failure / 2.0).min(1.0 - 1e-12),
            1.0 - self.confidence,
            1.0 - self.confidence,
        )
        .ok();
        let (mut operations, mut failures, mut seeds_used) = (0u64, 0u64, 0u64);
        // (successes, operations) per seed: the clusters of the design effect.
        let mut per_seed: Vec<(u64, u64)> = Vec::new();
        let mut failed_example = None;
        let mut stopped_early = false;
        let end = self.first_seed + self.seeds_max;
        let mut next = self.first_seed;
        while next < end {
            let batch_end = (next + BATCH_SEEDS).min(end);
            let reports =
                run_many(scenario, &policy, next..batch_end, self.jobs, false, &|| {}).map_err(CheckError::Estimate)?;
            let (mut batch_ops, mut batch_failures) = (0, 0);
            for report in reports {
                let report = report.map_err(|error| CheckError::Estimate(EstimateError::Run(error)))?;
                if failed_example.is_none() {
                    if let Some(index) = report.outcomes.iter().position(|ok| !ok) {
                        failed_example = Some((report.seed, index as u64));
                    }
                }
                batch_ops += report.operations;
                batch_failures += report.failures;
                per_seed.push((report.operations - report.failures, report.operations));
            }
            operations += batch_ops;
            failures += batch_failures;
            seeds_used += batch_end - next;
            next = batch_end;
            let lower = design_effect(&per_seed).map_err(CheckError::stats)?.lower_one_sided(self.confidence);
            let decided = sprt
                .as_mut()
                .and_then(|sprt| sprt.observe(batch_ops - batch_failures, batch_ops).ok())
                .unwrap_or(SprtVerdict::Continue);
            let clear = match decided {
                SprtVerdict::AcceptH0 => lower < target,
                SprtVerdict::AcceptH1 => lower >= target,
                SprtVerdict::Continue => false,
            };
            if clear && next < end {
                stopped_early = true;
                break;
            }
        }
        let clusters = design_effect(&per_seed).map_err(CheckError::stats)?;
        let success_lower_bound = clusters.lower_one_sided(self.confidence);
        let passed = success_lower_bound >= target;
        Ok(Verdict {
            passed,
            scenario: scenario.path.display().to_string(),
            policy: policy[0].name.clone(),
            seeds_used,
            operations,
            failures,
            target_success: target,
            success_lower_bound,
            success_lower_bound_independent: clopper_pearson_lower_one_sided(
                operations - failures,
                operations,
                self.confidence,
            ),
            design_effect: clusters.design_effect,
            design_effect_reliable: clusters.clusters_with_failures >= MIN_SEEDS_WITH_A_FAILURE,
            confidence: self.confidence,
            stopped_early,
            reproduce: failed_example.map(|(seed, _)| reproduce_command(scenario, &policy[0].name, seed)),
            failed_example,
        })
    }

    /// Runs the check and panics with the verdict (and a replay command)
    /// unless the policy meets its target: for `#[test]` functions.
    pub fn run(self) -> Verdict {
        match self.evaluate() {
            Ok(verdict) if verdict.passed => verdict,
            Ok(verdict) => panic!("{verdict}"),
            Err(error) => panic!("the check could not run: {error}"),
        }
    }
}
