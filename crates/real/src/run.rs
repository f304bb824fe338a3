//! `retrylab real`: starts one real server per policy lane and storage
//! server, runs every lane at once on one tokio thread, books the runs as
//! the simulator books its own, and asks the simulator for its prediction.

use std::time::Duration;

use futures::future::join_all;
use retrylab_faults::sub_seed;
use retrylab_harness::{select_policies, Estimate, EstimateError, EstimateState, RunReport};
use retrylab_s3::ObjectStoreExt;
use retrylab_s3_http::HttpS3Client;
use retrylab_s3_server::{RealS3Server, ServerError, WireConfig, WireCounts, ACCESS_KEY, REGION, SECRET_KEY};
use retrylab_scenario::{Consistency, NamedPolicy, S3Operation, Scenario, Workload};
use serde::Serialize;
use tokio::task::LocalSet;

use crate::host::RealClock;
use crate::lanes::{self, ServerStores};
use crate::predict::{predict, Agreement};

/// Real mode's default scale of virtual durations: a 945 ms S3 latency is
/// 9.45 ms of wall time, a 1,900 s Gilbert-Elliott sojourn 19 s.
pub const TIME_SCALE_DEFAULT: f64 = 0.01;

/// The largest `--time-scale` (the server's bound: a thousand times slower than real time).
pub const TIME_SCALE_MAX: f64 = retrylab_s3_server::TIME_SCALE_MAX;

/// The smallest `--time-scale`: below it, tokio's 1 ms timer granularity
/// would swallow most scaled latencies.
pub const TIME_SCALE_MIN: f64 = 1e-4;

/// The bucket every real server holds (one server per lane and storage server).
const BUCKET: &str = "retrylab";

/// What `retrylab real` runs.
#[derive(Clone, Debug)]
pub struct RealOptions {
    /// Shortens the workload to this many operations (`s3-requests`) or puts (`mutable-puts`).
    pub requests: Option<u64>,
    /// Policy names; empty: every policy of the scenario.
    pub policies: Vec<String>,
    /// The seed of the run's faults, latencies and policies' draws.
    pub seed: u64,
    /// Wall time per unit of virtual time.
    pub time_scale: f64,
    /// Simulated seeds behind the prediction; `None`: no prediction.
    pub sim_seeds: Option<u64>,
    /// Two-sided confidence of the failure-rate intervals (as `estimate`'s).
    pub confidence: f64,
}

impl Default for RealOptions {
    fn default() -> Self {
        RealOptions {
            requests: None,
            policies: Vec::new(),
            seed: 0,
            time_scale: TIME_SCALE_DEFAULT,
            sim_seeds: Some(crate::predict::SIM_SEEDS_DEFAULT),
            confidence: 0.95,
        }
    }
}

/// A real run: the same estimate `retrylab estimate` prints (one seed per
/// policy), what each lane's servers injected, and the simulator's verdict.
#[derive(Clone, Debug, Serialize)]
pub struct RealRun {
    pub mode: &'static str,
    pub seed: u64,
    pub time_scale: f64,
    /// Operations (or puts) each policy ran.
    pub requests: u64,
    /// Wall time of the real runs (all lanes at once), in milliseconds.
    pub wall_ms: u64,
    #[serde(flatten)]
    pub estimate: Estimate,
    /// What the wire layers injected, per policy (summed over its servers).
    pub faults_injected: Vec<LaneFaults>,
    /// The simulator's prediction and whether each policy's run agreed.
    pub agreement: Option<Vec<Agreement>>,
    /// What the reader should know: settings real mode cannot reproduce.
    pub real_notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LaneFaults {
    pub policy: String,
    #[serde(flatten)]
    pub counts: WireCounts,
}

impl RealRun {
    /// Every policy's run agreed with the simulator (true without a prediction).
    pub fn agrees(&self) -> bool {
        self.agreement.as_ref().is_none_or(|agreement| agreement.iter().all(Agreement::agrees))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RealError {
    #[error("{0}")]
    Unsupported(String),
    #[error("--time-scale: {0}")]
    TimeScale(String),
    #[error("--requests: must be at least 1")]
    Requests,
    #[error("starting the real S3 server: {0}")]
    Server(#[from] ServerError),
    #[error("building the S3 client: {0}")]
    Client(String),
    #[error("starting the tokio runtime: {0}")]
    Runtime(std::io::Error),
    #[error("{0}")]
    Estimate(#[from] EstimateError),
}

/// `scenario` with its workload cut to `requests` operations (or puts).
pub fn shortened(scenario: &Scenario, requests: Option<u64>) -> Scenario {
    let mut short = scenario.clone();
    if let Some(requests) = requests {
        match &mut short.workload {
            Workload::S3Requests { operations, .. } => *operations = requests,
            Workload::MutablePuts { puts, .. } => *puts = requests,
            Workload::MutableAppends { appends, .. } => *appends = requests,
            Workload::Backups { files, .. } => files.truncate(usize::try_from(requests).unwrap_or(usize::MAX)),
        }
    }
    short
}

/// What a lane counts as its operations: puts (`mutable-puts`), backups,
/// or operations (`s3-requests`).
pub fn lane_operations(workload: &Workload) -> u64 {
    match workload {
        Workload::MutablePuts { puts, .. } => *puts,
        Workload::Backups { files, .. } => files.len() as u64,
        workload => workload.operations(),
    }
}

/// Refuses what real mode cannot run, naming the setting; returns notes on
/// settings it runs differently.
pub fn check_supported(scenario: &Scenario) -> Result<Vec<String>, RealError> {
    let unsupported = |what: String| Err(RealError::Unsupported(format!("{}: {what}", scenario.path.display())));
    match (&scenario.workload, &scenario.lafs) {
        (Workload::S3Requests { operation: S3Operation::Put | S3Operation::Get, .. }, _) => {}
        (Workload::S3Requests { .. }, _) => {
            return unsupported("real mode runs `s3-requests` workloads of `put` or `get`, not mixed ones".into())
        }
        (Workload::MutablePuts { .. } | Workload::Backups { .. }, Some(spec)) if spec.gateways == 1 => {}
        (Workload::MutablePuts { .. } | Workload::Backups { .. }, _) => {
            return unsupported("real mode runs grid workloads on a grid of one gateway (lafs.gateways = 1)".into())
        }
        _ => return unsupported(
            "real mode runs `s3-requests` (put, get), `mutable-puts` and `backups` workloads, not `mutable-appends`"
                .into(),
        ),
    }
    if let Consistency::Eventual { .. } = scenario.s3.consistency {
        return unsupported("s3.consistency = \"eventual\": the real server (s3s-fs) is strongly consistent".into());
    }
    if scenario.disruptions.schedules_any() || scenario.disruptions.corruption.any() {
        return unsupported("[disruptions] (crashes, partitions, corruption) are simulated only".into());
    }
    if !scenario.traffic.is_default() {
        return unsupported(
            "load settings in [workload] (arrivals, think_time_ms, deadline_ms, concurrency_max, zipf_exponent, \
             prefixes) are simulated only"
                .into(),
        );
    }
    if scenario.s3.capacity.is_some() || scenario.s3.rate_limits.is_some() {
        return unsupported(
            "[s3.capacity] and [s3.rate_limits]: the real server answers at once, whatever the load".into(),
        );
    }
    let mut notes = Vec::new();
    if scenario.network.latency.mean_ms() > 0.0 || scenario.network.loss_probability > 0.0 {
        notes.push(
            "network.latency_ms and network.loss_probability are not applied in real mode: the storage server \
             reaches S3 over loopback"
                .to_owned(),
        );
    }
    Ok(notes)
}

/// Writes the objects of a GET workload through `server`'s set-up path.
async fn preload(
    servers: &[RealS3Server],
    client: HttpS3Client,
    operations: u64,
    object_bytes: u64,
    keys: u64,
) -> Result<(), RealError> {
    servers.iter().for_each(|server| server.set_preloading(true));
    let mut result = Ok(());
    for k in 0..keys.max(1).min(operations) {
        let key = retrylab_harness::s3_requests_key(k);
        let body = retrylab_harness::object_body(k, object_bytes);
        if let Err(error) = client.put(&key, body, retrylab_s3::PutCondition::None).await {
            result = Err(RealError::Client(format!("preloading {key}: {}", error.name())));
            break;
        }
    }
    servers.iter().for_each(|server| server.set_preloading(false));
    result
}

fn check_time_scale(time_scale: f64) -> Result<(), RealError> {
    if time_scale.is_finite() && (TIME_SCALE_MIN..=TIME_SCALE_MAX).contains(&time_scale) {
        Ok(())
    } else {
        Err(RealError::TimeScale(format!("must be in [{TIME_SCALE_MIN}, {TIME_SCALE_MAX}], got {time_scale}")))
    }
}

/// One lane's servers: one per storage server (one for `s3-requests`).
struct LaneServers<'s> {
    policy: &'s NamedPolicy,
    servers: Vec<RealS3Server>,
}

/// Runs `scenario` for real as `options` say; `progress` is called once per
/// finished operation, `predicting` once per finished simulated run.
pub fn run(
    scenario: &Scenario,
    options: &RealOptions,
    progress: &dyn Fn(),
    predicting: &(dyn Fn() + Sync),
) -> Result<RealRun, RealError> {
    check_time_scale(options.time_scale)?;
    if options.requests == Some(0) {
        return Err(RealError::Requests);
    }
    let real_notes = check_supported(scenario)?;
    let scenario = shortened(scenario, options.requests);
    let policies = select_policies(&scenario, &options.policies)?;
    let seed = options.seed;
    let servers_per_lane = scenario.lafs.as_ref().map_or(1, |spec| spec.servers);

    // Servers answer on worker threads of their own, so the clients'
    // thread never delays an answer (and the other way round).
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(RealError::Runtime)?;
    let client_runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(RealError::Runtime)?;

    let mut lanes = Vec::new();
    for policy in &policies {
        let mut servers = Vec::new();
        for i in 0..servers_per_lane {
            // The simulated S3 of `s3-requests` is seeded `s3`; a grid's are `s3.<i>`.
            let label = if scenario.lafs.is_some() { format!("s3.{i}") } else { "s3".to_owned() };
            let config = WireConfig {
                faults: scenario.faults.clone(),
                latency: scenario.s3.latency.clone(),
                error_latency: scenario.s3.error_latency.clone(),
                seed: sub_seed(seed, &label),
                time_scale: options.time_scale,
                request_timeout: scenario.s3.request_timeout,
                buckets: vec![BUCKET.to_owned()],
            };
            servers.push(server_runtime.block_on(RealS3Server::start(config))?);
        }
        lanes.push(LaneServers { policy, servers });
    }

    let started = tokio::time::Instant::now();
    let reports: Result<Vec<RunReport>, RealError> = client_runtime.block_on(async {
        let clock = RealClock::start(options.time_scale);
        let request_timeout = clock.wall(scenario.s3.request_timeout).max(Duration::from_millis(1));
        let client = |server: &RealS3Server| {
            HttpS3Client::new(&server.endpoint(), BUCKET, REGION, ACCESS_KEY, SECRET_KEY, request_timeout)
                .map_err(|error| RealError::Client(error.to_string()))
        };
        // A GET workload reads objects that exist before it starts: written
        // as set-up, outside the run's slots, faults and latencies.
        if let Workload::S3Requests { operation: S3Operation::Get, operations, object_bytes, keys, .. } =
            scenario.workload
        {
            for lane in &lanes {
                preload(&lane.servers, client(&lane.servers[0])?, operations, object_bytes, keys).await?;
            }
        }
        let mut runs = Vec::new();
        for lane in &lanes {
            let stores: Vec<ServerStores<HttpS3Client>> = lane
                .servers
                .iter()
                .map(|server| Ok(ServerStores { store: client(server)?, at_rest: client(server)? }))
                .collect::<Result<_, RealError>>()?;
            let scenario = &scenario;
            let context = lanes::Lane { policy: lane.policy, seed, clock, progress };
            let heal = || lane.servers.iter().for_each(RealS3Server::heal);
            runs.push(async move {
                match (&scenario.workload, &scenario.lafs) {
                    (Workload::MutablePuts { .. }, Some(spec)) => {
                        lanes::mutable_puts(&scenario.workload, spec, context, stores, heal).await
                    }
                    (Workload::Backups { .. }, Some(spec)) => {
                        lanes::backups(&scenario.workload, spec, context, stores, heal).await
                    }
                    _ => {
                        let store = stores.into_iter().next().map(|stores| stores.store);
                        match store {
                            Some(store) => lanes::s3_requests(&scenario.workload, context, store).await,
                            None => RunReport::empty(seed, &context.policy.name),
                        }
                    }
                }
            });
        }
        Ok(LocalSet::new().run_until(join_all(runs)).await)
    });
    let wall = started.elapsed();
    let mut reports = reports?;
    let mut faults_injected = Vec::new();
    for (lane, report) in lanes.iter().zip(&mut reports) {
        let mut counts = WireCounts::default();
        for server in &lane.servers {
            let c = server.faults_injected();
            counts.requests += c.requests;
            counts.applied_writes += c.applied_writes;
            counts.connections += c.connections;
            for (kind, n) in c.faults {
                *counts.faults.entry(kind).or_default() += n;
            }
        }
        report.faults_injected = counts.faults_total();
        faults_injected.push(LaneFaults { policy: lane.policy.name.clone(), counts });
    }
    for lane in lanes {
        for server in lane.servers {
            server_runtime.block_on(server.shutdown());
        }
    }
    drop(client_runtime);
    drop(server_runtime);

    let runs: Vec<(String, Vec<RunReport>)> =
        policies.iter().zip(reports).map(|(policy, report)| (policy.name.clone(), vec![report])).collect();
    let estimate = EstimateState::of_reports(&scenario, &runs, seed, options.confidence).finish(&scenario);
    let agreement = match options.sim_seeds {
        Some(sim_seeds) => {
            let names: Vec<String> = policies.iter().map(|policy| policy.name.clone()).collect();
            // No wall-clock budget: the scenario's own limits bound each simulated run.
            let predictions = predict(&scenario, &names, seed, sim_seeds, None, predicting)?;
            Some(
                estimate
                    .policies
                    .iter()
                    .zip(predictions)
                    .map(|(real, prediction)| Agreement::of(real, prediction))
                    .collect(),
            )
        }
        None => None,
    };
    Ok(RealRun {
        mode: "real",
        seed,
        time_scale: options.time_scale,
        requests: lane_operations(&scenario.workload),
        wall_ms: u64::try_from(wall.as_millis()).unwrap_or(u64::MAX),
        estimate,
        faults_injected,
        agreement,
        real_notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_cuts_the_workload_and_nothing_else() {
        let scenario = crate::tests::scenario();
        let short = shortened(&scenario, Some(7));
        assert_eq!(short.workload.operations(), 7);
        assert_eq!(short.faults, scenario.faults);
        assert_eq!(shortened(&scenario, None).workload.operations(), 200);
    }

    #[test]
    fn time_scales_outside_the_bounds_are_refused_with_the_flag_named() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, TIME_SCALE_MIN / 2.0, TIME_SCALE_MAX * 2.0] {
            let error = check_time_scale(bad).expect_err("refused");
            assert!(error.to_string().starts_with("--time-scale"), "{error}");
        }
        for good in [TIME_SCALE_MIN, TIME_SCALE_DEFAULT, 1.0, TIME_SCALE_MAX] {
            assert!(check_time_scale(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn what_real_mode_cannot_run_is_refused_naming_the_file_and_setting() {
        let mut scenario = crate::tests::scenario();
        assert!(check_supported(&scenario).expect("supported").is_empty());
        scenario.s3.consistency = Consistency::Eventual { window: Duration::from_secs(1) };
        let message = check_supported(&scenario).expect_err("eventual").to_string();
        assert!(message.contains("small.toml") && message.contains("eventual"), "{message}");
        let mut scenario = crate::tests::scenario();
        scenario.network.loss_probability = 0.1;
        let notes = check_supported(&scenario).expect("supported, with a note");
        assert!(notes[0].contains("loss_probability"), "{notes:?}");
    }

    #[test]
    fn zero_requests_are_refused() {
        let options = RealOptions { requests: Some(0), ..RealOptions::default() };
        let error = run(&crate::tests::scenario(), &options, &|| {}, &|| {}).expect_err("refused");
        assert!(matches!(error, RealError::Requests));
    }
}
