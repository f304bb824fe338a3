//! Cluster-aware Clopper-Pearson bounds: the design effect of operations correlated within a seed, and exact bounds on the effective number of trials it leaves.
//!
//! # Why
//!
//! Every operation of one seed runs in one simulated world, and faults there
//! come in bursts (Gilbert-Elliott): when one request fails its neighbours
//! tend to fail too. Seeds are independent; operations within a seed are not.
//! Counting `n` operations as `n` independent Bernoulli trials then
//! overstates the information in the data, and a Clopper-Pearson bound built
//! on `n` is too narrow: it covers the true rate less often than its
//! confidence says. [`design_effect`] measures how much less information
//! there is, and the `clopper_pearson_clustered*` functions keep the exact
//! Clopper-Pearson form but evaluate it on that smaller, effective number of
//! trials.
//!
//! # Formula
//!
//! With `k` seeds (clusters), seed `i` having `y_i` successes in `m_i`
//! trials, the success rate is the ratio estimator
//! `p = sum(y) / sum(m)` over `n = sum(m)` trials. Its variance, by the
//! usual linearization over independent clusters of unequal size, is
//!
//! ```text
//! var(p) = k / (k - 1) * sum_i (y_i - p m_i)^2 / n^2
//! ```
//!
//! and the design effect (Kish) is that variance over the one `n` independent
//! trials would have:
//!
//! ```text
//! deff = var(p) / (p (1 - p) / n) = k / (k - 1) * sum_i (y_i - p m_i)^2 / (n p (1 - p))
//! ```
//!
//! (computed as `k / (k - 1) * sum_i d_i^2 / (n Y (n - Y))` with
//! `d_i = y_i n - Y m_i` in exact integer arithmetic and `Y = sum(y)`, so no
//! digits are lost to the residuals being differences of near-equal numbers).
//! The data are then worth `n_eff = n / deff` independent trials with
//! `x_eff = p n_eff = Y / deff` successes, and the bounds are the
//! Clopper-Pearson ones for those real-valued counts: the lower bound is the
//! `alpha` quantile of Beta(x_eff, n_eff - x_eff + 1), the upper one the
//! `1 - alpha` quantile of Beta(x_eff + 1, n_eff - x_eff), with
//! `alpha = 1 - confidence` for a one-sided bound and half that at each end
//! of a two-sided interval. This is the
//! effective-sample-size adjustment of exact binomial intervals for survey
//! data of E. L. Korn and B. I. Graubard, "Confidence intervals for
//! proportions with small expected number of positive counts estimated from
//! survey data", Survey Methodology 24 (1998) 193-201; the design effect is
//! L. Kish's (Survey Sampling, Wiley, 1965).
//!
//! Seeds with no trials count in `k`: which operations a seed runs is part
//! of its random outcome, so, as in domain estimation, a seed that happened
//! to run none of the operations counted still belongs to the sample.
//!
//! # Choices
//!
//! - **`deff` is never below 1.** An estimate below 1 (seeds more alike than
//!   independent trials would be) would claim more information than `n`
//!   independent operations, and the plain Clopper-Pearson interval is
//!   already exact for that case. With few seeds the estimate is noisy and
//!   falls below 1 about half the time even when operations are in fact
//!   independent; taking those draws at face value would make the adjusted
//!   bound tighter than the plain one, which is never honest here. The raw
//!   estimate is kept in [`DesignEffect::estimated_design_effect`] for
//!   reports.
//! - **No failures (or no successes), or fewer than two seeds: `deff = 1`.**
//!   With `p` at 0 or 1 every residual is 0 and the ratio is 0/0; with one
//!   seed there is no between-seed variance to estimate. The bound then
//!   falls back to independent trials: no evidence of clustering is not
//!   evidence against it, so a claim such as "no loss in 10^6 operations"
//!   from few seeds should be read with that in mind (the worst case,
//!   all-or-nothing seeds, has `deff` equal to the operations per seed).
//! - **With `deff` exactly 1 the bounds are the plain Clopper-Pearson ones,
//!   bit for bit**, and they are never tighter than the plain ones (a
//!   floating-point hair could otherwise make them so for `deff` just
//!   above 1).
//!
//! # Limits
//!
//! The design effect is estimated from the spread between seeds, with at
//! most `k - 1` degrees of freedom, and in effect fewer when the rarer
//! outcome touched only a few seeds: a sample in which no seed happened to
//! hit a burst looks unclustered. With too few such seeds the adjusted bound
//! still under-covers. [`DesignEffect`] reports the counts (`clusters`,
//! `clusters_with_trials`, `clusters_with_successes`,
//! `clusters_with_failures`), and [`DesignEffect::enough_clusters`] says
//! whether at least [`MIN_CLUSTERS_FOR_DESIGN_EFFECT`] seeds saw each
//! outcome; the caller decides what to do (run more seeds, or report the
//! bound as indicative).
//!
//! Measured with the Gilbert-Elliott simulation of `tests/it/cluster.rs`
//! (seeds of 50 operations, 2000 experiments per figure, one-sided 95% lower
//! bound, ranges over three or four RNG seeds):
//!
//! | bursts | seeds | plain Clopper-Pearson | adjusted |
//! |---|---|---|---|
//! | ~25 operations long; ~40% of seeds see a failure | 20 | 0.66-0.67 | 0.89-0.91 |
//! | same | 40 | 0.67-0.68 | 0.93-0.94 |
//! | same | 80 | 0.66-0.68 | 0.94-0.95 |
//! | ~100 operations long; ~11% of seeds see a failure | 20 | 0.61-0.65 | 0.69-0.72 |
//! | same | 40 | 0.63-0.65 | 0.87-0.88 |
//! | same | 80 | 0.66-0.67 | 0.94-0.95 |
//!
//! Korn and Graubard also shrink `n_eff` by `(z / t_{k-1})^2` for the
//! variance estimate's degrees of freedom. That refinement is not applied
//! here: at 20 seeds it widens a 95% bound by about 5%, and it cannot help
//! the dominant failure above, where few seeds saw any failure at all.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::incomplete_beta::beta_tails;
use crate::interval::{
    bisect_rate, clopper_pearson, clopper_pearson_lower_one_sided, clopper_pearson_upper_one_sided, rate,
    valid_confidence, Interval,
};

/// Seeds with a success, and seeds with a failure, below which the design
/// effect is too noisy to rely on: its variance estimate has at most `k - 1`
/// degrees of freedom, fewer in effect when the rarer outcome touched few
/// seeds (at 10 the estimated standard error is itself uncertain by about
/// 25%).
pub const MIN_CLUSTERS_FOR_DESIGN_EFFECT: u64 = 10;

/// Effective trials below which a bound claims nothing: with less than a
/// millionth of a trial's worth of information the exact bounds are already
/// 0 and 1 to within rounding, and the incomplete beta function is not
/// evaluated at such degenerate shapes.
const MIN_EFFECTIVE_TRIALS: f64 = 1e-6;

/// How correlated the operations within seeds are, estimated from per-seed
/// counts by [`design_effect`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DesignEffect {
    /// Seeds (clusters) given, including those with no trials: `k` in the formula.
    pub clusters: u64,
    /// Seeds with at least one trial.
    pub clusters_with_trials: u64,
    /// Seeds with at least one success (or event).
    pub clusters_with_successes: u64,
    /// Seeds with at least one failure (a trial that was not a success).
    /// With few of these (or few with successes, for a rate near 0) the
    /// between-seed variance rests on a handful of seeds; see
    /// [`DesignEffect::enough_clusters`].
    pub clusters_with_failures: u64,
    /// Successes (or events) over all seeds.
    pub successes: u64,
    /// Trials over all seeds.
    pub trials: u64,
    /// `successes / trials`, the ratio estimator; 0 when there are no trials.
    pub rate: f64,
    /// The estimate before clamping: can be below 1 (see the module docs);
    /// 1 where it is undefined (rate 0 or 1, fewer than two seeds).
    pub estimated_design_effect: f64,
    /// The design effect the bounds use: `estimated_design_effect`, but at least 1.
    pub design_effect: f64,
}

impl DesignEffect {
    /// `trials / design_effect`: how many independent trials the data are worth.
    #[must_use]
    pub fn effective_trials(&self) -> f64 {
        effective_trials(self.trials, self.design_effect)
    }

    /// Whether the design effect rests on enough seeds to be trusted: at
    /// least [`MIN_CLUSTERS_FOR_DESIGN_EFFECT`] seeds saw a success and as
    /// many saw a failure.
    ///
    /// Counting seeds with trials is not enough: when failures are rare,
    /// most seeds have none and say nothing about how failures cluster, so
    /// it is the seeds with the rarer outcome that the estimate rests on
    /// (the module docs show the coverage lost when bursts reach few seeds).
    #[must_use]
    pub fn enough_clusters(&self) -> bool {
        self.clusters_with_successes.min(self.clusters_with_failures) >= MIN_CLUSTERS_FOR_DESIGN_EFFECT
    }

    /// Two-sided cluster-adjusted Clopper-Pearson interval for the rate; see
    /// [`clopper_pearson_clustered`].
    #[must_use]
    pub fn clopper_pearson(&self, confidence: f64) -> Interval {
        clopper_pearson_clustered(self.successes, self.trials, self.design_effect, confidence)
    }

    /// One-sided cluster-adjusted lower bound for the rate; see
    /// [`clopper_pearson_clustered_lower_one_sided`].
    #[must_use]
    pub fn lower_one_sided(&self, confidence: f64) -> f64 {
        clopper_pearson_clustered_lower_one_sided(self.successes, self.trials, self.design_effect, confidence)
    }

    /// One-sided cluster-adjusted upper bound for the rate; see
    /// [`clopper_pearson_clustered_upper_one_sided`].
    #[must_use]
    pub fn upper_one_sided(&self, confidence: f64) -> f64 {
        clopper_pearson_clustered_upper_one_sided(self.successes, self.trials, self.design_effect, confidence)
    }
}

/// Why [`design_effect`] refused its clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterError {
    /// A cluster claimed more successes than trials.
    SuccessesExceedTrials {
        /// Its position in the slice.
        cluster: usize,
        /// Successes given.
        successes: u64,
        /// Trials given.
        trials: u64,
    },
    /// The trials add up to more than `u64::MAX`.
    TooManyTrials,
}

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClusterError::SuccessesExceedTrials { cluster, successes, trials } => {
                write!(f, "cluster {cluster} has {successes} successes in only {trials} trials")
            }
            ClusterError::TooManyTrials => write!(f, "the clusters' trials add up to more than {}", u64::MAX),
        }
    }
}

impl std::error::Error for ClusterError {}

/// Design effect of a rate estimated from independent clusters (seeds) of
/// unequal size, each given as `(successes, trials)`; see the module docs
/// for the formula and the rules at the edges.
///
/// # Errors
///
/// [`ClusterError::SuccessesExceedTrials`] for a cluster with more successes
/// than trials, [`ClusterError::TooManyTrials`] when the total overflows.
pub fn design_effect(clusters: &[(u64, u64)]) -> Result<DesignEffect, ClusterError> {
    let mut successes: u64 = 0;
    let mut trials: u64 = 0;
    let mut clusters_with_trials: u64 = 0;
    let mut clusters_with_successes: u64 = 0;
    let mut clusters_with_failures: u64 = 0;
    for (index, &(cluster_successes, cluster_trials)) in clusters.iter().enumerate() {
        if cluster_successes > cluster_trials {
            return Err(ClusterError::SuccessesExceedTrials {
                cluster: index,
                successes: cluster_successes,
                trials: cluster_trials,
            });
        }
        trials = trials.checked_add(cluster_trials).ok_or(ClusterError::TooManyTrials)?;
        // Cannot overflow: successes <= trials, which did not.
        successes += cluster_successes;
        clusters_with_trials += u64::from(cluster_trials > 0);
        clusters_with_successes += u64::from(cluster_successes > 0);
        clusters_with_failures += u64::from(cluster_successes < cluster_trials);
    }
    let estimated = ratio_estimator_design_effect(clusters, successes, trials);
    Ok(DesignEffect {
        clusters: clusters.len() as u64,
        clusters_with_trials,
        clusters_with_successes,
        clusters_with_failures,
        successes,
        trials,
        rate: rate(successes, trials),
        estimated_design_effect: estimated,
        design_effect: estimated.max(1.0),
    })
}

/// The unclamped Kish design effect of the ratio estimator; 1 where it is
/// undefined. `successes` and `trials` are the (valid) totals of `clusters`.
fn ratio_estimator_design_effect(clusters: &[(u64, u64)], successes: u64, trials: u64) -> f64 {
    if clusters.len() < 2 || successes == 0 || successes == trials {
        return 1.0;
    }
    let (total_successes, total_trials) = (u128::from(successes), u128::from(trials));
    // d_i = y_i n - Y m_i = n (y_i - p m_i), exact: both products fit in u128.
    let sum_of_squared_residuals: f64 = clusters
        .iter()
        .map(|&(cluster_successes, cluster_trials)| {
            let scaled = u128::from(cluster_successes) * total_trials;
            let expected = total_successes * u128::from(cluster_trials);
            let residual = scaled.abs_diff(expected) as f64;
            residual * residual
        })
        .sum();
    let k = clusters.len() as f64;
    // n Y (n - Y) = n^3 p (1 - p) > 0 here, at most 2^192: finite in f64.
    let binomial = total_trials as f64 * total_successes as f64 * (total_trials - total_successes) as f64;
    k / (k - 1.0) * sum_of_squared_residuals / binomial
}

/// `trials / design_effect`: the number of independent trials that carry as
/// much information as `trials` clustered ones. A design effect below 1 counts
/// as 1 (see the module docs); a NaN, negative or infinite one leaves no
/// information, 0.
#[must_use]
pub fn effective_trials(trials: u64, design_effect: f64) -> f64 {
    usable_design_effect(design_effect).map_or(0.0, |deff| trials as f64 / deff)
}

/// The design effect the bounds use: at least 1; `None` (no claim) for NaN,
/// negative or infinite values, which only a bug can produce.
fn usable_design_effect(design_effect: f64) -> Option<f64> {
    if design_effect.is_nan() || design_effect < 0.0 || design_effect == f64::INFINITY {
        None
    } else {
        Some(design_effect.max(1.0))
    }
}

/// `(x_eff, n_eff - x_eff)` for `deff > 1`, or `None` when less than
/// [`MIN_EFFECTIVE_TRIALS`] remain. Failures are divided directly rather
/// than subtracted, so a rate near 1 keeps its few failures exactly.
fn effective_counts(successes: u64, trials: u64, deff: f64) -> Option<(f64, f64)> {
    if (trials as f64 / deff) < MIN_EFFECTIVE_TRIALS {
        return None;
    }
    Some((successes as f64 / deff, (trials - successes) as f64 / deff))
}

/// Clopper-Pearson lower bound for real-valued counts: the rate at which the
/// Beta(x, f + 1) distribution has `tail` below it.
fn real_cp_low(successes: f64, failures: f64, tail: f64) -> f64 {
    if successes <= 0.0 {
        return 0.0;
    }
    bisect_rate(|p| beta_tails(successes, failures + 1.0, p).0 > tail)
}

/// Clopper-Pearson upper bound for real-valued counts: the rate at which the
/// Beta(x + 1, f) distribution has `tail` above it.
fn real_cp_high(successes: f64, failures: f64, tail: f64) -> f64 {
    if failures <= 0.0 {
        return 1.0;
    }
    bisect_rate(|p| beta_tails(successes + 1.0, failures, p).1 < tail)
}

/// Two-sided Clopper-Pearson interval on `trials / design_effect` effective
/// trials at the observed rate; each tail gets `(1 - confidence) / 2`.
///
/// Equal to [`clopper_pearson`] when `design_effect <= 1`, and never narrower
/// on either side. `trials == 0`, `successes_or_events > trials`, a confidence
/// outside `(0, 1)`, or a NaN, negative or infinite design effect give
/// [`Interval::VACUOUS`].
#[must_use]
pub fn clopper_pearson_clustered(
    successes_or_events: u64,
    trials: u64,
    design_effect: f64,
    confidence: f64,
) -> Interval {
    let (k, n) = (successes_or_events, trials);
    if n == 0 || k > n || !valid_confidence(confidence) {
        return Interval::VACUOUS;
    }
    let Some(deff) = usable_design_effect(design_effect) else {
        return Interval::VACUOUS;
    };
    let plain = clopper_pearson(k, n, confidence);
    if deff == 1.0 {
        return plain;
    }
    let Some((x, f)) = effective_counts(k, n, deff) else {
        return Interval::VACUOUS;
    };
    let tail = (1.0 - confidence) / 2.0;
    Interval { low: real_cp_low(x, f, tail).min(plain.low), high: real_cp_high(x, f, tail).max(plain.high) }
}

/// One-sided cluster-adjusted lower bound: the rate is at least this with
/// probability `confidence`, with the trials discounted by `design_effect`.
///
/// Equal to [`clopper_pearson_lower_one_sided`] when `design_effect <= 1` and
/// never above it. Returns 0 (no claim) for `successes_or_events == 0`,
/// `trials == 0`, `successes_or_events > trials`, a confidence outside
/// `(0, 1)`, or a NaN, negative or infinite design effect.
#[must_use]
pub fn clopper_pearson_clustered_lower_one_sided(
    successes_or_events: u64,
    trials: u64,
    design_effect: f64,
    confidence: f64,
) -> f64 {
    let (k, n) = (successes_or_events, trials);
    if n == 0 || k > n || !valid_confidence(confidence) {
        return 0.0;
    }
    let Some(deff) = usable_design_effect(design_effect) else {
        return 0.0;
    };
    let plain = clopper_pearson_lower_one_sided(k, n, confidence);
    if deff == 1.0 {
        return plain;
    }
    let Some((x, f)) = effective_counts(k, n, deff) else {
        return 0.0;
    };
    real_cp_low(x, f, 1.0 - confidence).min(plain)
}

/// One-sided cluster-adjusted upper bound: the rate is at most this with
/// probability `confidence`, with the trials discounted by `design_effect`.
///
/// Equal to [`clopper_pearson_upper_one_sided`] when `design_effect <= 1` and
/// never below it. Returns 1 (no claim) for `successes_or_events == trials`,
/// `trials == 0`, `successes_or_events > trials`, a confidence outside
/// `(0, 1)`, or a NaN, negative or infinite design effect.
#[must_use]
pub fn clopper_pearson_clustered_upper_one_sided(
    successes_or_events: u64,
    trials: u64,
    design_effect: f64,
    confidence: f64,
) -> f64 {
    let (k, n) = (successes_or_events, trials);
    if n == 0 || k > n || !valid_confidence(confidence) {
        return 1.0;
    }
    let Some(deff) = usable_design_effect(design_effect) else {
        return 1.0;
    };
    let plain = clopper_pearson_upper_one_sided(k, n, confidence);
    if deff == 1.0 {
        return plain;
    }
    let Some((x, f)) = effective_counts(k, n, deff) else {
        return 1.0;
    };
    real_cp_high(x, f, 1.0 - confidence).max(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tol: f64) {
        assert!((actual - expected).abs() <= tol, "expected {expected}, got {actual} (tolerance {tol})");
    }

    #[test]
    fn real_bounds_at_integer_counts_are_the_plain_ones() {
        // The real-shape solver against the integer one (statrs' Beta below
        // 1e5 trials, exact tail sums above) at counts where both apply.
        for (k, n) in [(1_u64, 10_u64), (5, 10), (37, 200), (990, 1000), (132, 10_000), (999_990, 1_000_000)] {
            let (x, f) = (k as f64, (n - k) as f64);
            for confidence in [0.9, 0.95, 0.99] {
                let tail = 1.0 - confidence;
                close(real_cp_low(x, f, tail), clopper_pearson_lower_one_sided(k, n, confidence), 1e-10);
                close(real_cp_high(x, f, tail), clopper_pearson_upper_one_sided(k, n, confidence), 1e-10);
            }
        }
    }

    #[test]
    fn closed_forms_at_the_edges_with_real_counts() {
        // All successes: I_p(x, 1) = p^x, so the lower bound is tail^(1/x).
        close(real_cp_low(12.5, 0.0, 0.05), 0.05_f64.powf(1.0 / 12.5), 1e-13);
        // No successes: the upper bound is 1 - tail^(1/f).
        close(real_cp_high(0.0, 7.25, 0.05), 1.0 - 0.05_f64.powf(1.0 / 7.25), 1e-13);
        assert_eq!(real_cp_low(0.0, 7.25, 0.05), 0.0);
        assert_eq!(real_cp_high(12.5, 0.0, 0.05), 1.0);
    }

    #[test]
    fn residuals_are_exact_for_huge_counts() {
        // Two seeds at exactly the same rate with counts near u64::MAX / 4:
        // the residuals are exactly 0, so the estimate is exactly 0.
        let trials_per_seed = u64::MAX / 4;
        let successes_per_seed = trials_per_seed / 2;
        let seeds = [(successes_per_seed, trials_per_seed), (successes_per_seed, trials_per_seed)];
        let estimate = design_effect(&seeds).unwrap();
        assert_eq!(estimate.estimated_design_effect, 0.0);
        assert_eq!(estimate.design_effect, 1.0);
    }

    #[test]
    fn bad_design_effects_claim_nothing() {
        assert_eq!(clopper_pearson_clustered(5, 10, f64::NAN, 0.95), Interval::VACUOUS);
        assert_eq!(clopper_pearson_clustered(5, 10, -1.0, 0.95), Interval::VACUOUS);
        assert_eq!(clopper_pearson_clustered(5, 10, f64::INFINITY, 0.95), Interval::VACUOUS);
        assert_eq!(clopper_pearson_clustered_lower_one_sided(5, 10, f64::NAN, 0.95), 0.0);
        assert_eq!(clopper_pearson_clustered_upper_one_sided(5, 10, f64::INFINITY, 0.95), 1.0);
        assert_eq!(effective_trials(10, f64::NAN), 0.0);
        assert_eq!(effective_trials(10, -3.0), 0.0);
        // Far below one effective trial: nothing to claim.
        assert_eq!(clopper_pearson_clustered(5, 10, 1e300, 0.95), Interval::VACUOUS);
    }
}
