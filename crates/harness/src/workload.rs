//! Builds one world from a scenario and drives its workload.

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use futures::future::join_all;
use retrylab_lafs::Grid;
use retrylab_retry::Policy;
use retrylab_s3::{
    service::S3Config, Consistency, ObjectStore, PutCondition, RetryingStore, S3Request, S3Service, SimS3Client,
};
use retrylab_scenario::{LafsSpec, NamedPolicy, S3Operation, Scenario, Workload};
use retrylab_sim::{
    EventKind, LinkSpec, RunError, RunLimits, SimClock, TaskContext, TraceMode, WallBudget, World, WorldConfig,
};

use crate::report::RunReport;
use crate::s3_mixed::MixedSpec;

/// Runs `scenario` under `policy` on `seed`.
pub fn run_seed(
    scenario: &Scenario,
    policy: &NamedPolicy,
    seed: u64,
    trace_mode: TraceMode,
) -> Result<RunReport, RunError> {
    run_seed_within(scenario, policy, seed, trace_mode, None)
}

/// [`run_seed`] with a wall-clock budget: past it the run stops with
/// [`RunError::WallTimeLimit`], naming the seed.
pub fn run_seed_within(
    scenario: &Scenario,
    policy: &NamedPolicy,
    seed: u64,
    trace_mode: TraceMode,
    wall_budget: Option<WallBudget>,
) -> Result<RunReport, RunError> {
    let config = WorldConfig { wall_budget, ..world_config(scenario, seed, trace_mode) };
    let run = retrylab_sim::run(&config, |world| drive(world, scenario, policy))?;
    let mut report = run.output;
    report.seed = seed;
    report.trace_hash = run.trace_hash;
    report.events = run.events;
    report.simulated_time = run.elapsed;
    report.trace = run.trace;
    report.node_names = run.node_names;
    Ok(report)
}

/// The world `scenario` runs in on `seed`.
pub(crate) fn world_config(scenario: &Scenario, seed: u64, trace_mode: TraceMode) -> WorldConfig {
    WorldConfig {
        seed,
        limits: RunLimits {
            simulated_time_max: scenario.limits.simulated_time_max,
            events_max: scenario.limits.events_max,
        },
        trace_mode,
        network: LinkSpec {
            latency: scenario.network.latency.clone(),
            loss_probability: scenario.network.loss_probability,
        },
        wall_budget: None,
    }
}

/// What the simulated S3 service (or real mode's wire layer) takes from `scenario`.
pub fn s3_config(scenario: &Scenario) -> S3Config {
    S3Config {
        latency: scenario.s3.latency.clone(),
        error_latency: scenario.s3.error_latency.clone(),
        consistency: match scenario.s3.consistency {
            retrylab_scenario::Consistency::Strong => Consistency::Strong,
            retrylab_scenario::Consistency::Eventual { window } => Consistency::Eventual { window },
        },
        faults: scenario.faults.clone(),
        capacity: scenario.s3.capacity.clone(),
        rate_limits: scenario.s3.rate_limits.clone(),
    }
}

async fn drive(world: World, scenario: &Scenario, policy: &NamedPolicy) -> RunReport {
    if crate::load_workload::applies(scenario) {
        return crate::load_workload::drive(world, scenario, policy).await;
    }
    match (&scenario.lafs, &scenario.workload) {
        (Some(spec), workload) if workload.needs_lafs() => drive_grid(world, scenario, policy, spec).await,
        (_, &Workload::S3Requests { operations, operation: S3Operation::Mixed(mix), object_bytes, keys, clients }) => {
            let spec = MixedSpec { operations, mix, object_bytes, keys, clients };
            crate::s3_mixed::drive(world, scenario, policy, spec).await
        }
        _ => drive_s3_requests(world, scenario, policy).await,
    }
}

/// A Tahoe-LAFS workload: gateway, storage servers and their S3 buckets.
async fn drive_grid(world: World, scenario: &Scenario, policy: &NamedPolicy, spec: &LafsSpec) -> RunReport {
    let mut report = RunReport::empty(world.seed(), &policy.name);
    match Grid::new(
        &world,
        crate::lafs_workload::lafs_config(spec),
        s3_config(scenario),
        scenario.s3.request_timeout,
        &policy.config,
    ) {
        Ok(grid) => crate::lafs_workload::drive(&world, scenario, spec, policy, Rc::new(grid), &mut report).await,
        // The scenario loader validates the grid; this is a bug if it happens.
        Err(error) => report.violations.push(retrylab_check::Violation {
            invariant: "invalid-grid",
            detail: format!("{}: {}", error.field, error.message),
        }),
    }
    report
}

/// Sequential S3 requests from one storage server (the 2012 10,000-request experiment).
async fn drive_s3_requests(world: World, scenario: &Scenario, policy: &NamedPolicy) -> RunReport {
    let server = world.net().add_node("storage-server");
    let s3_node = world.net().add_node("s3");
    // Sub-seeds by component name: the service's faults and latencies do not
    // depend on the policy, so every policy meets the same S3 on a seed.
    let service = Rc::new(RefCell::new(S3Service::new(s3_config(scenario), world.sub_seed("s3"))));
    let client = SimS3Client::new(world.clone(), service.clone(), server, s3_node, scenario.s3.request_timeout);
    let store = RetryingStore::new(client, SimClock, Policy::new(policy.config.clone(), world.sub_seed("policy")))
        .with_trace(world.trace().clone(), server);

    let mut report = RunReport::empty(world.seed(), &policy.name);

    match &scenario.workload {
        // `drive` runs mixed workloads (crate::s3_mixed).
        Workload::S3Requests { operation: S3Operation::Mixed(_), .. } => {}
        Workload::S3Requests { operations, operation, object_bytes, keys, clients } => {
            let put = *operation == S3Operation::Put;
            let keys = (*keys).max(1);
            // Keys are formatted once: formatting per request costs more than
            // the simulated request itself.
            let key_names: Vec<String> = (0..keys.min(*operations.max(&1))).map(s3_requests_key).collect();
            let key_of = |i: u64| key_names[(i % keys) as usize % key_names.len()].clone();
            if *operation == S3Operation::Get {
                // The objects exist before the measured requests start.
                let mut service = service.borrow_mut();
                for k in 0..keys.min(*operations) {
                    let request = S3Request::Put {
                        key: key_of(k),
                        body: object_body(k, *object_bytes),
                        condition: PutCondition::None,
                    };
                    service.preload(&request);
                }
            }
            // Two bodies, alternating: consecutive versions of a key always
            // differ (a stale read is visible), and no request pays for
            // building a body.
            let bodies = [object_body(0, *object_bytes), object_body(1, *object_bytes)];
            // Stream c sends operations c, c + clients, ..; each operation's
            // result lands at its own index, so outcomes are in operation
            // order (paired comparisons need that) whatever the interleaving.
            let clients = (*clients).clamp(1, *operations);
            let (store, world) = (&store, &world);
            let stream = |c: u64| {
                let (key_of, bodies) = (&key_of, &bodies);
                async move {
                    let mut results = Vec::with_capacity((*operations / clients + 1) as usize);
                    let mut i = c;
                    while i < *operations {
                        let request = if put {
                            S3Request::Put {
                                key: key_of(i),
                                body: bodies[(i % 2) as usize].clone(),
                                condition: PutCondition::None,
                            }
                        } else {
                            S3Request::Get { key: key_of(i) }
                        };
                        let started = EventKind::OperationStart { operation: i, what: request.operation_name() };
                        world.trace().record_with(server, started, || vec![("key", request.key().to_owned().into())]);
                        let start = world.now();
                        let result = TaskContext::operation(i).scope(store.send(request)).await.map(drop);
                        let latency = world.now().saturating_sub(start);
                        let status = match &result {
                            Ok(()) => 200,
                            Err(error) => error.status().unwrap_or(0),
                        };
                        world.trace().record_with(server, EventKind::OperationEnd { operation: i, status }, || {
                            crate::trace_records::end_detail(result.as_ref().err().map(|e| e.name()))
                        });
                        results.push((u64::try_from(latency.as_micros()).unwrap_or(u64::MAX), result));
                        i += clients;
                    }
                    results
                }
            };
            let mut streams: Vec<_> = if clients == 1 {
                // The 2012 experiment: one request after another, no join.
                vec![stream(0).await.into_iter()]
            } else {
                join_all((0..clients).map(stream)).await.into_iter().map(Vec::into_iter).collect()
            };
            report.latencies_us.reserve(*operations as usize);
            report.outcomes.reserve(*operations as usize);
            for i in 0..*operations {
                let Some((latency_us, result)) = streams[(i % clients) as usize].next() else { break };
                report.latencies_us.push(latency_us);
                report.outcomes.push(result.is_ok());
                if let Err(error) = result {
                    report.failures += 1;
                    *report.failures_by_kind.entry(error.name().to_owned()).or_default() += 1;
                    let status = error.status().map_or_else(|| "none".to_owned(), |s| s.to_string());
                    *report.failures_by_status.entry(status).or_default() += 1;
                }
            }
            report.operations = *operations;
        }
        Workload::MutablePuts { .. } | Workload::MutableAppends { .. } | Workload::Backups { .. } => {}
    }
    book_s3(&mut report, store.counters(), &service.borrow());
    report
}

/// The key of the `k`-th object of an `s3-requests` workload.
pub fn s3_requests_key(k: u64) -> String {
    format!("shares/aa/{k:016x}/0")
}

/// The body of operation `i`: `size` bytes starting with the operation's
/// number (so that ETags differ and a stale read is visible), zero-filled.
pub fn object_body(i: u64, size: u64) -> Bytes {
    let mut bytes = vec![0u8; size as usize];
    let tag = i.to_le_bytes();
    let tagged = bytes.len().min(tag.len());
    bytes[..tagged].copy_from_slice(&tag[..tagged]);
    Bytes::from(bytes)
}

/// Books what a run's S3 saw into its report: the retry layer's attempts,
/// retries and give-ups for want of quota, the faults the service injected
/// and the requests that arrived inside each outage.
pub(crate) fn book_s3(report: &mut RunReport, counters: retrylab_s3::RetryCounters, service: &S3Service) {
    report.attempts = counters.attempts;
    report.s3_retries = counters.retries;
    report.retries = report.s3_retries + report.gateway_retries;
    report.quota_exhausted = counters.quota_exhausted;
    report.faults_injected = service.faults_injected();
    report.outage_requests = service.outage_requests().to_vec();
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use retrylab_scenario::bounds::SIMULATED_TIME_S_MAX_CEILING;

    /// The loader's ceiling on `limits.simulated_time_s_max` is a time the
    /// world's watchdog can sleep, so a loaded limit is never cut short.
    #[test]
    fn the_loaders_time_ceiling_fits_the_worlds_clock() {
        assert!(Duration::from_secs(SIMULATED_TIME_S_MAX_CEILING) <= retrylab_sim::SIMULATED_TIME_MAX);
    }
}
