//! A storage server with finite capacity: with one slot and no queue, the
//! requests of several gateways at once are turned away; a gateway retry
//! layer retries them, and no rejection corrupts a file (a rejected request
//! never ran).

use std::path::Path;

use retrylab_harness::{run_seed, RunReport, TraceMode};
use retrylab_scenario::{Scenario, ServerCapacity};

/// Three gateways overwrite their own files on one storage server that runs
/// one request at a time and queues none. The network's 10 ms matter: the
/// harness creates each file with up to 10 immediate tries (no backoff), and
/// on a network of 0 ms all of them are shed while the first creation runs.
const ONE_SLOT: &str = r#"
name = "one-slot-server"
seeds = 4

[network]
latency_ms = { kind = "constant", ms = 10 }

[s3]
latency_ms = { kind = "constant", ms = 20 }

[workload]
kind = "mutable-puts"
puts = 10

[lafs]
shares_needed = 1
shares_total = 1
servers_of_happiness = 1
servers = 1
gateways = 3
server_concurrency_max = 1
server_queue_max = 0

[[policies]]
name = "none"
kind = "none"

[[policies]]
name = "gateway-retry"
kind = "none"
gateway = { kind = "exponential", base_ms = 50, cap_ms = 2000, attempts_max = 30 }
"#;

fn scenario() -> Scenario {
    retrylab_scenario::parse(ONE_SLOT, Path::new("one-slot-server.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn run(scenario: &Scenario, policy: &str, seed: u64) -> RunReport {
    let policy = scenario.policy(policy).unwrap();
    run_seed(scenario, policy, seed, TraceMode::HashOnly).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_one_slot_server_sheds_concurrent_requests_and_gateway_retries_ride_them_out_cleanly() {
    let scenario = scenario();
    let (mut shed_unretried, mut shed_retried, mut failures_unretried) = (0, 0, 0);
    for seed in 0..2 {
        let once = run(&scenario, "none", seed);
        assert!(once.violations.is_empty(), "seed {seed}: {:?}", once.violations);
        shed_unretried += once.server_rejections;
        failures_unretried += once.failures;

        let retried = run(&scenario, "gateway-retry", seed);
        assert!(retried.violations.is_empty(), "seed {seed}: {:?}", retried.violations);
        assert!(retried.server_rejections > 0, "seed {seed}: {retried:?}");
        // The gateways retried what the server turned away, and got their puts in.
        assert!(retried.gateway_retries > 0, "seed {seed}: {retried:?}");
        assert_eq!(retried.failures, 0, "seed {seed}: {:?}", retried.failures_by_kind);
        shed_retried += retried.server_rejections;
        // Same seed, same run.
        assert_eq!(run(&scenario, "gateway-retry", seed).trace_hash, retried.trace_hash);
    }
    // Without retries, a rejection fails the put.
    assert!(shed_unretried > 0 && failures_unretried > 0, "{shed_unretried} shed, {failures_unretried} failed");
    // Retries come back while the others still run: more rejections, not fewer.
    assert!(shed_retried >= shed_unretried, "{shed_retried} vs {shed_unretried}");

    // The same grid with unlimited servers turns nothing away.
    let mut unlimited = scenario.clone();
    if let Some(lafs) = &mut unlimited.lafs {
        lafs.server_capacity = ServerCapacity::default();
    }
    let free = run(&unlimited, "none", 0);
    assert_eq!((free.server_rejections, free.failures), (0, 0), "{free:?}");
}
