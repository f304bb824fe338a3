//! McNemar's test: do two policies differ, judged on the same operations?
//!
//! When policies A and B are run over the same seeded operations, their
//! outcomes are paired, and only the operations where they disagree carry
//! information about which is better. McNemar's test uses exactly those, so it
//! detects a difference with far fewer seeds than comparing the two success
//! rates as if they were independent samples.

use serde::{Deserialize, Serialize};
use statrs::distribution::{Binomial, ChiSquared, ContinuousCDF, DiscreteCDF};

/// Below this many discordant pairs (`b + c`) the exact binomial test is used,
/// where the chi-square approximation would be poor; at or above it the
/// continuity-corrected chi-square is used.
pub const MCNEMAR_EXACT_BELOW: u64 = 25;

/// Which computation produced the p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum McNemarMethod {
    /// No discordant pairs: nothing to test, `p_value = 1`.
    NoDiscordantPairs,
    /// Exact two-sided binomial test of `min(b, c)` under Binomial(b + c, 1/2).
    ExactBinomial,
    /// Chi-square with one degree of freedom and Edwards' continuity correction.
    ChiSquareCorrected,
}

/// Result of McNemar's test on the discordant counts of two paired policies.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Operations where A failed and B succeeded.
    pub b: u64,
    /// Operations where A succeeded and B failed.
    pub c: u64,
    /// For [`McNemarMethod::ChiSquareCorrected`]: `(max(|b - c| - 1, 0))^2 / (b + c)`.
    /// For [`McNemarMethod::ExactBinomial`]: `min(b, c)`, the binomial test's
    /// statistic (as statsmodels reports it). 0 when there are no discordant pairs.
    pub statistic: f64,
    /// Two-sided p-value for "A and B have the same success probability".
    pub p_value: f64,
    /// How `statistic` and `p_value` were computed.
    pub method: McNemarMethod,
}

/// McNemar's paired test from the discordant counts: `b` = A failed and B
/// succeeded, `c` = A succeeded and B failed. Concordant pairs do not enter.
///
/// Exact binomial when `b + c < 25` ([`MCNEMAR_EXACT_BELOW`]), chi-square
/// with continuity correction otherwise. The correction is clamped at zero so
/// `b == c` gives statistic 0 and p-value 1 rather than a tiny positive
/// statistic. `b + c = 0` gives statistic 0 and p-value 1.
#[must_use]
pub fn mcnemar(b: u64, c: u64) -> McNemar {
    let n = b.saturating_add(c);
    let no_evidence = McNemar { b, c, statistic: 0.0, p_value: 1.0, method: McNemarMethod::NoDiscordantPairs };
    if n == 0 {
        return no_evidence;
    }
    if n < MCNEMAR_EXACT_BELOW {
        let smaller = b.min(c);
        // When |b - c| <= 1, P(X <= min) >= 1/2, so the p-value is exactly 1;
        // say so rather than report statrs' 0.9999999999999999.
        let p_value = if b.abs_diff(c) <= 1 {
            1.0
        } else {
            // statrs accepts p = 0.5 and any n; the fallback is unreachable
            // but keeps this total.
            Binomial::new(0.5, n).map_or(1.0, |binomial| (2.0 * binomial.cdf(smaller)).min(1.0))
        };
        return McNemar { b, c, statistic: smaller as f64, p_value, method: McNemarMethod::ExactBinomial };
    }
    let corrected = (b.abs_diff(c) as f64 - 1.0).max(0.0);
    let statistic = corrected * corrected / n as f64;
    let p_value = ChiSquared::new(1.0).map_or(1.0, |chi2| chi2.sf(statistic).clamp(0.0, 1.0));
    McNemar { b, c, statistic, p_value, method: McNemarMethod::ChiSquareCorrected }
}

/// Count the discordant pairs `(b, c)` from per-operation outcomes of two
/// policies (`true` = success), index `i` in both being the same operation.
///
/// Returns `None` when the slices differ in length, since the pairing is then
/// meaningless.
#[must_use]
pub fn discordant_pairs(outcomes_a: &[bool], outcomes_b: &[bool]) -> Option<(u64, u64)> {
    if outcomes_a.len() != outcomes_b.len() {
        return None;
    }
    let mut b = 0_u64;
    let mut c = 0_u64;
    for (&a_ok, &b_ok) in outcomes_a.iter().zip(outcomes_b) {
        match (a_ok, b_ok) {
            (false, true) => b += 1,
            (true, false) => c += 1,
            _ => {}
        }
    }
    Some((b, c))
}

/// McNemar's test for clustered pairs (Durkalski, Palesch, Lipsitz and
/// Rust, "Analysis of clustered matched-pair data", Statistics in Medicine
/// 22 (2003) 2417-2428): the operations of one seed are one cluster, and
/// under bursty faults their discordances come together, which the plain
/// test would count as independent evidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClusteredMcNemar {
    /// Discordant counts summed over the clusters (as in [`McNemar`]).
    pub b: u64,
    pub c: u64,
    /// Clusters with at least one discordant pair: what the variance rests on.
    pub clusters_discordant: u64,
    /// `(sum_k (b_k - c_k))^2 / sum_k (b_k - c_k)^2`, chi-square with one
    /// degree of freedom under "same success probability"; 0 with no
    /// discordance.
    pub statistic: f64,
    /// Two-sided p-value; 1 with no discordance.
    pub p_value: f64,
}

/// Clusters below which [`mcnemar_clustered`]'s chi-square is a rough
/// approximation (the variance has at most that many terms).
pub const CLUSTERED_MCNEMAR_CLUSTERS_MIN: u64 = 10;

/// [`ClusteredMcNemar`] from each cluster's discordant counts `(b_k, c_k)`.
#[must_use]
pub fn mcnemar_clustered(clusters: &[(u64, u64)]) -> ClusteredMcNemar {
    let (mut b, mut c, mut clusters_discordant) = (0u64, 0u64, 0u64);
    let (mut sum, mut sum_squares) = (0f64, 0f64);
    for &(b_k, c_k) in clusters {
        b = b.saturating_add(b_k);
        c = c.saturating_add(c_k);
        if b_k + c_k > 0 {
            clusters_discordant += 1;
        }
        let difference = b_k as f64 - c_k as f64;
        sum += difference;
        sum_squares += difference * difference;
    }
    // Every cluster balanced (or none discordant): no evidence either way.
    if sum_squares == 0.0 {
        return ClusteredMcNemar { b, c, clusters_discordant, statistic: 0.0, p_value: 1.0 };
    }
    let statistic = sum * sum / sum_squares;
    let p_value = ChiSquared::new(1.0).map_or(1.0, |chi2| chi2.sf(statistic).clamp(0.0, 1.0));
    ClusteredMcNemar { b, c, clusters_discordant, statistic, p_value }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clustered_mcnemar_matches_the_plain_statistic_for_singleton_discordances() {
        // One discordant pair per cluster: sum (b_k - c_k)^2 = b + c, so the
        // statistic is (b - c)^2 / (b + c), McNemar's without correction.
        let mut clusters = vec![(1, 0); 30];
        clusters.extend(vec![(0, 1); 10]);
        clusters.extend(vec![(0, 0); 100]);
        let m = mcnemar_clustered(&clusters);
        assert_eq!((m.b, m.c, m.clusters_discordant), (30, 10, 40));
        close(m.statistic, 400.0 / 40.0, 1e-12);
        close(m.p_value, 0.001_565_402_258_002_549_2, 1e-12);
    }

    #[test]
    fn clustered_mcnemar_discounts_discordances_that_come_together() {
        // The same totals, but A's extra failures came in two bursts of 10:
        // far weaker evidence than 20 separate ones.
        let mut clusters = vec![(10, 0), (10, 0)];
        clusters.extend(vec![(1, 0); 10]);
        clusters.extend(vec![(0, 1); 10]);
        let clustered = mcnemar_clustered(&clusters);
        let plain = mcnemar(30, 10);
        assert_eq!((clustered.b, clustered.c), (30, 10));
        assert!(clustered.p_value > 0.05 && plain.p_value < 0.01, "{clustered:?} {plain:?}");
        // Balanced clusters, and no discordance at all, say nothing.
        assert_eq!(mcnemar_clustered(&[(3, 3), (0, 0)]).p_value, 1.0);
        assert_eq!(mcnemar_clustered(&[]).p_value, 1.0);
    }

    fn close(actual: f64, expected: f64, tol: f64) {
        assert!((actual - expected).abs() <= tol, "expected {expected}, got {actual}");
    }

    #[test]
    fn no_discordant_pairs() {
        let m = mcnemar(0, 0);
        assert_eq!(m.p_value, 1.0);
        assert_eq!(m.statistic, 0.0);
        assert_eq!(m.method, McNemarMethod::NoDiscordantPairs);
    }

    #[test]
    fn exact_two_versus_eight() {
        // 2 * P(X <= 2), X ~ Bin(10, 1/2) = 2 * (1 + 10 + 45) / 1024 = 0.109375.
        let m = mcnemar(2, 8);
        assert_eq!(m.method, McNemarMethod::ExactBinomial);
        assert_eq!(m.statistic, 2.0);
        close(m.p_value, 0.109_375, 1e-12);
        // Symmetric in which policy is better.
        close(mcnemar(8, 2).p_value, 0.109_375, 1e-12);
    }

    #[test]
    fn exact_zero_versus_five() {
        // 2 * (1/2)^5 = 0.0625.
        let m = mcnemar(0, 5);
        close(m.p_value, 0.0625, 1e-12);
        assert_eq!(m.statistic, 0.0);
    }

    #[test]
    fn exact_balanced_and_single_pair_cap_at_one() {
        assert_eq!(mcnemar(5, 5).p_value, 1.0);
        assert_eq!(mcnemar(1, 0).p_value, 1.0);
        assert_eq!(mcnemar(11, 12).p_value, 1.0);
        // One step from balanced is not capped: 2 * P(X <= 4 | 10) = 0.754.
        close(mcnemar(4, 6).p_value, 2.0 * 386.0 / 1024.0, 1e-12);
    }

    #[test]
    fn exact_at_largest_exact_size() {
        // n = 24: 2 * sum_{i<=6} C(24, i) / 2^24 = 2 * 190051 / 16777216.
        let m = mcnemar(6, 18);
        assert_eq!(m.method, McNemarMethod::ExactBinomial);
        close(m.p_value, 380_102.0 / 16_777_216.0, 1e-12);
    }

    #[test]
    fn chi_square_ten_versus_twenty() {
        // (|10 - 20| - 1)^2 / 30 = 81 / 30 = 2.7; P(chi2_1 > 2.7) = 0.1003482...
        let m = mcnemar(10, 20);
        assert_eq!(m.method, McNemarMethod::ChiSquareCorrected);
        close(m.statistic, 2.7, 1e-12);
        close(m.p_value, 0.100_348_246_462, 1e-9);
    }

    #[test]
    fn chi_square_at_threshold_and_beyond() {
        // n = 25 switches to chi-square: (25 - 1)^2 / 25 = 23.04.
        let m = mcnemar(25, 0);
        assert_eq!(m.method, McNemarMethod::ChiSquareCorrected);
        close(m.statistic, 23.04, 1e-12);
        close(m.p_value / 1.586_656_303_95e-6, 1.0, 1e-8);
        // 100 vs 60: 39^2 / 160 = 9.50625, p = 0.0020477...
        let m = mcnemar(100, 60);
        close(m.statistic, 9.506_25, 1e-12);
        close(m.p_value, 0.002_047_732_153_67, 1e-11);
    }

    #[test]
    fn chi_square_balanced_is_no_evidence() {
        let m = mcnemar(12, 13);
        assert_eq!(m.statistic, 0.0);
        assert_eq!(m.p_value, 1.0);
    }

    #[test]
    fn huge_counts_stay_finite() {
        let m = mcnemar(u64::MAX / 2, u64::MAX / 3);
        assert_eq!(m.method, McNemarMethod::ChiSquareCorrected);
        assert_eq!(m.p_value, 0.0);
        let m = mcnemar(u64::MAX, u64::MAX);
        assert!(m.statistic.is_finite() && (0.0..=1.0).contains(&m.p_value));
        // Discordant counts near 1e12 that barely differ are no evidence.
        let m = mcnemar(1_000_000_000_000, 1_000_000_000_001);
        assert_eq!(m.statistic, 0.0);
        assert_eq!(m.p_value, 1.0);
    }

    #[test]
    fn discordant_pairs_counts_and_rejects_mismatch() {
        let a = [true, false, false, true, true, false];
        let b = [true, true, false, false, true, true];
        assert_eq!(discordant_pairs(&a, &b), Some((2, 1)));
        assert_eq!(discordant_pairs(&a, &b[..5]), None);
        assert_eq!(discordant_pairs(&[], &[]), Some((0, 0)));
    }
}
