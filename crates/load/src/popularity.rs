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
