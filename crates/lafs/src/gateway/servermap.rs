//! The servermap: which server holds which share of which version of a
//! mutable file, built from the first bytes of every share, and the
//! retrieve logic that picks the best version and decodes it from k good
//! shares. Pure over its inputs, so the at-rest read uses it too.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use bytes::Bytes;

use crate::cap::MutableCap;
use crate::erasure::Codec;
use crate::error::GatewayError;
use crate::mutable_share::{parse_prefix, signature_valid, verify_block, SharePrefix, VerInfo, CHECKSTRING_BYTES};

/// How many bytes of each share a servermap update reads.
pub const SERVERMAP_READ_BYTES: u64 = 4000;

/// A share with a valid signature, and the bytes of it that were read.
#[derive(Clone, Debug)]
pub struct SeenShare {
    pub prefix: SharePrefix,
    pub data: Bytes,
}

/// A share that failed a check: its checkstring if it had one (a publish
/// replaces it by testing against that), and why.
#[derive(Clone, Debug)]
pub struct BadShare {
    pub checkstring: Option<Bytes>,
    pub reason: String,
}

/// Shares of one mutable file across the grid, keyed by (server, share number).
#[derive(Clone, Debug, Default)]
pub struct ServerMap {
    pub shares: BTreeMap<(u32, u8), SeenShare>,
    pub bad: BTreeMap<(u32, u8), BadShare>,
    /// Previous versions the servers keep (a share a publish replaced while
    /// it was the newest recoverable version), read only to recover a version.
    pub previous: BTreeMap<(u32, u8), SeenShare>,
    /// Servers whose query failed, with the failure.
    pub problems: Vec<(u32, String)>,
}

/// The contents of a mutable file and the version they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retrieved {
    pub seqnum: u64,
    pub contents: Bytes,
}

/// How Tahoe-LAFS names a server in messages.
pub fn server_name(server: u32) -> String {
    format!("server{server}")
}

impl ServerMap {
    /// Records share `share` of `server` from its first bytes `data`.
    pub fn add(&mut self, cap: &MutableCap, server: u32, share: u8, data: Bytes) {
        let checkstring = (data.len() >= CHECKSTRING_BYTES).then(|| data.slice(..CHECKSTRING_BYTES));
        match parse_prefix(&data) {
            Ok(prefix) if signature_valid(cap, &prefix) => {
                self.shares.insert((server, share), SeenShare { prefix, data });
            }
            Ok(_) => {
                self.bad.insert((server, share), BadShare { checkstring, reason: "signature is invalid".into() });
            }
            Err(reason) => {
                self.bad.insert((server, share), BadShare { checkstring, reason });
            }
        }
    }

    /// Records the previous version of share `share` on `server`; one that
    /// does not check is ignored (it is never written against).
    pub fn add_previous(&mut self, cap: &MutableCap, server: u32, share: u8, data: Bytes) {
        if let Ok(prefix) = parse_prefix(&data) {
            if signature_valid(cap, &prefix) {
                self.previous.insert((server, share), SeenShare { prefix, data });
            }
        }
    }

    pub fn mark_bad(&mut self, server: u32, share: u8, reason: String) {
        let checkstring =
            self.shares.remove(&(server, share)).map(|seen| Bytes::copy_from_slice(&seen.prefix.verinfo.checkstring()));
        self.bad.insert((server, share), BadShare { checkstring, reason });
    }

    /// Every version seen, with the distinct share numbers of each.
    pub fn versions(&self) -> BTreeMap<VerInfo, BTreeSet<u8>> {
        let mut versions: BTreeMap<VerInfo, BTreeSet<u8>> = BTreeMap::new();
        for ((_, share), seen) in self.shares.iter().chain(&self.previous) {
            versions.entry(seen.prefix.verinfo).or_default().insert(*share);
        }
        versions
    }

    /// The highest version with at least k distinct shares. When several
    /// recoverable versions share that seqnum (two writers' publishes met),
    /// the one on the most shares: an acknowledged version is on a write
    /// quorum, a majority, so it outnumbers any rival the servers answering
    /// hold (see `Gateway::unresolved_collision` for when they are too few).
    pub fn best_recoverable(&self) -> Option<VerInfo> {
        let recoverable: Vec<(VerInfo, usize)> = self
            .versions()
            .into_iter()
            .filter(|(verinfo, shares)| shares.len() >= usize::from(verinfo.shares_needed).max(1))
            .map(|(verinfo, shares)| (verinfo, shares.len()))
            .collect();
        let top = recoverable.iter().map(|(verinfo, _)| verinfo.seqnum).max()?;
        recoverable
            .into_iter()
            .filter(|(verinfo, _)| verinfo.seqnum == top)
            .max_by_key(|&(verinfo, shares)| (shares, verinfo))
            .map(|(verinfo, _)| verinfo)
    }

    /// The highest version with at least `shares` distinct shares.
    pub fn newest_on(&self, shares: usize) -> Option<VerInfo> {
        self.versions().into_iter().rev().find(|(_, held)| held.len() >= shares).map(|(verinfo, _)| verinfo)
    }

    /// The highest seqnum of any validly signed share, recoverable or not.
    pub fn highest_seqnum(&self) -> Option<u64> {
        self.shares.values().chain(self.previous.values()).map(|seen| seen.prefix.verinfo.seqnum).max()
    }

    /// Whether nothing at all was found and every server answered.
    pub fn is_empty_and_complete(&self) -> bool {
        self.shares.is_empty() && self.bad.is_empty() && self.problems.is_empty()
    }

    /// `UnrecoverableFileError("no recoverable versions")`, what Tahoe-LAFS
    /// 1.9's `_get_version_from_servermap` raises, with what the map saw.
    pub fn unrecoverable_error(&self) -> GatewayError {
        let mut message = format!(
            "no recoverable versions: {} shares in {} versions, {} bad shares, {} server problems",
            self.shares.len(),
            self.versions().len(),
            self.bad.len(),
            self.problems.len()
        );
        if let Some((server, problem)) = self.problems.last() {
            message.push_str(&format!("; last problem: {} {problem}", server_name(*server)));
        }
        GatewayError::Unrecoverable { message }
    }
}

/// Decodes the best recoverable version in `map` from k validated blocks.
///
/// A block beyond the bytes the servermap read is fetched with `fetch(server,
/// share, offset, length)`: `Ok(None)` when the share is gone, `Err` for a
/// failed read. Each block is checked against its share's block hash tree,
/// share hash chain and root hash; a share that fails is bad (Tahoe-LAFS's
/// `CorruptShareError`) and another share is tried. `codec` is used when it
/// matches the version's k and N.
pub async fn retrieve<F, Fut>(map: &mut ServerMap, codec: &Codec, fetch: F) -> Result<Retrieved, GatewayError>
where
    F: Fn(u32, u8, u64, u64) -> Fut,
    Fut: Future<Output = Result<Option<Bytes>, String>>,
{
    let Some(best) = map.best_recoverable() else {
        if map.is_empty_and_complete() {
            return Err(GatewayError::NoShares { message: "no shares of this file were found on any server".into() });
        }
        return Err(map.unrecoverable_error());
    };
    let (k, n) = (best.shares_needed, best.shares_total);
    let own_codec;
    let codec = if codec.needed() == k && codec.total() == n {
        codec
    } else {
        own_codec = Codec::new(k, n).map_err(|e| GatewayError::NotEnoughShares { message: e })?;
        &own_codec
    };
    // (server, share, whether it is a kept previous version).
    let candidates: Vec<(u32, u8, bool)> = {
        let of_best = |previous: bool| {
            let shares = if previous { &map.previous } else { &map.shares };
            shares
                .iter()
                .filter(|(_, seen)| seen.prefix.verinfo == best)
                .map(move |(&(server, share), _)| (server, share, previous))
                .collect::<Vec<_>>()
        };
        let mut c = of_best(false);
        c.extend(of_best(true));
        // Share numbers in order, so the data blocks (the cheap decode) come
        // first; a server's current share before a kept previous one.
        c.sort_by_key(|&(server, share, previous)| (share, previous, server));
        c
    };
    let seen_of = |map: &ServerMap, server: u32, share: u8, previous: bool| {
        if previous {
            map.previous.get(&(server, share)).cloned()
        } else {
            map.shares.get(&(server, share)).cloned()
        }
    };
    let mut good: BTreeMap<u8, Bytes> = BTreeMap::new();
    let mut tried: BTreeSet<(u32, u8, bool)> = BTreeSet::new();
    let mut bad_shares = 0usize;
    let mut last_failure: Option<String> = None;
    while good.len() < usize::from(k) {
        let mut batch: Vec<(u32, u8, bool)> = Vec::new();
        for &candidate in &candidates {
            let (_, share, _) = candidate;
            if batch.len() + good.len() >= usize::from(k) {
                break;
            }
            if tried.contains(&candidate) || good.contains_key(&share) || batch.iter().any(|&(_, s, _)| s == share) {
                continue;
            }
            batch.push(candidate);
        }
        if batch.is_empty() {
            break;
        }
        let reads = batch.iter().map(|&(server, share, previous)| {
            let seen = seen_of(map, server, share, previous);
            let fetch = &fetch;
            async move {
                let Some(seen) = seen else { return Err("share forgotten".to_owned()) };
                let offset = seen.prefix.block_offset;
                let length = best.block_bytes;
                let end = offset.saturating_add(length);
                if end <= seen.data.len() as u64 {
                    let start = usize::try_from(offset).unwrap_or(usize::MAX);
                    let end = usize::try_from(end).unwrap_or(usize::MAX);
                    return Ok(Some(seen.data.slice(start..end)));
                }
                if previous {
                    // Only a server's current share can be read further.
                    return Err("the previous version's block lies past the bytes read".to_owned());
                }
                fetch(server, share, offset, length).await
            }
        });
        let blocks = futures::future::join_all(reads).await;
        for (&(server, share, previous), block) in batch.iter().zip(blocks) {
            tried.insert((server, share, previous));
            let block = match block {
                Ok(Some(block)) => block,
                Ok(None) => {
                    last_failure = Some(format!("{} shnum[{share}] vanished", server_name(server)));
                    continue;
                }
                Err(error) => {
                    last_failure = Some(format!("{}: {error}", server_name(server)));
                    continue;
                }
            };
            let Some(seen) = seen_of(map, server, share, previous) else { continue };
            match verify_block(&seen.prefix, share, &block) {
                Ok(()) => {
                    good.insert(share, block);
                }
                Err(reason) => {
                    bad_shares += 1;
                    let failure = format!("CorruptShareError server={} shnum[{share}]: {reason}", server_name(server));
                    if previous {
                        map.previous.remove(&(server, share));
                    } else {
                        map.mark_bad(server, share, reason);
                    }
                    last_failure = Some(failure);
                }
            }
        }
    }
    if good.len() < usize::from(k) {
        return Err(GatewayError::NotEnoughShares {
            message: format!(
                "ran out of servers: have 0 of 1 segments found {bad_shares} bad shares encoding {k}-of-{n}, \
                 last failure: {}",
                last_failure.unwrap_or_else(|| "none".into())
            ),
        });
    }
    let blocks: Vec<(u8, Bytes)> = good.into_iter().collect();
    let contents = codec.decode(&blocks, best.data_bytes).map_err(|e| GatewayError::NotEnoughShares { message: e })?;
    Ok(Retrieved { seqnum: best.seqnum, contents })
}
