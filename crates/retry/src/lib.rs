//! Retry policies as pure decisions: attempt, error class and elapsed time
//! in; "retry after d" or "give up" out.
//!
//! A policy never reads a clock and never sleeps: the caller (the
//! `ObjectStore` retry layer in `retrylab-s3`) tells it how long the
//! operation has taken and what time it is (virtual `now`), and does the
//! waiting itself. The same policy object therefore runs unchanged in
//! virtual time under madsim and in real time on tokio, and its decisions
//! can be tested exhaustively without either.
//!
//! Code map:
//!
//! - [`PolicyConfig`] (`config.rs`): the catalogue. Stand-alone policies:
//!   none, immediate, a fixed schedule, exponential backoff with Brooker's
//!   jitters, AWS standard (retry behavior 2.0 and 2.1) and adaptive modes,
//!   Apache Arrow `object_store`, Tahoe-LAFS's cloud backend. Wrappers: gRPC
//!   retry throttling, a Finagle retry budget, hedging, a deadline, and two
//!   that refuse attempts locally under load: a circuit breaker
//!   (resilience4j, Polly) and the SRE book's client-side adaptive throttling.
//! - [`Policy`] (`policy.rs`): a configuration bound to its random stream
//!   and its state, with the hooks a retry layer calls (`before_attempt`,
//!   which may refuse an attempt ([`Admit`]), `on_response`, `on_success`,
//!   `decide_at`, `hedge_after`).
//! - [`SharedBudgets`] (`shared.rs`): quotas, budgets and rate limiters
//!   shared by many clients (`Policy::with_shared`).
//! - `aws.rs`, `budget.rs`, `overload.rs`: the state machines themselves
//!   (AWS retry quota and CUBIC client rate limiter; gRPC throttle and
//!   Finagle budget; circuit breaker and client-side adaptive throttling).
//! - `backoff.rs`: delay arithmetic, in whole milliseconds.
//!
//! Delays are whole milliseconds everywhere (madsim cannot sleep less than
//! 1 ms): random delays are drawn over whole milliseconds (a continuous
//! draw rounded down), computed waits are rounded up.

mod aws;
mod backoff;
mod budget;
mod config;
mod overload;
mod policy;
mod shared;

pub use aws::{ClientRateLimiter, RequestReason, RetryQuota};
pub use budget::{GrpcThrottle, TokenRetryBudget};
pub use config::{
    AwsRetryConfig, CircuitBreakerConfig, ClientThrottleConfig, ObjectStoreConfig, PolicyConfig, BREAKER_CALLS_MAX,
    LOAD_POLICY_DURATION_MAX, THROTTLE_K_MAX,
};
pub use overload::{CircuitBreaker, ClientThrottle, SlidingCounts};
pub use policy::Policy;
pub use shared::SharedBudgets;

use std::fmt;
use std::time::Duration;

/// What went wrong with one attempt, as far as retrying is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorClass {
    /// A 5xx other than throttling, e.g. `500 InternalError`.
    ServerError,
    /// `503 SlowDown` and other throttling answers.
    Throttling,
    /// The connection dropped without a status line.
    ConnectionReset,
    /// No answer within the request timeout.
    Timeout,
    /// A 4xx: the request itself is wrong (or a precondition failed);
    /// sending it again cannot help, so it is never retried.
    ClientError,
    /// Never sent: the client's own circuit breaker or adaptive throttle
    /// refused the attempt ([`Admit::Refuse`]). Never retried.
    Refused,
}

impl ErrorClass {
    /// Only transient classes are retried; a 4xx never is, nor an attempt
    /// the client refused itself.
    pub fn is_retryable(self) -> bool {
        !matches!(self, ErrorClass::ClientError | ErrorClass::Refused)
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::ServerError => "server_error",
            ErrorClass::Throttling => "throttling",
            ErrorClass::ConnectionReset => "connection_reset",
            ErrorClass::Timeout => "timeout",
            ErrorClass::ClientError => "client_error",
            ErrorClass::Refused => "refused",
        }
    }
}

/// Randomisation of exponential backoff delays (Marc Brooker, "Exponential
/// Backoff And Jitter", AWS Architecture Blog, 2015).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// `min(cap, base * 2^(n-1))`.
    None,
    /// Uniform in `[0, min(cap, base * 2^(n-1)))`.
    Full,
    /// Half the exponential delay plus a uniform share of the other half.
    Equal,
    /// `min(cap, uniform[base, 3 * previous delay))`, starting from `base`.
    Decorrelated,
}

/// Why a policy configuration is unusable; `field` names the parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyError {
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for PolicyError {}

/// One failed attempt, as the policy sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// 1-based number of the attempt that just failed.
    pub attempt: u32,
    pub class: ErrorClass,
    /// Time since the operation's first attempt started.
    pub elapsed: Duration,
    /// The delay chosen before this attempt (zero before the first).
    pub previous_delay: Duration,
}

/// Why a policy stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GiveUp {
    /// The error class is never retried (4xx).
    NotRetryable,
    /// The policy's attempts are spent.
    AttemptsExhausted,
    /// The AWS retry quota lacks the retry's cost.
    QuotaExhausted,
    /// gRPC retry throttling: `token_count <= maxTokens / 2`.
    Throttled,
    /// The Finagle retry budget has no retry left.
    BudgetExhausted,
    /// The next retry would pass the operation's deadline (`Deadline`), or
    /// the retry timeout has passed (`object_store`).
    DeadlineExceeded,
    /// The circuit breaker is open (or half-open with its trials out): the
    /// attempt was refused and not sent.
    CircuitOpen,
    /// Client-side adaptive throttling refused the attempt: it was not sent.
    ClientThrottled,
}

impl GiveUp {
    pub fn name(self) -> &'static str {
        match self {
            GiveUp::NotRetryable => "not_retryable",
            GiveUp::AttemptsExhausted => "attempts_exhausted",
            GiveUp::QuotaExhausted => "quota_exhausted",
            GiveUp::Throttled => "retry_throttled",
            GiveUp::BudgetExhausted => "budget_exhausted",
            GiveUp::DeadlineExceeded => "deadline_exceeded",
            GiveUp::CircuitOpen => "circuit_open",
            GiveUp::ClientThrottled => "client_throttled",
        }
    }

    /// A retry refused by state shared across requests (quota, throttle or
    /// budget) rather than by this operation's own history: what a run's
    /// `retry_quota_exhausted` count counts. An attempt a circuit breaker or
    /// a client throttle refused is counted too (first tries included): it
    /// is the same kind of refusal, by load-aware shared state, and needs
    /// no counter of its own.
    pub fn is_quota_exhausted(self) -> bool {
        matches!(
            self,
            GiveUp::QuotaExhausted
                | GiveUp::Throttled
                | GiveUp::BudgetExhausted
                | GiveUp::CircuitOpen
                | GiveUp::ClientThrottled
        )
    }

    /// Whether the attempt was refused before being sent (by
    /// [`Policy::before_attempt`]) rather than given up after a failure.
    pub fn is_refusal(self) -> bool {
        matches!(self, GiveUp::CircuitOpen | GiveUp::ClientThrottled)
    }
}

/// What [`Policy::before_attempt`] says about the coming attempt.
#[must_use = "a refused attempt must not be sent"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Send it after this wait (zero but in AWS adaptive mode).
    After(Duration),
    /// Do not send it: the operation ends here, with this reason.
    Refuse(GiveUp),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    RetryAfter(Duration),
    GiveUp(GiveUp),
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn failure(attempt: u32, class: ErrorClass) -> Failure {
        Failure { attempt, class, elapsed: Duration::ZERO, previous_delay: Duration::ZERO }
    }

    #[test]
    fn none_never_retries() {
        let mut policy = Policy::new(PolicyConfig::None, 1);
        assert_eq!(policy.decide(&failure(1, ErrorClass::ServerError)), Decision::GiveUp(GiveUp::AttemptsExhausted));
    }

    #[test]
    fn immediate_retries_n_times_without_delay() {
        let mut policy = Policy::new(PolicyConfig::Immediate { retries: 2 }, 1);
        assert_eq!(policy.decide(&failure(1, ErrorClass::ServerError)), Decision::RetryAfter(Duration::ZERO));
        assert_eq!(policy.decide(&failure(2, ErrorClass::Timeout)), Decision::RetryAfter(Duration::ZERO));
        assert_eq!(policy.decide(&failure(3, ErrorClass::ServerError)), Decision::GiveUp(GiveUp::AttemptsExhausted));
    }

    #[test]
    fn schedule_follows_tahoe_delays() {
        let mut policy = Policy::new(PolicyConfig::tahoe_cloud_backend(), 1);
        let delays: Vec<_> = (1..=4).map(|n| policy.decide(&failure(n, ErrorClass::ServerError))).collect();
        assert_eq!(
            delays,
            vec![
                Decision::RetryAfter(Duration::ZERO),
                Decision::RetryAfter(Duration::from_secs(2)),
                Decision::RetryAfter(Duration::from_secs(10)),
                Decision::GiveUp(GiveUp::AttemptsExhausted),
            ]
        );
    }

    #[test]
    fn exponential_without_jitter_doubles_up_to_cap() {
        let config = PolicyConfig::Exponential {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(500),
            attempts_max: 6,
            jitter: Jitter::None,
        };
        let mut policy = Policy::new(config, 1);
        let delays: Vec<_> = (1..=5)
            .map(|n| match policy.decide(&failure(n, ErrorClass::Throttling)) {
                Decision::RetryAfter(d) => d.as_millis(),
                Decision::GiveUp(_) => u128::MAX,
            })
            .collect();
        assert_eq!(delays, vec![100, 200, 400, 500, 500]);
    }

    fn any_class() -> impl Strategy<Value = ErrorClass> {
        prop_oneof![
            Just(ErrorClass::ServerError),
            Just(ErrorClass::Throttling),
            Just(ErrorClass::ConnectionReset),
            Just(ErrorClass::Timeout),
            Just(ErrorClass::ClientError),
        ]
    }

    fn any_config() -> impl Strategy<Value = PolicyConfig> {
        let jitter =
            prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated)];
        prop_oneof![
            Just(PolicyConfig::None),
            (0u32..5).prop_map(|retries| PolicyConfig::Immediate { retries }),
            proptest::collection::vec(0u64..20_000, 0..5)
                .prop_map(|ms| PolicyConfig::Schedule { delays: ms.into_iter().map(Duration::from_millis).collect() }),
            (1u64..1000, 1u64..100, 1u32..12, jitter).prop_map(|(base, factor, attempts_max, jitter)| {
                PolicyConfig::Exponential {
                    base: Duration::from_millis(base),
                    cap: Duration::from_millis(base * factor),
                    attempts_max,
                    jitter,
                }
            }),
        ]
    }

    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/proptest_seed.rs"));

    proptest! {

        // Failing cases are kept in the workspace's proptest-regressions/ (committed).

        #![proptest_config(ProptestConfig { rng_seed: proptest_rng_seed(), failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proptest-regressions/retry-lib.txt")))), ..ProptestConfig::default() })]
        #[test]
        fn client_errors_are_never_retried(config in any_config(), attempt in 1u32..20, seed: u64) {
            let mut policy = Policy::new(config, seed);
            prop_assert_eq!(
                policy.decide(&failure(attempt, ErrorClass::ClientError)),
                Decision::GiveUp(GiveUp::NotRetryable)
            );
        }

        #[test]
        fn attempts_never_exceed_the_maximum(config in any_config(), class in any_class(), seed: u64) {
            let attempts_max = config.attempts_max();
            let mut policy = Policy::new(config, seed);
            let mut attempt = 1;
            let mut previous_delay = Duration::ZERO;
            while let Decision::RetryAfter(delay) = policy.decide(&Failure {
                attempt, class, elapsed: Duration::ZERO, previous_delay,
            }) {
                previous_delay = delay;
                attempt += 1;
                prop_assert!(attempt <= attempts_max);
            }
        }

        #[test]
        fn jittered_delays_stay_within_cap(config in any_config(), attempt in 1u32..12, seed: u64, prev_ms in 0u64..100_000) {
            let cap = match &config { PolicyConfig::Exponential { cap, .. } => Some(*cap), _ => None };
            let mut policy = Policy::new(config, seed);
            let decision = policy.decide(&Failure {
                attempt, class: ErrorClass::ServerError, elapsed: Duration::ZERO,
                previous_delay: Duration::from_millis(prev_ms),
            });
            if let (Some(cap), Decision::RetryAfter(delay)) = (cap, decision) {
                prop_assert!(delay <= cap, "{:?} > {:?}", delay, cap);
            }
        }
    }
}
