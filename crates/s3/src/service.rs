//! The simulated S3 service: objects, ETags, conditional writes, listing
//! pages, consistency, and injected faults.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use retrylab_faults::{
    slot_rng, sub_seed, FaultDecision, FaultKind, FaultModel, FaultSchedule, LatencyDist, LatencySampler,
};
use retrylab_sim::Reply;

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
}

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
    faults: FaultSchedule,
    latency: LatencySampler,
    error_latency: LatencySampler,
    consistency: Consistency,
    stale_seed: u64,
    next_slot: u64,
    faults_injected: u64,
    /// Quiescence: no more faults (checkers read through the real code paths).
    healed: bool,
}

/// One request's fate, for the caller's trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handled {
    pub slot: u64,
    pub fault: Option<FaultDecision>,
}

impl S3Service {
    /// `seed` is the service's sub-seed; faults, latencies and staleness get
    /// streams of their own derived from it.
    pub fn new(config: S3Config, seed: u64) -> Self {
        let error_latency = config.error_latency.unwrap_or_else(|| config.latency.clone());
        S3Service {
            objects: BTreeMap::new(),
            conditional_until: BTreeMap::new(),
            faults: FaultSchedule::new(config.faults, sub_seed(seed, "faults")),
            latency: LatencySampler::new(config.latency, sub_seed(seed, "latency")),
            error_latency: LatencySampler::new(error_latency, sub_seed(seed, "error_latency")),
            consistency: config.consistency,
            stale_seed: sub_seed(seed, "stale"),
            next_slot: 0,
            faults_injected: 0,
            healed: false,
        }
    }

    /// Reserves the slot of the next request (its common-random-number index).
    pub fn take_slot(&mut self) -> u64 {
        let slot = self.next_slot;
        self.next_slot += 1;
        slot
    }

    /// Handles `request` arriving at virtual time `now` in slot `slot`.
    pub fn handle(&mut self, request: &S3Request, slot: u64, now: Duration) -> (Reply<WireResult>, Handled) {
        let fault = if self.healed { None } else { self.faults.decide(slot, now) };
        let Some(fault) = fault else {
            let result = self.apply(request, slot, now);
            let latency = match &result {
                Ok(_) => self.latency.sample(slot),
                Err(_) => self.error_latency.sample(slot),
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
            return (Reply::After(result, latency), Handled { slot, fault: None });
        };
        self.faults_injected += 1;
        // "Applied but 500": a write (never a read, never a rejected
        // conditional write) lands although the answer is an error.
        let applied = fault.applied && request.is_mutating() && self.apply(request, slot, now).is_ok();
        let error_latency = self.error_latency.sample(slot);
        let reply = match fault.kind {
            FaultKind::InternalError => Reply::After(Err(WireError::Status(S3ErrorCode::InternalError)), error_latency),
            FaultKind::SlowDown => Reply::After(Err(WireError::Status(S3ErrorCode::SlowDown)), error_latency),
            FaultKind::ConnectionReset => Reply::After(Err(WireError::Reset), error_latency),
            FaultKind::Timeout => Reply::Never,
        };
        (reply, Handled { slot, fault: Some(FaultDecision { applied, ..fault }) })
    }

    fn apply(&mut self, request: &S3Request, slot: u64, now: Duration) -> WireResult {
        match request {
            S3Request::Put { key, body, condition } => self.put(key, body, condition, slot, now),
            S3Request::Get { key } => {
                let version = self.visible(key, slot, now).ok_or(WireError::Status(S3ErrorCode::NoSuchKey))?;
                match &version.body {
                    Some(body) => Ok(S3Response::Get { body: body.clone(), etag: version.etag.clone() }),
                    None => Err(WireError::Status(S3ErrorCode::NoSuchKey)),
                }
            }
            S3Request::Head { key } => {
                let version = self.visible(key, slot, now).ok_or(WireError::Status(S3ErrorCode::NoSuchKey))?;
                match &version.body {
                    Some(body) => Ok(S3Response::Head { etag: version.etag.clone(), size: body.len() as u64 }),
                    None => Err(WireError::Status(S3ErrorCode::NoSuchKey)),
                }
            }
            S3Request::Delete { key } => {
                if self.current(key).is_some() {
                    self.push_version(key, Version { body: None, etag: ETag::of(Bytes::new()), written_at: now });
                }
                Ok(S3Response::Delete)
            }
            S3Request::List { prefix, continuation_token, keys_max } => {
                Ok(S3Response::List(self.list(prefix, continuation_token.as_deref(), *keys_max)))
            }
        }
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
        self.healed = true;
    }

    pub fn faults_injected(&self) -> u64 {
        self.faults_injected
    }

    /// Applies `request` before the workload starts: no fault, no latency,
    /// no slot (set-up state, such as objects a GET workload reads).
    pub fn preload(&mut self, request: &S3Request) {
        let _ = self.apply(request, u64::MAX, Duration::ZERO);
    }
}

/// S3's ETag of a single-part upload: the quoted hex MD5 of the body.
pub fn etag_of(body: &[u8]) -> String {
    quoted_md5_hex(body)
}
