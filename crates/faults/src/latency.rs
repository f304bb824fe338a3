//! Latency distributions: constant, uniform, normal, log-normal, exponential,
//! empirical (a quantile table, as `retrylab fit` writes) and weighted
//! mixtures of them (the 2012 body-and-tail shape).

use std::fmt;
use std::time::Duration;

use rand::Rng;

use crate::draw;
use crate::rng::{slot_rng, SimRng};

/// A distribution of latencies in milliseconds.
///
/// Samples are rounded to the nearest whole millisecond: that is the
/// simulator's time resolution (madsim cannot sleep less than 1 ms), and it
/// is applied here, visibly, rather than as a hidden floor later. A sample
/// below 0.5 ms becomes zero and costs no simulated time at all.
#[derive(Clone, Debug, PartialEq)]
pub enum LatencyDist {
    Constant {
        ms: f64,
    },
    Uniform {
        low_ms: f64,
        high_ms: f64,
    },
    /// Truncated at zero: a negative draw counts as 0 ms.
    Normal {
        mean_ms: f64,
        std_dev_ms: f64,
    },
    LogNormal {
        median_ms: f64,
        sigma: f64,
    },
    Exponential {
        mean_ms: f64,
    },
    Mixture(Vec<MixtureComponent>),
    /// A quantile table, linear between its points: `(probability, ms)`
    /// from probability 0 (the least latency) to 1 (the most), both
    /// increasing. What `retrylab fit` writes from observed latencies.
    Empirical(Vec<Quantile>),
}

/// One point of an [`LatencyDist::Empirical`] table: `probability` of the
/// latencies are at most `ms`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quantile {
    pub probability: f64,
    pub ms: f64,
}

/// Points of an empirical latency at most (a quantile table, not a sample).
pub const QUANTILES_MAX: usize = 10_000;

/// One weighted part of a [`LatencyDist::Mixture`]; weights need not sum to 1.
#[derive(Clone, Debug, PartialEq)]
pub struct MixtureComponent {
    pub weight: f64,
    pub dist: LatencyDist,
}

/// Why a latency distribution cannot be used; `field` names the parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyError {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for LatencyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for LatencyError {}

fn non_negative(field: &'static str, value: f64) -> Result<(), LatencyError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(LatencyError { field, message: format!("must be a finite number >= 0, got {value}") })
    }
}

impl LatencyDist {
    /// A constant latency of `ms` milliseconds.
    pub fn constant_ms(ms: f64) -> Self {
        LatencyDist::Constant { ms }
    }

    /// Checks every parameter; sampling a validated distribution never panics.
    pub fn validate(&self) -> Result<(), LatencyError> {
        match self {
            LatencyDist::Constant { ms } => non_negative("ms", *ms),
            LatencyDist::Uniform { low_ms, high_ms } => {
                non_negative("low_ms", *low_ms)?;
                non_negative("high_ms", *high_ms)?;
                if low_ms > high_ms {
                    return Err(LatencyError {
                        field: "high_ms",
                        message: format!("must be >= low_ms ({low_ms}), got {high_ms}"),
                    });
                }
                Ok(())
            }
            LatencyDist::Normal { mean_ms, std_dev_ms } => {
                non_negative("mean_ms", *mean_ms)?;
                non_negative("std_dev_ms", *std_dev_ms)
            }
            LatencyDist::LogNormal { median_ms, sigma } => {
                non_negative("median_ms", *median_ms)?;
                if *median_ms == 0.0 {
                    return Err(LatencyError { field: "median_ms", message: "must be > 0".into() });
                }
                non_negative("sigma", *sigma)
            }
            LatencyDist::Exponential { mean_ms } => non_negative("mean_ms", *mean_ms),
            LatencyDist::Empirical(points) => validate_quantiles(points),
            LatencyDist::Mixture(components) => {
                if components.is_empty() {
                    return Err(LatencyError {
                        field: "components",
                        message: "a mixture needs at least one component".into(),
                    });
                }
                let mut total = 0.0;
                for component in components {
                    non_negative("weight", component.weight)?;
                    component.dist.validate()?;
                    total += component.weight;
                }
                if total <= 0.0 {
                    return Err(LatencyError {
                        field: "weight",
                        message: "mixture weights must not all be zero".into(),
                    });
                }
                Ok(())
            }
        }
    }

    /// The latency at `probability` of an empirical table (linear between points).
    fn quantile_ms(points: &[Quantile], probability: f64) -> f64 {
        // The first point with a probability above u; validated tables
        // start at 0 and end at 1, so it lies between two points.
        let above = points.partition_point(|q| q.probability <= probability);
        match (above.checked_sub(1).and_then(|i| points.get(i)), points.get(above)) {
            (Some(low), Some(high)) => {
                let span = high.probability - low.probability;
                let t = if span > 0.0 { (probability - low.probability) / span } else { 0.0 };
                low.ms + t * (high.ms - low.ms)
            }
            (Some(last), None) => last.ms,
            (None, Some(first)) => first.ms,
            (None, None) => 0.0,
        }
    }

    /// The mean in milliseconds, before rounding (for documentation and tests).
    pub fn mean_ms(&self) -> f64 {
        match self {
            LatencyDist::Constant { ms } => *ms,
            LatencyDist::Uniform { low_ms, high_ms } => (low_ms + high_ms) / 2.0,
            // Truncation at zero is ignored: it matters only when std_dev ~ mean.
            LatencyDist::Normal { mean_ms, .. } => *mean_ms,
            LatencyDist::LogNormal { median_ms, sigma } => median_ms * libm::exp(sigma * sigma / 2.0),
            LatencyDist::Exponential { mean_ms } => *mean_ms,
            LatencyDist::Mixture(components) => {
                let total: f64 = components.iter().map(|c| c.weight).sum();
                components.iter().map(|c| c.weight / total * c.dist.mean_ms()).sum()
            }
            // Linear between points: each segment's mean is its midpoint.
            LatencyDist::Empirical(points) => points
                .windows(2)
                .map(|pair| (pair[1].probability - pair[0].probability) * (pair[0].ms + pair[1].ms) / 2.0)
                .sum(),
        }
    }

    /// Draws one latency, in whole milliseconds (see the type's doc).
    pub fn sample(&self, rng: &mut SimRng) -> Duration {
        let ms = self.sample_ms(rng).max(0.0).round();
        // Validated parameters are finite; saturate rather than panic on inf.
        Duration::from_millis(if ms.is_finite() { ms as u64 } else { u64::MAX / 1_000_000 })
    }

    fn sample_ms(&self, rng: &mut SimRng) -> f64 {
        match self {
            LatencyDist::Constant { ms } => *ms,
            LatencyDist::Uniform { low_ms, high_ms } => {
                if low_ms >= high_ms {
                    *low_ms
                } else {
                    rng.gen_range(*low_ms..*high_ms)
                }
            }
            // Validated parameters are finite, spreads >= 0 (see `validate`).
            LatencyDist::Normal { mean_ms, std_dev_ms } => mean_ms + std_dev_ms * draw::standard_normal(rng),
            LatencyDist::LogNormal { median_ms, sigma } => {
                libm::exp(libm::log(*median_ms) + sigma * draw::standard_normal(rng))
            }
            LatencyDist::Exponential { mean_ms } => {
                if *mean_ms <= 0.0 {
                    0.0
                } else {
                    draw::exponential(rng, *mean_ms)
                }
            }
            LatencyDist::Mixture(components) => {
                let total: f64 = components.iter().map(|c| c.weight).sum();
                let mut pick = rng.gen::<f64>() * total;
                for component in components {
                    if pick < component.weight {
                        return component.dist.sample_ms(rng);
                    }
                    pick -= component.weight;
                }
                components.last().map_or(0.0, |c| c.dist.sample_ms(rng))
            }
            LatencyDist::Empirical(points) => Self::quantile_ms(points, rng.gen::<f64>()),
        }
    }
}

/// An empirical table: 2 to [`QUANTILES_MAX`] points, probabilities
/// increasing from exactly 0 to exactly 1, latencies finite, >= 0 and
/// non-decreasing.
fn validate_quantiles(points: &[Quantile]) -> Result<(), LatencyError> {
    let error = |message: String| Err(LatencyError { field: "quantiles", message });
    if points.len() < 2 || points.len() > QUANTILES_MAX {
        return error(format!("needs 2 to {QUANTILES_MAX} [probability, ms] points, got {}", points.len()));
    }
    for (i, q) in points.iter().enumerate() {
        if !(q.probability.is_finite() && (0.0..=1.0).contains(&q.probability)) {
            return error(format!("point {i}: the probability must be in [0, 1], got {}", q.probability));
        }
        if !(q.ms.is_finite() && q.ms >= 0.0) {
            return error(format!("point {i}: the latency must be a finite number of ms >= 0, got {}", q.ms));
        }
        if let Some(before) = i.checked_sub(1).map(|j| points[j]) {
            if q.probability <= before.probability {
                return error(format!(
                    "point {i}: probabilities must increase, got {} after {}",
                    q.probability, before.probability
                ));
            }
            if q.ms < before.ms {
                return error(format!(
                    "point {i}: latencies must not decrease, got {} ms after {} ms",
                    q.ms, before.ms
                ));
            }
        }
    }
    if points[0].probability != 0.0 || points[points.len() - 1].probability != 1.0 {
        return error("the first point's probability must be 0 and the last's 1".into());
    }
    Ok(())
}

/// Samples a distribution per request slot: slot n gets the same latency
/// whatever happened before it (common random numbers across policies).
#[derive(Clone, Debug)]
pub struct LatencySampler {
    dist: LatencyDist,
    base_seed: u64,
}

impl LatencySampler {
    pub fn new(dist: LatencyDist, base_seed: u64) -> Self {
        LatencySampler { dist, base_seed }
    }

    pub fn dist(&self) -> &LatencyDist {
        &self.dist
    }

    /// The latency of request slot `slot`.
    pub fn sample(&self, slot: u64) -> Duration {
        match &self.dist {
            // No stream needed: keeps the common fast path cheap.
            LatencyDist::Constant { ms } => Duration::from_millis(ms.max(0.0).round() as u64),
            dist => dist.sample(&mut slot_rng(self.base_seed, slot)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn samples_round_to_whole_milliseconds() {
        let mut rng = stream(1, "t");
        assert_eq!(LatencyDist::constant_ms(0.4).sample(&mut rng), Duration::ZERO);
        assert_eq!(LatencyDist::constant_ms(0.5).sample(&mut rng), Duration::from_millis(1));
        assert_eq!(LatencyDist::constant_ms(950.0).sample(&mut rng), Duration::from_millis(950));
    }

    #[test]
    fn uniform_stays_in_range_and_has_its_mean() {
        let dist = LatencyDist::Uniform { low_ms: 900.0, high_ms: 1000.0 };
        let mut rng = stream(2, "t");
        let n = 20_000;
        let mut total = 0u128;
        for _ in 0..n {
            let d = dist.sample(&mut rng).as_millis();
            assert!((900..=1000).contains(&d), "{d}");
            total += d;
        }
        let mean = total as f64 / f64::from(n);
        assert!((mean - 950.0).abs() < 2.0, "mean {mean}");
    }

    #[test]
    fn mixture_weights_select_components() {
        let dist = LatencyDist::Mixture(vec![
            MixtureComponent { weight: 3.0, dist: LatencyDist::constant_ms(1.0) },
            MixtureComponent { weight: 1.0, dist: LatencyDist::constant_ms(100.0) },
        ]);
        dist.validate().unwrap();
        let mut rng = stream(3, "t");
        let slow = (0..40_000).filter(|_| dist.sample(&mut rng).as_millis() == 100).count();
        // 10,000 expected; binomial sd ~87, so +-400 is over 4 sd.
        assert!((9_600..10_400).contains(&slow), "{slow}");
        assert!((dist.mean_ms() - 25.75).abs() < 1e-9);
    }

    #[test]
    fn empirical_tables_interpolate_between_their_quantiles() {
        let q = |probability, ms| Quantile { probability, ms };
        let dist = LatencyDist::Empirical(vec![q(0.0, 100.0), q(0.5, 200.0), q(1.0, 1000.0)]);
        dist.validate().unwrap();
        assert!((dist.mean_ms() - (0.5 * 150.0 + 0.5 * 600.0)).abs() < 1e-9);
        assert_eq!(LatencyDist::quantile_ms(&[q(0.0, 100.0), q(0.5, 200.0), q(1.0, 1000.0)], 0.25), 150.0);
        let mut rng = stream(4, "t");
        let n = 40_000;
        let below = (0..n).filter(|_| dist.sample(&mut rng).as_millis() <= 200).count();
        // Half the mass lies at or below the median (sd of the count 100).
        assert!((19_500..20_600).contains(&below), "{below}");
        let bad = LatencyDist::Empirical(vec![q(0.0, 5.0), q(0.4, 3.0), q(1.0, 9.0)]);
        assert!(bad.validate().unwrap_err().message.contains("must not decrease"));
        let open = LatencyDist::Empirical(vec![q(0.1, 5.0), q(1.0, 9.0)]);
        assert!(open.validate().unwrap_err().message.contains("must be 0"));
    }

    #[test]
    fn invalid_parameters_are_named() {
        let err = LatencyDist::Uniform { low_ms: 5.0, high_ms: 1.0 }.validate().unwrap_err();
        assert_eq!(err.field, "high_ms");
        let err = LatencyDist::Constant { ms: f64::NAN }.validate().unwrap_err();
        assert_eq!(err.field, "ms");
        assert!(LatencyDist::Mixture(vec![]).validate().is_err());
    }

    #[test]
    fn sampler_is_a_function_of_the_slot() {
        let sampler = LatencySampler::new(LatencyDist::Exponential { mean_ms: 50.0 }, 99);
        let forward: Vec<_> = (0..100).map(|slot| sampler.sample(slot)).collect();
        let backward: Vec<_> = (0..100).rev().map(|slot| sampler.sample(slot)).collect();
        assert!(forward.iter().eq(backward.iter().rev()));
    }
}
