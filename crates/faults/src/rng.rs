//! The one RNG type of retrylab and the derivation of sub-seeds from a seed.

use rand::SeedableRng;

/// Every stream of randomness in a world is one of these, seeded from the
/// world's seed and a label. Xoshiro256++ is fast, small and its output is
/// fixed by its specification, so a seed replays byte for byte on any machine.
pub type SimRng = rand_xoshiro::Xoshiro256PlusPlus;

/// Derives the seed of one component's stream from the world seed and a
/// stable label (e.g. `"s3.faults"`).
///
/// SplitMix64 finalisation over the seed and an FNV-1a hash of the label:
/// independent of Rust's `Hash` implementations, which are not stable.
pub fn sub_seed(seed: u64, label: &str) -> u64 {
    let mut label_hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in label.as_bytes() {
        label_hash ^= u64::from(*byte);
        label_hash = label_hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = seed ^ label_hash.rotate_left(17);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stream for `label` within the world of `seed`.
pub fn stream(seed: u64, label: &str) -> SimRng {
    SimRng::seed_from_u64(sub_seed(seed, label))
}

/// A fresh stream for request slot `slot` of a component whose base seed is
/// `base`. Drawing each slot from its own stream keeps slot n's luck the same
/// however many draws earlier slots consumed (common random numbers).
pub fn slot_rng(base: u64, slot: u64) -> SimRng {
    SimRng::seed_from_u64(base ^ slot.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn sub_seeds_are_stable_and_distinct() {
        // Pinned: changing the derivation changes every trace hash.
        assert_eq!(sub_seed(0, "s3.faults"), sub_seed(0, "s3.faults"));
        assert_ne!(sub_seed(0, "s3.faults"), sub_seed(0, "s3.latency"));
        assert_ne!(sub_seed(0, "s3.faults"), sub_seed(1, "s3.faults"));
        let mut a = stream(7, "x");
        let mut b = stream(7, "x");
        assert_eq!(a.next_u64(), b.next_u64());
    }
}
