//! [`SharedBudgets`]: the retry state several clients hold in common.
//!
//! Quotas, budgets and rate limiters only mean something across requests,
//! and in a deployment they are often shared across clients too: smithy-rs
//! keeps one retry token bucket and one client rate limiter per retry
//! partition per process (`static_partition_map`), gRPC one throttle per
//! server name, Finagle one budget per client stack, resilience4j one
//! circuit breaker per registry name (Polly one per pipeline). A `SharedBudgets` is
//! that shared state for one simulated world: give the same handle to every
//! `Policy::with_shared` (e.g. 100 gateways in one process) and they draw on
//! one bucket; `Policy::new` gives each policy a handle of its own.
//!
//! Each piece of state is created by the first policy that needs it, from
//! that policy's parameters; later policies with different parameters use
//! the existing state (the first configuration wins). The simulator is
//! single-threaded, so the handle is an `Rc<RefCell<..>>`: cheap to clone,
//! not `Send`. Borrows never outlive a policy call, so they cannot clash.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::aws::{ClientRateLimiter, RetryQuota};
use crate::budget::{GrpcThrottle, TokenRetryBudget};
use crate::overload::{CircuitBreaker, ClientThrottle};

/// A handle on retry state shared by every policy given a clone of it.
#[derive(Clone, Debug, Default)]
pub struct SharedBudgets {
    inner: Rc<RefCell<Budgets>>,
}

#[derive(Debug, Default)]
pub(crate) struct Budgets {
    pub(crate) aws_quota: Option<RetryQuota>,
    pub(crate) aws_limiter: Option<ClientRateLimiter>,
    pub(crate) grpc: Option<GrpcThrottle>,
    pub(crate) budget: Option<TokenRetryBudget>,
    pub(crate) breaker: Option<CircuitBreaker>,
    pub(crate) client_throttle: Option<ClientThrottle>,
    /// Retries refused for want of quota, budget or throttle tokens, by all
    /// policies sharing this handle.
    pub(crate) quota_exhausted: u64,
}

impl SharedBudgets {
    pub fn new() -> Self {
        SharedBudgets::default()
    }

    /// Runs `f` on the state. Never called re-entrantly.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Budgets) -> R) -> R {
        f(&mut self.inner.borrow_mut())
    }

    /// Retries refused because a quota, budget or throttle was exhausted,
    /// over every policy sharing this handle (issue 4's `retry_quota_exhausted`).
    pub fn quota_exhausted(&self) -> u64 {
        self.inner.borrow().quota_exhausted
    }

    /// Tokens left in the AWS retry quota, once an AWS policy has used it.
    pub fn aws_quota_available(&self) -> Option<u32> {
        self.inner.borrow().aws_quota.as_ref().map(RetryQuota::available)
    }

    /// The AWS adaptive limiter's fill rate (tokens per second) and whether
    /// it is enabled, once an adaptive policy has used it.
    pub fn adaptive_fill_rate(&self) -> Option<(f64, bool)> {
        self.inner.borrow().aws_limiter.as_ref().map(|l| (l.fill_rate(), l.is_enabled()))
    }

    /// gRPC's `token_count`, once a throttled policy has used it.
    pub fn grpc_tokens(&self) -> Option<f64> {
        self.inner.borrow().grpc.as_ref().map(GrpcThrottle::tokens)
    }

    /// Retries the Finagle budget would allow at `now`.
    pub fn budget_balance(&self, now: Duration) -> Option<i64> {
        self.inner.borrow_mut().budget.as_mut().map(|b| b.balance(now))
    }

    /// The circuit breaker's state ("closed", "open", "half_open") as of
    /// its last use, once a breaker policy has used it.
    pub fn breaker_state(&self) -> Option<&'static str> {
        self.inner.borrow().breaker.as_ref().map(CircuitBreaker::state_name)
    }

    /// The client throttle's `(requests, accepts)` over its window at `now`,
    /// once a client-throttle policy has used it.
    pub fn client_throttle_counts(&self, now: Duration) -> Option<(u64, u64)> {
        self.inner.borrow_mut().client_throttle.as_mut().map(|t| t.counts(now))
    }

    /// Whether `self` and `other` are the same shared state.
    pub fn same_as(&self, other: &SharedBudgets) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}
