//! Retry policies as pure decisions: attempt, error class and elapsed time
//! in; "retry after d" or "give up" out.
//!
//! A policy never reads a clock and never sleeps: the caller (the
//! `ObjectStore` retry layer in `retrylab-s3`) tells it how long the
//! operation has taken and does the waiting itself. The same policy object
//! therefore runs unchanged in virtual time under madsim and in real time on
//! tokio, and its decisions can be tested exhaustively without either.

use std::fmt;
use std::time::Duration;

use rand::Rng;
use rand::SeedableRng;
use retrylab_faults::SimRng;

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
}

impl ErrorClass {
    /// Only transient classes are retried; a 4xx never is.
    pub fn is_retryable(self) -> bool {
        !matches!(self, ErrorClass::ClientError)
    }

    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::ServerError => "server_error",
            ErrorClass::Throttling => "throttling",
            ErrorClass::ConnectionReset => "connection_reset",
            ErrorClass::Timeout => "timeout",
            ErrorClass::ClientError => "client_error",
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
}

impl PolicyConfig {
    /// Tahoe-LAFS cloud backend (2013): 0 s, 2 s, 10 s before each retry.
    pub fn tahoe_cloud_backend() -> Self {
        PolicyConfig::Schedule {
            delays: vec![Duration::ZERO, Duration::from_secs(2), Duration::from_secs(10)],
        }
    }

    /// The most attempts one operation can make (first try included).
    pub fn attempts_max(&self) -> u32 {
        match self {
            PolicyConfig::None => 1,
            PolicyConfig::Immediate { retries } => retries.saturating_add(1),
            PolicyConfig::Schedule { delays } => {
                u32::try_from(delays.len()).unwrap_or(u32::MAX).saturating_add(1)
            }
            PolicyConfig::Exponential { attempts_max, .. } => *attempts_max,
        }
    }

    pub fn validate(&self) -> Result<(), PolicyError> {
        if let PolicyConfig::Exponential { base, cap, attempts_max, .. } = self {
            if *attempts_max == 0 {
                return Err(PolicyError {
                    field: "attempts_max",
                    message: "must be at least 1 (the first try counts)".into(),
                });
            }
            if base > cap {
                return Err(PolicyError {
                    field: "cap_ms",
                    message: format!("must be >= base_ms ({} ms), got {} ms", base.as_millis(), cap.as_millis()),
                });
            }
            if base.is_zero() {
                return Err(PolicyError { field: "base_ms", message: "must be > 0".into() });
            }
        }
        Ok(())
    }
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GiveUp {
    /// The error class is never retried (4xx).
    NotRetryable,
    /// The policy's attempts are spent.
    AttemptsExhausted,
}

impl GiveUp {
    pub fn name(self) -> &'static str {
        match self {
            GiveUp::NotRetryable => "not_retryable",
            GiveUp::AttemptsExhausted => "attempts_exhausted",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    RetryAfter(Duration),
    GiveUp(GiveUp),
}

/// A policy bound to its own random stream (for jitter).
#[derive(Clone, Debug)]
pub struct Policy {
    config: PolicyConfig,
    rng: SimRng,
}

impl Policy {
    /// `seed` is the policy's sub-seed: jitter draws never touch the fault
    /// or latency streams, so the fault schedule does not depend on the policy.
    pub fn new(config: PolicyConfig, seed: u64) -> Self {
        Policy { config, rng: SimRng::seed_from_u64(seed) }
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Retry after a delay, or give up.
    pub fn decide(&mut self, failure: &Failure) -> Decision {
        if !failure.class.is_retryable() {
            return Decision::GiveUp(GiveUp::NotRetryable);
        }
        if failure.attempt >= self.config.attempts_max() {
            return Decision::GiveUp(GiveUp::AttemptsExhausted);
        }
        let delay = match &self.config {
            PolicyConfig::None => return Decision::GiveUp(GiveUp::AttemptsExhausted),
            PolicyConfig::Immediate { .. } => Duration::ZERO,
            PolicyConfig::Schedule { delays } => {
                let index = usize::try_from(failure.attempt - 1).unwrap_or(usize::MAX);
                delays.get(index).copied().unwrap_or(Duration::ZERO)
            }
            PolicyConfig::Exponential { base, cap, jitter, .. } => {
                backoff(*base, *cap, *jitter, failure, &mut self.rng)
            }
        };
        Decision::RetryAfter(delay)
    }
}

fn backoff(base: Duration, cap: Duration, jitter: Jitter, failure: &Failure, rng: &mut SimRng) -> Duration {
    let exponent = failure.attempt.saturating_sub(1).min(62);
    let exponential = base.saturating_mul(1u32.checked_shl(exponent.min(31)).unwrap_or(u32::MAX)).min(cap);
    let uniform = |rng: &mut SimRng, low: Duration, high: Duration| {
        if high <= low {
            low
        } else {
            // Whole milliseconds: the simulator's resolution (madsim never
            // sleeps less than 1 ms), so the delay recorded is the delay slept.
            let low_ms = low.as_millis() as u64;
            let high_ms = high.as_millis() as u64;
            if high_ms <= low_ms {
                Duration::from_millis(low_ms)
            } else {
                Duration::from_millis(rng.gen_range(low_ms..high_ms))
            }
        }
    };
    match jitter {
        Jitter::None => exponential,
        Jitter::Full => uniform(rng, Duration::ZERO, exponential),
        Jitter::Equal => exponential / 2 + uniform(rng, Duration::ZERO, exponential / 2),
        Jitter::Decorrelated => {
            let previous = failure.previous_delay.max(base);
            uniform(rng, base, previous.saturating_mul(3)).min(cap)
        }
    }
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
        assert_eq!(
            policy.decide(&failure(1, ErrorClass::ServerError)),
            Decision::GiveUp(GiveUp::AttemptsExhausted)
        );
    }

    #[test]
    fn immediate_retries_n_times_without_delay() {
        let mut policy = Policy::new(PolicyConfig::Immediate { retries: 2 }, 1);
        assert_eq!(policy.decide(&failure(1, ErrorClass::ServerError)), Decision::RetryAfter(Duration::ZERO));
        assert_eq!(policy.decide(&failure(2, ErrorClass::Timeout)), Decision::RetryAfter(Duration::ZERO));
        assert_eq!(
            policy.decide(&failure(3, ErrorClass::ServerError)),
            Decision::GiveUp(GiveUp::AttemptsExhausted)
        );
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
        let jitter = prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated)];
        prop_oneof![
            Just(PolicyConfig::None),
            (0u32..5).prop_map(|retries| PolicyConfig::Immediate { retries }),
            proptest::collection::vec(0u64..20_000, 0..5).prop_map(|ms| PolicyConfig::Schedule {
                delays: ms.into_iter().map(Duration::from_millis).collect()
            }),
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

    proptest! {
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
