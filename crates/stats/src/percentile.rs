//! Nearest-rank percentiles over integer latencies, and the summary reports print.
//!
//! Nearest rank (not interpolation) because every reported value is then a
//! latency that some operation really had, in the caller's own integer unit,
//! and the result is exact and identical on every platform: no float
//! arithmetic touches the data, only the rank.

use serde::{Deserialize, Serialize};

/// Nearest-rank rank (1-based) of quantile `q` in `len` items: the smallest `r`
/// with `r / len >= q`, clamped to `1..=len`.
///
/// `q * len` is computed in `f64`, so a product that should be an exact integer
/// (0.999 * 1000) can land one ulp above it and `ceil` would then skip a rank.
/// A product within a few ulps of an integer is therefore taken as that integer.
/// Assumes `len > 0` and `q` in `[0, 1]`.
pub(crate) fn nearest_rank(len: usize, q: f64) -> usize {
    let product = q * len as f64;
    let nearest = product.round();
    let rank =
        if (product - nearest).abs() <= 4.0 * f64::EPSILON * product.max(1.0) { nearest } else { product.ceil() };
    // `as usize` saturates, and the clamp keeps the rank inside the data.
    (rank as usize).clamp(1, len)
}

/// The nearest-rank `q`-quantile of `sorted` (ascending): the smallest value
/// such that at least a fraction `q` of the data is less than or equal to it.
///
/// `q = 0` gives the minimum, `q = 1` the maximum. Returns `None` when `sorted`
/// is empty or `q` is NaN or outside `[0, 1]`. Unsorted input is not detected;
/// the answer is then just the element at the nearest rank.
#[must_use]
pub fn percentile_nearest_rank(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    sorted.get(nearest_rank(sorted.len(), q) - 1).copied()
}

/// Count and tail percentiles of a set of latencies, all in the caller's unit
/// (e.g. microseconds of virtual time); the unit goes in the name of the field
/// that holds the summary, e.g. `get_latency_us: LatencySummary`.
///
/// Tail percentiles rather than a mean, because retries show up as a fat tail
/// that a mean hides. An empty input gives `count = 0` and every other field 0;
/// check `count` (or [`LatencySummary::is_empty`]) before reading the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of latencies summarised.
    pub count: u64,
    /// Smallest latency.
    pub min: u64,
    /// Median (nearest rank).
    pub p50: u64,
    /// 90th percentile (nearest rank).
    pub p90: u64,
    /// 99th percentile (nearest rank).
    pub p99: u64,
    /// 99.9th percentile (nearest rank).
    pub p999: u64,
    /// Largest latency.
    pub max: u64,
}

impl LatencySummary {
    /// Summarise `values`, sorting them in place first (unstable sort: equal
    /// integers are indistinguishable, so the result is still deterministic).
    ///
    /// Takes a slice so callers can pass `&mut vec` and keep the sorted data.
    pub fn from_unsorted(values: &mut [u64]) -> LatencySummary {
        values.sort_unstable();
        LatencySummary::from_sorted(values)
    }

    /// Summarise latencies already sorted ascending (not checked).
    #[must_use]
    pub fn from_sorted(sorted: &[u64]) -> LatencySummary {
        let at = |q: f64| percentile_nearest_rank(sorted, q).unwrap_or(0);
        LatencySummary {
            count: sorted.len() as u64,
            min: sorted.first().copied().unwrap_or(0),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: sorted.last().copied().unwrap_or(0),
        }
    }

    /// True when nothing was summarised and the other fields are placeholders.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_bad_quantiles_are_none() {
        assert_eq!(percentile_nearest_rank(&[], 0.5), None);
        assert_eq!(percentile_nearest_rank(&[1, 2], f64::NAN), None);
        assert_eq!(percentile_nearest_rank(&[1, 2], -0.01), None);
        assert_eq!(percentile_nearest_rank(&[1, 2], 1.01), None);
    }

    #[test]
    fn single_element() {
        for q in [0.0, 0.3, 0.5, 0.999, 1.0] {
            assert_eq!(percentile_nearest_rank(&[42], q), Some(42));
        }
    }

    #[test]
    fn wikipedia_nearest_rank_example() {
        // The classic example: 15, 20, 35, 40, 50.
        let d = [15, 20, 35, 40, 50];
        assert_eq!(percentile_nearest_rank(&d, 0.05), Some(15));
        assert_eq!(percentile_nearest_rank(&d, 0.30), Some(20));
        assert_eq!(percentile_nearest_rank(&d, 0.40), Some(20));
        assert_eq!(percentile_nearest_rank(&d, 0.50), Some(35));
        assert_eq!(percentile_nearest_rank(&d, 1.00), Some(50));
        assert_eq!(percentile_nearest_rank(&d, 0.0), Some(15));
    }

    #[test]
    fn even_length_median_is_lower_middle() {
        // At least half the data is <= 2, and 2 is the smallest such value.
        assert_eq!(percentile_nearest_rank(&[1, 2, 3, 4], 0.5), Some(2));
        assert_eq!(percentile_nearest_rank(&[1, 2, 3, 4], 0.51), Some(3));
    }

    #[test]
    fn exact_products_do_not_skip_a_rank() {
        // 1..=1000: p99.9 must be 999 (999 of 1000 values are <= 999), not 1000,
        // even though 0.999 * 1000.0 is not exactly 999 in f64.
        let d: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile_nearest_rank(&d, 0.999), Some(999));
        assert_eq!(percentile_nearest_rank(&d, 0.99), Some(990));
        assert_eq!(percentile_nearest_rank(&d, 0.5), Some(500));
        let d: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile_nearest_rank(&d, 0.99), Some(99));
        assert_eq!(percentile_nearest_rank(&d, 0.07), Some(7));
        assert_eq!(percentile_nearest_rank(&d, 0.29), Some(29));
        assert_eq!(percentile_nearest_rank(&d, 0.291), Some(30));
    }

    #[test]
    fn summary_of_small_unsorted_input() {
        let mut v = vec![900, 100, 300, 200, 5_000, 400, 700, 600, 800, 500];
        let s = LatencySummary::from_unsorted(&mut v);
        assert_eq!(v, [100, 200, 300, 400, 500, 600, 700, 800, 900, 5_000]);
        assert_eq!(s, LatencySummary { count: 10, min: 100, p50: 500, p90: 900, p99: 5_000, p999: 5_000, max: 5_000 });
    }

    #[test]
    fn summary_tail_of_thousand() {
        // 990 fast operations at 10, 9 retried at 1_000, one at 50_000.
        let mut v = vec![10_u64; 990];
        v.extend(std::iter::repeat_n(1_000, 9));
        v.push(50_000);
        let s = LatencySummary::from_unsorted(&mut v);
        assert_eq!((s.count, s.p50, s.p90, s.p99), (1000, 10, 10, 10));
        assert_eq!((s.p999, s.max), (1_000, 50_000));
    }

    #[test]
    fn summary_of_nothing() {
        let s = LatencySummary::from_unsorted(&mut []);
        assert!(s.is_empty());
        assert_eq!(s, LatencySummary::default());
    }
}
