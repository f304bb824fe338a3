//! A storage server's admission gate: at most `concurrency_max` request
//! handlers run at once, the others wait first come first served, and an
//! arrival is rejected when the queue is full (load shedding) or when it has
//! waited `queue_timeout` (see [`ServerCapacity`]).
//!
//! Built from runtime-agnostic pieces (a `VecDeque` of oneshot senders in a
//! `RefCell`, the host's clock for the timeout): the server runs on one
//! thread, so the gate is deterministic under madsim and works on tokio.
//! A rejected request never ran, so it changed nothing.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use futures::channel::oneshot;
use futures::future::{select, Either};
use retrylab_design::ServerCapacity;
use retrylab_s3::Clock;

/// Why the gate turned a request away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overload {
    /// The queue was full when the request arrived.
    Shed,
    /// The request waited `queue_timeout` without getting a slot.
    QueueTimeout,
}

impl Overload {
    pub fn name(self) -> &'static str {
        match self {
            Overload::Shed => "queue full",
            Overload::QueueTimeout => "queue timeout",
        }
    }
}

/// Requests a server turned away, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OverloadCounts {
    /// Rejected on arrival: the queue was full.
    pub shed: u64,
    /// Rejected after waiting `queue_timeout`.
    pub queue_timeouts: u64,
}

impl OverloadCounts {
    pub fn total(&self) -> u64 {
        self.shed + self.queue_timeouts
    }
}

#[derive(Default)]
struct GateState {
    /// Handlers holding a slot.
    running: u32,
    /// Requests waiting for a slot, oldest first. A sender whose receiver
    /// is gone (the request timed out, or its handler was aborted by a
    /// crash) is skipped when found.
    waiting: VecDeque<oneshot::Sender<()>>,
    counts: OverloadCounts,
}

impl GateState {
    /// Forgets waiters that stopped waiting, so they take no queue place.
    fn prune(&mut self) {
        self.waiting.retain(|sender| !sender.is_canceled());
    }
}

/// The gate of one server.
pub(crate) struct AdmissionGate<C: Clock> {
    capacity: ServerCapacity,
    clock: C,
    state: RefCell<GateState>,
}

/// A held slot; dropping it hands the slot to the oldest waiter, or frees it.
pub(crate) struct Permit<C: Clock> {
    gate: Option<Rc<AdmissionGate<C>>>,
}

impl<C: Clock> Drop for Permit<C> {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.release();
        }
    }
}

/// A request waiting for a slot. If it is dropped after a slot was handed
/// to it but before it took it (its handler aborted), the slot is passed on.
struct Waiting<C: Clock> {
    gate: Rc<AdmissionGate<C>>,
    receiver: Option<oneshot::Receiver<()>>,
}

impl<C: Clock> Drop for Waiting<C> {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            if let Ok(Some(())) = receiver.try_recv() {
                self.gate.release();
            }
        }
    }
}

impl<C: Clock> AdmissionGate<C> {
    pub(crate) fn new(capacity: ServerCapacity, clock: C) -> Rc<Self> {
        Rc::new(AdmissionGate { capacity, clock, state: RefCell::new(GateState::default()) })
    }

    pub(crate) fn counts(&self) -> OverloadCounts {
        self.state.borrow().counts
    }

    /// Handlers running now.
    pub(crate) fn running(&self) -> u32 {
        self.state.borrow().running
    }

    /// Requests waiting now.
    pub(crate) fn waiting(&self) -> usize {
        let mut state = self.state.borrow_mut();
        state.prune();
        state.waiting.len()
    }

    /// Waits for a slot, or says why the request is turned away.
    pub(crate) async fn admit(self: &Rc<Self>) -> Result<Permit<C>, Overload> {
        let Some(concurrency_max) = self.capacity.concurrency_max else { return Ok(Permit { gate: None }) };
        let receiver = {
            let mut state = self.state.borrow_mut();
            state.prune();
            if state.running < concurrency_max && state.waiting.is_empty() {
                state.running += 1;
                return Ok(Permit { gate: Some(self.clone()) });
            }
            if self.capacity.queue_max.is_some_and(|max| state.waiting.len() >= max as usize) {
                state.counts.shed += 1;
                return Err(Overload::Shed);
            }
            let (sender, receiver) = oneshot::channel();
            state.waiting.push_back(sender);
            receiver
        };
        let mut waiting = Waiting { gate: self.clone(), receiver: Some(receiver) };
        let handed = match (waiting.receiver.as_mut(), self.capacity.queue_timeout) {
            (None, _) => false,
            (Some(receiver), None) => receiver.await.is_ok(),
            // The receiver first: a slot handed over at the deadline is taken.
            (Some(receiver), Some(timeout)) => match select(receiver, Box::pin(self.clock.sleep(timeout))).await {
                Either::Left((answer, _)) => answer.is_ok(),
                Either::Right(((), _)) => false,
            },
        };
        if handed {
            // The slot is ours now: nothing for the waiter's drop to pass on.
            waiting.receiver = None;
            return Ok(Permit { gate: Some(self.clone()) });
        }
        // Timed out: dropping the receiver cancels the queue place (a slot
        // handed over meanwhile cannot be: nothing ran since the poll).
        drop(waiting);
        self.state.borrow_mut().counts.queue_timeouts += 1;
        Err(Overload::QueueTimeout)
    }

    /// Hands a freed slot to the oldest waiter still waiting, or frees it.
    fn release(&self) {
        let mut state = self.state.borrow_mut();
        while let Some(sender) = state.waiting.pop_front() {
            if sender.send(()).is_ok() {
                return;
            }
        }
        state.running = state.running.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use retrylab_sim::{SimClock, WorldConfig};

    use super::*;

    fn capacity(concurrency_max: u32, queue_max: Option<u32>, queue_timeout_ms: Option<u64>) -> ServerCapacity {
        ServerCapacity {
            concurrency_max: Some(concurrency_max),
            queue_max,
            queue_timeout: queue_timeout_ms.map(Duration::from_millis),
        }
    }

    fn sim<T, Fut: std::future::Future<Output = T>>(workload: impl FnOnce() -> Fut) -> T {
        retrylab_sim::run(&WorldConfig::new(1), |_world| workload()).unwrap_or_else(|e| panic!("{e}")).output
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn with_one_slot_and_no_queue_a_second_concurrent_request_is_shed() {
        sim(|| async {
            let gate = AdmissionGate::new(capacity(1, Some(0), None), SimClock);
            let first = gate.admit().await.expect("the first request runs");
            assert!(matches!(gate.admit().await, Err(Overload::Shed)));
            assert_eq!(gate.counts(), OverloadCounts { shed: 1, queue_timeouts: 0 });
            drop(first);
            assert_eq!(gate.running(), 0);
            let again = gate.admit().await.expect("a slot is free again");
            assert_eq!(gate.running(), 1);
            drop(again);
        });
    }

    #[test]
    fn an_unlimited_gate_admits_everything_at_once() {
        sim(|| async {
            let gate = AdmissionGate::new(ServerCapacity::default(), SimClock);
            let permits: Vec<_> = futures::future::join_all((0..100).map(|_| gate.admit())).await;
            assert!(permits.iter().all(Result::is_ok));
            assert_eq!(gate.counts().total(), 0);
        });
    }

    #[test]
    fn waiters_get_slots_in_arrival_order_and_an_abandoned_wait_takes_no_place() {
        let order = sim(|| async {
            let gate = AdmissionGate::new(capacity(1, Some(3), None), SimClock);
            let order = RefCell::new(Vec::new());
            let holder = async {
                let slot = gate.admit().await.expect("first");
                SimClock.sleep(ms(10)).await;
                // Three wait (the one that gave up no longer counts): the queue is full.
                assert_eq!(gate.waiting(), 3);
                assert!(matches!(gate.admit().await, Err(Overload::Shed)));
                drop(slot);
            };
            // Request i arrives at `arrive_ms[i]` and holds its slot 5 ms.
            let arrive_ms = [5, 2, 3];
            let request = |i: usize| {
                let (gate, order) = (&gate, &order);
                async move {
                    SimClock.sleep(ms(arrive_ms[i])).await;
                    let slot = gate.admit().await.expect("admitted in turn");
                    order.borrow_mut().push(i);
                    SimClock.sleep(ms(5)).await;
                    drop(slot);
                }
            };
            // Arrives first of all (1 ms) and gives up waiting at 4 ms (madsim sleeps whole ms).
            let quitter = async {
                SimClock.sleep(ms(1)).await;
                let wait = Box::pin(gate.admit());
                match select(wait, Box::pin(SimClock.sleep(ms(3)))).await {
                    Either::Left(_) => panic!("no slot was free before 10 ms"),
                    Either::Right(_) => {}
                }
            };
            futures::join!(holder, request(0), request(1), request(2), quitter);
            assert_eq!((gate.running(), gate.waiting()), (0, 0));
            assert_eq!(gate.counts(), OverloadCounts { shed: 1, queue_timeouts: 0 });
            order.into_inner()
        });
        assert_eq!(order, vec![1, 2, 0]);
    }

    #[test]
    fn a_request_that_waits_the_queue_timeout_is_rejected_then() {
        sim(|| async {
            let gate = AdmissionGate::new(capacity(1, None, Some(50)), SimClock);
            let holder = async {
                let slot = gate.admit().await.expect("first");
                SimClock.sleep(ms(120)).await;
                drop(slot);
            };
            let late = async {
                SimClock.sleep(ms(10)).await;
                let result = gate.admit().await;
                (result.err(), SimClock.now())
            };
            // Arrives at 80 ms, gets the slot when it is freed at 120 ms (waited 40 ms).
            let in_time = async {
                SimClock.sleep(ms(80)).await;
                gate.admit().await.map(|_| SimClock.now()).ok()
            };
            let ((), (late_error, rejected_at), admitted_at) = futures::join!(holder, late, in_time);
            assert_eq!(late_error, Some(Overload::QueueTimeout));
            // madsim's timers fire a tick late.
            let about = |at: Duration, expected_ms: u64| at >= ms(expected_ms) && at < ms(expected_ms + 1);
            assert!(about(rejected_at, 60), "rejected at {rejected_at:?}");
            assert!(admitted_at.is_some_and(|at| about(at, 120)), "admitted at {admitted_at:?}");
            assert_eq!(gate.counts(), OverloadCounts { shed: 0, queue_timeouts: 1 });
            assert_eq!((gate.running(), gate.waiting()), (0, 0));
        });
    }
}
