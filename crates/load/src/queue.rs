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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::closed_form::{mm1_utilisation, mmc_mean_wait_s};
    use crate::{Arrivals, RateSchedule};
    use retrylab_faults::{draw, stream};

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn unbounded(servers: u32) -> QueueSpec {
        QueueSpec { servers, queue_max: None, queue_timeout: None, slowdowns: Vec::new() }
    }

    /// Student's t, 0.995 quantile, 19 degrees of freedom (two-sided 99% with 20 batches).
    const T_995_19: f64 = 2.861;
    const BATCHES: usize = 20;

    /// The two-sided 99% batch-means interval of the mean of `samples`
    /// (in order), after dropping the first `warmup` (the empty start).
    fn batch_means_interval(samples: &[f64], warmup: usize) -> (f64, f64) {
        let kept = &samples[warmup..];
        let batch = kept.len() / BATCHES;
        let means: Vec<f64> =
            kept.chunks_exact(batch).take(BATCHES).map(|chunk| chunk.iter().sum::<f64>() / batch as f64).collect();
        interval_of_batches(&means)
    }

    fn interval_of_batches(means: &[f64]) -> (f64, f64) {
        let n = means.len() as f64;
        let mean = means.iter().sum::<f64>() / n;
        let variance = means.iter().map(|m| (m - mean) * (m - mean)).sum::<f64>() / (n - 1.0);
        let half_width = T_995_19 * (variance / n).sqrt();
        (mean - half_width, mean + half_width)
    }

    /// M/M/c through the queue: Poisson arrivals at `lambda` for `horizon`,
    /// exponential services at `mu`. Returns each served request's wait
    /// (seconds, arrival order) and the queue (with busy time per
    /// `horizon / 20` window).
    fn simulate(lambda: f64, mu: f64, servers: u32, horizon: Duration, seed: u64) -> (Vec<f64>, ServiceQueue) {
        let mut queue = ServiceQueue::new(unbounded(servers)).with_busy_windows(horizon / BATCHES as u32);
        let mut service_rng = stream(seed, "service");
        let mut waits = Vec::new();
        for at in Arrivals::new(RateSchedule::constant(lambda), horizon, seed) {
            let service = Duration::from_secs_f64(draw::exponential(&mut service_rng, 1.0 / mu));
            match queue.admit(at, service) {
                Admission::Served { wait, .. } => waits.push(wait.as_secs_f64()),
                other => panic!("an unbounded queue answered {other:?}"),
            }
        }
        (waits, queue)
    }

    #[test]
    fn mm1_mean_wait_and_utilisation_match_the_closed_forms() {
        let (lambda, mu) = (70.0, 100.0);
        let horizon = Duration::from_secs(3_000);
        let (waits, queue) = simulate(lambda, mu, 1, horizon, 1);
        assert!(waits.len() > 200_000, "{}", waits.len());
        let expected_s = mmc_mean_wait_s(lambda, mu, 1);
        assert!((expected_s - 0.7 / (mu - lambda)).abs() < 1e-12);
        let (low, high) = batch_means_interval(&waits, 2_000);
        assert!(low <= expected_s && expected_s <= high, "M/M/1 Wq {expected_s} outside [{low}, {high}]");

        let window_us = (horizon / BATCHES as u32).as_micros() as f64;
        let utilisation: Vec<f64> =
            queue.busy_per_window()[..BATCHES].iter().map(|&busy| busy as f64 / window_us).collect();
        let (low, high) = interval_of_batches(&utilisation);
        let expected = mm1_utilisation(lambda, mu);
        assert!(low <= expected && expected <= high, "M/M/1 utilisation {expected} outside [{low}, {high}]");
        // The windows hold all the busy time the stats count (to a microsecond per request).
        let split_us: u64 = queue.busy_per_window().iter().sum();
        let stats = queue.stats();
        assert!(stats.busy.as_micros() as u64 - split_us <= stats.served);
    }

    #[test]
    fn mm3_mean_wait_matches_erlang_c() {
        let (lambda, mu, servers) = (240.0, 100.0, 3);
        let (waits, _) = simulate(lambda, mu, servers, Duration::from_secs(875), 2);
        assert!(waits.len() > 200_000, "{}", waits.len());
        let expected_s = mmc_mean_wait_s(lambda, mu, servers);
        let (low, high) = batch_means_interval(&waits, 2_000);
        assert!(low <= expected_s && expected_s <= high, "M/M/3 Wq {expected_s} outside [{low}, {high}]");
    }

    #[test]
    fn no_queue_sheds_whatever_arrives_while_busy() {
        let spec = QueueSpec { queue_max: Some(0), ..unbounded(1) };
        let mut queue = ServiceQueue::new(spec);
        assert_eq!(queue.admit(ms(0), ms(10)), Admission::Served { wait: ms(0), service: ms(10) });
        assert_eq!(queue.admit(ms(5), ms(10)), Admission::Shed);
        assert_eq!(queue.admit(ms(9), ms(10)), Admission::Shed);
        // Free again at 10 ms.
        assert_eq!(queue.admit(ms(10), ms(10)), Admission::Served { wait: ms(0), service: ms(10) });
        let stats = queue.stats();
        assert_eq!((stats.served, stats.shed, stats.timed_out), (2, 2, 0));
        assert_eq!(stats.busy, ms(20));
    }

    #[test]
    fn a_bounded_queue_holds_queue_max_waiting() {
        let spec = QueueSpec { queue_max: Some(2), ..unbounded(1) };
        let mut queue = ServiceQueue::new(spec);
        assert_eq!(queue.admit(ms(0), ms(10)), Admission::Served { wait: ms(0), service: ms(10) });
        assert_eq!(queue.admit(ms(1), ms(10)), Admission::Served { wait: ms(9), service: ms(10) });
        assert_eq!(queue.admit(ms(2), ms(10)), Admission::Served { wait: ms(18), service: ms(10) });
        assert_eq!(queue.waiting(ms(3)), 2);
        assert_eq!(queue.admit(ms(3), ms(10)), Admission::Shed);
        // The second starts at 10 ms: one waits, room for one more.
        assert_eq!(queue.waiting(ms(10)), 1);
        assert_eq!(queue.admit(ms(10), ms(10)), Admission::Served { wait: ms(20), service: ms(10) });
        assert_eq!(queue.stats().wait, ms(9 + 18 + 20));
    }

    #[test]
    fn a_request_that_would_wait_too_long_times_out_and_takes_no_server() {
        let spec = QueueSpec { queue_timeout: Some(ms(15)), ..unbounded(1) };
        let mut queue = ServiceQueue::new(spec);
        assert!(matches!(queue.admit(ms(0), ms(20)), Admission::Served { .. }));
        assert_eq!(queue.admit(ms(1), ms(20)), Admission::QueueTimeout { waited: ms(15) });
        // The timed-out request left the server free at 20 ms: a wait of 14 ms is served.
        assert_eq!(queue.admit(ms(6), ms(20)), Admission::Served { wait: ms(14), service: ms(20) });
        assert_eq!(queue.admit(ms(7), ms(20)), Admission::QueueTimeout { waited: ms(15) });
        let stats = queue.stats();
        assert_eq!((stats.served, stats.shed, stats.timed_out), (2, 0, 2));
    }

    #[test]
    fn slowdowns_multiply_the_service_of_requests_starting_inside() {
        let slowdowns = vec![
            Slowdown { start: ms(100), end: ms(200), service_time_factor: 10.0 },
            Slowdown { start: ms(150), end: ms(300), service_time_factor: 1.5 },
        ];
        let mut queue = ServiceQueue::new(QueueSpec { slowdowns, ..unbounded(4) });
        let service = |admission| match admission {
            Admission::Served { service, .. } => service,
            other => panic!("{other:?}"),
        };
        assert_eq!(service(queue.admit(ms(99), ms(2))), ms(2));
        assert_eq!(service(queue.admit(ms(100), ms(2))), ms(20));
        assert_eq!(service(queue.admit(ms(150), ms(2))), ms(30));
        assert_eq!(service(queue.admit(ms(250), Duration::from_nanos(1_000_400))), Duration::from_micros(1_501));
        assert_eq!(service(queue.admit(ms(300), ms(2))), ms(2));
    }

    #[test]
    fn requests_start_in_arrival_order() {
        let mut queue = ServiceQueue::new(unbounded(2));
        let starts: Vec<Duration> = [(0, 30), (1, 5), (2, 5), (3, 5), (4, 50), (5, 1)]
            .into_iter()
            .map(|(at, service)| match queue.admit(ms(at), ms(service)) {
                Admission::Served { wait, .. } => ms(at) + wait,
                other => panic!("{other:?}"),
            })
            .collect();
        // Server A takes 0-30; B takes 1-6, 6-11, 11-16, 16-66; A takes the last at 30.
        assert_eq!(starts, [ms(0), ms(1), ms(6), ms(11), ms(16), ms(30)]);
        assert!(starts.windows(2).all(|pair| pair[0] <= pair[1]));
    }

    #[test]
    fn busy_time_splits_over_windows() {
        let mut queue = ServiceQueue::new(unbounded(1)).with_busy_windows(ms(10));
        queue.admit(ms(5), ms(22));
        assert_eq!(queue.busy_per_window(), [5_000, 10_000, 7_000]);
    }

    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/proptest_seed.rs"));

    proptest::proptest! {
        // Failing cases are kept in the workspace's proptest-regressions/ (committed).
        #![proptest_config(proptest::prelude::ProptestConfig { rng_seed: proptest_rng_seed(), failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(concat!(env!("CARGO_MANIFEST_DIR"), "/../../proptest-regressions/load-queue.txt")))), ..proptest::prelude::ProptestConfig::default() })]
        #[test]
        fn admissions_keep_fcfs_and_the_bounds(
            servers in 1u32..4,
            queue_max in proptest::option::of(0u64..5),
            timeout_ms in proptest::option::of(0u64..50),
            requests in proptest::collection::vec((0u64..20, 1u64..40), 1..200),
        ) {
            let queue_timeout = timeout_ms.map(ms);
            let mut queue = ServiceQueue::new(QueueSpec { servers, queue_max, queue_timeout, slowdowns: Vec::new() });
            let total = requests.len() as u64;
            let mut now = Duration::ZERO;
            let mut last_start = Duration::ZERO;
            for (gap, service) in requests {
                now += ms(gap);
                let waiting_before = queue.waiting(now);
                match queue.admit(now, ms(service)) {
                    Admission::Served { wait, service: served } => {
                        proptest::prop_assert!(now + wait >= last_start, "FCFS: a later arrival started earlier");
                        last_start = now + wait;
                        proptest::prop_assert_eq!(served, ms(service));
                        proptest::prop_assert!(queue_timeout.is_none_or(|timeout| wait <= timeout));
                        if wait > Duration::ZERO {
                            proptest::prop_assert!(queue_max.is_none_or(|max| waiting_before < max));
                        }
                    }
                    Admission::Shed => proptest::prop_assert!(queue_max.is_some_and(|max| waiting_before >= max)),
                    Admission::QueueTimeout { waited } => proptest::prop_assert_eq!(Some(waited), queue_timeout),
                }
            }
            let stats = queue.stats();
            proptest::prop_assert_eq!(stats.served + stats.shed + stats.timed_out, total);
        }
    }
}
