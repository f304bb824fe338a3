//! A storage server that keeps each share as S3 objects, reached through the
//! scenario's retry policy (`RetryingStore`).
//!
//! Remote interface, as Tahoe-LAFS's `RIStorageServer` (each call runs as a
//! task of the server's node, started by the gateway's RPC):
//!
//! - immutable: [`StorageServer::allocate_buckets`] (a LIST to find shares
//!   already there), [`StorageServer::write_bucket`] (buffered in server
//!   memory), [`StorageServer::close_bucket`] (one PUT);
//!   [`StorageServer::get_buckets`] (LIST) and [`StorageServer::read_bucket`] (GET).
//! - mutable: [`StorageServer::slot_readv`] (LIST, then a GET per share) and
//!   [`StorageServer::slot_testv_and_readv_and_writev`] (LIST, a GET per
//!   share, then a PUT per changed share or a DELETE for `new_length` 0).
//!
//! Reads are GETs, which may be stale under 2012 eventual consistency
//! (listings are always current in the S3 model).

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use retrylab_s3::{Clock, ETag, ObjectStoreExt, PutCondition, RetryCounters, RetryingStore, S3ErrorCode, StoreError};
use retrylab_sim::{NodeId, World};

use crate::admission::{AdmissionGate, OverloadCounts, Permit};
use crate::cap::StorageIndex;
use crate::config::{Design, Listing, ReadCheck, ServerCapacity, ShareLayout, WriteCheck};
use crate::container::{
    chunk_key, decode_container, encode_container, parse_share_key, previous_key, share_key, ContainerHeader,
    ContainerKind, Piece,
};
use crate::error::ServerError;
use crate::hash::{tagged_hash, Hash};
use crate::host::Host;
use crate::lock::IndexLocks;

/// How often a conditional write that lost (412, 404, 409) is retried on a
/// fresh read before the server reports the tests as failed.
pub const CONFLICT_REREADS: u32 = 3;
/// GETs of one object before the server gives up on reading the version
/// its listing names: under 2012 eventual consistency a GET may return the
/// previous object (the S3 model: with probability 1/2 within the window),
/// so 8 tries fail to see the current one about once in 256 stale windows.
pub const STALE_GETS_MAX: u32 = 8;
/// A guard against a listing that never ends (a continuation token bug).
const LIST_PAGES_MAX: u32 = 10_000;
/// The largest share a server accepts (a bound on what a request can make it allocate).
pub const SHARE_BYTES_MAX: u64 = 1 << 30;
/// Tahoe-LAFS's default lease duration.
const LEASE_DURATION: Duration = Duration::from_secs(31 * 24 * 3600);

/// Comparison of a test vector (Tahoe-LAFS: lt, le, eq, ne, ge, gt).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestOp {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
}

/// `share[offset..offset + length] <op> specimen`, bytes compared
/// lexicographically; a missing share compares as empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestVector {
    pub offset: u64,
    pub length: u64,
    pub op: TestOp,
    pub specimen: Bytes,
}

impl TestVector {
    /// The test Tahoe-LAFS's publisher uses for a share it expects absent.
    pub fn share_absent() -> Self {
        TestVector { offset: 0, length: 1, op: TestOp::Eq, specimen: Bytes::new() }
    }

    pub fn matches(&self, share: Option<&Bytes>) -> bool {
        let actual = share.map_or(&[][..], |data| slice_of(data, self.offset, self.length));
        let ordering = actual.cmp(&self.specimen[..]);
        match self.op {
            TestOp::Lt => ordering == Ordering::Less,
            TestOp::Le => ordering != Ordering::Greater,
            TestOp::Eq => ordering == Ordering::Equal,
            TestOp::Ne => ordering != Ordering::Equal,
            TestOp::Ge => ordering != Ordering::Less,
            TestOp::Gt => ordering == Ordering::Greater,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteVector {
    pub offset: u64,
    pub data: Bytes,
}

/// The tests and writes for one share of a `slot_testv_and_readv_and_writev`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestAndWrite {
    pub tests: Vec<TestVector>,
    pub writes: Vec<WriteVector>,
    /// Truncate (or zero-extend) to this length after the writes; `Some(0)` deletes the share.
    pub new_length: Option<u64>,
    /// A checkstring: when the share being replaced starts with it, the
    /// server keeps the replaced share as the previous version
    /// ([`previous_key`]), readable by [`StorageServer::slot_readv_all`].
    pub preserve: Option<Bytes>,
}

impl TestAndWrite {
    fn preserves(&self, old: &Bytes) -> bool {
        self.preserve.as_ref().is_some_and(|checkstring| old.starts_with(checkstring))
    }

    /// The share after the writes, `None` when nothing changes.
    fn apply(&self, old: Option<&Bytes>) -> Result<Option<Bytes>, ServerError> {
        if self.writes.is_empty() && self.new_length.is_none() {
            return Ok(None);
        }
        let too_large = |end: u64| end > SHARE_BYTES_MAX;
        if self.writes.iter().any(|w| too_large(w.offset.saturating_add(w.data.len() as u64)))
            || self.new_length.is_some_and(too_large)
        {
            return Err(ServerError::BadRequest { reason: "write beyond the largest share" });
        }
        let old_len = old.map_or(0, |data| data.len() as u64);
        // The publisher's case: one write of a whole share: no copy.
        if let [write] = &self.writes[..] {
            let len = write.data.len() as u64;
            if write.offset == 0 && len >= old_len && self.new_length.is_none_or(|n| n == len) {
                return Ok(Some(write.data.clone()));
            }
        }
        let mut data = BytesMut::new();
        if let Some(old) = old {
            data.extend_from_slice(old);
        }
        for write in &self.writes {
            let start = usize::try_from(write.offset).unwrap_or(usize::MAX);
            let end = start.saturating_add(write.data.len());
            if data.len() < end {
                data.resize(end, 0);
            }
            data[start..end].copy_from_slice(&write.data);
        }
        if let Some(new_length) = self.new_length {
            data.resize(usize::try_from(new_length).unwrap_or(usize::MAX), 0);
        }
        Ok(Some(data.freeze()))
    }
}

/// Read vectors' results: per share number, one `Bytes` per `(offset, length)`.
pub type ReadData = BTreeMap<u8, Vec<Bytes>>;

fn slice_of(data: &Bytes, offset: u64, length: u64) -> &[u8] {
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
    let end = usize::try_from(offset.saturating_add(length)).unwrap_or(usize::MAX).min(data.len());
    &data[start..end]
}

fn read_vectors(data: &Bytes, readv: &[(u64, u64)]) -> Vec<Bytes> {
    readv
        .iter()
        .map(|&(offset, length)| {
            let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
            let end = usize::try_from(offset.saturating_add(length)).unwrap_or(usize::MAX).min(data.len());
            data.slice(start..end)
        })
        .collect()
}

/// The objects of one share a listing found, each with its current ETag.
type Listed = BTreeMap<Piece, ETag>;

/// One share as read from S3: its container header, data, and the ETag of
/// each object it was read from (what a conditional write must match).
struct StoredShare {
    header: ContainerHeader,
    data: Bytes,
    etags: BTreeMap<Piece, String>,
}

/// Why writing one share failed.
enum ShareWriteError {
    /// A conditional PUT lost (412, 404 or 409): the share changed since it
    /// was read. `resent`: the retry layer sent the PUT more than once, so
    /// what it lost to may be its own first attempt.
    Conflict {
        wrote_any: bool,
        resent: bool,
    },
    Store {
        error: StoreError,
        wrote_any: bool,
    },
}

/// Immutable share data buffered between `allocate_buckets` and `close_bucket`.
struct Bucket {
    data: Vec<u8>,
    renew_secret: Hash,
}

/// One storage server with its bucket, on host `H` (a simulated world by
/// default; see [`Host`]).
pub struct StorageServer<H: Host = World> {
    index: u32,
    node: NodeId,
    store: RetryingStore<H::S3, H::Clock>,
    design: Design,
    locks: Rc<IndexLocks>,
    buckets: RefCell<BTreeMap<(StorageIndex, u8), Bucket>>,
    /// Admission of requests (unlimited unless [`StorageServer::with_capacity`] says otherwise).
    gate: Rc<AdmissionGate<H::Clock>>,
}

impl<H: Host> StorageServer<H> {
    pub fn new(index: u32, node: NodeId, store: RetryingStore<H::S3, H::Clock>, design: Design) -> Self {
        let gate = AdmissionGate::new(ServerCapacity::default(), store.clock().clone());
        StorageServer {
            index,
            node,
            store,
            design,
            locks: IndexLocks::new(),
            buckets: RefCell::new(BTreeMap::new()),
            gate,
        }
    }

    /// The server with a finite capacity: requests beyond it wait, or are
    /// rejected as [`ServerError::Overloaded`] (see [`crate::admission`]).
    pub fn with_capacity(mut self, capacity: ServerCapacity) -> Self {
        self.gate = AdmissionGate::new(capacity, self.store.clock().clone());
        self
    }

    /// Waits for a slot to run a request in, or says the server is
    /// overloaded. The gateway takes one around every request it sends.
    pub(crate) async fn admit(&self) -> Result<Permit<H::Clock>, ServerError> {
        self.gate.admit().await.map_err(|reason| ServerError::Overloaded { reason })
    }

    /// Requests turned away so far (shed on arrival, or timed out in the queue).
    pub fn overload_counts(&self) -> OverloadCounts {
        self.gate.counts()
    }

    /// Requests running, and waiting for a slot, now.
    pub fn load_now(&self) -> (u32, usize) {
        (self.gate.running(), self.gate.waiting())
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn node(&self) -> NodeId {
        self.node
    }

    pub fn retry_counters(&self) -> RetryCounters {
        self.store.counters()
    }

    /// Storage indexes whose lock is held right now.
    pub fn locks_held(&self) -> usize {
        self.locks.held_count()
    }

    /// Immutable buckets open in memory (allocated, not yet closed).
    pub fn buckets_open(&self) -> usize {
        self.buckets.borrow().len()
    }

    /// Forgets what a crash loses: the network aborted the handlers that
    /// were running (dropping their per-index lock guards and waits, which
    /// hand the locks on), and this drops the immutable buckets buffered in
    /// memory, so an upload that straddled the crash finds its bucket gone
    /// (`BucketNotAllocated`) instead of closing a half-written share.
    /// Shares in S3 are durable and stay.
    pub fn restart(&self) {
        self.buckets.borrow_mut().clear();
    }

    async fn lock(&self, storage_index: StorageIndex) -> Option<crate::lock::IndexGuard> {
        if self.design.per_index_lock {
            Some(self.locks.lock(storage_index).await)
        } else {
            None
        }
    }

    /// The pieces of each share of `storage_index` the server can see.
    async fn list_shares(&self, storage_index: &StorageIndex) -> Result<BTreeMap<u8, BTreeSet<Piece>>, StoreError> {
        let listed = self.list_share_objects(storage_index).await?;
        Ok(listed.into_iter().map(|(share, pieces)| (share, pieces.into_keys().collect())).collect())
    }

    /// The objects of each share of `storage_index` the server can see, with
    /// the ETag the listing gives each (listings are current; GETs may not
    /// be), found as the design says (by prefix, or in the bucket's first page).
    async fn list_share_objects(&self, storage_index: &StorageIndex) -> Result<BTreeMap<u8, Listed>, StoreError> {
        let prefix = storage_index.share_prefix();
        let mut shares: BTreeMap<u8, Listed> = BTreeMap::new();
        let mut add = |key: &str, etag: &ETag| {
            if let Some((share, piece)) = parse_share_key(&prefix, key) {
                shares.entry(share).or_default().insert(piece, etag.clone());
            }
        };
        match self.design.listing {
            Listing::Prefixed => {
                let mut token = None;
                for _ in 0..LIST_PAGES_MAX {
                    let page = self.store.list_page(&prefix, token).await?;
                    for object in &page.objects {
                        add(&object.key, &object.etag);
                    }
                    token = page.next_continuation_token;
                    if token.is_none() {
                        break;
                    }
                }
            }
            Listing::WholeBucketFirstPage => {
                // The 2012 prototype (#1678): no prefix, first page only.
                let page = self.store.list_page("", None).await?;
                for object in &page.objects {
                    add(&object.key, &object.etag);
                }
            }
        }
        Ok(shares)
    }

    /// GETs `key`, again while S3 returns an older object than the listing
    /// named (`listed`): a stale GET under eventual consistency would make
    /// the server serve, and test against, a version it has replaced.
    async fn get_listed(&self, key: &str, listed: Option<&ETag>, share: u8) -> Result<(Bytes, String), ServerError> {
        let listed = listed.filter(|_| self.design.read_check == ReadCheck::ListedEtag);
        for _ in 0..STALE_GETS_MAX {
            match self.store.get(key).await {
                Ok((body, etag)) if listed.is_none_or(|listed| *listed == etag) => return Ok((body, etag)),
                Ok(_stale) => continue,
                Err(error) => return Err(self.get_failed(error)),
            }
        }
        Err(ServerError::StaleShare { share, indeterminate: false })
    }

    fn get_failed(&self, error: StoreError) -> ServerError {
        match error {
            StoreError::Service(S3ErrorCode::NoSuchKey) => ServerError::NoSuchShare,
            error => ServerError::from_store(error, false),
        }
    }

    /// Reads one share (GET, or a GET per chunk) as the listing names it;
    /// `None` if it vanished since the listing.
    async fn read_share(
        &self,
        storage_index: &StorageIndex,
        share: u8,
        pieces: &Listed,
    ) -> Result<Option<StoredShare>, ServerError> {
        let mut etags = BTreeMap::new();
        // Only a previous version left (the share was deleted): no share.
        if !pieces.keys().any(|piece| matches!(piece, Piece::Whole | Piece::Chunk(_))) {
            return Ok(None);
        }
        let object = if pieces.contains_key(&Piece::Whole) {
            match self.get_listed(&share_key(storage_index, share), pieces.get(&Piece::Whole), share).await {
                Ok((body, etag)) => {
                    etags.insert(Piece::Whole, etag);
                    body
                }
                Err(ServerError::NoSuchShare) => return Ok(None),
                Err(error) => return Err(error),
            }
        } else {
            // Chunks 0, 1, 2, ... as far as they go: a gap ends the share.
            let mut parts: Vec<Bytes> = Vec::new();
            for chunk in 0u32.. {
                let Some(listed) = pieces.get(&Piece::Chunk(chunk)) else { break };
                match self.get_listed(&chunk_key(storage_index, share, chunk), Some(listed), share).await {
                    Ok((body, etag)) => {
                        etags.insert(Piece::Chunk(chunk), etag);
                        parts.push(body);
                    }
                    // Chunk 0 gone since the listing: the share was deleted.
                    Err(ServerError::NoSuchShare) if chunk == 0 => return Ok(None),
                    Err(ServerError::NoSuchShare) => break,
                    Err(error) => return Err(error),
                }
            }
            match parts.len() {
                0 => return Err(ServerError::CorruptContainer { share, reason: "chunk 0 missing" }),
                1 => parts.pop().unwrap_or_default(),
                _ => {
                    let mut joined = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
                    for part in &parts {
                        joined.extend_from_slice(part);
                    }
                    joined.freeze()
                }
            }
        };
        match decode_container(&object) {
            Ok((header, data)) => Ok(Some(StoredShare { header, data, etags })),
            Err(reason) => Err(ServerError::CorruptContainer { share, reason }),
        }
    }

    fn condition(&self, etags: Option<&BTreeMap<Piece, String>>, piece: Piece) -> PutCondition {
        match self.design.write_check {
            WriteCheck::Blind => PutCondition::None,
            WriteCheck::IfMatch => match etags.and_then(|etags| etags.get(&piece)) {
                Some(etag) => PutCondition::IfMatch(etag.clone()),
                None => PutCondition::IfNoneMatch,
            },
        }
    }

    /// Writes a share's container as the layout says: one PUT, or a PUT per
    /// chunk in order with no commit step (the write hole), then DELETEs of
    /// chunks the old share had beyond the new one's end.
    async fn write_share(
        &self,
        storage_index: &StorageIndex,
        share: u8,
        container: Bytes,
        old: Option<&StoredShare>,
        old_pieces: &BTreeSet<Piece>,
    ) -> Result<(), ShareWriteError> {
        let etags = old.map(|old| &old.etags);
        let failed = |error: StoreError, wrote_any: bool, resent: bool| match error {
            StoreError::Service(
                S3ErrorCode::PreconditionFailed | S3ErrorCode::NoSuchKey | S3ErrorCode::ConditionalRequestConflict,
            ) => ShareWriteError::Conflict { wrote_any, resent },
            error => ShareWriteError::Store { error, wrote_any: wrote_any || error.is_indeterminate() },
        };
        match self.design.share_layout {
            ShareLayout::Whole => {
                let condition = self.condition(etags, Piece::Whole);
                let key = share_key(storage_index, share);
                self.put_counting(&key, container, condition).await.map_err(|(e, resent)| failed(e, false, resent))?;
                Ok(())
            }
            ShareLayout::Chunked { chunk_bytes } => {
                let chunk_len = usize::try_from(chunk_bytes).unwrap_or(usize::MAX).max(1);
                let count = container.len().div_ceil(chunk_len).max(1);
                for chunk in 0..count {
                    let start = chunk * chunk_len;
                    let body = container.slice(start..(start + chunk_len).min(container.len()));
                    let chunk = u32::try_from(chunk).unwrap_or(u32::MAX);
                    let condition = self.condition(etags, Piece::Chunk(chunk));
                    let key = chunk_key(storage_index, share, chunk);
                    self.put_counting(&key, body, condition)
                        .await
                        .map_err(|(e, resent)| failed(e, chunk > 0, resent))?;
                }
                let count = u32::try_from(count).unwrap_or(u32::MAX);
                for piece in old_pieces {
                    let key = match *piece {
                        Piece::Chunk(chunk) if chunk >= count => chunk_key(storage_index, share, chunk),
                        Piece::Whole => share_key(storage_index, share),
                        Piece::Chunk(_) | Piece::Previous => continue,
                    };
                    self.store.delete(&key).await.map_err(|error| ShareWriteError::Store { error, wrote_any: true })?;
                }
                Ok(())
            }
        }
    }

    /// A PUT through the retry layer; on failure, also whether the layer
    /// sent it more than once (judged from its attempt counter, which other
    /// requests running at the same time also advance: that errs towards
    /// "resent", the cautious side).
    async fn put_counting(&self, key: &str, body: Bytes, condition: PutCondition) -> Result<(), (StoreError, bool)> {
        let attempts_before = self.store.counters().attempts;
        match self.store.put(key, body, condition).await {
            Ok(_) => Ok(()),
            Err(error) => Err((error, self.store.counters().attempts - attempts_before > 1)),
        }
    }

    async fn delete_share(
        &self,
        storage_index: &StorageIndex,
        share: u8,
        pieces: &BTreeSet<Piece>,
    ) -> Result<(), StoreError> {
        for piece in pieces {
            let key = match *piece {
                Piece::Whole => share_key(storage_index, share),
                Piece::Chunk(chunk) => chunk_key(storage_index, share, chunk),
                Piece::Previous => previous_key(storage_index, share),
            };
            self.store.delete(&key).await?;
        }
        Ok(())
    }

    /// Reads `readv` from every share, and from every share's previous
    /// version where one is kept: (current, previous).
    pub async fn slot_readv_all(
        &self,
        storage_index: StorageIndex,
        readv: Vec<(u64, u64)>,
    ) -> Result<(ReadData, ReadData), ServerError> {
        let _guard = self.lock(storage_index).await;
        let listing = self.list_share_objects(&storage_index).await.map_err(|e| ServerError::from_store(e, false))?;
        let mut current = ReadData::new();
        let mut previous = ReadData::new();
        for (share, pieces) in &listing {
            if let Some(stored) = self.read_share(&storage_index, *share, pieces).await? {
                current.insert(*share, read_vectors(&stored.data, &readv));
            }
            let Some(listed) = pieces.get(&Piece::Previous) else { continue };
            match self.get_listed(&previous_key(&storage_index, *share), Some(listed), *share).await {
                Ok((body, _)) => {
                    if let Ok((_, data)) = decode_container(&body) {
                        previous.insert(*share, read_vectors(&data, &readv));
                    }
                }
                Err(ServerError::NoSuchShare) => {}
                Err(error) => return Err(error),
            }
        }
        Ok((current, previous))
    }

    /// Reads `readv` from each of `shares` (every share when empty).
    pub async fn slot_readv(
        &self,
        storage_index: StorageIndex,
        shares: Vec<u8>,
        readv: Vec<(u64, u64)>,
    ) -> Result<ReadData, ServerError> {
        let _guard = self.lock(storage_index).await;
        let listing = self.list_share_objects(&storage_index).await.map_err(|e| ServerError::from_store(e, false))?;
        let mut out = ReadData::new();
        for (share, pieces) in &listing {
            if !shares.is_empty() && !shares.contains(share) {
                continue;
            }
            if let Some(stored) = self.read_share(&storage_index, *share, pieces).await? {
                out.insert(*share, read_vectors(&stored.data, &readv));
            }
        }
        Ok(out)
    }

    /// Tahoe-LAFS's atomic mutable update, within this server: check the
    /// write enabler, run every test, read `read_vector` from every share
    /// (before any write), and only if all tests pass apply the writes.
    /// Returns whether the tests passed, and what was read.
    ///
    /// S3 has no multi-object transaction: the tests run on a read (LIST and
    /// GETs) and the writes are later PUTs. `WriteCheck::IfMatch` makes each
    /// PUT conditional on the ETag that was tested, so a stale or raced read
    /// shows up as a 412 and the tests are re-run on a fresh read (at most
    /// [`CONFLICT_REREADS`] times, then reported as failed);
    /// `WriteCheck::Blind` trusts the read.
    pub async fn slot_testv_and_readv_and_writev(
        &self,
        storage_index: StorageIndex,
        write_enabler: Hash,
        tw_vectors: BTreeMap<u8, TestAndWrite>,
        read_vector: Vec<(u64, u64)>,
    ) -> Result<(bool, ReadData), ServerError> {
        let _guard = self.lock(storage_index).await;
        // Shares this request has written so far: once one is, a later
        // failure leaves the request half done.
        let mut written: BTreeSet<u8> = BTreeSet::new();
        // What this request last tried to make each share (`None`: deleted),
        // to recognise its own write on a re-read.
        let mut intended: BTreeMap<u8, Option<Bytes>> = BTreeMap::new();
        // A conditional PUT lost after the retry layer had resent it: the
        // loss may be to this request's own earlier attempt, which landed
        // but answered ambiguously (the 412 after a lost response).
        let mut own_write_possible = false;
        let mut read_data = ReadData::new();
        for _ in 0..=CONFLICT_REREADS {
            // A failed re-read after a resent PUT lost may hide this request's
            // own write: the failure is as indeterminate as a half-done write.
            let half_done = !written.is_empty() || own_write_possible;
            let listing =
                self.list_share_objects(&storage_index).await.map_err(|e| ServerError::from_store(e, half_done))?;
            let mut stored: BTreeMap<u8, StoredShare> = BTreeMap::new();
            for (share, pieces) in &listing {
                let share_read = self.read_share(&storage_index, *share, pieces).await.map_err(|e| match e {
                    ServerError::S3 { status, code, .. } => ServerError::S3 { status, code, indeterminate: half_done },
                    ServerError::StaleShare { share, .. } => {
                        ServerError::StaleShare { share, indeterminate: half_done }
                    }
                    other => other,
                })?;
                if let Some(share_read) = share_read {
                    stored.insert(*share, share_read);
                }
            }
            if stored
                .values()
                .any(|s| s.header.kind == ContainerKind::Mutable && s.header.write_enabler != write_enabler)
            {
                return Err(ServerError::BadWriteEnabler);
            }
            // A share that already holds what this request meant to write
            // is done: its earlier attempt landed.
            for (share, data) in &intended {
                if stored.get(share).map(|s| &s.data) == data.as_ref() {
                    written.insert(*share);
                }
            }
            let half_done = !written.is_empty();
            read_data = stored.iter().map(|(share, s)| (*share, read_vectors(&s.data, &read_vector))).collect();
            let pending: Vec<(&u8, &TestAndWrite)> =
                tw_vectors.iter().filter(|(share, _)| !written.contains(share)).collect();
            let tests_pass = pending
                .iter()
                .all(|(share, tw)| tw.tests.iter().all(|test| test.matches(stored.get(share).map(|s| &s.data))));
            if !tests_pass {
                if half_done {
                    return Err(ServerError::PartialWrite { shares_written: written.len() as u8 });
                }
                if own_write_possible {
                    return Err(Self::ambiguous_conflict());
                }
                return Ok((false, read_data));
            }
            let mut conflict = false;
            for (share, tw) in pending {
                let old = stored.get(share);
                let Some(new_data) = tw.apply(old.map(|s| &s.data))? else { continue };
                let pieces: BTreeSet<Piece> =
                    listing.get(share).map(|p| p.keys().copied().collect()).unwrap_or_default();
                if tw.new_length == Some(0) {
                    intended.insert(*share, None);
                    if old.is_some() {
                        self.delete_share(&storage_index, *share, &pieces).await.map_err(|error| {
                            ServerError::from_store(
                                error,
                                error.is_indeterminate() || !written.is_empty() || own_write_possible,
                            )
                        })?;
                    }
                    written.insert(*share);
                    continue;
                }
                let header = ContainerHeader {
                    kind: ContainerKind::Mutable,
                    write_enabler,
                    lease_renew_secret: tagged_hash("lease renew secret", &[&write_enabler]),
                    lease_expiration_s: (self.store.clock().now() + LEASE_DURATION).as_secs(),
                    data_bytes: new_data.len() as u64,
                };
                let container = encode_container(&header, &new_data);
                if let Some(old) = old.filter(|old| tw.preserves(&old.data)) {
                    // Keep the version this publish replaces, if it is the
                    // one the writer could still recover: a publish that
                    // lands on too few servers must not destroy it.
                    let previous = encode_container(&old.header, &old.data);
                    let key = previous_key(&storage_index, *share);
                    self.store
                        .put(&key, previous, PutCondition::None)
                        .await
                        .map_err(|error| ServerError::from_store(error, !written.is_empty() || own_write_possible))?;
                }
                intended.insert(*share, Some(new_data));
                match self.write_share(&storage_index, *share, container, old, &pieces).await {
                    Ok(()) => {
                        written.insert(*share);
                    }
                    Err(ShareWriteError::Conflict { wrote_any, resent }) => {
                        if wrote_any || !written.is_empty() {
                            let shares_written = (written.len() + usize::from(wrote_any)) as u8;
                            return Err(ServerError::PartialWrite { shares_written });
                        }
                        own_write_possible |= resent;
                        conflict = true;
                        break;
                    }
                    Err(ShareWriteError::Store { error, wrote_any }) => {
                        return Err(ServerError::from_store(
                            error,
                            wrote_any || !written.is_empty() || own_write_possible,
                        ));
                    }
                }
            }
            if !conflict {
                return Ok((true, read_data));
            }
        }
        // Every conditional write lost: on this server the tests could not
        // be made to hold on a fresh read, and nothing of this request's
        // shows (unless a resent PUT may have hidden one, below).
        if own_write_possible {
            return Err(Self::ambiguous_conflict());
        }
        Ok((false, read_data))
    }

    /// A conditional write that lost after a resend, with no sign on re-read
    /// of the request's own write (a stale read could hide it): the server
    /// cannot say whether it landed.
    fn ambiguous_conflict() -> ServerError {
        let code = S3ErrorCode::PreconditionFailed;
        ServerError::S3 { status: Some(code.status()), code: code.code(), indeterminate: true }
    }

    /// Finds which of `shares` the server already has (a LIST) and opens a
    /// bucket in memory for each of the others. A bucket left open by an
    /// earlier, abandoned upload is replaced.
    pub async fn allocate_buckets(
        &self,
        storage_index: StorageIndex,
        renew_secret: Hash,
        shares: BTreeSet<u8>,
    ) -> Result<(BTreeSet<u8>, BTreeSet<u8>), ServerError> {
        let listing = self.list_shares(&storage_index).await.map_err(|e| ServerError::from_store(e, false))?;
        let already: BTreeSet<u8> =
            listing.iter().filter(|(_, pieces)| pieces.contains(&Piece::Whole)).map(|(share, _)| *share).collect();
        let mut allocated = BTreeSet::new();
        let mut buckets = self.buckets.borrow_mut();
        for share in shares.difference(&already) {
            buckets.insert((storage_index, *share), Bucket { data: Vec::new(), renew_secret });
            allocated.insert(*share);
        }
        Ok((already, allocated))
    }

    /// Writes into an open bucket (server memory only).
    pub async fn write_bucket(
        &self,
        storage_index: StorageIndex,
        share: u8,
        offset: u64,
        data: Bytes,
    ) -> Result<(), ServerError> {
        let mut buckets = self.buckets.borrow_mut();
        let bucket = buckets.get_mut(&(storage_index, share)).ok_or(ServerError::BucketNotAllocated)?;
        if offset.saturating_add(data.len() as u64) > SHARE_BYTES_MAX {
            return Err(ServerError::BadRequest { reason: "write beyond the largest share" });
        }
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(data.len());
        if bucket.data.len() < end {
            bucket.data.resize(end, 0);
        }
        bucket.data[start..end].copy_from_slice(&data);
        Ok(())
    }

    /// Stores an open bucket's share: one PUT.
    pub async fn close_bucket(&self, storage_index: StorageIndex, share: u8) -> Result<(), ServerError> {
        let bucket =
            self.buckets.borrow_mut().remove(&(storage_index, share)).ok_or(ServerError::BucketNotAllocated)?;
        let header = ContainerHeader {
            kind: ContainerKind::Immutable,
            write_enabler: [0; 32],
            lease_renew_secret: bucket.renew_secret,
            lease_expiration_s: (self.store.clock().now() + LEASE_DURATION).as_secs(),
            data_bytes: bucket.data.len() as u64,
        };
        let container = encode_container(&header, &bucket.data);
        let key = share_key(&storage_index, share);
        self.store
            .put(&key, container, PutCondition::None)
            .await
            .map_err(|error| ServerError::from_store(error, error.is_indeterminate()))?;
        Ok(())
    }

    /// The immutable shares of `storage_index` here (a LIST).
    pub async fn get_buckets(&self, storage_index: StorageIndex) -> Result<BTreeSet<u8>, ServerError> {
        let listing = self.list_shares(&storage_index).await.map_err(|e| ServerError::from_store(e, false))?;
        Ok(listing.iter().filter(|(_, pieces)| pieces.contains(&Piece::Whole)).map(|(share, _)| *share).collect())
    }

    /// One immutable share's data (a GET).
    pub async fn read_bucket(&self, storage_index: StorageIndex, share: u8) -> Result<Bytes, ServerError> {
        match self.store.get(&share_key(&storage_index, share)).await {
            Ok((body, _)) => match decode_container(&body) {
                Ok((_, data)) => Ok(data),
                Err(reason) => Err(ServerError::CorruptContainer { share, reason }),
            },
            Err(StoreError::Service(S3ErrorCode::NoSuchKey)) => Err(ServerError::NoSuchShare),
            Err(error) => Err(ServerError::from_store(error, false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_vectors_compare_like_tahoe() {
        let data = Bytes::from_static(b"abcdef");
        let tv = |offset, length, op, specimen: &'static [u8]| TestVector {
            offset,
            length,
            op,
            specimen: Bytes::from_static(specimen),
        };
        assert!(tv(0, 3, TestOp::Eq, b"abc").matches(Some(&data)));
        assert!(tv(1, 2, TestOp::Gt, b"ba").matches(Some(&data)));
        assert!(tv(1, 2, TestOp::Lt, b"bd").matches(Some(&data)));
        assert!(tv(1, 2, TestOp::Le, b"bc").matches(Some(&data)));
        assert!(tv(1, 2, TestOp::Ge, b"bc").matches(Some(&data)));
        assert!(tv(1, 2, TestOp::Ne, b"bd").matches(Some(&data)));
        assert!(TestVector::share_absent().matches(None));
        assert!(!TestVector::share_absent().matches(Some(&data)));
        assert!(TestVector::share_absent().matches(Some(&Bytes::new())));
        assert!(tv(10, 5, TestOp::Eq, b"").matches(Some(&data)));
    }

    #[test]
    fn writes_apply_and_truncate() {
        let old = Bytes::from_static(b"abcdef");
        let write = |offset, data: &'static [u8]| WriteVector { offset, data: Bytes::from_static(data) };
        let tw = TestAndWrite {
            tests: vec![],
            writes: vec![write(2, b"XY"), write(8, b"Z")],
            new_length: None,
            preserve: None,
        };
        assert_eq!(&tw.apply(Some(&old)).unwrap().unwrap()[..], b"abXYef\0\0Z");
        let tw = TestAndWrite { tests: vec![], writes: vec![write(0, b"XY")], new_length: Some(3), preserve: None };
        assert_eq!(&tw.apply(Some(&old)).unwrap().unwrap()[..], b"XYc");
        let tw = TestAndWrite::default();
        assert_eq!(tw.apply(Some(&old)), Ok(None));
        let tw = TestAndWrite { tests: vec![], writes: vec![write(0, b"whole new")], new_length: None, preserve: None };
        assert_eq!(&tw.apply(Some(&old)).unwrap().unwrap()[..], b"whole new");
        let tw =
            TestAndWrite { tests: vec![], writes: vec![write(u64::MAX - 1, b"x")], new_length: None, preserve: None };
        assert!(tw.apply(None).is_err());
    }
}
