//! Tahoe-LAFS workloads: mutable puts (2012 experiment three), appends and
//! backups through a gateway and storage servers on the simulated S3, with a
//! history for the checkers and a final read at quiescence.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use retrylab_check::{
    check_immutable, check_mutable_appends, check_mutable_overwrites, FinalRead, ImmutableUpload, MutableOp,
    MutableOpKind, Outcome, ReadValue, ShareCheck, SharesAtRest, Violation,
};
use retrylab_lafs::{
    AppendLine, BackupItem, BackupRoot, Cap, GatewayError, Grid, LafsConfig, MutableCap, ShareVerdict, WriteError,
};
use retrylab_scenario::{Consistency, LafsSpec, Scenario, Workload};
use retrylab_sim::{EventKind, NodeId, World};
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

/// Records one operation's end in the report and the trace.
struct Books<'a> {
    world: &'a World,
    node: NodeId,
    report: &'a mut RunReport,
}

impl Books<'_> {
    fn start(&mut self, operation: u64, what: &'static str) -> Duration {
        self.world.trace().record(self.node, EventKind::OperationStart { operation, what });
        self.world.now()
    }

    /// Books an operation that ended with `error` (None: success).
    fn end(&mut self, operation: u64, started: Duration, error: Option<&GatewayError>) {
        let latency = self.world.now().saturating_sub(started);
        self.report.operations += 1;
        self.report.latencies_us.push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        self.report.outcomes.push(error.is_none());
        let status = match error {
            None => 200,
            Some(error) => {
                self.report.failures += 1;
                *self.report.failures_by_kind.entry(error.name().to_owned()).or_default() += 1;
                *self.report.failures_by_status.entry(error.web_status().to_string()).or_default() += 1;
                error.web_status()
            }
        };
        self.world.trace().record(self.node, EventKind::OperationEnd { operation, status });
    }
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
    SharesAtRest {
        shares: grid
            .verify_mutable_at_rest(cap)
            .into_iter()
            .map(|verdict| match verdict {
                ShareVerdict::Valid { server, share, seqnum, .. } => {
                    ShareCheck::Valid { server, share: u32::from(share), seqnum }
                }
                ShareVerdict::Corrupt { server, share, reason } => {
                    ShareCheck::Corrupt { server, share: u32::from(share), reason }
                }
            })
            .collect(),
    }
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

/// Creates the workload's mutable file, retrying a few times (it is set-up,
/// not one of the measured operations).
async fn create(grid: &Grid, contents: Bytes) -> (MutableCap, Option<MutableOp>) {
    let gateway = grid.gateway();
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

pub(crate) async fn drive(world: &World, scenario: &Scenario, grid: &Grid, report: &mut RunReport) {
    let run = Run { world, grid, node: grid.gateway().node(), consistency: scenario.s3.consistency };
    match &scenario.workload {
        Workload::MutablePuts { puts, line_bytes } => mutable_puts(&run, *puts, *line_bytes, report).await,
        Workload::MutableAppends { appends } => mutable_appends(&run, *appends, report).await,
        Workload::Backups { files, file_bytes_step } => backups(&run, files, *file_bytes_step, report).await,
        // Handled by the S3 workload driver.
        Workload::S3Requests { .. } => {}
    }
    let counters = grid.retry_counters();
    report.attempts = counters.attempts;
    report.retries = counters.retries;
    report.quota_exhausted = counters.quota_exhausted;
    report.faults_injected = grid.faults_injected();
}

/// What every workload needs.
struct Run<'a> {
    world: &'a World,
    grid: &'a Grid,
    node: NodeId,
    consistency: Consistency,
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
async fn final_read(grid: &Grid, cap: &MutableCap, decode: impl Fn(&[u8]) -> Vec<u64>) -> FinalRead {
    match grid.gateway().get(cap).await {
        Ok(read) => FinalRead::Value(ReadValue { seqnum: read.seqnum, values: decode(&read.contents) }),
        Err(error) => FinalRead::Error { status: error.web_status(), error: error.name().to_owned() },
    }
}

async fn mutable_puts(run: &Run<'_>, puts: u64, line_bytes: u64, report: &mut RunReport) {
    let Run { world, grid, node, consistency } = *run;
    let (cap, created) = create(grid, Bytes::new()).await;
    let mut history: Vec<MutableOp> = created.into_iter().collect();
    let mut contents = BytesMut::new();
    let mut books = Books { world, node, report };
    for i in 1..=puts {
        append_line(&mut contents, i, line_bytes);
        let started = books.start(i, "put");
        let result = grid.gateway().put(&cap, Bytes::copy_from_slice(&contents)).await;
        books.end(i, started, result.as_ref().err().map(|e| &e.error));
        history.push(write_op(world, i, MutableOpKind::Write { value: i }, started, result.as_ref().copied()));
    }
    quiesce(world, grid, consistency).await;
    let final_read = final_read(grid, &cap, |contents| vec![decode_puts(contents, line_bytes)]).await;
    let at_rest = shares_at_rest(grid, &cap);
    books.report.violations.extend(check_mutable_overwrites(&history, &final_read, &at_rest));
}

async fn mutable_appends(run: &Run<'_>, appends: u64, report: &mut RunReport) {
    let Run { world, grid, node, consistency } = *run;
    let (cap, _created_empty) = create(grid, Bytes::new()).await;
    let mut history = Vec::new();
    let mut books = Books { world, node, report };
    for i in 1..=appends {
        let started = books.start(i, "append");
        let result = grid.gateway().modify(&cap, &AppendLine::numbered(i)).await;
        books.end(i, started, result.as_ref().err().map(|e| &e.error));
        let result = result.as_ref().map(|modified| modified.seqnum);
        history.push(write_op(world, i, MutableOpKind::Append { value: i }, started, result));
    }
    quiesce(world, grid, consistency).await;
    let final_read = final_read(grid, &cap, decode_appends).await;
    let at_rest = shares_at_rest(grid, &cap);
    books.report.violations.extend(check_mutable_appends(&history, &final_read, &at_rest));
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
async fn snapshot_number(gateway: &retrylab_lafs::Gateway, snapshot: &Cap) -> Result<u64, GatewayError> {
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

async fn backups(run: &Run<'_>, files: &[u64], step: u64, report: &mut RunReport) {
    let Run { world, grid, node, consistency } = *run;
    let mut root: Option<BackupRoot> = None;
    let mut done: Vec<BackupDone> = Vec::new();
    let mut history = Vec::new();
    let mut books = Books { world, node, report };
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
        let started = books.start(operation, "backup");
        let result = grid.gateway().backup(&mut root, &tree, &format!("2012-05-08T{:02}:00:00Z", j % 24)).await;
        books.end(operation, started, result.as_ref().err().map(|e| &e.error));
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
            completed_ms: ms(world.now()),
            seqnum: None,
        });
        done.push((outcome, snapshot, items));
    }
    quiesce(world, grid, consistency).await;
    let gateway = grid.gateway();
    let mut violations: Vec<Violation> = Vec::new();
    // Every file of every completed backup downloads byte-identical.
    let mut uploads = Vec::new();
    for (outcome, snapshot, items) in &done {
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
        violations.extend(check_mutable_overwrites(&history, &final_read, &at_rest));
    }
    books.report.violations.extend(violations);
}
