//! Comparing policies fairly: every policy on the same seeds (so on the same
//! simulated S3), summarised side by side, with McNemar's paired test on
//! per-operation outcomes for every pair, plain and clustered by seed, and
//! Holm's correction over the pairs.

use std::ops::ControlFlow;

use retrylab_scenario::Scenario;
use retrylab_stats::{discordant_pairs, holm, mcnemar, mcnemar_clustered};
use serde::{Deserialize, Serialize};

use crate::estimate::{select_policies, EstimateError, EstimateOptions, EstimateState, PolicyEstimate, PolicySummary};
use crate::report::RunReport;
use crate::runner::{Runner, Seeds};
use crate::shard::MergeError;

/// Significance level for "is the difference real".
pub const SIGNIFICANCE: f64 = 0.05;

/// Two policies on the same operations.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairComparison {
    pub a: String,
    pub b: String,
    /// Operations A failed and B succeeded.
    pub a_failed_b_succeeded: u64,
    /// Operations A succeeded and B failed.
    pub a_succeeded_b_failed: u64,
    /// The p-value the verdict rests on: `p_value_raw` adjusted by Holm's
    /// correction for every pair compared (with 12 policies, 66 pairs: at
    /// 0.05 each, some pair would look different by chance alone).
    pub p_value: f64,
    /// The pair's own p-value before the correction: the larger of the two
    /// below, so a difference counts only if it does with operations
    /// counted one by one and with seeds as clusters.
    pub p_value_raw: f64,
    /// McNemar's two-sided p-value over operations as independent pairs
    /// (exact binomial below 25 discordant pairs).
    pub p_value_independent: f64,
    /// McNemar's test for clustered pairs (Durkalski et al. 2003), a seed a
    /// cluster: under bursty faults discordances come in bunches within a
    /// seed, which the plain test counts as independent evidence.
    pub p_value_clustered: f64,
    /// Seeds with at least one discordant operation (fewer than 10: the
    /// clustered test is a rough approximation).
    pub seeds_discordant: u64,
    /// The policy with fewer failures on the paired operations, if they differ.
    pub fewer_failures: Option<String>,
    /// Whether the Holm-adjusted `p_value` is below `SIGNIFICANCE`.
    pub significant: bool,
}

/// The best policy on one measure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Best {
    pub measure: &'static str,
    pub policy: String,
    pub value: f64,
    /// For the failure rate: whether the best policy is significantly better
    /// (McNemar, Holm-adjusted p < 0.05) than every other; for other
    /// measures, not tested.
    pub significant: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    pub scenario: String,
    pub seeds: u64,
    pub first_seed: u64,
    pub confidence: f64,
    pub policies: Vec<PolicyEstimate>,
    pub pairs: Vec<PairComparison>,
    /// The best policy on each measure among those that broke no invariant
    /// (empty when every policy broke one).
    pub best: Vec<Best>,
    /// Policies left out of `best` because the checkers found a violation
    /// in their runs: a policy that corrupts data is never the best.
    pub best_excludes: Vec<String>,
    /// The correction applied to the pairs' p-values (`"holm"`).
    pub p_value_correction: &'static str,
    /// What the reader should know to weigh the intervals (see `Estimate::notes`).
    pub notes: Vec<String>,
}

/// Runs every chosen policy on the same seeds and compares them.
pub fn compare(
    scenario: &Scenario,
    options: &EstimateOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<Comparison, EstimateError> {
    Ok(compare_state(scenario, options, progress)?.finish(scenario))
}

/// The exact state a [`Comparison`] is computed from: each policy's
/// summary and, per pair of policies, the discordant operations of each
/// seed. Serializable, so that shards of the seeds merge
/// ([`ComparisonState::merge`]) into what one machine would have computed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparisonState {
    pub estimate: EstimateState,
    /// Per pair (policy i against each later j, in order), per seed in seed
    /// order: (operations only A failed, operations only B failed).
    pub discordant: Vec<Vec<(u64, u64)>>,
}

/// [`compare`], stopping short of the tests: the state to finish or merge.
pub fn compare_state(
    scenario: &Scenario,
    options: &EstimateOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<ComparisonState, EstimateError> {
    let policies = select_policies(scenario, &options.policies)?;
    let seeds = Seeds::new(options.first_seed, options.seeds).map_err(EstimateError::Seeds)?;
    let runner = Runner::new(scenario, &policies, options.jobs, options.swarm, options.timeout)?;
    let mut summaries: Vec<PolicySummary> =
        policies.iter().map(|policy| PolicySummary::new(&policy.name, options.swarm)).collect();
    let pair_indices = pair_indices(policies.len());
    let mut discordant: Vec<Vec<(u64, u64)>> = pair_indices.iter().map(|_| Vec::new()).collect();
    let mut failed = None;
    runner.run(seeds, progress, &mut |chunk| {
        let reports: Vec<Vec<RunReport>> = match chunk.into_iter().map(|runs| runs.into_iter().collect()).collect() {
            Ok(reports) => reports,
            Err(error) => {
                failed = Some(error);
                return ControlFlow::Break(());
            }
        };
        for (&(i, j), per_seed) in pair_indices.iter().zip(&mut discordant) {
            per_seed.extend(reports[i].iter().zip(&reports[j]).map(|(a, b)| discordant_on_seed(a, b)));
        }
        for (summary, runs) in summaries.iter_mut().zip(&reports) {
            runs.iter().for_each(|report| summary.add(scenario, report));
        }
        ControlFlow::Continue(())
    });
    if let Some(error) = failed {
        return Err(EstimateError::Run(error));
    }
    let estimate = EstimateState {
        first_seed: options.first_seed,
        seeds: options.seeds,
        confidence: options.confidence,
        swarm: options.swarm,
        policies: summaries,
    };
    Ok(ComparisonState { estimate, discordant })
}

/// Every pair (i, j) of `policies` policies with i < j, in order.
fn pair_indices(policies: usize) -> Vec<(usize, usize)> {
    (0..policies).flat_map(|i| (i + 1..policies).map(move |j| (i, j))).collect()
}

impl ComparisonState {
    /// The comparison of `scenario`'s policies (the scenario these seeds ran).
    pub fn finish(self, scenario: &Scenario) -> Comparison {
        let names: Vec<String> = self.estimate.policies.iter().map(|p| p.policy().to_owned()).collect();
        let swarm = self.estimate.swarm;
        let (seeds, first_seed, confidence) = (self.estimate.seeds, self.estimate.first_seed, self.estimate.confidence);
        let estimates = self.estimate.finish(scenario).policies;
        let pairs = holm_adjusted(
            pair_indices(names.len())
                .iter()
                .zip(&self.discordant)
                .map(|(&(i, j), per_seed)| pair(&names[i], &names[j], per_seed))
                .collect(),
        );
        let best = best_by_measure(&estimates, &pairs);
        let best_excludes = estimates.iter().filter(|p| !p.is_clean()).map(|p| p.policy.clone()).collect();
        Comparison {
            scenario: scenario.name.clone(),
            seeds,
            first_seed,
            confidence,
            policies: estimates,
            pairs,
            best,
            best_excludes,
            p_value_correction: "holm",
            notes: crate::estimate::fixed_schedule_note(scenario, swarm).into_iter().collect(),
        }
    }

    /// Appends `next`, the state of the seeds that follow these under the
    /// same policies; the tests are recomputed from the per-seed tallies.
    pub fn merge(&mut self, next: ComparisonState) -> Result<(), MergeError> {
        if next.discordant.len() != self.discordant.len() {
            return Err(MergeError::Mismatch(format!(
                "{} pairs of policies against {}",
                self.discordant.len(),
                next.discordant.len()
            )));
        }
        self.estimate.merge(next.estimate)?;
        for (per_seed, more) in self.discordant.iter_mut().zip(next.discordant) {
            per_seed.extend(more);
        }
        Ok(())
    }
}

/// Pairs operation k of a seed under A with operation k of the same seed
/// under B: workloads issue the same operations in the same order whatever
/// the policy, so the pairs are the same user request.
fn discordant_on_seed(run_a: &RunReport, run_b: &RunReport) -> (u64, u64) {
    let len = run_a.outcomes.len().min(run_b.outcomes.len());
    discordant_pairs(&run_a.outcomes[..len], &run_b.outcomes[..len]).unwrap_or((0, 0))
}

/// Sets each pair's adjusted p-value and verdict by Holm's step-down
/// correction over all the pairs compared, so that the chance of calling
/// any equal pair different stays at most `SIGNIFICANCE`.
fn holm_adjusted(mut pairs: Vec<PairComparison>) -> Vec<PairComparison> {
    let raw: Vec<f64> = pairs.iter().map(|pair| pair.p_value_raw).collect();
    for (pair, adjusted) in pairs.iter_mut().zip(holm(&raw)) {
        pair.p_value = adjusted;
        pair.significant = adjusted < SIGNIFICANCE;
    }
    pairs
}

fn pair(a: &str, b: &str, per_seed: &[(u64, u64)]) -> PairComparison {
    let clustered = mcnemar_clustered(per_seed);
    let (a_only_failed, b_only_failed) = (clustered.b, clustered.c);
    let test = mcnemar(a_only_failed, b_only_failed);
    let p_value_raw = test.p_value.max(clustered.p_value);
    let fewer_failures = match a_only_failed.cmp(&b_only_failed) {
        std::cmp::Ordering::Greater => Some(b.to_owned()),
        std::cmp::Ordering::Less => Some(a.to_owned()),
        std::cmp::Ordering::Equal => None,
    };
    PairComparison {
        a: a.to_owned(),
        b: b.to_owned(),
        a_failed_b_succeeded: a_only_failed,
        a_succeeded_b_failed: b_only_failed,
        // Holm's correction over every pair sets these two (`holm_adjusted`).
        p_value: p_value_raw,
        p_value_raw,
        p_value_independent: test.p_value,
        p_value_clustered: clustered.p_value,
        seeds_discordant: clustered.clusters_discordant,
        significant: p_value_raw < SIGNIFICANCE,
        fewer_failures,
    }
}

/// The best policy on each measure, among the policies that broke no
/// invariant (a policy that corrupts data is never the best, however fast or
/// reliable it looks).
fn best_by_measure(estimates: &[PolicyEstimate], pairs: &[PairComparison]) -> Vec<Best> {
    type Measure = (&'static str, fn(&PolicyEstimate) -> f64);
    let measures: [Measure; 5] = [
        ("failure_rate", |p| p.failure_rate),
        ("attempts_per_op", |p| p.attempts_per_op),
        ("latency_ms_p50", |p| p.latency_ms_p50),
        ("latency_ms_p99", |p| p.latency_ms_p99),
        ("latency_ms_p999", |p| p.latency_ms_p999),
    ];
    measures
        .iter()
        .filter_map(|(measure, value)| {
            // Lowest wins; ties go to the policy listed first.
            let best = estimates.iter().filter(|p| p.is_clean()).min_by(|x, y| value(x).total_cmp(&value(y)))?;
            let significant = (*measure == "failure_rate").then(|| {
                pairs
                    .iter()
                    .filter(|pair| pair.a == best.policy || pair.b == best.policy)
                    .all(|pair| pair.significant && pair.fewer_failures.as_deref() == Some(&best.policy))
            });
            Some(Best { measure, policy: best.policy.clone(), value: value(best), significant })
        })
        .collect()
}
