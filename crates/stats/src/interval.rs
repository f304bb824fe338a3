//! Confidence intervals and one-sided bounds for a binomial rate (Clopper-Pearson, Wilson).
//!
//! A simulated run gives `k` successes (or events: errors, retries, timeouts)
//! out of `n` trials. The point estimate `k/n` says nothing about how far the
//! true rate may be from it; these intervals do, so a check such as "the
//! success rate is at least 99.9%" can be asserted on a lower confidence bound
//! rather than on a lucky point estimate.
//!
//! Bad input (`k > n`, a confidence that is NaN or outside `(0, 1)`) yields the
//! vacuous interval `[0, 1]`: it claims nothing, so any acceptance check built
//! on it fails safe rather than passing on nonsense.

use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, ContinuousCDF, Normal};

/// A closed interval `[low, high]` for a rate, both ends in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower end, inclusive.
    pub low: f64,
    /// Upper end, inclusive.
    pub high: f64,
}

impl Interval {
    /// The interval that claims nothing about a rate; what invalid input gets.
    pub const VACUOUS: Interval = Interval {
        low: 0.0,
        high: 1.0,
    };

    /// `high - low`: how much the data still leaves open.
    pub fn width(&self) -> f64 {
        self.high - self.low
    }

    /// Whether `rate` lies inside the closed interval (false for NaN).
    pub fn contains(&self, rate: f64) -> bool {
        self.low <= rate && rate <= self.high
    }
}

/// `k / n`, the plain point estimate of a rate; 0 when `n == 0` so an empty run
/// reads as "nothing observed" instead of NaN poisoning a report.
///
/// No clamping: `k > n` gives a value above 1, which makes the caller's bug
/// visible rather than hiding it.
pub fn rate(k: u64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        k as f64 / n as f64
    }
}

/// Whether `confidence` is a usable confidence level: finite and strictly
/// between 0 and 1.
fn valid_confidence(confidence: f64) -> bool {
    confidence > 0.0 && confidence < 1.0
}

/// The `p`-quantile of Beta(`a`, `b`), for `a, b > 0` and `p` in `(0, 1)`.
///
/// Uses statrs' inverse CDF (AS 109 Newton iteration), then checks it against
/// statrs' CDF; where that iteration has not converged (it can stall for very
/// skewed shapes, e.g. one event in a billion trials) it falls back to bisection
/// on the CDF, which is slow but cannot miss. Returns `None` only if statrs
/// rejects the shape parameters.
fn beta_quantile(a: f64, b: f64, p: f64) -> Option<f64> {
    let beta = Beta::new(a, b).ok()?;
    if !(p > 0.0 && p < 1.0) {
        return None;
    }
    let x = beta.inverse_cdf(p);
    if x.is_finite() && (0.0..=1.0).contains(&x) {
        let err = (beta.cdf(x) - p).abs();
        // Relative to the smaller tail, so a 1e-6 quantile is held to the same
        // relative accuracy as the median.
        if err <= 1e-10 * p.min(1.0 - p) {
            return Some(x);
        }
    }
    Some(bisect_cdf(&beta, p))
}

/// Bisection on the Beta CDF over `[0, 1]` until the bracket stops shrinking
/// in `f64`; monotonicity of the CDF makes this unconditionally convergent.
fn bisect_cdf(beta: &Beta, p: f64) -> f64 {
    let mut lo = 0.0_f64;
    let mut hi = 1.0_f64;
    // 1100 halvings exhaust every f64 between 0 and 1 (subnormals included).
    for _ in 0..1100 {
        let mid = lo + (hi - lo) / 2.0;
        if mid <= lo || mid >= hi {
            break;
        }
        if beta.cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// Lower Clopper-Pearson bound with tail probability `tail`: the smallest rate
/// under which seeing `k` or more events still has probability `tail`.
/// Assumes `k <= n`, `n > 0` and `tail` in `(0, 1)`.
fn cp_low(k: u64, n: u64, tail: f64) -> f64 {
    if k == 0 {
        return 0.0;
    }
    beta_quantile(k as f64, (n - k) as f64 + 1.0, tail)
        .map_or(0.0, |x| x.clamp(0.0, 1.0))
}

/// Upper Clopper-Pearson bound with tail probability `tail`: the largest rate
/// under which seeing `k` or fewer events still has probability `tail`.
/// Assumes `k <= n`, `n > 0` and `tail` in `(0, 1)`.
fn cp_high(k: u64, n: u64, tail: f64) -> f64 {
    if k == n {
        return 1.0;
    }
    beta_quantile(k as f64 + 1.0, (n - k) as f64, 1.0 - tail)
        .map_or(1.0, |x| x.clamp(0.0, 1.0))
}

/// Exact two-sided Clopper-Pearson interval for a binomial rate.
///
/// Exact means it never under-covers: for every true rate the interval
/// contains it with probability at least `confidence`, which is what a claim
/// such as "fewer than 1 in 1000 operations are lost" needs, at the price of
/// being a little wider than approximate intervals. Each tail gets
/// `(1 - confidence) / 2`.
///
/// `k = 0` gives `low = 0`; `k = n` gives `high = 1`; `n = 0`, `k > n` or a
/// confidence outside `(0, 1)` gives [`Interval::VACUOUS`].
pub fn clopper_pearson(successes_or_events: u64, trials: u64, confidence: f64) -> Interval {
    let (k, n) = (successes_or_events, trials);
    if n == 0 || k > n || !valid_confidence(confidence) {
        return Interval::VACUOUS;
    }
    let tail = (1.0 - confidence) / 2.0;
    Interval {
        low: cp_low(k, n, tail),
        high: cp_high(k, n, tail),
    }
}

/// One-sided lower Clopper-Pearson bound: the true rate is at least this with
/// probability `confidence` (e.g. "the success rate is at least 0.9987 at 99%").
///
/// The whole `1 - confidence` goes in one tail, so this is tighter than the low
/// end of a two-sided interval at the same confidence. Returns 0 (no claim) for
/// `k = 0`, `n = 0`, `k > n` or a confidence outside `(0, 1)`.
pub fn clopper_pearson_lower_one_sided(k: u64, n: u64, confidence: f64) -> f64 {
    if n == 0 || k > n || !valid_confidence(confidence) {
        return 0.0;
    }
    cp_low(k, n, 1.0 - confidence)
}

/// One-sided upper Clopper-Pearson bound: the true rate is at most this with
/// probability `confidence` (e.g. "the data-loss rate is below 3e-4 at 99%",
/// even when no loss was observed).
///
/// Returns 1 (no claim) for `k = n`, `n = 0`, `k > n` or a confidence outside
/// `(0, 1)`.
pub fn clopper_pearson_upper_one_sided(k: u64, n: u64, confidence: f64) -> f64 {
    if n == 0 || k > n || !valid_confidence(confidence) {
        return 1.0;
    }
    cp_high(k, n, 1.0 - confidence)
}

/// Two-sided Wilson score interval for a binomial rate.
///
/// Approximate (it can under-cover slightly for some rates) but narrower than
/// Clopper-Pearson and cheap; useful for dashboards and for comparing against
/// the exact interval. Unlike the textbook Wald interval it behaves at `k = 0`
/// and `k = n`. Same invalid-input rule as [`clopper_pearson`].
pub fn wilson(k: u64, n: u64, confidence: f64) -> Interval {
    if n == 0 || k > n || !valid_confidence(confidence) {
        return Interval::VACUOUS;
    }
    let Ok(standard) = Normal::new(0.0, 1.0) else {
        return Interval::VACUOUS;
    };
    let z = standard.inverse_cdf(1.0 - (1.0 - confidence) / 2.0);
    let n_f = n as f64;
    let p = k as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z / denom * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    // Exact endpoints at the boundaries: rounding must not leave a tiny
    // positive low bound when no event was seen.
    let low = if k == 0 { 0.0 } else { (centre - half).max(0.0) };
    let high = if k == n { 1.0 } else { (centre + half).min(1.0) };
    Interval { low, high }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tol: f64) {
        assert!(
            (actual - expected).abs() <= tol,
            "expected {expected}, got {actual} (tolerance {tol})"
        );
    }

    #[test]
    fn cp_zero_of_ten_matches_closed_form() {
        let iv = clopper_pearson(0, 10, 0.95);
        assert_eq!(iv.low, 0.0);
        // Closed form for k = 0: 1 - (alpha/2)^(1/n) = 0.308497...
        close(iv.high, 1.0 - 0.025_f64.powf(0.1), 1e-12);
        close(iv.high, 0.3085, 5e-5);
    }

    #[test]
    fn cp_ten_of_ten_matches_closed_form() {
        let iv = clopper_pearson(10, 10, 0.95);
        close(iv.low, 0.025_f64.powf(0.1), 1e-12);
        assert_eq!(iv.high, 1.0);
    }

    #[test]
    fn cp_five_of_ten_published() {
        let iv = clopper_pearson(5, 10, 0.95);
        close(iv.low, 0.187_086_028_447, 1e-10);
        close(iv.high, 0.812_913_971_553, 1e-10);
    }

    #[test]
    fn cp_large_n_published() {
        let iv = clopper_pearson(132, 10_000, 0.95);
        // Roughly [0.0111, 0.0156]; 12-digit references from mpmath (50 digits).
        close(iv.low, 0.011_055_729_059, 1e-10);
        close(iv.high, 0.015_634_266_504, 1e-10);
    }

    #[test]
    fn cp_one_of_a_billion_is_accurate() {
        // Extreme skew: exercises the fallback if AS 109 stalls. References
        // from the closed-form binomial tails in mpmath.
        let iv = clopper_pearson(1, 1_000_000_000, 0.95);
        close(iv.low / 2.531_780_798_397e-11, 1.0, 1e-8);
        close(iv.high / 5.571_643_378_203e-9, 1.0, 1e-8);
    }

    #[test]
    fn cp_degenerate_inputs_are_vacuous() {
        assert_eq!(clopper_pearson(0, 0, 0.95), Interval::VACUOUS);
        assert_eq!(clopper_pearson(11, 10, 0.95), Interval::VACUOUS);
        assert_eq!(clopper_pearson(5, 10, f64::NAN), Interval::VACUOUS);
        assert_eq!(clopper_pearson(5, 10, 1.0), Interval::VACUOUS);
        assert_eq!(clopper_pearson(5, 10, 0.0), Interval::VACUOUS);
        assert_eq!(clopper_pearson(5, 10, -0.5), Interval::VACUOUS);
    }

    #[test]
    fn one_sided_zero_events_is_rule_of_three_ish() {
        // 0 events in 1000 trials: upper 95% bound is 1 - 0.05^(1/1000),
        // close to the rule of three's 3/n.
        let high = clopper_pearson_upper_one_sided(0, 1000, 0.95);
        close(high, 1.0 - 0.05_f64.powf(1.0 / 1000.0), 1e-12);
        close(high, 0.002_991_5, 1e-6);
        assert_eq!(clopper_pearson_lower_one_sided(0, 1000, 0.95), 0.0);
    }

    #[test]
    fn one_sided_all_successes_lower_bound() {
        // 1000 of 1000 succeeded: 99% lower bound is 0.01^(1/1000).
        let low = clopper_pearson_lower_one_sided(1000, 1000, 0.99);
        close(low, 0.01_f64.powf(1.0 / 1000.0), 1e-12);
        close(low, 0.995_405, 1e-6);
        assert_eq!(clopper_pearson_upper_one_sided(1000, 1000, 0.99), 1.0);
    }

    #[test]
    fn one_sided_equals_two_sided_at_doubled_tail() {
        // A one-sided 97.5% bound is the matching end of a two-sided 95% one.
        let iv = clopper_pearson(37, 200, 0.95);
        close(clopper_pearson_lower_one_sided(37, 200, 0.975), iv.low, 1e-12);
        close(clopper_pearson_upper_one_sided(37, 200, 0.975), iv.high, 1e-12);
    }

    #[test]
    fn one_sided_published_values() {
        // mpmath references: 990 of 1000, one-sided 99%.
        close(
            clopper_pearson_lower_one_sided(990, 1000, 0.99),
            0.979_957_394_099,
            1e-10,
        );
        close(
            clopper_pearson_upper_one_sided(990, 1000, 0.99),
            0.995_859_701_935,
            1e-10,
        );
    }

    #[test]
    fn one_sided_degenerate_inputs_claim_nothing() {
        assert_eq!(clopper_pearson_lower_one_sided(5, 0, 0.99), 0.0);
        assert_eq!(clopper_pearson_lower_one_sided(6, 5, 0.99), 0.0);
        assert_eq!(clopper_pearson_lower_one_sided(5, 10, f64::NAN), 0.0);
        assert_eq!(clopper_pearson_upper_one_sided(5, 0, 0.99), 1.0);
        assert_eq!(clopper_pearson_upper_one_sided(6, 5, 0.99), 1.0);
        assert_eq!(clopper_pearson_upper_one_sided(5, 10, 2.0), 1.0);
    }

    #[test]
    fn rate_handles_empty_runs() {
        assert_eq!(rate(0, 0), 0.0);
        assert_eq!(rate(3, 4), 0.75);
        assert_eq!(rate(7, 0), 0.0);
    }

    #[test]
    fn wilson_published_values() {
        // Wilson 95% for 5/10: [0.2366, 0.7634]; 12-digit references from mpmath.
        let iv = wilson(5, 10, 0.95);
        close(iv.low, 0.236_593_090_513, 1e-10);
        close(iv.high, 0.763_406_909_487, 1e-10);
        let iv = wilson(0, 10, 0.95);
        assert_eq!(iv.low, 0.0);
        close(iv.high, 0.277_532_799_863, 1e-10);
        assert_eq!(wilson(0, 0, 0.95), Interval::VACUOUS);
    }

    #[test]
    fn wilson_is_inside_clopper_pearson_here() {
        let cp = clopper_pearson(13, 80, 0.95);
        let w = wilson(13, 80, 0.95);
        assert!(cp.low < w.low && w.high < cp.high, "{cp:?} vs {w:?}");
    }

    #[test]
    fn interval_helpers() {
        let iv = Interval {
            low: 0.25,
            high: 0.75,
        };
        assert_eq!(iv.width(), 0.5);
        assert!(iv.contains(0.25) && iv.contains(0.75) && !iv.contains(0.8));
        assert!(!iv.contains(f64::NAN));
    }
}
