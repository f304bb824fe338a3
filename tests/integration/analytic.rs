//! Fault models and policies against analytic values, with confidence
//! intervals rather than point estimates.

use retrylab_faults::{BurstParams, FaultModel, FaultProcess};
use retrylab_harness::{estimate, run_seed, EstimateOptions, TraceMode};
use retrylab_retry::PolicyConfig;

use crate::support::{lab_notebook_10k, put_scenario};

fn options(seeds: u64, confidence: f64) -> EstimateOptions {
    EstimateOptions { seeds, first_seed: 0, policies: Vec::new(), confidence, ..EstimateOptions::default() }
}

#[test]
fn independent_faults_with_n_immediate_retries_fail_with_p_to_the_n_plus_1() {
    let p = 0.05;
    let policies = vec![
        ("n0", PolicyConfig::None),
        ("n1", PolicyConfig::Immediate { retries: 1 }),
        ("n2", PolicyConfig::Immediate { retries: 2 }),
    ];
    let scenario = put_scenario(FaultModel::independent(p), policies, 5_000);
    let estimate = estimate(&scenario, &options(40, 0.99), &|| {}).unwrap();
    for (n, policy) in estimate.policies.iter().enumerate() {
        let expected = p.powi(n as i32 + 1);
        assert!(
            policy.ci_low <= expected && expected <= policy.ci_high,
            "{}: p^{} = {expected} outside the 99% interval [{}, {}] ({} of {})",
            policy.policy,
            n + 1,
            policy.ci_low,
            policy.ci_high,
            policy.failures,
            policy.operations
        );
        // Each retry costs one attempt per failure before it.
        let attempts_expected: f64 = (0..=n).map(|k| p.powi(k as i32)).sum();
        assert!((policy.attempts_per_op - attempts_expected).abs() < 0.01, "{}", policy.attempts_per_op);
    }
}

#[test]
fn gilbert_elliott_long_run_failure_rate_is_its_stationary_value() {
    let burst = BurstParams { good_mean_ms: 60_000.0, bad_mean_ms: 3_000.0, good_failure: 0.01, bad_failure: 0.5 };
    let expected = burst.stationary_failure_rate();
    let scenario = put_scenario(
        FaultModel { process: FaultProcess::GilbertElliott(burst), ..FaultModel::default() },
        vec![("none", PolicyConfig::None)],
        20_000,
    );
    // Failures within a run are correlated (bursts), so the honest interval
    // treats each seed as one observation of the run's failure rate.
    let rates: Vec<f64> = (0..40)
        .map(|seed| {
            let report = run_seed(&scenario, &scenario.policies[0], seed, TraceMode::HashOnly).unwrap();
            report.failures as f64 / report.operations as f64
        })
        .collect();
    let n = rates.len() as f64;
    let mean = rates.iter().sum::<f64>() / n;
    let sd = (rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    // Student t, 39 degrees of freedom, two-sided 99%: 2.708.
    let half_width = 2.708 * sd / n.sqrt();
    assert!((mean - expected).abs() <= half_width, "mean {mean} expected {expected} +- {half_width}");
}

#[test]
fn bursts_defeat_retry_once_where_independent_faults_do_not() {
    // Same long-run failure rate (1.3%), one bursty and one independent.
    let burst = BurstParams { good_mean_ms: 1_900_000.0, bad_mean_ms: 8_000.0, good_failure: 0.0108, bad_failure: 0.6 };
    let rate = burst.stationary_failure_rate();
    let retry_once = || vec![("retry-once", PolicyConfig::Immediate { retries: 1 })];
    let bursty = put_scenario(
        FaultModel { process: FaultProcess::GilbertElliott(burst), ..FaultModel::default() },
        retry_once(),
        10_000,
    );
    let independent = put_scenario(FaultModel::independent(rate), retry_once(), 10_000);
    let bursty = &estimate(&bursty, &options(40, 0.99), &|| {}).unwrap().policies[0];
    let independent = &estimate(&independent, &options(40, 0.99), &|| {}).unwrap().policies[0];
    assert!(
        bursty.ci_low > independent.ci_high,
        "bursty {:?} vs independent {:?}",
        (bursty.ci_low, bursty.ci_high),
        (independent.ci_low, independent.ci_high)
    );
    // Independent faults: p^2.
    assert!(independent.ci_low <= rate * rate && rate * rate <= independent.ci_high);
}

#[test]
fn the_2012_experiment_comes_back_out() {
    // LeastAuthority 2012: 132 errors per 10,000 requests without retry, 9
    // with retry-once, 0 with multi-retry. The calibration (docs/calibration.md)
    // must land the 99% intervals inside the acceptance ranges.
    let scenario = retrylab_scenario::load(&lab_notebook_10k()).unwrap();
    let estimate = estimate(&scenario, &options(40, 0.99), &|| {}).unwrap();
    let by_name = |name: &str| estimate.policies.iter().find(|p| p.policy == name).unwrap();
    let none = by_name("none");
    assert!(0.0115 <= none.ci_low && none.ci_high <= 0.0150, "none {:?}", (none.ci_low, none.ci_high));
    let once = by_name("retry-once");
    assert!(0.0005 <= once.ci_low && once.ci_high <= 0.0013, "retry-once {:?}", (once.ci_low, once.ci_high));
    let multi = by_name("multi-retry");
    assert!(multi.ci_high <= 0.0001, "multi-retry {:?}", (multi.ci_low, multi.ci_high));
    // Every retried request is an extra S3 request: amplification is visible.
    assert!(once.attempts_per_op > 1.0 && multi.attempts_per_op > once.attempts_per_op - 0.001);
}

#[test]
fn bursty_failures_widen_the_interval_and_independent_ones_do_not() {
    // The 2012 burst model: failures cluster within a seed, so the interval
    // over operations is widened by the design effect over seeds.
    let bursty = retrylab_scenario::load(&lab_notebook_10k()).unwrap();
    let mut options = options(60, 0.95);
    options.policies = vec!["none".into(), "retry-once".into()];
    let estimate_bursty = estimate(&bursty, &options, &|| {}).unwrap();
    for policy in &estimate_bursty.policies {
        assert!(policy.design_effect > 1.5, "{policy:?}");
        assert!(policy.ci_low < policy.ci_low_independent && policy.ci_high > policy.ci_high_independent, "{policy:?}");
    }
    // Independent faults at the same rate: no clustering to speak of, and
    // the interval is (nearly) the plain one.
    let independent = put_scenario(FaultModel::independent(0.013), vec![("none", PolicyConfig::None)], 10_000);
    let plain = &estimate(&independent, &self::options(60, 0.95), &|| {}).unwrap().policies[0];
    assert!(plain.design_effect < 1.3, "{plain:?}");
    let widening = (plain.ci_high - plain.ci_low) / (plain.ci_high_independent - plain.ci_low_independent);
    assert!(widening < 1.15, "{widening} {plain:?}");
}

#[test]
fn paired_tests_count_a_seed_s_bunched_disagreements_once_per_seed() {
    // Under the 2012 bursts, the operations where retry-once and multi-retry
    // disagree come in bunches (one bad spell, several operations): the
    // clustered test weighs them as fewer independent observations.
    let bursty = retrylab_scenario::load(&lab_notebook_10k()).unwrap();
    let mut options = options(60, 0.95);
    options.policies = vec!["none".into(), "retry-once".into(), "multi-retry".into()];
    let comparison = retrylab_harness::compare(&bursty, &options, &|| {}).unwrap();
    for pair in &comparison.pairs {
        assert_eq!(pair.p_value_raw, pair.p_value_independent.max(pair.p_value_clustered), "{pair:?}");
        // Holm's correction over the three pairs only raises p-values.
        assert!(pair.p_value >= pair.p_value_raw, "{pair:?}");
        assert!(pair.p_value_clustered > pair.p_value_independent, "{pair:?}");
        // The differences are real all the same, corrected or not.
        assert!(pair.significant, "{pair:?}");
        assert!(pair.seeds_discordant >= 10, "{pair:?}");
    }
}
