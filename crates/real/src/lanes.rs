//! One policy's run in real mode (a *lane*): the scenario's workload driven
//! through the same retry layer, storage server and gateway the simulator
//! runs, against stores that speak HTTP to real servers, booked into the
//! same [`RunReport`] the simulator's runs fill.
//!
//! The drivers here are the real-mode counterparts of the harness's
//! `s3-requests` and `mutable-puts` drivers: they share the harness's keys,
//! bodies, history entries and checks (`retrylab_harness::{object_body,
//! write_under, create, check_put_file, ...}`); what differs is only what a
//! world gives and a real run does not (a trace, simulated quiescence).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::join_all;
use retrylab_check::{MutableOp, MutableOpKind, Outcome, ReadValue, SharesAtRest, Violation};
use retrylab_faults::sub_seed;
use retrylab_harness::{
    append_line, check_backups, check_put_file, create, decode_puts, final_read_with, lafs_config, object_body,
    outcome_of, read_under, s3_requests_key, shares_checked, write_under, GatewayClient, RunReport, StoredState,
};
use retrylab_lafs::erasure::Codec;
use retrylab_lafs::{
    BucketsAtRest, Cap, FileCap, Gateway, GatewayError, LafsConfig, MutableCap, Retrieved, ServerHandle, StorageServer,
};
use retrylab_retry::Policy;
use retrylab_s3::{
    Clock, ObjectStore, ObjectStoreExt, PutCondition, RetryCounters, RetryLayer, RetryingStore, S3Request, StoreError,
};
use retrylab_scenario::{LafsSpec, NamedPolicy, S3Operation, Workload};
use retrylab_sim::NodeId;

use crate::host::{RealClock, RealHost};

/// Called once per finished operation (for a progress bar).
pub type Progress<'a> = &'a dyn Fn();

/// What a lane runs with: its policy, the run's seed and clock, and the
/// progress callback.
#[derive(Clone, Copy)]
pub struct Lane<'a> {
    pub policy: &'a NamedPolicy,
    pub seed: u64,
    pub clock: RealClock,
    pub progress: Progress<'a>,
}

fn us(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Books one finished S3 request of an `s3-requests` run.
fn book_request(report: &mut RunReport, latency: Duration, result: &Result<(), StoreError>) {
    report.latencies_us.push(us(latency));
    report.outcomes.push(result.is_ok());
    if let Err(error) = result {
        report.failures += 1;
        *report.failures_by_kind.entry(error.name().to_owned()).or_default() += 1;
        let status = error.status().map_or_else(|| "none".to_owned(), |s| s.to_string());
        *report.failures_by_status.entry(status).or_default() += 1;
    }
}

fn book_counters(report: &mut RunReport, counters: RetryCounters) {
    report.attempts += counters.attempts;
    report.s3_retries += counters.retries;
    report.quota_exhausted += counters.quota_exhausted;
    report.retries = report.s3_retries + report.gateway_retries;
}

/// An `s3-requests` workload (puts or gets, `clients` streams) through
/// `policy`'s retry layer over `store`. Seeds as the simulator's driver:
/// the policy draws from `sub_seed(seed, "policy")`.
pub async fn s3_requests<S: ObjectStore>(workload: &Workload, lane: Lane<'_>, store: S) -> RunReport {
    let Lane { policy, seed, clock, progress } = lane;
    let mut report = RunReport::empty(seed, &policy.name);
    let Workload::S3Requests { operations, operation, object_bytes, keys, clients } = *workload else {
        return report;
    };
    let store = RetryingStore::new(store, clock, Policy::new(policy.config.clone(), sub_seed(seed, "policy")));
    let keys = keys.max(1);
    let key_names: Vec<String> = (0..keys.min(operations.max(1))).map(s3_requests_key).collect();
    let key_of = |i: u64| key_names[(i % keys) as usize % key_names.len()].clone();
    let bodies = [object_body(0, object_bytes), object_body(1, object_bytes)];
    let clients = clients.clamp(1, operations.max(1));
    let (store, key_of, bodies) = (&store, &key_of, &bodies);
    let stream = |c: u64| async move {
        let mut results = Vec::new();
        let mut i = c;
        while i < operations {
            let request = match operation {
                S3Operation::Get => S3Request::Get { key: key_of(i) },
                _ => S3Request::Put {
                    key: key_of(i),
                    body: bodies[(i % 2) as usize].clone(),
                    condition: PutCondition::None,
                },
            };
            let start = clock.now();
            let result = store.send(request).await.map(drop);
            results.push((clock.now().saturating_sub(start), result));
            progress();
            i += clients;
        }
        results
    };
    let mut streams: Vec<_> = join_all((0..clients).map(stream)).await.into_iter().map(Vec::into_iter).collect();
    for i in 0..operations {
        let Some((latency, result)) = streams[(i % clients) as usize].next() else { break };
        book_request(&mut report, latency, &result);
    }
    report.operations = operations;
    book_counters(&mut report, store.counters());
    report
}

/// What a `mutable-puts` lane needs per storage server i: the store its
/// retry layer wraps, and a second store to the same bucket for reading
/// the shares at rest after the run (the server is healed by then).
pub struct ServerStores<S> {
    pub store: S,
    pub at_rest: S,
}

/// How long quiescence waits for request handlers still running after
/// their callers gave up (virtual time), polling every [`DRAIN_POLL`].
const DRAIN_MAX: Duration = Duration::from_secs(3600);
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// A grid of one gateway on [`RealHost`]: the same `StorageServer` and
/// `Gateway` as in a world, seeded as a world seeds them (server i's
/// policy from `policy.<i>`, the gateway's layer from `gateway-policy.0`).
struct RealGrid<S: ObjectStore + 'static> {
    host: RealHost<S>,
    gateway: Gateway<RealHost<S>>,
    servers: Vec<Rc<StorageServer<RealHost<S>>>>,
    /// Second clients to each server's bucket, for reading it at rest.
    at_rest: Vec<S>,
    layer: Option<RetryLayer<RealClock>>,
    config: LafsConfig,
}

impl<S: ObjectStore + 'static> RealGrid<S> {
    fn new(spec: &LafsSpec, lane: Lane<'_>, servers: Vec<ServerStores<S>>) -> Result<Self, Violation> {
        let Lane { policy, seed, clock, .. } = lane;
        let config = lafs_config(spec);
        let codec = Codec::new(config.shares_needed, config.shares_total)
            .map_err(|detail| Violation { invariant: "invalid-grid", detail })?;
        let host = RealHost::<S>::new(seed, clock);
        // Node ids as a world numbers a one-gateway grid: the gateway, then
        // each server and its S3 node.
        let mut at_rest = Vec::new();
        let mut handles = Vec::new();
        let mut storage_servers = Vec::new();
        for (i, stores) in (0u32..).zip(servers) {
            let node = NodeId::of_index(1 + 2 * i);
            let server_policy = Policy::new(policy.config.clone(), sub_seed(seed, &format!("policy.{i}")));
            let store = RetryingStore::new(stores.store, clock, server_policy);
            // The admission gate is runtime-agnostic (oneshot channels and the host's clock): it runs on tokio too.
            let server = Rc::new(
                StorageServer::<RealHost<S>>::new(i, node, store, config.design).with_capacity(config.server_capacity),
            );
            handles.push(ServerHandle { node, server: server.clone() });
            storage_servers.push(server);
            at_rest.push(stores.at_rest);
        }
        let gateway = Gateway::new(&host, 0, NodeId::of_index(0), Rc::new(handles), config.clone(), Rc::new(codec));
        let layer = policy
            .gateway
            .as_ref()
            .map(|config| RetryLayer::new(clock, Policy::new(config.clone(), sub_seed(seed, "gateway-policy.0"))));
        Ok(RealGrid { host, gateway, servers: storage_servers, at_rest, layer, config })
    }

    /// Quiescence: no more faults (`heal`), and no handler still at work.
    async fn quiesce(&self, clock: RealClock, heal: impl FnOnce()) {
        heal();
        let mut waited = Duration::ZERO;
        while self.host.handlers_running() > 0 && waited < DRAIN_MAX {
            clock.sleep(DRAIN_POLL).await;
            waited += DRAIN_POLL;
        }
    }

    /// The buckets at rest, listed and read over HTTP (after [`RealGrid::quiesce`]).
    async fn read_at_rest(&self) -> Result<RealStored<'_>, Violation> {
        let buckets = read_buckets(&self.at_rest).await.map_err(|error| unreadable(&error))?;
        Ok(RealStored {
            at_rest: self.gateway.at_rest(buckets),
            shares_needed: self.config.shares_needed,
            write_quorum: self.config.write_quorum(),
        })
    }

    /// Books the retry layers' totals into `report`.
    fn book(&self, report: &mut RunReport) {
        let mut counters = RetryCounters::default();
        for server in &self.servers {
            let c = server.retry_counters();
            counters.attempts += c.attempts;
            counters.retries += c.retries;
            counters.quota_exhausted += c.quota_exhausted;
        }
        book_counters(report, counters);
        report.server_rejections = self.servers.iter().map(|server| server.overload_counts().total()).sum();
        match &self.layer {
            Some(layer) => {
                let c = layer.counters();
                report.gateway_attempts = c.attempts;
                report.gateway_retries = c.retries;
                report.quota_exhausted += c.quota_exhausted;
                report.retries = report.s3_retries + report.gateway_retries;
            }
            None => report.gateway_attempts = report.operations,
        }
    }
}

/// The buckets as read over HTTP at quiescence, judged as the simulator
/// judges its services' contents.
struct RealStored<'a> {
    at_rest: BucketsAtRest<'a>,
    shares_needed: u8,
    write_quorum: usize,
}

impl StoredState for RealStored<'_> {
    fn read_mutable(&self, cap: &MutableCap) -> Result<Retrieved, GatewayError> {
        self.at_rest.read_mutable(cap)
    }

    fn list_directory(&self, dir: &Cap) -> Result<BTreeMap<String, Cap>, GatewayError> {
        self.at_rest.list_directory(dir)
    }

    fn download_immutable(&self, cap: &FileCap) -> Result<Bytes, GatewayError> {
        self.at_rest.download_immutable(cap)
    }

    fn shares(&self, cap: &MutableCap) -> SharesAtRest {
        // Real mode injects no corruption at rest: every corrupt share is the design's.
        shares_checked(self.at_rest.verify_mutable(cap), self.shares_needed, |_, _| false)
    }

    fn write_quorum(&self) -> usize {
        self.write_quorum
    }
}

/// A `mutable-puts` workload on a grid of one gateway: the file is created,
/// put `puts` times (each put followed by `reads_per_write` reads), then at
/// quiescence (`heal` stops every server's faults) read once more through
/// the gateway and verified at rest from the buckets over HTTP, with the
/// simulator's checks.
pub async fn mutable_puts<S: ObjectStore + 'static>(
    workload: &Workload,
    spec: &LafsSpec,
    lane: Lane<'_>,
    servers: Vec<ServerStores<S>>,
    heal: impl FnOnce(),
) -> RunReport {
    let Lane { policy, seed, clock, progress } = lane;
    let mut report = RunReport::empty(seed, &policy.name);
    let Workload::MutablePuts { puts, line_bytes, reads_per_write } = *workload else { return report };
    let grid = match RealGrid::new(spec, lane, servers) {
        Ok(grid) => grid,
        Err(violation) => {
            report.violations.push(violation);
            return report;
        }
    };
    let (gateway, layer) = (&grid.gateway, grid.layer.as_ref());
    let cap = gateway.generate_mutable_cap();
    let mut history: Vec<MutableOp> = create(gateway, &cap, Bytes::new()).await.into_iter().collect();
    let next_id = Cell::new(1u64);
    let invoke = || {
        let id = next_id.get();
        next_id.set(id + 1);
        id
    };
    let mut contents = BytesMut::new();
    for i in 1..=puts {
        append_line(&mut contents, i, line_bytes);
        let body = contents.clone().freeze();
        let id = invoke();
        let started = clock.now();
        let result = write_under(layer, |_maybe_landed| gateway.put(&cap, body.clone())).await;
        book_operation(&mut report, clock.now().saturating_sub(started), result.as_ref().err().map(|e| &e.error));
        let (outcome, seqnum) = match &result {
            Ok(seqnum) => (Outcome::Ok, Some(*seqnum)),
            Err(error) => (outcome_of(error), None),
        };
        history.push(MutableOp {
            id,
            process: 0,
            kind: MutableOpKind::Write { value: i },
            outcome,
            invoked_us: us(started),
            completed_us: us(clock.now()),
            seqnum,
        });
        progress();
        for _ in 0..reads_per_write {
            let id = invoke();
            let started = clock.now();
            let result = read_under(layer, gateway, &cap).await;
            book_operation(&mut report, clock.now().saturating_sub(started), result.as_ref().err());
            let (outcome, observed) = match result {
                Ok(read) => (
                    Outcome::Ok,
                    Some(ReadValue { seqnum: read.seqnum, values: vec![decode_puts(&read.contents, line_bytes)] }),
                ),
                Err(_) => (Outcome::Fail, None),
            };
            history.push(MutableOp {
                id,
                process: 0,
                kind: MutableOpKind::Read { observed },
                outcome,
                invoked_us: us(started),
                completed_us: us(clock.now()),
                seqnum: None,
            });
        }
    }

    grid.quiesce(clock, heal).await;
    match grid.read_at_rest().await {
        Ok(stored) => {
            let decode = |contents: &[u8]| vec![decode_puts(contents, line_bytes)];
            let final_read = final_read_with(&clock, gateway, &cap, || stored.read_mutable(&cap), decode).await;
            let at_rest = stored.shares(&cap);
            report.violations.extend(check_put_file(&history, &final_read, &at_rest, stored.write_quorum));
        }
        Err(violation) => report.violations.push(violation),
    }
    grid.book(&mut report);
    report
}

/// A `backups` workload on a grid of one gateway, through the harness's
/// own driver and checks (`retrylab_harness::{backups, check_backups}`):
/// every file of every completed backup must download byte-identical (the
/// immutable checker) and the root's `Latest` behave as a register, read
/// through the gateway at quiescence and at rest from the buckets over HTTP.
pub async fn backups<S: ObjectStore + 'static>(
    workload: &Workload,
    spec: &LafsSpec,
    lane: Lane<'_>,
    servers: Vec<ServerStores<S>>,
    heal: impl FnOnce(),
) -> RunReport {
    let Lane { policy, seed, clock, .. } = lane;
    let mut report = RunReport::empty(seed, &policy.name);
    let Workload::Backups { files, file_bytes_step } = workload else { return report };
    let grid = match RealGrid::new(spec, lane, servers) {
        Ok(grid) => grid,
        Err(violation) => {
            report.violations.push(violation);
            return report;
        }
    };
    let mut client = RealClient { grid: &grid, lane, started: 0, tally: RunReport::empty(seed, &policy.name) };
    let written = retrylab_harness::backups(&mut client, files, *file_bytes_step).await;
    report = client.tally;
    grid.quiesce(clock, heal).await;
    match grid.read_at_rest().await {
        Ok(stored) => report.violations.extend(check_backups(&clock, &stored, &grid.gateway, &written).await),
        Err(violation) => report.violations.push(violation),
    }
    grid.book(&mut report);
    report
}

fn unreadable(error: &StoreError) -> Violation {
    Violation {
        invariant: "buckets-unreadable",
        detail: format!("listing the buckets at rest over HTTP failed: {}", error.name()),
    }
}

/// Real mode's gateway client for the harness's drivers: operations booked
/// into the lane's tally, one progress tick each.
struct RealClient<'g, 'l, S: ObjectStore + 'static> {
    grid: &'g RealGrid<S>,
    lane: Lane<'l>,
    started: u64,
    tally: RunReport,
}

impl<S: ObjectStore + 'static> GatewayClient for RealClient<'_, '_, S> {
    type Host = RealHost<S>;
    type Clock = RealClock;

    fn gateway(&self) -> &Gateway<RealHost<S>> {
        &self.grid.gateway
    }

    fn layer(&self) -> Option<&RetryLayer<RealClock>> {
        self.grid.layer.as_ref()
    }

    fn start(&mut self, _what: &'static str, _key: impl FnOnce() -> String) -> (u64, Duration) {
        self.started += 1;
        (self.started, self.lane.clock.now())
    }

    fn end(&mut self, _operation: u64, started: Duration, error: Option<&GatewayError>) {
        book_operation(&mut self.tally, self.lane.clock.now().saturating_sub(started), error);
        (self.lane.progress)();
    }

    fn process(&self) -> u32 {
        0
    }

    fn now(&self) -> Duration {
        self.lane.clock.now()
    }
}

/// Books one finished gateway operation.
fn book_operation(report: &mut RunReport, latency: Duration, error: Option<&GatewayError>) {
    report.operations += 1;
    report.latencies_us.push(us(latency));
    report.outcomes.push(error.is_none());
    if let Some(error) = error {
        report.failures += 1;
        *report.failures_by_kind.entry(error.name().to_owned()).or_default() += 1;
        *report.failures_by_status.entry(error.web_status().to_string()).or_default() += 1;
    }
}

/// Every object of every bucket, listed page by page and read over HTTP.
async fn read_buckets<S: ObjectStore>(stores: &[S]) -> Result<Vec<Vec<(String, Bytes)>>, StoreError> {
    let mut buckets = Vec::with_capacity(stores.len());
    for store in stores {
        let mut objects = Vec::new();
        let mut token = None;
        loop {
            let page = store.list_page("", token).await?;
            for summary in &page.objects {
                let (body, _etag) = store.get(&summary.key).await?;
                objects.push((summary.key.clone(), body));
            }
            match page.next_continuation_token {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        buckets.push(objects);
    }
    Ok(buckets)
}
