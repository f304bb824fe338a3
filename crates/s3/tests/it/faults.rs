//! Injected S3 faults as the client sees them: 500s, timeouts, resets and
//! 503s, scripted outages, and ambiguous writes ("applied but 500") that
//! land although the client saw a failure, which SlowDown never does.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use retrylab_faults::{FaultKind, FaultMix, FaultModel, FaultProcess, LatencyDist, Outage};
use retrylab_retry::ErrorClass;
use retrylab_s3::{
    Consistency, ObjectStore, ObjectStoreExt, PutCondition, S3Config, S3ErrorCode, S3Request, S3Service, SimS3Client,
    StoreError, TransportError,
};
use retrylab_sim::{run, Event, EventKind, TraceMode, World, WorldConfig, WorldRun};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);
const INTERNAL_ERROR: StoreError = StoreError::Service(S3ErrorCode::InternalError);
const NO_SUCH_KEY: StoreError = StoreError::Service(S3ErrorCode::NoSuchKey);

/// S3 answers successes in 10 ms and errors in 50 ms, so the two are told apart by time.
fn config(faults: FaultModel) -> S3Config {
    S3Config {
        latency: LatencyDist::constant_ms(10.0),
        error_latency: Some(LatencyDist::constant_ms(50.0)),
        consistency: Consistency::Strong,
        faults,
        capacity: None,
        rate_limits: None,
    }
}

fn connect(world: &World, config: S3Config) -> (SimS3Client, Rc<RefCell<S3Service>>) {
    let client_node = world.net().add_node("client");
    let s3_node = world.net().add_node("s3");
    let service = Rc::new(RefCell::new(S3Service::new(config, world.sub_seed("s3"))));
    let client = SimS3Client::new(world.clone(), service.clone(), client_node, s3_node, REQUEST_TIMEOUT);
    (client, service)
}

fn sim<T, Fut: Future<Output = T>>(seed: u64, workload: impl FnOnce(World) -> Fut) -> WorldRun<T> {
    let config = WorldConfig { trace_mode: TraceMode::Full, ..WorldConfig::new(seed) };
    run(&config, workload).unwrap_or_else(|e| panic!("{e}"))
}

fn body(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

/// Every request fails with `kind`; `ambiguous` of the (appliable) faults land anyway.
fn always(kind: FaultKind, ambiguous: f64) -> FaultModel {
    FaultModel {
        process: FaultProcess::Independent { failure_probability: 1.0 },
        mix: only(kind),
        ambiguous_fraction: ambiguous,
        ..FaultModel::default()
    }
}

fn only(kind: FaultKind) -> FaultMix {
    let weight = |k: FaultKind| if k == kind { 1.0 } else { 0.0 };
    FaultMix {
        internal_error: weight(FaultKind::InternalError),
        slow_down: weight(FaultKind::SlowDown),
        connection_reset: weight(FaultKind::ConnectionReset),
        timeout: weight(FaultKind::Timeout),
    }
}

/// Faults only in the first second of virtual time.
fn first_second(kind: FaultKind, ambiguous: f64) -> FaultModel {
    FaultModel {
        outages: vec![Outage { start_ms: 0, end_ms: 1_000, kind }],
        ambiguous_fraction: ambiguous,
        ..FaultModel::default()
    }
}

/// The injected faults of a trace, by slot: (kind, applied).
fn faults_by_slot(trace: &[Event]) -> BTreeMap<u64, (&'static str, bool)> {
    trace
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::FaultInjected { slot, kind, applied } => Some((slot, (kind, applied))),
            _ => None,
        })
        .collect()
}

async fn timed<T>(world: &World, f: impl Future<Output = T>) -> (T, Duration) {
    let start = world.now();
    let output = f.await;
    (output, world.now() - start)
}

#[track_caller]
fn assert_virtual(elapsed: Duration, expected: Duration) {
    // madsim's per-poll clock noise is well under 1 µs per sleep.
    assert!(elapsed.abs_diff(expected) < Duration::from_micros(10), "took {elapsed:?}, expected {expected:?}");
}

#[test]
fn certain_faults_fail_every_request_with_500() {
    let run = sim(1, |world| async move {
        let (s3, service) = connect(&world, config(FaultModel::independent(1.0)));
        let mut results = Vec::new();
        results.push(timed(&world, s3.put("k", body("v"), PutCondition::None)).await.0.map(|_| ()));
        results.push(s3.put("k", body("v"), PutCondition::IfNoneMatch).await.map(|_| ()));
        results.push(s3.get("k").await.map(|_| ()));
        results.push(s3.send(S3Request::Head { key: "k".into() }).await.map(|_| ()));
        results.push(s3.delete("k").await);
        results.push(s3.list_page("", None).await.map(|_| ()));
        let service = service.borrow();
        (results, service.requests_handled(), service.faults_injected(), service.snapshot(), world.now())
    });
    let (results, handled, injected, snapshot, elapsed) = run.output;
    assert_eq!(results, vec![Err(INTERNAL_ERROR); 6]);
    let error = INTERNAL_ERROR;
    assert_eq!(error.status(), Some(500));
    assert_eq!(error.class(), ErrorClass::ServerError);
    assert!(error.is_indeterminate());
    assert_eq!((handled, injected), (6, 6));
    assert!(snapshot.is_empty(), "no fault was ambiguous, so no write landed: {snapshot:?}");
    // Each failure took the error latency (50 ms), not the success latency.
    assert_virtual(elapsed, ms(6 * 50));
    let faults = faults_by_slot(run.trace.as_ref().unwrap());
    assert_eq!(faults.keys().copied().collect::<Vec<_>>(), (0..6).collect::<Vec<_>>());
    assert!(faults.values().all(|f| *f == ("internal_error", false)), "{faults:?}");
}

#[test]
fn a_timeout_fault_costs_the_request_timeout() {
    let run = sim(2, |world| async move {
        let (s3, service) = connect(&world, config(always(FaultKind::Timeout, 0.0)));
        let put = timed(&world, s3.put("k", body("v"), PutCondition::None)).await;
        let get = timed(&world, s3.get("k")).await;
        let injected = service.borrow().faults_injected();
        (put, get, injected)
    });
    let ((put, put_elapsed), (get, get_elapsed), injected) = run.output;
    let timeout = StoreError::Transport(TransportError::Timeout);
    assert_eq!(put, Err(timeout));
    assert_eq!(get, Err(timeout));
    assert_virtual(put_elapsed, REQUEST_TIMEOUT);
    assert_virtual(get_elapsed, REQUEST_TIMEOUT);
    assert_eq!(injected, 2);
    assert_eq!(timeout.status(), None);
    assert_eq!(timeout.class(), ErrorClass::Timeout);
    assert!(timeout.is_indeterminate());
    let responses: Vec<_> = run
        .trace
        .unwrap()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Response { slot, status, error } => Some((slot, status, error)),
            _ => None,
        })
        .collect();
    assert_eq!(responses, vec![(0, 0, "timeout"), (1, 0, "timeout")]);
}

#[test]
fn a_connection_reset_fault_has_no_status_line() {
    let run = sim(3, |world| async move {
        let (s3, _) = connect(&world, config(always(FaultKind::ConnectionReset, 0.0)));
        timed(&world, s3.get("k")).await
    });
    let (result, elapsed) = run.output;
    let reset = StoreError::Transport(TransportError::ConnectionReset);
    assert_eq!(result, Err(reset));
    assert_eq!(reset.status(), None);
    assert_eq!(reset.class(), ErrorClass::ConnectionReset);
    // The connection drops after the error latency, not at the timeout.
    assert_virtual(elapsed, ms(50));
}

#[test]
fn a_refused_connection_is_a_transport_error() {
    let run = sim(3, |world| async move {
        let client_node = world.net().add_node("client");
        let s3_node = world.net().add_node("s3");
        let service = Rc::new(RefCell::new(S3Service::new(config(FaultModel::default()), world.sub_seed("s3"))));
        let s3 = SimS3Client::new(world.clone(), service.clone(), client_node, s3_node, REQUEST_TIMEOUT);
        world.net().crash(s3_node);
        let refused = s3.put("k", body("v"), PutCondition::None).await;
        let landed_while_down = service.borrow().snapshot().len();
        world.net().restart(s3_node);
        let after = s3.put("k", body("v"), PutCondition::None).await;
        let landed = service.borrow().snapshot().len();
        (refused, landed_while_down, after.is_ok(), landed)
    });
    let refused = StoreError::Transport(TransportError::ConnectionRefused);
    assert_eq!(run.output, (Err(refused), 0, true, 1));
    assert_eq!(refused.class(), ErrorClass::ConnectionReset);
    assert!(!refused.is_indeterminate(), "a refused request never reached S3");
}

#[test]
fn an_ambiguous_500_still_applies_the_write() {
    let run = sim(4, |world| async move {
        let (s3, _) = connect(&world, config(first_second(FaultKind::InternalError, 1.0)));
        let put = s3.put("k", body("landed"), PutCondition::None).await;
        // Reads in the outage fail too.
        let read_in_outage = s3.get("k").await;
        world.clock().sleep(Duration::from_secs(2)).await;
        let read_after = s3.get("k").await;
        (put, read_in_outage, read_after)
    });
    let (put, read_in_outage, read_after) = run.output;
    assert_eq!(put, Err(INTERNAL_ERROR));
    assert_eq!(read_in_outage, Err(INTERNAL_ERROR));
    assert_eq!(read_after, Ok((body("landed"), retrylab_s3::service::etag_of(b"landed"))));
    let faults = faults_by_slot(run.trace.as_ref().unwrap());
    assert_eq!(faults.get(&0), Some(&("internal_error", true)));
    assert_eq!(faults.len(), 2, "the read after the outage was not faulted: {faults:?}");
}

#[test]
fn an_unambiguous_500_leaves_no_trace_of_the_write() {
    let run = sim(4, |world| async move {
        let (s3, _) = connect(&world, config(first_second(FaultKind::InternalError, 0.0)));
        let put = s3.put("k", body("lost"), PutCondition::None).await;
        world.clock().sleep(Duration::from_secs(2)).await;
        (put, s3.get("k").await)
    });
    assert_eq!(run.output, (Err(INTERNAL_ERROR), Err(NO_SUCH_KEY)));
}

#[test]
fn ambiguous_deletes_and_timeouts_apply_too() {
    let run = sim(5, |world| async move {
        let (s3, service) = connect(&world, config(FaultModel::default()));
        s3.put("gone", body("v"), PutCondition::None).await.unwrap();
        drop(s3);
        // A second service with the same seed but certain ambiguous faults:
        // independent(1.0) with every fault applied.
        let mut model = always(FaultKind::InternalError, 1.0);
        model.mix = FaultMix { internal_error: 1.0, slow_down: 0.0, connection_reset: 1.0, timeout: 1.0 };
        let (faulty, faulty_service) = connect(&world, config(model));
        for i in 0..30 {
            let result = faulty.put(&format!("k{i:02}"), body("v"), PutCondition::None).await;
            assert!(result.is_err(), "{result:?}");
        }
        let delete = faulty.delete("k00").await;
        let snapshot = faulty_service.borrow().snapshot();
        let first_service = service.borrow().snapshot();
        (delete, snapshot, first_service)
    });
    let (delete, snapshot, first_service) = run.output;
    assert!(delete.is_err());
    let keys: Vec<&str> = snapshot.iter().map(|(k, _)| k.as_str()).collect();
    // Every PUT landed whatever fault hid its answer; the DELETE landed too.
    assert_eq!(keys, (1..30).map(|i| format!("k{i:02}")).collect::<Vec<_>>());
    assert_eq!(first_service.len(), 1);
    let faults = faults_by_slot(run.trace.as_ref().unwrap());
    let kinds: std::collections::BTreeSet<&str> = faults.values().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds.len(), 3, "the mix should have produced all three kinds: {kinds:?}");
    assert!(faults.values().all(|(_, applied)| *applied));
}

#[test]
fn slow_down_is_never_applied() {
    let run = sim(6, |world| async move {
        let (s3, _) = connect(&world, config(first_second(FaultKind::SlowDown, 1.0)));
        let put = s3.put("k", body("throttled"), PutCondition::None).await;
        world.clock().sleep(Duration::from_secs(2)).await;
        (put, s3.get("k").await)
    });
    let (put, get) = run.output;
    let slow_down = StoreError::Service(S3ErrorCode::SlowDown);
    assert_eq!(put, Err(slow_down));
    assert_eq!(slow_down.status(), Some(503));
    assert_eq!(slow_down.class(), ErrorClass::Throttling);
    assert!(!slow_down.is_indeterminate());
    assert_eq!(get, Err(NO_SUCH_KEY), "a throttled write must not land");
    assert_eq!(faults_by_slot(run.trace.as_ref().unwrap()).get(&0), Some(&("slow_down", false)));
}

#[test]
fn in_a_mix_exactly_the_non_throttled_writes_land() {
    let run = sim(7, |world| async move {
        let model = FaultModel {
            process: FaultProcess::Independent { failure_probability: 1.0 },
            mix: FaultMix { internal_error: 1.0, slow_down: 1.0, connection_reset: 0.0, timeout: 0.0 },
            ambiguous_fraction: 1.0,
            ..FaultModel::default()
        };
        let (s3, service) = connect(&world, config(model));
        let mut outcomes = Vec::new();
        for i in 0..200 {
            let key = format!("k{i:03}");
            let result = s3.put(&key, body("v"), PutCondition::None).await;
            outcomes.push((key, result));
        }
        let snapshot = service.borrow().snapshot();
        (outcomes, snapshot)
    });
    let (outcomes, snapshot) = run.output;
    let landed: Vec<&str> = snapshot.iter().map(|(k, _)| k.as_str()).collect();
    let expected: Vec<&str> =
        outcomes.iter().filter(|(_, result)| *result == Err(INTERNAL_ERROR)).map(|(key, _)| key.as_str()).collect();
    assert_eq!(landed, expected);
    let throttled = outcomes.iter().filter(|(_, r)| *r == Err(StoreError::Service(S3ErrorCode::SlowDown))).count();
    assert_eq!(throttled + expected.len(), 200);
    // Half and half, binomially: sd ~7.
    assert!((60..=140).contains(&throttled), "{throttled}");
}

#[test]
fn an_outage_covers_exactly_its_window() {
    let run = sim(8, |world| async move {
        let model = FaultModel {
            outages: vec![Outage { start_ms: 500, end_ms: 1_000, kind: FaultKind::InternalError }],
            ..FaultModel::default()
        };
        let (s3, _) = connect(&world, config(model));
        s3.put("k", body("v"), PutCondition::None).await.unwrap();
        let mut seen = Vec::new();
        for at in [499, 500, 999, 1_000] {
            // Zero network latency: a request arrives when it is sent.
            world.clock().sleep(ms(at).saturating_sub(world.now())).await;
            seen.push((at, s3.get("k").await.is_ok()));
        }
        seen
    });
    assert_eq!(run.output, vec![(499, true), (500, false), (999, false), (1_000, true)]);
}

#[test]
fn independent_faults_hit_about_p_of_the_requests() {
    let run = sim(9, |world| async move {
        let (s3, service) = connect(&world, config(FaultModel::independent(0.3)));
        let mut failures = 0u64;
        for i in 0..1_000 {
            if s3.put(&format!("k{i}"), body("v"), PutCondition::None).await.is_err() {
                failures += 1;
            }
        }
        let injected = service.borrow().faults_injected();
        (failures, injected)
    });
    let (failures, injected) = run.output;
    assert_eq!(failures, injected);
    // 300 expected, sd ~14.5.
    assert!((230..=370).contains(&failures), "{failures}");
}

// ------------------------------------------ regressions (found and fixed)

/// Regression (src/service.rs, `S3Service::handle`): `Handled.fault.applied` is the
/// schedule's draw, reported as is, but only mutating requests are applied.
/// A faulted GET is traced as `FaultInjected { applied: true }` ("the request
/// took effect anyway", trace.rs) and printed "(applied)", though a read has
/// no effect at all.
#[test]
fn a_faulted_read_is_never_reported_as_applied() {
    let run = sim(11, |world| async move {
        let (s3, _) = connect(&world, config(always(FaultKind::InternalError, 1.0)));
        let get = s3.get("k").await;
        let head = s3.send(S3Request::Head { key: "k".into() }).await;
        (get, head.map(|_| ()))
    });
    assert_eq!(run.output, (Err(INTERNAL_ERROR), Err(INTERNAL_ERROR)));
    let faults = faults_by_slot(run.trace.as_ref().unwrap());
    assert_eq!(faults.len(), 2);
    assert!(faults.values().all(|(_, applied)| !applied), "reads traced as applied: {faults:?}");
}

/// Regression (same place): an ambiguous fault on a conditional PUT whose
/// precondition fails is traced as applied, though `apply` refused it and
/// nothing was written.
#[test]
fn a_rejected_conditional_write_is_never_reported_as_applied() {
    let run = sim(12, |world| async move {
        let (s3, service) = connect(&world, config(first_second(FaultKind::InternalError, 1.0)));
        service.borrow_mut().preload(&S3Request::Put {
            key: "k".into(),
            body: body("original"),
            condition: PutCondition::None,
        });
        let put = s3.put("k", body("second"), PutCondition::IfNoneMatch).await;
        let snapshot = service.borrow().snapshot();
        (put, snapshot)
    });
    let (put, snapshot) = run.output;
    assert_eq!(put, Err(INTERNAL_ERROR));
    assert_eq!(snapshot, vec![("k".to_owned(), body("original"))], "the precondition failed: nothing landed");
    let faults = faults_by_slot(run.trace.as_ref().unwrap());
    assert_eq!(faults.get(&0), Some(&("internal_error", false)), "a refused write traced as applied");
}
