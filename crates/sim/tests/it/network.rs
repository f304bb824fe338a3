//! The simulated network: exact virtual-time latencies of `call_sync` and
//! `call`, timeouts (never-answering, slow and lost messages), node crash and
//! restart (refused, reset, aborted handlers), partitions and per-link specs.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use retrylab_faults::LatencyDist;
use retrylab_sim::{run, EventKind, LinkSpec, NetError, Reply, SimClock, TraceMode, World, WorldConfig, WorldRun};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn link(latency_ms: f64) -> LinkSpec {
    LinkSpec { latency: LatencyDist::constant_ms(latency_ms), loss_probability: 0.0 }
}

fn config(latency_ms: f64) -> WorldConfig {
    WorldConfig { trace_mode: TraceMode::Full, network: link(latency_ms), ..WorldConfig::new(1) }
}

fn sim<T, Fut: std::future::Future<Output = T>>(
    config: &WorldConfig,
    workload: impl FnOnce(World) -> Fut,
) -> WorldRun<T> {
    run(config, workload).unwrap_or_else(|e| panic!("{e}"))
}

/// madsim advances its clock by 50-100 ns at every task poll (modelling CPU
/// time) and fires timers 50 ns after their deadline, so a virtual-time
/// difference is the modelled latency plus well under a microsecond per
/// sleep. 10 µs is a hundredfold margin over that noise and still 100 times
/// finer than the model's 1 ms resolution: a latency off by a whole
/// millisecond (madsim's sleep floor, a double-counted leg) cannot pass.
const NOISE: Duration = Duration::from_micros(10);

#[track_caller]
fn assert_virtual(elapsed: Duration, expected: Duration) {
    let diff = elapsed.abs_diff(expected);
    assert!(diff < NOISE, "took {elapsed:?}, expected {expected:?} (off by {diff:?})");
}

/// Runs `f` and returns its output with the virtual time it took.
async fn timed<T>(f: impl std::future::Future<Output = T>) -> (T, Duration) {
    let start = SimClock.now();
    let output = f.await;
    (output, SimClock.now().saturating_sub(start))
}

/// A future that yields to the scheduler once.
async fn yield_once() {
    let mut yielded = false;
    futures::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

// ---------------------------------------------------------------- latencies

#[test]
fn call_sync_round_trip_is_request_plus_service_plus_response() {
    let run = sim(&config(37.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        timed(net.call_sync(a, b, ms(1000), || Reply::After("pong", ms(5)))).await
    });
    let (result, elapsed) = run.output;
    assert_eq!(result, Ok("pong"));
    assert_virtual(elapsed, ms(37 + 5 + 37));
}

#[test]
fn the_handler_runs_when_the_request_arrives() {
    let run = sim(&config(37.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        let start = world.now();
        let arrived = net.call_sync(a, b, ms(1000), || Reply::After(world.now(), ms(5))).await.unwrap();
        arrived - start
    });
    assert_virtual(run.output, ms(37));
}

#[test]
fn every_call_of_a_sequence_is_exact() {
    let run = sim(&config(37.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        let mut took = Vec::new();
        for i in 0..50u64 {
            let (result, elapsed) = timed(net.call_sync(a, b, ms(1000), || Reply::After(i, ms(i)))).await;
            assert_eq!(result, Ok(i));
            took.push((i, elapsed));
        }
        took
    });
    for (i, elapsed) in run.output {
        assert_virtual(elapsed, ms(37 + i + 37));
    }
    // 50 calls of 74 ms plus 0+1+...+49 ms of service: noise does not pile up.
    assert!(run.elapsed.abs_diff(ms(50 * 74 + 49 * 50 / 2)) < Duration::from_micros(100), "{:?}", run.elapsed);
}

#[test]
fn async_call_round_trip_is_exact() {
    let run = sim(&config(37.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        timed(net.call(a, b, ms(1000), || async {
            SimClock.sleep(ms(5)).await;
            "pong"
        }))
        .await
    });
    let (result, elapsed) = run.output;
    assert_eq!(result, Ok("pong"));
    assert_virtual(elapsed, ms(37 + 5 + 37));
}

#[test]
fn zero_latency_costs_no_time() {
    let run = sim(&config(0.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        let sync = timed(net.call_sync(a, b, ms(1000), || Reply::After(1, Duration::ZERO))).await;
        let asynchronous = timed(net.call(a, b, ms(1000), || async { 2 })).await;
        let sleep = timed(SimClock.sleep(Duration::ZERO)).await;
        (sync, asynchronous, sleep)
    });
    let ((sync, sync_elapsed), (asynchronous, async_elapsed), ((), sleep_elapsed)) = run.output;
    assert_eq!(sync, Ok(1));
    assert_eq!(asynchronous, Ok(2));
    // Not madsim's 1 ms floor per sleep: nothing at all beyond poll noise.
    assert_virtual(sync_elapsed, Duration::ZERO);
    assert_virtual(async_elapsed, Duration::ZERO);
    assert_virtual(sleep_elapsed, Duration::ZERO);
}

#[test]
fn one_millisecond_latency_is_one_millisecond() {
    let run = sim(&config(1.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        let call = timed(net.call_sync(a, b, ms(1000), || Reply::After((), Duration::ZERO))).await;
        let sleep = timed(SimClock.sleep(ms(1))).await;
        (call, sleep)
    });
    let ((result, call_elapsed), ((), sleep_elapsed)) = run.output;
    assert_eq!(result, Ok(()));
    assert_virtual(call_elapsed, ms(2));
    assert_virtual(sleep_elapsed, ms(1));
}

#[test]
fn a_link_override_applies_to_its_direction_only() {
    let run = sim(&config(37.0), |world| async move {
        let net = world.net().clone();
        let (a, b, c) = (net.add_node("a"), net.add_node("b"), net.add_node("c"));
        net.set_link(a, b, link(10.0));
        net.set_link(b, a, link(30.0));
        let ab = timed(net.call_sync(a, b, ms(1000), || Reply::After((), ms(5)))).await.1;
        // b calling a: request on b->a (30), response on a->b (10).
        let ba = timed(net.call_sync(b, a, ms(1000), || Reply::After((), ms(5)))).await.1;
        // a calling c still uses the default link both ways.
        let ac = timed(net.call_sync(a, c, ms(1000), || Reply::After((), ms(5)))).await.1;
        (ab, ba, ac)
    });
    let (ab, ba, ac) = run.output;
    assert_virtual(ab, ms(10 + 5 + 30));
    assert_virtual(ba, ms(30 + 5 + 10));
    assert_virtual(ac, ms(37 + 5 + 37));
}

// ----------------------------------------------------------------- timeouts

#[test]
fn a_handler_that_never_answers_costs_exactly_the_timeout() {
    let run = sim(&config(37.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        let served = Rc::new(Cell::new(false));
        let flag = served.clone();
        let outcome = timed(net.call_sync(a, b, ms(250), move || {
            flag.set(true);
            Reply::<()>::Never
        }))
        .await;
        (outcome, served.get())
    });
    let ((result, elapsed), served) = run.output;
    assert!(served, "the request reached the handler");
    assert_eq!(result, Err(NetError::Timeout));
    assert_virtual(elapsed, ms(250));
}

#[test]
fn a_service_time_beyond_the_timeout_times_out_at_the_timeout() {
    let run = sim(&config(37.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        let slow = timed(net.call_sync(a, b, ms(250), || Reply::After((), ms(400)))).await;
        // 37 + 176 + 37 = 250: a round trip equal to the timeout is too late...
        let exact = timed(net.call_sync(a, b, ms(250), || Reply::After((), ms(176)))).await;
        // ...and one just under it is in time.
        let under = timed(net.call_sync(a, b, ms(250), || Reply::After((), ms(175)))).await;
        (slow, exact, under)
    });
    let (slow, exact, under) = run.output;
    assert_eq!(slow.0, Err(NetError::Timeout));
    assert_virtual(slow.1, ms(250));
    assert_eq!(exact.0, Err(NetError::Timeout));
    assert_virtual(exact.1, ms(250));
    assert_eq!(under.0, Ok(()));
    assert_virtual(under.1, ms(249));
    // A slow answer is not a lost message.
    let trace = run.trace.unwrap();
    assert!(!trace.iter().any(|e| matches!(e.kind, EventKind::MessageLost { .. })), "{trace:?}");
}

#[test]
fn an_async_handler_slower_than_the_timeout_times_out_and_keeps_running() {
    let run = sim(&config(10.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        let finished = Rc::new(Cell::new(false));
        let flag = finished.clone();
        let outcome = timed(net.call(a, b, ms(100), move || async move {
            SimClock.sleep(ms(300)).await;
            flag.set(true);
        }))
        .await;
        let finished_at_timeout = finished.get();
        SimClock.sleep(ms(300)).await;
        (outcome, finished_at_timeout, finished.get())
    });
    let ((result, elapsed), finished_at_timeout, finished_later) = run.output;
    assert_eq!(result, Err(NetError::Timeout));
    assert_virtual(elapsed, ms(100));
    assert!(!finished_at_timeout);
    assert!(finished_later, "a server's handler goes on after its caller gives up");
}

#[test]
fn a_lost_request_times_out_and_is_traced() {
    let lossy = WorldConfig {
        network: LinkSpec { latency: LatencyDist::constant_ms(37.0), loss_probability: 1.0 },
        ..config(0.0)
    };
    let run = sim(&lossy, |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        let served = Rc::new(Cell::new(false));
        let flag = served.clone();
        let outcome = timed(net.call_sync(a, b, ms(250), move || {
            flag.set(true);
            Reply::After((), Duration::ZERO)
        }))
        .await;
        (outcome, served.get(), a, b)
    });
    let ((result, elapsed), served, a, b) = run.output;
    assert_eq!(result, Err(NetError::Timeout));
    assert_virtual(elapsed, ms(250));
    assert!(!served, "a lost request never reaches the handler");
    let trace = run.trace.unwrap();
    let lost: Vec<_> = trace.iter().filter(|e| matches!(e.kind, EventKind::MessageLost { .. })).collect();
    assert_eq!(lost.len(), 1, "{trace:?}");
    assert_eq!(lost[0].node, a);
    assert_eq!(lost[0].kind, EventKind::MessageLost { to: b });
}

#[test]
fn a_lost_response_times_out_after_the_handler_ran() {
    let run = sim(&config(20.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        net.set_link(b, a, LinkSpec { latency: LatencyDist::constant_ms(20.0), loss_probability: 1.0 });
        let served = Rc::new(Cell::new(false));
        let flag = served.clone();
        let outcome = timed(net.call_sync(a, b, ms(250), move || {
            flag.set(true);
            Reply::After((), ms(5))
        }))
        .await;
        (outcome, served.get(), a, b)
    });
    let ((result, elapsed), served, a, b) = run.output;
    assert_eq!(result, Err(NetError::Timeout));
    assert_virtual(elapsed, ms(250));
    assert!(served, "the request arrived; only its answer was lost");
    let trace = run.trace.unwrap();
    let lost: Vec<_> = trace.iter().filter(|e| matches!(e.kind, EventKind::MessageLost { .. })).collect();
    assert_eq!(lost.len(), 1, "{trace:?}");
    assert_eq!((lost[0].node, lost[0].kind), (b, EventKind::MessageLost { to: a }));
}

#[test]
fn partial_loss_follows_the_probability() {
    let lossy = WorldConfig {
        network: LinkSpec { latency: LatencyDist::constant_ms(1.0), loss_probability: 0.3 },
        ..WorldConfig::new(17)
    };
    let run = sim(&lossy, |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        let mut timeouts = 0u32;
        for _ in 0..2_000 {
            if net.call_sync(a, b, ms(10), || Reply::After((), Duration::ZERO)).await == Err(NetError::Timeout) {
                timeouts += 1;
            }
        }
        timeouts
    });
    // A call survives with 0.7^2 = 0.49: 1,020 timeouts expected, sd ~22.
    assert!((910..1_130).contains(&run.output), "{}", run.output);
}

// ----------------------------------------------------------- crash, restart

#[test]
fn calls_to_a_crashed_node_are_refused_until_it_restarts() {
    let run = sim(&config(5.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        assert!(net.is_up(b));
        net.crash(b);
        assert!(!net.is_up(b));
        let served = Rc::new(Cell::new(0u32));
        let count = served.clone();
        let refused_sync = net
            .call_sync(a, b, ms(100), || {
                count.set(count.get() + 1);
                Reply::After((), Duration::ZERO)
            })
            .await;
        let count = served.clone();
        let refused_async = net
            .call(a, b, ms(100), move || async move {
                count.set(count.get() + 1);
            })
            .await;
        let served_while_down = served.get();
        net.restart(b);
        assert!(net.is_up(b));
        let after_sync = net.call_sync(a, b, ms(100), || Reply::After(7, Duration::ZERO)).await;
        let after_async = net.call(a, b, ms(100), || async { 8 }).await;
        (refused_sync, refused_async, served_while_down, after_sync, after_async, b)
    });
    let (refused_sync, refused_async, served_while_down, after_sync, after_async, b) = run.output;
    assert_eq!(refused_sync, Err(NetError::Refused));
    assert_eq!(refused_async, Err(NetError::Refused));
    assert_eq!(served_while_down, 0);
    assert_eq!(after_sync, Ok(7));
    assert_eq!(after_async, Ok(8));
    let trace = run.trace.unwrap();
    let lifecycle: Vec<_> = trace
        .iter()
        .filter(|e| matches!(e.kind, EventKind::NodeCrashed | EventKind::NodeRestarted))
        .map(|e| (e.node, e.kind))
        .collect();
    assert_eq!(lifecycle, vec![(b, EventKind::NodeCrashed), (b, EventKind::NodeRestarted)]);
}

#[test]
fn a_crash_aborts_a_running_handler_and_resets_its_caller() {
    let run = sim(&config(0.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        let reached_end = Rc::new(Cell::new(false));
        let started = Rc::new(Cell::new(false));
        let crasher = {
            let net = net.clone();
            madsim::task::spawn_local(async move {
                SimClock.sleep(ms(30)).await;
                net.crash(b);
            })
        };
        let (flag, start_flag) = (reached_end.clone(), started.clone());
        let outcome = timed(net.call(a, b, ms(1000), move || async move {
            start_flag.set(true);
            SimClock.sleep(ms(100)).await;
            flag.set(true);
            "done"
        }))
        .await;
        crasher.await.expect("crasher task");
        // Long past the handler's sleep, and past a restart: it never resumes.
        net.restart(b);
        SimClock.sleep(ms(1000)).await;
        (outcome, started.get(), reached_end.get())
    });
    let ((result, elapsed), started, reached_end) = run.output;
    assert!(started);
    assert_eq!(result, Err(NetError::Reset));
    // The caller learns at the crash, not at its timeout nor at the handler's end.
    assert!(elapsed >= ms(30) && elapsed < ms(31), "{elapsed:?}");
    assert!(!reached_end, "the handler ran past its sleep on a crashed node");
}

#[test]
fn a_crash_during_the_service_time_resets_a_sync_call() {
    let run = sim(&config(10.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        // Crash at 30 ms, during the 100 ms service time of a call arriving at 10 ms.
        let crasher = {
            let net = net.clone();
            madsim::task::spawn_local(async move {
                SimClock.sleep(ms(30)).await;
                net.crash(b);
            })
        };
        let crashed = net.call_sync(a, b, ms(1000), || Reply::After((), ms(100))).await;
        crasher.await.expect("crasher task");
        net.restart(b);
        // Crash and restart both during the service time: still a new incarnation.
        let bouncer = {
            let net = net.clone();
            madsim::task::spawn_local(async move {
                SimClock.sleep(ms(30)).await;
                net.crash(b);
                SimClock.sleep(ms(10)).await;
                net.restart(b);
            })
        };
        let bounced = net.call_sync(a, b, ms(1000), || Reply::After((), ms(100))).await;
        bouncer.await.expect("bouncer task");
        let healthy = net.call_sync(a, b, ms(1000), || Reply::After((), ms(100))).await;
        (crashed, bounced, healthy)
    });
    assert_eq!(run.output, (Err(NetError::Reset), Err(NetError::Reset), Ok(())));
}

#[test]
fn partition_loses_messages_both_ways_until_healed() {
    let run = sim(&config(5.0), |world| async move {
        let net = world.net().clone();
        let (a, b, c) = (net.add_node("a"), net.add_node("b"), net.add_node("c"));
        net.partition(a, b);
        let ab = timed(net.call_sync(a, b, ms(200), || Reply::After((), Duration::ZERO))).await;
        let ba = net.call_sync(b, a, ms(200), || Reply::After((), Duration::ZERO)).await;
        let ac = net.call_sync(a, c, ms(200), || Reply::After((), Duration::ZERO)).await;
        net.heal(b, a);
        let healed = net.call_sync(a, b, ms(200), || Reply::After((), Duration::ZERO)).await;
        (ab, ba, ac, healed, a, b)
    });
    let ((ab, ab_elapsed), ba, ac, healed, a, b) = run.output;
    assert_eq!(ab, Err(NetError::Timeout));
    assert_virtual(ab_elapsed, ms(200));
    assert_eq!(ba, Err(NetError::Timeout));
    assert_eq!(ac, Ok(()), "a partition between a and b leaves a-c alone");
    assert_eq!(healed, Ok(()));
    let lost: Vec<_> = run
        .trace
        .unwrap()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::MessageLost { .. }))
        .map(|e| (e.node, e.kind))
        .collect();
    assert_eq!(lost, vec![(a, EventKind::MessageLost { to: b }), (b, EventKind::MessageLost { to: a })]);
}

#[test]
fn concurrent_calls_overlap_in_virtual_time() {
    let run = sim(&config(37.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        let start = world.now();
        let results = futures::future::join_all(
            (0..10u64).map(|i| net.call_sync(a, b, ms(1000), move || Reply::After(i, ms(5)))),
        )
        .await;
        yield_once().await;
        (results, world.now() - start)
    });
    let (results, elapsed) = run.output;
    assert_eq!(results, (0..10).map(Ok).collect::<Vec<_>>());
    // Ten concurrent calls take one round trip, not ten.
    assert_virtual(elapsed, ms(79));
}

#[test]
fn a_crashed_caller_sends_nothing_and_loses_the_call_it_was_waiting_on() {
    let run = sim(&config(5.0), |world| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        let served = Rc::new(Cell::new(0u32));
        // The caller crashes while it waits for b's 100 ms handler.
        let crasher = {
            let net = net.clone();
            madsim::task::spawn_local(async move {
                SimClock.sleep(ms(30)).await;
                net.crash(a);
            })
        };
        let count = served.clone();
        let lost = net
            .call(a, b, ms(1000), move || async move {
                SimClock.sleep(ms(100)).await;
                count.set(count.get() + 1);
            })
            .await;
        crasher.await.expect("crasher task");
        // Down: it sends nothing, sync or not.
        let count = served.clone();
        let refused = net
            .call_sync(a, b, ms(100), || {
                count.set(count.get() + 1);
                Reply::After((), Duration::ZERO)
            })
            .await;
        net.restart(a);
        let after = net.call_sync(a, b, ms(100), || Reply::After(7, Duration::ZERO)).await;
        (lost, refused, served.get(), after)
    });
    let (lost, refused, served, after) = run.output;
    assert_eq!(lost, Err(NetError::Reset), "the answer reached a caller that crashed meanwhile");
    assert_eq!(refused, Err(NetError::Refused));
    // The server's handler ran to its end (the caller's crash does not stop it); the refused call never ran.
    assert_eq!(served, 1);
    assert_eq!(after, Ok(7));
}
