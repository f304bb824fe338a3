//! [`ServiceQueue`]: a first-come-first-served server with `servers` slots,
//! a bounded queue (load shedding) and a queue timeout, computed at each
//! request's arrival (no tasks: the start of a FCFS request depends only on
//! those before it).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use crate::series::add_split_us;

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

/// FCFS over `servers` slots, computed at arrival: the start of a request
/// is the later of its arrival and the earliest time a server is free.
#[derive(Clone, Debug)]
pub struct ServiceQueue {
    spec: QueueSpec,
    /// When each server is next free (a min-heap).
    free_at: BinaryHeap<Reverse<Duration>>,
    /// The start times of the admitted requests that had to wait, oldest
    /// first: under FCFS starts never decrease, so the ones still waiting
    /// at `now` are the tail whose start is after `now`.
    waiting_starts: VecDeque<Duration>,
    stats: QueueStats,
    /// With [`ServiceQueue::with_busy_windows`]: the window, microseconds.
    busy_window_us: Option<u64>,
    busy_per_window: Vec<u64>,
}

impl ServiceQueue {
    pub fn new(spec: QueueSpec) -> Self {
        let servers = spec.servers.max(1) as usize;
        ServiceQueue {
            free_at: std::iter::repeat_n(Reverse(Duration::ZERO), servers).collect(),
            spec,
            waiting_starts: VecDeque::new(),
            stats: QueueStats::default(),
            busy_window_us: None,
            busy_per_window: Vec::new(),
        }
    }

    /// Also counts busy time (server-microseconds of service) per `window`
    /// of virtual time, each service split over the windows it spans, for
    /// a plot of utilisation over time ([`ServiceQueue::busy_per_window`]).
    /// A window under a microsecond counts nothing.
    #[must_use]
    pub fn with_busy_windows(mut self, window: Duration) -> Self {
        self.busy_window_us = u64::try_from(window.as_micros()).ok().filter(|&us| us > 0);
        self
    }

    /// A request arriving at `now` (non-decreasing over calls) needing `service`.
    ///
    /// Shed when it would have to wait (no server free at `now`) and
    /// `queue_max` requests already wait: a request an idle server can take
    /// is never shed, so `queue_max = 0` means "no queue at all". Timed out
    /// (occupying no server) when its wait would exceed `queue_timeout`.
    /// Otherwise served: its service is the drawn one times the factor of
    /// every slowdown containing its start (the product if several overlap),
    /// rounded to whole microseconds (unchanged when no slowdown applies).
    pub fn admit(&mut self, now: Duration, service: Duration) -> Admission {
        let waiting = self.waiting(now);
        let earliest_free = self.free_at.peek().map_or(Duration::ZERO, |free| free.0);
        let start = now.max(earliest_free);
        let wait = start - now;
        if wait > Duration::ZERO && self.spec.queue_max.is_some_and(|queue_max| waiting >= queue_max) {
            self.stats.shed += 1;
            return Admission::Shed;
        }
        if let Some(queue_timeout) = self.spec.queue_timeout.filter(|&queue_timeout| wait > queue_timeout) {
            self.stats.timed_out += 1;
            return Admission::QueueTimeout { waited: queue_timeout };
        }
        let service = self.slowed(service, start);
        self.free_at.pop();
        self.free_at.push(Reverse(start.saturating_add(service)));
        if start > now {
            self.waiting_starts.push_back(start);
        }
        self.stats.served += 1;
        self.stats.busy = self.stats.busy.saturating_add(service);
        self.stats.wait = self.stats.wait.saturating_add(wait);
        if let Some(window_us) = self.busy_window_us {
            add_split_us(&mut self.busy_per_window, window_us, start, service);
        }
        Admission::Served { wait, service }
    }

    /// `service` times the factors of the slowdowns whose `[start, end)` holds `start`.
    fn slowed(&self, service: Duration, start: Duration) -> Duration {
        let mut factor = 1.0;
        let mut slowed = false;
        for slowdown in self.spec.slowdowns.iter().filter(|slowdown| slowdown.start <= start && start < slowdown.end) {
            factor *= slowdown.service_time_factor;
            slowed = true;
        }
        if !slowed {
            return service;
        }
        // Float to integer casts saturate (and NaN gives 0): no panic on a nonsensical factor.
        let micros = (service.as_nanos() as f64 * factor / 1000.0).round();
        Duration::from_micros(micros as u64)
    }

    /// Requests admitted and not yet started at `now`.
    pub fn waiting(&mut self, now: Duration) -> u64 {
        while self.waiting_starts.front().is_some_and(|&start| start <= now) {
            self.waiting_starts.pop_front();
        }
        self.waiting_starts.len() as u64
    }

    pub fn stats(&self) -> QueueStats {
        self.stats
    }

    /// Busy server-microseconds per window (empty without
    /// [`ServiceQueue::with_busy_windows`]); window i covers `[i w, (i + 1) w)`.
    pub fn busy_per_window(&self) -> &[u64] {
        &self.busy_per_window
    }
}
