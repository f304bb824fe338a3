//! The policy catalogue through `RetryingStore` over the simulated S3:
//! hedging beats a latency outlier and its failures still go to the retry
//! policy, one AWS retry quota shared by two stores runs out for both,
//! adaptive mode slows down once throttled, Tahoe-LAFS returns the first
//! error, a deadline stops retries before it would be passed, and an open
//! circuit breaker or a client throttle refuses attempts without sending them.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use retrylab_faults::{sub_seed, FaultKind, FaultModel, LatencyDist, LatencySampler, MixtureComponent, Outage};
use retrylab_retry::{CircuitBreakerConfig, GiveUp, Jitter, Policy, PolicyConfig, SharedBudgets};
use retrylab_s3::{
    Consistency, ObjectStoreExt, PutCondition, RetryCounters, RetryingStore, S3Config, S3ErrorCode, S3Service,
    SimS3Client, StoreError,
};
use retrylab_sim::{run, Event, EventKind, SimClock, TraceMode, World, WorldConfig, WorldRun};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

type Store = RetryingStore<SimS3Client, SimClock>;

fn service(world: &World, latency: LatencyDist, faults: FaultModel) -> Rc<RefCell<S3Service>> {
    let config = S3Config {
        latency,
        error_latency: None,
        consistency: Consistency::Strong,
        faults,
        capacity: None,
        rate_limits: None,
    };
    Rc::new(RefCell::new(S3Service::new(config, world.sub_seed("s3"))))
}

/// A client node reaching `service` through the retry layer with `policy`.
fn store(world: &World, service: &Rc<RefCell<S3Service>>, name: &str, policy: Policy) -> Store {
    let client_node = world.net().add_node(name);
    let s3_node = world.net().add_node(&format!("{name}-s3"));
    let client = SimS3Client::new(world.clone(), service.clone(), client_node, s3_node, REQUEST_TIMEOUT);
    RetryingStore::new(client, SimClock, policy).with_trace(world.trace().clone(), client_node)
}

fn connect(world: &World, latency: LatencyDist, faults: FaultModel, policy: PolicyConfig) -> Store {
    let service = service(world, latency, faults);
    store(world, &service, "client", Policy::new(policy, world.sub_seed("policy")))
}

fn sim<T, Fut: Future<Output = T>>(seed: u64, workload: impl FnOnce(World) -> Fut) -> WorldRun<T> {
    let config = WorldConfig { trace_mode: TraceMode::Full, ..WorldConfig::new(seed) };
    run(&config, workload).unwrap_or_else(|e| panic!("{e}"))
}

fn outages(spans: &[(u64, u64, FaultKind)]) -> FaultModel {
    FaultModel {
        outages: spans.iter().map(|&(start_ms, end_ms, kind)| Outage { start_ms, end_ms, kind }).collect(),
        ..FaultModel::default()
    }
}

fn body(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn sent_at(trace: &[Event]) -> Vec<Duration> {
    trace.iter().filter(|e| matches!(e.kind, EventKind::RequestSent { .. })).map(|e| e.at).collect()
}

fn notes(trace: &[Event], what: &str) -> Vec<(Duration, u64)> {
    trace
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Note { what: w, value } if w == what => Some((e.at, value)),
            _ => None,
        })
        .collect()
}

fn decisions(trace: &[Event]) -> Vec<(u32, Result<Duration, &'static str>)> {
    trace
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::RetryDecided { attempt, delay } => Some((attempt, Ok(delay))),
            EventKind::GaveUp { attempt, reason } => Some((attempt, Err(reason))),
            _ => None,
        })
        .collect()
}

#[track_caller]
fn assert_virtual(elapsed: Duration, expected: Duration) {
    // madsim's per-poll clock noise is well under 1 µs per sleep.
    assert!(elapsed.abs_diff(expected) < Duration::from_micros(10), "took {elapsed:?}, expected {expected:?}");
}

// ------------------------------------------------------------------ hedging

/// Half the requests answer in 10 ms, half in 2 s.
fn bimodal() -> LatencyDist {
    LatencyDist::Mixture(vec![
        MixtureComponent { weight: 1.0, dist: LatencyDist::constant_ms(10.0) },
        MixtureComponent { weight: 1.0, dist: LatencyDist::constant_ms(2_000.0) },
    ])
}

/// The first world seed whose S3 answers slot 0 in `first` and slot 1 in `second`.
fn seed_with_latencies(first: Duration, second: Duration) -> u64 {
    (0..10_000)
        .find(|&seed| {
            // As `S3Service::new` derives its latency stream from its sub-seed.
            let sampler = LatencySampler::new(bimodal(), sub_seed(sub_seed(seed, "s3"), "latency"));
            sampler.sample(0) == first && sampler.sample(1) == second
        })
        .expect("some seed has these latencies")
}

#[test]
fn a_hedge_beats_a_latency_outlier() {
    let seed = seed_with_latencies(ms(2_000), ms(10));
    let run = sim(seed, |world| async move {
        let store = connect(&world, bimodal(), FaultModel::default(), PolicyConfig::hedged(PolicyConfig::None, ms(50)));
        let put = store.put("k", body("v"), PutCondition::None).await;
        (put, store.counters(), world.now())
    });
    let (put, counters, elapsed) = run.output;
    assert_eq!(put, Ok(retrylab_s3::service::etag_of(b"v")));
    // The hedge went out at 50 ms and answered 10 ms later; the 2 s copy was cancelled.
    assert_virtual(elapsed, ms(50 + 10));
    assert_eq!(counters, RetryCounters { attempts: 2, hedges: 1, ..RetryCounters::default() });
    let trace = run.trace.unwrap();
    let sent = sent_at(&trace);
    assert_eq!(sent.len(), 2);
    assert_virtual(sent[1] - sent[0], ms(50));
    assert_eq!(notes(&trace, "hedge").len(), 1);
    let responses = trace.iter().filter(|e| matches!(e.kind, EventKind::Response { .. })).count();
    assert_eq!(responses, 1, "the slow copy never answered: it was dropped");
}

#[test]
fn a_fast_answer_sends_no_hedge() {
    let seed = seed_with_latencies(ms(10), ms(2_000));
    let run = sim(seed, |world| async move {
        let store = connect(&world, bimodal(), FaultModel::default(), PolicyConfig::hedged(PolicyConfig::None, ms(50)));
        let put = store.put("k", body("v"), PutCondition::None).await;
        (put.is_ok(), store.counters(), world.now())
    });
    let (ok, counters, elapsed) = run.output;
    assert!(ok);
    assert_virtual(elapsed, ms(10));
    assert_eq!(counters, RetryCounters { attempts: 1, ..RetryCounters::default() });
}

#[test]
fn when_both_copies_are_slow_the_first_answer_wins() {
    let seed = seed_with_latencies(ms(2_000), ms(2_000));
    let run = sim(seed, |world| async move {
        let store = connect(&world, bimodal(), FaultModel::default(), PolicyConfig::hedged(PolicyConfig::None, ms(50)));
        let put = store.put("k", body("v"), PutCondition::None).await;
        (put.is_ok(), store.counters(), world.now())
    });
    let (ok, counters, elapsed) = run.output;
    assert!(ok);
    assert_virtual(elapsed, ms(2_000));
    assert_eq!(counters.hedges, 1);
}

#[test]
fn errors_of_a_hedged_pair_go_through_the_retry_policy() {
    // Every answer takes 10 ms; S3 fails requests arriving before 12 ms.
    // Attempt 1 at 0 ms and its hedge at 5 ms both fail (at 10 and 15 ms):
    // the first error waits for the hedge, then the policy retries at once,
    // unhedged (one hedge per operation), and the retry succeeds at 25 ms.
    let run = sim(1, |world| async move {
        let policy = PolicyConfig::hedged(PolicyConfig::Immediate { retries: 1 }, ms(5));
        let faults = outages(&[(0, 12, FaultKind::InternalError)]);
        let store = connect(&world, LatencyDist::constant_ms(10.0), faults, policy);
        let put = store.put("k", body("v"), PutCondition::None).await;
        (put.is_ok(), store.counters(), world.now())
    });
    let (ok, counters, elapsed) = run.output;
    assert!(ok);
    assert_eq!(counters, RetryCounters { attempts: 3, retries: 1, hedges: 1, ..RetryCounters::default() });
    assert_virtual(elapsed, ms(25));
    let trace = run.trace.unwrap();
    assert_eq!(decisions(&trace), vec![(1, Ok(Duration::ZERO))]);
    let sent = sent_at(&trace);
    assert_eq!(sent.len(), 3);
    assert_virtual(sent[1], ms(5));
    assert_virtual(sent[2], ms(15));
}

// ------------------------------------------------------------------ shared quota

/// Two stores with the AWS standard policy, sharing `shared` or not, take
/// turns at 60 PUTs against an S3 that always answers 500.
fn two_stores_in_an_outage(share: bool) -> (RetryCounters, RetryCounters, u64, Option<u32>) {
    let run = sim(7, |world| async move {
        let service =
            service(&world, LatencyDist::constant_ms(10.0), outages(&[(0, u64::MAX, FaultKind::InternalError)]));
        let shared = SharedBudgets::new();
        let policy = |label: &str| {
            let seed = world.sub_seed(label);
            if share {
                Policy::with_shared(PolicyConfig::aws_standard(), seed, &shared)
            } else {
                Policy::new(PolicyConfig::aws_standard(), seed)
            }
        };
        let a = store(&world, &service, "a", policy("policy.a"));
        let b = store(&world, &service, "b", policy("policy.b"));
        for i in 0..60 {
            let store = if i % 2 == 0 { &a } else { &b };
            assert_eq!(
                store.put("k", body("v"), PutCondition::None).await,
                Err(StoreError::Service(S3ErrorCode::InternalError))
            );
        }
        let exhausted = a.with_policy(|p| p.quota_exhausted_count()) + b.with_policy(|p| p.quota_exhausted_count());
        assert_eq!(exhausted, a.counters().quota_exhausted + b.counters().quota_exhausted);
        if share {
            assert_eq!(shared.quota_exhausted(), exhausted);
        }
        (a.counters(), b.counters(), exhausted, a.with_policy(|p| p.shared().aws_quota_available()))
    });
    run.output
}

#[test]
fn a_shared_quota_runs_out_across_two_stores() {
    // Each failed PUT makes 3 attempts, 2 retries at 5 tokens: 500 tokens
    // pay for 50 operations between the two stores; the other 10 get no
    // retry at all (the quota refuses the first).
    let (a, b, exhausted, left) = two_stores_in_an_outage(true);
    assert_eq!(a.retries + b.retries, 100);
    assert_eq!(exhausted, 10);
    assert_eq!((a.quota_exhausted, b.quota_exhausted), (5, 5));
    assert_eq!(a.attempts + b.attempts, 50 * 3 + 10);
    assert_eq!(a.gave_up + b.gave_up, 60);
    assert_eq!(left, Some(0));
    // With a quota each, 30 operations (300 tokens) do not exhaust either.
    let (a, b, exhausted, left) = two_stores_in_an_outage(false);
    assert_eq!(a.retries + b.retries, 120);
    assert_eq!(exhausted, 0);
    assert_eq!(left, Some(200));
}

// ------------------------------------------------------------------ adaptive

struct Sequential {
    elapsed: Duration,
    failed: usize,
    trace: Vec<Event>,
}

/// 50 sequential PUTs, 10 ms each, S3 throttling everything before `slow_down_until_ms`.
fn sequential_puts(policy: PolicyConfig, slow_down_until_ms: u64) -> Sequential {
    let run = sim(11, |world| async move {
        let faults = outages(&[(0, slow_down_until_ms, FaultKind::SlowDown)]);
        let store = connect(&world, LatencyDist::constant_ms(10.0), faults, policy);
        let mut failed = 0;
        for i in 0..50 {
            if store.put(&format!("k{i}"), body("v"), PutCondition::None).await.is_err() {
                failed += 1;
            }
        }
        (world.now(), failed)
    });
    let (elapsed, failed) = run.output;
    Sequential { elapsed, failed, trace: run.trace.unwrap() }
}

#[test]
fn adaptive_mode_sends_at_full_speed_until_throttled() {
    let standard = sequential_puts(PolicyConfig::aws_standard(), 0);
    let adaptive = sequential_puts(PolicyConfig::aws_adaptive(), 0);
    assert_virtual(standard.elapsed, ms(500));
    assert_virtual(adaptive.elapsed, ms(500));
    assert!(notes(&adaptive.trace, "rate_limit_wait_ms").is_empty());
}

#[test]
fn adaptive_mode_slows_down_after_throttling() {
    let standard = sequential_puts(PolicyConfig::aws_standard(), 100);
    let adaptive = sequential_puts(PolicyConfig::aws_adaptive(), 100);
    assert!(notes(&standard.trace, "rate_limit_wait_ms").is_empty(), "standard mode never waits before sending");
    let waits = notes(&adaptive.trace, "rate_limit_wait_ms");
    assert!(waits.len() >= 10, "only {} first attempts waited", waits.len());
    // Nothing waited before the first throttling answer.
    let first_throttle = adaptive
        .trace
        .iter()
        .find(|e| matches!(e.kind, EventKind::Response { status: 503, .. }))
        .map(|e| e.at)
        .expect("S3 throttled");
    assert!(waits.iter().all(|&(at, _)| at >= first_throttle));
    // After the throttling, the limiter spaces requests out: the adaptive
    // client needs far longer for the same 50 PUTs.
    assert!(
        adaptive.elapsed > standard.elapsed * 5,
        "adaptive {:?} vs standard {:?}",
        adaptive.elapsed,
        standard.elapsed
    );
    let after_outage = |run: &Sequential| sent_at(&run.trace).into_iter().filter(|t| *t >= ms(100)).count();
    assert!(after_outage(&adaptive) <= after_outage(&standard));
    assert!(standard.failed <= 1 && adaptive.failed <= 1, "{} {}", standard.failed, adaptive.failed);
}

// ------------------------------------------------------------------ Tahoe, deadline

#[test]
fn tahoe_returns_the_first_error() {
    // A 500 first, then 503s for the rest of the retries (0 s, 2 s, 10 s).
    let faults = || outages(&[(0, 5, FaultKind::InternalError), (5, 60_000, FaultKind::SlowDown)]);
    let put = |policy: PolicyConfig| {
        let faults = faults();
        sim(3, |world| async move {
            let store = connect(&world, LatencyDist::constant_ms(10.0), faults, policy);
            (store.put("k", body("v"), PutCondition::None).await, store.counters(), world.now())
        })
    };
    let run = put(PolicyConfig::tahoe_cloud());
    let (result, counters, elapsed) = run.output;
    assert_eq!(result, Err(StoreError::Service(S3ErrorCode::InternalError)), "the first error, as Tahoe raises it");
    assert_eq!(counters, RetryCounters { attempts: 4, retries: 3, gave_up: 1, ..RetryCounters::default() });
    assert_virtual(elapsed, ms(4 * 10 + 2_000 + 10_000));
    assert_eq!(
        decisions(run.trace.as_ref().unwrap()),
        vec![(1, Ok(Duration::ZERO)), (2, Ok(ms(2_000))), (3, Ok(ms(10_000))), (4, Err("attempts_exhausted"))]
    );
    // The plain schedule returns the last error.
    let (result, _, _) = put(PolicyConfig::tahoe_cloud_backend()).output;
    assert_eq!(result, Err(StoreError::Service(S3ErrorCode::SlowDown)));
}

#[test]
fn a_deadline_stops_retries_before_it_would_be_passed() {
    let run = sim(4, |world| async move {
        let inner =
            PolicyConfig::Exponential { base: ms(100), cap: ms(10_000), attempts_max: 10, jitter: Jitter::None };
        let faults = outages(&[(0, u64::MAX, FaultKind::InternalError)]);
        let store = connect(&world, LatencyDist::constant_ms(10.0), faults, PolicyConfig::deadline(inner, ms(350)));
        (store.put("k", body("v"), PutCondition::None).await, world.now())
    });
    let (result, elapsed) = run.output;
    assert_eq!(result, Err(StoreError::Service(S3ErrorCode::InternalError)));
    // Failures at 10, 120 and 330 ms; 330 + 400 would pass 350.
    assert_virtual(elapsed, ms(330));
    assert_eq!(
        decisions(run.trace.as_ref().unwrap()),
        vec![(1, Ok(ms(100))), (2, Ok(ms(200))), (3, Err("deadline_exceeded"))]
    );
}

// ------------------------------------------------- refusals (nothing sent)

#[test]
fn an_open_breaker_refuses_the_retry_and_the_next_request_unsent() {
    let run = sim(5, |world| async move {
        let breaker = CircuitBreakerConfig { minimum_calls: 2, open: ms(1_000), ..CircuitBreakerConfig::default() };
        let policy = PolicyConfig::CircuitBreaker { inner: Box::new(PolicyConfig::Immediate { retries: 5 }), breaker };
        let faults = outages(&[(0, u64::MAX, FaultKind::InternalError)]);
        let store = connect(&world, LatencyDist::constant_ms(10.0), faults, policy);
        let first = store.put("k", body("v"), PutCondition::None).await;
        let second = store.get("k").await;
        (first, second, store.counters(), world.now())
    });
    let (first, second, counters, elapsed) = run.output;
    let trace = run.trace.as_ref().unwrap();
    // Two 500s open the breaker; the third attempt and the GET are refused.
    assert_eq!(first, Err(StoreError::Refused(GiveUp::CircuitOpen)));
    assert_eq!(second.map(|_| ()), Err(StoreError::Refused(GiveUp::CircuitOpen)));
    let sent = sent_at(trace);
    assert_eq!(sent.len(), 2, "only the two attempts before it opened were sent");
    assert_virtual(sent[1], ms(10));
    assert_virtual(elapsed, ms(20));
    assert_eq!(
        decisions(trace),
        vec![(1, Ok(ms(0))), (2, Ok(ms(0))), (2, Err("circuit_open")), (0, Err("circuit_open"))]
    );
    assert_eq!(counters, RetryCounters { attempts: 2, retries: 2, gave_up: 2, quota_exhausted: 2, hedges: 0 });
    let refused = StoreError::Refused(GiveUp::CircuitOpen);
    assert_eq!(refused.name(), "refused_by_client");
    assert!(!refused.is_indeterminate() && refused.status().is_none());
}

#[test]
fn a_client_throttle_sends_only_what_it_admits() {
    let run = sim(6, |world| async move {
        let faults = outages(&[(0, u64::MAX, FaultKind::SlowDown)]);
        let policy = PolicyConfig::client_throttle(PolicyConfig::None);
        let store = connect(&world, LatencyDist::constant_ms(10.0), faults, policy);
        let mut refused = 0u64;
        for i in 0..100 {
            match store.put(&format!("k{i}"), body("v"), PutCondition::None).await {
                Err(StoreError::Refused(GiveUp::ClientThrottled)) => refused += 1,
                Err(StoreError::Service(S3ErrorCode::SlowDown)) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        (refused, store.counters())
    });
    let (refused, counters) = run.output;
    let trace = run.trace.as_ref().unwrap();
    // Every 503 is a request not accepted: p = n / (n + 1) after n requests.
    assert!(refused >= 90, "{refused} of 100 refused");
    assert_eq!(counters.attempts, 100 - refused);
    assert_eq!(sent_at(trace).len() as u64, counters.attempts, "a refused attempt sends nothing");
    assert_eq!(counters.quota_exhausted, refused);
    assert_eq!(counters.gave_up, 100);
}
