//! The simulated S3 service: objects, ETags, conditional writes, listing
//! pages, consistency, and injected faults and corruption.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use retrylab_faults::{
    flip_bit, slot_rng, sub_seed, tamper, truncated_len, Corruption, CorruptionDecision, CorruptionDraw, FaultDecision,
    FaultKind, FaultModel, LatencyDist,
};
use retrylab_load::{Admission, PrefixLimiter, QueueSpec, RateLimitSpec, RequestClass, ServiceQueue};
use retrylab_sim::Reply;

pub use crate::fault_plan::FaultState;
use crate::fault_plan::{Encounter, FaultPlan};
use crate::types::{
    quoted_md5_hex, ETag, ListPage, ObjectSummary, PutCondition, S3ErrorCode, S3Request, S3Response, LIST_PAGE_KEYS_MAX,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    /// Read-after-write for everything (S3 since December 2020).
    Strong,
    /// 2012 S3: for `window` after an overwrite or delete, each GET sees the
    /// previous version with probability 1/2 (a read may hit a replica that
    /// has not caught up). New keys are read-after-write, as they were then.
    Eventual { window: Duration },
}

/// Everything the service needs from the scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct S3Config {
    pub latency: LatencyDist,
    pub error_latency: Option<LatencyDist>,
    pub consistency: Consistency,
    pub faults: FaultModel,
    /// A first-come-first-served queue in front of the service (`None`:
    /// every request is served at once, whatever the load).
    pub capacity: Option<QueueSpec>,
    /// Per-prefix request-rate limits (`None`: none).
    pub rate_limits: Option<RateLimitSpec>,
}

/// Requests the service refused for load, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OverloadCounts {
    /// Over a prefix's request-rate limit (`503 SlowDown`).
    pub throttled: u64,
    /// The queue was full on arrival (load shedding, `503 SlowDown`).
    pub shed: u64,
    /// Would have waited past the queue timeout (`503 SlowDown` after it).
    pub queue_timeouts: u64,
    /// Requests served through the queue, their waits and service times.
    pub served: u64,
    pub wait_us: u64,
    pub busy_us: u64,
    /// Prefix partitions split under sustained load.
    pub splits: u64,
}

/// The window of [`S3Service::busy_us_per_window`].
pub const BUSY_WINDOW: Duration = Duration::from_secs(1);

/// What the wire carries back: a response, an S3 error, or a dropped connection.
pub type WireResult = Result<S3Response, WireError>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    Status(S3ErrorCode),
    /// The connection dropped without a status line.
    Reset,
}

#[derive(Clone, Debug)]
struct Version {
    /// `None` is a delete marker.
    body: Option<Bytes>,
    etag: ETag,
    written_at: Duration,
}

/// The service's state and models. One per world.
#[derive(Debug)]
pub struct S3Service {
    objects: BTreeMap<String, Vec<Version>>,
    /// Conditional writes "in flight" (applied, not yet answered): a second
    /// conditional write to the key before the answer leaves gets 409.
    conditional_until: BTreeMap<String, Duration>,
    /// Faults and latencies per slot (shared with the real server's wire layer).
    plan: FaultPlan,
    consistency: Consistency,
    stale_seed: u64,
    /// Corruption per request slot; none unless [`S3Service::set_corruption`] says otherwise.
    corruption: CorruptionDraw,
    corruption_seed: u64,
    /// Keys whose current version was corrupted at rest by injection (not
    /// by whoever wrote it), for the checkers: the environment's fault.
    corrupted_at_rest: BTreeSet<String>,
    corruptions: CorruptionCounts,
    next_slot: u64,
    queue: Option<ServiceQueue>,
    limiter: Option<PrefixLimiter>,
    /// Requests over a prefix's rate limit (the queue counts its own refusals).
    throttled: u64,
}

/// One request's fate, for the caller's trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handled {
    pub slot: u64,
    pub fault: Option<FaultDecision>,
    /// The corruption the request met and that took effect (a bit flip of a
    /// PUT that was not stored does not count).
    pub corrupted: Option<&'static str>,
    /// The fault process the request met, for the trace (nothing drawn).
    pub met: FaultState,
    /// Refused for load: `"throttled"`, `"shed"` or `"queue_timeout"`.
    pub refused: Option<&'static str>,
    /// Time it waited in the queue before service (zero without one).
    pub waited: Duration,
}

/// How many requests met each kind of corruption (that took effect).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CorruptionCounts {
    pub bit_flips: u64,
    pub truncations: u64,
    pub stale_reads: u64,
    pub tampered_reads: u64,
}

impl CorruptionCounts {
    pub fn total(&self) -> u64 {
        self.bit_flips + self.truncations + self.stale_reads + self.tampered_reads
    }
}

impl S3Service {
    /// `seed` is the service's sub-seed; faults, latencies and staleness get
    /// streams of their own derived from it.
    pub fn new(config: S3Config, seed: u64) -> Self {
        S3Service {
            objects: BTreeMap::new(),
            conditional_until: BTreeMap::new(),
            plan: FaultPlan::new(config.faults, config.latency, config.error_latency, seed),
            consistency: config.consistency,
            stale_seed: sub_seed(seed, "stale"),
            corruption: CorruptionDraw::new(Corruption::default(), seed),
            corruption_seed: seed,
            corrupted_at_rest: BTreeSet::new(),
            corruptions: CorruptionCounts::default(),
            next_slot: 0,
            queue: config.capacity.map(|spec| ServiceQueue::new(spec).with_busy_windows(BUSY_WINDOW)),
            limiter: config.rate_limits.map(PrefixLimiter::new),
            throttled: 0,
        }
    }

    /// Corrupts requests from now on as `corruption` says, each slot's luck
    /// drawn from a stream of its own (no other stream changes).
    pub fn set_corruption(&mut self, corruption: Corruption) {
        self.corruption = CorruptionDraw::new(corruption, self.corruption_seed);
    }

    /// Reserves the slot of the next request (its common-random-number index).
    pub fn take_slot(&mut self) -> u64 {
        let slot = self.next_slot;
        self.next_slot += 1;
        slot
    }

    /// Handles `request` arriving at virtual time `now` in slot `slot`.
    ///
    /// With a rate limit, a request over its prefix's limit is answered
    /// `503 SlowDown` at once (after the error latency), before anything
    /// else. With a queue, every other request (faulted or not) waits its
    /// turn and is served for its drawn service time (the error latency if
    /// it faults, else the success latency, whatever the answer), or is
    /// refused with `503 SlowDown` when the queue is full or the wait would
    /// pass the queue timeout. A healed service (quiescence) has no limits.
    pub fn handle(&mut self, request: &S3Request, slot: u64, now: Duration) -> (Reply<WireResult>, Handled) {
        let healed = self.plan.healed();
        if let (Some(limiter), false) = (&mut self.limiter, healed) {
            let class = if request.is_mutating() { RequestClass::Write } else { RequestClass::Read };
            if !limiter.admit(request.key(), class, now) {
                self.throttled += 1;
                return self.refused(slot, "throttled", self.plan.error_latency(slot), Duration::ZERO);
            }
        }
        let Encounter { fault, met } = self.plan.meet(slot, now);
        let queued = match (&mut self.queue, healed) {
            (Some(queue), false) => {
                let drawn = if fault.is_some() { self.plan.error_latency(slot) } else { self.plan.latency(slot) };
                match queue.admit(now, drawn) {
                    Admission::Served { wait, service } => Some((wait, service)),
                    Admission::Shed => {
                        return self.refused(slot, "shed", self.plan.error_latency(slot), Duration::ZERO)
                    }
                    Admission::QueueTimeout { waited } => return self.refused(slot, "queue_timeout", waited, waited),
                }
            }
            _ => None,
        };
        let corruption = if met.healed { CorruptionDecision::default() } else { self.corruption.decide(slot) };
        let waited = queued.map_or(Duration::ZERO, |(wait, _)| wait);
        let Some(fault) = fault else {
            let (result, corrupted) = self.apply(request, slot, now, corruption);
            let latency = match (&result, queued) {
                (_, Some((wait, service))) => wait + service,
                (Ok(_), None) => self.plan.latency(slot),
                (Err(_), None) => self.plan.error_latency(slot),
            };
            if let (
                Ok(_),
                S3Request::Put { key, condition: PutCondition::IfMatch(_) | PutCondition::IfNoneMatch, .. },
            ) = (&result, request)
            {
                // Exclusive until the answer leaves S3: a second conditional
                // write arriving before then conflicts (409).
                self.conditional_until.insert(key.clone(), now + latency);
            }
            let handled = Handled { slot, fault: None, corrupted, met, refused: None, waited };
            return (Reply::After(result, latency), handled);
        };
        // "Applied but 500": a write (never a read, never a rejected
        // conditional write) lands although the answer is an error.
        let (applied, corrupted) = if fault.applied && request.is_mutating() {
            let (result, corrupted) = self.apply(request, slot, now, corruption);
            (result.is_ok(), corrupted)
        } else {
            (false, None)
        };
        let error_latency = queued.map_or_else(|| self.plan.error_latency(slot), |(wait, service)| wait + service);
        let reply = match fault.kind {
            FaultKind::InternalError => Reply::After(Err(WireError::Status(S3ErrorCode::InternalError)), error_latency),
            FaultKind::SlowDown => Reply::After(Err(WireError::Status(S3ErrorCode::SlowDown)), error_latency),
            FaultKind::ConnectionReset => Reply::After(Err(WireError::Reset), error_latency),
            FaultKind::Timeout => Reply::Never,
        };
        let handled =
            Handled { slot, fault: Some(FaultDecision { applied, ..fault }), corrupted, met, refused: None, waited };
        (reply, handled)
    }

    /// A request refused for load: `503 SlowDown` after `latency`, not applied.
    fn refused(
        &self,
        slot: u64,
        reason: &'static str,
        latency: Duration,
        waited: Duration,
    ) -> (Reply<WireResult>, Handled) {
        let handled =
            Handled { slot, fault: None, corrupted: None, met: FaultState::default(), refused: Some(reason), waited };
        (Reply::After(Err(WireError::Status(S3ErrorCode::SlowDown)), latency), handled)
    }

    /// Applies `request`, corrupted as `corruption` says; also names the
    /// corruption that took effect.
    fn apply(
        &mut self,
        request: &S3Request,
        slot: u64,
        now: Duration,
        corruption: CorruptionDecision,
    ) -> (WireResult, Option<&'static str>) {
        match request {
            S3Request::Put { key, body, condition } => {
                let result = self.put(key, body, condition, slot, now);
                let corrupted = if result.is_ok() { self.corrupt_at_rest(key, corruption) } else { None };
                (result, corrupted)
            }
            S3Request::Get { key } => self.get(key, slot, now, corruption),
            S3Request::Head { key } => (self.head(key, slot, now), None),
            S3Request::Delete { key } => (self.delete(key, now), None),
            S3Request::List { prefix, continuation_token, keys_max } => {
                (Ok(S3Response::List(self.list(prefix, continuation_token.as_deref(), *keys_max))), None)
            }
        }
    }

    /// A GET, possibly answered from the previous version (a rolled-back
    /// replica) or with a byte altered in transit.
    fn get(
        &mut self,
        key: &str,
        slot: u64,
        now: Duration,
        corruption: CorruptionDecision,
    ) -> (WireResult, Option<&'static str>) {
        let previous =
            || self.objects.get(key).and_then(|versions| versions.len().checked_sub(2).map(|i| &versions[i]));
        let rolled_back = if corruption.stale_read { previous() } else { None };
        let mut corrupted = rolled_back.is_some().then_some("stale_read");
        let version = rolled_back.or_else(|| self.visible(key, slot, now));
        // Cloned out (cheap: `Bytes`) so the counters below can be updated.
        let found = match version {
            Some(Version { body: Some(body), etag, .. }) => Some((body.clone(), etag.clone())),
            _ => None,
        };
        if corrupted.is_some() {
            self.corruptions.stale_reads += 1;
        }
        let Some((mut body, etag)) = found else {
            return (Err(WireError::Status(S3ErrorCode::NoSuchKey)), corrupted);
        };
        if let Some((byte, mask)) = corruption.tampered_read {
            if !body.is_empty() {
                body = Bytes::from(tamper(&body, byte, mask));
                corrupted = Some("tampered_read");
                self.corruptions.tampered_reads += 1;
            }
        }
        (Ok(S3Response::Get { body, etag }), corrupted)
    }

    /// Bit rot or truncation of the version just stored at `key` (its ETag
    /// stays the one S3 computed on arrival, as for damage after the write).
    fn corrupt_at_rest(&mut self, key: &str, corruption: CorruptionDecision) -> Option<&'static str> {
        self.corrupted_at_rest.remove(key);
        let version = self.objects.get_mut(key).and_then(|versions| versions.last_mut())?;
        let body = version.body.as_ref()?;
        if body.is_empty() {
            return None;
        }
        let (damaged, kind) = if let Some(fraction) = corruption.truncate {
            self.corruptions.truncations += 1;
            (body.slice(..truncated_len(body.len(), fraction)), "truncate")
        } else if let Some(bit) = corruption.bit_flip {
            self.corruptions.bit_flips += 1;
            (Bytes::from(flip_bit(body, bit)), "bit_flip")
        } else {
            return None;
        };
        version.body = Some(damaged);
        self.corrupted_at_rest.insert(key.to_owned());
        Some(kind)
    }

    fn head(&self, key: &str, slot: u64, now: Duration) -> WireResult {
        let version = self.visible(key, slot, now).ok_or(WireError::Status(S3ErrorCode::NoSuchKey))?;
        match &version.body {
            Some(body) => Ok(S3Response::Head { etag: version.etag.clone(), size: body.len() as u64 }),
            None => Err(WireError::Status(S3ErrorCode::NoSuchKey)),
        }
    }

    fn delete(&mut self, key: &str, now: Duration) -> WireResult {
        self.corrupted_at_rest.remove(key);
        if self.current(key).is_some() {
            self.push_version(key, Version { body: None, etag: ETag::of(Bytes::new()), written_at: now });
        }
        Ok(S3Response::Delete)
    }

    fn put(&mut self, key: &str, body: &Bytes, condition: &PutCondition, _slot: u64, now: Duration) -> WireResult {
        if !matches!(condition, PutCondition::None) {
            match self.conditional_until.get(key) {
                Some(until) if now < *until => {
                    return Err(WireError::Status(S3ErrorCode::ConditionalRequestConflict));
                }
                // Expired: forget it, so the map stays as small as the writes in flight.
                Some(_) => {
                    self.conditional_until.remove(key);
                }
                None => {}
            }
            let current = self.current(key);
            match condition {
                PutCondition::None => {}
                PutCondition::IfNoneMatch => {
                    if current.is_some() {
                        return Err(WireError::Status(S3ErrorCode::PreconditionFailed));
                    }
                }
                PutCondition::IfMatch(etag) => match current {
                    None => return Err(WireError::Status(S3ErrorCode::NoSuchKey)),
                    Some(version) if version.etag != *etag.as_str() => {
                        return Err(WireError::Status(S3ErrorCode::PreconditionFailed))
                    }
                    Some(_) => {}
                },
            }
        }
        let etag = ETag::of(body.clone());
        self.push_version(key, Version { body: Some(body.clone()), etag: etag.clone(), written_at: now });
        Ok(S3Response::Put { etag })
    }

    fn push_version(&mut self, key: &str, version: Version) {
        // Look up before inserting: `entry` would allocate the key every time.
        let versions = match self.objects.get_mut(key) {
            Some(versions) => versions,
            None => self.objects.entry(key.to_owned()).or_default(),
        };
        versions.push(version);
        // Only the latest two matter (eventual consistency shows at most
        // the previous one): keep memory flat over long runs.
        if versions.len() > 2 {
            versions.remove(0);
        }
    }

    /// The latest version, if the key exists (is not deleted).
    fn current(&self, key: &str) -> Option<&Version> {
        self.objects.get(key).and_then(|versions| versions.last()).filter(|v| v.body.is_some())
    }

    /// What a read of `key` sees now under the consistency model.
    fn visible(&self, key: &str, slot: u64, now: Duration) -> Option<&Version> {
        let versions = self.objects.get(key)?;
        let latest = versions.last()?;
        if let Consistency::Eventual { window } = self.consistency {
            if versions.len() >= 2 && now < latest.written_at + window && slot_rng(self.stale_seed, slot).gen::<bool>()
            {
                return versions.get(versions.len() - 2);
            }
        }
        Some(latest)
    }

    fn list(&self, prefix: &str, continuation_token: Option<&str>, keys_max: usize) -> ListPage {
        let keys_max = keys_max.clamp(1, LIST_PAGE_KEYS_MAX);
        // The token is the last key of the previous page; S3's is opaque, and
        // callers here treat it so.
        let start = match continuation_token {
            Some(after) => Bound::Excluded(after.to_owned()),
            None => Bound::Included(prefix.to_owned()),
        };
        let mut objects = Vec::new();
        let mut truncated = false;
        for (key, versions) in self.objects.range::<String, _>((start, Bound::Unbounded)) {
            if !key.starts_with(prefix) {
                break;
            }
            let Some(Version { body: Some(body), etag, .. }) = versions.last() else { continue };
            if objects.len() == keys_max {
                truncated = true;
                break;
            }
            objects.push(ObjectSummary { key: key.clone(), etag: etag.clone(), size: body.len() as u64 });
        }
        let next_continuation_token = if truncated { objects.last().map(|o| o.key.clone()) } else { None };
        ListPage { objects, next_continuation_token }
    }

    /// Every live object's key and body (for checkers at quiescence).
    pub fn snapshot(&self) -> Vec<(String, Bytes)> {
        self.objects
            .iter()
            .filter_map(|(key, versions)| versions.last()?.body.clone().map(|body| (key.clone(), body)))
            .collect()
    }

    pub fn requests_handled(&self) -> u64 {
        self.next_slot
    }

    /// Stops injecting faults from now on: the world is quiescent, and reads
    /// made to check invariants go through the normal code paths unharmed.
    pub fn heal(&mut self) {
        self.plan.heal();
    }

    pub fn faults_injected(&self) -> u64 {
        self.plan.faults_injected()
    }

    /// Requests that arrived inside each scripted outage, in the fault
    /// model's order (before healing; a healed service draws no faults).
    pub fn outage_requests(&self) -> &[u64] {
        self.plan.outage_requests()
    }

    /// Requests refused for load, and the queue's totals.
    pub fn overload(&self) -> OverloadCounts {
        let queue = self.queue.as_ref().map(ServiceQueue::stats).unwrap_or_default();
        OverloadCounts {
            throttled: self.throttled,
            shed: queue.shed,
            queue_timeouts: queue.timed_out,
            served: queue.served,
            wait_us: micros(queue.wait),
            busy_us: micros(queue.busy),
            splits: self.limiter.as_ref().map_or(0, PrefixLimiter::splits),
        }
    }

    /// Server-microseconds of service in each [`BUSY_WINDOW`] (with a
    /// queue; empty without): divided by the servers, the utilisation.
    pub fn busy_us_per_window(&self) -> &[u64] {
        self.queue.as_ref().map_or(&[], ServiceQueue::busy_per_window)
    }

    /// Requests that met corruption, by kind.
    pub fn corruptions(&self) -> CorruptionCounts {
        self.corruptions
    }

    /// Whether the current version of `key` was corrupted at rest by
    /// injection (and not overwritten or deleted since).
    pub fn corrupted_at_rest(&self, key: &str) -> bool {
        self.corrupted_at_rest.contains(key)
    }

    /// Every key whose current version injection corrupted at rest, in key order.
    pub fn corrupted_keys(&self) -> impl Iterator<Item = &str> {
        self.corrupted_at_rest.iter().map(String::as_str)
    }

    /// Applies `request` before the workload starts: no fault, no latency,
    /// no slot (set-up state, such as objects a GET workload reads).
    pub fn preload(&mut self, request: &S3Request) {
        let _ = self.apply(request, u64::MAX, Duration::ZERO, CorruptionDecision::default());
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// S3's ETag of a single-part upload: the quoted hex MD5 of the body.
pub fn etag_of(body: &[u8]) -> String {
    quoted_md5_hex(body)
}
