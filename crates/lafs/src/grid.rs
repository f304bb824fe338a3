//! Building a grid inside a world (G gateways, N storage servers, one S3
//! node and bucket per server), and reading what is stored at rest, without
//! the network or faults, for the checks at quiescence.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::FutureExt;
use retrylab_retry::{Policy, PolicyConfig};
use retrylab_s3::{RetryCounters, RetryingStore, S3Config, S3Service, SimS3Client};
use retrylab_sim::{NodeId, SimClock, World};

use crate::cap::{Cap, FileCap, MutableCap, StorageIndex};
use crate::config::{ConfigError, LafsConfig};
use crate::container::{decode_container, parse_share_key, ContainerKind, Piece};
use crate::erasure::Codec;
use crate::error::GatewayError;
use crate::gateway::servermap::{retrieve, Retrieved, ServerMap};
use crate::gateway::{parse_entries, Gateway, ServerHandle};
use crate::hash::Hash;
use crate::mutable_share::verify_share;
use crate::server::StorageServer;

/// The verdict on one stored share of a mutable file at rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShareVerdict {
    /// Container, signature, block hash tree, share hash chain and root hash
    /// all check. `contents` is the file when one share suffices (k = 1).
    Valid { server: u32, share: u8, seqnum: u64, root_hash: Hash, contents: Option<Bytes> },
    /// The share fails a check; `reason` says which.
    Corrupt { server: u32, share: u8, reason: String },
}

/// One grid. Each storage server has its own S3 node and its own
/// `S3Service` (its bucket), seeded `s3.<i>`, and its own retry layer,
/// seeded `policy.<i>`: servers do not share S3's fault slots, as two
/// buckets of a real deployment would not. Every gateway talks to every
/// server, so the gateways share each server's one S3 client and retry
/// quota.
pub struct Grid {
    gateways: Vec<Gateway>,
    servers: Vec<Rc<StorageServer>>,
    services: Vec<Rc<RefCell<S3Service>>>,
    s3_nodes: Vec<NodeId>,
}

impl Grid {
    /// Builds the grid's nodes in `world`: `storage-server.<i>` and `s3.<i>`
    /// for each server i, then the gateways (see [`Gateway::name`]).
    pub fn new(
        world: &World,
        config: LafsConfig,
        s3: S3Config,
        request_timeout: Duration,
        policy: &PolicyConfig,
    ) -> Result<Grid, ConfigError> {
        config.validate()?;
        if request_timeout.is_zero() {
            return Err(ConfigError::new("request_timeout", "must be > 0"));
        }
        policy.validate().map_err(|e| ConfigError::new(e.field, e.message))?;
        s3.faults.validate().map_err(|e| ConfigError::new(e.field, e.message))?;
        let codec = Rc::new(
            Codec::new(config.shares_needed, config.shares_total).map_err(|e| ConfigError::new("shares_total", e))?,
        );
        let net = world.net();
        // Gateway nodes first: with one gateway, the node ids are those of
        // the one-gateway grid.
        let gateway_nodes: Vec<NodeId> = (0..config.gateways).map(|g| net.add_node(&Gateway::name(g))).collect();
        let mut servers = Vec::new();
        let mut services = Vec::new();
        let mut s3_nodes = Vec::new();
        let mut handles = Vec::new();
        for i in 0..config.servers {
            let server_node = net.add_node(&format!("storage-server.{i}"));
            let s3_node = net.add_node(&format!("s3.{i}"));
            let service = Rc::new(RefCell::new(S3Service::new(s3.clone(), world.sub_seed(&format!("s3.{i}")))));
            let client = SimS3Client::new(world.clone(), service.clone(), server_node, s3_node, request_timeout);
            let store = RetryingStore::new(
                client,
                SimClock,
                Policy::new(policy.clone(), world.sub_seed(&format!("policy.{i}"))),
            )
            .with_trace(world.trace().clone(), server_node);
            let server = Rc::new(StorageServer::new(i, server_node, store, config.design));
            handles.push(ServerHandle { node: server_node, server: server.clone() });
            servers.push(server);
            services.push(service);
            s3_nodes.push(s3_node);
        }
        let handles = Rc::new(handles);
        let gateways = (0u32..)
            .zip(gateway_nodes)
            .map(|(g, node)| Gateway::new(world, g, node, handles.clone(), config.clone(), codec.clone()))
            .collect();
        Ok(Grid { gateways, servers, services, s3_nodes })
    }

    /// The first gateway (the only one, unless the config says otherwise).
    pub fn gateway(&self) -> &Gateway {
        &self.gateways[0]
    }

    pub fn gateways(&self) -> &[Gateway] {
        &self.gateways
    }

    pub fn servers(&self) -> &[Rc<StorageServer>] {
        &self.servers
    }

    /// Server i's bucket (for checkers, and to preload objects).
    pub fn s3_services(&self) -> &[Rc<RefCell<S3Service>>] {
        &self.services
    }

    pub fn s3_nodes(&self) -> &[NodeId] {
        &self.s3_nodes
    }

    /// Retry-layer totals summed over the servers.
    pub fn retry_counters(&self) -> RetryCounters {
        self.servers.iter().map(|s| s.retry_counters()).fold(RetryCounters::default(), |a, b| RetryCounters {
            attempts: a.attempts + b.attempts,
            retries: a.retries + b.retries,
            gave_up: a.gave_up + b.gave_up,
            hedges: a.hedges + b.hedges,
            quota_exhausted: a.quota_exhausted + b.quota_exhausted,
        })
    }

    /// S3 requests handled, summed over the buckets.
    pub fn s3_requests(&self) -> u64 {
        self.services.iter().map(|s| s.borrow().requests_handled()).sum()
    }

    /// S3 faults injected, summed over the buckets.
    pub fn faults_injected(&self) -> u64 {
        self.services.iter().map(|s| s.borrow().faults_injected()).sum()
    }

    /// Requests that arrived inside each scripted outage, summed over the
    /// servers' buckets, in the fault model's order.
    pub fn outage_requests(&self) -> Vec<u64> {
        let mut total: Vec<u64> = Vec::new();
        for service in &self.services {
            let service = service.borrow();
            let counts = service.outage_requests();
            total.resize(total.len().max(counts.len()), 0);
            for (sum, count) in total.iter_mut().zip(counts) {
                *sum += count;
            }
        }
        total
    }

    /// Every stored share of `storage_index`: (server, share, its container
    /// bytes, assembled from chunks where chunked).
    fn containers_at_rest(&self, storage_index: &StorageIndex) -> Vec<(u32, u8, Bytes)> {
        let prefix = storage_index.share_prefix();
        let mut out = Vec::new();
        for (server, service) in (0u32..).zip(&self.services) {
            let mut pieces: BTreeMap<u8, BTreeMap<Piece, Bytes>> = BTreeMap::new();
            for (key, body) in service.borrow().snapshot() {
                if let Some((share, piece)) = parse_share_key(&prefix, &key) {
                    pieces.entry(share).or_default().insert(piece, body);
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
    fn previous_at_rest(&self, storage_index: &StorageIndex) -> Vec<(u32, u8, Bytes)> {
        let prefix = storage_index.share_prefix();
        let mut out = Vec::new();
        for (server, service) in (0u32..).zip(&self.services) {
            for (key, body) in service.borrow().snapshot() {
                if let Some((share, Piece::Previous)) = parse_share_key(&prefix, &key) {
                    out.push((server, share, body));
                }
            }
        }
        out
    }

    /// Verifies every stored share of the mutable file `cap` (not the kept
    /// previous versions), straight from the buckets (no network, no faults,
    /// no consistency delay).
    pub fn verify_mutable_at_rest(&self, cap: &MutableCap) -> Vec<ShareVerdict> {
        let k = self.gateway().config().shares_needed;
        self.containers_at_rest(&cap.storage_index)
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
    pub fn read_mutable_at_rest(&self, cap: &MutableCap) -> Result<Retrieved, GatewayError> {
        let mut map = ServerMap::default();
        for (server, share, container) in self.containers_at_rest(&cap.storage_index) {
            match decode_container(&container) {
                Ok((_, data)) => map.add(cap, server, share, data),
                Err(reason) => map.mark_bad(server, share, format!("container: {reason}")),
            }
        }
        for (server, share, container) in self.previous_at_rest(&cap.storage_index) {
            if let Ok((_, data)) = decode_container(&container) {
                map.add_previous(cap, server, share, data);
            }
        }
        // Whole shares are in the map, so retrieve never needs to fetch.
        let fetch = |_, _, _, _| async { Ok(None) };
        retrieve(&mut map, self.gateway().codec(), fetch)
            .now_or_never()
            .unwrap_or_else(|| Err(GatewayError::unexpected("at-rest retrieve waited")))
    }

    /// Downloads an immutable file from the shares at rest.
    pub fn download_immutable_at_rest(&self, cap: &FileCap) -> Result<Bytes, GatewayError> {
        let cap = match cap {
            FileCap::Literal(literal) => return Ok(literal.data.clone()),
            FileCap::Immutable(cap) => *cap,
        };
        let mut stored: BTreeMap<(u32, u8), Bytes> = BTreeMap::new();
        for (server, share, container) in self.containers_at_rest(&cap.storage_index) {
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
        crate::gateway::decode_immutable(&cap, self.gateway().codec(), &candidates, &mut last_failure, read)
            .now_or_never()
            .unwrap_or_else(|| Err(GatewayError::unexpected("at-rest download waited")))
    }

    /// The entries of a directory at rest.
    pub fn list_directory_at_rest(&self, dir: &Cap) -> Result<BTreeMap<String, Cap>, GatewayError> {
        match dir {
            Cap::MutableDir(cap) => parse_entries(&self.read_mutable_at_rest(cap)?.contents),
            Cap::ImmutableDir(cap) => parse_entries(&self.download_immutable_at_rest(cap)?),
            Cap::File(_) | Cap::MutableFile(_) => Err(GatewayError::unexpected(format!("{dir} is not a directory"))),
        }
    }

    /// Storage indexes with at least one share in any bucket (for checkers).
    pub fn storage_indexes_at_rest(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for service in &self.services {
            for (key, _) in service.borrow().snapshot() {
                if let Some(si) = key.split('/').nth(2) {
                    out.insert(si.to_owned());
                }
            }
        }
        out
    }
}
