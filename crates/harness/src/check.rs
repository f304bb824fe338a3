//! Property tests users can write in a few lines: "this policy meets this
//! success target on this scenario and breaks no invariant", decided with a
//! confidence bound and stopped early by a sequential test, failing with the
//! command that replays a broken invariant or a failed operation.
//!
//! ```no_run
//! retrylab_harness::Check::scenario("sim-scenarios/policies/s3-bursty-1.3pct.toml")
//!     .policy("aws-standard")
//!     .seeds(2000)
//!     .target_success(0.999)
//!     .run();
//! ```

use std::fmt;
use std::path::Path;

use retrylab_scenario::Scenario;
use retrylab_stats::{
    clopper_pearson_lower_one_sided, clopper_pearson_upper_one_sided, design_effect, Sprt, SprtVerdict,
};

use crate::estimate::{select_policies, EstimateError};
use crate::explore::{reproduce_command, ViolationTally};
use crate::nightly::{count_from_env, SEEDS_VAR};
use crate::runner::{Runner, Seeds};

/// Seeds run between two looks at the evidence.
const BATCH_SEEDS: u64 = 100;

/// Seeds with a failure below which the design effect is a rough estimate.
const MIN_SEEDS_WITH_A_FAILURE: u64 = retrylab_stats::MIN_CLUSTERS_FOR_DESIGN_EFFECT;

/// A check of one policy on one scenario: no run breaks an invariant, and
/// the success rate per operation meets a target.
///
/// **Invariants first.** Every run's invariant checkers (grid workloads check
/// their history and stored shares at quiescence) count: a single violation
/// on any seed fails the check, whatever the success rate and whatever the
/// target, even `target_success(0.0)`. The check stops at the end of the
/// batch where it found one (the verdict can no longer change) and names the
/// invariant, the seed and the command that replays it.
///
/// **Early stopping bounds the seeds checked.** Seeds run in batches of 100;
/// after each, Wald's sequential test on the success rate may end the check
/// before `seeds`. An early pass needs every seed run so far to be clean, but
/// the invariants were then checked on `seeds_used` seeds, not `seeds`: a
/// rare violation (one seed in thousands) can lie beyond them. The verdict
/// says how many seeds were checked and the upper confidence bound of the
/// share of seeds that break an invariant
/// (`seeds_with_violations_upper_bound`). To check invariants on every seed,
/// use `.stop_early(false)`, or `target_success(0.0)` (a check of the
/// invariants alone, which never stops early on a pass), or `explore`.
#[derive(Clone, Debug)]
pub struct Check {
    scenario: Result<Scenario, String>,
    policy: Option<String>,
    seeds_max: u64,
    first_seed: u64,
    target_success: f64,
    confidence: f64,
    jobs: Option<usize>,
    stop_early: bool,
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
    /// What the invariant checkers found on the seeds run: any violation
    /// fails the check. `invariants.violation_example` is the first one,
    /// with its seed and replay command.
    pub invariants: ViolationTally,
    /// One-sided upper confidence bound (at `confidence`) of the share of
    /// seeds that break an invariant, from `seeds_with_violations` of
    /// `seeds_used` (Clopper-Pearson): with no violation in n seeds it is
    /// about 4.6 / n at 99%, what the seeds checked rule out.
    pub seeds_with_violations_upper_bound: f64,
    /// What the reader should know to weigh the verdict: the sequential
    /// test could not be set up (so no early stop), or every seed met the
    /// same scripted outage. Printed after the verdict.
    pub notes: Vec<String>,
}

impl Verdict {
    /// Whether every seed run was free of invariant violations.
    pub fn invariants_held(&self) -> bool {
        self.invariants.is_clean()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy {:?} on {}: ", self.policy, self.scenario)?;
        // A broken invariant comes first: it fails the check whatever the rate.
        if let Some(example) = &self.invariants.violation_example {
            let by_invariant: Vec<String> =
                self.invariants.violations_by_invariant.iter().map(|(name, n)| format!("{n} x {name}")).collect();
            write!(
                f,
                "FAILED: the checkers found {} invariant violation{} on {} of {} seeds ({}); \
                 first on seed {}: {}: {}; replay it with: {}. Besides, ",
                self.invariants.violations,
                if self.invariants.violations == 1 { "" } else { "s" },
                self.invariants.seeds_with_violations,
                self.seeds_used,
                by_invariant.join(", "),
                example.seed,
                example.invariant,
                example.detail,
                example.reproduce,
            )?;
        }
        let rate = if self.operations == 0 { 0.0 } else { 1.0 - self.failures as f64 / self.operations as f64 };
        let stopped = match (self.stopped_early, self.invariants.is_clean()) {
            (false, _) => "",
            (true, true) => ", stopped early by the sequential test",
            (true, false) => ", stopped after the batch with the first violation",
        };
        write!(
            f,
            "success rate {:.5} ({} of {} operations failed over {} seeds{stopped}); \
             the one-sided {:.0}% lower bound {:.5} (design effect {:.2} over seeds{}) is {} the target {}",
            rate,
            self.failures,
            self.operations,
            self.seeds_used,
            self.confidence * 100.0,
            self.success_lower_bound,
            self.design_effect,
            if self.design_effect_reliable { "" } else { ", from fewer than 10 seeds with a failure" },
            if self.success_lower_bound >= self.target_success { "at or above" } else { "below" },
            self.target_success,
        )?;
        if let (Some((seed, operation)), Some(command)) = (self.failed_example, &self.reproduce) {
            write!(f, ". Operation {operation} of seed {seed} failed; replay it with: {command}")?;
        }
        if self.invariants.is_clean() {
            write!(
                f,
                ". No invariant broken on {} seeds (at most {:.3}% of seeds break one, {:.0}% confidence)",
                self.seeds_used,
                self.seeds_with_violations_upper_bound * 100.0,
                self.confidence * 100.0,
            )?;
        }
        for note in &self.notes {
            write!(f, ". Note: {note}")?;
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
    /// `RETRYLAB_SEEDS` is set but not a whole number of at least 1.
    Environment(String),
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
            CheckError::BadTarget(target) => write!(f, "target_success must be in [0, 1), got {target}"),
            CheckError::Stats(message) => write!(f, "statistics: {message}"),
            CheckError::Environment(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CheckError {}

/// Loads a scenario named in a test. A relative path that does not exist
/// is the usual mistake in a crate of one's own (the README's paths are
/// relative to the retrylab repository): the message says how to name it.
pub(crate) fn load_for_test(path: &Path) -> Result<Scenario, String> {
    retrylab_scenario::load(path).map_err(|error| {
        if path.is_relative() && !path.exists() {
            let cwd = std::env::current_dir().map(|dir| dir.display().to_string()).unwrap_or_default();
            format!(
                "{error} (a relative path is taken from the current directory, {cwd}; name the file from your \
                 crate's directory instead: concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{}\"))",
                path.display()
            )
        } else {
            error.to_string()
        }
    })
}

impl Check {
    /// A check of the scenario in `path` (relative paths are taken from the
    /// current directory; `cargo test` runs in the package's directory).
    pub fn scenario(path: impl AsRef<Path>) -> Check {
        Check::with(load_for_test(path.as_ref()))
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
            stop_early: true,
        }
    }

    /// The policy to check, by name [default: the scenario's first].
    pub fn policy(mut self, name: &str) -> Check {
        self.policy = Some(name.to_owned());
        self
    }

    /// At most this many seeds (fewer if the sequential test decides sooner)
    /// [default 1000]. `RETRYLAB_SEEDS` in the environment replaces it, so a
    /// nightly run can look further than every pull request's run; the
    /// verdict's notes say so.
    pub fn seeds(mut self, seeds: u64) -> Check {
        self.seeds_max = seeds;
        self
    }

    pub fn first_seed(mut self, seed: u64) -> Check {
        self.first_seed = seed;
        self
    }

    /// The success rate per operation the policy must reach, in `[0, 1)`
    /// [default 0.999]. 0 checks the invariants alone: the check then fails
    /// only on a violation, and runs every seed unless it finds one.
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

    /// Whether the sequential test may end a passing check before `seeds`
    /// [default true]. `false` runs every seed through the invariant
    /// checkers unless one breaks (a violation always ends the check: it
    /// has failed).
    pub fn stop_early(mut self, stop_early: bool) -> Check {
        self.stop_early = stop_early;
        self
    }

    /// Runs the check and returns the verdict (never panics).
    pub fn evaluate(&self) -> Result<Verdict, CheckError> {
        let scenario = self.scenario.as_ref().map_err(|message| CheckError::Scenario(message.clone()))?;
        let target = self.target_success;
        if !(0.0..1.0).contains(&target) {
            return Err(CheckError::BadTarget(target));
        }
        let names: Vec<String> = self.policy.iter().cloned().collect();
        let policies = select_policies(scenario, &names).map_err(CheckError::Estimate)?;
        let policy = policies[..1].to_vec();
        let mut notes: Vec<String> = crate::estimate::fixed_schedule_note(scenario, false).into_iter().collect();
        let seeds_max = match count_from_env(SEEDS_VAR).map_err(CheckError::Environment)? {
            Some(seeds) => {
                notes.push(format!("{SEEDS_VAR}={seeds} replaced the test's {} seeds", self.seeds_max));
                seeds
            }
            None => self.seeds_max,
        };
        let seeds =
            Seeds::new(self.first_seed, seeds_max).map_err(|e| CheckError::Estimate(EstimateError::Seeds(e)))?;
        let runner = Runner::new(scenario, &policy, self.jobs, false, None).map_err(CheckError::Estimate)?;
        // The sequential test weighs "fails twice as often as allowed"
        // against "half as often"; it only decides when to stop looking.
        // The verdict itself is always the confidence bound. With a target
        // of 0 only the invariants are asked about, and no success rate
        // settles them: every seed runs.
        let allowed_failure = 1.0 - target;
        let mut sprt = None;
        if self.stop_early && target > 0.0 {
            match Sprt::new(
                (1.0 - 2.0 * allowed_failure).max(1e-9),
                (1.0 - allowed_failure / 2.0).min(1.0 - 1e-12),
                1.0 - self.confidence,
                1.0 - self.confidence,
            ) {
                Ok(test) => sprt = Some(test),
                // Without the sequential test the check looks once, at the
                // end: no early stop, and the verdict says so.
                Err(error) => notes.push(format!(
                    "the sequential test could not be set up for target {target} at {:.0}% confidence ({error}): \
                     no early stop, every seed ran",
                    self.confidence * 100.0
                )),
            }
        }
        let (mut operations, mut failures, mut seeds_used) = (0u64, 0u64, 0u64);
        // (successes, operations) per seed: the clusters of the design effect.
        let mut per_seed: Vec<(u64, u64)> = Vec::new();
        let mut failed_example = None;
        let mut invariants = ViolationTally::default();
        let mut stopped_early = false;
        let mut next = seeds.first();
        loop {
            let batch = Seeds::new(next, BATCH_SEEDS.min(seeds.last() - next + 1))
                .map_err(|e| CheckError::Estimate(EstimateError::Seeds(e)))?;
            let mut reports = Vec::new();
            runner.run(batch, &|| {}, &mut |chunk| {
                reports.extend(chunk.into_iter().flatten());
                std::ops::ControlFlow::Continue(())
            });
            let (mut batch_ops, mut batch_failures) = (0, 0);
            for report in reports {
                let report = report.map_err(|error| CheckError::Estimate(EstimateError::Run(error)))?;
                invariants.add(&report, |seed| reproduce_command(scenario, &policy[0].name, seed));
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
            seeds_used += batch.count();
            let lower = design_effect(&per_seed).map_err(CheckError::stats)?.lower_one_sided(self.confidence);
            let decided = match sprt.as_mut().map(|sprt| sprt.observe(batch_ops - batch_failures, batch_ops)) {
                None => SprtVerdict::Continue,
                Some(Ok(verdict)) => verdict,
                Some(Err(error)) => {
                    // Counts the test refuses end its use, visibly.
                    notes.push(format!("the sequential test stopped taking counts ({error}): no early stop after it"));
                    sprt = None;
                    SprtVerdict::Continue
                }
            };
            // A violation decides the check (failed) on the spot; a pass
            // needs the sequential test and the bound to agree, on seeds
            // that are all clean so far.
            let clear = !invariants.is_clean()
                || match decided {
                    SprtVerdict::AcceptH0 => lower < target,
                    SprtVerdict::AcceptH1 => lower >= target,
                    SprtVerdict::Continue => false,
                };
            if batch.last() == seeds.last() {
                break;
            }
            next = batch.last() + 1;
            if clear {
                stopped_early = true;
                break;
            }
        }
        let clusters = design_effect(&per_seed).map_err(CheckError::stats)?;
        let success_lower_bound = clusters.lower_one_sided(self.confidence);
        let passed = invariants.is_clean() && success_lower_bound >= target;
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
            seeds_with_violations_upper_bound: clopper_pearson_upper_one_sided(
                invariants.seeds_with_violations,
                seeds_used,
                self.confidence,
            ),
            invariants,
            notes,
        })
    }

    /// Runs the check and panics with the verdict (and a replay command)
    /// unless the policy meets its target and breaks no invariant: for
    /// `#[test]` functions.
    ///
    /// A passing check prints what it saw (rate, bound, seeds used) on
    /// standard output, which the test harness shows under
    /// `cargo test -- --nocapture`.
    pub fn run(self) -> Verdict {
        match self.evaluate() {
            Ok(verdict) if verdict.passed => {
                println!("{verdict}");
                verdict
            }
            Ok(verdict) => panic!("{verdict}"),
            Err(error) => panic!("the check could not run: {error}"),
        }
    }
}
