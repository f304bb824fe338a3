//! Tahoe-LAFS workloads: mutable puts (2012 experiment three), appends and
//! backups through a gateway and storage servers on the simulated S3, with a
//! history for the checkers and a final read at quiescence.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::join_all;
use retrylab_check::{
    check_immutable, check_mutable_appends, check_mutable_overwrites, FinalRead, ImmutableUpload, MutableOp,
    MutableOpKind, Outcome, ReadValue, SharesAtRest, Violation,
};
use retrylab_lafs::{
    AppendLine, BackupItem, BackupRoot, Cap, Gateway, GatewayError, Grid, LafsConfig, MutableCap, WriteError,
};
use retrylab_retry::{Policy, SharedBudgets};
use retrylab_s3::{Attempted, RetryLayer};
use retrylab_scenario::{BudgetScope, Consistency, LafsSpec, NamedPolicy, Scenario, Workload};
use retrylab_sim::{EventKind, NodeId, SimClock, World};
use sha2::{Digest, Sha256};

use crate::report::RunReport;

/// How often the gateway tries to create the file before the workload
/// starts (creation runs under the same faults as everything else).
const CREATE_TRIES_MAX: u32 = 10;

pub(crate) fn lafs_config(spec: &LafsSpec) -> LafsConfig {
    let design = spec.design;
    LafsConfig {
        shares_needed: spec.shares_needed,
        shares_total: spec.shares_total,
        servers_of_happiness: spec.servers_of_happiness,
        servers: spec.servers,
        rpc_timeout: spec.rpc_timeout,
        gateways: spec.gateways,
        design: retrylab_lafs::Design {
            share_layout: match design.share_layout {
                retrylab_scenario::ShareLayout::Whole => retrylab_lafs::ShareLayout::Whole,
                retrylab_scenario::ShareLayout::Chunked { chunk_bytes } => {
                    retrylab_lafs::ShareLayout::Chunked { chunk_bytes }
                }
            },
            per_index_lock: design.per_index_lock,
            listing: match design.listing {
                retrylab_scenario::Listing::Prefixed => retrylab_lafs::Listing::Prefixed,
                retrylab_scenario::Listing::WholeBucketFirstPage => retrylab_lafs::Listing::WholeBucketFirstPage,
            },
            write_check: match design.write_check {
                retrylab_scenario::WriteCheck::IfMatch => retrylab_lafs::WriteCheck::IfMatch,
                retrylab_scenario::WriteCheck::Blind => retrylab_lafs::WriteCheck::Blind,
            },
            modify_retry: match design.modify_retry {
                retrylab_scenario::ModifyRetry::Reconcile => retrylab_lafs::ModifyRetry::Reconcile,
                retrylab_scenario::ModifyRetry::Replay => retrylab_lafs::ModifyRetry::Replay,
            },
        },
    }
}

/// One gateway's part of a run: its node, its retry layer (when the policy
/// names one), and its own tally, merged into the run's report afterwards
/// in gateway order (gateways run at once; the merge order does not depend
/// on which finished first).
struct Client<'a> {
    world: &'a World,
    gateway: &'a Gateway,
    /// The gateway's own retries of whole operations; `None`: it does not retry.
    layer: Option<RetryLayer<SimClock>>,
    /// Added to operation numbers in the trace, so they are unique across gateways.
    operation_base: u64,
    tally: RunReport,
}

impl<'a> Client<'a> {
    fn node(&self) -> NodeId {
        self.gateway.node()
    }

    fn start(&self, operation: u64, what: &'static str) -> Duration {
        let operation = self.operation_base + operation;
        self.world.trace().record(self.node(), EventKind::OperationStart { operation, what });
        self.world.now()
    }

    /// Books an operation that ended with `error` (None: success).
    fn end(&mut self, operation: u64, started: Duration, error: Option<&GatewayError>) {
        let latency = self.world.now().saturating_sub(started);
        let tally = &mut self.tally;
        tally.operations += 1;
        tally.latencies_us.push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        tally.outcomes.push(error.is_none());
        let status = match error {
            None => 200,
            Some(error) => {
                tally.failures += 1;
                *tally.failures_by_kind.entry(error.name().to_owned()).or_default() += 1;
                *tally.failures_by_status.entry(error.web_status().to_string()).or_default() += 1;
                error.web_status()
            }
        };
        let operation = self.operation_base + operation;
        self.world.trace().record(self.node(), EventKind::OperationEnd { operation, status });
    }

    /// Runs a write as the gateway's web client would: once, or under the
    /// gateway's retry layer. `write(maybe_landed)` makes one try, told
    /// whether an earlier try may have landed. A retried write that fails in
    /// the end is indeterminate if any try was.
    async fn write<T, F, Fut>(&self, write: F) -> Result<T, WriteError>
    where
        F: Fn(bool) -> Fut,
        Fut: Future<Output = Result<T, WriteError>>,
    {
        let Some(layer) = &self.layer else { return write(false).await };
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

fn ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn outcome_of(error: &WriteError) -> Outcome {
    match error.outcome {
        retrylab_lafs::Outcome::Applied => Outcome::Ok,
        retrylab_lafs::Outcome::NotApplied => Outcome::Fail,
        retrylab_lafs::Outcome::Indeterminate => Outcome::Info,
    }
}

/// The contents of put `i` of a mutable-puts workload: lines "1".."i", each
/// padded with spaces to `line_bytes` (then "\n").
fn append_line(contents: &mut BytesMut, i: u64, line_bytes: u64) {
    let number = i.to_string();
    contents.extend_from_slice(number.as_bytes());
    let padding = (line_bytes as usize).saturating_sub(number.len() + 1);
    contents.extend(std::iter::repeat_n(b' ', padding));
    contents.extend_from_slice(b"\n");
}

/// The value id (number of lines) of mutable-puts contents, or `u64::MAX`
/// if they are not exactly what some put wrote.
fn decode_puts(contents: &[u8], line_bytes: u64) -> u64 {
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

/// Quiescence: no more faults, and (under 2012 eventual consistency) the
/// last writes have had time to become visible; checks then read through
/// the normal code paths. Reading sooner would blame the design for a stale
/// read that any client could see.
async fn quiesce(world: &World, grid: &Grid, consistency: Consistency) {
    for service in grid.s3_services() {
        service.borrow_mut().heal();
    }
    if let Consistency::Eventual { window } = consistency {
        world.clock().sleep(window + Duration::from_millis(1)).await;
    }
}

/// Creates a workload's mutable file, retrying a few times (it is set-up,
/// not one of the measured operations).
async fn create(gateway: &Gateway, contents: Bytes) -> (MutableCap, Option<MutableOp>) {
    let cap = gateway.generate_mutable_cap();
    let mut last = None;
    for _ in 0..CREATE_TRIES_MAX {
        match gateway.create_mutable_at(&cap, contents.clone()).await {
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
    let op = last.map(|(outcome, seqnum)| MutableOp {
        id: 0,
        kind: MutableOpKind::Write { value: 0 },
        outcome,
        invoked_ms: 0,
        completed_ms: 0,
        seqnum,
    });
    (cap, op)
}

/// What a gateway's workload leaves for the checks at quiescence.
enum Written {
    Overwrites {
        cap: MutableCap,
        history: Vec<MutableOp>,
        line_bytes: u64,
    },
    Appends {
        cap: MutableCap,
        history: Vec<MutableOp>,
    },
    Backups {
        root: Option<BackupRoot>,
        done: Vec<BackupDone>,
        history: Vec<MutableOp>,
    },
    /// `s3-requests` runs without a grid.
    Nothing,
}

/// Runs the workload on every gateway at once (each on its own files),
/// then, at quiescence, checks what each wrote.
pub(crate) async fn drive(
    world: &World,
    scenario: &Scenario,
    spec: &LafsSpec,
    policy: &NamedPolicy,
    grid: &Grid,
    report: &mut RunReport,
) {
    let layers = gateway_layers(world, grid, spec, policy);
    let per_gateway = scenario.workload.operations();
    let mut clients: Vec<Client> = (0u64..)
        .zip(grid.gateways().iter().zip(layers))
        .map(|(g, (gateway, layer))| Client {
            world,
            gateway,
            layer,
            operation_base: g * per_gateway,
            tally: RunReport::empty(world.seed(), &policy.name),
        })
        .collect();
    let disrupting = crate::disruptions::start(world, grid, &scenario.disruptions);
    let written = join_all(clients.iter_mut().map(|client| run_workload(client, &scenario.workload))).await;
    disrupting.end();
    quiesce(world, grid, scenario.s3.consistency).await;
    let several = clients.len() > 1;
    for (client, written) in clients.into_iter().zip(written) {
        let mut violations = check_written(grid, client.gateway, written).await;
        if several {
            // Which gateway's files: the seed alone does not say.
            let name = Gateway::name(client.gateway.index());
            for violation in &mut violations {
                violation.detail = format!("{name}: {}", violation.detail);
            }
        }
        if let Some(layer) = &client.layer {
            let counters = layer.counters();
            report.gateway_attempts += counters.attempts;
            report.quota_exhausted += counters.quota_exhausted;
        } else {
            report.gateway_attempts += client.tally.operations;
        }
        report.absorb(client.tally);
        report.violations.extend(violations);
    }
    let counters = grid.retry_counters();
    report.attempts = counters.attempts;
    report.retries = counters.retries;
    report.quota_exhausted += counters.quota_exhausted;
    report.faults_injected = grid.faults_injected();
}

async fn run_workload(client: &mut Client<'_>, workload: &Workload) -> Written {
    match workload {
        Workload::MutablePuts { puts, line_bytes } => mutable_puts(client, *puts, *line_bytes).await,
        Workload::MutableAppends { appends } => mutable_appends(client, *appends).await,
        Workload::Backups { files, file_bytes_step } => backups(client, files, *file_bytes_step).await,
        // Handled by the S3 workload driver.
        Workload::S3Requests { .. } => Written::Nothing,
    }
}

/// The history entry of a write or append that started at `started` and
/// ended now with `result` (its seqnum, or the error).
fn write_op(
    world: &World,
    id: u64,
    kind: MutableOpKind,
    started: Duration,
    result: Result<u64, &WriteError>,
) -> MutableOp {
    let (outcome, seqnum) = match result {
        Ok(seqnum) => (Outcome::Ok, Some(seqnum)),
        Err(error) => (outcome_of(error), None),
    };
    MutableOp { id, kind, outcome, invoked_ms: ms(started), completed_ms: ms(world.now()), seqnum }
}

/// The read at quiescence through the gateway, its contents decoded into value ids.
async fn final_read(gateway: &Gateway, cap: &MutableCap, decode: impl Fn(&[u8]) -> Vec<u64>) -> FinalRead {
    match gateway.get(cap).await {
        Ok(read) => FinalRead::Value(ReadValue { seqnum: read.seqnum, values: decode(&read.contents) }),
        Err(error) => FinalRead::Error { status: error.web_status(), error: error.name().to_owned() },
    }
}

async fn mutable_puts(client: &mut Client<'_>, puts: u64, line_bytes: u64) -> Written {
    let gateway = client.gateway;
    let (cap, created) = create(gateway, Bytes::new()).await;
    let mut history: Vec<MutableOp> = created.into_iter().collect();
    let mut contents = BytesMut::new();
    for i in 1..=puts {
        append_line(&mut contents, i, line_bytes);
        let contents = contents.clone().freeze();
        let started = client.start(i, "put");
        let result = client.write(|_maybe_landed| gateway.put(&cap, contents.clone())).await;
        client.end(i, started, result.as_ref().err().map(|e| &e.error));
        history.push(write_op(client.world, i, MutableOpKind::Write { value: i }, started, result.as_ref().copied()));
    }
    Written::Overwrites { cap, history, line_bytes }
}

async fn mutable_appends(client: &mut Client<'_>, appends: u64) -> Written {
    let gateway = client.gateway;
    let (cap, _created_empty) = create(gateway, Bytes::new()).await;
    let mut history = Vec::new();
    for i in 1..=appends {
        let started = client.start(i, "append");
        let line = AppendLine::numbered(i);
        let result = client.write(|maybe_landed| gateway.modify_again(&cap, &line, maybe_landed)).await;
        client.end(i, started, result.as_ref().err().map(|e| &e.error));
        let result = result.as_ref().map(|modified| modified.seqnum);
        history.push(write_op(client.world, i, MutableOpKind::Append { value: i }, started, result));
    }
    Written::Appends { cap, history }
}

/// One backup's outcome, its snapshot (when it completed) and its files.
type BackupDone = (Outcome, Option<Cap>, Vec<(String, Bytes)>);

/// File `f` of a backup: `f * step` bytes, different in every backup so
/// that no upload is deduplicated by convergent encryption's storage index.
fn backup_file(backup: usize, f: u64, step: u64) -> Bytes {
    let size = (f * step) as usize;
    let seed = format!("backup {backup} file {f}\n");
    Bytes::from(seed.as_bytes().iter().copied().cycle().take(size).collect::<Vec<u8>>())
}

/// Which backup (1-based) a snapshot directory belongs to, from its
/// children's names (`u64::MAX`: a snapshot no backup wrote).
async fn snapshot_number(gateway: &Gateway, snapshot: &Cap) -> Result<u64, GatewayError> {
    let children = gateway.list_directory(snapshot).await?;
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

async fn backups(client: &mut Client<'_>, files: &[u64], step: u64) -> Written {
    let gateway = client.gateway;
    // A retried backup picks up the root its earlier tries set up.
    let root: RefCell<Option<BackupRoot>> = RefCell::new(None);
    let mut done: Vec<BackupDone> = Vec::new();
    let mut history = Vec::new();
    for (j, &count) in files.iter().enumerate() {
        // Names carry the backup's number, so the final read can tell which
        // snapshot `Latest` names even for a backup that failed after setting it.
        let items: Vec<(String, Bytes)> =
            (0..count).map(|f| (format!("backup-{:03}-file-{f:05}", j + 1), backup_file(j, f, step))).collect();
        let tree: Vec<BackupItem> = items
            .iter()
            .map(|(name, contents)| BackupItem::File { name: name.clone(), contents: contents.clone() })
            .collect();
        let operation = j as u64 + 1;
        let timestamp = format!("2012-05-08T{:02}:00:00Z", j % 24);
        let started = client.start(operation, "backup");
        let result = client
            .write(|_maybe_landed| {
                let (root, tree, timestamp) = (&root, &tree, &timestamp);
                async move {
                    // Taken out for the await and put back whatever happens:
                    // no borrow is held across it.
                    let mut current = root.take();
                    let result = gateway.backup(&mut current, tree, timestamp).await;
                    *root.borrow_mut() = current;
                    result
                }
            })
            .await;
        client.end(operation, started, result.as_ref().err().map(|e| &e.error));
        let (outcome, snapshot) = match result {
            Ok(backup) => (Outcome::Ok, Some(backup.snapshot)),
            Err(error) => (outcome_of(&error), None),
        };
        // `Latest` names the snapshot: model it as a register written with value j + 1.
        history.push(MutableOp {
            id: operation,
            kind: MutableOpKind::Write { value: operation },
            outcome,
            invoked_ms: ms(started),
            completed_ms: ms(client.world.now()),
            seqnum: None,
        });
        done.push((outcome, snapshot, items));
    }
    Written::Backups { root: root.into_inner(), done, history }
}

/// The checks at quiescence of what one gateway wrote.
async fn check_written(grid: &Grid, gateway: &Gateway, written: Written) -> Vec<Violation> {
    match written {
        Written::Overwrites { cap, history, line_bytes } => {
            let final_read = final_read(gateway, &cap, |contents| vec![decode_puts(contents, line_bytes)]).await;
            check_mutable_overwrites(&history, &final_read, &shares_at_rest(grid, &cap))
        }
        Written::Appends { cap, history } => {
            let final_read = final_read(gateway, &cap, decode_appends).await;
            check_mutable_appends(&history, &final_read, &shares_at_rest(grid, &cap))
        }
        Written::Backups { root, done, history } => check_backups(grid, gateway, root, &done, &history).await,
        Written::Nothing => Vec::new(),
    }
}

async fn check_backups(
    grid: &Grid,
    gateway: &Gateway,
    root: Option<BackupRoot>,
    done: &[BackupDone],
    history: &[MutableOp],
) -> Vec<Violation> {
    let mut violations: Vec<Violation> = Vec::new();
    // Every file of every completed backup downloads byte-identical.
    let mut uploads = Vec::new();
    for (outcome, snapshot, items) in done {
        let Some(snapshot) = snapshot else { continue };
        let listing = gateway.list_directory(snapshot).await;
        for (id, (name, contents)) in items.iter().enumerate() {
            let downloaded = match &listing {
                Err(error) => Some(Err(format!("snapshot directory: {}", error.name()))),
                Ok(children) => Some(match children.get(name) {
                    Some(Cap::File(cap)) => {
                        gateway.download(cap).await.map(|bytes| digest(&bytes)).map_err(|e| e.name().to_owned())
                    }
                    Some(other) => Err(format!("{name} is not a file: {other:?}")),
                    None => Err(format!("{name} missing from the snapshot")),
                }),
            };
            uploads.push(ImmutableUpload {
                id: id as u64,
                outcome: *outcome,
                expected_digest: digest(contents),
                downloaded,
            });
        }
    }
    violations.extend(check_immutable(&uploads));
    // `Latest` points at the newest acknowledged snapshot (or a later indeterminate one).
    if let Some(root) = &root {
        let final_read = match gateway.list_directory(&Cap::MutableDir(root.root)).await {
            Ok(children) => match children.get("Latest") {
                Some(latest) => match snapshot_number(gateway, latest).await {
                    Ok(number) => FinalRead::Value(ReadValue { seqnum: 0, values: vec![number] }),
                    Err(error) => FinalRead::Error {
                        status: error.web_status(),
                        error: format!("the snapshot Latest names: {}", error.name()),
                    },
                },
                None => FinalRead::Error { status: 404, error: "NoSuchChildError: Latest".to_owned() },
            },
            Err(error) => FinalRead::Error { status: error.web_status(), error: error.name().to_owned() },
        };
        let at_rest = shares_at_rest(grid, &root.root);
        violations.extend(check_mutable_overwrites(history, &final_read, &at_rest));
    }
    violations
}
