//! `RetryingStore`: a retry policy applied at the `ObjectStore` interface,
//! with the clock and sleeper as a parameter so the same code runs in
//! virtual time (madsim) and real time (tokio).
//!
//! One operation (`send`) runs the policy's hooks in this order:
//!
//! 1. `Policy::before_attempt(now, attempt)` before every attempt; a
//!    non-zero answer (AWS adaptive mode's rate limiter) is slept first and
//!    traced as a `Note { what: "rate_limit_wait_ms" }`.
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
use retrylab_retry::{Decision, ErrorClass, Failure, Policy};
use retrylab_sim::{EventKind, NodeId, SimClock, Trace};

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
    /// Give-ups because a retry quota, throttle or budget was exhausted
    /// (`GiveUp::is_quota_exhausted`); included in `gave_up`.
    pub quota_exhausted: u64,
    /// Hedge requests sent (at most one per operation).
    pub hedges: u64,
}

/// Wraps a store: every request is retried as the policy decides.
pub struct RetryingStore<S, C> {
    inner: S,
    clock: C,
    policy: RefCell<Policy>,
    counters: Cell<RetryCounters>,
    /// Where decisions are recorded in simulation; `None` in real mode.
    trace: Option<(Trace, NodeId)>,
}

/// What one attempt (possibly a hedged pair) came to.
struct Outcome {
    result: Result<S3Response, StoreError>,
    /// The error of the copy that failed first, when a hedged pair both failed.
    earlier_error: Option<StoreError>,
    hedged: bool,
}

impl<S: ObjectStore, C: Clock> RetryingStore<S, C> {
    pub fn new(inner: S, clock: C, policy: Policy) -> Self {
        RetryingStore {
            inner,
            clock,
            policy: RefCell::new(policy),
            counters: Cell::new(RetryCounters::default()),
            trace: None,
        }
    }

    /// Records every retry decision in `trace` as an event of `node`.
    pub fn with_trace(mut self, trace: Trace, node: NodeId) -> Self {
        self.trace = Some((trace, node));
        self
    }

    pub fn counters(&self) -> RetryCounters {
        self.counters.get()
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Reads the policy (e.g. `quota_exhausted_count`, or its shared state).
    pub fn with_policy<R>(&self, f: impl FnOnce(&Policy) -> R) -> R {
        f(&self.policy.borrow())
    }

    fn count(&self, update: impl FnOnce(&mut RetryCounters)) {
        let mut counters = self.counters.get();
        update(&mut counters);
        self.counters.set(counters);
    }

    fn record(&self, kind: EventKind) {
        if let Some((trace, node)) = &self.trace {
            trace.record(*node, kind);
        }
    }

    /// Tells the policy an answer arrived.
    fn answered(&self, result: &Result<S3Response, StoreError>) {
        let throttled = matches!(result, Err(error) if error.class() == ErrorClass::Throttling);
        self.policy.borrow_mut().on_response(self.clock.now(), throttled);
    }

    /// Sends one attempt, with a hedge after `hedge` if it is slow.
    async fn attempt(&self, request: &S3Request, hedge: Option<Duration>, attempt: u32) -> Outcome {
        let Some(hedge_delay) = hedge else {
            let result = self.inner.send(request.clone()).await;
            self.answered(&result);
            return Outcome { result, earlier_error: None, hedged: false };
        };
        let first = pin!(self.inner.send(request.clone()));
        let timer = pin!(self.clock.sleep(hedge_delay));
        let first = match select(first, timer).await {
            Either::Left((result, _timer)) => {
                self.answered(&result);
                return Outcome { result, earlier_error: None, hedged: false };
            }
            Either::Right(((), first)) => first,
        };
        self.record(EventKind::Note { what: "hedge", value: u64::from(attempt) });
        self.count(|c| {
            c.attempts += 1;
            c.hedges += 1;
        });
        let second = pin!(self.inner.send(request.clone()));
        // The first answer that settles the question wins: a success or a
        // 4xx. A retryable error waits for the other copy.
        let (result, other) = match select(first, second).await {
            Either::Left((result, second)) => (result, Either::Left(second)),
            Either::Right((result, first)) => (result, Either::Right(first)),
        };
        self.answered(&result);
        let settled = match &result {
            Ok(_) => true,
            Err(error) => !error.class().is_retryable(),
        };
        if settled {
            // Dropping `other` here cancels the slower copy.
            return Outcome { result, earlier_error: None, hedged: true };
        }
        let later = match other {
            Either::Left(second) => second.await,
            Either::Right(first) => first.await,
        };
        self.answered(&later);
        Outcome { result: later, earlier_error: result.err(), hedged: true }
    }
}

impl<S: ObjectStore, C: Clock> ObjectStore for RetryingStore<S, C> {
    async fn send(&self, request: S3Request) -> Result<S3Response, StoreError> {
        let start = self.clock.now();
        let mut attempt = 1;
        let mut previous_delay = Duration::ZERO;
        let mut first_error: Option<StoreError> = None;
        let mut hedged = false;
        loop {
            let wait = self.policy.borrow_mut().before_attempt(self.clock.now(), attempt);
            if !wait.is_zero() {
                self.record(EventKind::Note {
                    what: "rate_limit_wait_ms",
                    value: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                });
                self.clock.sleep(wait).await;
            }
            self.count(|c| c.attempts += 1);
            let hedge = if hedged { None } else { self.policy.borrow().hedge_after() };
            let outcome = self.attempt(&request, hedge, attempt).await;
            hedged |= outcome.hedged;
            let error = match outcome.result {
                Ok(response) => {
                    self.policy.borrow_mut().on_success(self.clock.now(), attempt);
                    return Ok(response);
                }
                Err(error) => error,
            };
            if first_error.is_none() {
                first_error = Some(outcome.earlier_error.unwrap_or(error));
            }
            let now = self.clock.now();
            let failure = Failure { attempt, class: error.class(), elapsed: now.saturating_sub(start), previous_delay };
            let decision = self.policy.borrow_mut().decide_at(now, &failure);
            match decision {
                Decision::RetryAfter(delay) => {
                    self.record(EventKind::RetryDecided { attempt, delay });
                    self.count(|c| c.retries += 1);
                    self.clock.sleep(delay).await;
                    previous_delay = delay;
                    attempt += 1;
                }
                Decision::GiveUp(reason) => {
                    self.record(EventKind::GaveUp { attempt, reason: reason.name() });
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
