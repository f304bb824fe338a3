//! Which key an operation touches: uniform or Zipf popularity over `keys` keys.

use std::sync::Arc;

use rand::Rng;
use retrylab_faults::{libm, SimRng};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyPopularity {
    Uniform,
    /// P(rank k) proportional to 1 / (k + 1)^exponent, rank 0 the most popular; exponent > 0.
    Zipf {
        exponent: f64,
    },
}

/// Draws key ranks in `0..keys`.
///
/// Zipf draws invert the cumulative weights (computed once, `keys` values:
/// 8 MB at the loader's bound of 1,000,000 keys, shared by clones) by a
/// binary search: one uniform draw and O(log keys) per key.
#[derive(Clone, Debug)]
pub struct KeySampler {
    keys: u64,
    /// Zipf only: `cumulative[k]` = sum of the weights of ranks `0..=k`.
    cumulative: Option<Arc<[f64]>>,
}

impl KeySampler {
    /// `keys` at least 1 (the loader bounds it).
    pub fn new(popularity: KeyPopularity, keys: u64) -> Self {
        let keys = keys.max(1);
        let cumulative = match popularity {
            KeyPopularity::Uniform => None,
            KeyPopularity::Zipf { exponent } => Some(zipf_cumulative(exponent, keys)),
        };
        KeySampler { keys, cumulative }
    }

    pub fn sample(&self, rng: &mut SimRng) -> u64 {
        match &self.cumulative {
            None => rng.gen_range(0..self.keys),
            Some(cumulative) => {
                let total = cumulative.last().copied().unwrap_or(0.0);
                let target = rng.gen::<f64>() * total;
                let rank = cumulative.partition_point(|&below| below <= target);
                (rank as u64).min(self.keys - 1)
            }
        }
    }

    /// The probability of drawing `rank` (0 past the last key).
    pub fn probability(&self, rank: u64) -> f64 {
        if rank >= self.keys {
            return 0.0;
        }
        match &self.cumulative {
            None => 1.0 / self.keys as f64,
            Some(cumulative) => {
                let index = rank as usize;
                let below = if index == 0 { 0.0 } else { cumulative[index - 1] };
                (cumulative[index] - below) / cumulative[cumulative.len() - 1]
            }
        }
    }
}

fn zipf_cumulative(exponent: f64, keys: u64) -> Arc<[f64]> {
    let mut sum = 0.0;
    (0..keys)
        .map(|rank| {
            sum += 1.0 / libm::pow(rank as f64 + 1.0, exponent);
            sum
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use retrylab_faults::stream;

    #[test]
    fn zipf_top_ranks_follow_the_pmf() {
        let exponent = 1.1;
        let keys = 1_000;
        let sampler = KeySampler::new(KeyPopularity::Zipf { exponent }, keys);
        let normaliser: f64 = (1..=keys).map(|k| 1.0 / (k as f64).powf(exponent)).sum();
        let mut rng = stream(1, "zipf");
        let draws = 100_000u64;
        let mut counts = vec![0u64; keys as usize];
        for _ in 0..draws {
            counts[sampler.sample(&mut rng) as usize] += 1;
        }
        for rank in 0..5u64 {
            let pmf = 1.0 / ((rank + 1) as f64).powf(exponent) / normaliser;
            assert!((sampler.probability(rank) - pmf).abs() < 1e-12);
            let interval = retrylab_stats::wilson(counts[rank as usize], draws, 0.999);
            assert!(interval.contains(pmf), "rank {rank}: {} of {draws}, pmf {pmf}", counts[rank as usize]);
        }
        assert!(counts[0] > counts[1] && counts[1] > counts[2]);
        assert_eq!(sampler.probability(keys), 0.0);
    }

    #[test]
    fn uniform_covers_every_key_evenly() {
        let keys = 50u64;
        let sampler = KeySampler::new(KeyPopularity::Uniform, keys);
        let mut rng = stream(2, "uniform");
        let draws = 20_000u64;
        let mut counts = vec![0u64; keys as usize];
        for _ in 0..draws {
            counts[sampler.sample(&mut rng) as usize] += 1;
        }
        for count in counts {
            // 99.9% per key, over 50 keys: a false alarm about 5% of seeds, so a wider 99.99%.
            assert!(retrylab_stats::wilson(count, draws, 0.9999).contains(1.0 / keys as f64), "{count}");
        }
    }

    #[test]
    fn one_key_always_draws_rank_zero() {
        let mut rng = stream(3, "one");
        for popularity in [KeyPopularity::Uniform, KeyPopularity::Zipf { exponent: 2.0 }] {
            let sampler = KeySampler::new(popularity, 1);
            assert!((0..100).all(|_| sampler.sample(&mut rng) == 0));
        }
    }
}
