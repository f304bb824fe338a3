//! Run limits and failures: time limit, event limit, stalled worlds and
//! panics all end in a `RunError` that names the seed, and a failed run does
//! not disturb the next one on the same thread.

use std::time::Duration;

use retrylab_sim::{run, EventKind, RunError, RunLimits, SimClock, World, WorldConfig};

fn limited(seed: u64, simulated_time_max: Duration, events_max: u64) -> WorldConfig {
    WorldConfig { limits: RunLimits { simulated_time_max, events_max }, ..WorldConfig::new(seed) }
}

/// A future that yields to the scheduler once, without advancing time.
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

#[test]
fn a_workload_that_loops_forever_hits_the_time_limit() {
    let config = limited(42, Duration::from_secs(10), 1_000_000);
    let result = run(&config, |world: World| async move {
        let node = world.net().add_node("looper");
        loop {
            SimClock.sleep(Duration::from_millis(250)).await;
            world.trace().record(node, EventKind::Note { what: "tick", value: 0 });
        }
    });
    let error = result.expect_err("an endless loop cannot finish");
    let RunError::TimeLimit { seed, limit, events } = error else { panic!("expected TimeLimit, got {error:?}") };
    assert_eq!((seed, limit), (42, Duration::from_secs(10)));
    // One tick per 250 ms for 10 s (the tick due at the limit itself may or may not land).
    assert!((39..=40).contains(&events), "{events}");
    assert_eq!(error.seed(), 42);
    let message = error.to_string();
    assert!(message.contains("seed 42"), "{message}");
    assert!(message.contains("10 s"), "{message}");
}

#[test]
fn a_workload_that_records_endlessly_hits_the_event_limit() {
    let config = limited(42, Duration::from_secs(1_000), 100);
    let result = run(&config, |world: World| async move {
        let node = world.net().add_node("chatty");
        for i in 0.. {
            world.trace().record(node, EventKind::Note { what: "event", value: i });
            SimClock.sleep(Duration::from_millis(1)).await;
        }
    });
    let error = result.expect_err("an endless loop cannot finish");
    let RunError::EventLimit { seed, limit, at } = error else { panic!("expected EventLimit, got {error:?}") };
    assert_eq!((seed, limit), (42, 100));
    // Event 101 (over the limit) is recorded at 100 ms; the run stops right there.
    assert!(at >= Duration::from_millis(100) && at < Duration::from_millis(101), "{at:?}");
    let message = error.to_string();
    assert!(message.contains("seed 42") && message.contains("100 events"), "{message}");
}

#[test]
fn the_event_limit_stops_a_loop_that_only_yields() {
    let config = limited(8, Duration::from_secs(1_000), 500);
    let result = run(&config, |world: World| async move {
        let node = world.net().add_node("spinner");
        loop {
            world.trace().record(node, EventKind::NodeRestarted);
            yield_once().await;
        }
    });
    let error = result.expect_err("an endless loop cannot finish");
    assert!(
        matches!(error, RunError::EventLimit { seed: 8, limit: 500, at } if at < Duration::from_millis(1)),
        "{error:?}"
    );
}

#[test]
fn exactly_the_event_limit_is_allowed() {
    let config = limited(3, Duration::from_secs(1_000), 100);
    let result = run(&config, |world: World| async move {
        let node = world.net().add_node("n");
        for i in 0..100 {
            world.trace().record(node, EventKind::Note { what: "event", value: i });
            SimClock.sleep(Duration::from_millis(1)).await;
        }
        "finished"
    });
    let finished = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(finished.output, "finished");
    assert_eq!(finished.events, 100);
}

#[test]
fn a_stalled_workload_ends_in_the_time_limit_not_a_panic() {
    let config = limited(42, Duration::from_secs(5), 1_000);
    let result = run(&config, |_world: World| futures::future::pending::<()>());
    assert_eq!(result.unwrap_err(), RunError::TimeLimit { seed: 42, limit: Duration::from_secs(5), events: 0 });

    // Waiting on a channel whose sender is alive but never sends is a stall too.
    let result = run(&config, |world: World| async move {
        let (sender, receiver) = futures::channel::oneshot::channel::<()>();
        world.trace().record(world.net().add_node("n"), EventKind::NodeCrashed);
        let _ = receiver.await;
        drop(sender);
    });
    assert_eq!(result.unwrap_err(), RunError::TimeLimit { seed: 42, limit: Duration::from_secs(5), events: 1 });
}

#[test]
fn a_panicking_workload_is_reported_with_its_message_and_seed() {
    let config = WorldConfig::new(42);
    let result = run(&config, |_world: World| async move {
        SimClock.sleep(Duration::from_millis(3)).await;
        let n = 7;
        panic!("invariant broken at step {n}");
    });
    let error: RunError = result.map(|r| r.output).unwrap_err();
    assert_eq!(error, RunError::Panicked { seed: 42, message: "invariant broken at step 7".to_owned() });
    let message = error.to_string();
    assert!(message.contains("seed 42") && message.contains("invariant broken at step 7"), "{message}");

    // A static-string payload is kept too.
    let result = run(&WorldConfig::new(5), |_world: World| async move {
        if SimClock.now() < Duration::from_secs(1) {
            panic!("static message");
        }
    });
    assert_eq!(result.unwrap_err(), RunError::Panicked { seed: 5, message: "static message".to_owned() });
}

#[test]
fn a_panic_in_a_handler_task_is_reported_too() {
    let result = run(&WorldConfig::new(6), |world: World| async move {
        let net = world.net().clone();
        let (a, b) = (net.add_node("a"), net.add_node("b"));
        net.call(a, b, Duration::from_secs(1), || async {
            SimClock.sleep(Duration::from_millis(2)).await;
            panic!("handler bug");
        })
        .await
    });
    let error = result.map(|r| r.output).unwrap_err();
    assert_eq!(error, RunError::Panicked { seed: 6, message: "handler bug".to_owned() });
}

#[test]
fn a_failed_run_leaves_the_next_run_unaffected() {
    let workload = |world: World| async move {
        let node = world.net().add_node("n");
        for i in 0..20 {
            SimClock.sleep(Duration::from_millis(7)).await;
            world.trace().record(node, EventKind::Note { what: "i", value: i });
        }
        world.now()
    };
    let before = run(&WorldConfig::new(77), workload).unwrap_or_else(|e| panic!("{e}"));
    let panicked = run(&WorldConfig::new(77), |_world: World| async move {
        SimClock.sleep(Duration::from_millis(1)).await;
        panic!("boom");
    });
    assert!(matches!(panicked, Err(RunError::Panicked { .. })));
    let timed_out = run(&limited(77, Duration::from_secs(1), 10), |_world: World| futures::future::pending::<()>());
    assert!(matches!(timed_out, Err(RunError::TimeLimit { .. })));
    let after = run(&WorldConfig::new(77), workload).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.trace_hash, before.trace_hash);
    assert_eq!(after.output, before.output);
    assert_eq!(after.elapsed, before.elapsed);
}

/// Issue 9: `[limits] simulated_time_s_max = 1e19` panicked "overflow when
/// adding duration to instant" in the watchdog's sleep. No limit can now.
#[test]
fn any_time_limit_is_one_the_watchdog_can_sleep() {
    for limit in [Duration::from_secs(10_000_000_000_000_000_000), Duration::MAX, retrylab_sim::SIMULATED_TIME_MAX] {
        let config = limited(7, limit, 1_000);
        let result = run(&config, |_world: World| async move { 5 });
        assert_eq!(result.expect("a run that ends at once finishes").output, 5, "{limit:?}");
    }
}

/// A stalled world under the largest limit ends at the clock's limit with
/// `TimeLimit` naming the limit it really used, rather than panicking.
#[test]
fn a_stalled_world_under_a_huge_limit_ends_at_the_clocks_limit() {
    let config = limited(7, Duration::MAX, 1_000);
    let result = run(&config, |_world: World| futures::future::pending::<()>());
    let error = result.expect_err("a stalled world cannot finish");
    let RunError::TimeLimit { limit, .. } = error else { panic!("expected TimeLimit, got {error:?}") };
    assert_eq!(limit, retrylab_sim::SIMULATED_TIME_MAX);
}

/// Sleeps of any length (a retry policy's cap of 2^63 ms, say) end in the
/// time limit, not in an overflow of madsim's clock.
#[test]
fn a_sleep_of_any_length_ends_in_the_time_limit() {
    let config = limited(7, Duration::from_secs(100), 1_000);
    let result = run(&config, |_world: World| async move {
        SimClock.sleep(Duration::MAX).await;
        SimClock.sleep(Duration::from_millis(u64::MAX)).await;
    });
    let error = result.expect_err("the sleep outlasts the limit");
    assert!(matches!(error, RunError::TimeLimit { .. }), "{error:?}");
}
