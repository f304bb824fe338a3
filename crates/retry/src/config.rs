//! [`PolicyConfig`]: the catalogue of retry policies, each with a
//! constructor giving its published defaults and a doc comment citing where
//! they come from.
//!
//! Six variants wrap another policy rather than stand alone: a retry
//! throttle (`GrpcThrottled`), a retry budget (`RetryBudget`), hedging
//! (`Hedged`), a deadline (`Deadline`), a circuit breaker
//! (`CircuitBreaker`) and client-side adaptive throttling
//! (`ClientThrottle`). They nest in any order; the wrapper decides after
//! (or instead of) its inner policy. The last two also refuse attempts
//! before they are sent (`Policy::before_attempt`).

use std::time::Duration;

use crate::{Jitter, PolicyError};

/// A retry policy's parameters (internal type; the scenario crate maps the
/// file format onto it).
#[derive(Clone, Debug, PartialEq)]
pub enum PolicyConfig {
    /// Every failure is final.
    None,
    /// Up to `retries` retries, each sent at once (2012's "retry-once" is 1).
    Immediate { retries: u32 },
    /// One retry per listed delay, in order: e.g. Tahoe-LAFS's cloud backend
    /// waits 0 s, 2 s and 10 s (`BACKOFF_SECONDS_BEFORE_RETRY`).
    Schedule { delays: Vec<Duration> },
    /// Exponential backoff: attempt n (1-based) failing waits about
    /// `base * 2^(n-1)`, at most `cap`, randomised by `jitter`; at most
    /// `attempts_max` attempts in all. Jittered delays are whole milliseconds.
    Exponential { base: Duration, cap: Duration, attempts_max: u32, jitter: Jitter },
    /// The AWS SDKs' "standard" retry mode, as smithy-rs implements it
    /// (`aws-smithy-runtime`, `client/retries/strategy/standard.rs` and
    /// `token_bucket.rs`; the cross-SDK "retry behavior" spec, 2.0 and 2.1).
    /// See [`AwsRetryConfig`] for the numbers; constructors
    /// [`PolicyConfig::aws_standard`] (2.0) and [`PolicyConfig::aws_standard_v2_1`].
    AwsStandard(AwsRetryConfig),
    /// The AWS "adaptive" mode: standard plus smithy-rs's client-side CUBIC
    /// rate limiter (`client_rate_limiter.rs`). Before each first attempt the
    /// caller waits what `Policy::before_attempt` says; a retry's delay is
    /// the limiter's wait when it imposes one (at most `max_backoff`), else
    /// the standard backoff. Constructor [`PolicyConfig::aws_adaptive`].
    AwsAdaptive(AwsRetryConfig),
    /// Apache Arrow `object_store`'s `RetryConfig` (`src/client/retry.rs`,
    /// `src/client/backoff.rs`). Constructor [`PolicyConfig::object_store`].
    ObjectStore(ObjectStoreConfig),
    /// gRPC retry throttling (gRFC A6, `retryThrottling`) around `inner`:
    /// each retryable failure takes a token, each success gives back
    /// `token_ratio`; while `token_count <= max_tokens / 2` nothing is
    /// retried (`GiveUp::Throttled`). Constructor [`PolicyConfig::grpc`].
    GrpcThrottled { inner: Box<PolicyConfig>, max_tokens: u32, token_ratio: f64 },
    /// Finagle's `RetryBudget` (tower's `TpsBudget`) around `inner`: every
    /// request deposits, every retry withdraws; about `percent_can_retry` of
    /// the requests of the last `ttl` may retry, plus `min_retries_per_sec`
    /// retries per second whatever the traffic (`GiveUp::BudgetExhausted`).
    /// Constructor [`PolicyConfig::finagle`].
    RetryBudget { inner: Box<PolicyConfig>, ttl: Duration, min_retries_per_sec: u32, percent_can_retry: f64 },
    /// Hedged requests (Dean and Barroso, "The Tail at Scale", CACM 2013):
    /// if an attempt has not answered after `delay`, a second copy is sent;
    /// the first answer that is a success or a 4xx wins and the other copy
    /// is cancelled (a retryable error waits for the other copy). The paper
    /// hedges after the 95th-percentile latency: with `quantile` (e.g.
    /// 0.95) the delay is that quantile of the latencies this client has
    /// observed (its last 1,000 answers), and `delay` only until it has seen
    /// 20; without, the delay is fixed (gRPC's `hedgingDelay`). Whole
    /// milliseconds. At most one hedge per operation; the pair counts as one
    /// attempt and its failure goes to `inner` (use `None` for hedging
    /// alone). Hedges draw on no quota or budget, but a gRPC throttle at or
    /// below half suppresses them (A6).
    /// Constructors [`PolicyConfig::hedged`], [`PolicyConfig::hedged_at_quantile`].
    Hedged { inner: Box<PolicyConfig>, delay: Duration, quantile: Option<f64> },
    /// Tahoe-LAFS's cloud backend (2013, `cloud_common.py`): a retry after
    /// each of `delays` (0 s, 2 s, 10 s), for 5xx (503 included) and for
    /// errors without an HTTP status, never for 4xx; when the retries are
    /// spent it raises the *first* error, not the last (`return_first_error`).
    /// Constructor [`PolicyConfig::tahoe_cloud`].
    Tahoe { delays: Vec<Duration>, return_first_error: bool },
    /// Any policy, bounded by a deadline on the whole operation: it gives up
    /// (`GiveUp::DeadlineExceeded`) when the time spent plus the next delay
    /// would pass `deadline`. Constructor [`PolicyConfig::deadline`].
    Deadline { inner: Box<PolicyConfig>, deadline: Duration },
    /// A circuit breaker around `inner`, as resilience4j's `CircuitBreaker`
    /// and Polly's advanced circuit breaker do it (see
    /// [`CircuitBreakerConfig`]): while open, every attempt, first tries
    /// and retries alike, is refused locally and nothing is sent
    /// (`GiveUp::CircuitOpen`). Constructor [`PolicyConfig::circuit_breaker`].
    CircuitBreaker { inner: Box<PolicyConfig>, breaker: CircuitBreakerConfig },
    /// Client-side adaptive throttling around `inner` (Google, "Site
    /// Reliability Engineering", 2016, ch. 21 "Handling Overload"; see
    /// [`ClientThrottleConfig`]): each attempt is refused locally with
    /// probability `max(0, (requests - k * accepts) / (requests + 1))` over
    /// the last `window` (`GiveUp::ClientThrottled`). Constructor
    /// [`PolicyConfig::client_throttle`].
    ClientThrottle { inner: Box<PolicyConfig>, throttle: ClientThrottleConfig },
}

/// A circuit breaker's parameters (resilience4j `CircuitBreakerConfig`,
/// time-based sliding window; Polly `CircuitBreakerStrategyOptions`).
///
/// Closed: the outcome of every attempt sent is counted over the last
/// `window` (resilience4j's `slidingWindowType = TIME_BASED`); a failure
/// is a retryable error (5xx, throttling, a reset, a timeout; a 4xx is an
/// answer, not a failure). Once at least `minimum_calls` outcomes are in
/// the window and `failures / calls >= failure_rate_threshold`, the breaker
/// opens: for `open` every attempt is refused without being sent. Then it
/// is half-open: `half_open_calls` trial attempts are let through and the
/// others refused; when every trial has answered, it opens again if their
/// failure rate is at or above the threshold, and closes (with an empty
/// window) otherwise. A trial that has not answered `open` after the breaker
/// became half-open is counted as a failure (resilience4j's
/// `maxWaitDurationInHalfOpenState`, here never infinite, so that a trial
/// whose operation was abandoned cannot hold the breaker half-open forever).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CircuitBreakerConfig {
    /// The sliding window of outcomes, counted in 100 slices (an outcome
    /// counts for between 99% and 100% of `window`). Default 10 s
    /// (Polly's `SamplingDuration`).
    pub window: Duration,
    /// Outcomes needed in the window before the failure rate is judged.
    /// Default 20 (Polly's `MinimumThroughput`).
    pub minimum_calls: u32,
    /// The failure rate that opens the breaker, in (0, 1]. Default 0.5
    /// (resilience4j's `failureRateThreshold` of 50%, Polly's `FailureRatio`).
    pub failure_rate_threshold: f64,
    /// How long the breaker stays open. Default 5 s (Polly's `BreakDuration`).
    pub open: Duration,
    /// Trial attempts let through while half-open. Default 10
    /// (resilience4j's `permittedNumberOfCallsInHalfOpenState`).
    pub half_open_calls: u32,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            window: Duration::from_secs(10),
            minimum_calls: 20,
            failure_rate_threshold: 0.5,
            open: Duration::from_secs(5),
            half_open_calls: 10,
        }
    }
}

/// Client-side adaptive throttling's parameters (Google SRE book, ch. 21).
///
/// Over the last `window` the client counts `requests` (attempts it wanted
/// to send, those it refused included) and `accepts` (attempts the backend
/// accepted: any answer that is not a retryable failure, so a success or a
/// 4xx). Each attempt is refused locally with probability
/// `max(0, (requests - k * accepts) / (requests + 1))`, drawn from the
/// policy's own random stream. With `k = 2` the client sends up to about
/// twice what the backend accepts, so a backend that rejects everything
/// still sees a trickle of requests that tell the client when it recovers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientThrottleConfig {
    /// The window of requests and accepts, counted in 100 slices. Default
    /// 120 s (the book's "the last two minutes").
    pub window: Duration,
    /// The multiplier `K`, at least 1 (below 1 the client throttles a
    /// healthy backend). Default 2 (the book's value; lower is more aggressive).
    pub k: f64,
}

impl Default for ClientThrottleConfig {
    fn default() -> Self {
        ClientThrottleConfig { window: Duration::from_secs(120), k: 2.0 }
    }
}

/// The longest `window` or `open` a breaker or throttle takes: 10^12 ms
/// (about 32 years), past the longest run a scenario allows.
pub const LOAD_POLICY_DURATION_MAX: Duration = Duration::from_secs(1_000_000_000);

/// The most `minimum_calls` or `half_open_calls` a breaker takes: more is a
/// mistake of units (a million trial attempts is not a trial).
pub const BREAKER_CALLS_MAX: u32 = 1_000_000;

/// The largest `k` a client throttle takes: at 1000 the throttle refuses
/// nothing until 99.9% of requests fail, which is no throttle at all.
pub const THROTTLE_K_MAX: f64 = 1000.0;

/// Parameters of the AWS standard and adaptive modes.
///
/// Retry behavior 2.0 (smithy-rs `RetryConfig::standard()`,
/// `TokenBucket::default()`): 3 attempts; the delay after failed attempt i
/// is `random[0,1) * min(2^(i-1) * 1 s, 20 s)`; a retry quota of 500 tokens
/// where a retry costs 5 (10 after a timeout) and is refused when the bucket
/// holds less; a successful retry gives its cost back, a first-try success
/// adds 1 (at most 500).
///
/// Retry behavior 2.1 (smithy-rs `RetrySpec::v2_1()`, AWS_NEW_RETRIES_2026,
/// smithy-rs PR #4670): base delay 50 ms for errors other than throttling
/// (still 1 s for throttling), retry cost 14 (5 for throttling); the rest as 2.0.
///
/// Differences from smithy-rs, kept deliberately: smithy-rs charges the
/// timeout cost for every "transient" error (timeouts, I/O errors and
/// 500/502/503/504 answers), so a 500 costs 10 there; here the costs follow
/// the retry spec, by [`crate::ErrorClass`]: `Timeout` pays
/// `timeout_retry_cost`, `Throttling` pays `throttling_retry_cost`, the rest
/// `retry_cost`. Delays are whole milliseconds (drawn uniformly over the
/// whole milliseconds below the cap: the continuous draw rounded down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AwsRetryConfig {
    /// Attempts in all, the first included (`max_attempts`).
    pub attempts_max: u32,
    /// Base delay after a throttling error (`initial_backoff`).
    pub initial_backoff: Duration,
    /// Base delay after any other error (`RetrySpec::non_throttling_initial_backoff`).
    pub non_throttling_initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Tokens in a full retry quota.
    pub quota_capacity: u32,
    /// Cost of a retry after an error that is neither a timeout nor throttling.
    pub retry_cost: u32,
    pub timeout_retry_cost: u32,
    pub throttling_retry_cost: u32,
    /// Tokens a first-try success puts back (`PERMIT_REGENERATION_AMOUNT`).
    pub first_try_reward: u32,
}

impl AwsRetryConfig {
    /// Retry behavior 2.0, the defaults of the AWS SDKs' standard mode.
    pub fn v2_0() -> Self {
        AwsRetryConfig {
            attempts_max: 3,
            initial_backoff: Duration::from_secs(1),
            non_throttling_initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(20),
            quota_capacity: 500,
            retry_cost: 5,
            timeout_retry_cost: 10,
            throttling_retry_cost: 5,
            first_try_reward: 1,
        }
    }

    /// Retry behavior 2.1: 50 ms base and cost 14 unless throttled.
    pub fn v2_1() -> Self {
        AwsRetryConfig {
            non_throttling_initial_backoff: Duration::from_millis(50),
            retry_cost: 14,
            timeout_retry_cost: 14,
            throttling_retry_cost: 5,
            ..AwsRetryConfig::v2_0()
        }
    }
}

/// Apache Arrow `object_store`'s `RetryConfig::default()` and
/// `BackoffConfig::default()`: 10 retries, 180 s retry timeout, backoff from
/// 100 ms to 15 s with base 2, decorrelated jitter.
///
/// The backoff (`Backoff::next`): the first delay is exactly
/// `init_backoff`; each later one is uniform in `[init_backoff, previous *
/// base)`, at most `max_backoff` (whole milliseconds here). Retries stop
/// after `max_retries`, or once the time since the first attempt exceeds
/// `retry_timeout`: like `object_store` (`start.elapsed() > retry_timeout`),
/// the check is on the time already spent, not on time plus the coming
/// delay; wrap the policy in `Deadline` for that. `object_store` retries
/// 5xx and transport errors (timeouts only for idempotent requests, which
/// its S3 writes are), never other 4xx.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ObjectStoreConfig {
    pub init_backoff: Duration,
    pub max_backoff: Duration,
    pub base: f64,
    pub max_retries: u32,
    pub retry_timeout: Duration,
}

impl Default for ObjectStoreConfig {
    fn default() -> Self {
        ObjectStoreConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
        }
    }
}

impl PolicyConfig {
    /// Tahoe-LAFS cloud backend (2013): 0 s, 2 s, 10 s before each retry,
    /// as a plain schedule (last error returned). [`PolicyConfig::tahoe_cloud`]
    /// is the faithful version, which returns the first error.
    pub fn tahoe_cloud_backend() -> Self {
        PolicyConfig::Schedule { delays: tahoe_delays() }
    }

    /// Tahoe-LAFS cloud backend (2013, `allmydata/storage/backends/cloud/
    /// cloud_common.py`): `BACKOFF_SECONDS_BEFORE_RETRY = (0, 2, 10)`, 5xx
    /// and non-HTTP errors retried, 4xx never, the first error raised.
    pub fn tahoe_cloud() -> Self {
        PolicyConfig::Tahoe { delays: tahoe_delays(), return_first_error: true }
    }

    /// AWS standard mode, retry behavior 2.0 (see [`AwsRetryConfig::v2_0`]).
    pub fn aws_standard() -> Self {
        PolicyConfig::AwsStandard(AwsRetryConfig::v2_0())
    }

    /// AWS standard mode, retry behavior 2.1 (see [`AwsRetryConfig::v2_1`]).
    pub fn aws_standard_v2_1() -> Self {
        PolicyConfig::AwsStandard(AwsRetryConfig::v2_1())
    }

    /// AWS adaptive mode: standard 2.0 plus the CUBIC client rate limiter
    /// (smithy-rs `RetryConfig::adaptive()`: 3 attempts, 1 s, 20 s).
    pub fn aws_adaptive() -> Self {
        PolicyConfig::AwsAdaptive(AwsRetryConfig::v2_0())
    }

    /// Apache Arrow `object_store` defaults (see [`ObjectStoreConfig`]).
    pub fn object_store() -> Self {
        PolicyConfig::ObjectStore(ObjectStoreConfig::default())
    }

    /// gRPC with retry throttling at A6's example values, `maxTokens` 10 and
    /// `tokenRatio` 0.1, around exponential backoff with full jitter from
    /// 100 ms, doubling, capped at 1 s (A6's example `retryPolicy`:
    /// `initialBackoff` 0.1 s, `maxBackoff` 1 s, `backoffMultiplier` 2,
    /// delay `random(0, min(initialBackoff * multiplier^(n-1), maxBackoff))`)
    /// and 5 attempts: A6's example has 4, but gRPC caps `maxAttempts` at 5
    /// and a throttle is most visible with the most attempts it allows.
    pub fn grpc() -> Self {
        PolicyConfig::GrpcThrottled {
            inner: Box::new(PolicyConfig::Exponential {
                base: Duration::from_millis(100),
                cap: Duration::from_secs(1),
                attempts_max: 5,
                jitter: Jitter::Full,
            }),
            max_tokens: 10,
            token_ratio: 0.1,
        }
    }

    /// Finagle's default `RetryBudget()` (ttl 10 s, 10 retries per second,
    /// 20% of requests) around Finagle's `RetryPolicy.tries(3)`: decorrelated
    /// jitter from 5 ms to 200 ms (`Backoff.decorrelatedJittered(5.millis,
    /// 200.millis)`), 3 tries. `tries` has no default count; 3 is the SRE
    /// book's "3 attempts". tower's `TpsBudget` has the same defaults.
    pub fn finagle() -> Self {
        PolicyConfig::retry_budget(PolicyConfig::Exponential {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(200),
            attempts_max: 3,
            jitter: Jitter::Decorrelated,
        })
    }

    /// `inner` under Finagle's default budget: ttl 10 s, 10 retries per
    /// second, 20% of requests.
    pub fn retry_budget(inner: PolicyConfig) -> Self {
        PolicyConfig::RetryBudget {
            inner: Box::new(inner),
            ttl: Duration::from_secs(10),
            min_retries_per_sec: 10,
            percent_can_retry: 0.2,
        }
    }

    /// `inner` with one hedge after a fixed `delay` (set it to the p95 latency, per "The Tail at Scale").
    pub fn hedged(inner: PolicyConfig, delay: Duration) -> Self {
        PolicyConfig::Hedged { inner: Box::new(inner), delay, quantile: None }
    }

    /// `inner` with one hedge after the observed `quantile` of latency
    /// (0.95 in "The Tail at Scale"), `initial_delay` until enough answers are seen.
    pub fn hedged_at_quantile(inner: PolicyConfig, quantile: f64, initial_delay: Duration) -> Self {
        PolicyConfig::Hedged { inner: Box::new(inner), delay: initial_delay, quantile: Some(quantile) }
    }

    /// `inner` bounded by `deadline` on the whole operation.
    pub fn deadline(inner: PolicyConfig, deadline: Duration) -> Self {
        PolicyConfig::Deadline { inner: Box::new(inner), deadline }
    }

    /// `inner` behind a circuit breaker with resilience4j's and Polly's
    /// defaults (see [`CircuitBreakerConfig::default`]).
    pub fn circuit_breaker(inner: PolicyConfig) -> Self {
        PolicyConfig::CircuitBreaker { inner: Box::new(inner), breaker: CircuitBreakerConfig::default() }
    }

    /// `inner` under the SRE book's client-side adaptive throttling, `k` 2
    /// over 2 minutes (see [`ClientThrottleConfig::default`]).
    pub fn client_throttle(inner: PolicyConfig) -> Self {
        PolicyConfig::ClientThrottle { inner: Box::new(inner), throttle: ClientThrottleConfig::default() }
    }

    /// The policy a wrapper wraps; `None` for a policy that stands alone.
    pub fn inner(&self) -> Option<&PolicyConfig> {
        match self {
            PolicyConfig::GrpcThrottled { inner, .. }
            | PolicyConfig::RetryBudget { inner, .. }
            | PolicyConfig::Hedged { inner, .. }
            | PolicyConfig::Deadline { inner, .. }
            | PolicyConfig::CircuitBreaker { inner, .. }
            | PolicyConfig::ClientThrottle { inner, .. } => Some(inner),
            _ => None,
        }
    }

    /// The name of this layer's kind, as in a scenario file's `kind`
    /// (`immediate`, `aws-standard`, ...), for traces.
    pub fn kind_name(&self) -> &'static str {
        match self {
            PolicyConfig::None => "none",
            PolicyConfig::Immediate { .. } => "immediate",
            PolicyConfig::Schedule { .. } => "schedule",
            PolicyConfig::Exponential { .. } => "exponential",
            PolicyConfig::AwsStandard(_) => "aws-standard",
            PolicyConfig::AwsAdaptive(_) => "aws-adaptive",
            PolicyConfig::ObjectStore(_) => "object-store",
            PolicyConfig::GrpcThrottled { .. } => "grpc",
            PolicyConfig::RetryBudget { .. } => "retry-budget",
            PolicyConfig::Hedged { .. } => "hedged",
            PolicyConfig::Tahoe { .. } => "tahoe",
            PolicyConfig::Deadline { .. } => "deadline",
            PolicyConfig::CircuitBreaker { .. } => "circuit-breaker",
            PolicyConfig::ClientThrottle { .. } => "client-throttle",
        }
    }

    /// This policy and the ones it wraps, outermost first.
    pub fn layers(&self) -> impl Iterator<Item = &PolicyConfig> {
        std::iter::successors(Some(self), |config| config.inner())
    }

    /// The most attempts one operation can make (first try included); a
    /// hedge is not counted (at most one more request per operation).
    pub fn attempts_max(&self) -> u32 {
        match self {
            PolicyConfig::None => 1,
            PolicyConfig::Immediate { retries } => retries.saturating_add(1),
            PolicyConfig::Schedule { delays } | PolicyConfig::Tahoe { delays, .. } => {
                u32::try_from(delays.len()).unwrap_or(u32::MAX).saturating_add(1)
            }
            PolicyConfig::Exponential { attempts_max, .. } => *attempts_max,
            PolicyConfig::AwsStandard(c) | PolicyConfig::AwsAdaptive(c) => c.attempts_max,
            PolicyConfig::ObjectStore(c) => c.max_retries.saturating_add(1),
            PolicyConfig::GrpcThrottled { inner, .. }
            | PolicyConfig::RetryBudget { inner, .. }
            | PolicyConfig::Hedged { inner, .. }
            | PolicyConfig::Deadline { inner, .. }
            | PolicyConfig::CircuitBreaker { inner, .. }
            | PolicyConfig::ClientThrottle { inner, .. } => inner.attempts_max(),
        }
    }

    /// The longest delay the policy can choose before a retry (the adaptive
    /// mode's rate-limiter waits before first attempts are not retry delays
    /// and are not bounded by it).
    pub fn max_delay(&self) -> Duration {
        match self {
            PolicyConfig::None | PolicyConfig::Immediate { .. } => Duration::ZERO,
            PolicyConfig::Schedule { delays } | PolicyConfig::Tahoe { delays, .. } => {
                delays.iter().copied().max().unwrap_or(Duration::ZERO)
            }
            PolicyConfig::Exponential { cap, .. } => *cap,
            PolicyConfig::AwsStandard(c) | PolicyConfig::AwsAdaptive(c) => c.max_backoff,
            PolicyConfig::ObjectStore(c) => c.max_backoff,
            PolicyConfig::GrpcThrottled { inner, .. }
            | PolicyConfig::RetryBudget { inner, .. }
            | PolicyConfig::Hedged { inner, .. }
            | PolicyConfig::Deadline { inner, .. }
            | PolicyConfig::CircuitBreaker { inner, .. }
            | PolicyConfig::ClientThrottle { inner, .. } => inner.max_delay(),
        }
    }

    pub fn validate(&self) -> Result<(), PolicyError> {
        let error = |field: &'static str, message: String| Err(PolicyError { field, message });
        match self {
            PolicyConfig::None
            | PolicyConfig::Immediate { .. }
            | PolicyConfig::Schedule { .. }
            | PolicyConfig::Tahoe { .. } => Ok(()),
            PolicyConfig::Exponential { base, cap, attempts_max, .. } => {
                if *attempts_max == 0 {
                    return error("attempts_max", "must be at least 1 (the first try counts)".into());
                }
                if base > cap {
                    return error(
                        "cap_ms",
                        format!("must be >= base_ms ({} ms), got {} ms", base.as_millis(), cap.as_millis()),
                    );
                }
                if base.is_zero() {
                    return error("base_ms", "must be > 0".into());
                }
                Ok(())
            }
            PolicyConfig::AwsStandard(c) | PolicyConfig::AwsAdaptive(c) => {
                if c.attempts_max == 0 {
                    return error("attempts_max", "must be at least 1 (the first try counts)".into());
                }
                if c.max_backoff.is_zero() {
                    return error("max_backoff_ms", "must be > 0".into());
                }
                Ok(())
            }
            PolicyConfig::ObjectStore(c) => {
                if c.init_backoff.is_zero() {
                    return error("init_backoff_ms", "must be > 0".into());
                }
                if c.init_backoff > c.max_backoff {
                    return error(
                        "max_backoff_ms",
                        format!("must be >= init_backoff_ms ({} ms)", c.init_backoff.as_millis()),
                    );
                }
                if !(c.base.is_finite() && c.base >= 1.0) {
                    return error("base", format!("must be a finite number >= 1, got {}", c.base));
                }
                Ok(())
            }
            PolicyConfig::GrpcThrottled { inner, max_tokens, token_ratio } => {
                if *max_tokens == 0 {
                    return error("max_tokens", "must be > 0 (gRFC A6)".into());
                }
                if !(token_ratio.is_finite() && *token_ratio >= 0.001) {
                    return error(
                        "token_ratio",
                        format!("must be > 0 with at most 3 decimals (gRFC A6), got {token_ratio}"),
                    );
                }
                inner.validate()
            }
            PolicyConfig::RetryBudget { inner, ttl, percent_can_retry, .. } => {
                if *ttl < Duration::from_secs(1) || *ttl > Duration::from_secs(60) {
                    return error(
                        "ttl_ms",
                        format!("must be within [1 s, 60 s] (Finagle), got {} ms", ttl.as_millis()),
                    );
                }
                if !(percent_can_retry.is_finite() && (0.0..=1000.0).contains(percent_can_retry)) {
                    return error("percent_can_retry", format!("must be within [0, 1000], got {percent_can_retry}"));
                }
                inner.validate()
            }
            PolicyConfig::Hedged { inner, delay, quantile } => {
                if delay.subsec_nanos() % 1_000_000 != 0 {
                    return error("delay_ms", "must be whole milliseconds (madsim sleeps at least 1 ms)".into());
                }
                if let Some(q) = quantile {
                    if !(q.is_finite() && *q > 0.0 && *q < 1.0) {
                        return error("quantile", format!("must be within (0, 1), e.g. 0.95, got {q}"));
                    }
                }
                inner.validate()
            }
            PolicyConfig::Deadline { inner, deadline } => {
                if deadline.is_zero() {
                    return error("deadline_ms", "must be > 0".into());
                }
                inner.validate()
            }
            PolicyConfig::CircuitBreaker { inner, breaker } => {
                breaker.validate()?;
                inner.validate()
            }
            PolicyConfig::ClientThrottle { inner, throttle } => {
                throttle.validate()?;
                inner.validate()
            }
        }
    }
}

/// A duration of a breaker or throttle: whole milliseconds in
/// `[1 ms, LOAD_POLICY_DURATION_MAX]`.
fn check_load_duration(field: &'static str, duration: Duration) -> Result<(), PolicyError> {
    let message = if !duration.subsec_nanos().is_multiple_of(1_000_000) {
        "must be whole milliseconds".to_owned()
    } else if duration.is_zero() || duration > LOAD_POLICY_DURATION_MAX {
        format!("must be within [1, {}] ms, got {} ms", LOAD_POLICY_DURATION_MAX.as_millis(), duration.as_millis())
    } else {
        return Ok(());
    };
    Err(PolicyError { field, message })
}

/// A count of a breaker: within `[1, BREAKER_CALLS_MAX]`.
fn check_breaker_calls(field: &'static str, calls: u32) -> Result<(), PolicyError> {
    if (1..=BREAKER_CALLS_MAX).contains(&calls) {
        Ok(())
    } else {
        Err(PolicyError { field, message: format!("must be within [1, {BREAKER_CALLS_MAX}], got {calls}") })
    }
}

impl CircuitBreakerConfig {
    /// Field names are the scenario file's (`window_ms`, ...).
    pub fn validate(&self) -> Result<(), PolicyError> {
        check_load_duration("window_ms", self.window)?;
        check_breaker_calls("minimum_calls", self.minimum_calls)?;
        let threshold = self.failure_rate_threshold;
        if !(threshold.is_finite() && threshold > 0.0 && threshold <= 1.0) {
            return Err(PolicyError {
                field: "failure_rate_threshold",
                message: format!("must be within (0, 1], e.g. 0.5, got {threshold}"),
            });
        }
        check_load_duration("open_ms", self.open)?;
        check_breaker_calls("half_open_calls", self.half_open_calls)
    }
}

impl ClientThrottleConfig {
    /// Field names are the scenario file's (`window_ms`, `k`).
    pub fn validate(&self) -> Result<(), PolicyError> {
        check_load_duration("window_ms", self.window)?;
        if !(self.k.is_finite() && (1.0..=THROTTLE_K_MAX).contains(&self.k)) {
            return Err(PolicyError {
                field: "k",
                message: format!(
                    "must be within [1, {THROTTLE_K_MAX}] (below 1 a healthy backend is throttled), got {}",
                    self.k
                ),
            });
        }
        Ok(())
    }
}

fn tahoe_delays() -> Vec<Duration> {
    vec![Duration::ZERO, Duration::from_secs(2), Duration::from_secs(10)]
}
