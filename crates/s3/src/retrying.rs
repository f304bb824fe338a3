//! `RetryingStore`: a retry policy applied at the `ObjectStore` interface,
//! with the clock and sleeper as a parameter so the same code runs in
//! virtual time (madsim) and real time (tokio).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::time::Duration;

use retrylab_retry::{Decision, Failure, Policy};
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
    /// Requests sent, first tries and retries.
    pub attempts: u64,
    pub retries: u64,
    /// Requests whose final answer was an error.
    pub gave_up: u64,
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

impl<S: ObjectStore, C: Clock> RetryingStore<S, C> {
    pub fn new(inner: S, clock: C, policy: Policy) -> Self {
        RetryingStore { inner, clock, policy: RefCell::new(policy), counters: Cell::new(RetryCounters::default()), trace: None }
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
}

impl<S: ObjectStore, C: Clock> ObjectStore for RetryingStore<S, C> {
    async fn send(&self, request: S3Request) -> Result<S3Response, StoreError> {
        let start = self.clock.now();
        let mut attempt = 1;
        let mut previous_delay = Duration::ZERO;
        loop {
            self.count(|c| c.attempts += 1);
            let error = match self.inner.send(request.clone()).await {
                Ok(response) => return Ok(response),
                Err(error) => error,
            };
            let failure = Failure {
                attempt,
                class: error.class(),
                elapsed: self.clock.now().saturating_sub(start),
                previous_delay,
            };
            let decision = self.policy.borrow_mut().decide(&failure);
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
                    self.count(|c| c.gave_up += 1);
                    return Err(error);
                }
            }
        }
    }
}
