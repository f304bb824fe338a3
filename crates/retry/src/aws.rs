//! The two pieces of state behind the AWS SDKs' retry modes, as smithy-rs
//! implements them in `aws-smithy-runtime` (`src/client/retries/`):
//!
//! - [`RetryQuota`]: the standard mode's retry quota (`token_bucket.rs`),
//!   500 tokens by default; a retry takes its cost, a successful retry gives
//!   it back, a first-try success adds one token.
//! - [`ClientRateLimiter`]: the adaptive mode's client-side rate limiter
//!   (`client_rate_limiter.rs`): a token bucket whose fill rate follows
//!   CUBIC (beta 0.7, C 0.4), disabled until the first throttling error, with
//!   the send rate measured per half second and smoothed (factor 0.8).
//!
//! Both are plain values; `SharedBudgets` puts them behind one handle so
//! many clients can share them, as smithy-rs shares them per retry
//! partition within a process.

use std::time::Duration;

/// The standard mode's retry quota: whole tokens between 0 and `capacity`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryQuota {
    capacity: u32,
    available: u32,
}

impl RetryQuota {
    /// A full bucket of `capacity` tokens (smithy-rs: `DEFAULT_CAPACITY = 500`).
    pub fn new(capacity: u32) -> Self {
        RetryQuota { capacity, available: capacity }
    }

    pub fn available(&self) -> u32 {
        self.available
    }

    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Takes `cost` tokens if there are that many; otherwise takes nothing.
    pub fn try_acquire(&mut self, cost: u32) -> bool {
        if self.available >= cost {
            self.available -= cost;
            true
        } else {
            false
        }
    }

    /// Puts `amount` tokens back, never above the capacity.
    pub fn release(&mut self, amount: u32) {
        self.available = self.available.saturating_add(amount).min(self.capacity);
    }
}

/// Why the adaptive limiter is asked for a token (smithy-rs `RequestReason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestReason {
    /// A first attempt: costs 1 token.
    InitialRequest,
    /// A retry: costs 5 tokens.
    Retry,
    /// smithy-rs's `RetryTimeout`: costs 10 tokens. smithy-rs asks with this
    /// reason when retrying a *throttling* error (`check_rate_limiter_for_delay`);
    /// reproduced as is.
    RetryTimeout,
}

impl RequestReason {
    fn cost(self) -> f64 {
        match self {
            RequestReason::InitialRequest => INITIAL_REQUEST_COST,
            RequestReason::Retry => RETRY_COST,
            RequestReason::RetryTimeout => RETRY_COST * 2.0,
        }
    }
}

const RETRY_COST: f64 = 5.0;
const INITIAL_REQUEST_COST: f64 = 1.0;
const MIN_FILL_RATE: f64 = 0.5;
const MIN_CAPACITY: f64 = 1.0;
const SMOOTH: f64 = 0.8;
/// How much to scale back after a throttling response.
const BETA: f64 = 0.7;
/// How aggressively the rate grows back after being throttled.
const SCALE_CONSTANT: f64 = 0.4;

/// The adaptive mode's client-side rate limiter. Times are seconds of
/// virtual time (smithy-rs uses seconds since the Unix epoch; only
/// differences and half-second bucket boundaries matter).
#[derive(Clone, Debug, PartialEq)]
pub struct ClientRateLimiter {
    /// Tokens per second added to the bucket.
    fill_rate: f64,
    max_capacity: f64,
    current_capacity: f64,
    last_timestamp: Option<f64>,
    /// Off until the first throttling error: until then nothing waits.
    enabled: bool,
    /// The smoothed send rate (requests per second).
    measured_tx_rate: f64,
    /// The last half-second bucket the send rate was measured in.
    last_tx_rate_bucket: f64,
    request_count: u64,
    /// The rate when last throttled (CUBIC's W_max).
    last_max_rate: f64,
    time_of_last_throttle: f64,
}

impl ClientRateLimiter {
    /// The limiter smithy-rs creates at `now` (`ClientRateLimiter::new`).
    pub fn new(now: Duration) -> Self {
        let now = now.as_secs_f64();
        ClientRateLimiter {
            measured_tx_rate: MIN_FILL_RATE,
            time_of_last_throttle: now,
            last_tx_rate_bucket: now.floor(),
            ..ClientRateLimiter::zeroed()
        }
    }

    /// smithy-rs's `ClientRateLimiter::builder().build()`: every field at
    /// its default, the state its published test vectors start from.
    pub fn zeroed() -> Self {
        ClientRateLimiter {
            fill_rate: 0.0,
            max_capacity: f64::MAX,
            current_capacity: 0.0,
            last_timestamp: None,
            enabled: false,
            measured_tx_rate: 0.0,
            last_tx_rate_bucket: 0.0,
            request_count: 0,
            last_max_rate: 0.0,
            time_of_last_throttle: 0.0,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Tokens per second.
    pub fn fill_rate(&self) -> f64 {
        self.fill_rate
    }

    /// The smoothed send rate, requests per second.
    pub fn measured_tx_rate(&self) -> f64 {
        self.measured_tx_rate
    }

    /// Takes the tokens a request needs; returns how long to wait first, in
    /// seconds (0 when the bucket had them or the limiter is not enabled).
    /// As in smithy-rs, the tokens are taken even when the caller must wait
    /// (the bucket goes negative and the wait pays for it).
    pub fn acquire(&mut self, now: Duration, reason: RequestReason) -> f64 {
        if !self.enabled {
            return 0.0;
        }
        let now = now.as_secs_f64();
        let amount = reason.cost();
        self.refill(now);
        let wait = if amount > self.current_capacity && self.fill_rate > 0.0 {
            (amount - self.current_capacity) / self.fill_rate
        } else {
            0.0
        };
        self.current_capacity -= amount;
        wait
    }

    /// Records one response at `now` (smithy-rs `update_rate_limiter`): a
    /// throttling error cuts the rate to 0.7 of the send rate and enables
    /// the limiter; any other response lets the rate grow along the cubic.
    pub fn update(&mut self, now: Duration, throttled: bool) {
        let now = now.as_secs_f64();
        self.update_measured_rate(now);
        let calculated_rate = if throttled {
            let rate_to_use =
                if self.enabled { self.measured_tx_rate.min(self.fill_rate) } else { self.measured_tx_rate };
            self.last_max_rate = rate_to_use;
            self.time_of_last_throttle = now;
            self.enabled = true;
            rate_to_use * BETA
        } else {
            self.cubic_success(now)
        };
        let new_rate = calculated_rate.min(2.0 * self.measured_tx_rate);
        self.refill(now);
        self.fill_rate = new_rate.max(MIN_FILL_RATE);
        self.max_capacity = new_rate.max(MIN_CAPACITY);
        self.current_capacity = self.current_capacity.min(self.max_capacity);
    }

    fn refill(&mut self, now: f64) {
        if let Some(last) = self.last_timestamp {
            let fill = (now - last) * self.fill_rate;
            self.current_capacity = self.max_capacity.min(self.current_capacity + fill);
        }
        self.last_timestamp = Some(now);
    }

    fn update_measured_rate(&mut self, now: f64) {
        let bucket = (now * 2.0).floor() / 2.0;
        self.request_count += 1;
        if bucket > self.last_tx_rate_bucket {
            let current_rate = self.request_count as f64 / (bucket - self.last_tx_rate_bucket);
            self.measured_tx_rate = current_rate * SMOOTH + self.measured_tx_rate * (1.0 - SMOOTH);
            self.request_count = 0;
            self.last_tx_rate_bucket = bucket;
        }
    }

    /// CUBIC's K: the time the cubic takes to climb back to `last_max_rate`.
    fn time_window(&self) -> f64 {
        retrylab_faults::libm::pow((self.last_max_rate * (1.0 - BETA)) / SCALE_CONSTANT, 1.0 / 3.0)
    }

    fn cubic_success(&self, now: f64) -> f64 {
        let dt = now - self.time_of_last_throttle - self.time_window();
        SCALE_CONSTANT * dt.powi(3) + self.last_max_rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() <= 1e-9 * expected.abs().max(1.0), "{actual} != {expected}");
    }

    #[test]
    fn quota_takes_and_releases_within_capacity() {
        let mut quota = RetryQuota::new(10);
        assert!(quota.try_acquire(5));
        assert!(quota.try_acquire(5));
        assert!(!quota.try_acquire(5), "10 tokens / cost 5 = 2 retries (smithy-rs test_bounded_permits_exhaustion)");
        assert_eq!(quota.available(), 0);
        quota.release(7);
        quota.release(7);
        assert_eq!(quota.available(), 10);
    }

    #[test]
    fn cubic_throttle_and_success_match_smithy_rs() {
        // smithy-rs `should_match_beta_decrease` / `test_calculated_rate_with_successes`
        // (ported there from aws-sdk-go-v2 adaptive_ratelimit_test.go).
        let limiter =
            ClientRateLimiter { last_max_rate: 10.0, time_of_last_throttle: 5.0, ..ClientRateLimiter::zeroed() };
        let expected = [
            (5.0, 7.0),
            (6.0, 9.64893600966),
            (7.0, 10.000030849917364),
            (8.0, 10.453284520772092),
            (9.0, 13.408697022224185),
            (10.0, 21.26626835427364),
            (11.0, 36.425998516920465),
        ];
        for (t, rate) in expected {
            close(limiter.cubic_success(t), rate);
        }
    }

    #[test]
    fn sending_rates_match_smithy_rs() {
        // smithy-rs `test_client_sending_rates`: one response every 200 ms,
        // throttled at 2.0 s and 3.2 s; (time, throttled, measured, fill).
        let expected = [
            (0.2, false, 0.0, 0.5),
            (0.4, false, 0.0, 0.5),
            (0.6, false, 4.800000000000001, 0.5),
            (0.8, false, 4.800000000000001, 0.5),
            (1.0, false, 4.16, 0.5),
            (1.2, false, 4.16, 0.6912),
            (1.4, false, 4.16, 1.0975999999999997),
            (1.6, false, 5.632000000000001, 1.6384000000000005),
            (1.8, false, 5.632000000000001, 2.3328),
            (2.0, true, 4.3264, 3.0284799999999996),
            (2.2, false, 4.3264, 3.48663917347026),
            (2.4, false, 4.3264, 3.821874416040255),
            (2.6, false, 5.66528, 4.053385727709987),
            (2.8, false, 5.66528, 4.200373108479454),
            (3.0, false, 4.333056, 4.282036558348658),
            (3.2, true, 4.333056, 2.99742559084406),
            (3.4, false, 4.333056, 3.4522263943863463),
        ];
        let mut limiter = ClientRateLimiter::zeroed();
        for (t, throttled, measured, fill) in expected {
            limiter.update(Duration::from_secs_f64(t), throttled);
            close(limiter.measured_tx_rate(), measured);
            close(limiter.fill_rate(), fill);
        }
        assert!(limiter.is_enabled());
    }

    #[test]
    fn disabled_until_the_first_throttle_then_waits() {
        let mut limiter = ClientRateLimiter::new(Duration::ZERO);
        for ms in 0..100 {
            assert_eq!(limiter.acquire(Duration::from_millis(ms), RequestReason::InitialRequest), 0.0);
            limiter.update(Duration::from_millis(ms), false);
        }
        limiter.update(Duration::from_millis(100), true);
        assert!(limiter.is_enabled());
        // A nearly empty bucket: the first request waits for most of a
        // token at the fill rate.
        let wait = limiter.acquire(Duration::from_millis(100), RequestReason::InitialRequest);
        assert!(wait > 0.0 && wait <= 1.0 / limiter.fill_rate(), "{wait}");
        // Retries cost more than first attempts.
        let retry_wait = limiter.acquire(Duration::from_millis(100), RequestReason::Retry);
        assert!(retry_wait > wait, "{retry_wait} <= {wait}");
    }
}
