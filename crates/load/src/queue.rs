//! [`ServiceQueue`]: a first-come-first-served server with `servers` slots,
//! a bounded queue (load shedding) and a queue timeout, computed at each
//! request's arrival (no tasks: the start of a FCFS request depends only on
//! those before it).

use std::time::Duration;

/// A stretch of time in which every request that starts service takes
/// `service_time_factor` times its drawn service time (a GC pause, a bad
/// disk, a noisy neighbour: the "capacity blip" that triggers a retry storm).
#[derive(Clone, Debug, PartialEq)]
pub struct Slowdown {
    pub start: Duration,
    pub end: Duration,
    pub service_time_factor: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct QueueSpec {
    /// Requests served at once (at least 1).
    pub servers: u32,
    /// Load shedding: a request arriving when this many wait is rejected at once.
    pub queue_max: Option<u64>,
    /// A request that would wait longer than this is answered (an error)
    /// when it has waited this long, without being served.
    pub queue_timeout: Option<Duration>,
    pub slowdowns: Vec<Slowdown>,
}

/// What became of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Served: it waited `wait`, then took `service` (the drawn time, slowed).
    Served { wait: Duration, service: Duration },
    /// Rejected on arrival: the queue was full.
    Shed,
    /// Given up by the server after waiting `waited` (the queue timeout).
    QueueTimeout { waited: Duration },
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    pub served: u64,
    pub shed: u64,
    pub timed_out: u64,
    /// Sum of the service times of served requests.
    pub busy: Duration,
    /// Sum of the waits of served requests.
    pub wait: Duration,
}

#[derive(Clone, Debug)]
pub struct ServiceQueue {
    _private: (),
}

impl ServiceQueue {
    pub fn new(spec: QueueSpec) -> Self {
        let _ = spec;
        todo!("helper")
    }

    /// A request arriving at `now` (non-decreasing over calls) needing `service`.
    pub fn admit(&mut self, now: Duration, service: Duration) -> Admission {
        let _ = (now, service);
        todo!("helper")
    }

    /// Requests admitted and not yet started at `now`.
    pub fn waiting(&mut self, now: Duration) -> u64 {
        let _ = now;
        todo!("helper")
    }

    pub fn stats(&self) -> QueueStats {
        todo!("helper")
    }
}
