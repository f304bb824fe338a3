//! Many clients sharing one storage server, and retries in two layers: a
//! shared retry quota drains in a burst that one client never drains,
//! stacked layers multiply the requests S3 sees, and no layering corrupts
//! a mutable file.

use std::path::PathBuf;

use retrylab_faults::{FaultKind, FaultModel, Outage};
use retrylab_harness::{estimate, explore, run_seed, EstimateOptions, ExploreOptions, PolicyEstimate, TraceMode};
use retrylab_retry::PolicyConfig;
use retrylab_scenario::{BudgetScope, Scenario, Workload};

use crate::support::put_scenario;

const LAYERED_BURSTY: &str = "sim-scenarios/policies/layered-100-gateways.toml";
const LAYERED_OUTAGE: &str = "sim-scenarios/policies/layered-outage.toml";

fn load(file: &str) -> Scenario {
    retrylab_scenario::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
}

fn estimates(scenario: &Scenario, policies: &[&str], seeds: u64) -> Vec<PolicyEstimate> {
    let options = EstimateOptions {
        seeds,
        policies: policies.iter().map(|p| (*p).to_owned()).collect(),
        ..EstimateOptions::default()
    };
    estimate(scenario, &options, &|| {}).unwrap().policies
}

#[test]
fn a_hundred_gateways_replay_exactly() {
    let scenario = load(LAYERED_BURSTY);
    let policy = scenario.policy("layered-aws-standard").unwrap();
    let first = run_seed(&scenario, policy, 3, TraceMode::HashOnly).unwrap();
    let second = run_seed(&scenario, policy, 3, TraceMode::HashOnly).unwrap();
    assert_eq!(first, second);
    // Every gateway's every put is booked once, in operation order.
    assert_eq!(first.operations, 100 * 40);
    assert_eq!(first.outcomes.len(), 4000);
    assert_eq!(first.latencies_us.len(), 4000);
    assert!(first.gateway_attempts >= first.operations, "{}", first.gateway_attempts);
    let other = run_seed(&scenario, policy, 4, TraceMode::HashOnly).unwrap();
    assert_ne!(first.trace_hash, other.trace_hash);
}

#[test]
fn a_shared_quota_drains_in_bursts_that_one_client_never_drains() {
    // 100 gateways through one storage server: AWS standard's 500-token
    // quota is the server's, so a burst that fails many gateways' requests
    // at once empties it, and puts fail that retries would have saved.
    let many = load(LAYERED_BURSTY);
    let shared = &estimates(&many, &["server-aws-standard", "server-multi-retry"], 20);
    assert!(shared[0].retry_quota_exhausted > 0, "{:?}", shared[0]);
    // The policy without a quota saves those puts: its failure rate's upper
    // bound is below the quota policy's lower bound.
    assert!(shared[1].ci_high < shared[0].ci_low, "{:?}\n{:?}", shared[1], shared[0]);
    // One gateway doing the same 4,000 puts one after another never has more
    // than one request in flight: the same bursts never empty the quota.
    let mut one = many.clone();
    if let Some(lafs) = &mut one.lafs {
        lafs.gateways = 1;
    }
    one.workload = Workload::MutablePuts { puts: 4000, line_bytes: 0, reads_per_write: 0 };
    let alone = &estimates(&one, &["server-aws-standard"], 20)[0];
    assert_eq!(alone.retry_quota_exhausted, 0, "{alone:?}");
    assert!(alone.failures_per_seed_max > 0 || alone.faults_injected > 0, "the bursts still happen: {alone:?}");
}

#[test]
fn layered_retries_multiply_requests_and_ride_out_an_outage() {
    let outage = load(LAYERED_OUTAGE);
    let results = estimates(&outage, &["server-multi-retry", "layered-multi-retry", "gateway-aws-standard"], 10);
    let (server_only, layered, gateway_only) = (&results[0], &results[1], &results[2]);
    // The server-only layer never retries a whole put; the layered one does.
    assert_eq!(server_only.gateway_attempts_per_op, 1.0);
    assert!(layered.gateway_attempts_per_op > 1.0, "{layered:?}");
    assert!(gateway_only.gateway_attempts_per_op > 1.0, "{gateway_only:?}");
    // Each gateway retry re-sends a whole put's S3 requests, each retried by
    // the server again: S3 sees more requests per put.
    assert!(layered.attempts_per_op > server_only.attempts_per_op, "{layered:?}\n{server_only:?}");
    // What the amplification buys: puts that outlast the 20 s outage.
    assert!(layered.ci_high < server_only.ci_low, "{layered:?}\n{server_only:?}");
}

#[test]
fn no_layering_corrupts_a_mutable_file() {
    for file in [LAYERED_BURSTY, LAYERED_OUTAGE] {
        let scenario = load(file);
        let options =
            ExploreOptions { seeds: 6, first_seed: 0, policies: Vec::new(), jobs: None, swarm: false, timeout: None };
        let found = explore(&scenario, &options, &|| {}).unwrap();
        assert_eq!(found.runs, 6 * scenario.policies.len() as u64);
        assert!(found.violations.is_empty(), "{file}: {:?}", found.violations.first());
    }
}

#[test]
fn concurrent_s3_clients_share_one_client_quota() {
    // A 5 s outage: one client retrying alone spends well under the 500
    // tokens; 50 clients of the same storage server drain them together.
    let faults = FaultModel {
        outages: vec![Outage { start_ms: 2_000, end_ms: 7_000, kind: FaultKind::InternalError }],
        ..FaultModel::default()
    };
    let mut scenario = put_scenario(faults, vec![("aws-standard", PolicyConfig::aws_standard())], 5000);
    let alone = &estimates(&scenario, &[], 3)[0];
    assert_eq!(alone.retry_quota_exhausted, 0, "{alone:?}");
    assert!(alone.failures > 0, "the outage fails some requests: {alone:?}");
    if let Workload::S3Requests { clients, .. } = &mut scenario.workload {
        *clients = 50;
    }
    let together = &estimates(&scenario, &[], 3)[0];
    assert!(together.retry_quota_exhausted > 0, "{together:?}");
    assert_eq!(together.operations, 3 * 5000);
}

#[test]
fn gateways_sharing_one_budget_drain_it_where_their_own_would_not() {
    // The outage, with only the gateways retrying (AWS standard): 100
    // separate quotas of 500 tokens last through it; one quota for all 100
    // gateways (one process serving them) empties, and puts fail for want of it.
    let per_gateway = load(LAYERED_OUTAGE);
    let mut shared = per_gateway.clone();
    if let Some(lafs) = &mut shared.lafs {
        lafs.gateway_budgets = BudgetScope::Shared;
    }
    let own = &estimates(&per_gateway, &["gateway-aws-standard"], 4)[0];
    let one = &estimates(&shared, &["gateway-aws-standard"], 4)[0];
    assert_eq!(own.retry_quota_exhausted, 0, "{own:?}");
    assert!(one.retry_quota_exhausted > 0, "{one:?}");
    assert!(one.gateway_attempts_per_op < own.gateway_attempts_per_op, "{one:?}\n{own:?}");
    assert!(one.ci_low > own.ci_high, "{one:?}\n{own:?}");
}
