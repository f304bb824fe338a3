//! Tahoe-LAFS workloads: mutable puts (2012 experiment three), appends and
//! backups through a gateway and storage servers on the simulated S3, with a
//! history for the checkers and a final read at quiescence.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use retrylab_check::{
    check_final_read_at_rest, check_immutable, check_mutable_appends, check_mutable_overwrites, check_versions_at_rest,
    invariant, FileWriters, FinalRead, ImmutableUpload, MutableOp, MutableOpKind, Outcome, ReadValue, SharesAtRest,
    Violation,
};
use retrylab_lafs::{
    parse_entries, AppendLine, BackupItem, BackupRoot, Cap, FileCap, Gateway, GatewayError, Grid, Host, LafsConfig,
    MutableCap, Retrieved, WriteError,
};
use retrylab_retry::{Policy, SharedBudgets};
use retrylab_s3::{Attempted, Clock, RetryLayer};
use retrylab_scenario::{BudgetScope, Consistency, LafsSpec, NamedPolicy, Scenario, Workload};
use retrylab_sim::{EventKind, NodeId, SimClock, TaskContext, World};
use sha2::{Digest, Sha256};

use crate::report::RunReport;

// Open-loop arrivals on the grid's mutable files (issue 12).
#[path = "lafs_open_loop.rs"]
mod open_loop;

/// How often the gateway tries to create the file before the workload
/// starts (creation runs under the same faults as everything else).
const CREATE_TRIES_MAX: u32 = 10;

pub fn lafs_config(spec: &LafsSpec) -> LafsConfig {
    LafsConfig {
        shares_needed: spec.shares_needed,
        shares_total: spec.shares_total,
        servers_of_happiness: spec.servers_of_happiness,
        servers: spec.servers,
        rpc_timeout: spec.rpc_timeout,
        gateways: spec.gateways,
        design: spec.design,
        server_capacity: spec.server_capacity,
    }
}

/// One gateway's part of a run: its gateway, its retry layer (when the
/// policy names one), and its own tally, merged into the run's report
/// afterwards in gateway order. Each client runs as its own madsim task, so
/// the scheduler (seeded) decides how the gateways interleave; the merge
/// order does not depend on which finished first.
struct Client {
    world: World,
    grid: Rc<Grid>,
    /// Which gateway of the grid.
    index: usize,
    /// The gateway's own retries of whole operations; `None`: it does not retry.
    layer: Option<RetryLayer<SimClock>>,
    /// Added to operation numbers in the trace, so they are unique across gateways.
    operation_base: u64,
    /// Operations this gateway has started (reads and writes).
    started: u64,
    /// Reads made during the run (each of the next gateway's file in turn).
    reads_made: u64,
    tally: RunReport,
}

impl Client {
    fn gateway(&self) -> &Gateway {
        &self.grid.gateways()[self.index]
    }

    fn node(&self) -> NodeId {
        self.gateway().node()
    }

    fn process(&self) -> u32 {
        u32::try_from(self.index).unwrap_or(u32::MAX)
    }

    /// The file this gateway writes, and its place among the file's writers.
    fn file_written(&self, files: &Files) -> (usize, u64) {
        (self.index / files.writers, (self.index % files.writers) as u64)
    }

    /// Starts the gateway's next operation on `key` (`file.0`, `backup.1`):
    /// its number and start time.
    fn start(&mut self, what: &'static str, key: impl FnOnce() -> String) -> (u64, Duration) {
        self.started += 1;
        let operation = self.operation_base + self.started;
        self.world
            .trace()
            .record_with(self.node(), EventKind::OperationStart { operation, what }, || vec![("key", key().into())]);
        (operation, self.world.now())
    }

    /// Books an operation that ended with `error` (None: success).
    fn end(&mut self, operation: u64, started: Duration, error: Option<&GatewayError>) {
        let latency = self.world.now().saturating_sub(started);
        book(&mut self.tally, latency, error.map(|error| (error.name(), error.web_status().to_string())));
        let status = error.map_or(200, GatewayError::web_status);
        self.world.trace().record_with(self.node(), EventKind::OperationEnd { operation, status }, || {
            crate::trace_records::end_detail(error.map(GatewayError::name))
        });
    }

    /// Runs a write as the gateway's web client would (see [`write_under`]).
    async fn write<T, F, Fut>(&self, write: F) -> Result<T, WriteError>
    where
        F: Fn(bool) -> Fut,
        Fut: Future<Output = Result<T, WriteError>>,
    {
        write_under(self.layer.as_ref(), write).await
    }

    /// Reads the mutable file `cap` (see [`read_under`]).
    async fn read(&self, cap: &MutableCap) -> Result<Retrieved, GatewayError> {
        read_under(self.layer.as_ref(), self.gateway(), cap).await
    }
}

/// Books one operation of `latency` into `tally`: a success, or a failure
/// of `(kind, status)`.
fn book(tally: &mut RunReport, latency: Duration, failure: Option<(&str, String)>) {
    tally.operations += 1;
    tally.latencies_us.push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    tally.outcomes.push(failure.is_none());
    if let Some((kind, status)) = failure {
        tally.failures += 1;
        *tally.failures_by_kind.entry(kind.to_owned()).or_default() += 1;
        *tally.failures_by_status.entry(status).or_default() += 1;
    }
}

/// What a workload driver needs of the gateway client it drives: the
/// simulator's [`Client`], or real mode's. Drivers written against it
/// ([`backups`]) run in both.
pub trait GatewayClient {
    type Host: Host;
    type Clock: Clock;
    fn gateway(&self) -> &Gateway<Self::Host>;
    /// The gateway's retry layer, when the policy names one.
    fn layer(&self) -> Option<&RetryLayer<Self::Clock>>;
    /// Starts the next operation on `key`: its number and start time.
    fn start(&mut self, what: &'static str, key: impl FnOnce() -> String) -> (u64, Duration);
    /// Books an operation that ended with `error` (None: success).
    fn end(&mut self, operation: u64, started: Duration, error: Option<&GatewayError>);
    /// The history's process id of this client.
    fn process(&self) -> u32;
    fn now(&self) -> Duration;
}

impl GatewayClient for Client {
    type Host = World;
    type Clock = SimClock;

    fn gateway(&self) -> &Gateway {
        Client::gateway(self)
    }

    fn layer(&self) -> Option<&RetryLayer<SimClock>> {
        self.layer.as_ref()
    }

    fn start(&mut self, what: &'static str, key: impl FnOnce() -> String) -> (u64, Duration) {
        Client::start(self, what, key)
    }

    fn end(&mut self, operation: u64, started: Duration, error: Option<&GatewayError>) {
        Client::end(self, operation, started, error);
    }

    fn process(&self) -> u32 {
        Client::process(self)
    }

    fn now(&self) -> Duration {
        self.world.now()
    }
}

/// Runs a write as the gateway's web client would: once, or under the
/// gateway's retry layer `layer`. `write(maybe_landed)` makes one try, told
/// whether an earlier try may have landed. A retried write that fails in
/// the end is indeterminate if any try was. Simulation and real mode share it.
pub async fn write_under<C, T, F, Fut>(layer: Option<&RetryLayer<C>>, write: F) -> Result<T, WriteError>
where
    C: Clock,
    F: Fn(bool) -> Fut,
    Fut: Future<Output = Result<T, WriteError>>,
{
    let Some(layer) = layer else { return write(false).await };
    let maybe_landed = Cell::new(false);
    let result = layer
        .run(|_attempt, _hedge| {
            let (write, maybe_landed) = (&write, &maybe_landed);
            async move {
                let sent_at = layer.clock().now();
                let result = write(maybe_landed.get()).await;
                layer.answered(&result, sent_at);
                if matches!(&result, Err(error) if error.is_indeterminate()) {
                    maybe_landed.set(true);
                }
                Attempted::single(result)
            }
        })
        .await;
    result.map_err(|mut error| {
        if maybe_landed.get() {
            error.outcome = retrylab_lafs::Outcome::Indeterminate;
        }
        error
    })
}

/// Reads the mutable file `cap` through `gateway`, once or under the
/// gateway's retry layer (a read changes nothing, so retrying it is always safe).
pub async fn read_under<C: Clock, H: Host>(
    layer: Option<&RetryLayer<C>>,
    gateway: &Gateway<H>,
    cap: &MutableCap,
) -> Result<Retrieved, GatewayError> {
    let Some(layer) = layer else { return gateway.get(cap).await };
    layer
        .run(|_attempt, _hedge| async move {
            let sent_at = layer.clock().now();
            let result = gateway.get(cap).await;
            layer.answered(&result, sent_at);
            Attempted::single(result)
        })
        .await
}

/// The run's mutable files (`mutable-puts`, `mutable-appends`), one per
/// `writers` gateways, and every operation on them: each file's history
/// holds its writers' writes and the reads any gateway made of it.
struct Files {
    caps: Vec<MutableCap>,
    /// Gateways writing each file: gateway g writes file g / writers.
    writers: usize,
    /// Each file's writers take turns, as Tahoe-LAFS requires of a mutable
    /// file's writers ("the Prime Coordination Directive: don't do that",
    /// docs/specifications/mutable.rst): one write at a time per file. A
    /// server may still be acting on an earlier writer's write after it
    /// gave up (RPC timeouts, ambiguous S3 writes), so test vectors fail and
    /// uncoordinated-write retries run all the same. Reads take no turn.
    turns: Vec<futures::lock::Mutex<()>>,
    histories: RefCell<Vec<Vec<MutableOp>>>,
    /// Each file's history ids and written values with the trace's
    /// operation numbers, so violations name the operations as the trace does.
    trace_ops: RefCell<Vec<TraceOps>>,
    /// Each file's next operation id: ids are taken at invocation, so they
    /// increase in invocation order across the processes.
    next_ids: RefCell<Vec<u64>>,
}

impl Files {
    fn new(caps: Vec<MutableCap>, writers: usize) -> Self {
        let count = caps.len();
        let turns = (0..count).map(|_| futures::lock::Mutex::new(())).collect();
        Files {
            caps,
            writers: writers.max(1),
            turns,
            histories: RefCell::new(vec![Vec::new(); count]),
            trace_ops: RefCell::new(vec![TraceOps::default(); count]),
            next_ids: RefCell::new(vec![1; count]),
        }
    }

    /// The id of an operation on `file` invoked now.
    fn invoke(&self, file: usize) -> u64 {
        let mut ids = self.next_ids.borrow_mut();
        let id = ids[file];
        ids[file] += 1;
        id
    }

    /// Records `op`, made by the trace's operation `operation`.
    fn record_traced(&self, file: usize, op: MutableOp, operation: u64) {
        self.trace_ops.borrow_mut()[file].note(&op, operation);
        self.record(file, op);
    }

    fn take_trace_ops(&self, file: usize) -> TraceOps {
        std::mem::take(&mut self.trace_ops.borrow_mut()[file])
    }

    fn record(&self, file: usize, op: MutableOp) {
        self.histories.borrow_mut()[file].push(op);
    }

    fn take_history(&self, file: usize) -> Vec<MutableOp> {
        std::mem::take(&mut self.histories.borrow_mut()[file])
    }
}

/// A history's operations by the trace's numbering: the checkers name
/// operations by history id (`read 4`, `write 3`) and written values
/// (`line 15`); [`TraceOps::name_in`] adds the trace's operation numbers.
#[derive(Clone, Debug, Default)]
struct TraceOps {
    /// History id -> trace operation.
    by_id: BTreeMap<u64, u64>,
    /// Value written (a put's line count, an append's line) -> trace operation.
    by_value: BTreeMap<u64, u64>,
}

impl TraceOps {
    fn note(&mut self, op: &MutableOp, operation: u64) {
        self.by_id.insert(op.id, operation);
        if let MutableOpKind::Write { value } | MutableOpKind::Append { value } = op.kind {
            self.by_value.insert(value, operation);
        }
    }

    /// Appends to each violation the trace operation of every history id
    /// (`read N`, `write N`, `op N`) and value (`line N`, `value N`) it
    /// names: `[trace: read 4 = op 9, line 15 = op 29]`, so `retrylab run
    /// --op 9` tells that operation's story.
    fn name_in(&self, mut violations: Vec<Violation>) -> Vec<Violation> {
        for violation in &mut violations {
            let words: Vec<&str> = violation.detail.split_whitespace().collect();
            let mut named: Vec<String> = Vec::new();
            for pair in words.windows(2) {
                let number = pair[1].trim_end_matches(|c: char| !c.is_ascii_digit());
                let Ok(number) = number.parse::<u64>() else { continue };
                let operation = match pair[0] {
                    "read" | "write" | "op" => self.by_id.get(&number),
                    "line" | "value" => self.by_value.get(&number),
                    _ => None,
                };
                let Some(operation) = operation else { continue };
                let mention = format!("{} {number} = op {operation}", pair[0]);
                if !named.contains(&mention) {
                    named.push(mention);
                }
            }
            if !named.is_empty() {
                violation.detail = format!("{} [trace: {}]", violation.detail, named.join(", "));
            }
        }
        violations
    }
}

/// How a workload's file contents decode into value ids.
#[derive(Clone, Copy)]
enum Decode {
    /// Overwrites: one value id, the number of lines.
    Puts { line_bytes: u64 },
    /// Appends: the line ids in file order.
    Appends,
}

impl Decode {
    /// How the files of `workload` decode (`None`: it writes no mutable file of its own).
    fn of(workload: &Workload) -> Option<Decode> {
        match *workload {
            Workload::MutablePuts { line_bytes, .. } => Some(Decode::Puts { line_bytes }),
            Workload::MutableAppends { .. } => Some(Decode::Appends),
            _ => None,
        }
    }

    fn values(self, contents: &[u8]) -> Vec<u64> {
        match self {
            Decode::Puts { line_bytes } => vec![decode_puts(contents, line_bytes)],
            Decode::Appends => decode_appends(contents),
        }
    }
}

/// The gateways' retry layers for `policy` (none when it names no gateway layer).
fn gateway_layers(
    world: &World,
    grid: &Grid,
    spec: &LafsSpec,
    policy: &NamedPolicy,
) -> Vec<Option<RetryLayer<SimClock>>> {
    let shared = SharedBudgets::new();
    grid.gateways()
        .iter()
        .enumerate()
        .map(|(g, gateway)| {
            let config = policy.gateway.as_ref()?;
            let seed = world.sub_seed(&format!("gateway-policy.{g}"));
            let policy = match spec.gateway_budgets {
                BudgetScope::PerGateway => Policy::new(config.clone(), seed),
                BudgetScope::Shared => Policy::with_shared(config.clone(), seed, &shared),
            };
            Some(RetryLayer::new(SimClock, policy).with_trace(world.trace().clone(), gateway.node()))
        })
        .collect()
}

fn us(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The history outcome of a write that failed with `error`.
pub fn outcome_of(error: &WriteError) -> Outcome {
    match error.outcome {
        retrylab_lafs::Outcome::Applied => Outcome::Ok,
        retrylab_lafs::Outcome::NotApplied => Outcome::Fail,
        retrylab_lafs::Outcome::Indeterminate => Outcome::Info,
    }
}

/// The contents of put `i` of a mutable-puts workload: lines "1".."i", each
/// padded with spaces to `line_bytes` (then "\n").
pub fn append_line(contents: &mut BytesMut, i: u64, line_bytes: u64) {
    let number = i.to_string();
    contents.extend_from_slice(number.as_bytes());
    let padding = (line_bytes as usize).saturating_sub(number.len() + 1);
    contents.extend(std::iter::repeat_n(b' ', padding));
    contents.extend_from_slice(b"\n");
}

/// The value id (number of lines) of mutable-puts contents, or `u64::MAX`
/// if they are not exactly what some put wrote.
pub fn decode_puts(contents: &[u8], line_bytes: u64) -> u64 {
    let lines = contents.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as u64;
    let mut expected = BytesMut::new();
    for i in 1..=lines {
        append_line(&mut expected, i, line_bytes);
    }
    if expected[..] == contents[..] {
        lines
    } else {
        u64::MAX
    }
}

/// The line ids of append-workload contents, in file order (`u64::MAX` for a garbled line).
fn decode_appends(contents: &[u8]) -> Vec<u64> {
    contents
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| std::str::from_utf8(l).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(u64::MAX))
        .collect()
}

fn shares_at_rest(grid: &Grid, cap: &MutableCap) -> SharesAtRest {
    crate::disruptions::shares_at_rest(grid, cap)
}

/// How long quiescence waits for the servers' last request handlers (a
/// handler goes on after its caller gave up, and may sit in its retry
/// layer's backoff) before a server that is still busy is reported.
const DRAIN_MAX: Duration = Duration::from_secs(3600);
const DRAIN_POLL: Duration = Duration::from_millis(100);

/// Quiescence: no more faults, every server's request handlers have
/// finished, and (under 2012 eventual consistency) the last writes have had
/// time to become visible; checks then read through the normal code paths.
/// Reading sooner would blame the design for a stale read that any client
/// could see, or miss a write a late handler makes.
async fn quiesce(world: &World, grid: &Grid, consistency: Consistency) {
    for service in grid.s3_services() {
        service.borrow_mut().heal();
    }
    world.net().stop_losses();
    drain(world, grid).await;
    if let Consistency::Eventual { window } = consistency {
        world.clock().sleep(window + Duration::from_millis(1)).await;
    }
}

/// Waits until no storage server runs a request handler, for at most [`DRAIN_MAX`].
async fn drain(world: &World, grid: &Grid) {
    let busy = || grid.servers().iter().any(|server| world.net().handlers_running(server.node()) > 0);
    let mut waited = Duration::ZERO;
    while busy() && waited < DRAIN_MAX {
        world.clock().sleep(DRAIN_POLL).await;
        waited += DRAIN_POLL;
    }
}

/// The storage servers' own invariants after quiescence and the final
/// reads' own handlers have drained: no request handler still running (a
/// hang), no per-index lock held (a leaked lock).
async fn check_servers_at_rest(world: &World, grid: &Grid) -> Vec<Violation> {
    drain(world, grid).await;
    let mut out = Vec::new();
    for server in grid.servers() {
        let handlers = world.net().handlers_running(server.node());
        let locks = server.locks_held();
        if handlers > 0 || locks > 0 {
            out.push(Violation {
                invariant: invariant::SERVER_NOT_IDLE,
                detail: format!(
                    "storage-server.{} at quiescence (after waiting {} s): {handlers} request handlers running, \
                     {locks} per-index locks held",
                    server.index(),
                    DRAIN_MAX.as_secs()
                ),
            });
        }
    }
    out
}

/// The checks on a mutable file's shares at rest, independent of the
/// gateway's read logic: no seqnum names two versions, and the final read
/// returned at least the newest version a write quorum (`write_quorum`
/// shares) holds.
fn check_file_at_rest(
    write_quorum: usize,
    at_rest: &SharesAtRest,
    final_read: &FinalRead,
    writers: FileWriters,
) -> Vec<Violation> {
    let mut out = Vec::new();
    let shares_durable = u32::try_from(write_quorum).unwrap_or(u32::MAX);
    let newest = check_versions_at_rest(at_rest, shares_durable, writers, &mut out);
    check_final_read_at_rest(final_read, newest, &mut out);
    out
}

/// Every check of a mutable-puts file with one writer at quiescence: its
/// history against the final read and the shares at rest, and the shares
/// at rest on their own. Simulation and real mode share it.
pub fn check_put_file(
    history: &[MutableOp],
    final_read: &FinalRead,
    at_rest: &SharesAtRest,
    write_quorum: usize,
) -> Vec<Violation> {
    let mut violations = check_mutable_overwrites(history, final_read, at_rest);
    violations.extend(check_file_at_rest(write_quorum, at_rest, final_read, FileWriters::One));
    violations
}

/// Creates a workload's mutable file `cap`, retrying a few times (it is
/// set-up, not one of the measured operations). Returns the creation as a
/// write of value 0 to the file's history, if any try got an answer.
pub async fn create<H: Host>(gateway: &Gateway<H>, cap: &MutableCap, contents: Bytes) -> Option<MutableOp> {
    let mut last = None;
    for _ in 0..CREATE_TRIES_MAX {
        match gateway.create_mutable_at(cap, contents.clone()).await {
            Ok(seqnum) => {
                last = Some((Outcome::Ok, Some(seqnum)));
                break;
            }
            Err(error) => {
                // Once a try may have landed, later ones are tests against it.
                let outcome = outcome_of(&error);
                if last.is_none() || outcome == Outcome::Info {
                    last = Some((outcome, None));
                }
            }
        }
    }
    last.map(|(outcome, seqnum)| MutableOp {
        id: 0,
        process: gateway.index(),
        kind: MutableOpKind::Write { value: 0 },
        outcome,
        invoked_us: 0,
        completed_us: 0,
        seqnum,
    })
}

/// What a gateway's workload leaves for the checks at quiescence (the
/// mutable workloads' histories are in [`Files`]).
enum Written {
    /// The gateway's file of a mutable workload.
    File,
    Backups(Backups),
    /// `s3-requests` runs without a grid.
    Nothing,
}

/// Waits for every task, in spawn order.
async fn join<T>(tasks: Vec<madsim::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(value) => out.push(value),
            // A gateway task panicked: re-raise it, so the run ends as a
            // panic with its seed rather than with a gateway missing.
            Err(error) => std::panic::resume_unwind(Box::new(format!("a gateway task ended abnormally: {error}"))),
        }
    }
    out
}

/// Runs the workload on every gateway at once, each gateway its own task
/// (each writing its own files, reading everyone's), then, at quiescence,
/// checks what each wrote.
pub(crate) async fn drive(
    world: &World,
    scenario: &Scenario,
    spec: &LafsSpec,
    policy: &NamedPolicy,
    grid: Rc<Grid>,
    report: &mut RunReport,
) {
    let layers = gateway_layers(world, &grid, spec, policy);
    let per_gateway = scenario.workload.operations();
    let clients: Vec<Client> = (0u64..)
        .zip(layers)
        .map(|(g, layer)| Client {
            world: world.clone(),
            grid: grid.clone(),
            index: g as usize,
            layer,
            operation_base: g * per_gateway,
            started: 0,
            reads_made: 0,
            tally: RunReport::empty(world.seed(), &policy.name),
        })
        .collect();
    let files = match scenario.workload {
        Workload::MutablePuts { .. } | Workload::MutableAppends { .. } => {
            let writers = usize::try_from(scenario.workload.writers_per_file()).unwrap_or(1);
            // The first writer of each file makes its cap.
            let caps = grid.gateways().iter().step_by(writers.max(1)).map(Gateway::generate_mutable_cap).collect();
            let files = Rc::new(Files::new(caps, writers));
            create_files(&grid, &files, &scenario.workload).await;
            Some(files)
        }
        _ => None,
    };
    let disrupting = crate::disruptions::start(world, &grid, &scenario.disruptions);
    let finished = match (&scenario.traffic.open_loop, &files) {
        (Some(_), Some(files)) => {
            let (finished, load) = open_loop::drive(world, scenario, clients, files.clone()).await;
            report.load = Some(load);
            finished
        }
        _ => {
            let tasks = clients
                .into_iter()
                .map(|client| {
                    let (workload, files) = (scenario.workload.clone(), files.clone());
                    madsim::task::spawn_local(run_workload(client, workload, files))
                })
                .collect();
            join(tasks).await
        }
    };
    disrupting.end();
    quiesce(world, &grid, scenario.s3.consistency).await;
    let several = finished.len() > 1;
    for (client, written) in finished {
        let mut violations = check_written(&grid, &client, files.as_deref(), &scenario.workload, written).await;
        if several {
            // Which gateway's files: the seed alone does not say.
            let name = Gateway::name(client.gateway().index());
            for violation in &mut violations {
                violation.detail = format!("{name}: {}", violation.detail);
            }
        }
        if let Some(layer) = &client.layer {
            let counters = layer.counters();
            report.gateway_attempts += counters.attempts;
            report.gateway_retries += counters.retries;
            report.quota_exhausted += counters.quota_exhausted;
        } else {
            report.gateway_attempts += client.tally.operations;
        }
        report.absorb(client.tally);
        report.violations.extend(violations);
    }
    report.violations.extend(check_servers_at_rest(world, &grid).await);
    let counters = grid.retry_counters();
    report.attempts = counters.attempts;
    report.s3_retries = counters.retries;
    report.retries = report.s3_retries + report.gateway_retries;
    report.quota_exhausted += counters.quota_exhausted;
    report.faults_injected = grid.faults_injected();
    report.outage_requests = grid.outage_requests();
    report.server_rejections = grid.overload_counts().total();
}

/// Creates every file, each by its first writer as its own task, before any
/// workload starts: a gateway reads the others' files from its first read.
async fn create_files(grid: &Rc<Grid>, files: &Rc<Files>, workload: &Workload) {
    let record_creation = matches!(workload, Workload::MutablePuts { .. });
    let tasks = (0..files.caps.len())
        .map(|file| {
            let (grid, files) = (grid.clone(), files.clone());
            madsim::task::spawn_local(async move {
                let creator = &grid.gateways()[file * files.writers];
                let created = create(creator, &files.caps[file], Bytes::new()).await;
                // Appends decode the empty file as no lines: its creation
                // carries no value of theirs.
                if let (Some(op), true) = (created, record_creation) {
                    files.record(file, op);
                }
            })
        })
        .collect();
    join(tasks).await;
}

async fn run_workload(mut client: Client, workload: Workload, files: Option<Rc<Files>>) -> (Client, Written) {
    let written = match (&workload, files) {
        (Workload::MutablePuts { puts, line_bytes, reads_per_write }, Some(files)) => {
            mutable_writes(&mut client, &files, *puts, *reads_per_write, Decode::Puts { line_bytes: *line_bytes }).await
        }
        (Workload::MutableAppends { appends, reads_per_write, .. }, Some(files)) => {
            mutable_writes(&mut client, &files, *appends, *reads_per_write, Decode::Appends).await
        }
        (Workload::Backups { files, file_bytes_step }, _) => {
            Written::Backups(backups(&mut client, files, *file_bytes_step).await)
        }
        // `s3-requests` is handled by the S3 workload driver.
        _ => Written::Nothing,
    };
    (client, written)
}

/// The history entry of a write or append that started at `started` and
/// ended now with `result` (its seqnum, or the error).
fn write_op(
    client: &impl GatewayClient,
    id: u64,
    kind: MutableOpKind,
    started: Duration,
    result: Result<u64, &WriteError>,
) -> MutableOp {
    let (outcome, seqnum) = match result {
        Ok(seqnum) => (Outcome::Ok, Some(seqnum)),
        Err(error) => (outcome_of(error), None),
    };
    MutableOp {
        id,
        process: client.process(),
        kind,
        outcome,
        invoked_us: us(started),
        completed_us: us(client.now()),
        seqnum,
    }
}

/// The gateway's next `reads` reads during the run: the n-th read of this
/// gateway reads the file of gateway (its own + n) mod gateways, so every
/// gateway reads its own file and, on a grid of several, the others'.
async fn reads(client: &mut Client, files: &Files, reads: u64, decode: Decode) {
    for _ in 0..reads {
        let file = (client.file_written(files).0 + client.reads_made as usize) % files.caps.len();
        client.reads_made += 1;
        let id = files.invoke(file);
        let (operation, started) = client.start("read", || format!("file.{file}"));
        let result = TaskContext::operation(operation).scope(client.read(&files.caps[file])).await;
        client.end(operation, started, result.as_ref().err());
        let (outcome, observed) = match result {
            Ok(read) => (Outcome::Ok, Some(ReadValue { seqnum: read.seqnum, values: decode.values(&read.contents) })),
            // A read changes nothing: a failed one is simply failed.
            Err(_) => (Outcome::Fail, None),
        };
        let op = MutableOp {
            id,
            process: client.process(),
            kind: MutableOpKind::Read { observed },
            outcome,
            invoked_us: us(started),
            completed_us: us(client.world.now()),
            seqnum: None,
        };
        files.record_traced(file, op, operation);
    }
}

/// Tries of a read at quiescence, a pause apart: with no faults left, a
/// read can still time out (a scenario's timeouts may sit inside the
/// latency tail), and a user would try again before calling data lost.
const QUIESCENT_TRIES: u32 = 5;
const QUIESCENT_PAUSE: Duration = Duration::from_secs(10);

/// `read` at quiescence, tried again after a failure, up to [`QUIESCENT_TRIES`].
async fn at_quiescence<T, E, Fut>(clock: &impl Clock, read: impl Fn() -> Fut) -> Result<T, E>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut result = read().await;
    for _ in 1..QUIESCENT_TRIES {
        if result.is_ok() {
            break;
        }
        clock.sleep(QUIESCENT_PAUSE).await;
        result = read().await;
    }
    result
}

/// Whether a read failed for want of servers answering (rather than, say,
/// servers answering that they hold nothing, which a listing bug causes).
fn unavailable(error: &GatewayError) -> bool {
    matches!(error, GatewayError::NotEnoughServers { .. } | GatewayError::Unrecoverable { .. })
}

/// The read at quiescence through the gateway, its contents decoded into
/// value ids. When the gateway cannot read even after [`QUIESCENT_TRIES`]
/// for want of servers answering (the scenario's timeouts sit inside the
/// latency tail, say), the shares at rest are read instead, with the same
/// retrieve logic: whether data was lost is a question about what is
/// stored, not about one more timeout.
async fn final_read(
    world: &World,
    grid: &Grid,
    gateway: &Gateway,
    cap: &MutableCap,
    decode: impl Fn(&[u8]) -> Vec<u64>,
) -> FinalRead {
    final_read_with(&world.clock(), gateway, cap, || grid.read_mutable_at_rest(cap), decode).await
}

/// [`final_read`] on any host: `read_at_rest` reads the shares at rest.
pub async fn final_read_with<H: Host>(
    clock: &impl Clock,
    gateway: &Gateway<H>,
    cap: &MutableCap,
    read_at_rest: impl FnOnce() -> Result<Retrieved, GatewayError>,
    decode: impl Fn(&[u8]) -> Vec<u64>,
) -> FinalRead {
    let read = match at_quiescence(clock, || gateway.get(cap)).await {
        Err(error) if unavailable(&error) => read_at_rest(),
        read => read,
    };
    match read {
        Ok(read) => FinalRead::Value(ReadValue { seqnum: read.seqnum, values: decode(&read.contents) }),
        Err(error) => FinalRead::Error { status: error.web_status(), error: error.name().to_owned() },
    }
}

/// The gateway's writes to its file, `reads_per_write` reads after each:
/// puts (put i overwrites the file with lines 1..=i, padded to
/// `line_bytes`) or appends (one line each, the writer taking turns with
/// the file's other writers).
async fn mutable_writes(
    client: &mut Client,
    files: &Files,
    writes: u64,
    reads_per_write: u64,
    decode: Decode,
) -> Written {
    let (file, slot) = client.file_written(files);
    let writers = files.writers as u64;
    let cap = files.caps[file];
    let mut contents = BytesMut::new();
    for i in 1..=writes {
        let turn = files.turns[file].lock().await;
        let id = files.invoke(file);
        let (kind, operation, started, result) = match decode {
            Decode::Puts { line_bytes } => {
                append_line(&mut contents, i, line_bytes);
                let body = contents.clone().freeze();
                let (operation, started) = client.start("put", || format!("file.{file}"));
                let gateway = client.gateway();
                let put = client.write(|_maybe_landed| gateway.put(&cap, body.clone()));
                let result = TaskContext::operation(operation).scope(put).await;
                (MutableOpKind::Write { value: i }, operation, started, result)
            }
            Decode::Appends => {
                // Line ids unique across the file's writers, increasing per
                // writer (with one writer, 1, 2, 3, ..).
                let value = (i - 1) * writers + slot + 1;
                let line = AppendLine::numbered(value);
                let (operation, started) = client.start("append", || format!("file.{file}"));
                let gateway = client.gateway();
                let append = client.write(|maybe_landed| gateway.modify_again(&cap, &line, maybe_landed));
                let result = TaskContext::operation(operation).scope(append).await;
                (MutableOpKind::Append { value }, operation, started, result.map(|modified| modified.seqnum))
            }
        };
        client.end(operation, started, result.as_ref().err().map(|e| &e.error));
        let op = write_op(client, id, kind, started, result.as_ref().copied());
        files.record_traced(file, op, operation);
        drop(turn);
        reads(client, files, reads_per_write, decode).await;
    }
    Written::File
}

/// One backup's outcome, its snapshot (when it completed) and its files.
pub type BackupDone = (Outcome, Option<Cap>, Vec<(String, Bytes)>);

/// File `f` of a backup: `f * step` bytes, different in every backup so
/// that no upload is deduplicated by convergent encryption's storage index.
fn backup_file(backup: usize, f: u64, step: u64) -> Bytes {
    let size = (f * step) as usize;
    let seed = format!("backup {backup} file {f}\n");
    Bytes::from(seed.as_bytes().iter().copied().cycle().take(size).collect::<Vec<u8>>())
}

/// Which backup (1-based) a snapshot directory belongs to, from its
/// children's names (`u64::MAX`: a snapshot no backup wrote).
async fn snapshot_number<H: Host>(
    clock: &impl Clock,
    stored: &impl StoredState,
    gateway: &Gateway<H>,
    snapshot: &Cap,
) -> Result<u64, GatewayError> {
    let children = match at_quiescence(clock, || gateway.list_directory(snapshot)).await {
        Err(error) if unavailable(&error) => stored.list_directory(snapshot)?,
        children => children?,
    };
    Ok(children
        .keys()
        .next()
        .and_then(|name| name.strip_prefix("backup-"))
        .and_then(|rest| rest.get(..3))
        .and_then(|number| number.parse().ok())
        .unwrap_or(u64::MAX))
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// What a backups workload leaves for the checks at quiescence.
pub struct Backups {
    pub root: Option<BackupRoot>,
    pub done: Vec<BackupDone>,
    pub history: Vec<MutableOp>,
    trace_ops: TraceOps,
}

/// The backups workload (`files[j]` files in backup j) on `client`'s
/// gateway, each backup under its retry layer: the simulator's and real
/// mode's driver.
pub async fn backups(client: &mut impl GatewayClient, files: &[u64], step: u64) -> Backups {
    // A retried backup picks up the root its earlier tries set up.
    let root: RefCell<Option<BackupRoot>> = RefCell::new(None);
    let mut done: Vec<BackupDone> = Vec::new();
    let mut history = Vec::new();
    let mut trace_ops = TraceOps::default();
    for (j, &count) in files.iter().enumerate() {
        // Names carry the backup's number, so the final read can tell which
        // snapshot `Latest` names even for a backup that failed after setting it.
        let items: Vec<(String, Bytes)> =
            (0..count).map(|f| (format!("backup-{:03}-file-{f:05}", j + 1), backup_file(j, f, step))).collect();
        let tree: Vec<BackupItem> = items
            .iter()
            .map(|(name, contents)| BackupItem::File { name: name.clone(), contents: contents.clone() })
            .collect();
        let value = j as u64 + 1;
        let timestamp = format!("2012-05-08T{:02}:00:00Z", j % 24);
        let (operation, started) = client.start("backup", || format!("backup.{}", j + 1));
        let gateway = client.gateway();
        let backup = write_under(client.layer(), |_maybe_landed| {
            let (root, tree, timestamp) = (&root, &tree, &timestamp);
            async move {
                // Taken out for the await and put back whatever happens:
                // no borrow is held across it.
                let mut current = root.take();
                let result = gateway.backup(&mut current, tree, timestamp).await;
                *root.borrow_mut() = current;
                result
            }
        });
        let result = TaskContext::operation(operation).scope(backup).await;
        client.end(operation, started, result.as_ref().err().map(|e| &e.error));
        // `Latest` names the snapshot: model it as a register written with
        // value j + 1, at the root directory's seqnum that set it.
        let published = result.as_ref().map(|backup| backup.root_seqnum);
        history.push(write_op(client, value, MutableOpKind::Write { value }, started, published));
        trace_ops.note(&history[history.len() - 1], operation);
        let snapshot = result.ok().map(|backup| backup.snapshot);
        done.push((history[history.len() - 1].outcome, snapshot, items));
    }
    Backups { root: root.into_inner(), done, history, trace_ops }
}

/// The checks at quiescence of what one gateway wrote.
async fn check_written(
    grid: &Grid,
    client: &Client,
    files: Option<&Files>,
    workload: &Workload,
    written: Written,
) -> Vec<Violation> {
    let gateway = client.gateway();
    match (written, files) {
        // A shared file is checked once, by its first writer.
        (Written::File, Some(files)) if !client.index.is_multiple_of(files.writers) => Vec::new(),
        (Written::File, Some(files)) => {
            let (file, _) = client.file_written(files);
            let cap = &files.caps[file];
            let history = files.take_history(file);
            let at_rest = shares_at_rest(grid, cap);
            let decode = Decode::of(workload).unwrap_or(Decode::Appends);
            let final_read = final_read(&client.world, grid, gateway, cap, |contents| decode.values(contents)).await;
            let write_quorum = gateway.config().write_quorum();
            let violations = match (decode, files.writers > 1) {
                (Decode::Puts { .. }, false) => check_put_file(&history, &final_read, &at_rest, write_quorum),
                (decode, several) => {
                    let mut violations = match decode {
                        Decode::Puts { .. } => check_mutable_overwrites(&history, &final_read, &at_rest),
                        Decode::Appends => check_mutable_appends(&history, &final_read, &at_rest),
                    };
                    let writers = if several { FileWriters::TakingTurns } else { FileWriters::One };
                    violations.extend(check_file_at_rest(write_quorum, &at_rest, &final_read, writers));
                    violations
                }
            };
            files.take_trace_ops(file).name_in(violations)
        }
        (Written::Backups(backups), _) => {
            let violations = check_backups(&client.world.clock(), grid, gateway, &backups).await;
            backups.trace_ops.name_in(violations)
        }
        _ => Vec::new(),
    }
}

/// What is stored, read with no network and no faults: the fallback when
/// the gateway cannot read at quiescence, and the shares the checkers
/// verify. The simulated grid reads its services; real mode the buckets it
/// listed over HTTP.
pub trait StoredState {
    fn read_mutable(&self, cap: &MutableCap) -> Result<Retrieved, GatewayError>;
    fn list_directory(&self, dir: &Cap) -> Result<BTreeMap<String, Cap>, GatewayError>;
    fn download_immutable(&self, cap: &FileCap) -> Result<Bytes, GatewayError>;
    /// Every stored share of `cap`, verified.
    fn shares(&self, cap: &MutableCap) -> SharesAtRest;
    /// Shares a version needs to be durable.
    fn write_quorum(&self) -> usize;
}

impl StoredState for Grid {
    fn read_mutable(&self, cap: &MutableCap) -> Result<Retrieved, GatewayError> {
        self.read_mutable_at_rest(cap)
    }

    fn list_directory(&self, dir: &Cap) -> Result<BTreeMap<String, Cap>, GatewayError> {
        self.list_directory_at_rest(dir)
    }

    fn download_immutable(&self, cap: &FileCap) -> Result<Bytes, GatewayError> {
        self.download_immutable_at_rest(cap)
    }

    fn shares(&self, cap: &MutableCap) -> SharesAtRest {
        shares_at_rest(self, cap)
    }

    fn write_quorum(&self) -> usize {
        self.gateway().config().write_quorum()
    }
}

/// The checks of a backups workload at quiescence: every file of every
/// completed backup downloads byte-identical (the immutable checker), and
/// the root directory's `Latest` behaves as a register of the backups.
pub async fn check_backups<H: Host>(
    clock: &impl Clock,
    stored: &impl StoredState,
    gateway: &Gateway<H>,
    backups: &Backups,
) -> Vec<Violation> {
    let Backups { root, done, history, .. } = backups;
    let mut violations: Vec<Violation> = Vec::new();
    // Every file of every completed backup downloads byte-identical. Upload
    // ids are unique across the run's backups.
    let mut uploads = Vec::new();
    for (outcome, snapshot, items) in done {
        let Some(snapshot) = snapshot else { continue };
        let listing = match at_quiescence(clock, || gateway.list_directory(snapshot)).await {
            Err(error) if unavailable(&error) => stored.list_directory(snapshot),
            listing => listing,
        };
        for (name, contents) in items {
            let downloaded = match &listing {
                Err(error) => Some(Err(format!("snapshot directory: {}", error.name()))),
                Ok(children) => Some(match children.get(name) {
                    Some(Cap::File(cap)) => {
                        let download = match at_quiescence(clock, || gateway.download(cap)).await {
                            Err(error) if unavailable(&error) => stored.download_immutable(cap),
                            download => download,
                        };
                        download.map(|bytes| digest(&bytes)).map_err(|e| e.name().to_owned())
                    }
                    Some(other) => Err(format!("{name} is not a file: {other:?}")),
                    None => Err(format!("{name} missing from the snapshot")),
                }),
            };
            uploads.push(ImmutableUpload {
                id: uploads.len() as u64,
                outcome: *outcome,
                expected_digest: digest(contents),
                downloaded,
            });
        }
    }
    violations.extend(check_immutable(&uploads));
    // `Latest` points at the newest acknowledged snapshot (or a later indeterminate one).
    if let Some(root) = root {
        let root_read = match at_quiescence(clock, || gateway.get(&root.root)).await {
            Err(error) if unavailable(&error) => stored.read_mutable(&root.root),
            read => read,
        };
        // The root directory as read: the version, whatever `Latest` says.
        let root_version = match &root_read {
            Ok(read) => FinalRead::Value(ReadValue { seqnum: read.seqnum, values: Vec::new() }),
            Err(error) => FinalRead::Error { status: error.web_status(), error: error.name().to_owned() },
        };
        let final_read = match root_read {
            Ok(read) => match parse_entries(&read.contents).map(|children| children.get("Latest").cloned()) {
                Ok(Some(latest)) => match snapshot_number(clock, stored, gateway, &latest).await {
                    Ok(number) => FinalRead::Value(ReadValue { seqnum: read.seqnum, values: vec![number] }),
                    Err(error) => FinalRead::Error {
                        status: error.web_status(),
                        error: format!("the snapshot Latest names: {}", error.name()),
                    },
                },
                Ok(None) => FinalRead::Error { status: 404, error: "NoSuchChildError: Latest".to_owned() },
                Err(error) => FinalRead::Error { status: error.web_status(), error: error.name().to_owned() },
            },
            Err(error) => FinalRead::Error { status: error.web_status(), error: error.name().to_owned() },
        };
        let at_rest = stored.shares(&root.root);
        violations.extend(check_mutable_overwrites(history, &final_read, &at_rest));
        violations.extend(check_file_at_rest(stored.write_quorum(), &at_rest, &root_version, FileWriters::One));
    }
    violations
}
