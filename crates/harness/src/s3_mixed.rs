//! The mixed `s3-requests` workload: GETs, PUTs, DELETEs and LISTs over many keys, drawn by weight,
//! recorded as a history and checked by `retrylab_check::check_kv`.
//!
//! Every key (`data/00000` ..) starts with a value written before the run, so a LIST under `data/`
//! spans several pages of 1,000 from the start and overwrites begin at once. Each PUT's body names
//! its operation (`op <id> key <k>`, zero-padded to `object_bytes`), so a read says which write it
//! saw. At the end the world is healed, the eventual-consistency window waited out, and every key
//! read once more through the same store.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::Bytes;
use futures::future::{join_all, select, Either};
use futures::stream::{FuturesUnordered, StreamExt};
use rand::Rng;
use retrylab_check::{check_kv, KvFinalRead, KvHistory, KvOp, KvOpKind, Observed, Outcome, ReadConsistency};
use retrylab_faults::slot_rng;
use retrylab_retry::Policy;
use retrylab_s3::{
    ObjectStore, PutCondition, RetryingStore, S3ErrorCode, S3Request, S3Response, S3Service, SimS3Client, StoreError,
    LIST_PAGE_KEYS_MAX,
};
use retrylab_scenario::{Consistency, NamedPolicy, OperationMix, Scenario};
use retrylab_sim::{EventKind, NodeId, SimClock, TaskContext, World};

use crate::report::RunReport;

/// Every key of a mixed workload starts with this; LISTs ask for it.
const KEY_PREFIX: &str = "data/";

/// The workload's shape, from `Workload::S3Requests` with `S3Operation::Mixed`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MixedSpec {
    pub operations: u64,
    pub mix: OperationMix,
    pub object_bytes: u64,
    pub keys: u64,
    pub clients: u64,
}

/// A deliberate bug in the workload's client, for tests showing that the checker notices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) enum Sabotage {
    None,
    /// LIST reads only the first page (ignores the continuation token), as Tahoe-LAFS #1678 did.
    FirstListPageOnly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Get,
    Put,
    Delete,
    List,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Get => "GET",
            Kind::Put => "PUT",
            Kind::Delete => "DELETE",
            Kind::List => "LIST",
        }
    }
}

/// Runs the workload and checks its history; the report's violations are the checker's.
pub(crate) async fn drive(world: World, scenario: &Scenario, policy: &NamedPolicy, spec: MixedSpec) -> RunReport {
    let (mut report, history) = run_history(&world, scenario, policy, spec, Sabotage::None).await;
    report.violations = check_kv(&history, read_consistency(scenario.s3.consistency));
    report
}

/// What the checker is told the store promises: exactly what the S3 model does.
pub(crate) fn read_consistency(consistency: Consistency) -> ReadConsistency {
    match consistency {
        Consistency::Strong => ReadConsistency::Strong,
        Consistency::Eventual { window } => ReadConsistency::Eventual { window },
    }
}

/// Runs the workload; returns the report (without violations) and the history.
pub(crate) async fn run_history(
    world: &World,
    scenario: &Scenario,
    policy: &NamedPolicy,
    spec: MixedSpec,
    sabotage: Sabotage,
) -> (RunReport, KvHistory) {
    let server = world.net().add_node("storage-server");
    let s3_node = world.net().add_node("s3");
    let service = Rc::new(RefCell::new(S3Service::new(crate::workload::s3_config(scenario), world.sub_seed("s3"))));
    let client = SimS3Client::new(world.clone(), service.clone(), server, s3_node, scenario.s3.request_timeout);
    let store = RetryingStore::new(
        Witness::new(client),
        SimClock,
        Policy::new(policy.config.clone(), world.sub_seed("policy")),
    )
    .with_trace(world.trace().clone(), server);

    // Open loop: the arrivals (from a stream of their own) set how many operations run.
    let arrivals: Option<Vec<std::time::Duration>> = scenario.traffic.open_loop.as_ref().map(|open| {
        retrylab_load::Arrivals::new(open.schedule.clone(), open.duration, world.sub_seed("arrivals")).collect()
    });
    let spec = MixedSpec { operations: arrivals.as_ref().map_or(spec.operations, |a| a.len() as u64), ..spec };
    let keys: Vec<String> = (0..spec.keys).map(|k| format!("{KEY_PREFIX}{k:05}")).collect();
    let mut history = KvHistory::default();
    // The initial values get the ids after the operations'.
    for (k, key) in keys.iter().enumerate() {
        let id = spec.operations + k as u64;
        let body = tagged_body(id, key, spec.object_bytes);
        service.borrow_mut().preload(&S3Request::Put { key: key.clone(), body, condition: PutCondition::None });
        history.initial.insert(key.clone(), id);
    }

    let popular = match scenario.traffic.popularity {
        retrylab_load::KeyPopularity::Uniform => None,
        zipf => Some(retrylab_load::KeySampler::new(zipf, spec.keys.max(1))),
    };
    let runner = Runner {
        world,
        store: &store,
        server,
        keys: &keys,
        spec,
        sabotage,
        mix_seed: world.sub_seed("workload.mix"),
        popular,
    };
    let mut done: Vec<Done> = match &arrivals {
        Some(arrivals) => runner.open_loop(arrivals).await,
        None => {
            let clients = spec.clients.clamp(1, spec.operations.max(1));
            let streams = join_all((0..clients).map(|c| runner.stream(c, clients))).await;
            streams.into_iter().flatten().collect()
        }
    };
    done.sort_by_key(|d| d.op.id);

    let mut report = RunReport::empty(world.seed(), &policy.name);
    report.operations = spec.operations;
    report.latencies_us.reserve(done.len());
    report.outcomes.reserve(done.len());
    for d in &done {
        report
            .latencies_us
            .push(u64::try_from(d.op.completed.saturating_sub(d.op.invoked).as_micros()).unwrap_or(u64::MAX));
        report.outcomes.push(d.op.outcome == Outcome::Ok);
        if let Some(error) = d.error {
            report.failures += 1;
            *report.failures_by_kind.entry(error.name().to_owned()).or_default() += 1;
            let status = error.status().map_or_else(|| "none".to_owned(), |s| s.to_string());
            *report.failures_by_status.entry(status).or_default() += 1;
        }
    }
    crate::workload::book_s3(&mut report, store.counters(), &service.borrow());
    history.ops = done.into_iter().map(|d| d.op).collect();

    // Quiescence: no more faults, and no version young enough to be read stale.
    service.borrow_mut().heal();
    if let Consistency::Eventual { window } = scenario.s3.consistency {
        world.clock().sleep(window).await;
    }
    for key in &keys {
        let result = match store.send(S3Request::Get { key: key.clone() }).await {
            Ok(S3Response::Get { body, .. }) => Ok(decode(&body)),
            Err(StoreError::Service(S3ErrorCode::NoSuchKey)) => Ok(Observed::Absent),
            Ok(other) => Err(format!("an answer of the wrong kind: {other:?}")),
            Err(error) => Err(error.to_string()),
        };
        history.final_reads.push(KvFinalRead { key: key.clone(), result });
    }
    (report, history)
}

/// One operation as the checker sees it, and the error it failed with, for the report.
struct Done {
    op: KvOp,
    error: Option<StoreError>,
}

/// What every stream shares.
struct Runner<'a, S> {
    world: &'a World,
    store: &'a RetryingStore<Witness<S>, SimClock>,
    server: NodeId,
    keys: &'a [String],
    spec: MixedSpec,
    sabotage: Sabotage,
    mix_seed: u64,
    /// Zipf popularity of the keys; `None`: uniform.
    popular: Option<retrylab_load::KeySampler>,
}

impl<S: ObjectStore> Runner<'_, S> {
    /// Stream `c` of `clients` runs operations c, c + clients, .. one after another.
    async fn stream(&self, c: u64, clients: u64) -> Vec<Done> {
        // Reserved up to a bound: an absurd `operations` fails on its time limit, not on allocation.
        let mut done = Vec::with_capacity((self.spec.operations / clients + 1).min(1 << 16) as usize);
        let mut i = c;
        while i < self.spec.operations {
            done.push(self.run(i, c).await);
            i += clients;
        }
        done
    }

    /// Open loop: operation i starts at `arrivals[i]` whatever the others do,
    /// each its own process (a client that sends one request); every
    /// operation runs to its end, driven concurrently in this task.
    async fn open_loop(&self, arrivals: &[std::time::Duration]) -> Vec<Done> {
        let mut done = Vec::with_capacity(arrivals.len());
        let mut running = FuturesUnordered::new();
        for (i, at) in arrivals.iter().enumerate() {
            loop {
                let now = self.world.now();
                if *at <= now {
                    break;
                }
                if running.is_empty() {
                    SimClock.sleep(*at - now).await;
                    break;
                }
                let sleep = std::pin::pin!(SimClock.sleep(*at - now));
                match select(sleep, running.next()).await {
                    Either::Left(((), _)) => break,
                    Either::Right((finished, _)) => done.extend(finished),
                }
            }
            running.push(self.run(i as u64, i as u64));
        }
        while let Some(finished) = running.next().await {
            done.push(finished);
        }
        done
    }

    /// Operation `i`'s kind and key: drawn from its own slot of the mix stream, so they do not depend
    /// on how the streams interleave (and no other component's draws move).
    fn draw(&self, i: u64) -> (Kind, &str) {
        let mut rng = slot_rng(self.mix_seed, i);
        let mix = self.spec.mix;
        let total = mix.get + mix.put + mix.delete + mix.list;
        let u = rng.gen::<f64>() * total;
        let kind = if u < mix.get {
            Kind::Get
        } else if u < mix.get + mix.put {
            Kind::Put
        } else if u < mix.get + mix.put + mix.delete || mix.list == 0.0 {
            Kind::Delete
        } else {
            Kind::List
        };
        let k = match &self.popular {
            Some(sampler) => (sampler.sample(&mut rng) as usize).min(self.keys.len() - 1),
            None => rng.gen_range(0..self.keys.len()),
        };
        (kind, &self.keys[k])
    }

    async fn run(&self, i: u64, process: u64) -> Done {
        let (kind, key) = self.draw(i);
        let trace = self.world.trace();
        let start = EventKind::OperationStart { operation: i, what: kind.name() };
        trace.record_with(self.server, start, || {
            let key: &str = if kind == Kind::List { KEY_PREFIX } else { key };
            vec![("key", key.to_owned().into()), ("process", process.into())]
        });
        let invoked = self.world.now();
        let (kind, outcome, error) = TaskContext::operation(i)
            .scope(async {
                match kind {
                    Kind::Get => self.get(key).await,
                    Kind::Put => {
                        let body = tagged_body(i, key, self.spec.object_bytes);
                        let request = S3Request::Put { key: key.to_owned(), body, condition: PutCondition::None };
                        let (outcome, error) = self.write(key, request).await;
                        (KvOpKind::Put { key: key.to_owned() }, outcome, error)
                    }
                    Kind::Delete => {
                        let (outcome, error) = self.write(key, S3Request::Delete { key: key.to_owned() }).await;
                        (KvOpKind::Delete { key: key.to_owned() }, outcome, error)
                    }
                    Kind::List => self.list().await,
                }
            })
            .await;
        let completed = self.world.now();
        let status = match error {
            None => 200,
            Some(error) => error.status().unwrap_or(0),
        };
        trace.record_with(self.server, EventKind::OperationEnd { operation: i, status }, || {
            crate::trace_records::end_detail(error.map(|e| e.name()))
        });
        Done { op: KvOp { id: i, process, kind, outcome, invoked, completed }, error }
    }

    async fn get(&self, key: &str) -> (KvOpKind, Outcome, Option<StoreError>) {
        let (observed, outcome, error) = match self.store.send(S3Request::Get { key: key.to_owned() }).await {
            Ok(S3Response::Get { body, .. }) => (Some(decode(&body)), Outcome::Ok, None),
            // A 404 is an answer: the key is absent.
            Err(StoreError::Service(S3ErrorCode::NoSuchKey)) => (Some(Observed::Absent), Outcome::Ok, None),
            Ok(_) => (None, Outcome::Fail, Some(StoreError::Service(S3ErrorCode::InternalError))),
            // A read changes nothing: every error is a definite failure.
            Err(error) => (None, Outcome::Fail, Some(error)),
        };
        (KvOpKind::Get { key: key.to_owned(), observed }, outcome, error)
    }

    /// A PUT or DELETE. A failure is definite (Fail) only if no attempt may have been applied: the
    /// final error says nothing of the attempts the retry layer hid, so the witness under it counts them.
    async fn write(&self, key: &str, request: S3Request) -> (Outcome, Option<StoreError>) {
        let before = self.store.inner().possibly_applied(key);
        match self.store.send(request).await {
            Ok(_) => (Outcome::Ok, None),
            Err(error) if error.is_indeterminate() || self.store.inner().possibly_applied(key) != before => {
                (Outcome::Info, Some(error))
            }
            Err(error) => (Outcome::Fail, Some(error)),
        }
    }

    /// Every page under the prefix, each page one request through the retry layer.
    async fn list(&self) -> (KvOpKind, Outcome, Option<StoreError>) {
        // The bucket never holds more than `keys` keys: a store that keeps handing out tokens past
        // that is broken, and what it listed so far goes to the checker.
        let pages_max = self.keys.len() / LIST_PAGE_KEYS_MAX + 2;
        let mut listed = Vec::new();
        let mut continuation_token = None;
        for _ in 0..pages_max {
            let request = S3Request::List {
                prefix: KEY_PREFIX.to_owned(),
                continuation_token: continuation_token.take(),
                keys_max: LIST_PAGE_KEYS_MAX,
            };
            let page = match self.store.send(request).await {
                Ok(S3Response::List(page)) => page,
                Ok(_) => return list_failed(StoreError::Service(S3ErrorCode::InternalError)),
                Err(error) => return list_failed(error),
            };
            listed.extend(page.objects.into_iter().map(|object| object.key));
            continuation_token = page.next_continuation_token;
            if continuation_token.is_none() || self.sabotage == Sabotage::FirstListPageOnly {
                break;
            }
        }
        (KvOpKind::List { prefix: KEY_PREFIX.to_owned(), observed: Some(listed) }, Outcome::Ok, None)
    }
}

fn list_failed(error: StoreError) -> (KvOpKind, Outcome, Option<StoreError>) {
    (KvOpKind::List { prefix: KEY_PREFIX.to_owned(), observed: None }, Outcome::Fail, Some(error))
}

/// The body written by operation (or initial value) `id` to `key`: `op <id> key <key>`, zero-padded to
/// `size` bytes (never cut: a shorter `size` leaves the tag whole).
fn tagged_body(id: u64, key: &str, size: u64) -> Bytes {
    let mut bytes = format!("op {id} key {key}").into_bytes();
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    if bytes.len() < size {
        bytes.resize(size, 0);
    }
    Bytes::from(bytes)
}

/// Which write a body came from: the id in its tag (the checker knows which key that write went to).
fn decode(body: &[u8]) -> Observed {
    let tag_end = body.iter().position(|b| *b == 0).unwrap_or(body.len());
    let tag = String::from_utf8_lossy(&body[..tag_end]);
    let id = tag.strip_prefix("op ").and_then(|rest| rest.split(' ').next()).and_then(|id| id.parse().ok());
    match id {
        Some(id) => Observed::Value(id),
        None => Observed::Unrecognized(format!("{} bytes starting {:?}", body.len(), &tag[..tag.len().min(40)])),
    }
}

/// An `ObjectStore` under the retry layer that counts, per key, the PUT and DELETE attempts that may
/// have been applied without a success to show for it: an indeterminate error, or a copy dropped
/// in flight (a hedge's loser).
pub(crate) struct Witness<S> {
    inner: S,
    possibly_applied: RefCell<BTreeMap<String, u64>>,
}

impl<S> Witness<S> {
    fn new(inner: S) -> Self {
        Witness { inner, possibly_applied: RefCell::new(BTreeMap::new()) }
    }

    fn possibly_applied(&self, key: &str) -> u64 {
        self.possibly_applied.borrow().get(key).copied().unwrap_or(0)
    }

    fn count(&self, key: &str) {
        *self.possibly_applied.borrow_mut().entry(key.to_owned()).or_default() += 1;
    }
}

/// Counts its attempt as possibly applied unless disarmed (so a dropped attempt counts).
struct Pending<'w, S> {
    witness: &'w Witness<S>,
    key: String,
    armed: bool,
}

impl<S> Drop for Pending<'_, S> {
    fn drop(&mut self) {
        if self.armed {
            self.witness.count(&self.key);
        }
    }
}

impl<S: ObjectStore> ObjectStore for Witness<S> {
    async fn send(&self, request: S3Request) -> Result<S3Response, StoreError> {
        let key = match &request {
            S3Request::Put { key, .. } | S3Request::Delete { key } => key.clone(),
            _ => return self.inner.send(request).await,
        };
        let mut pending = Pending { witness: self, key, armed: true };
        let result = self.inner.send(request).await;
        pending.armed = match &result {
            Ok(_) => false,
            Err(error) => error.is_indeterminate(),
        };
        result
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use retrylab_check::invariant;
    use retrylab_scenario::{S3Operation, Workload};
    use retrylab_sim::TraceMode;

    use super::*;

    fn shipped(name: &str) -> Scenario {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sim-scenarios/s3").join(name);
        retrylab_scenario::load(&path).unwrap()
    }

    fn spec_of(scenario: &Scenario) -> MixedSpec {
        match scenario.workload {
            Workload::S3Requests { operations, operation: S3Operation::Mixed(mix), object_bytes, keys, clients } => {
                MixedSpec { operations, mix, object_bytes, keys, clients }
            }
            ref other => panic!("not a mixed workload: {other:?}"),
        }
    }

    /// One run's report and history, with the client sabotaged as `sabotage` says.
    fn history(scenario: &Scenario, policy: &str, seed: u64, sabotage: Sabotage) -> (RunReport, KvHistory) {
        let policy = scenario.policy(policy).unwrap();
        let config = crate::workload::world_config(scenario, seed, TraceMode::HashOnly);
        let spec = spec_of(scenario);
        let run =
            retrylab_sim::run(
                &config,
                |world| async move { run_history(&world, scenario, policy, spec, sabotage).await },
            );
        run.unwrap().output
    }

    fn invariants(history: &KvHistory, consistency: ReadConsistency) -> Vec<&'static str> {
        check_kv(history, consistency).into_iter().map(|v| v.invariant).collect()
    }

    fn count(history: &KvHistory, matches: impl Fn(&KvOp) -> bool) -> usize {
        history.ops.iter().filter(|op| matches(op)).count()
    }

    #[test]
    fn the_eventual_scenario_pages_lists_meets_ambiguity_and_needs_its_window() {
        let scenario = shipped("mixed-eventual.toml");
        let (report, history) = history(&scenario, "none", 3, Sabotage::None);
        assert_eq!(history.ops.len() as u64, report.operations);
        let consistency = read_consistency(scenario.s3.consistency);
        assert!(invariants(&history, consistency).is_empty(), "{:#?}", check_kv(&history, consistency));
        // Listings span pages, some writes are indeterminate, every key is read at the end.
        let paged = |op: &KvOp| matches!(&op.kind, KvOpKind::List { observed: Some(keys), .. } if keys.len() > 1000);
        assert!(count(&history, paged) > 50);
        assert!(count(&history, |op| op.outcome == Outcome::Info) > 0);
        assert_eq!(history.final_reads.len(), 2500);
        // Stale reads happen: a checker told the store is strong reports them.
        assert!(invariants(&history, ReadConsistency::Strong).contains(&invariant::STALE_GET));
    }

    #[test]
    fn without_retries_a_write_refused_by_a_503_is_a_definite_failure() {
        let scenario = shipped("mixed-strong.toml");
        let (_, history) = history(&scenario, "none", 1, Sabotage::None);
        let write = |op: &KvOp| matches!(op.kind, KvOpKind::Put { .. } | KvOpKind::Delete { .. });
        assert!(count(&history, |op| write(op) && op.outcome == Outcome::Fail) > 0);
        assert!(count(&history, |op| write(op) && op.outcome == Outcome::Info) > 0);
        assert!(invariants(&history, ReadConsistency::Strong).is_empty());
    }

    /// Alters one answer of a clean run's history at a time: each alteration is reported.
    #[test]
    fn an_altered_answer_is_reported() {
        let scenario = shipped("mixed-strong.toml");
        let (_, clean) = history(&scenario, "aws-standard", 2, Sabotage::None);
        assert!(invariants(&clean, ReadConsistency::Strong).is_empty());
        let altered = |alter: &dyn Fn(&mut KvHistory)| {
            let mut history = clean.clone();
            alter(&mut history);
            invariants(&history, ReadConsistency::Strong)
        };
        // A GET that saw an acknowledged PUT of the run is told to have seen the key's initial value.
        let initial = clean.initial.clone();
        let stale = altered(&|history| {
            let get = history
                .ops
                .iter_mut()
                .find(|op| matches!(&op.kind, KvOpKind::Get { observed: Some(Observed::Value(v)), .. } if *v < 3000));
            if let Some(KvOp { kind: KvOpKind::Get { key, observed }, .. }) = get {
                *observed = Some(Observed::Value(initial[key.as_str()]));
            }
        });
        assert!(stale.contains(&invariant::STALE_GET), "{stale:?}");
        // A value nobody wrote.
        let unwritten = altered(&|history| {
            if let Some(KvOp { kind: KvOpKind::Get { observed, .. }, .. }) =
                history.ops.iter_mut().find(|op| op.outcome == Outcome::Ok && matches!(op.kind, KvOpKind::Get { .. }))
            {
                *observed = Some(Observed::Value(u64::MAX));
            }
        });
        assert_eq!(unwritten, [invariant::UNWRITTEN_OBJECT_VISIBLE]);
        // A listing that lost its last page.
        let short = altered(&|history| {
            if let Some(KvOp { kind: KvOpKind::List { observed: Some(keys), .. }, .. }) = history
                .ops
                .iter_mut()
                .find(|op| matches!(&op.kind, KvOpKind::List { observed: Some(keys), .. } if keys.len() > 2000))
            {
                keys.truncate(2000);
            }
        });
        assert_eq!(short, [invariant::LIST_MISSING_KEY]);
        // A final read that lost a key nobody deleted.
        let lost = altered(&|history| {
            let untouched = history
                .final_reads
                .iter_mut()
                .find(|read| read.result == Ok(Observed::Value(initial[read.key.as_str()])));
            if let Some(read) = untouched {
                read.result = Ok(Observed::Absent);
            }
        });
        assert_eq!(lost, [invariant::FINAL_READ_DISAGREES]);
    }

    #[test]
    fn a_client_that_reads_only_the_first_list_page_is_caught() {
        for name in ["mixed-strong.toml", "mixed-eventual.toml"] {
            let scenario = shipped(name);
            let (_, history) = history(&scenario, "aws-standard", 1, Sabotage::FirstListPageOnly);
            let found = invariants(&history, read_consistency(scenario.s3.consistency));
            assert!(found.contains(&invariant::LIST_MISSING_KEY), "{name}: {found:?}");
        }
    }

    #[test]
    fn bodies_name_their_writer_and_decode_back() {
        let body = tagged_body(17, "data/00042", 64);
        assert_eq!(body.len(), 64);
        assert_eq!(decode(&body), Observed::Value(17));
        // A size below the tag keeps the tag whole.
        assert_eq!(decode(&tagged_body(123_456, "data/00042", 4)), Observed::Value(123_456));
        assert!(matches!(decode(b"garbage"), Observed::Unrecognized(_)));
    }
}
