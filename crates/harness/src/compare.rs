//! Comparing policies fairly: every policy on the same seeds (so on the same
//! simulated S3), summarised side by side, with McNemar's paired test on
//! per-operation outcomes for every pair, plain and clustered by seed.

use retrylab_scenario::Scenario;
use retrylab_sim::RunError;
use retrylab_stats::{discordant_pairs, mcnemar, mcnemar_clustered};
use serde::Serialize;

use crate::estimate::{run_many, select_policies, summarise, EstimateError, EstimateOptions, PolicyEstimate};
use crate::report::RunReport;

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
    /// The p-value the verdict rests on: the larger of the two below, so a
    /// difference is significant only if it is with operations counted one
    /// by one and with seeds as clusters.
    pub p_value: f64,
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
    pub significant: bool,
}

/// The best policy on one measure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Best {
    pub measure: &'static str,
    pub policy: String,
    pub value: f64,
    /// For the failure rate: whether the best policy is significantly better
    /// (McNemar, p < 0.05) than every other; for other measures, not tested.
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
}

/// Runs every chosen policy on the same seeds and compares them.
pub fn compare(
    scenario: &Scenario,
    options: &EstimateOptions,
    progress: &(dyn Fn() + Sync),
) -> Result<Comparison, EstimateError> {
    let policies = select_policies(scenario, &options.policies)?;
    let seeds = options.first_seed..options.first_seed + options.seeds;
    let mut reports = run_many(scenario, &policies, seeds, options.jobs, options.swarm, progress)?.into_iter();
    let per_policy: Vec<Vec<RunReport>> = policies
        .iter()
        .map(|_| reports.by_ref().take(options.seeds as usize).collect::<Result<Vec<_>, RunError>>())
        .collect::<Result<_, _>>()
        .map_err(EstimateError::Run)?;
    let estimates: Vec<PolicyEstimate> = policies
        .iter()
        .zip(&per_policy)
        .map(|(policy, reports)| summarise(scenario, &policy.name, reports, options))
        .collect();
    let mut pairs = Vec::new();
    for i in 0..policies.len() {
        for j in i + 1..policies.len() {
            pairs.push(pair(&policies[i].name, &per_policy[i], &policies[j].name, &per_policy[j]));
        }
    }
    let best = best_by_measure(&estimates, &pairs);
    let best_excludes = estimates.iter().filter(|p| !p.is_clean()).map(|p| p.policy.clone()).collect();
    Ok(Comparison {
        scenario: scenario.name.clone(),
        seeds: options.seeds,
        first_seed: options.first_seed,
        confidence: options.confidence,
        policies: estimates,
        pairs,
        best,
        best_excludes,
    })
}

fn pair(a: &str, a_runs: &[RunReport], b: &str, b_runs: &[RunReport]) -> PairComparison {
    // Pair operation k of seed s under A with operation k of seed s under B.
    // Workloads issue the same operations in the same order whatever the
    // policy, so the pairs are the same user request.
    let per_seed: Vec<(u64, u64)> = a_runs
        .iter()
        .zip(b_runs)
        .map(|(run_a, run_b)| {
            let len = run_a.outcomes.len().min(run_b.outcomes.len());
            discordant_pairs(&run_a.outcomes[..len], &run_b.outcomes[..len]).unwrap_or((0, 0))
        })
        .collect();
    let clustered = mcnemar_clustered(&per_seed);
    let (a_only_failed, b_only_failed) = (clustered.b, clustered.c);
    let test = mcnemar(a_only_failed, b_only_failed);
    let p_value = test.p_value.max(clustered.p_value);
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
        p_value,
        p_value_independent: test.p_value,
        p_value_clustered: clustered.p_value,
        seeds_discordant: clustered.clusters_discordant,
        significant: p_value < SIGNIFICANCE,
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
