//! The trace of a run: every observable event with its virtual time, and a
//! stable 64-bit hash of the whole sequence.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::oneshot;

use crate::clock::SimClock;
use crate::context::TaskContext;
use crate::net::NodeId;

/// What happened. Names are `&'static str` so that recording costs no
/// allocation on the simulator's hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// An operation of the workload started.
    OperationStart {
        operation: u64,
        what: &'static str,
    },
    /// An operation ended; `status` is its outcome (200 or an error status, 0 for none).
    OperationEnd {
        operation: u64,
        status: u16,
    },
    /// A request left `node` for `to`.
    RequestSent {
        to: NodeId,
        what: &'static str,
        slot: u64,
    },
    /// A fault was injected into request `slot`; `applied` when the request took effect anyway.
    FaultInjected {
        slot: u64,
        kind: &'static str,
        applied: bool,
    },
    /// A message was lost on the network.
    MessageLost {
        to: NodeId,
    },
    /// A response arrived at `node`: HTTP status, or 0 with `error` naming a transport error.
    Response {
        slot: u64,
        status: u16,
        error: &'static str,
    },
    /// The retry policy chose to retry after `delay`.
    RetryDecided {
        attempt: u32,
        delay: Duration,
    },
    /// The retry policy gave up.
    GaveUp {
        attempt: u32,
        reason: &'static str,
    },
    NodeCrashed,
    NodeRestarted,
    /// Anything else a component wants in the trace and the hash.
    Note {
        what: &'static str,
        value: u64,
    },
}

/// One event at a virtual time, at a node.
///
/// `at`, `node` and `kind` are what the trace hash covers. `context` and
/// `detail` describe the event for a reader: they are filled only when the
/// trace keeps its events ([`TraceMode::Full`]) and never enter the hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub at: Duration,
    pub node: NodeId,
    pub kind: EventKind,
    /// The operation and retry attempts the event belongs to (see [`TaskContext`]).
    pub context: TaskContext,
    /// More about the event, by stable field name (see docs/traces.md).
    pub detail: Detail,
}

/// A value of an event's detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    U64(u64),
    I64(i64),
    Bool(bool),
    /// A duration, printed in milliseconds.
    Ms(Duration),
    /// A virtual time, printed in seconds (as a line's own time).
    Secs(Duration),
    Str(Cow<'static, str>),
}

impl From<u64> for Value {
    fn from(value: u64) -> Self {
        Value::U64(value)
    }
}

impl From<u32> for Value {
    fn from(value: u32) -> Self {
        Value::U64(u64::from(value))
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::I64(value)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Bool(value)
    }
}

impl From<Duration> for Value {
    fn from(value: Duration) -> Self {
        Value::Ms(value)
    }
}

impl From<&'static str> for Value {
    fn from(value: &'static str) -> Self {
        Value::Str(Cow::Borrowed(value))
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::Str(Cow::Owned(value))
    }
}

/// An event's descriptive fields, in order: `(name, value)`.
pub type Detail = Vec<(&'static str, Value)>;

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>14.6}s {:>4} ", self.at.as_secs_f64(), self.node)?;
        match self.kind {
            EventKind::OperationStart { operation, what } => write!(f, "op {operation} start {what}"),
            EventKind::OperationEnd { operation, status } => write!(f, "op {operation} end {status}"),
            EventKind::RequestSent { to, what, slot } => {
                write!(f, "send {what} -> {to} slot {slot}")
            }
            EventKind::FaultInjected { slot, kind, applied } => {
                write!(f, "fault {kind} slot {slot}{}", if applied { " (applied)" } else { "" })
            }
            EventKind::MessageLost { to } => write!(f, "lost message to {to}"),
            EventKind::Response { slot, status, error } => {
                if status == 0 {
                    write!(f, "response slot {slot} {error}")
                } else {
                    write!(f, "response slot {slot} {status}")
                }
            }
            EventKind::RetryDecided { attempt, delay } => {
                write!(f, "retry after attempt {attempt} in {} ms", delay.as_millis())
            }
            EventKind::GaveUp { attempt, reason } => write!(f, "give up after attempt {attempt}: {reason}"),
            EventKind::NodeCrashed => write!(f, "crash"),
            EventKind::NodeRestarted => write!(f, "restart"),
            EventKind::Note { what, value } => write!(f, "note {what} {value}"),
        }
    }
}

/// Whether the trace keeps its events or only hashes them. Estimating runs
/// thousands of seeds and needs only the hash; `retrylab run --trace` keeps all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TraceMode {
    #[default]
    HashOnly,
    Full,
}

/// The recorder shared by every component of one world.
#[derive(Clone)]
pub struct Trace {
    inner: Rc<RefCell<TraceState>>,
}

struct TraceState {
    clock: SimClock,
    hasher: Fingerprint,
    count: u64,
    events_max: u64,
    events: Option<Vec<Event>>,
    /// The runner's wall-clock budget check (see `WallBudget`), if any.
    wall_budget_expired: Option<WallBudgetExpired>,
    /// Fired once when `events_max` is exceeded or the wall-clock budget is
    /// spent: the world stops the run.
    over_limit: Option<oneshot::Sender<Stop>>,
}

type WallBudgetExpired = Arc<dyn Fn() -> bool + Send + Sync>;

/// Why the trace asks the world to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Events,
    WallTime,
}

impl Trace {
    pub(crate) fn new(
        mode: TraceMode,
        events_max: u64,
        wall_budget_expired: Option<WallBudgetExpired>,
        over_limit: oneshot::Sender<Stop>,
    ) -> Self {
        Trace {
            inner: Rc::new(RefCell::new(TraceState {
                clock: SimClock,
                hasher: Fingerprint(Fingerprint::SEED),
                count: 0,
                events_max,
                events: (mode == TraceMode::Full).then(Vec::new),
                wall_budget_expired,
                over_limit: Some(over_limit),
            })),
        }
    }

    /// Records `kind` at `node`, now.
    pub fn record(&self, node: NodeId, kind: EventKind) {
        self.record_with(node, kind, Detail::new);
    }

    /// Records `kind` at `node`, now, described by `detail` (and the task's
    /// context) when the trace keeps its events; `detail` is not called
    /// otherwise, so a hash-only run pays nothing for it. Neither enters
    /// the hash.
    pub fn record_with(&self, node: NodeId, kind: EventKind, detail: impl FnOnce() -> Detail) {
        let mut state = self.inner.borrow_mut();
        let at = state.clock.now();
        hash_event(&mut state.hasher, at, node, &kind);
        state.count += 1;
        if let Some(events) = &mut state.events {
            events.push(Event { at, node, kind, context: TaskContext::current(), detail: detail() });
        }
        let stop = if state.count > state.events_max {
            Some(Stop::Events)
        } else if state.count & (crate::world::WallBudget::CHECK_EVERY_EVENTS - 1) == 0
            && state.wall_budget_expired.as_ref().is_some_and(|expired| expired())
        {
            Some(Stop::WallTime)
        } else {
            None
        };
        if let Some(stop) = stop {
            if let Some(over_limit) = state.over_limit.take() {
                // The receiver lives as long as the run; if it is gone the run is over anyway.
                let _ = over_limit.send(stop);
            }
        }
    }

    /// Whether events are kept (a full trace), so their detail is wanted.
    pub fn keeps_events(&self) -> bool {
        self.inner.borrow().events.is_some()
    }

    /// Events recorded so far.
    pub fn len(&self) -> u64 {
        self.inner.borrow().count
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The hash of every event so far, in order.
    pub fn hash(&self) -> u64 {
        self.inner.borrow().hasher.0
    }

    pub(crate) fn take_events(&self) -> Option<Vec<Event>> {
        self.inner.borrow_mut().events.take()
    }
}

/// A running 64-bit fingerprint of the event sequence.
///
/// Each event's fields are folded in with a 128-bit multiply (as wyhash
/// does): about 1 ns per field, against tens of ns for a byte-oriented
/// streaming hash, and the trace is hashed on the simulator's hot path.
/// The encoding is explicit (field order, names by their bytes), so the hash
/// depends neither on Rust's `Hash` implementations nor on memory layout.
struct Fingerprint(u64);

impl Fingerprint {
    const SEED: u64 = 0x243f_6a88_85a3_08d3;
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

    fn update(&mut self, value: u64) {
        let product = u128::from(self.0 ^ value) * u128::from(Self::MULTIPLIER ^ value.rotate_left(32));
        self.0 = (product as u64) ^ ((product >> 64) as u64) ^ self.0.rotate_left(23);
    }

    fn update_str(&mut self, s: &str) {
        self.update(xxhash_rust::xxh3::xxh3_64(s.as_bytes()));
    }
}

/// Folds one event into the fingerprint.
/// Only the time, node and kind: an event's context and detail are not hashed.
fn hash_event(hasher: &mut Fingerprint, at: Duration, node: NodeId, kind: &EventKind) {
    let at_ns = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
    hasher.update(at_ns);
    hasher.update(u64::from(node.0));
    match *kind {
        EventKind::OperationStart { operation, what } => {
            hasher.update(1);
            hasher.update(operation);
            hasher.update_str(what);
        }
        EventKind::OperationEnd { operation, status } => {
            hasher.update(2);
            hasher.update(operation);
            hasher.update(u64::from(status));
        }
        EventKind::RequestSent { to, what, slot } => {
            hasher.update(3);
            hasher.update(u64::from(to.0));
            hasher.update_str(what);
            hasher.update(slot);
        }
        EventKind::FaultInjected { slot, kind, applied } => {
            hasher.update(4);
            hasher.update(slot);
            hasher.update_str(kind);
            hasher.update(u64::from(applied));
        }
        EventKind::MessageLost { to } => {
            hasher.update(5);
            hasher.update(u64::from(to.0));
        }
        EventKind::Response { slot, status, error } => {
            hasher.update(6);
            hasher.update(slot);
            hasher.update(u64::from(status));
            hasher.update_str(error);
        }
        EventKind::RetryDecided { attempt, delay } => {
            hasher.update(7);
            hasher.update(u64::from(attempt));
            hasher.update(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX));
        }
        EventKind::GaveUp { attempt, reason } => {
            hasher.update(8);
            hasher.update(u64::from(attempt));
            hasher.update_str(reason);
        }
        EventKind::NodeCrashed => hasher.update(9),
        EventKind::NodeRestarted => hasher.update(10),
        EventKind::Note { what, value } => {
            hasher.update(11);
            hasher.update_str(what);
            hasher.update(value);
        }
    }
}
