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
use statrs::function::factorial::ln_binomial;

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
    pub const VACUOUS: Interval = Interval { low: 0.0, high: 1.0 };

    /// `high - low`: how much the data still leaves open.
    #[must_use]
    pub fn width(&self) -> f64 {
        self.high - self.low
    }

    /// Whether `rate` lies inside the closed interval (false for NaN).
    #[must_use]
    pub fn contains(&self, rate: f64) -> bool {
        self.low <= rate && rate <= self.high
    }
}

/// `k / n`, the plain point estimate of a rate; 0 when `n == 0` so an empty run
/// reads as "nothing observed" instead of NaN poisoning a report.
///
/// No clamping: `k > n` gives a value above 1, which makes the caller's bug
/// visible rather than hiding it.
#[must_use]
pub fn rate(k: u64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        k as f64 / n as f64
    }
}

/// Whether `confidence` is a usable confidence level: finite and strictly
/// between 0 and 1.
pub(crate) fn valid_confidence(confidence: f64) -> bool {
    confidence > 0.0 && confidence < 1.0
}

/// Largest trial count for which the bounds are solved on statrs' Beta CDF.
///
/// statrs 0.18 evaluates the incomplete beta function with a continued
/// fraction cut off after 140 terms; that is accurate to about 1e-9 of the
/// tail up to 1e5 trials but off by 1e-5 at 3e5 and 2e-3 at 1e6 trials (near
/// a rate of 1/2), so larger counts use [`binomial_tails`] instead. Its Beta
/// inverse CDF is not used at all: it loops forever on shapes such as
/// Beta(1, 1e9) (one event in a billion trials).
const STATRS_BETA_MAX_TRIALS: u64 = 100_000;

/// `ln C(n, k)`. Summed term by term when the smaller side is short, because
/// statrs' `ln_binomial` subtracts log-factorials of order `n ln n` and so
/// loses absolute precision for large `n` (about 1e-6 at a million trials);
/// the few-events-in-many-trials counts that reliability claims rest on thus
/// stay accurate to ~1e-13. Where the short side is long the error remains,
/// but it shifts a tail probability by a relative 1e-6 (1e-4 at a billion
/// trials), which moves a confidence bound by well under 1e-9.
fn ln_choose(n: u64, k: u64) -> f64 {
    let short_side = k.min(n - k);
    if short_side <= 64 {
        (0..short_side).map(|i| ((n - i) as f64 / (i + 1) as f64).ln()).sum()
    } else {
        ln_binomial(n, k)
    }
}

/// `ln P(X = j)` for X ~ Binomial(n, p), `0 < p < 1`, `j <= n`.
fn ln_binomial_pmf(j: u64, n: u64, p: f64) -> f64 {
    ln_choose(n, j) + j as f64 * p.ln() + (n - j) as f64 * (-p).ln_1p()
}

/// Binomial variance above which [`binomial_tails`] uses the normal
/// approximation (with continuity correction) instead of summing terms.
///
/// Summing takes about ten standard deviations of terms, so a variance of
/// 2.5e9 (standard deviation 5e4) means ~5e5 terms per evaluation; beyond
/// that the sum gets slow (an interval at 1e19 trials would take minutes),
/// while the approximation's error, of order skewness / 6 < 4e-6 of a tail,
/// moves a confidence bound by under 1e-5 standard deviations.
pub(crate) const NORMAL_TAIL_MIN_VARIANCE: f64 = 2.5e9;

/// `(P(X <= k), P(X > k))` for X ~ Binomial(n, p), for any trial count.
///
/// Sums the tail that does not contain the mean, starting next to `k` and
/// walking away from the mode: each term is the previous one times a ratio
/// below 1, so the sum can stop once a term no longer changes it. That takes
/// about ten standard deviations of terms (~160 thousand at a billion trials
/// and a rate of 1/2, far fewer for the rare-event counts retry statistics
/// see). The other tail is the complement, which is at least about 1/2, so
/// nothing is lost to cancellation. Past [`NORMAL_TAIL_MIN_VARIANCE`] it
/// switches to the normal approximation.
fn binomial_tails(k: u64, n: u64, p: f64) -> (f64, f64) {
    if k >= n || p <= 0.0 {
        return (1.0, 0.0);
    }
    if p >= 1.0 {
        return (0.0, 1.0);
    }
    let variance = n as f64 * p * (1.0 - p);
    if variance > NORMAL_TAIL_MIN_VARIANCE {
        if let Ok(standard) = Normal::new(0.0, 1.0) {
            let z = (k as f64 + 0.5 - n as f64 * p) / variance.sqrt();
            return (standard.cdf(z), standard.sf(z));
        }
    }
    let q_over_p = (1.0 - p) / p;
    if (k as f64) < n as f64 * p {
        // Lower tail: j = k, k - 1, ..., 0.
        let mut term = ln_binomial_pmf(k, n, p).exp();
        let mut sum = term;
        let mut j = k;
        while j > 0 && term > sum * 1e-17 {
            term *= j as f64 / (n - j + 1) as f64 * q_over_p;
            sum += term;
            j -= 1;
        }
        let lower = sum.min(1.0);
        (lower, 1.0 - lower)
    } else {
        // Upper tail: j = k + 1, k + 2, ..., n.
        let mut j = k + 1;
        let mut term = ln_binomial_pmf(j, n, p).exp();
        let mut sum = term;
        while j < n && term > sum * 1e-17 {
            term *= (n - j) as f64 / (j + 1) as f64 / q_over_p;
            sum += term;
            j += 1;
        }
        let upper = sum.min(1.0);
        (1.0 - upper, upper)
    }
}

/// Bisection over rates in `[0, 1]` for the boundary of a monotone predicate
/// (`too_high(p)` false below the root, true above), run until the bracket
/// stops shrinking in `f64`. Monotonicity makes this converge unconditionally,
/// in at most ~1100 steps (about 60 for ordinary rates).
pub(crate) fn bisect_rate(too_high: impl Fn(f64) -> bool) -> f64 {
    let mut lo = 0.0_f64;
    let mut hi = 1.0_f64;
    loop {
        let mid = lo + (hi - lo) / 2.0;
        if mid <= lo || mid >= hi {
            return mid;
        }
        if too_high(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
}

/// Lower Clopper-Pearson bound with tail probability `tail`: the rate at which
/// seeing `k` or more events has probability exactly `tail`.
/// Assumes `k <= n`, `n > 0` and `tail` in `(0, 1)`.
fn cp_low(k: u64, n: u64, tail: f64) -> f64 {
    if k == 0 {
        return 0.0;
    }
    // P(X >= k) is the Beta(k, n - k + 1) CDF at p, increasing in p.
    if n <= STATRS_BETA_MAX_TRIALS {
        if let Ok(beta) = Beta::new(k as f64, (n - k) as f64 + 1.0) {
            return bisect_rate(|p| beta.cdf(p) > tail);
        }
    }
    bisect_rate(|p| binomial_tails(k - 1, n, p).1 > tail)
}

/// Upper Clopper-Pearson bound with tail probability `tail`: the rate at which
/// seeing `k` or fewer events has probability exactly `tail`.
/// Assumes `k <= n`, `n > 0` and `tail` in `(0, 1)`.
fn cp_high(k: u64, n: u64, tail: f64) -> f64 {
    if k == n {
        return 1.0;
    }
    // P(X <= k) is the Beta(k + 1, n - k) survival function at p, decreasing in p.
    if n <= STATRS_BETA_MAX_TRIALS {
        if let Ok(beta) = Beta::new(k as f64 + 1.0, (n - k) as f64) {
            return bisect_rate(|p| beta.sf(p) < tail);
        }
    }
    bisect_rate(|p| binomial_tails(k, n, p).0 < tail)
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
#[must_use]
pub fn clopper_pearson(successes_or_events: u64, trials: u64, confidence: f64) -> Interval {
    let (k, n) = (successes_or_events, trials);
    if n == 0 || k > n || !valid_confidence(confidence) {
        return Interval::VACUOUS;
    }
    let tail = (1.0 - confidence) / 2.0;
    Interval { low: cp_low(k, n, tail), high: cp_high(k, n, tail) }
}

/// One-sided lower Clopper-Pearson bound: the true rate is at least this with
/// probability `confidence` (e.g. "the success rate is at least 0.9987 at 99%").
///
/// The whole `1 - confidence` goes in one tail, so this is tighter than the low
/// end of a two-sided interval at the same confidence. Returns 0 (no claim) for
/// `k = 0`, `n = 0`, `k > n` or a confidence outside `(0, 1)`.
#[must_use]
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
#[must_use]
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
#[must_use]
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
    use statrs::distribution::{Binomial, DiscreteCDF};

    fn close(actual: f64, expected: f64, tol: f64) {
        assert!((actual - expected).abs() <= tol, "expected {expected}, got {actual} (tolerance {tol})");
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
        // Extreme skew, where statrs' Beta inverse never returns. References
        // from the closed-form binomial tails in mpmath.
        let iv = clopper_pearson(1, 1_000_000_000, 0.95);
        close(iv.low / 2.531_780_798_397e-11, 1.0, 1e-8);
        close(iv.high / 5.571_643_378_203e-9, 1.0, 1e-8);
    }

    #[test]
    fn cp_past_statrs_range_is_accurate() {
        // 1e6 trials at a rate of 1/2, where statrs' incomplete beta is off by
        // 2e-3; mpmath references from exact tail sums.
        let iv = clopper_pearson(500_000, 1_000_000, 0.95);
        close(iv.low, 0.499_019_519_195, 1e-11);
        close(iv.high, 0.500_980_480_805, 1e-11);
        let iv = clopper_pearson(1_234, 10_000_000, 0.95);
        close(iv.low / 1.166_105_619_158e-4, 1.0, 1e-9);
        close(iv.high / 1.304_815_750_006e-4, 1.0, 1e-9);
    }

    #[test]
    fn binomial_tails_match_statrs_in_its_accurate_range() {
        for (n, p) in [(10_u64, 0.3), (1_000, 0.01), (1_000, 0.5), (100_000, 0.999)] {
            let binomial = Binomial::new(p, n).unwrap();
            for k in (0..n).step_by((n / 50).max(1) as usize) {
                let (lower, upper) = binomial_tails(k, n, p);
                let reference = binomial.cdf(k);
                let scale = reference.min(1.0 - reference).max(1e-300);
                assert!((lower - reference).abs() <= 1e-9 * scale, "n={n} p={p} k={k}: {lower} vs statrs {reference}");
                assert!((lower + upper - 1.0).abs() <= 1e-15);
            }
        }
    }

    #[test]
    fn binomial_tails_at_a_million_trials() {
        // P(X <= n/2) = 1/2 + P(X = n/2)/2 = 0.500398942180666 (mpmath). The
        // tolerance is statrs' ln_gamma precision at 1e6 (see `ln_choose`).
        let (lower, upper) = binomial_tails(500_000, 1_000_000, 0.5);
        close(lower, 0.500_398_942_180_666, 2e-9);
        close(upper, 1.0 - 0.500_398_942_180_666, 2e-9);
        assert_eq!(binomial_tails(10, 10, 0.5), (1.0, 0.0));
        assert_eq!(binomial_tails(3, 10, 0.0), (1.0, 0.0));
        assert_eq!(binomial_tails(3, 10, 1.0), (0.0, 1.0));
    }

    #[test]
    fn normal_tail_switch_over_is_seamless() {
        // Just below and just above the variance threshold (n p q = 2.5e9 at
        // p = 1/2 and n = 1e10), at 1.96 standard deviations below the mean.
        for n in [9_999_000_000_u64, 10_001_000_000] {
            let sd = (n as f64 * 0.25).sqrt();
            let k = (n as f64 * 0.5 - 1.96 * sd) as u64;
            let (lower, _) = binomial_tails(k, n, 0.5);
            close(lower, 0.024_997_895, 2e-6);
        }
    }

    #[test]
    fn astronomically_many_trials_still_answer() {
        let iv = clopper_pearson(u64::MAX / 2, u64::MAX, 0.95);
        // Half, +- 1.96 * sqrt(1/4 / 1.8e19) = 2.28e-10.
        close(iv.low, 0.5 - 2.282e-10, 1e-12);
        close(iv.high, 0.5 + 2.282e-10, 1e-12);
        let high = clopper_pearson_upper_one_sided(0, u64::MAX, 0.95);
        close(high * u64::MAX as f64, -0.05_f64.ln(), 1e-9);
    }

    #[test]
    fn both_solvers_agree_at_the_switch_over() {
        // The statrs-Beta path and the tail-sum path solve the same equations.
        let (k, n, tail) = (37_000_u64, STATRS_BETA_MAX_TRIALS, 0.025);
        let low_sum = bisect_rate(|p| binomial_tails(k - 1, n, p).1 > tail);
        let high_sum = bisect_rate(|p| binomial_tails(k, n, p).0 < tail);
        let iv = clopper_pearson(k, n, 0.95);
        close(iv.low, low_sum, 1e-12);
        close(iv.high, high_sum, 1e-12);
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
        close(clopper_pearson_lower_one_sided(990, 1000, 0.99), 0.979_957_394_099, 1e-10);
        close(clopper_pearson_upper_one_sided(990, 1000, 0.99), 0.995_859_701_935, 1e-10);
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
        let iv = Interval { low: 0.25, high: 0.75 };
        assert_eq!(iv.width(), 0.5);
        assert!(iv.contains(0.25) && iv.contains(0.75) && !iv.contains(0.8));
        assert!(!iv.contains(f64::NAN));
    }
}
