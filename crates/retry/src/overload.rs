//! Policies that refuse attempts locally when the backend is overloaded:
//!
//! - [`CircuitBreaker`]: closed / open / half-open, as resilience4j's
//!   `CircuitBreaker` (`CircuitBreakerStateMachine`, time-based sliding
//!   window) and Polly's advanced circuit breaker (`CircuitBreakerStrategyOptions`:
//!   `FailureRatio`, `MinimumThroughput`, `SamplingDuration`, `BreakDuration`)
//!   do it.
//! - [`ClientThrottle`]: client-side adaptive throttling (Google, "Site
//!   Reliability Engineering", 2016, ch. 21 "Handling Overload").
//!
//! Both count over a sliding window of virtual time ([`SlidingCounts`]), cut
//! into 100 slices like Finagle's budget (which uses 10) and resilience4j's
//! time-based window (one bucket per second): memory stays bounded whatever
//! the request rate. Time only comes in as `now`.

use std::collections::VecDeque;
use std::time::Duration;

use crate::config::{CircuitBreakerConfig, ClientThrottleConfig};

/// Slices per window: an event counts for between 99% and 100% of the window.
const SLICES: u64 = 100;

/// Two counts (`total` and `marked`: calls and failures, requests and
/// accepts) over a sliding window of virtual time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlidingCounts {
    slice: Duration,
    /// (slice index, total, marked), oldest first.
    slices: VecDeque<(u64, u64, u64)>,
}

impl SlidingCounts {
    pub fn new(window: Duration) -> Self {
        let slice = (window / SLICES as u32).max(Duration::from_nanos(1));
        SlidingCounts { slice, slices: VecDeque::new() }
    }

    fn index(&self, now: Duration) -> u64 {
        u64::try_from(now.as_nanos() / self.slice.as_nanos()).unwrap_or(u64::MAX)
    }

    fn expire(&mut self, now: Duration) {
        let current = self.index(now);
        while let Some(&(index, _, _)) = self.slices.front() {
            if index.saturating_add(SLICES) <= current {
                self.slices.pop_front();
            } else {
                break;
            }
        }
    }

    /// Adds `total` and `marked` at `now`.
    pub fn add(&mut self, now: Duration, total: u64, marked: u64) {
        self.expire(now);
        let index = self.index(now);
        match self.slices.back_mut() {
            Some((last, t, m)) if *last == index => {
                *t = t.saturating_add(total);
                *m = m.saturating_add(marked);
            }
            _ => self.slices.push_back((index, total, marked)),
        }
    }

    /// `(total, marked)` over the window ending at `now`.
    pub fn totals(&mut self, now: Duration) -> (u64, u64) {
        self.expire(now);
        self.slices
            .iter()
            .fold((0, 0), |(t, m), &(_, total, marked)| (t.saturating_add(total), m.saturating_add(marked)))
    }

    pub fn clear(&mut self) {
        self.slices.clear();
    }
}

/// Where a circuit breaker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BreakerState {
    /// Attempts go through; their outcomes fill the window.
    Closed,
    /// Every attempt is refused until `until`.
    Open { until: Duration },
    /// Since `since`: `admitted` trials let through, `answered` of them
    /// answered (or written off), `failures` of those failed.
    HalfOpen { since: Duration, admitted: u32, answered: u32, failures: u32 },
}

/// A circuit breaker's state (see [`CircuitBreakerConfig`] for the rules).
#[derive(Clone, Debug, PartialEq)]
pub struct CircuitBreaker {
    config: CircuitBreakerConfig,
    state: BreakerState,
    /// Closed only: (calls, failures) over the last `window`.
    window: SlidingCounts,
}

impl CircuitBreaker {
    pub fn new(config: CircuitBreakerConfig) -> Self {
        CircuitBreaker { config, state: BreakerState::Closed, window: SlidingCounts::new(config.window) }
    }

    /// "closed", "open" or "half_open" at the last call (for traces).
    pub fn state_name(&self) -> &'static str {
        match self.state {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen { .. } => "half_open",
        }
    }

    /// Whether an attempt may be sent at `now`: always when closed, never
    /// while open, and while half-open only as one of the trials.
    pub fn try_admit(&mut self, now: Duration) -> bool {
        if let BreakerState::Open { until } = self.state {
            if now < until {
                return false;
            }
            self.state = BreakerState::HalfOpen { since: now, admitted: 0, answered: 0, failures: 0 };
        }
        self.write_off_stale_trials(now);
        match &mut self.state {
            BreakerState::Closed => true,
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen { admitted, .. } => {
                if *admitted < self.config.half_open_calls {
                    *admitted += 1;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// The outcome of an attempt sent at an earlier `try_admit`, at `now`:
    /// `failed` for a retryable failure. Closed: counted in the window, and
    /// the breaker opens if the failure rate is now at or above the
    /// threshold over at least `minimum_calls`. Half-open: counted as a
    /// trial's answer. Open: ignored (an attempt sent before it opened).
    pub fn record(&mut self, now: Duration, failed: bool) {
        match &mut self.state {
            BreakerState::Closed => {
                self.window.add(now, 1, u64::from(failed));
                let (calls, failures) = self.window.totals(now);
                if calls >= u64::from(self.config.minimum_calls) && self.too_many(failures, calls) {
                    self.open(now);
                }
            }
            BreakerState::Open { .. } => {}
            BreakerState::HalfOpen { admitted, answered, failures, .. } => {
                if *answered < *admitted {
                    *answered += 1;
                    *failures += u32::from(failed);
                }
                self.judge_trials(now);
            }
        }
    }

    fn too_many(&self, failures: u64, calls: u64) -> bool {
        calls > 0 && failures as f64 / calls as f64 >= self.config.failure_rate_threshold
    }

    fn open(&mut self, now: Duration) {
        self.state = BreakerState::Open { until: now.saturating_add(self.config.open) };
        self.window.clear();
    }

    /// Trials unanswered `open` after the breaker became half-open count as
    /// failures: their operations may have been abandoned.
    fn write_off_stale_trials(&mut self, now: Duration) {
        if let BreakerState::HalfOpen { since, admitted, answered, failures } = &mut self.state {
            if now >= since.saturating_add(self.config.open) && *answered < *admitted {
                *failures += *admitted - *answered;
                *answered = *admitted;
                self.judge_trials(now);
            }
        }
    }

    /// Once every trial has answered: open again or close.
    fn judge_trials(&mut self, now: Duration) {
        if let BreakerState::HalfOpen { answered, failures, .. } = self.state {
            if answered >= self.config.half_open_calls {
                if self.too_many(u64::from(failures), u64::from(answered)) {
                    self.open(now);
                } else {
                    self.state = BreakerState::Closed;
                    self.window.clear();
                }
            }
        }
    }
}

/// Client-side adaptive throttling's counts (see [`ClientThrottleConfig`]).
#[derive(Clone, Debug, PartialEq)]
pub struct ClientThrottle {
    k: f64,
    /// (requests, accepts) over the last `window`.
    window: SlidingCounts,
}

impl ClientThrottle {
    pub fn new(config: ClientThrottleConfig) -> Self {
        ClientThrottle { k: config.k, window: SlidingCounts::new(config.window) }
    }

    /// The SRE book's `max(0, (requests - K * accepts) / (requests + 1))`
    /// at `now`, before the coming request is counted.
    pub fn rejection_probability(&mut self, now: Duration) -> f64 {
        let (requests, accepts) = self.window.totals(now);
        let requests = requests as f64;
        ((requests - self.k * accepts as f64) / (requests + 1.0)).max(0.0)
    }

    /// An attempt the client wanted to send, whether or not it refused it.
    pub fn count_request(&mut self, now: Duration) {
        self.window.add(now, 1, 0);
    }

    /// An attempt the backend accepted (answered with anything but a
    /// retryable failure).
    pub fn count_accept(&mut self, now: Duration) {
        self.window.add(now, 0, 1);
    }

    /// `(requests, accepts)` over the window ending at `now`.
    pub fn counts(&mut self, now: Duration) -> (u64, u64) {
        self.window.totals(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn default_breaker() -> CircuitBreaker {
        CircuitBreaker::new(CircuitBreakerConfig::default())
    }

    /// Records `calls` outcomes at `now`, the first `failures` of them failed.
    fn outcomes(breaker: &mut CircuitBreaker, now: Duration, calls: u32, failures: u32) {
        for i in 0..calls {
            assert!(breaker.try_admit(now), "closed admits");
            breaker.record(now, i < failures);
        }
    }

    #[test]
    fn opens_at_the_threshold_once_minimum_calls_are_in() {
        let mut breaker = default_breaker();
        // 19 failures: a 100% failure rate, but below 20 calls.
        outcomes(&mut breaker, ms(0), 19, 19);
        assert_eq!(breaker.state_name(), "closed");
        assert!(breaker.try_admit(ms(1)));
        // The 20th call: 19 failures of 20 >= 0.5.
        breaker.record(ms(1), false);
        assert_eq!(breaker.state_name(), "open");
    }

    #[test]
    fn stays_closed_below_the_threshold() {
        let mut breaker = default_breaker();
        // 9 failures of 20 is 45% < 50%.
        outcomes(&mut breaker, ms(0), 20, 9);
        assert_eq!(breaker.state_name(), "closed");
        // One more failure: 10 of 21 is still below; 11 of 22 is exactly 50%.
        outcomes(&mut breaker, ms(1), 1, 1);
        assert_eq!(breaker.state_name(), "closed");
        outcomes(&mut breaker, ms(2), 1, 1);
        assert_eq!(breaker.state_name(), "open");
    }

    #[test]
    fn refuses_everything_while_open_then_lets_trials_through() {
        let mut breaker = default_breaker();
        outcomes(&mut breaker, ms(0), 20, 20);
        assert!(!breaker.try_admit(ms(0)));
        assert!(!breaker.try_admit(ms(4_999)), "open for 5 s");
        // Half-open at 5 s: 10 trials, the 11th refused.
        let admitted = (0..11).filter(|_| breaker.try_admit(ms(5_000))).count();
        assert_eq!(admitted, 10);
        assert_eq!(breaker.state_name(), "half_open");
    }

    #[test]
    fn half_open_closes_when_trials_succeed() {
        let mut breaker = default_breaker();
        outcomes(&mut breaker, ms(0), 20, 20);
        for _ in 0..10 {
            assert!(breaker.try_admit(ms(5_000)));
        }
        // 4 failures of 10 trials: below 0.5, but only judged at the 10th.
        for i in 0..10 {
            assert_eq!(breaker.state_name(), "half_open");
            breaker.record(ms(5_100), i < 4);
        }
        assert_eq!(breaker.state_name(), "closed");
        // The window was cleared: 19 failures are not enough to open again.
        outcomes(&mut breaker, ms(5_200), 19, 19);
        assert_eq!(breaker.state_name(), "closed");
    }

    #[test]
    fn half_open_opens_again_when_trials_fail() {
        let mut breaker = default_breaker();
        outcomes(&mut breaker, ms(0), 20, 20);
        for _ in 0..10 {
            assert!(breaker.try_admit(ms(5_000)));
        }
        for i in 0..10 {
            breaker.record(ms(5_100), i < 5);
        }
        assert_eq!(breaker.state_name(), "open", "5 of 10 is at the threshold");
        assert!(!breaker.try_admit(ms(10_099)));
        assert!(breaker.try_admit(ms(10_100)), "open for another 5 s from the last trial");
    }

    #[test]
    fn unanswered_trials_are_written_off_as_failures() {
        let mut breaker = default_breaker();
        outcomes(&mut breaker, ms(0), 20, 20);
        for _ in 0..10 {
            assert!(breaker.try_admit(ms(5_000)));
        }
        assert!(!breaker.try_admit(ms(9_999)), "every trial slot taken");
        // 5 s after half-open the 10 missing answers count as failures.
        assert!(!breaker.try_admit(ms(10_000)));
        assert_eq!(breaker.state_name(), "open");
    }

    #[test]
    fn outcomes_leave_the_window() {
        let mut breaker = default_breaker();
        outcomes(&mut breaker, ms(0), 19, 19);
        // 10 s later those 19 have left the window: 1 call is below minimum.
        outcomes(&mut breaker, ms(10_000), 1, 1);
        assert_eq!(breaker.state_name(), "closed");
        // Just inside the window (slices of 100 ms), they still count.
        let mut breaker = default_breaker();
        outcomes(&mut breaker, ms(0), 19, 19);
        outcomes(&mut breaker, ms(9_899), 1, 1);
        assert_eq!(breaker.state_name(), "open");
    }

    #[test]
    fn throttle_follows_the_sre_formula() {
        let mut throttle = ClientThrottle::new(ClientThrottleConfig::default());
        assert_eq!(throttle.rejection_probability(ms(0)), 0.0);
        for _ in 0..100 {
            throttle.count_request(ms(0));
        }
        for _ in 0..20 {
            throttle.count_accept(ms(0));
        }
        // (100 - 2 * 20) / (100 + 1)
        assert_eq!(throttle.rejection_probability(ms(1)), 60.0 / 101.0);
        // The window is two minutes.
        assert_eq!(throttle.rejection_probability(ms(120_000)), 0.0);
    }

    #[test]
    fn throttle_refuses_nothing_while_accepts_dominate() {
        let mut throttle = ClientThrottle::new(ClientThrottleConfig::default());
        for _ in 0..1000 {
            throttle.count_request(ms(0));
        }
        for _ in 0..500 {
            throttle.count_accept(ms(0));
        }
        assert_eq!(throttle.rejection_probability(ms(0)), 0.0, "1000 - 2 * 500 = 0");
        throttle.count_request(ms(0));
        assert!(throttle.rejection_probability(ms(0)) > 0.0, "one request more than K * accepts");
    }

    #[test]
    fn sliding_counts_expire_whole_slices() {
        let mut counts = SlidingCounts::new(ms(1_000));
        counts.add(ms(0), 3, 1);
        counts.add(ms(505), 2, 2);
        assert_eq!(counts.totals(ms(999)), (5, 3));
        assert_eq!(counts.totals(ms(1_000)), (2, 2));
        assert_eq!(counts.totals(ms(1_510)), (0, 0));
    }
}
