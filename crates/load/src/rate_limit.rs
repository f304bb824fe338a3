//! [`PrefixLimiter`]: S3's request-rate limits per partitioned prefix, and
//! how S3 adds partitions under sustained load.
//!
//! S3's documentation: an application "can achieve at least 3,500
//! PUT/COPY/POST/DELETE or 5,500 GET/HEAD requests per second per
//! partitioned prefix"; S3 scales by adding partitions gradually when the
//! request rate stays high, and answers 503 Slow Down meanwhile.
//!
//! The model: a key's partition is the key up to and including its
//! `prefix_depth`-th `/` (depth 2: `a/b/c/d` is in `a/b/`); a key with fewer
//! `/` is its own partition, and depth 0 puts the whole bucket in one. Each
//! partition has a token bucket per class (reads, writes): `limit x 2^splits`
//! tokens per second, holding at most one second of them, full at the
//! partition's first request and refilled continuously by elapsed virtual
//! time; a request takes a token or is refused (503 Slow Down). A partition
//! that has refused a request in every second since some time T0 (no gap
//! between refusals above 1 s) splits once `now - T0 >= split_after`, if it
//! has seen at least two distinct keys (S3 cannot split one hot key either),
//! at most `splits_max` times; T0 restarts at each split, so each doubling
//! needs another `split_after` of sustained throttling. A split doubles the
//! limits in place (the partition's children are not tracked separately:
//! a load spread over the keys is what lets S3 split, and then each half
//! takes its share). The arithmetic is f64 `+` and `*`, exact IEEE
//! operations: deterministic on every platform.

use std::collections::BTreeMap;
use std::time::Duration;

use retrylab_faults::libm;

/// S3 counts GET/HEAD (reads, LIST included) and PUT/COPY/POST/DELETE (writes) separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestClass {
    Read,
    Write,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RateLimitSpec {
    /// Writes per second per partition (S3: 3,500).
    pub writes_per_s: f64,
    /// Reads per second per partition (S3: 5,500).
    pub reads_per_s: f64,
    /// A key's partition is its first `prefix_depth` `/`-separated segments.
    pub prefix_depth: u32,
    /// A partition that has throttled continuously for this long splits
    /// (its limits double), if it has seen at least two keys.
    pub split_after: Duration,
    /// Splits per partition at most.
    pub splits_max: u32,
}

impl RateLimitSpec {
    /// S3's documented limits; split after 60 s of sustained throttling, at most 4 times.
    pub fn s3() -> Self {
        RateLimitSpec {
            writes_per_s: 3500.0,
            reads_per_s: 5500.0,
            prefix_depth: 2,
            split_after: Duration::from_secs(60),
            splits_max: 4,
        }
    }
}

/// Refusals closer together than this keep a partition's throttling "sustained".
const SUSTAINED_GAP: Duration = Duration::from_secs(1);

#[derive(Clone, Debug)]
pub struct PrefixLimiter {
    spec: RateLimitSpec,
    partitions: BTreeMap<String, Partition>,
    throttled: u64,
    splits: u64,
}

#[derive(Clone, Debug)]
struct Partition {
    splits: u32,
    reads: Bucket,
    writes: Bucket,
    /// The first key seen, until a second distinct key is.
    first_key: String,
    many_keys: bool,
    /// T0: since when the partition has refused in every second.
    throttled_since: Option<Duration>,
    last_refusal: Option<Duration>,
}

#[derive(Clone, Debug)]
struct Bucket {
    tokens: f64,
    updated: Duration,
}

impl Bucket {
    fn full(rate_per_s: f64, now: Duration) -> Self {
        Bucket { tokens: rate_per_s.max(0.0), updated: now }
    }

    /// Refills at `rate_per_s` up to one second's worth, then takes a token if there is one.
    fn take(&mut self, rate_per_s: f64, now: Duration) -> bool {
        let elapsed_s = now.saturating_sub(self.updated).as_secs_f64();
        self.updated = self.updated.max(now);
        let capacity = rate_per_s.max(0.0);
        self.tokens = (self.tokens + elapsed_s * capacity).min(capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl PrefixLimiter {
    pub fn new(spec: RateLimitSpec) -> Self {
        PrefixLimiter { spec, partitions: BTreeMap::new(), throttled: 0, splits: 0 }
    }

    /// Whether a request for `key` arriving at `now` (non-decreasing) is
    /// within its partition's limit; `false`: answer 503 SlowDown.
    pub fn admit(&mut self, key: &str, class: RequestClass, now: Duration) -> bool {
        let spec = &self.spec;
        let name = partition_of(key, spec.prefix_depth);
        if !self.partitions.contains_key(name) {
            let partition = Partition {
                splits: 0,
                reads: Bucket::full(spec.reads_per_s, now),
                writes: Bucket::full(spec.writes_per_s, now),
                first_key: key.to_owned(),
                many_keys: false,
                throttled_since: None,
                last_refusal: None,
            };
            self.partitions.insert(name.to_owned(), partition);
        }
        let Some(partition) = self.partitions.get_mut(name) else { return true };
        if !partition.many_keys && partition.first_key != key {
            partition.many_keys = true;
        }
        if partition.try_split(spec, now) {
            self.splits += 1;
        }
        let scale = limit_scale(partition.splits);
        let admitted = match class {
            RequestClass::Read => partition.reads.take(spec.reads_per_s * scale, now),
            RequestClass::Write => partition.writes.take(spec.writes_per_s * scale, now),
        };
        if !admitted {
            partition.refused(now);
            self.throttled += 1;
        }
        admitted
    }

    /// Requests refused so far.
    pub fn throttled(&self) -> u64 {
        self.throttled
    }

    /// Splits made so far, over every partition.
    pub fn splits(&self) -> u64 {
        self.splits
    }

    /// The limits' multiplier of `key`'s partition now (`2^splits`; 1 before its first request).
    pub fn scale_of(&self, key: &str) -> f64 {
        let name = partition_of(key, self.spec.prefix_depth);
        self.partitions.get(name).map_or(1.0, |partition| limit_scale(partition.splits))
    }
}

impl Partition {
    /// Whether the throttling is still sustained at `now`: a refusal within the last second.
    fn sustained(&self, now: Duration) -> bool {
        self.last_refusal.is_some_and(|last| now.saturating_sub(last) <= SUSTAINED_GAP)
    }

    fn refused(&mut self, now: Duration) {
        if !self.sustained(now) {
            self.throttled_since = Some(now);
        }
        self.last_refusal = Some(now);
    }

    /// Splits if throttling has been sustained for `split_after` over at least two keys.
    fn try_split(&mut self, spec: &RateLimitSpec, now: Duration) -> bool {
        let Some(since) = self.throttled_since else { return false };
        let due = self.sustained(now) && now.saturating_sub(since) >= spec.split_after;
        if !due || !self.many_keys || self.splits >= spec.splits_max {
            return false;
        }
        self.splits += 1;
        self.throttled_since = Some(now);
        true
    }
}

/// `2^splits`, exactly (through the pure-Rust libm, as all simulated math).
fn limit_scale(splits: u32) -> f64 {
    libm::ldexp(1.0, i32::try_from(splits).unwrap_or(i32::MAX))
}

/// The key up to and including its `depth`-th `/`; the whole key if it has fewer.
fn partition_of(key: &str, depth: u32) -> &str {
    if depth == 0 {
        return "";
    }
    key.match_indices('/').nth(depth as usize - 1).map_or(key, |(slash, _)| &key[..=slash])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    /// Admitted requests of `count` sent at `now`.
    fn admitted(limiter: &mut PrefixLimiter, key: &str, class: RequestClass, now: Duration, count: u32) -> u32 {
        (0..count).map(|_| u32::from(limiter.admit(key, class, now))).sum()
    }

    #[test]
    fn a_partition_takes_its_documented_rate_then_refuses() {
        let mut limiter = PrefixLimiter::new(RateLimitSpec::s3());
        assert_eq!(admitted(&mut limiter, "shares/ab/x", RequestClass::Write, ms(0), 3_500), 3_500);
        assert!(!limiter.admit("shares/ab/x", RequestClass::Write, ms(0)));
        assert_eq!(limiter.throttled(), 1);
        // Reads have their own bucket.
        assert_eq!(admitted(&mut limiter, "shares/ab/x", RequestClass::Read, ms(0), 5_501), 5_500);
        // Another partition has its own too.
        assert_eq!(admitted(&mut limiter, "shares/cd/x", RequestClass::Write, ms(0), 3_500), 3_500);
        assert_eq!(limiter.throttled(), 2);
    }

    #[test]
    fn tokens_refill_with_time_up_to_one_second() {
        let mut limiter = PrefixLimiter::new(RateLimitSpec::s3());
        assert_eq!(admitted(&mut limiter, "a/b/k", RequestClass::Write, ms(0), 3_600), 3_500);
        // 100 ms: 350 tokens.
        assert_eq!(admitted(&mut limiter, "a/b/k", RequestClass::Write, ms(100), 400), 350);
        // Ten idle seconds refill one second's worth, no more.
        assert_eq!(admitted(&mut limiter, "a/b/k", RequestClass::Write, ms(10_100), 4_000), 3_500);
    }

    #[test]
    fn partitions_are_prefixes_of_the_given_depth() {
        assert_eq!(partition_of("a/b/c/d", 2), "a/b/");
        assert_eq!(partition_of("a/b/", 2), "a/b/");
        assert_eq!(partition_of("a/b", 2), "a/b");
        assert_eq!(partition_of("abc", 1), "abc");
        assert_eq!(partition_of("a/b/c", 1), "a/");
        assert_eq!(partition_of("a/b/c", 0), "");
    }

    /// Throttles `keys` in turn at 10,000 writes per second (above any
    /// limit reached here) from `from` for `seconds`, a request every 0.1 ms.
    fn hammer(limiter: &mut PrefixLimiter, keys: &[&str], from: Duration, seconds: u64) {
        for step in 0..seconds * 10_000 {
            let key = keys[step as usize % keys.len()];
            limiter.admit(key, RequestClass::Write, from + Duration::from_micros(step * 100));
        }
    }

    #[test]
    fn one_hot_key_never_splits() {
        let spec = RateLimitSpec { split_after: Duration::from_secs(5), ..RateLimitSpec::s3() };
        let mut limiter = PrefixLimiter::new(spec);
        hammer(&mut limiter, &["hot/p/key"], Duration::ZERO, 20);
        assert_eq!(limiter.splits(), 0);
        assert_eq!(limiter.scale_of("hot/p/key"), 1.0);
        assert!(limiter.throttled() > 100_000);
    }

    #[test]
    fn sustained_throttling_over_two_keys_splits_and_doubles_the_limits() {
        let spec = RateLimitSpec { split_after: Duration::from_secs(5), splits_max: 1, ..RateLimitSpec::s3() };
        let mut limiter = PrefixLimiter::new(spec);
        let keys = ["p/q/one", "p/q/two"];
        hammer(&mut limiter, &keys, Duration::ZERO, 4);
        assert_eq!(limiter.splits(), 0, "split before split_after");
        hammer(&mut limiter, &keys, Duration::from_secs(4), 2);
        assert_eq!(limiter.splits(), 1);
        assert_eq!(limiter.scale_of("p/q/one"), 2.0);
        // At most splits_max.
        hammer(&mut limiter, &keys, Duration::from_secs(6), 10);
        assert_eq!(limiter.splits(), 1);
        // The doubled limit: a full second's bucket is now 7,000 writes.
        let mut fresh = limiter.clone();
        let at = Duration::from_secs(30);
        assert_eq!(admitted(&mut fresh, "p/q/one", RequestClass::Write, at, 8_000), 7_000);
        // Another partition is untouched.
        assert_eq!(fresh.scale_of("p/r/one"), 1.0);
    }

    #[test]
    fn a_pause_in_throttling_restarts_the_clock() {
        let spec = RateLimitSpec { split_after: Duration::from_secs(5), ..RateLimitSpec::s3() };
        let mut limiter = PrefixLimiter::new(spec);
        let keys = ["p/q/one", "p/q/two"];
        hammer(&mut limiter, &keys, Duration::ZERO, 3);
        // Two quiet seconds (more than 1 s without a refusal), then 3 s more: never 5 s sustained.
        hammer(&mut limiter, &keys, Duration::from_secs(5), 3);
        assert_eq!(limiter.splits(), 0);
        hammer(&mut limiter, &keys, Duration::from_secs(8), 3);
        assert_eq!(limiter.splits(), 1);
    }
}
