//! The fault kinds' shares among the failures, with Clopper-Pearson intervals.

use std::collections::BTreeMap;

use retrylab_stats::{clopper_pearson, Interval};
use serde::{Deserialize, Serialize};

/// The kinds the log parser classifies failures into (any other name is kept as given).
pub const FAULT_KIND_NAMES: [&str; 6] =
    ["internal_error", "slow_down", "service_unavailable", "connection_reset", "timeout", "other"];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KindShare {
    pub kind: String,
    pub count: u64,
    pub share: f64,
    /// Clopper-Pearson, 95%.
    pub interval: Interval,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultMixFit {
    pub failures: u64,
    /// In the order of the map's keys; kinds with a zero count are kept (their upper bound says something).
    pub shares: Vec<KindShare>,
}

/// Shares of each kind among all the counted failures.
pub fn fit_fault_mix(counts: &BTreeMap<String, u64>) -> FaultMixFit {
    let failures = counts.values().fold(0u64, |total, count| total.saturating_add(*count));
    let shares = counts
        .iter()
        .map(|(kind, &count)| KindShare {
            kind: kind.clone(),
            count,
            share: retrylab_stats::rate(count, failures),
            interval: clopper_pearson(count, failures, 0.95),
        })
        .collect();
    FaultMixFit { failures, shares }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_sum_to_one_and_intervals_cover_them() {
        let counts: BTreeMap<String, u64> =
            [("internal_error", 90u64), ("slow_down", 10), ("timeout", 0)].map(|(k, v)| (k.to_string(), v)).into();
        let mix = fit_fault_mix(&counts);
        assert_eq!(mix.failures, 100);
        let total: f64 = mix.shares.iter().map(|s| s.share).sum();
        assert!((total - 1.0).abs() < 1e-12);
        for share in &mix.shares {
            assert!(share.interval.contains(share.share), "{share:?}");
        }
        // Zero of 100: the 95% upper bound is 1 - 0.025^(1/100) ~ 0.0362.
        let timeout = &mix.shares[2];
        assert!((timeout.interval.high - 0.0362).abs() < 1e-3, "{timeout:?}");
        assert_eq!(fit_fault_mix(&BTreeMap::new()).shares.len(), 0);
    }
}
