//! Shards: the K-th of N disjoint blocks of a seed range, for running one
//! estimate, comparison or exploration on many machines, and the checks
//! that parts put back together cover the range exactly once.
//!
//! Shards are contiguous blocks, not every N-th seed: a block is a seed
//! range like any other (the runner, the replay commands and the output's
//! `first_seed ..= last` need nothing new), putting blocks back in order
//! restores the seed order an unsharded run summarises in (so per-seed sums
//! happen in the same order, and floating-point results match bit for
//! bit), and a missing or overlapping part is plain interval arithmetic.
//! Seeds are independent draws, so a block is as representative as a
//! stride. Shards are numbered from 1, as `cargo nextest --partition
//! count:K/N`, Playwright's and Jest's `--shard K/N` number them; a 0-based
//! index (Kubernetes' `JOB_COMPLETION_INDEX`) needs 1 added.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::runner::Seeds;

/// The most shards a seed range can be split into: more machines than this
/// would each run a few seeds and spend their time starting up.
pub const SHARDS_MAX: u64 = 10_000;

/// Shard `index` (1-based) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    index: u64,
    count: u64,
}

/// Why a shard was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShardError {
    /// Not `K/N` with two whole numbers.
    Syntax(String),
    /// N is 0 or above [`SHARDS_MAX`].
    Count(u64),
    /// K is 0 (shards count from 1) or above N.
    Index { index: u64, count: u64 },
    /// More shards than seeds: some shard would run none.
    MoreShardsThanSeeds { count: u64, seeds: u64 },
}

impl std::fmt::Display for ShardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShardError::Syntax(text) => {
                write!(f, "{text:?} is not a shard: write K/N, shard K of N, e.g. 1/4 (shards count from 1)")
            }
            ShardError::Count(count) => write!(f, "the shard count must be 1 to {SHARDS_MAX}, got {count}"),
            ShardError::Index { index: 0, count } => write!(
                f,
                "shards count from 1 (as in cargo nextest --partition, Playwright and Jest): the first of {count} \
                 is 1/{count}; from a 0-based index such as Kubernetes' JOB_COMPLETION_INDEX, add 1: \
                 --shard $((JOB_COMPLETION_INDEX + 1))/{count}"
            ),
            ShardError::Index { index, count } => {
                write!(f, "shard {index}/{count} does not exist: shards of {count} are 1/{count} to {count}/{count}")
            }
            ShardError::MoreShardsThanSeeds { count, seeds } => write!(
                f,
                "{count} shards of {seeds} seeds would leave some shard without a seed: use at most {seeds} shards"
            ),
        }
    }
}

impl std::error::Error for ShardError {}

impl Shard {
    pub fn new(index: u64, count: u64) -> Result<Shard, ShardError> {
        if count == 0 || count > SHARDS_MAX {
            return Err(ShardError::Count(count));
        }
        if index == 0 || index > count {
            return Err(ShardError::Index { index, count });
        }
        Ok(Shard { index, count })
    }

    /// 1-based.
    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// This shard's block of `whole`: shard K of N runs seeds
    /// `first + floor((K-1) S / N) ..< first + floor(K S / N)` of the S seeds,
    /// so the blocks differ in size by at most one seed.
    pub fn seeds_of(&self, whole: Seeds) -> Result<Seeds, ShardError> {
        if self.count > whole.count() {
            return Err(ShardError::MoreShardsThanSeeds { count: self.count, seeds: whole.count() });
        }
        let offset = |k: u64| (u128::from(k) * u128::from(whole.count()) / u128::from(self.count)) as u64;
        let (start, end) = (offset(self.index - 1), offset(self.index));
        // Inside the whole range, which Seeds checked; at least one seed since N <= S.
        Ok(Seeds::new(whole.first() + start, end - start).unwrap_or(whole))
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(text.to_owned());
        let (index, count) = text.split_once('/').ok_or_else(syntax)?;
        let number = |part: &str| part.trim().parse::<u64>().map_err(|_| syntax());
        Shard::new(number(index)?, number(count)?)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why parts could not be merged.
#[derive(Clone, Debug, PartialEq)]
pub enum MergeError {
    /// No part given.
    Empty,
    /// Parts split the range into different numbers of shards.
    ShardCounts { first: u64, other: u64 },
    /// The same shard given twice.
    Duplicate(Shard),
    /// Shards not given (1-based indices).
    Missing { count: u64, missing: Vec<u64> },
    /// A part's seeds do not follow the previous part's.
    NotContiguous { expected_first_seed: u64, first_seed: u64 },
    /// A part's state does not belong with the others (named field differs).
    Mismatch(String),
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MergeError::Empty => write!(f, "no part to merge"),
            MergeError::ShardCounts { first, other } => {
                write!(f, "parts of {first} shards and of {other} shards cannot be merged: split the seeds once")
            }
            MergeError::Duplicate(shard) => write!(f, "shard {shard} is given twice"),
            MergeError::Missing { count, missing } => {
                let list: Vec<String> = missing.iter().take(20).map(|k| format!("{k}/{count}")).collect();
                let more = if missing.len() > 20 { format!(" and {} more", missing.len() - 20) } else { String::new() };
                let (noun, verb) = if missing.len() == 1 { ("shard", "is") } else { ("shards", "are") };
                write!(f, "{noun} {}{more} {verb} missing: merge every shard of {count}", list.join(", "))
            }
            MergeError::NotContiguous { expected_first_seed, first_seed } => write!(
                f,
                "a part starts at seed {first_seed} where seed {expected_first_seed} was expected: the parts do not \
                 split one seed range"
            ),
            MergeError::Mismatch(what) => write!(f, "the parts differ: {what}"),
        }
    }
}

impl std::error::Error for MergeError {}

/// The order in which to merge `shards` (positions into it, by shard index),
/// refusing different shard counts, a shard given twice and missing shards.
pub fn merge_order(shards: &[Shard]) -> Result<Vec<usize>, MergeError> {
    let first = shards.first().ok_or(MergeError::Empty)?;
    if let Some(other) = shards.iter().find(|shard| shard.count != first.count) {
        return Err(MergeError::ShardCounts { first: first.count, other: other.count });
    }
    let mut order: Vec<usize> = (0..shards.len()).collect();
    order.sort_by_key(|&i| shards[i].index);
    if let Some(pair) = order.windows(2).find(|pair| shards[pair[0]].index == shards[pair[1]].index) {
        return Err(MergeError::Duplicate(shards[pair[0]]));
    }
    let given: Vec<u64> = order.iter().map(|&i| shards[i].index).collect();
    let missing: Vec<u64> = (1..=first.count).filter(|k| given.binary_search(k).is_err()).collect();
    if !missing.is_empty() {
        return Err(MergeError::Missing { count: first.count, missing });
    }
    Ok(order)
}

/// `next`'s seeds must start where `first_seed + seeds` ends.
pub(crate) fn check_follows(first_seed: u64, seeds: u64, next_first_seed: u64) -> Result<(), MergeError> {
    let expected_first_seed = first_seed.saturating_add(seeds);
    if next_first_seed == expected_first_seed {
        Ok(())
    } else {
        Err(MergeError::NotContiguous { expected_first_seed, first_seed: next_first_seed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_are_bounded() {
        assert_eq!("2/7".parse::<Shard>(), Ok(Shard { index: 2, count: 7 }));
        assert_eq!("0/4".parse::<Shard>(), Err(ShardError::Index { index: 0, count: 4 }));
        assert!("0/4".parse::<Shard>().unwrap_err().to_string().contains("JOB_COMPLETION_INDEX + 1"));
        assert_eq!("5/4".parse::<Shard>(), Err(ShardError::Index { index: 5, count: 4 }));
        assert_eq!("1/0".parse::<Shard>(), Err(ShardError::Count(0)));
        assert_eq!("1/10001".parse::<Shard>(), Err(ShardError::Count(10_001)));
        assert!(matches!("1-4".parse::<Shard>(), Err(ShardError::Syntax(_))));
        assert!(matches!("a/4".parse::<Shard>(), Err(ShardError::Syntax(_))));
        assert!(matches!("-1/4".parse::<Shard>(), Err(ShardError::Syntax(_))));
    }

    #[test]
    fn blocks_cover_the_range_once_in_order() {
        for (first, count, shards) in [(0, 14, 7), (5, 10, 3), (u64::MAX - 9, 10, 10), (0, 1, 1), (3, 1000, 7)] {
            let whole = Seeds::new(first, count).unwrap();
            let mut next = first;
            for k in 1..=shards {
                let block = Shard::new(k, shards).unwrap().seeds_of(whole).unwrap();
                assert_eq!(block.first(), next, "shard {k}/{shards} of {first}+{count}");
                assert!(block.count() >= count / shards && block.count() <= count.div_ceil(shards));
                next = block.last().wrapping_add(1);
            }
            assert_eq!(next, whole.last().wrapping_add(1));
        }
        let whole = Seeds::new(0, 3).unwrap();
        assert_eq!(
            Shard::new(1, 4).unwrap().seeds_of(whole),
            Err(ShardError::MoreShardsThanSeeds { count: 4, seeds: 3 })
        );
    }

    #[test]
    fn merge_order_refuses_duplicates_missing_and_mixed_counts() {
        let s = |k, n| Shard::new(k, n).unwrap();
        assert_eq!(merge_order(&[s(2, 3), s(3, 3), s(1, 3)]), Ok(vec![2, 0, 1]));
        assert_eq!(merge_order(&[]), Err(MergeError::Empty));
        assert_eq!(merge_order(&[s(1, 2), s(1, 2)]), Err(MergeError::Duplicate(s(1, 2))));
        assert_eq!(merge_order(&[s(1, 3)]), Err(MergeError::Missing { count: 3, missing: vec![2, 3] }));
        assert_eq!(merge_order(&[s(1, 2), s(2, 3)]), Err(MergeError::ShardCounts { first: 2, other: 3 }));
        assert_eq!(
            MergeError::Missing { count: 3, missing: vec![2, 3] }.to_string(),
            "shards 2/3, 3/3 are missing: merge every shard of 3"
        );
        assert_eq!(
            MergeError::Missing { count: 3, missing: vec![2] }.to_string(),
            "shard 2/3 is missing: merge every shard of 3"
        );
        let many = MergeError::Missing { count: 30, missing: (2..=22).collect() }.to_string();
        assert!(many.contains("21/30 and 1 more are missing"), "{many}");
        let twenty = MergeError::Missing { count: 30, missing: (2..=21).collect() }.to_string();
        assert!(twenty.contains("21/30 are missing"), "{twenty}");
        assert_eq!(s(2, 7).to_string(), "2/7");
        assert_eq!((s(2, 7).index(), s(2, 7).count()), (2, 7));
    }

    #[test]
    fn states_merge_only_when_the_next_starts_where_these_end() {
        assert_eq!(check_follows(100, 50, 150), Ok(()));
        assert_eq!(
            check_follows(100, 50, 151),
            Err(MergeError::NotContiguous { expected_first_seed: 150, first_seed: 151 })
        );
        assert_eq!(
            check_follows(100, 50, 100),
            Err(MergeError::NotContiguous { expected_first_seed: 150, first_seed: 100 })
        );
    }
}
