//! Mutable files (SDMF-like): create, overwrite (`put`) as Tahoe-LAFS 1.9's
//! `PUT /uri/$FILECAP` does it, read (`get`), and the publish step shared
//! with `modify`.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use rand::RngCore;

use super::servermap::{retrieve, server_name, Retrieved, ServerMap, SERVERMAP_READ_BYTES};
use super::Gateway;
use crate::cap::MutableCap;
use crate::error::{GatewayError, Outcome, RpcError, WriteError};
use crate::host::Host;
use crate::mutable_share::{build_shares, checkstring_seqnum, VerInfo, CHECKSTRING_BYTES};
use crate::server::{TestAndWrite, TestOp, TestVector, WriteVector};

/// Why a servermap is being updated (Tahoe-LAFS's modes). Both query every
/// server here; the mode only labels the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Read,
    Write,
}

impl<H: Host> Gateway<H> {
    /// A fresh mutable cap from the gateway's seeded stream (no server request).
    pub fn generate_mutable_cap(&self) -> MutableCap {
        let mut write_key = [0u8; 16];
        self.rng.borrow_mut().fill_bytes(&mut write_key);
        MutableCap::from_write_key(write_key)
    }

    /// Creates a mutable file holding `contents` (seqnum 1) under a new cap.
    pub async fn create_mutable(&self, contents: Bytes) -> Result<MutableCap, WriteError> {
        let cap = self.generate_mutable_cap();
        self.create_mutable_at(&cap, contents).await?;
        Ok(cap)
    }

    /// Creates the mutable file `cap` (from [`Gateway::generate_mutable_cap`]):
    /// a publish of seqnum 1 that requires every share to be absent, with no
    /// servermap update first. Returns the seqnum.
    pub async fn create_mutable_at(&self, cap: &MutableCap, contents: Bytes) -> Result<u64, WriteError> {
        self.publish(cap, &ServerMap::default(), contents).await
    }

    /// Overwrites the mutable file `cap` with `contents`, as Tahoe-LAFS 1.9's
    /// web `PUT /uri/$FILECAP`: (1) a servermap update in MODE_READ, failing
    /// with `UnrecoverableFileError` (410) when no version is recoverable;
    /// (2) a servermap update in MODE_WRITE; (3) a publish of seqnum
    /// highest-seen + 1 with one test-and-write per server. No retry.
    /// Returns the seqnum published.
    pub async fn put(&self, cap: &MutableCap, contents: Bytes) -> Result<u64, WriteError> {
        let read_map = self.update_servermap(cap, Mode::Read).await;
        if read_map.best_recoverable().is_none() {
            return Err(WriteError::not_applied(read_map.unrecoverable_error()));
        }
        let write_map = self.update_servermap(cap, Mode::Write).await;
        self.publish(cap, &write_map, contents).await
    }

    /// Reads the mutable file `cap`: a servermap update (MODE_READ), then k
    /// validated blocks of the best recoverable version.
    pub async fn get(&self, cap: &MutableCap) -> Result<Retrieved, GatewayError> {
        let mut map = self.update_servermap(cap, Mode::Read).await;
        self.retrieve(cap, &mut map).await
    }

    /// Records `verinfo` as the version of `cap` this gateway last
    /// acknowledged: later publishes ask the servers to keep it.
    pub(crate) fn acknowledge(&self, cap: &MutableCap, verinfo: &VerInfo) {
        self.acknowledged.borrow_mut().insert(cap.storage_index, Bytes::copy_from_slice(&verinfo.checkstring()));
    }

    /// Shares a publish must place to succeed ([`LafsConfig::write_quorum`]).
    pub(crate) fn write_quorum(&self) -> usize {
        self.config.write_quorum()
    }

    /// Shares whose servers must answer a servermap update before a read
    /// may trust it: N - write quorum + k.
    fn read_quorum(&self) -> usize {
        let total = usize::from(self.config.shares_total);
        (total + usize::from(self.config.shares_needed)).saturating_sub(self.write_quorum())
    }

    /// Distinct shares of the version `seqnum` (the most of any one version
    /// at that seqnum) that `map` saw.
    pub(crate) fn shares_of_version(&self, map: &ServerMap, seqnum: u64) -> usize {
        map.versions()
            .iter()
            .filter(|(verinfo, _)| verinfo.seqnum == seqnum)
            .map(|(_, shares)| shares.len())
            .max()
            .unwrap_or(0)
    }

    /// Why a publish over `map` cannot tell which version its servers must
    /// keep, if it cannot: the version it builds on is newer than the last
    /// this writer had acknowledged (another writer of a shared file may
    /// have had it acknowledged), the map sees it on fewer shares than a
    /// write quorum, and some server did not answer (it may hold the rest).
    /// Publishing then could replace that version's shares on the servers
    /// that answered without keeping them.
    fn unsure_what_to_keep(&self, cap: &MutableCap, map: &ServerMap) -> Option<String> {
        if self.config.shares_total <= 1 || map.problems.is_empty() {
            return None;
        }
        let best = map.best_recoverable()?;
        let acknowledged =
            self.acknowledged.borrow().get(&cap.storage_index).and_then(|c| checkstring_seqnum(c)).unwrap_or(0);
        let held = map.versions().get(&best).map_or(0, BTreeSet::len);
        (best.seqnum > acknowledged && held < self.write_quorum()).then(|| {
            format!(
                "seqnum {} is on {held} shares that answered, fewer than a write quorum of {}, and {} server(s) did \
                 not answer: a publish could not keep it",
                best.seqnum,
                self.write_quorum(),
                map.problems.len()
            )
        })
    }

    /// Why `map` cannot say which version is newest, if it cannot: two
    /// versions share the highest seqnum (a late write of an earlier writer
    /// beside the next writer's publish), none of them is on a write quorum
    /// of the shares that answered, and some server did not answer (it may
    /// hold the rest of the acknowledged one). Guessing could return, and
    /// build on, a version without an acknowledged write.
    fn unresolved_collision(&self, map: &ServerMap) -> Option<String> {
        let top = map.highest_seqnum()?;
        let versions = map.versions();
        let at_top: Vec<usize> =
            versions.iter().filter(|(verinfo, _)| verinfo.seqnum == top).map(|(_, shares)| shares.len()).collect();
        let resolved = at_top.len() < 2 || at_top.iter().any(|&shares| shares >= self.write_quorum());
        if resolved || map.problems.is_empty() {
            return None;
        }
        Some(format!(
            "{} versions share seqnum {top} with {at_top:?} shares, none on a write quorum of {}, and {} server(s) did \
             not answer",
            at_top.len(),
            self.write_quorum(),
            map.problems.len()
        ))
    }

    /// The shares held by servers that answered `map`'s queries.
    fn shares_answered(&self, map: &ServerMap) -> usize {
        (0..self.server_count())
            .filter(|server| !map.problems.iter().any(|(failed, _)| failed == server))
            .map(|server| self.shares_on(server).count())
            .sum()
    }

    /// Retrieve over a servermap, fetching blocks beyond what it read. A map
    /// that heard from too few servers fails (`NotEnoughServersError`) even
    /// if it holds a recoverable version: a newer one may be on the servers
    /// that did not answer.
    pub(crate) async fn retrieve(&self, cap: &MutableCap, map: &mut ServerMap) -> Result<Retrieved, GatewayError> {
        let answered = self.shares_answered(map);
        // With no version recoverable at all, the plain error says more
        // (Tahoe-LAFS's 410 UnrecoverableFileError, as in 2012).
        if answered < self.read_quorum() && map.best_recoverable().is_some() {
            let last = map.problems.last().map_or_else(String::new, |(server, problem)| {
                format!("; last problem: {} {problem}", server_name(*server))
            });
            return Err(GatewayError::NotEnoughServers {
                message: format!(
                    "servers holding {answered} of {} shares answered, {} needed to be sure of the newest version{last}",
                    self.config.shares_total,
                    self.read_quorum()
                ),
            });
        }
        if let Some(message) = self.unresolved_collision(map) {
            return Err(GatewayError::NotEnoughServers { message });
        }
        let storage_index = cap.storage_index;
        let fetch = |server: u32, share: u8, offset: u64, length: u64| async move {
            let answer =
                self.call(server, move |s| async move {
                    s.slot_readv(storage_index, vec![share], vec![(offset, length)]).await
                })
                .await;
            match answer {
                Ok(mut data) => Ok(data.remove(&share).and_then(|mut reads| reads.pop())),
                Err(error) => Err(error.to_string()),
            }
        };
        retrieve(map, &self.codec, fetch).await
    }

    /// Reads the first bytes of every share of `cap` on every server.
    pub(crate) async fn update_servermap(&self, cap: &MutableCap, mode: Mode) -> ServerMap {
        let storage_index = cap.storage_index;
        let queries = (0..self.server_count()).map(|server| async move {
            let answer =
                self.call(server, move |s| async move {
                    s.slot_readv_all(storage_index, vec![(0, SERVERMAP_READ_BYTES)]).await
                })
                .await;
            (server, answer)
        });
        let answers = futures::future::join_all(queries).await;
        let mut map = ServerMap::default();
        for (server, answer) in answers {
            match answer {
                Ok((current, previous)) => {
                    for (share, mut reads) in current {
                        if let Some(bytes) = reads.pop() {
                            map.add(cap, server, share, bytes);
                        }
                    }
                    for (share, mut reads) in previous {
                        if let Some(bytes) = reads.pop() {
                            map.add_previous(cap, server, share, bytes);
                        }
                    }
                }
                Err(error) => map.problems.push((server, error.to_string())),
            }
        }
        let what = match mode {
            Mode::Read => "lafs.servermap.read.seqnum",
            Mode::Write => "lafs.servermap.write.seqnum",
        };
        self.note(what, map.highest_seqnum().unwrap_or(0));
        map
    }

    /// Publishes `contents` as the next version after what `map` saw: one
    /// `slot_testv_and_readv_and_writev` per server carrying its shares, each
    /// tested against the checkstring the servermap saw there (or required
    /// absent). Fewer than the write quorum landing is `NotEnoughServersError`; a
    /// failed test or a surprise share is `UncoordinatedWriteError`.
    pub(crate) async fn publish(&self, cap: &MutableCap, map: &ServerMap, contents: Bytes) -> Result<u64, WriteError> {
        if let Some(message) = self.unsure_what_to_keep(cap, map) {
            return Err(WriteError::not_applied(GatewayError::NotEnoughServers { message }));
        }
        let attempted = self.attempted.borrow().get(&cap.storage_index).copied();
        let seqnum = map.highest_seqnum().max(attempted).map_or(1, |s| s.saturating_add(1));
        self.attempted.borrow_mut().insert(cap.storage_index, seqnum);
        let mut salt = [0u8; 16];
        self.rng.borrow_mut().fill_bytes(&mut salt);
        let (verinfo, shares) = build_shares(cap, &self.codec, seqnum, salt, &contents);
        self.note("lafs.publish.start.seqnum", seqnum);
        let storage_index = cap.storage_index;
        // The newer of the last version this writer published with success
        // and the newest this map sees on a write quorum (another writer of
        // a shared file may have had that one acknowledged), else the
        // newest it can recover: each server keeps the share of it that this
        // publish replaces, so publishes that land on too few servers leave
        // an acknowledged version recoverable. (With one share a publish
        // lands whole or not at all: nothing to keep.) Keeping what this
        // publish builds on instead, even when it is on fewer shares than a
        // write quorum, loses acknowledged writes of a single writer (swarm
        // seed 278 of grid/appends-3of10).
        let checkstring = |verinfo: VerInfo| Bytes::copy_from_slice(&verinfo.checkstring());
        let acknowledged = self.acknowledged.borrow().get(&storage_index).cloned();
        let durable = map.newest_on(self.write_quorum()).map(checkstring);
        let preserve = match (acknowledged, durable) {
            (Some(a), Some(d)) => Some(if checkstring_seqnum(&d) > checkstring_seqnum(&a) { d } else { a }),
            (a, d) => a.or(d),
        }
        .or_else(|| map.best_recoverable().map(checkstring))
        .filter(|_| self.config.shares_total > 1);
        let writes = (0..self.server_count()).filter_map(|server| {
            let mut tw_vectors = BTreeMap::new();
            for share in self.shares_on(server) {
                let test = match (map.shares.get(&(server, share)), map.bad.get(&(server, share))) {
                    (Some(seen), _) => Some(Bytes::copy_from_slice(&seen.prefix.verinfo.checkstring())),
                    (None, Some(bad)) => bad.checkstring.clone(),
                    (None, None) => None,
                };
                let test = match test {
                    Some(checkstring) => TestVector {
                        offset: 0,
                        length: CHECKSTRING_BYTES as u64,
                        op: TestOp::Eq,
                        specimen: checkstring,
                    },
                    None => TestVector::share_absent(),
                };
                let data = shares.get(usize::from(share)).cloned().unwrap_or_default();
                let new_length = Some(data.len() as u64);
                tw_vectors.insert(
                    share,
                    TestAndWrite {
                        tests: vec![test],
                        writes: vec![WriteVector { offset: 0, data }],
                        new_length,
                        preserve: preserve.clone(),
                    },
                );
            }
            if tw_vectors.is_empty() {
                return None;
            }
            let write_enabler = cap.write_enabler(server);
            let written: Vec<u8> = tw_vectors.keys().copied().collect();
            Some(async move {
                let answer = self
                    .call(server, move |s| async move {
                        s.slot_testv_and_readv_and_writev(
                            storage_index,
                            write_enabler,
                            tw_vectors,
                            vec![(0, CHECKSTRING_BYTES as u64)],
                        )
                        .await
                    })
                    .await;
                (server, written, answer)
            })
        });
        let answers = futures::future::join_all(writes).await;

        let mut landed = 0usize;
        let mut maybe_landed = false;
        let mut surprised = false;
        let mut last_failure: Option<(u32, RpcError)> = None;
        for (server, written, answer) in answers {
            match answer {
                Ok((true, read)) => {
                    landed += written.len();
                    // A share here that this publish did not write and the
                    // servermap did not see (or saw at another version) is a
                    // surprise: someone else is writing.
                    for (share, reads) in &read {
                        if written.contains(share) {
                            continue;
                        }
                        let known = map.shares.get(&(server, *share)).map(|seen| seen.prefix.verinfo.checkstring());
                        if known.as_ref().map(|k| &k[..]) != reads.first().map(|b| &b[..]) {
                            surprised = true;
                        }
                    }
                }
                Ok((false, _)) => surprised = true,
                Err(error) => {
                    maybe_landed |= error.is_indeterminate();
                    last_failure = Some((server, error));
                }
            }
        }
        if !surprised && landed >= self.write_quorum() {
            self.acknowledge(cap, &verinfo);
            self.note("lafs.publish.ok.seqnum", seqnum);
            return Ok(seqnum);
        }
        self.note("lafs.publish.fail.seqnum", seqnum);
        let outcome = if landed > 0 || maybe_landed { Outcome::Indeterminate } else { Outcome::NotApplied };
        let error = if surprised {
            GatewayError::UncoordinatedWrite {
                message: format!("a test vector failed or a server held an unexpected share (seqnum {seqnum})"),
            }
        } else {
            let last = match &last_failure {
                Some((server, error)) => format!("{}: {error}", server_name(*server)),
                None => "none".into(),
            };
            GatewayError::NotEnoughServers {
                message: format!(
                    "Publish ran out of good servers: {landed} of {} shares placed, {} needed, last failure was: {last}",
                    self.config.shares_total,
                    self.write_quorum()
                ),
            }
        };
        Err(WriteError { error, outcome })
    }
}
