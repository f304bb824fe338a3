//! Property tests: the invariants every interval, percentile and test in retrylab-stats must keep.
//!
//! Unit tests pin published values; these check the shape of the answers over
//! many inputs, so a numerical regression in some corner cannot hide.

use proptest::prelude::*;
use retrylab_stats::{
    clopper_pearson, clopper_pearson_lower_one_sided, clopper_pearson_upper_one_sided, mcnemar,
    percentile_nearest_rank, rate, wilson, LatencyHistogram, LatencySummary, Sprt,
};
use statrs::distribution::{Binomial, DiscreteCDF};

/// `k <= n` with `n >= 1`.
fn k_and_n(max_n: u64) -> impl Strategy<Value = (u64, u64)> {
    (1..=max_n).prop_flat_map(|n| (0..=n, Just(n)))
}

fn confidence() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.8), Just(0.9), Just(0.95), Just(0.99), Just(0.999)]
}

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/proptest_seed.rs"));

proptest! {

    // Failing cases are kept in the workspace's proptest-regressions/ (committed).

    #![proptest_config(ProptestConfig { rng_seed: proptest_rng_seed(), failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proptest-regressions/stats-properties.txt")))), ..ProptestConfig::default() })]
    #[test]
    fn clopper_pearson_brackets_the_point_estimate((k, n) in k_and_n(100_000), c in confidence()) {
        let iv = clopper_pearson(k, n, c);
        let p = rate(k, n);
        prop_assert!(0.0 <= iv.low && iv.low <= p, "{iv:?} vs {p}");
        prop_assert!(p <= iv.high && iv.high <= 1.0, "{iv:?} vs {p}");
        prop_assert_eq!(iv.low == 0.0, k == 0);
        prop_assert_eq!(iv.high == 1.0, k == n);
    }

    #[test]
    fn clopper_pearson_narrows_with_more_data_at_same_ratio(
        (k, n) in k_and_n(2_000),
        scale in 2_u64..50,
        c in confidence(),
    ) {
        let small = clopper_pearson(k, n, c);
        let large = clopper_pearson(k * scale, n * scale, c);
        prop_assert!(large.width() < small.width(), "{small:?} then {large:?}");
        // And the larger sample's interval is no looser on either side.
        prop_assert!(large.low >= small.low && large.high <= small.high);
    }

    #[test]
    fn clopper_pearson_solves_its_defining_tail_equations((k, n) in k_and_n(5_000), c in confidence()) {
        // low is where P(X >= k) = tail; high is where P(X <= k) = tail.
        let tail = (1.0 - c) / 2.0;
        let iv = clopper_pearson(k, n, c);
        if k > 0 {
            let at_low = Binomial::new(iv.low, n).unwrap();
            let upper_tail = at_low.sf(k - 1);
            prop_assert!((upper_tail - tail).abs() <= 1e-8 * tail, "P(X>={k}) = {upper_tail}");
        }
        if k < n {
            let at_high = Binomial::new(iv.high, n).unwrap();
            let lower_tail = at_high.cdf(k);
            prop_assert!((lower_tail - tail).abs() <= 1e-8 * tail, "P(X<={k}) = {lower_tail}");
        }
    }

    #[test]
    fn higher_confidence_gives_a_wider_nested_interval((k, n) in k_and_n(10_000)) {
        let narrow = clopper_pearson(k, n, 0.9);
        let wide = clopper_pearson(k, n, 0.99);
        prop_assert!(wide.low <= narrow.low && narrow.high <= wide.high);
    }

    #[test]
    fn one_sided_bounds_are_tighter_than_two_sided((k, n) in k_and_n(10_000), c in confidence()) {
        let two = clopper_pearson(k, n, c);
        let low = clopper_pearson_lower_one_sided(k, n, c);
        let high = clopper_pearson_upper_one_sided(k, n, c);
        let p = rate(k, n);
        prop_assert!(two.low <= low && low <= p, "{two:?} {low} {p}");
        prop_assert!(p <= high && high <= two.high, "{two:?} {high} {p}");
    }

    #[test]
    fn wilson_brackets_the_point_estimate((k, n) in k_and_n(100_000), c in confidence()) {
        let iv = wilson(k, n, c);
        let p = rate(k, n);
        prop_assert!(0.0 <= iv.low && iv.low <= p && p <= iv.high && iv.high <= 1.0);
    }

    #[test]
    fn nearest_rank_matches_its_definition(
        mut data in prop::collection::vec(0_u64..1_000, 1..300),
        permille in 0_u64..=1000,
    ) {
        data.sort_unstable();
        let q = permille as f64 / 1000.0;
        let v = percentile_nearest_rank(&data, q).unwrap();
        let len = data.len() as u64;
        let at_most = data.iter().filter(|&&x| x <= v).count() as u64;
        let below = data.iter().filter(|&&x| x < v).count() as u64;
        // At least q of the data is <= v (exact integer arithmetic) ...
        prop_assert!(at_most * 1000 >= permille * len);
        // ... and v is the smallest such value: strictly less than q is below
        // it, unless v is the minimum (q = 0 picks the minimum).
        prop_assert!(below * 1000 < permille * len || below == 0);
    }

    #[test]
    fn summary_is_ordered(mut data in prop::collection::vec(any::<u64>(), 1..500)) {
        let s = LatencySummary::from_unsorted(&mut data);
        prop_assert_eq!(s.count, data.len() as u64);
        prop_assert!(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p99);
        prop_assert!(s.p99 <= s.p999 && s.p999 <= s.max);
        prop_assert_eq!(Some(&s.max), data.iter().max());
    }

    /// The histogram is exact: split anywhere, merged, it summarises as the
    /// sorted list does, at every quantile.
    #[test]
    fn histogram_halves_merge_into_the_sorted_summary(
        mut data in prop::collection::vec(0_u64..2_000, 0..500),
        split in any::<prop::sample::Index>(),
        permille in 0_u64..=1000,
    ) {
        let at = if data.is_empty() { 0 } else { split.index(data.len()) };
        let (mut left, mut right) = (LatencyHistogram::new(), LatencyHistogram::new());
        left.extend(&data[..at]);
        right.extend(&data[at..]);
        left.merge(&right);
        let q = permille as f64 / 1000.0;
        let summary = LatencySummary::from_unsorted(&mut data);
        prop_assert_eq!(left.summary(), summary);
        prop_assert_eq!(left.percentile_nearest_rank(q), percentile_nearest_rank(&data, q));
    }

    #[test]
    fn mcnemar_is_symmetric_and_a_probability(b in 0_u64..200, c in 0_u64..200) {
        let m = mcnemar(b, c);
        let swapped = mcnemar(c, b);
        prop_assert!((0.0..=1.0).contains(&m.p_value));
        prop_assert!((m.p_value - swapped.p_value).abs() <= 1e-12);
        prop_assert_eq!(m.statistic, swapped.statistic);
    }

    #[test]
    fn sprt_batches_equal_single_steps(outcomes in prop::collection::vec(any::<bool>(), 1..200)) {
        let mut batched = Sprt::new(0.8, 0.95, 0.05, 0.05).unwrap();
        let mut stepped = batched.clone();
        let successes = outcomes.iter().filter(|&&ok| ok).count() as u64;
        batched.observe(successes, outcomes.len() as u64).unwrap();
        for ok in &outcomes {
            stepped.observe(u64::from(*ok), 1).unwrap();
        }
        prop_assert_eq!(batched.trials(), stepped.trials());
        prop_assert_eq!(batched.successes(), stepped.successes());
        let diff = (batched.log_likelihood_ratio() - stepped.log_likelihood_ratio()).abs();
        prop_assert!(diff <= 1e-9, "llr differs by {diff}");
    }
}
