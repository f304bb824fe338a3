//! Immutable files (CHK-like): upload with servers-of-happiness, download
//! with per-block validation; literal caps for small files.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::servermap::server_name;
use super::Gateway;
use crate::cap::{FileCap, ImmutableCap, LiteralCap, LITERAL_BYTES_MAX};
use crate::erasure::Codec;
use crate::error::{GatewayError, Outcome, WriteError};
use crate::hash::tagged_hash;
use crate::host::Host;
use crate::immutable_share;

impl<H: Host> Gateway<H> {
    /// Uploads `data` as an immutable file. Files of at most 55 bytes become
    /// literal caps (no server request). Otherwise the data is coded into N
    /// shares (not encrypted: see `immutable_share`), share i goes to server
    /// i mod servers (`allocate_buckets`, then `write` and `close` per
    /// share), and the upload succeeds when at least `servers_of_happiness`
    /// distinct servers hold a share, else `UploadUnhappinessError`.
    pub async fn upload(&self, data: Bytes) -> Result<FileCap, WriteError> {
        if data.len() <= LITERAL_BYTES_MAX {
            return Ok(FileCap::Literal(LiteralCap { data }));
        }
        let (cap, shares) = immutable_share::build(&self.convergence, &self.codec, &data);
        let storage_index = cap.storage_index;
        let uploads = (0..self.server_count()).filter_map(|server| {
            let wanted: BTreeSet<u8> = self.shares_on(server).collect();
            if wanted.is_empty() {
                return None;
            }
            let renew_secret = tagged_hash("lease renew secret", &[&storage_index.0, &server.to_be_bytes()]);
            let shares = &shares;
            Some(async move {
                let mut holds = false;
                let mut maybe_landed = false;
                let mut failure: Option<String> = None;
                let allocation = self
                    .call(server, move |s| async move { s.allocate_buckets(storage_index, renew_secret, wanted).await })
                    .await;
                let allocated = match allocation {
                    Ok((already, allocated)) => {
                        holds |= !already.is_empty();
                        allocated
                    }
                    Err(error) => {
                        failure = Some(format!("{}: {error}", server_name(server)));
                        BTreeSet::new()
                    }
                };
                for share in allocated {
                    let data = shares.get(usize::from(share)).cloned().unwrap_or_default();
                    let wrote = self
                        .call(server, move |s| async move { s.write_bucket(storage_index, share, 0, data).await })
                        .await;
                    if let Err(error) = wrote {
                        failure = Some(format!("{}: {error}", server_name(server)));
                        continue;
                    }
                    match self.call(server, move |s| async move { s.close_bucket(storage_index, share).await }).await {
                        Ok(()) => holds = true,
                        Err(error) => {
                            maybe_landed |= error.is_indeterminate();
                            failure = Some(format!("{}: {error}", server_name(server)));
                        }
                    }
                }
                (holds, maybe_landed, failure)
            })
        });
        let results = futures::future::join_all(uploads).await;
        let happy = results.iter().filter(|(holds, _, _)| *holds).count();
        let maybe_landed = results.iter().any(|(holds, maybe, _)| *holds || *maybe);
        if happy >= usize::from(self.config.servers_of_happiness) {
            return Ok(FileCap::Immutable(cap));
        }
        let last = results.iter().rev().find_map(|(_, _, failure)| failure.clone()).unwrap_or_else(|| "none".into());
        Err(WriteError {
            error: GatewayError::UploadUnhappiness {
                message: format!(
                    "shares could be placed on only {happy} server(s), {} needed; last failure: {last}",
                    self.config.servers_of_happiness
                ),
            },
            outcome: if maybe_landed { Outcome::Indeterminate } else { Outcome::NotApplied },
        })
    }

    /// Downloads an immutable file: `get_buckets` on every server, then reads
    /// of shares until k validate.
    pub async fn download(&self, cap: &FileCap) -> Result<Bytes, GatewayError> {
        let cap = match cap {
            FileCap::Literal(literal) => return Ok(literal.data.clone()),
            FileCap::Immutable(cap) => *cap,
        };
        let storage_index = cap.storage_index;
        let finds = (0..self.server_count()).map(|server| async move {
            (server, self.call(server, move |s| async move { s.get_buckets(storage_index).await }).await)
        });
        let mut candidates: Vec<(u32, u8)> = Vec::new();
        let mut last_failure: Option<String> = None;
        for (server, answer) in futures::future::join_all(finds).await {
            match answer {
                Ok(shares) => candidates.extend(shares.into_iter().map(|share| (server, share))),
                Err(error) => last_failure = Some(format!("{}: {error}", server_name(server))),
            }
        }
        candidates.sort_by_key(|&(server, share)| (share, server));
        let read = |server: u32, share: u8| async move {
            self.call(server, move |s| async move { s.read_bucket(storage_index, share).await })
                .await
                .map_err(|error| format!("{}: {error}", server_name(server)))
        };
        decode_immutable(&cap, &self.codec, &candidates, &mut last_failure, read).await
    }
}

/// Reads shares of `cap` from `candidates` (server, share), in rounds of
/// as many as are still needed, until k validate; then decodes.
pub(crate) async fn decode_immutable<F, Fut>(
    cap: &ImmutableCap,
    codec: &Codec,
    candidates: &[(u32, u8)],
    last_failure: &mut Option<String>,
    read: F,
) -> Result<Bytes, GatewayError>
where
    F: Fn(u32, u8) -> Fut,
    Fut: std::future::Future<Output = Result<Bytes, String>>,
{
    if candidates.is_empty() {
        return Err(GatewayError::NoShares {
            message: format!(
                "no shares could be found; last failure: {}",
                last_failure.clone().unwrap_or_else(|| "none".into())
            ),
        });
    }
    let k = usize::from(cap.shares_needed);
    let mut good: BTreeMap<u8, Bytes> = BTreeMap::new();
    let mut tried: BTreeSet<(u32, u8)> = BTreeSet::new();
    let mut bad = 0usize;
    while good.len() < k {
        let mut batch: Vec<(u32, u8)> = Vec::new();
        for &(server, share) in candidates {
            if batch.len() + good.len() >= k {
                break;
            }
            if !tried.contains(&(server, share))
                && !good.contains_key(&share)
                && !batch.iter().any(|&(_, s)| s == share)
            {
                batch.push((server, share));
            }
        }
        if batch.is_empty() {
            break;
        }
        let reads = futures::future::join_all(batch.iter().map(|&(server, share)| read(server, share))).await;
        for (&(server, share), answer) in batch.iter().zip(reads) {
            tried.insert((server, share));
            match answer.and_then(|data| immutable_share::verify(cap, share, &data)) {
                Ok(block) => {
                    good.insert(share, block);
                }
                Err(reason) => {
                    bad += 1;
                    *last_failure = Some(format!("{} shnum[{share}]: {reason}", server_name(server)));
                }
            }
        }
    }
    if good.len() < k {
        return Err(GatewayError::NotEnoughShares {
            message: format!(
                "ran out of shares: complete={} pending=0 overdue=0 unused=0 need {k}; {bad} bad; last failure: {}",
                good.len(),
                last_failure.clone().unwrap_or_else(|| "none".into())
            ),
        });
    }
    let own_codec;
    let codec = if codec.needed() == cap.shares_needed && codec.total() == cap.shares_total {
        codec
    } else {
        own_codec = Codec::new(cap.shares_needed, cap.shares_total).map_err(GatewayError::unexpected)?;
        &own_codec
    };
    let blocks: Vec<(u8, Bytes)> = good.into_iter().collect();
    codec.decode(&blocks, cap.size).map_err(|e| GatewayError::NotEnoughShares { message: e })
}
