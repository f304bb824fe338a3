//! The task-local trace context: which workload operation, and which
//! attempt of which retry layer, the code running now works for, so that
//! every event recorded in a full trace names its operation, even on a
//! storage server that handles a gateway's request in a task of its own.
//!
//! The context is descriptive only: it never enters the trace hash and no
//! simulated code reads it to decide anything. It lives in a thread-local
//! cell that [`TaskContext::scope`] sets around every poll of the future it
//! wraps (and restores after), so it follows the future across awaits and
//! never leaks into another task; a madsim world runs on one thread.
//! `Network::call` carries the caller's context into the handler's task.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// What the running code works for, as far as known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskContext {
    /// The workload operation (the number in its `OperationStart`).
    pub operation: Option<u64>,
    /// The attempt (1-based) of the innermost retry layer running.
    pub attempt: Option<u32>,
    /// The attempt of the retry layer around that one (a gateway's layer
    /// around a storage server's S3 layer), if any.
    pub outer_attempt: Option<u32>,
}

thread_local! {
    static CURRENT: Cell<TaskContext> = const { Cell::new(TaskContext { operation: None, attempt: None, outer_attempt: None }) };
}

impl TaskContext {
    /// The context of the code running now.
    pub fn current() -> TaskContext {
        CURRENT.with(Cell::get)
    }

    /// The context of operation `operation`, begun now (no attempt yet).
    pub fn operation(operation: u64) -> TaskContext {
        TaskContext { operation: Some(operation), attempt: None, outer_attempt: None }
    }

    /// The current context inside attempt `attempt` of a retry layer: an
    /// attempt already current becomes the outer one.
    pub fn attempt(attempt: u32) -> TaskContext {
        let current = TaskContext::current();
        TaskContext { attempt: Some(attempt), outer_attempt: current.attempt, ..current }
    }

    /// Runs `f` in this context (for events recorded outside a scoped future).
    pub fn run_in<R>(self, f: impl FnOnce() -> R) -> R {
        let _restore = Restore(replace_current(self));
        f()
    }

    /// Runs `future` in this context.
    pub fn scope<F: Future>(self, future: F) -> Scoped<F> {
        Scoped { context: self, future }
    }
}

pin_project_lite::pin_project! {
    /// A future that runs in a [`TaskContext`] (see [`TaskContext::scope`]).
    pub struct Scoped<F> {
        context: TaskContext,
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let outer = replace_current(*this.context);
        // Restored even if the future panics, so a caught panic cannot leave
        // a stale context behind for the next run on this thread.
        let _restore = Restore(outer);
        this.future.poll(cx)
    }
}

/// Sets the current context, returning the one it replaces.
fn replace_current(context: TaskContext) -> TaskContext {
    CURRENT.with(|current| current.replace(context))
}

struct Restore(TaskContext);

impl Drop for Restore {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_sets_the_context_while_its_future_runs_and_restores_it_after() {
        let inside = futures::executor::block_on(TaskContext::operation(7).scope(async {
            let outer = TaskContext::current();
            let inner = TaskContext::attempt(2).scope(async { TaskContext::current() }).await;
            (outer, inner)
        }));
        assert_eq!(inside.0, TaskContext::operation(7));
        assert_eq!(inside.1, TaskContext { operation: Some(7), attempt: Some(2), outer_attempt: None });
        assert_eq!(TaskContext::current(), TaskContext::default());
    }
}
