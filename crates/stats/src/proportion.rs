//! Unpaired comparison of two success rates (pooled two-proportion z-test).
//!
//! For runs that are not paired operation by operation (different seeds,
//! different workloads), so McNemar's test does not apply. It is a
//! large-sample approximation: trust it when each group has at least a handful
//! of successes and of failures; for paired runs prefer [`crate::mcnemar()`].

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};

/// Result of comparing the success rate of A with that of B.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TwoProportion {
    /// `k_a / n_a`.
    pub rate_a: f64,
    /// `k_b / n_b`.
    pub rate_b: f64,
    /// `rate_a - rate_b`: positive when A succeeds more often.
    pub difference: f64,
    /// `difference` divided by its standard error under the pooled null
    /// hypothesis; same sign as `difference`.
    pub z: f64,
    /// Two-sided p-value for "A and B have the same success probability".
    pub p_value: f64,
}

/// Pooled two-proportion z-test of `k_a` successes in `n_a` trials against
/// `k_b` in `n_b`.
///
/// Returns `None` when either group is empty or has more successes than
/// trials. When the pooled rate is 0 or 1 (both groups all failures or all
/// successes) the groups are identical: `z = 0`, `p_value = 1`.
#[must_use]
pub fn two_proportion_z_test(k_a: u64, n_a: u64, k_b: u64, n_b: u64) -> Option<TwoProportion> {
    if n_a == 0 || n_b == 0 || k_a > n_a || k_b > n_b {
        return None;
    }
    let (n_a_f, n_b_f) = (n_a as f64, n_b as f64);
    let rate_a = k_a as f64 / n_a_f;
    let rate_b = k_b as f64 / n_b_f;
    let difference = rate_a - rate_b;
    let pooled = (k_a as f64 + k_b as f64) / (n_a_f + n_b_f);
    let standard_error = (pooled * (1.0 - pooled) * (1.0 / n_a_f + 1.0 / n_b_f)).sqrt();
    let (z, p_value) = if standard_error > 0.0 {
        let z = difference / standard_error;
        let standard = Normal::new(0.0, 1.0).ok()?;
        (z, (2.0 * standard.sf(z.abs())).min(1.0))
    } else {
        (0.0, 1.0)
    };
    Some(TwoProportion { rate_a, rate_b, difference, z, p_value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tol: f64) {
        assert!((actual - expected).abs() <= tol, "expected {expected}, got {actual}");
    }

    #[test]
    fn hand_computed_example() {
        // 45/100 vs 30/100: pooled 0.375, SE = sqrt(0.375 * 0.625 * 0.02)
        // = 0.0684653, z = 0.15 / SE = 2.1908902, two-sided p = 0.0284597.
        let t = two_proportion_z_test(45, 100, 30, 100).unwrap();
        close(t.difference, 0.15, 1e-12);
        close(t.z, 2.190_890_230_02, 1e-9);
        close(t.p_value, 0.028_459_736_916, 1e-9);
        let swapped = two_proportion_z_test(30, 100, 45, 100).unwrap();
        close(swapped.z, -t.z, 1e-12);
        close(swapped.p_value, t.p_value, 1e-12);
    }

    #[test]
    fn identical_extremes_have_no_evidence() {
        let t = two_proportion_z_test(50, 50, 80, 80).unwrap();
        assert_eq!((t.z, t.p_value), (0.0, 1.0));
        let t = two_proportion_z_test(0, 50, 0, 80).unwrap();
        assert_eq!((t.z, t.p_value), (0.0, 1.0));
    }

    #[test]
    fn invalid_input_is_none() {
        assert_eq!(two_proportion_z_test(0, 0, 1, 2), None);
        assert_eq!(two_proportion_z_test(1, 2, 0, 0), None);
        assert_eq!(two_proportion_z_test(3, 2, 1, 2), None);
        assert_eq!(two_proportion_z_test(1, 2, 3, 2), None);
    }
}
