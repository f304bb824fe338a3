//! Which key an operation touches: uniform or Zipf popularity over `keys` keys.

use retrylab_faults::SimRng;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyPopularity {
    Uniform,
    /// P(rank k) proportional to 1 / (k + 1)^exponent, rank 0 the most popular; exponent > 0.
    Zipf { exponent: f64 },
}

/// Draws key ranks in `0..keys`.
#[derive(Clone, Debug)]
pub struct KeySampler {
    _private: (),
}

impl KeySampler {
    /// `keys` at least 1 (the loader bounds it).
    pub fn new(popularity: KeyPopularity, keys: u64) -> Self {
        let _ = (popularity, keys);
        todo!("helper")
    }

    pub fn sample(&self, rng: &mut SimRng) -> u64 {
        let _ = rng;
        todo!("helper")
    }
}
