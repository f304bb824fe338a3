//! [`BucketsAtRest`]: every bucket's objects as they stand, read with no
//! network and no faults, and the checkers' readings of them (shares
//! verified, the final read, immutable downloads, directories). The
//! simulated grid takes the objects from its S3 services; real mode lists
//! and reads them over HTTP. One definition of how stored shares are judged.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use futures::FutureExt;

use crate::cap::{Cap, FileCap, MutableCap, StorageIndex};
use crate::container::{decode_container, parse_share_key, ContainerKind, Piece};
use crate::erasure::Codec;
use crate::error::GatewayError;
use crate::gateway::servermap::{retrieve, Retrieved, ServerMap};
use crate::gateway::{parse_entries, Gateway};
use crate::grid::ShareVerdict;
use crate::host::Host;
use crate::mutable_share::verify_share;

/// Every server's bucket: (key, body) of each object's current version,
/// server i's bucket at index i.
pub struct BucketsAtRest<'a> {
    buckets: Vec<Vec<(String, Bytes)>>,
    codec: &'a Codec,
    shares_needed: u8,
}

impl<H: Host> Gateway<H> {
    /// Reads `buckets` (server i's objects at index i) with this gateway's
    /// erasure code.
    pub fn at_rest(&self, buckets: Vec<Vec<(String, Bytes)>>) -> BucketsAtRest<'_> {
        BucketsAtRest { buckets, codec: self.codec(), shares_needed: self.config().shares_needed }
    }
}

impl BucketsAtRest<'_> {
    /// Every stored share of `storage_index`: (server, share, its container
    /// bytes, assembled from chunks where chunked).
    fn containers(&self, storage_index: &StorageIndex) -> Vec<(u32, u8, Bytes)> {
        let prefix = storage_index.share_prefix();
        let mut out = Vec::new();
        for (server, objects) in (0u32..).zip(&self.buckets) {
            let mut pieces: BTreeMap<u8, BTreeMap<Piece, Bytes>> = BTreeMap::new();
            for (key, body) in objects {
                if let Some((share, piece)) = parse_share_key(&prefix, key) {
                    pieces.entry(share).or_default().insert(piece, body.clone());
                }
            }
            for (share, pieces) in pieces {
                let container = match pieces.get(&Piece::Whole) {
                    Some(whole) => whole.clone(),
                    None => {
                        let mut joined = BytesMut::new();
                        for chunk in 0u32.. {
                            let Some(body) = pieces.get(&Piece::Chunk(chunk)) else { break };
                            joined.extend_from_slice(body);
                        }
                        joined.freeze()
                    }
                };
                out.push((server, share, container));
            }
        }
        out
    }

    /// The previous versions the servers keep of `storage_index`'s shares
    /// (see `TestAndWrite::preserve`): (server, share, container bytes).
    fn previous(&self, storage_index: &StorageIndex) -> Vec<(u32, u8, Bytes)> {
        let prefix = storage_index.share_prefix();
        let mut out = Vec::new();
        for (server, objects) in (0u32..).zip(&self.buckets) {
            for (key, body) in objects {
                if let Some((share, Piece::Previous)) = parse_share_key(&prefix, key) {
                    out.push((server, share, body.clone()));
                }
            }
        }
        out
    }

    /// Verifies every stored share of the mutable file `cap` (not the kept
    /// previous versions), straight from the buckets (no network, no faults,
    /// no consistency delay).
    pub fn verify_mutable(&self, cap: &MutableCap) -> Vec<ShareVerdict> {
        let k = self.shares_needed;
        self.containers(&cap.storage_index)
            .into_iter()
            .map(|(server, share, container)| {
                let corrupt = |reason: String| ShareVerdict::Corrupt { server, share, reason };
                let data = match decode_container(&container) {
                    Ok((header, data)) if header.kind == ContainerKind::Mutable => data,
                    Ok(_) => return corrupt("container: not a mutable share".into()),
                    Err(reason) => return corrupt(format!("container: {reason}")),
                };
                match verify_share(cap, share, &data) {
                    Ok((prefix, block)) => {
                        let verinfo = prefix.verinfo;
                        let contents = (k == 1 && verinfo.shares_needed == 1).then(|| {
                            let len = usize::try_from(verinfo.data_bytes).unwrap_or(usize::MAX).min(block.len());
                            block.slice(..len)
                        });
                        ShareVerdict::Valid {
                            server,
                            share,
                            seqnum: verinfo.seqnum,
                            root_hash: verinfo.root_hash,
                            contents,
                        }
                    }
                    Err(reason) => corrupt(reason),
                }
            })
            .collect()
    }

    /// The final read at quiescence: the gateway's retrieve logic (best
    /// recoverable version, k validated shares) over the shares at rest.
    pub fn read_mutable(&self, cap: &MutableCap) -> Result<Retrieved, GatewayError> {
        let mut map = ServerMap::default();
        for (server, share, container) in self.containers(&cap.storage_index) {
            match decode_container(&container) {
                Ok((_, data)) => map.add(cap, server, share, data),
                Err(reason) => map.mark_bad(server, share, format!("container: {reason}")),
            }
        }
        for (server, share, container) in self.previous(&cap.storage_index) {
            if let Ok((_, data)) = decode_container(&container) {
                map.add_previous(cap, server, share, data);
            }
        }
        // Whole shares are in the map, so retrieve never needs to fetch.
        let fetch = |_, _, _, _| async { Ok(None) };
        retrieve(&mut map, self.codec, fetch)
            .now_or_never()
            .unwrap_or_else(|| Err(GatewayError::unexpected("at-rest retrieve waited")))
    }

    /// Downloads an immutable file from the shares at rest.
    pub fn download_immutable(&self, cap: &FileCap) -> Result<Bytes, GatewayError> {
        let cap = match cap {
            FileCap::Literal(literal) => return Ok(literal.data.clone()),
            FileCap::Immutable(cap) => *cap,
        };
        let mut stored: BTreeMap<(u32, u8), Bytes> = BTreeMap::new();
        for (server, share, container) in self.containers(&cap.storage_index) {
            if let Ok((_, data)) = decode_container(&container) {
                stored.insert((server, share), data);
            }
        }
        let mut candidates: Vec<(u32, u8)> = stored.keys().copied().collect();
        candidates.sort_by_key(|&(server, share)| (share, server));
        let stored = &stored;
        let read = |server: u32, share: u8| async move {
            stored.get(&(server, share)).cloned().ok_or_else(|| "share missing".to_owned())
        };
        let mut last_failure = None;
        crate::gateway::decode_immutable(&cap, self.codec, &candidates, &mut last_failure, read)
            .now_or_never()
            .unwrap_or_else(|| Err(GatewayError::unexpected("at-rest download waited")))
    }

    /// The entries of a directory at rest.
    pub fn list_directory(&self, dir: &Cap) -> Result<BTreeMap<String, Cap>, GatewayError> {
        match dir {
            Cap::MutableDir(cap) => parse_entries(&self.read_mutable(cap)?.contents),
            Cap::ImmutableDir(cap) => parse_entries(&self.download_immutable(cap)?),
            Cap::File(_) | Cap::MutableFile(_) => Err(GatewayError::unexpected(format!("{dir} is not a directory"))),
        }
    }

    /// Storage indexes with at least one share in any bucket (for checkers).
    pub fn storage_indexes(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for objects in &self.buckets {
            for (key, _) in objects {
                if let Some(si) = key.split('/').nth(2) {
                    out.insert(si.to_owned());
                }
            }
        }
        out
    }
}
