//! `s3-requests` under load (issue 12): open-loop arrivals or closed-loop
//! clients with think time, per-operation deadlines, a concurrency limit,
//! key popularity and prefixes, against an S3 that may queue and throttle;
//! measured per window of virtual time ([`LoadSeries`]) and, when the
//! scenario has a trigger (a slowdown, an outage or a burst), by how long
//! goodput took to come back after it ([`recovery`]).
//!
//! Every operation is its own task, so a slow or failing backend does not
//! slow the arrivals (open loop). Common random numbers hold across
//! policies: arrival times, keys and think times are drawn per operation
//! from streams no policy touches.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures::future::{select, Either};
use retrylab_faults::{LatencySampler, SimRng};
use retrylab_load::{Arrivals, KeyPopularity, KeySampler, LoadSeries, RecoveryReport, Traffic, Trigger};
use retrylab_retry::Policy;
use retrylab_s3::service::{OverloadCounts, BUSY_WINDOW};
use retrylab_s3::{
    ObjectStore, PutCondition, RetryingStore, S3Request, S3Response, S3Service, SimS3Client, StoreError,
};
use retrylab_scenario::{NamedPolicy, S3Operation, Scenario, Workload};
use retrylab_sim::{EventKind, NodeId, SimClock, TaskContext, World};
use serde::{Deserialize, Serialize};

use crate::report::RunReport;
use crate::workload::{book_s3, object_body, s3_config, s3_requests_key};

/// Goodput within this fraction of its value before the trigger counts as recovered.
pub const RECOVERY_TOLERANCE: f64 = 0.05;
/// Windows averaged when judging recovery (Poisson noise of one window is
/// a few percent at a thousand operations a second).
pub const RECOVERY_SMOOTHING_WINDOWS: usize = 5;

/// What a run under load measured, beyond the per-operation counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub series: LoadSeries,
    /// The simulated S3's refusals for load and its queue's totals.
    pub s3_throttled: u64,
    pub s3_shed: u64,
    pub s3_queue_timeouts: u64,
    pub s3_served: u64,
    pub s3_wait_us: u64,
    pub s3_busy_us: u64,
    pub s3_splits: u64,
    /// S3's queue servers (0: no queue), for utilisation.
    pub s3_servers: u64,
    /// Operations refused by the client's concurrency limit.
    pub rejected: u64,
    /// Operations whose deadline passed.
    pub gave_up: u64,
    /// Arrivals stopped here (open loop): later windows only drain.
    pub measured_until_ms: u64,
    /// The trigger's span, if the scenario has one.
    pub trigger_ms: Option<(u64, u64)>,
    /// Goodput's baseline before the trigger and its recovery after.
    pub baseline_per_s: Option<f64>,
    /// Seconds after the trigger ended that goodput came back within
    /// [`RECOVERY_TOLERANCE`]; `None` with a trigger: it did not (a metastable state).
    pub recovery_s: Option<f64>,
}

/// Whether `scenario` runs through this driver: an `s3-requests` put or get
/// workload with any load setting (the others keep their exact old path).
pub(crate) fn applies(scenario: &Scenario) -> bool {
    let put_or_get =
        matches!(scenario.workload, Workload::S3Requests { operation: S3Operation::Put | S3Operation::Get, .. });
    put_or_get
        && (!scenario.traffic.is_default() || scenario.s3.capacity.is_some() || scenario.s3.rate_limits.is_some())
}

/// The trigger of `scenario`: the span from the first slowdown, outage or
/// burst to the end of the last.
pub fn trigger(scenario: &Scenario) -> Option<Trigger> {
    let mut spans: Vec<(Duration, Duration)> = Vec::new();
    if let Some(capacity) = &scenario.s3.capacity {
        spans.extend(capacity.slowdowns.iter().map(|s| (s.start, s.end)));
    }
    spans.extend(
        scenario.faults.outages.iter().map(|o| (Duration::from_millis(o.start_ms), Duration::from_millis(o.end_ms))),
    );
    if let Some(open) = &scenario.traffic.open_loop {
        spans.extend(open.schedule.bursts.iter().map(|b| (b.start, b.start + b.duration)));
    }
    let start = spans.iter().map(|s| s.0).min()?;
    let end = spans.iter().map(|s| s.1).max()?;
    Some(Trigger { start, end })
}

/// The window of a run's series: one second, or longer for long runs (at most about 600 windows).
pub fn window_of(scenario: &Scenario) -> Duration {
    let horizon = scenario.traffic.open_loop.as_ref().map_or(Duration::ZERO, |open| open.duration);
    let seconds = horizon.as_secs().div_ceil(600).max(1);
    Duration::from_secs(seconds)
}

/// The key of operation `i`'s `k`-th key under `prefixes` prefixes.
fn key_name(k: u64, prefixes: u64) -> String {
    if prefixes <= 1 {
        s3_requests_key(k)
    } else {
        format!("shares/p{:04}/{k:016x}/0", k % prefixes)
    }
}

/// Counts every request sent per window (first tries and retries) before passing it on.
struct Metered<S> {
    inner: S,
    series: Rc<RefCell<LoadSeries>>,
}

impl<S: ObjectStore> ObjectStore for Metered<S> {
    async fn send(&self, request: S3Request) -> Result<S3Response, StoreError> {
        let retry = TaskContext::current().attempt.is_some_and(|attempt| attempt > 1);
        self.series.borrow_mut().add_attempt(SimClock.now(), retry);
        self.inner.send(request).await
    }
}

/// How one operation ended.
#[derive(Clone, Debug)]
enum Ended {
    Done(Result<(), StoreError>),
    /// The deadline passed first.
    GaveUp,
    /// Refused by the concurrency limit.
    Rejected,
}

struct Shared {
    world: World,
    server: NodeId,
    store: RetryingStore<Metered<SimS3Client>, SimClock>,
    series: Rc<RefCell<LoadSeries>>,
    requests: Vec<S3Request>,
    deadline: Option<Duration>,
    in_flight: Cell<u64>,
    results: RefCell<Vec<Option<(u64, Ended)>>>,
}

/// Runs operation `i` to its end (or its deadline), books it.
async fn operation(shared: Rc<Shared>, i: usize) {
    let world = &shared.world;
    let request = shared.requests[i].clone();
    let started = EventKind::OperationStart { operation: i as u64, what: request.operation_name() };
    world.trace().record_with(shared.server, started, || vec![("key", request.key().to_owned().into())]);
    let start = world.now();
    let send = TaskContext::operation(i as u64).scope(shared.store.send(request));
    let ended = match shared.deadline {
        None => Ended::Done(send.await.map(drop)),
        Some(deadline) => {
            let send = std::pin::pin!(send);
            let timer = std::pin::pin!(SimClock.sleep(deadline));
            match select(send, timer).await {
                Either::Left((result, _)) => Ended::Done(result.map(drop)),
                Either::Right(((), _)) => Ended::GaveUp,
            }
        }
    };
    let now = world.now();
    let latency_us = u64::try_from(now.saturating_sub(start).as_micros()).unwrap_or(u64::MAX);
    let status = match &ended {
        Ended::Done(Ok(())) => 200,
        Ended::Done(Err(error)) => error.status().unwrap_or(0),
        Ended::GaveUp | Ended::Rejected => 0,
    };
    world.trace().record_with(shared.server, EventKind::OperationEnd { operation: i as u64, status }, || {
        let name = match &ended {
            Ended::Done(Err(error)) => Some(error.name()),
            Ended::GaveUp => Some("deadline"),
            _ => None,
        };
        crate::trace_records::end_detail(name)
    });
    {
        let mut series = shared.series.borrow_mut();
        match &ended {
            Ended::Done(Ok(())) => series.add_success(now, latency_us),
            Ended::Done(Err(_)) => series.add_failure(now),
            Ended::GaveUp => series.add_gave_up(now),
            Ended::Rejected => {}
        }
    }
    shared.in_flight.set(shared.in_flight.get() - 1);
    shared.results.borrow_mut()[i] = Some((latency_us, ended));
}

/// Runs `scenario`'s `s3-requests` workload under load.
pub(crate) async fn drive(world: World, scenario: &Scenario, policy: &NamedPolicy) -> RunReport {
    let mut report = RunReport::empty(world.seed(), &policy.name);
    let Workload::S3Requests { operations, operation: kind, object_bytes, keys, clients } = scenario.workload else {
        return report;
    };
    let traffic: &Traffic = &scenario.traffic;
    let server = world.net().add_node("storage-server");
    let s3_node = world.net().add_node("s3");
    let service = Rc::new(RefCell::new(S3Service::new(s3_config(scenario), world.sub_seed("s3"))));
    let client = SimS3Client::new(world.clone(), service.clone(), server, s3_node, scenario.s3.request_timeout);
    let window = window_of(scenario);
    let series = Rc::new(RefCell::new(LoadSeries::new(window)));
    let metered = Metered { inner: client, series: series.clone() };
    let store = RetryingStore::new(metered, SimClock, Policy::new(policy.config.clone(), world.sub_seed("policy")))
        .with_trace(world.trace().clone(), server);

    // What arrives when, and which key each operation touches: drawn before
    // the run from streams of their own, the same for every policy.
    let arrivals: Option<Vec<Duration>> = traffic
        .open_loop
        .as_ref()
        .map(|open| Arrivals::new(open.schedule.clone(), open.duration, world.sub_seed("arrivals")).collect());
    let count = arrivals.as_ref().map_or(operations, |a| a.len() as u64) as usize;
    let keys = keys.max(1);
    let key_of: Vec<u64> = match traffic.popularity {
        // Uniform cycles over the keys, as the closed loop always has.
        KeyPopularity::Uniform => (0..count as u64).map(|i| i % keys).collect(),
        popularity @ KeyPopularity::Zipf { .. } => {
            let sampler = KeySampler::new(popularity, keys);
            let mut rng: SimRng = world.rng("keys");
            (0..count).map(|_| sampler.sample(&mut rng)).collect()
        }
    };
    let put = kind == S3Operation::Put;
    if !put {
        // The objects exist before the measured requests start.
        let mut service = service.borrow_mut();
        for k in 0..keys.min(count as u64) {
            let request = S3Request::Put {
                key: key_name(k, traffic.prefixes),
                body: object_body(k, object_bytes),
                condition: PutCondition::None,
            };
            service.preload(&request);
        }
    }
    let bodies = [object_body(0, object_bytes), object_body(1, object_bytes)];
    let requests: Vec<S3Request> = key_of
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let key = key_name(*k, traffic.prefixes);
            if put {
                S3Request::Put { key, body: bodies[i % 2].clone(), condition: PutCondition::None }
            } else {
                S3Request::Get { key }
            }
        })
        .collect();
    let shared = Rc::new(Shared {
        world: world.clone(),
        server,
        store,
        series: series.clone(),
        requests,
        deadline: traffic.deadline,
        in_flight: Cell::new(0),
        results: RefCell::new(vec![None; count]),
    });

    let mut tasks = Vec::new();
    let mut rejected = 0;
    match &arrivals {
        Some(arrivals) => {
            tasks.reserve(arrivals.len());
            for (i, at) in arrivals.iter().enumerate() {
                let now = world.now();
                if *at > now {
                    SimClock.sleep(*at - now).await;
                }
                let now = world.now();
                series.borrow_mut().add_offered(now);
                if traffic.concurrency_max.is_some_and(|limit| shared.in_flight.get() >= limit) {
                    rejected += 1;
                    series.borrow_mut().add_rejected(now);
                    shared.results.borrow_mut()[i] = Some((0, Ended::Rejected));
                    continue;
                }
                shared.in_flight.set(shared.in_flight.get() + 1);
                tasks.push(madsim::task::spawn_local(operation(shared.clone(), i)));
            }
        }
        None => {
            // Closed loop: client c runs operations c, c + clients, ..,
            // thinking between them (a draw per operation).
            let clients = clients.clamp(1, count.max(1) as u64) as usize;
            let think = traffic.think_time.clone().map(|dist| LatencySampler::new(dist, world.sub_seed("think")));
            for c in 0..clients {
                let (shared, series, think) = (shared.clone(), series.clone(), think.clone());
                tasks.push(madsim::task::spawn_local(async move {
                    let mut i = c;
                    while i < count {
                        if let Some(think) = &think {
                            SimClock.sleep(think.sample(i as u64)).await;
                        }
                        series.borrow_mut().add_offered(SimClock.now());
                        shared.in_flight.set(shared.in_flight.get() + 1);
                        operation(shared.clone(), i).await;
                        i += clients;
                    }
                }));
            }
        }
    }
    for task in tasks {
        if let Err(error) = task.await {
            std::panic::resume_unwind(Box::new(format!("an operation task ended abnormally: {error}")));
        }
    }

    // Book every operation in arrival order (paired comparisons need it).
    let results = std::mem::take(&mut *shared.results.borrow_mut());
    report.operations = results.len() as u64;
    report.latencies_us.reserve(results.len());
    report.outcomes.reserve(results.len());
    let mut gave_up = 0;
    for (latency_us, ended) in results.into_iter().flatten() {
        report.latencies_us.push(latency_us);
        let (ok, failure): (bool, Option<(&str, String)>) = match &ended {
            Ended::Done(Ok(())) => (true, None),
            Ended::Done(Err(error)) => {
                (false, Some((error.name(), error.status().map_or_else(|| "none".to_owned(), |s| s.to_string()))))
            }
            Ended::GaveUp => {
                gave_up += 1;
                (false, Some(("deadline", "none".to_owned())))
            }
            Ended::Rejected => (false, Some(("rejected", "none".to_owned()))),
        };
        report.outcomes.push(ok);
        if let Some((kind, status)) = failure {
            report.failures += 1;
            *report.failures_by_kind.entry(kind.to_owned()).or_default() += 1;
            *report.failures_by_status.entry(status).or_default() += 1;
        }
    }
    let service = service.borrow();
    book_s3(&mut report, shared.store.counters(), &service);
    let mut series = series.borrow().clone();
    // The service keeps busy time per second; the series' window is a whole number of seconds.
    let per_window = usize::try_from((window.as_millis() / BUSY_WINDOW.as_millis()).max(1)).unwrap_or(1);
    series.busy_us = service.busy_us_per_window().chunks(per_window).map(|chunk| chunk.iter().sum()).collect();
    report.load = Some(load_report(scenario, series, world.now(), service.overload(), Refusals { rejected, gave_up }));
    report
}

/// Operations the client itself ended: refused by its concurrency limit, or past their deadline.
pub(crate) struct Refusals {
    pub rejected: u64,
    pub gave_up: u64,
}

/// The [`LoadReport`] of a run of `scenario` that measured `series`, ended
/// at `ended` (closed loop: arrivals stop there), with S3's `overload`.
pub(crate) fn load_report(
    scenario: &Scenario,
    series: LoadSeries,
    ended: Duration,
    overload: OverloadCounts,
    refusals: Refusals,
) -> LoadReport {
    let window = Duration::from_millis(series.window_ms);
    let measured_until = scenario.traffic.open_loop.as_ref().map_or(ended, |open| open.duration);
    let trigger = trigger(scenario);
    let recovered: Option<RecoveryReport> = trigger.and_then(|trigger| {
        retrylab_load::recovery(
            &series.succeeded,
            window,
            trigger,
            trigger.start / 4,
            measured_until,
            RECOVERY_TOLERANCE,
            RECOVERY_SMOOTHING_WINDOWS,
        )
    });
    let OverloadCounts { throttled, shed, queue_timeouts, served, wait_us, busy_us, splits } = overload;
    LoadReport {
        series,
        s3_throttled: throttled,
        s3_shed: shed,
        s3_queue_timeouts: queue_timeouts,
        s3_served: served,
        s3_wait_us: wait_us,
        s3_busy_us: busy_us,
        s3_splits: splits,
        s3_servers: scenario.s3.capacity.as_ref().map_or(0, |c| u64::from(c.servers)),
        rejected: refusals.rejected,
        gave_up: refusals.gave_up,
        measured_until_ms: u64::try_from(measured_until.as_millis()).unwrap_or(u64::MAX),
        trigger_ms: trigger.map(|t| (t.start.as_millis() as u64, t.end.as_millis() as u64)),
        baseline_per_s: recovered.map(|r| r.baseline_per_s),
        recovery_s: recovered.and_then(|r| match r.recovery {
            retrylab_load::Recovery::Recovered { after } => Some(after.as_secs_f64()),
            retrylab_load::Recovery::NotRecovered => None,
        }),
    }
}
