//! [`PrefixLimiter`]: S3's request-rate limits per partitioned prefix, and
//! how S3 adds partitions under sustained load.

use std::time::Duration;

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

#[derive(Clone, Debug)]
pub struct PrefixLimiter {
    _private: (),
}

impl PrefixLimiter {
    pub fn new(spec: RateLimitSpec) -> Self {
        let _ = spec;
        todo!("helper")
    }

    /// Whether a request for `key` arriving at `now` (non-decreasing) is
    /// within its partition's limit; `false`: answer 503 SlowDown.
    pub fn admit(&mut self, key: &str, class: RequestClass, now: Duration) -> bool {
        let _ = (key, class, now);
        todo!("helper")
    }

    /// Requests refused so far.
    pub fn throttled(&self) -> u64 {
        todo!("helper")
    }

    /// Splits made so far, over every partition.
    pub fn splits(&self) -> u64 {
        todo!("helper")
    }
}
