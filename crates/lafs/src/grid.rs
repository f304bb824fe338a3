//! Building a grid inside a world (G gateways, N storage servers, one S3
//! node and bucket per server), and reading what is stored at rest, without
//! the network or faults, for the checks at quiescence (through
//! [`BucketsAtRest`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use retrylab_retry::{Policy, PolicyConfig};
use retrylab_s3::{RetryCounters, RetryingStore, S3Config, S3Service, SimS3Client};
use retrylab_sim::{NodeId, SimClock, World};

use crate::admission::OverloadCounts;
use crate::at_rest::BucketsAtRest;
use crate::cap::{Cap, FileCap, MutableCap};
use crate::config::{ConfigError, LafsConfig};
use crate::erasure::Codec;
use crate::error::GatewayError;
use crate::gateway::servermap::Retrieved;
use crate::gateway::{Gateway, ServerHandle};
use crate::hash::Hash;
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
            let server =
                Rc::new(StorageServer::new(i, server_node, store, config.design).with_capacity(config.server_capacity));
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

    /// Requests the storage servers turned away (shed, or timed out in
    /// their queues), summed over the servers.
    pub fn overload_counts(&self) -> OverloadCounts {
        self.servers.iter().map(|s| s.overload_counts()).fold(OverloadCounts::default(), |a, b| OverloadCounts {
            shed: a.shed + b.shed,
            queue_timeouts: a.queue_timeouts + b.queue_timeouts,
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

    /// Every bucket's objects as they stand, read straight from the
    /// services (no network, no faults, no consistency delay).
    pub fn at_rest(&self) -> BucketsAtRest<'_> {
        let buckets = self.services.iter().map(|service| service.borrow().snapshot()).collect();
        self.gateway().at_rest(buckets)
    }

    /// Verifies every stored share of the mutable file `cap` at rest (see
    /// [`BucketsAtRest::verify_mutable`]).
    pub fn verify_mutable_at_rest(&self, cap: &MutableCap) -> Vec<ShareVerdict> {
        self.at_rest().verify_mutable(cap)
    }

    /// The final read at quiescence over the shares at rest (see [`BucketsAtRest::read_mutable`]).
    pub fn read_mutable_at_rest(&self, cap: &MutableCap) -> Result<Retrieved, GatewayError> {
        self.at_rest().read_mutable(cap)
    }

    /// Downloads an immutable file from the shares at rest.
    pub fn download_immutable_at_rest(&self, cap: &FileCap) -> Result<Bytes, GatewayError> {
        self.at_rest().download_immutable(cap)
    }

    /// The entries of a directory at rest.
    pub fn list_directory_at_rest(&self, dir: &Cap) -> Result<BTreeMap<String, Cap>, GatewayError> {
        self.at_rest().list_directory(dir)
    }

    /// Storage indexes with at least one share in any bucket (for checkers).
    pub fn storage_indexes_at_rest(&self) -> BTreeSet<String> {
        self.at_rest().storage_indexes()
    }
}
