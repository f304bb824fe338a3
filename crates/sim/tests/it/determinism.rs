//! Determinism of whole runs: the same `WorldConfig` replays the same trace and
//! trace hash, the seed reaches every random stream, the hash covers every
//! event, and `World::rng` sub-seed streams are distinct and stable.

use std::collections::BTreeSet;
use std::time::Duration;

use rand::{Rng, RngCore};
use retrylab_faults::LatencyDist;
use retrylab_sim::{run, Event, EventKind, LinkSpec, NetError, Reply, TraceMode, World, WorldConfig, WorldRun};

/// A network whose latencies and losses come from distributions, so that the
/// seed decides every call's timing and fate.
fn random_network_config(seed: u64, trace_mode: TraceMode) -> WorldConfig {
    WorldConfig {
        trace_mode,
        network: LinkSpec { latency: LatencyDist::Uniform { low_ms: 1.0, high_ms: 60.0 }, loss_probability: 0.2 },
        ..WorldConfig::new(seed)
    }
}

/// What the workload saw: per call, its outcome and its round trip in whole
/// milliseconds (the model's resolution, free of madsim's per-poll noise).
type Observed = Vec<(Result<u64, NetError>, u128)>;

/// 60 calls with service times drawn from `world.rng` and a network drawn from
/// the latency/loss distributions.
async fn random_workload(world: World) -> Observed {
    let net = world.net();
    let client = net.add_node("client");
    let server = net.add_node("server");
    let mut rng = world.rng("workload");
    let mut observed = Vec::new();
    for op in 0..60u64 {
        world.trace().record(client, EventKind::OperationStart { operation: op, what: "call" });
        let service = Duration::from_millis(rng.gen_range(0..30));
        let start = world.now();
        let result = net.call_sync(client, server, Duration::from_millis(100), || Reply::After(op * 3, service)).await;
        let round_trip_ms = world.now().saturating_sub(start).as_millis();
        let status = if result.is_ok() { 200 } else { 0 };
        world.trace().record(client, EventKind::OperationEnd { operation: op, status });
        observed.push((result, round_trip_ms));
    }
    observed
}

fn run_random(seed: u64, trace_mode: TraceMode) -> WorldRun<Observed> {
    run(&random_network_config(seed, trace_mode), random_workload).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn same_config_gives_same_trace_and_hash() {
    let first = run_random(7, TraceMode::Full);
    let second = run_random(7, TraceMode::Full);
    let first_trace = first.trace.expect("Full mode keeps the trace");
    let second_trace = second.trace.expect("Full mode keeps the trace");
    // The workload did something observable: operations, and losses (p = 0.2
    // over 120 messages) that make some calls time out.
    assert!(first.events >= 120, "{}", first.events);
    assert_eq!(first_trace.len() as u64, first.events);
    assert!(first_trace.iter().any(|e| matches!(e.kind, EventKind::MessageLost { .. })));
    assert!(first.output.iter().any(|(r, _)| r.is_ok()));
    assert!(first.output.iter().any(|(r, _)| *r == Err(NetError::Timeout)));

    assert_eq!(first.trace_hash, second.trace_hash);
    assert_eq!(first.events, second.events);
    assert_eq!(first_trace, second_trace);
    assert_eq!(first.output, second.output);
    assert_eq!(first.elapsed, second.elapsed);
}

#[test]
fn hash_only_mode_hashes_the_same_events() {
    let full = run_random(11, TraceMode::Full);
    let hash_only = run_random(11, TraceMode::HashOnly);
    assert!(hash_only.trace.is_none());
    assert_eq!(full.trace_hash, hash_only.trace_hash);
    assert_eq!(full.events, hash_only.events);
}

#[test]
fn different_seeds_give_different_hashes_and_outcomes() {
    let runs: Vec<_> = (0..8).map(|seed| run_random(seed, TraceMode::HashOnly)).collect();
    let hashes: BTreeSet<u64> = runs.iter().map(|r| r.trace_hash).collect();
    assert_eq!(hashes.len(), runs.len(), "trace hashes collide across seeds");
    // Not only madsim's nanosecond poll noise differs: the model's own draws
    // (whole-millisecond latencies, losses, service times) do.
    for (i, a) in runs.iter().enumerate() {
        for b in &runs[i + 1..] {
            assert_ne!(a.output, b.output, "seeds did not change what the workload saw");
        }
    }
}

/// Records `n` notes 1 ms apart; `tweak` may change the note at `at`.
fn notes(seed: u64, n: u64, tweak: impl Fn(u64) -> (&'static str, u64) + 'static) -> WorldRun<()> {
    let config = WorldConfig { trace_mode: TraceMode::Full, ..WorldConfig::new(seed) };
    run(&config, move |world: World| async move {
        let node = world.net().add_node("n");
        for i in 0..n {
            let (what, value) = tweak(i);
            world.trace().record(node, EventKind::Note { what, value });
            world.clock().sleep(Duration::from_millis(1)).await;
        }
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

fn differing_positions(a: &[Event], b: &[Event]) -> Vec<usize> {
    assert_eq!(a.len(), b.len());
    (0..a.len()).filter(|&i| a[i] != b[i]).collect()
}

#[test]
fn hash_changes_when_one_event_changes() {
    let base = notes(3, 50, |i| ("step", i));
    let base_trace = base.trace.clone().unwrap();

    let same = notes(3, 50, |i| ("step", i));
    assert_eq!(same.trace_hash, base.trace_hash);

    // One value changed.
    let value = notes(3, 50, |i| ("step", if i == 31 { 1_000 } else { i }));
    assert_eq!(differing_positions(&base_trace, value.trace.as_ref().unwrap()), vec![31]);
    assert_ne!(value.trace_hash, base.trace_hash);

    // One label changed (same length, so only the bytes differ).
    let label = notes(3, 50, |i| (if i == 0 { "stop" } else { "step" }, i));
    assert_eq!(differing_positions(&base_trace, label.trace.as_ref().unwrap()), vec![0]);
    assert_ne!(label.trace_hash, base.trace_hash);

    // The last event changed.
    let last = notes(3, 50, |i| ("step", if i == 49 { 48 } else { i }));
    assert_eq!(differing_positions(&base_trace, last.trace.as_ref().unwrap()), vec![49]);
    assert_ne!(last.trace_hash, base.trace_hash);

    // One event fewer.
    let shorter = notes(3, 49, |i| ("step", i));
    assert_ne!(shorter.trace_hash, base.trace_hash);
}

#[test]
fn hash_covers_event_time_and_node() {
    let record = |delay_ms: u64, second_node: bool| {
        let config = WorldConfig { trace_mode: TraceMode::Full, ..WorldConfig::new(5) };
        run(&config, move |world: World| async move {
            let a = world.net().add_node("a");
            let b = world.net().add_node("b");
            world.trace().record(a, EventKind::NodeCrashed);
            world.clock().sleep(Duration::from_millis(delay_ms)).await;
            world.trace().record(if second_node { b } else { a }, EventKind::NodeRestarted);
        })
        .unwrap_or_else(|e| panic!("{e}"))
    };
    let base = record(10, false);
    assert_eq!(base.trace_hash, record(10, false).trace_hash);
    let later = record(11, false);
    assert_ne!(later.trace.as_ref().unwrap()[1].at, base.trace.as_ref().unwrap()[1].at);
    assert_ne!(later.trace_hash, base.trace_hash);
    let elsewhere = record(10, true);
    assert_eq!(elsewhere.trace.as_ref().unwrap()[1].at, base.trace.as_ref().unwrap()[1].at);
    assert_ne!(elsewhere.trace_hash, base.trace_hash);
}

#[test]
fn event_order_matters_to_the_hash() {
    let record = |swap: bool| {
        run(&WorldConfig::new(9), move |world: World| async move {
            let a = world.net().add_node("a");
            let (first, second) = (EventKind::NodeCrashed, EventKind::NodeRestarted);
            let (first, second) = if swap { (second, first) } else { (first, second) };
            // Same virtual instant: only the order differs.
            world.trace().record(a, first);
            world.trace().record(a, second);
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .trace_hash
    };
    assert_eq!(record(false), record(false));
    assert_ne!(record(false), record(true));
}

fn draws(world: &World, label: &str) -> Vec<u64> {
    let mut rng = world.rng(label);
    (0..16).map(|_| rng.next_u64()).collect()
}

#[test]
fn sub_seed_streams_differ_by_label_and_replay_across_runs() {
    let streams = |seed: u64| {
        run(&WorldConfig::new(seed), |world: World| async move {
            assert_eq!(world.seed(), seed);
            // A stream is a function of (seed, label): asking twice gives the same stream.
            assert_eq!(draws(&world, "a"), draws(&world, "a"));
            assert_eq!(world.sub_seed("a"), retrylab_faults::sub_seed(seed, "a"));
            assert_ne!(world.sub_seed("a"), world.sub_seed("b"));
            let mut expected = retrylab_faults::stream(seed, "a");
            assert_eq!(draws(&world, "a"), (0..16).map(|_| expected.next_u64()).collect::<Vec<_>>());
            (draws(&world, "a"), draws(&world, "b"))
        })
        .unwrap_or_else(|e| panic!("{e}"))
        .output
    };
    let (a, b) = streams(42);
    assert_ne!(a, b);
    // No shared prefix either: the first draw already differs.
    assert_ne!(a[0], b[0]);
    assert_eq!(streams(42), (a.clone(), b));
    // Another seed gives another stream for the same label.
    let (other_a, _) = streams(43);
    assert_ne!(other_a, a);
}
