//! An exact latency histogram: how many operations took each integer latency, so that summaries add across shards.
//!
//! A run's latencies are integers in the caller's unit (microseconds of
//! virtual time in the harness). Keeping one count per distinct value loses
//! nothing: the nearest-rank percentiles of the histogram are those of the
//! sorted list of values, by the same rank rule ([`crate::percentile`]), and
//! two histograms add exactly. That is what lets seeds run on many machines
//! and merge into the summary one machine would have printed; the unsharded
//! path uses the same type, so both compute percentiles by one definition.
//! Virtual latencies repeat (the simulator's resolution is 1 ms, plus tens of
//! nanoseconds of scheduling noise), so the map is also smaller than the list.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::percentile::{nearest_rank, LatencySummary};

/// Counts per latency value. Serialized as `[[value, count], ...]` in
/// ascending value order, every count at least 1.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<(u64, u64)>", try_from = "Vec<(u64, u64)>")]
pub struct LatencyHistogram {
    counts: BTreeMap<u64, u64>,
    /// The sum of `counts`' values, kept so that ranks need no second pass.
    total: u64,
}

/// Why a serialized histogram was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistogramError {
    /// Values must ascend strictly (each value once).
    NotAscending { value: u64 },
    /// A listed value must have been seen at least once.
    ZeroCount { value: u64 },
    /// The counts add up past `u64::MAX`.
    TotalOverflows,
}

impl std::fmt::Display for HistogramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HistogramError::NotAscending { value } => {
                write!(f, "latency histogram: value {value} is out of order or repeated (values must ascend)")
            }
            HistogramError::ZeroCount { value } => write!(f, "latency histogram: value {value} has a count of 0"),
            HistogramError::TotalOverflows => write!(f, "latency histogram: the counts add up past 2^64 - 1"),
        }
    }
}

impl std::error::Error for HistogramError {}

impl LatencyHistogram {
    pub fn new() -> Self {
        LatencyHistogram::default()
    }

    /// Counts one more latency of `value`.
    pub fn add(&mut self, value: u64) {
        self.add_count(value, 1);
    }

    /// Counts every value of `values`.
    pub fn extend(&mut self, values: &[u64]) {
        values.iter().for_each(|&value| self.add(value));
    }

    /// Adds `other`'s counts to these: the histogram of both sets of values.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (&value, &count) in &other.counts {
            self.add_count(value, count);
        }
    }

    fn add_count(&mut self, value: u64, count: u64) {
        // Saturating: counts are bounded by seeds x operations, far below 2^64.
        let slot = self.counts.entry(value).or_default();
        *slot = slot.saturating_add(count);
        self.total = self.total.saturating_add(count);
    }

    /// Latencies counted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The nearest-rank `q`-quantile, as [`crate::percentile_nearest_rank`]
    /// gives it for the sorted values; `None` when empty or `q` is outside `[0, 1]`.
    #[must_use]
    pub fn percentile_nearest_rank(&self, q: f64) -> Option<u64> {
        if self.total == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = nearest_rank(usize::try_from(self.total).unwrap_or(usize::MAX), q) as u64;
        let mut seen = 0u64;
        self.counts.iter().find_map(|(&value, &count)| {
            seen = seen.saturating_add(count);
            (seen >= rank).then_some(value)
        })
    }

    /// The empirical CDF as (value, fraction of values at or below it),
    /// exact at every point given and thinned to about `steps` points in the
    /// body plus the tail: a point is kept when the fraction rose by
    /// `1 / steps` since the last one kept, or, past 0.99, when the fraction
    /// above shrank by a tenth (so p99.9 and the maximum are drawn where
    /// they are); the last value (fraction 1) is always kept.
    #[must_use]
    pub fn cdf(&self, steps: usize) -> Vec<(u64, f64)> {
        let step = 1.0 / steps.max(1) as f64;
        let total = self.total as f64;
        let mut points: Vec<(u64, f64)> = Vec::new();
        let mut seen = 0u64;
        let mut last_kept = 0.0f64;
        for (&value, &count) in &self.counts {
            seen = seen.saturating_add(count);
            let fraction = seen as f64 / total;
            let body = fraction - last_kept >= step;
            let tail = fraction > 0.99 && (1.0 - fraction) <= (1.0 - last_kept) * 0.9;
            // The last value (fraction 1) always passes the tail test.
            if body || tail {
                points.push((value, fraction));
                last_kept = fraction;
            }
        }
        points
    }

    /// The same summary [`LatencySummary::from_unsorted`] gives for the values counted.
    #[must_use]
    pub fn summary(&self) -> LatencySummary {
        let at = |q: f64| self.percentile_nearest_rank(q).unwrap_or(0);
        LatencySummary {
            count: self.total,
            min: self.counts.keys().next().copied().unwrap_or(0),
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: self.counts.keys().next_back().copied().unwrap_or(0),
        }
    }
}

impl From<LatencyHistogram> for Vec<(u64, u64)> {
    fn from(histogram: LatencyHistogram) -> Self {
        histogram.counts.into_iter().collect()
    }
}

impl TryFrom<Vec<(u64, u64)>> for LatencyHistogram {
    type Error = HistogramError;

    fn try_from(pairs: Vec<(u64, u64)>) -> Result<Self, Self::Error> {
        let mut histogram = LatencyHistogram::new();
        let mut previous: Option<u64> = None;
        for (value, count) in pairs {
            if previous.is_some_and(|previous| value <= previous) {
                return Err(HistogramError::NotAscending { value });
            }
            if count == 0 {
                return Err(HistogramError::ZeroCount { value });
            }
            histogram.total = histogram.total.checked_add(count).ok_or(HistogramError::TotalOverflows)?;
            histogram.counts.insert(value, count);
            previous = Some(value);
        }
        Ok(histogram)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: &[u64]) -> LatencyHistogram {
        let mut histogram = LatencyHistogram::new();
        histogram.extend(values);
        histogram
    }

    #[test]
    fn summary_equals_the_sorted_list_summary() {
        let mut values: Vec<u64> = (0..1000u64).map(|i| (i * 7919) % 613 + (i % 3) * 1000).collect();
        let histogram = of(&values);
        assert_eq!(histogram.summary(), LatencySummary::from_unsorted(&mut values));
        for q in [0.0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(histogram.percentile_nearest_rank(q), crate::percentile_nearest_rank(&values, q), "q = {q}");
        }
    }

    #[test]
    fn merged_halves_equal_the_whole() {
        let values: Vec<u64> = (0..500u64).map(|i| (i * 31) % 97).collect();
        let mut merged = of(&values[..123]);
        merged.merge(&of(&values[123..]));
        assert_eq!(merged, of(&values));
        assert_eq!(merged.count(), 500);
    }

    #[test]
    fn empty_summary_is_the_default() {
        assert_eq!(LatencyHistogram::new().summary(), LatencySummary::default());
        assert_eq!(LatencyHistogram::new().percentile_nearest_rank(0.5), None);
        assert_eq!(of(&[3]).percentile_nearest_rank(f64::NAN), None);
    }

    #[test]
    fn serialized_form_round_trips_and_bad_forms_are_refused() {
        let histogram = of(&[5, 1, 5, 9]);
        let pairs: Vec<(u64, u64)> = histogram.clone().into();
        assert_eq!(pairs, [(1, 1), (5, 2), (9, 1)]);
        assert_eq!(LatencyHistogram::try_from(pairs), Ok(histogram));
        assert_eq!(LatencyHistogram::try_from(vec![(5, 1), (1, 1)]), Err(HistogramError::NotAscending { value: 1 }));
        assert_eq!(LatencyHistogram::try_from(vec![(5, 1), (5, 1)]), Err(HistogramError::NotAscending { value: 5 }));
        assert_eq!(LatencyHistogram::try_from(vec![(5, 0)]), Err(HistogramError::ZeroCount { value: 5 }));
        // A merge names the trouble in words (the part's file is named by the CLI).
        assert_eq!(HistogramError::ZeroCount { value: 5 }.to_string(), "latency histogram: value 5 has a count of 0");
        assert_eq!(LatencyHistogram::try_from(vec![(1, u64::MAX), (2, 1)]), Err(HistogramError::TotalOverflows));
    }

    #[test]
    fn the_cdf_is_exact_where_drawn_and_ends_at_the_maximum() {
        let mut histogram = LatencyHistogram::new();
        histogram.extend(&(1..=10_000u64).collect::<Vec<_>>());
        let cdf = histogram.cdf(100);
        assert_eq!(cdf.last(), Some(&(10_000, 1.0)));
        for &(value, fraction) in &cdf {
            assert_eq!(fraction, value as f64 / 10_000.0, "exact at {value}");
        }
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        // The body in about 100 steps, the tail (past 0.99) in finer ones.
        assert!((100..=200).contains(&cdf.len()), "{}", cdf.len());
        assert!(cdf.iter().any(|&(value, _)| (9_990..10_000).contains(&value)));
        assert_eq!(LatencyHistogram::new().cdf(100), Vec::new());
        // Which points are kept, exactly: the body about every tenth (a step
        // is kept once the fraction has risen by 0.1, which floating point
        // sometimes reaches one value late), the tail past 0.99 at every
        // value (each brings the fraction above at least a tenth closer to 0).
        let mut thousand = LatencyHistogram::new();
        thousand.extend(&(1..=1000u64).collect::<Vec<_>>());
        let kept: Vec<u64> = thousand.cdf(10).into_iter().map(|(value, _)| value).collect();
        let expected = [100, 200, 301, 401, 502, 603, 704, 804, 905, 991, 992, 993, 994, 995, 996, 997, 998, 999, 1000];
        assert_eq!(kept, expected);
        // A dense tail: a point each time the fraction above shrinks by a tenth.
        let mut dense = LatencyHistogram::new();
        dense.extend(&(1..=100_000u64).collect::<Vec<_>>());
        let kept: Vec<u64> = dense.cdf(10).into_iter().map(|(value, _)| value).collect();
        assert_eq!(kept.len(), 59);
        assert_eq!(kept[9..14], [99_001, 99_101, 99_191, 99_272, 99_345]);
        assert_eq!(kept[kept.len() - 3..], [99_998, 99_999, 100_000]);
    }
}
