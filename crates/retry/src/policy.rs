//! [`Policy`]: a [`PolicyConfig`] bound to its random stream and to its
//! (possibly shared) retry state, with the hooks a retry layer calls.
//!
//! The calls, in the order a retry layer makes them for one operation:
//!
//! 1. [`Policy::before_attempt`]`(now, attempt)` before sending each
//!    attempt: whether to send it at all (a circuit breaker or a client
//!    throttle may refuse it: [`Admit::Refuse`], and the operation ends
//!    there, unsent), and how long to wait first (the AWS adaptive rate
//!    limiter; zero for every other policy). A Finagle budget counts the
//!    request here.
//! 2. [`Policy::hedge_after`]: whether to send a hedge if the attempt is slow.
//! 3. [`Policy::on_response`]`(now, throttled)` for every answer (adaptive
//!    mode measures the send rate and reacts to throttling), and
//!    [`Policy::observe_latency`] with how long it took (a hedge at an
//!    observed quantile learns from it).
//! 4. On success, [`Policy::on_success`]`(now, attempt)` (refunds, rewards);
//!    on failure, [`Policy::decide_at`]`(now, failure)`: retry after a
//!    delay, or give up. Either way the attempt's outcome goes to a circuit
//!    breaker's window and a client throttle's accepts: one outcome per
//!    attempt admitted (a hedged pair is one attempt).
//!
//! Time only comes in as arguments (`now`, `elapsed`): the policy never
//! reads a clock and never sleeps.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use retrylab_faults::SimRng;

use crate::aws::{ClientRateLimiter, RequestReason, RetryQuota};
use crate::backoff;
use crate::budget::{GrpcThrottle, TokenRetryBudget};
use crate::config::{AwsRetryConfig, CircuitBreakerConfig, ClientThrottleConfig, ObjectStoreConfig, PolicyConfig};
use crate::overload::{CircuitBreaker, ClientThrottle};
use crate::shared::{Budgets, SharedBudgets};
use crate::{Admit, Decision, ErrorClass, Failure, GiveUp, Jitter};

/// A policy bound to its own random stream (for jitter) and its retry state.
///
/// Cloning a policy clones its random stream but not its shared state: the
/// clone draws on the same quotas and budgets, like another client given
/// the same [`SharedBudgets`].
#[derive(Clone, Debug)]
pub struct Policy {
    config: PolicyConfig,
    rng: SimRng,
    shared: SharedBudgets,
    /// AWS: the quota tokens the last retry took (smithy-rs's retry permit,
    /// held per client). A success gives them back; a new retry replaces
    /// them (the old ones are not returned); giving up drops them.
    held_permit: Option<u32>,
    quota_exhausted: u64,
    /// The latest `now` any hook was given (used by [`Policy::decide`]).
    last_now: Duration,
    /// Recent answer latencies, for a hedge at an observed quantile
    /// (`Some` from the start for such a hedge, so answers need no lookup).
    latencies: Option<LatencyWindow>,
}

/// The last [`LatencyWindow::SIZE`] latencies in whole milliseconds, and
/// their quantile, recomputed every [`LatencyWindow::RECOMPUTE_EVERY`]
/// answers (sorting on every request would cost more than the request).
#[derive(Clone, Debug)]
struct LatencyWindow {
    quantile: f64,
    ring: Vec<u64>,
    next: usize,
    since_recompute: u32,
    current: Option<Duration>,
}

impl LatencyWindow {
    const SIZE: usize = 1000;
    /// Answers seen before the observed quantile replaces the initial delay.
    const WARMUP: usize = 20;
    const RECOMPUTE_EVERY: u32 = 20;

    fn new(quantile: f64) -> Self {
        LatencyWindow { quantile, ring: Vec::new(), next: 0, since_recompute: 0, current: None }
    }

    fn observe(&mut self, latency: Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        if self.ring.len() < Self::SIZE {
            self.ring.push(ms);
        } else {
            self.ring[self.next] = ms;
        }
        self.next = (self.next + 1) % Self::SIZE;
        self.since_recompute += 1;
        if self.ring.len() >= Self::WARMUP && (self.current.is_none() || self.since_recompute >= Self::RECOMPUTE_EVERY)
        {
            let mut sorted = self.ring.clone();
            sorted.sort_unstable();
            // Nearest rank, at least 1 ms (madsim's resolution).
            let rank = ((self.quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
            self.current = Some(Duration::from_millis(sorted[rank - 1].max(1)));
            self.since_recompute = 0;
        }
    }
}

impl Policy {
    /// `seed` is the policy's sub-seed: jitter draws never touch the fault
    /// or latency streams, so the fault schedule does not depend on the
    /// policy. Quotas and budgets are this policy's own.
    pub fn new(config: PolicyConfig, seed: u64) -> Self {
        Policy::with_shared(config, seed, &SharedBudgets::new())
    }

    /// Like [`Policy::new`], but quotas, budgets, throttles and rate
    /// limiters live in `shared`, common to every policy given it.
    pub fn with_shared(config: PolicyConfig, seed: u64, shared: &SharedBudgets) -> Self {
        let latencies = config.layers().find_map(|layer| match layer {
            PolicyConfig::Hedged { quantile: Some(q), .. } => Some(LatencyWindow::new(*q)),
            _ => None,
        });
        Policy {
            config,
            rng: SimRng::seed_from_u64(seed),
            shared: shared.clone(),
            held_permit: None,
            quota_exhausted: 0,
            last_now: Duration::ZERO,
            latencies,
        }
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    pub fn shared(&self) -> &SharedBudgets {
        &self.shared
    }

    /// Retries this policy refused because a quota, budget or throttle was
    /// exhausted ([`GiveUp::is_quota_exhausted`]); `shared().quota_exhausted()`
    /// counts them over every policy sharing the state.
    pub fn quota_exhausted_count(&self) -> u64 {
        self.quota_exhausted
    }

    /// The hedge delay, if the policy hedges: send a second copy of an
    /// attempt that has not answered after this long. `None` while a gRPC
    /// throttle is at or below half its tokens (A6: "hedged RPCs will not be
    /// sent"). Hedges draw on no quota or budget.
    pub fn hedge_after(&self) -> Option<Duration> {
        let delay = self.config.layers().find_map(|layer| match layer {
            PolicyConfig::Hedged { delay, quantile, .. } => {
                let observed = quantile.and(self.latencies.as_ref().and_then(|window| window.current));
                Some(observed.unwrap_or(*delay))
            }
            _ => None,
        })?;
        let throttled = self.config.layers().any(|layer| matches!(layer, PolicyConfig::GrpcThrottled { .. }))
            && self.shared.with(|b| b.grpc.as_ref().is_some_and(GrpcThrottle::is_throttled));
        (!throttled).then_some(delay)
    }

    /// Whether a failed operation reports its first error rather than its
    /// last (Tahoe-LAFS's cloud backend).
    pub fn returns_first_error(&self) -> bool {
        self.config.layers().any(|layer| matches!(layer, PolicyConfig::Tahoe { return_first_error: true, .. }))
    }

    /// Called before sending attempt `attempt` (1-based) at `now`: whether
    /// to send it, and after how long a wait.
    ///
    /// First, a circuit breaker or client throttle (outermost first) may
    /// refuse it, first tries and retries alike: [`Admit::Refuse`] with
    /// [`GiveUp::CircuitOpen`] or [`GiveUp::ClientThrottled`]; the caller
    /// sends nothing and ends the operation. A refusal is counted like a
    /// quota's ([`GiveUp::is_quota_exhausted`]). A client throttle counts
    /// every attempt it sees as a request, refused or not, and draws on the
    /// policy's own random stream only when its probability is above zero.
    ///
    /// Otherwise [`Admit::After`] says how long
    /// to wait before sending. Zero except in AWS adaptive mode, whose rate
    /// limiter (once a throttling error has enabled it) makes a first attempt
    /// wait for its token (rounded up to whole milliseconds). A retry's wait
    /// is part of its delay (see [`Policy::decide_at`]), so it is zero here.
    /// A Finagle budget counts each operation's first attempt as a deposit.
    pub fn before_attempt(&mut self, now: Duration, attempt: u32) -> Admit {
        self.last_now = now;
        if let Some(reason) = self.refusal(now) {
            self.quota_exhausted += 1;
            self.shared.with(|b| b.quota_exhausted += 1);
            return Admit::Refuse(reason);
        }
        if attempt != 1 {
            return Admit::After(Duration::ZERO);
        }
        let mut wait = Duration::ZERO;
        for layer in self.config.layers() {
            match layer {
                PolicyConfig::AwsAdaptive(_) => {
                    let seconds = self.shared.with(|b| limiter(b, now).acquire(now, RequestReason::InitialRequest));
                    wait = wait.saturating_add(backoff::ceil_ms_from_secs(seconds));
                }
                PolicyConfig::RetryBudget { ttl, min_retries_per_sec, percent_can_retry, .. } => {
                    self.shared.with(|b| {
                        b.budget
                            .get_or_insert_with(|| {
                                TokenRetryBudget::new(*ttl, *min_retries_per_sec, *percent_can_retry)
                            })
                            .deposit(now)
                    });
                }
                _ => {}
            }
        }
        Admit::After(wait)
    }

    /// Why the coming attempt is refused, if a breaker or throttle refuses
    /// it; the first layer (outermost) that refuses decides, and the layers
    /// inside it are not asked.
    fn refusal(&mut self, now: Duration) -> Option<GiveUp> {
        for layer in self.config.layers() {
            match layer {
                // The guard runs once per attempt: admitting may take a half-open trial slot.
                PolicyConfig::CircuitBreaker { breaker: config, .. }
                    if !self.shared.with(|b| breaker(b, config).try_admit(now)) =>
                {
                    return Some(GiveUp::CircuitOpen);
                }
                PolicyConfig::ClientThrottle { throttle: config, .. } => {
                    let probability = self.shared.with(|b| {
                        let throttle = client_throttle(b, config);
                        let probability = throttle.rejection_probability(now);
                        throttle.count_request(now);
                        probability
                    });
                    if probability > 0.0 && self.rng.gen::<f64>() < probability {
                        return Some(GiveUp::ClientThrottled);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// An admitted attempt's outcome, for breakers and client throttles:
    /// `failed` when it was a retryable failure (a 4xx is an answer).
    fn record_outcome(&mut self, now: Duration, failed: bool) {
        for layer in self.config.layers() {
            match layer {
                PolicyConfig::CircuitBreaker { breaker: config, .. } => {
                    self.shared.with(|b| breaker(b, config).record(now, failed));
                }
                PolicyConfig::ClientThrottle { throttle: config, .. } if !failed => {
                    self.shared.with(|b| client_throttle(b, config).count_accept(now));
                }
                _ => {}
            }
        }
    }

    /// Called for every answer to an attempt (success or error; a timeout
    /// counts), at `now`: `throttled` when it was a throttling error.
    /// Updates the AWS adaptive limiter's measured rate and CUBIC fill rate.
    pub fn on_response(&mut self, now: Duration, throttled: bool) {
        self.last_now = now;
        for layer in self.config.layers() {
            if let PolicyConfig::AwsAdaptive(_) = layer {
                self.shared.with(|b| limiter(b, now).update(now, throttled));
            }
        }
    }

    /// Called with the latency of every answer (each copy of a hedged pair
    /// from its own send). Only a hedge at an observed quantile keeps them.
    pub fn observe_latency(&mut self, latency: Duration) {
        if let Some(window) = &mut self.latencies {
            window.observe(latency);
        }
    }

    /// Called when an operation's attempt (1-based; a hedged pair is one
    /// attempt) succeeded, at `now`. AWS: if a retry's tokens are held, they
    /// go back to the quota (a successful retry refunds its cost), otherwise
    /// a first-try success adds `first_try_reward` (smithy-rs
    /// `release_retry_permit`). gRPC: the throttle gets `token_ratio` back.
    ///
    /// The AWS quota does not look at the attempt number: like smithy-rs it
    /// refunds whatever retry permit this client holds, which for one
    /// operation at a time is exactly "a successful retry refunds its cost"
    /// (with concurrent operations, a first-try success may refund another
    /// operation's retry instead of adding 1, as in smithy-rs).
    pub fn on_success(&mut self, now: Duration, _attempt: u32) {
        self.last_now = now;
        self.record_outcome(now, false);
        for layer in self.config.layers() {
            match layer {
                PolicyConfig::AwsStandard(c) | PolicyConfig::AwsAdaptive(c) => {
                    let amount = self.held_permit.take().unwrap_or(c.first_try_reward);
                    self.shared.with(|b| quota(b, c).release(amount));
                }
                PolicyConfig::GrpcThrottled { max_tokens, token_ratio, .. } => {
                    self.shared.with(|b| grpc(b, *max_tokens, *token_ratio).on_success());
                }
                _ => {}
            }
        }
    }

    /// Retry after a delay, or give up, at the latest `now` given to a hook
    /// (virtual time zero if none was). Policies that do not look at the
    /// time (all but AWS adaptive and Finagle's budget) decide the same
    /// either way; a retry layer should call [`Policy::decide_at`].
    pub fn decide(&mut self, failure: &Failure) -> Decision {
        self.decide_at(self.last_now, failure)
    }

    /// Retry after a delay, or give up, for `failure` observed at `now`.
    /// A 4xx is never retried, by any policy. Delays are whole milliseconds.
    pub fn decide_at(&mut self, now: Duration, failure: &Failure) -> Decision {
        self.last_now = now;
        if failure.class != ErrorClass::Refused {
            self.record_outcome(now, failure.class.is_retryable());
        }
        let decision = if failure.class.is_retryable() {
            let mut context = Context { rng: &mut self.rng, shared: &self.shared, held_permit: &mut self.held_permit };
            decide_in(&self.config, &mut context, failure, now)
        } else {
            Decision::GiveUp(GiveUp::NotRetryable)
        };
        if let Decision::GiveUp(reason) = decision {
            // The operation failed: its retry tokens are not given back.
            self.held_permit = None;
            if reason.is_quota_exhausted() {
                self.quota_exhausted += 1;
                self.shared.with(|b| b.quota_exhausted += 1);
            }
        }
        decision
    }
}

/// What a decision may touch besides the configuration.
struct Context<'a> {
    rng: &'a mut SimRng,
    shared: &'a SharedBudgets,
    held_permit: &'a mut Option<u32>,
}

fn decide_in(config: &PolicyConfig, context: &mut Context<'_>, failure: &Failure, now: Duration) -> Decision {
    let attempt = failure.attempt;
    let exhausted = Decision::GiveUp(GiveUp::AttemptsExhausted);
    match config {
        PolicyConfig::None => exhausted,
        PolicyConfig::Immediate { retries } => {
            if attempt > *retries {
                exhausted
            } else {
                Decision::RetryAfter(Duration::ZERO)
            }
        }
        PolicyConfig::Schedule { delays } | PolicyConfig::Tahoe { delays, .. } => {
            let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
            match delays.get(index) {
                Some(delay) if attempt >= 1 => Decision::RetryAfter(*delay),
                _ => exhausted,
            }
        }
        PolicyConfig::Exponential { base, cap, attempts_max, jitter } => {
            if attempt >= *attempts_max {
                exhausted
            } else {
                Decision::RetryAfter(backoff::jittered(
                    *base,
                    *cap,
                    *jitter,
                    attempt,
                    failure.previous_delay,
                    context.rng,
                ))
            }
        }
        PolicyConfig::AwsStandard(c) => aws(c, false, context, failure, now),
        PolicyConfig::AwsAdaptive(c) => aws(c, true, context, failure, now),
        PolicyConfig::ObjectStore(c) => object_store(c, context, failure),
        PolicyConfig::GrpcThrottled { inner, max_tokens, token_ratio } => {
            // grpc-go's order: the failure takes its token first, then the
            // throttle is checked, then the attempts.
            if context.shared.with(|b| grpc(b, *max_tokens, *token_ratio).on_failure()) {
                Decision::GiveUp(GiveUp::Throttled)
            } else {
                decide_in(inner, context, failure, now)
            }
        }
        PolicyConfig::RetryBudget { inner, ttl, min_retries_per_sec, percent_can_retry } => {
            match decide_in(inner, context, failure, now) {
                Decision::RetryAfter(delay) => {
                    let allowed = context.shared.with(|b| {
                        b.budget
                            .get_or_insert_with(|| {
                                TokenRetryBudget::new(*ttl, *min_retries_per_sec, *percent_can_retry)
                            })
                            .try_withdraw(now)
                    });
                    if allowed {
                        Decision::RetryAfter(delay)
                    } else {
                        Decision::GiveUp(GiveUp::BudgetExhausted)
                    }
                }
                give_up => give_up,
            }
        }
        // Breakers and throttles refuse before attempts, not after failures.
        PolicyConfig::Hedged { inner, .. }
        | PolicyConfig::CircuitBreaker { inner, .. }
        | PolicyConfig::ClientThrottle { inner, .. } => decide_in(inner, context, failure, now),
        PolicyConfig::Deadline { inner, deadline } => {
            if failure.elapsed > *deadline {
                return Decision::GiveUp(GiveUp::DeadlineExceeded);
            }
            match decide_in(inner, context, failure, now) {
                Decision::RetryAfter(delay) if failure.elapsed.saturating_add(delay) > *deadline => {
                    Decision::GiveUp(GiveUp::DeadlineExceeded)
                }
                decision => decision,
            }
        }
    }
}

/// smithy-rs `StandardRetryStrategy::should_attempt_retry`, after the
/// classifier: attempts, then the delay (the adaptive limiter's wait if it
/// imposes one, else the jittered backoff), then the quota.
fn aws(c: &AwsRetryConfig, adaptive: bool, context: &mut Context<'_>, failure: &Failure, now: Duration) -> Decision {
    if failure.attempt >= c.attempts_max {
        return Decision::GiveUp(GiveUp::AttemptsExhausted);
    }
    let throttling = failure.class == ErrorClass::Throttling;
    let limited = if adaptive {
        let reason = if throttling { RequestReason::RetryTimeout } else { RequestReason::Retry };
        let seconds = context.shared.with(|b| limiter(b, now).acquire(now, reason));
        (seconds > 0.0).then(|| backoff::ceil_ms_from_secs(seconds).min(c.max_backoff))
    } else {
        None
    };
    let delay = limited.unwrap_or_else(|| {
        let base = if throttling { c.initial_backoff } else { c.non_throttling_initial_backoff };
        backoff::jittered(base, c.max_backoff, Jitter::Full, failure.attempt, Duration::ZERO, context.rng)
    });
    let cost = match failure.class {
        ErrorClass::Throttling => c.throttling_retry_cost,
        ErrorClass::Timeout => c.timeout_retry_cost,
        _ => c.retry_cost,
    };
    if !context.shared.with(|b| quota(b, c).try_acquire(cost)) {
        return Decision::GiveUp(GiveUp::QuotaExhausted);
    }
    *context.held_permit = Some(cost);
    Decision::RetryAfter(delay)
}

fn object_store(c: &ObjectStoreConfig, context: &mut Context<'_>, failure: &Failure) -> Decision {
    if failure.attempt > c.max_retries {
        return Decision::GiveUp(GiveUp::AttemptsExhausted);
    }
    if failure.elapsed > c.retry_timeout {
        return Decision::GiveUp(GiveUp::DeadlineExceeded);
    }
    Decision::RetryAfter(backoff::object_store(
        c.init_backoff,
        c.max_backoff,
        c.base,
        failure.attempt,
        failure.previous_delay,
        context.rng,
    ))
}

fn quota<'b>(budgets: &'b mut Budgets, c: &AwsRetryConfig) -> &'b mut RetryQuota {
    budgets.aws_quota.get_or_insert_with(|| RetryQuota::new(c.quota_capacity))
}

fn limiter(budgets: &mut Budgets, now: Duration) -> &mut ClientRateLimiter {
    budgets.aws_limiter.get_or_insert_with(|| ClientRateLimiter::new(now))
}

fn grpc(budgets: &mut Budgets, max_tokens: u32, token_ratio: f64) -> &mut GrpcThrottle {
    budgets.grpc.get_or_insert_with(|| GrpcThrottle::new(max_tokens, token_ratio))
}

fn breaker<'b>(budgets: &'b mut Budgets, config: &CircuitBreakerConfig) -> &'b mut CircuitBreaker {
    budgets.breaker.get_or_insert_with(|| CircuitBreaker::new(*config))
}

fn client_throttle<'b>(budgets: &'b mut Budgets, config: &ClientThrottleConfig) -> &'b mut ClientThrottle {
    budgets.client_throttle.get_or_insert_with(|| ClientThrottle::new(*config))
}
