//! Budgets that cap retries across requests rather than per request:
//!
//! - [`GrpcThrottle`]: gRPC retry throttling (gRFC A6 "gRPC Retry Design",
//!   `retryThrottling`): `token_count` starts at `maxTokens`; every failed
//!   attempt takes 1, every success gives `tokenRatio` back (at most
//!   `maxTokens`); while `token_count <= maxTokens / 2` nothing is retried.
//!   A6 allows three decimal places in `tokenRatio`, so tokens are counted
//!   here in thousandths, exactly.
//! - [`TokenRetryBudget`]: Finagle's `RetryBudget` (`com.twitter.finagle.service.
//!   RetryBudget`, ported to tower as `tower::retry::budget::TpsBudget`):
//!   each request deposits 1000 units, a retry withdraws `1000 /
//!   percentCanRetry` units, and a reserve of `minRetriesPerSec * ttl`
//!   retries is always there. Deposits and withdrawals both sit in a window
//!   of `ttl` cut into 10 slices (twitter-util `TokenBucket.newLeakyBucket`
//!   over a `WindowedAdder(ttl, 10 slices)`), so they expire after about `ttl`.

use std::collections::VecDeque;
use std::time::Duration;

/// gRPC A6 retry throttling state, in thousandths of a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcThrottle {
    max_milli: u64,
    ratio_milli: u64,
    tokens_milli: u64,
}

impl GrpcThrottle {
    /// `max_tokens` tokens, all there; `token_ratio` given back per success.
    pub fn new(max_tokens: u32, token_ratio: f64) -> Self {
        let max_milli = u64::from(max_tokens) * 1000;
        GrpcThrottle { max_milli, ratio_milli: ratio_thousandths(token_ratio), tokens_milli: max_milli }
    }

    /// The token count (A6's `token_count`).
    pub fn tokens(&self) -> f64 {
        self.tokens_milli as f64 / 1000.0
    }

    /// A failed attempt: one token less (never below 0). Returns whether
    /// retries are now throttled (`token_count <= maxTokens / 2`).
    pub fn on_failure(&mut self) -> bool {
        self.tokens_milli = self.tokens_milli.saturating_sub(1000);
        self.is_throttled()
    }

    pub fn on_success(&mut self) {
        self.tokens_milli = self.tokens_milli.saturating_add(self.ratio_milli).min(self.max_milli);
    }

    pub fn is_throttled(&self) -> bool {
        // token_count <= max / 2, compared without halving (max may be odd).
        self.tokens_milli * 2 <= self.max_milli
    }
}

/// `ratio` in thousandths, rounded; 0 for anything not positive and finite.
pub(crate) fn ratio_thousandths(ratio: f64) -> u64 {
    let milli = (ratio * 1000.0).round();
    if milli.is_finite() && milli > 0.0 {
        milli as u64
    } else {
        0
    }
}

/// Finagle's scale factor: percentages without floating point.
const SCALE: i64 = 1000;
/// Slices per window (twitter-util's `WindowedAdder` in `newLeakyBucket`).
const SLICES: u64 = 10;

/// Finagle's `TokenRetryBudget` over a sliding window of virtual time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRetryBudget {
    slice: Duration,
    deposit: i64,
    withdrawal: i64,
    reserve: i64,
    /// (slice index, sum of the units added in it), oldest first.
    slices: VecDeque<(u64, i64)>,
}

impl TokenRetryBudget {
    /// Finagle's `RetryBudget(ttl, minRetriesPerSec, percentCanRetry)`.
    pub fn new(ttl: Duration, min_retries_per_sec: u32, percent_can_retry: f64) -> Self {
        let percent_milli = ratio_thousandths(percent_can_retry);
        // "if you only have minRetries, everything costs 1 but you get no
        // credit for requests": Finagle's special case for percent 0.
        let (deposit, withdrawal) = if percent_milli == 0 {
            (0, 1)
        } else {
            (SCALE, (SCALE * SCALE / i64::try_from(percent_milli).unwrap_or(i64::MAX)).max(1))
        };
        let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let reserve = i64::from(min_retries_per_sec).saturating_mul(ttl_secs).saturating_mul(withdrawal);
        let slice = (ttl / SLICES as u32).max(Duration::from_millis(1));
        TokenRetryBudget { slice, deposit, withdrawal, reserve, slices: VecDeque::new() }
    }

    /// A request was sent (Finagle's `deposit()`).
    pub fn deposit(&mut self, now: Duration) {
        let amount = self.deposit;
        self.add(now, amount);
    }

    /// Takes one retry's worth if the balance allows it (`tryWithdraw()`).
    pub fn try_withdraw(&mut self, now: Duration) -> bool {
        if self.count(now) >= self.withdrawal {
            let amount = self.withdrawal;
            self.add(now, -amount);
            true
        } else {
            false
        }
    }

    /// Retries that could be made now (Finagle's `balance`).
    pub fn balance(&mut self, now: Duration) -> i64 {
        self.count(now) / self.withdrawal
    }

    fn index(&self, now: Duration) -> u64 {
        u64::try_from(now.as_nanos() / self.slice.as_nanos().max(1)).unwrap_or(u64::MAX)
    }

    fn expire(&mut self, now: Duration) {
        let current = self.index(now);
        while let Some(&(index, _)) = self.slices.front() {
            if index.saturating_add(SLICES) <= current {
                self.slices.pop_front();
            } else {
                break;
            }
        }
    }

    fn add(&mut self, now: Duration, amount: i64) {
        self.expire(now);
        let index = self.index(now);
        match self.slices.back_mut() {
            Some((last, sum)) if *last == index => *sum = sum.saturating_add(amount),
            _ => self.slices.push_back((index, amount)),
        }
    }

    fn count(&mut self, now: Duration) -> i64 {
        self.expire(now);
        self.slices.iter().fold(self.reserve, |total, &(_, sum)| total.saturating_add(sum))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_throttles_at_half_of_max_tokens() {
        let mut throttle = GrpcThrottle::new(10, 0.1);
        let throttled: Vec<bool> = (0..6).map(|_| throttle.on_failure()).collect();
        // 9, 8, 7, 6 are above 5; 5 is not.
        assert_eq!(throttled, vec![false, false, false, false, true, true]);
        assert_eq!(throttle.tokens(), 4.0);
        for _ in 0..11 {
            throttle.on_success();
        }
        assert_eq!(throttle.tokens(), 5.1, "4 + 11 * 0.1, exact in thousandths");
        assert!(!throttle.is_throttled());
        for _ in 0..100 {
            throttle.on_success();
        }
        assert_eq!(throttle.tokens(), 10.0, "capped at maxTokens");
    }

    #[test]
    fn finagle_defaults_reserve_100_retries_per_ten_seconds() {
        let mut budget = TokenRetryBudget::new(Duration::from_secs(10), 10, 0.2);
        assert_eq!(budget.balance(Duration::ZERO), 100);
        let allowed = (0..200).filter(|_| budget.try_withdraw(Duration::ZERO)).count();
        assert_eq!(allowed, 100);
        // Withdrawals expire with the window: after ttl the reserve is back.
        assert_eq!(budget.balance(Duration::from_secs(10)), 100);
    }

    #[test]
    fn finagle_lets_a_fifth_of_requests_retry() {
        let mut budget = TokenRetryBudget::new(Duration::from_secs(10), 0, 0.2);
        for _ in 0..1000 {
            budget.deposit(Duration::from_secs(1));
        }
        assert_eq!(budget.balance(Duration::from_secs(1)), 200);
        // Deposits expire after about ttl (10 slices of 1 s).
        assert_eq!(budget.balance(Duration::from_millis(10_999)), 200);
        assert_eq!(budget.balance(Duration::from_secs(11)), 0);
    }
}
