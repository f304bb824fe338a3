//! Retry layers: [`RetryLayer`], the loop that applies a retry policy to any
//! operation, and [`RetryingStore`], that loop at the `ObjectStore`
//! interface (with hedging). The clock and sleeper are a parameter, so the
//! same code runs in virtual time (madsim) and real time (tokio).
//!
//! One operation (`RetryLayer::run`) runs the policy's hooks in this order:
//!
//! 1. `Policy::before_attempt(now, attempt)` before every attempt. A
//!    refusal (`Admit::Refuse`: a circuit breaker open, a client throttle)
//!    ends the operation there: nothing is sent, the error returned is
//!    `Retryable::refused(reason)`, traced as `GaveUp { attempt, reason }`
//!    with `attempt` the attempts sent (0 if the first try was refused),
//!    and counted in `gave_up` and
//!    `quota_exhausted` (not in `attempts`: a refused retry is counted in
//!    `retries`, as decided, but sent nothing). A non-zero wait (AWS
//!    adaptive mode's rate limiter) is slept first and traced as a
//!    `Note { what: "rate_limit_wait_ms" }`.
//! 2. The attempt is sent. If `Policy::hedge_after()` gives a delay and the
//!    operation has not hedged yet, a second copy is sent when the first has
//!    not answered within that delay (traced as `Note { what: "hedge" }`);
//!    the first success or 4xx of the two wins and the other is dropped,
//!    which cancels it (if S3 has already applied it, it stays applied). If
//!    the first to answer fails with a retryable error, the other is awaited.
//!    The pair counts as one attempt for the policy.
//! 3. `Policy::on_response(now, throttled)` for every answer received.
//! 4. Success: `Policy::on_success(now, attempt)`. Failure:
//!    `Policy::decide_at(now, failure)`; a retry is slept and traced as
//!    `RetryDecided`, a give-up as `GaveUp`. The error returned is the last
//!    one, or the operation's first if `Policy::returns_first_error()`.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use futures::future::{select, Either};
use retrylab_retry::{Admit, Decision, ErrorClass, Failure, GiveUp, Policy, PolicyConfig};
use retrylab_sim::{Detail, EventKind, NodeId, SimClock, TaskContext, Trace};

use crate::store::ObjectStore;
use crate::types::{S3Request, S3Response, StoreError};

/// Time as the retry layer needs it: a reading for `elapsed`, and a sleep.
pub trait Clock {
    fn now(&self) -> Duration;
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()>;
}

impl Clock for SimClock {
    fn now(&self) -> Duration {
        SimClock::now(self)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> {
        SimClock::sleep(self, duration)
    }
}

/// Totals kept by a [`RetryingStore`] (read them before and after an
/// operation to attribute attempts to it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryCounters {
    /// Requests sent: first tries, retries and hedges, so that
    /// `attempts = operations + retries + hedges`.
    pub attempts: u64,
    pub retries: u64,
    /// Requests whose final answer was an error.
    pub gave_up: u64,
    /// Give-ups because a retry quota, throttle or budget was exhausted, or
    /// because a circuit breaker or client throttle refused an attempt
    /// (`GiveUp::is_quota_exhausted`); included in `gave_up`.
    pub quota_exhausted: u64,
    /// Hedge requests sent (at most one per operation).
    pub hedges: u64,
}

/// A retry policy with its clock, counters and trace: the loop every retry
/// layer runs, whatever it retries (an S3 request in [`RetryingStore`], a
/// whole gateway operation in the harness). Layers stack: each has its own
/// `RetryLayer`, so a gateway layer over a server layer multiplies attempts.
pub struct RetryLayer<C> {
    clock: C,
    policy: RefCell<Policy>,
    counters: Cell<RetryCounters>,
    /// Where decisions are recorded in simulation; `None` in real mode.
    trace: Option<(Trace, NodeId)>,
}

/// An error a retry layer can classify, and build when its policy refuses
/// an attempt.
pub trait Retryable {
    fn class(&self) -> ErrorClass;

    /// The error of an operation whose attempt the policy refused before
    /// sending it (`reason` is `GiveUp::CircuitOpen` or
    /// `GiveUp::ClientThrottled`); its class must be `ErrorClass::Refused`.
    fn refused(reason: GiveUp) -> Self;

    /// The error's name in a trace (`InternalError`, `timeout`, ...).
    fn trace_name(&self) -> &'static str {
        self.class().name()
    }
}

impl Retryable for StoreError {
    fn class(&self) -> ErrorClass {
        StoreError::class(*self)
    }

    fn refused(reason: GiveUp) -> Self {
        StoreError::Refused(reason)
    }

    fn trace_name(&self) -> &'static str {
        self.name()
    }
}

/// What one attempt (possibly a hedged pair) came to.
pub struct Attempted<T, E> {
    pub result: Result<T, E>,
    /// The error of the copy that failed first, when a hedged pair both failed.
    pub earlier_error: Option<E>,
    /// Whether a hedge was sent.
    pub hedged: bool,
}

impl<T, E> Attempted<T, E> {
    /// An attempt sent once.
    pub fn single(result: Result<T, E>) -> Self {
        Attempted { result, earlier_error: None, hedged: false }
    }
}

impl<C: Clock> RetryLayer<C> {
    pub fn new(clock: C, policy: Policy) -> Self {
        RetryLayer { clock, policy: RefCell::new(policy), counters: Cell::new(RetryCounters::default()), trace: None }
    }

    /// Records every retry decision in `trace` as an event of `node`.
    pub fn with_trace(mut self, trace: Trace, node: NodeId) -> Self {
        self.trace = Some((trace, node));
        self
    }

    pub fn counters(&self) -> RetryCounters {
        self.counters.get()
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Reads the policy (e.g. `quota_exhausted_count`, or its shared state).
    pub fn with_policy<R>(&self, f: impl FnOnce(&Policy) -> R) -> R {
        f(&self.policy.borrow())
    }

    /// The policy's hedge delay, for an operation that has not hedged yet.
    pub fn hedge_after(&self) -> Option<Duration> {
        self.policy.borrow().hedge_after()
    }

    fn count(&self, update: impl FnOnce(&mut RetryCounters)) {
        let mut counters = self.counters.get();
        update(&mut counters);
        self.counters.set(counters);
    }

    /// Counts a hedge sent by an attempt (it is a request of its own).
    pub fn count_hedge(&self, attempt: u32) {
        self.record(EventKind::Note { what: "hedge", value: u64::from(attempt) });
        self.count(|c| {
            c.attempts += 1;
            c.hedges += 1;
        });
    }

    fn record(&self, kind: EventKind) {
        if let Some((trace, node)) = &self.trace {
            trace.record(*node, kind);
        }
    }

    /// Records a retry decision on attempt `attempt` after `error`, with
    /// why: the policy, the error and its class, the time spent, and where
    /// the policy has them, the quota or tokens left and the deadline.
    fn record_decision<E: Retryable>(&self, kind: EventKind, attempt: u32, error: &E, elapsed: Duration) {
        let Some((trace, node)) = &self.trace else { return };
        TaskContext::attempt(attempt).run_in(|| {
            trace.record_with(*node, kind, || {
                let policy = self.policy.borrow();
                decision_detail(&policy, error, elapsed)
            });
        });
    }

    /// Tells the policy an answer arrived, for a request sent at `sent_at`.
    pub fn answered<T, E: Retryable>(&self, result: &Result<T, E>, sent_at: Duration) {
        let throttled = matches!(result, Err(error) if error.class() == ErrorClass::Throttling);
        let now = self.clock.now();
        let mut policy = self.policy.borrow_mut();
        policy.on_response(now, throttled);
        policy.observe_latency(now.saturating_sub(sent_at));
    }

    /// Runs one operation: `attempt(n, hedge)` sends attempt n (1-based),
    /// hedged after `hedge` when the policy hedges and the operation has
    /// not hedged yet; the attempt calls [`RetryLayer::answered`] for every
    /// answer and [`RetryLayer::count_hedge`] for a hedge it sends.
    pub async fn run<T, E, F, Fut>(&self, mut attempt: F) -> Result<T, E>
    where
        E: Retryable + Clone,
        F: FnMut(u32, Option<Duration>) -> Fut,
        Fut: Future<Output = Attempted<T, E>>,
    {
        let start = self.clock.now();
        let mut attempt_number = 1;
        let mut previous_delay = Duration::ZERO;
        let mut first_error: Option<E> = None;
        let mut hedged = false;
        loop {
            let now = self.clock.now();
            let admit = self.policy.borrow_mut().before_attempt(now, attempt_number);
            let wait = match admit {
                Admit::After(wait) => wait,
                Admit::Refuse(reason) => return Err(self.refuse(attempt_number, reason, now.saturating_sub(start))),
            };
            if !wait.is_zero() {
                self.record(EventKind::Note {
                    what: "rate_limit_wait_ms",
                    value: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                });
                self.clock.sleep(wait).await;
            }
            self.count(|c| c.attempts += 1);
            let hedge = if hedged { None } else { self.hedge_after() };
            // Every event of the attempt (requests, faults, inner layers'
            // decisions) names it in a full trace.
            let outcome = TaskContext::attempt(attempt_number).scope(attempt(attempt_number, hedge)).await;
            hedged |= outcome.hedged;
            let error = match outcome.result {
                Ok(value) => {
                    self.policy.borrow_mut().on_success(self.clock.now(), attempt_number);
                    return Ok(value);
                }
                Err(error) => error,
            };
            if first_error.is_none() {
                // Kept for policies that report the operation's first error
                // (Tahoe's cloud backend); a hedged pair's first is the copy
                // that failed first.
                first_error = Some(outcome.earlier_error.unwrap_or_else(|| error.clone()));
            }
            let now = self.clock.now();
            let failure = Failure {
                attempt: attempt_number,
                class: error.class(),
                elapsed: now.saturating_sub(start),
                previous_delay,
            };
            let decision = self.policy.borrow_mut().decide_at(now, &failure);
            match decision {
                Decision::RetryAfter(delay) => {
                    let kind = EventKind::RetryDecided { attempt: attempt_number, delay };
                    self.record_decision(kind, attempt_number, &error, failure.elapsed);
                    self.count(|c| c.retries += 1);
                    self.clock.sleep(delay).await;
                    previous_delay = delay;
                    attempt_number += 1;
                }
                Decision::GiveUp(reason) => {
                    let kind = EventKind::GaveUp { attempt: attempt_number, reason: reason.name() };
                    self.record_decision(kind, attempt_number, &error, failure.elapsed);
                    self.count(|c| {
                        c.gave_up += 1;
                        if reason.is_quota_exhausted() {
                            c.quota_exhausted += 1;
                        }
                    });
                    let returned = if self.policy.borrow().returns_first_error() { first_error } else { None };
                    return Err(returned.unwrap_or(error));
                }
            }
        }
    }
}

impl<C: Clock> RetryLayer<C> {
    /// Ends an operation whose attempt `attempt` the policy refused: nothing
    /// was sent. The refusal is counted and traced as a give-up "after
    /// attempt `attempt - 1`", the last one sent (0: the first try was
    /// refused), in the context of the refused attempt.
    fn refuse<E: Retryable>(&self, attempt: u32, reason: GiveUp, elapsed: Duration) -> E {
        let error = E::refused(reason);
        let kind = EventKind::GaveUp { attempt: attempt.saturating_sub(1), reason: reason.name() };
        self.record_decision(kind, attempt, &error, elapsed);
        self.count(|c| {
            c.gave_up += 1;
            if reason.is_quota_exhausted() {
                c.quota_exhausted += 1;
            }
        });
        error
    }
}

/// The detail of a retry decision (see [`RetryLayer::record_decision`]).
/// Reading the policy's state draws nothing and changes nothing.
fn decision_detail<E: Retryable>(policy: &Policy, error: &E, elapsed: Duration) -> Detail {
    let config = policy.config();
    let layers: Vec<&str> = config.layers().map(PolicyConfig::kind_name).collect();
    let mut detail: Detail = vec![
        ("policy", layers.join("+").into()),
        ("error", error.trace_name().into()),
        ("class", error.class().name().into()),
        ("attempts_max", config.attempts_max().into()),
        ("elapsed_ms", elapsed.into()),
    ];
    if let Some(quota) = policy.shared().aws_quota_available() {
        detail.push(("quota_left", u64::from(quota).into()));
    }
    if let Some(tokens) = policy.shared().grpc_tokens() {
        detail.push(("tokens_left", format!("{tokens:.3}").into()));
    }
    if let Some(state) = policy.shared().breaker_state() {
        detail.push(("breaker", state.into()));
    }
    let deadline = config.layers().find_map(|layer| match layer {
        PolicyConfig::Deadline { deadline, .. } => Some(*deadline),
        _ => None,
    });
    if let Some(deadline) = deadline {
        detail.push(("deadline_ms", deadline.into()));
    }
    detail
}

/// Wraps a store: every request is retried as the policy decides.
pub struct RetryingStore<S, C> {
    inner: S,
    layer: RetryLayer<C>,
}

impl<S: ObjectStore, C: Clock> RetryingStore<S, C> {
    pub fn new(inner: S, clock: C, policy: Policy) -> Self {
        RetryingStore { inner, layer: RetryLayer::new(clock, policy) }
    }

    /// Records every retry decision in `trace` as an event of `node`.
    pub fn with_trace(mut self, trace: Trace, node: NodeId) -> Self {
        self.layer = self.layer.with_trace(trace, node);
        self
    }

    pub fn counters(&self) -> RetryCounters {
        self.layer.counters()
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    pub fn clock(&self) -> &C {
        self.layer.clock()
    }

    /// Reads the policy (e.g. `quota_exhausted_count`, or its shared state).
    pub fn with_policy<R>(&self, f: impl FnOnce(&Policy) -> R) -> R {
        self.layer.with_policy(f)
    }

    /// Sends one attempt, with a hedge after `hedge` if it is slow.
    async fn attempt(
        &self,
        request: &S3Request,
        hedge: Option<Duration>,
        attempt: u32,
    ) -> Attempted<S3Response, StoreError> {
        let layer = &self.layer;
        let first_sent_at = layer.clock().now();
        let Some(hedge_delay) = hedge else {
            let result = self.inner.send(request.clone()).await;
            layer.answered(&result, first_sent_at);
            return Attempted::single(result);
        };
        let first = pin!(self.inner.send(request.clone()));
        let timer = pin!(layer.clock().sleep(hedge_delay));
        let first = match select(first, timer).await {
            Either::Left((result, _timer)) => {
                layer.answered(&result, first_sent_at);
                return Attempted::single(result);
            }
            Either::Right(((), first)) => first,
        };
        layer.count_hedge(attempt);
        let second_sent_at = layer.clock().now();
        let second = pin!(self.inner.send(request.clone()));
        // The first answer that settles the question wins: a success or a
        // 4xx. A retryable error waits for the other copy.
        let (result, other, sent_at, other_sent_at) = match select(first, second).await {
            Either::Left((result, second)) => (result, Either::Left(second), first_sent_at, second_sent_at),
            Either::Right((result, first)) => (result, Either::Right(first), second_sent_at, first_sent_at),
        };
        layer.answered(&result, sent_at);
        let settled = match &result {
            Ok(_) => true,
            Err(error) => !error.class().is_retryable(),
        };
        if settled {
            // Dropping `other` here cancels the slower copy.
            return Attempted { result, earlier_error: None, hedged: true };
        }
        let later = match other {
            Either::Left(second) => second.await,
            Either::Right(first) => first.await,
        };
        layer.answered(&later, other_sent_at);
        Attempted { result: later, earlier_error: result.err(), hedged: true }
    }
}

impl<S: ObjectStore, C: Clock> ObjectStore for RetryingStore<S, C> {
    async fn send(&self, request: S3Request) -> Result<S3Response, StoreError> {
        self.layer.run(|attempt, hedge| self.attempt(&request, hedge, attempt)).await
    }
}
