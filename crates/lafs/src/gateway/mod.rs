//! The gateway: one node that talks to every storage server over the
//! simulated network and offers Tahoe-LAFS's web-API operations: mutable
//! `put`/`get`/`modify`, immutable `upload`/`download`, directories, `backup`.
//!
//! Every server request is an RPC (`Network::call`) whose handler runs as a
//! task of the server's node; a network failure becomes a gateway-side
//! server failure, and a handler whose caller gave up goes on running, as a
//! real server's would.

mod backup;
mod dirnode;
mod immutable;
mod modify;
mod mutable;
pub mod servermap;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;

use rand::RngCore;
use retrylab_faults::SimRng;
use retrylab_sim::{EventKind, NetError, NodeId, World};

use crate::host::Host;

use crate::config::LafsConfig;
use crate::erasure::Codec;
use crate::error::{RpcError, ServerError};
use crate::server::StorageServer;

pub(crate) use immutable::decode_immutable;

pub use backup::{BackupItem, BackupReport, BackupRoot};
pub use dirnode::{parse_entries, serialize_entries, AddChild, SetChild};
pub use modify::{AppendLine, Modified, Modifier, MODIFY_RETRY_NOTE, MODIFY_TRIES_MAX};
pub use servermap::Retrieved;

/// The gateway's end of one storage server: the node it runs on, and the
/// server the host's call runs the request on.
pub struct ServerHandle<H: Host = World> {
    pub node: NodeId,
    pub server: Rc<StorageServer<H>>,
}

impl Gateway {
    /// The node name of gateway `index`: `gateway`, then `gateway.1`, ...
    pub fn name(index: u32) -> String {
        if index == 0 {
            "gateway".to_owned()
        } else {
            format!("gateway.{index}")
        }
    }
}

/// One Tahoe-LAFS gateway (client node), on host `H` (a simulated world by
/// default; see [`Host`]).
pub struct Gateway<H: Host = World> {
    host: H,
    /// Which of the grid's gateways this is (0-based).
    index: u32,
    node: NodeId,
    servers: Rc<Vec<ServerHandle<H>>>,
    config: LafsConfig,
    /// Shared by the grid's gateways: building one is costly.
    codec: Rc<Codec>,
    /// Caps and salts.
    rng: RefCell<SimRng>,
    /// Jitter of modify's backoff (its own stream, so retries do not shift caps or salts).
    backoff_rng: RefCell<SimRng>,
    /// Tahoe-LAFS's convergence secret: immutable storage indexes hash the content with it.
    convergence: [u8; 32],
    /// The highest seqnum this gateway has tried to publish, per mutable
    /// file: a failed publish may leave shares the next servermap does not
    /// meet, and publishing that seqnum again would name two versions.
    attempted: RefCell<BTreeMap<crate::cap::StorageIndex, u64>>,
    /// The checkstring of the last version this gateway published with
    /// success, per mutable file: the version servers keep when a later
    /// publish replaces it (an acknowledged write must stay recoverable).
    acknowledged: RefCell<BTreeMap<crate::cap::StorageIndex, bytes::Bytes>>,
}

impl<H: Host> Gateway<H> {
    /// Gateway `index` of a grid, on `node`: its random streams are named
    /// after it, so adding gateways does not change what the first one draws.
    pub fn new(
        host: &H,
        index: u32,
        node: NodeId,
        servers: Rc<Vec<ServerHandle<H>>>,
        config: LafsConfig,
        codec: Rc<Codec>,
    ) -> Self {
        // Gateway 0 keeps the names of the one-gateway grid (and so its
        // draws, and the results recorded in docs/).
        let suffix = if index == 0 { String::new() } else { format!(".{index}") };
        let mut convergence = [0u8; 32];
        host.rng(&format!("lafs.convergence{suffix}")).fill_bytes(&mut convergence);
        Gateway {
            host: host.clone(),
            index,
            node,
            servers,
            config,
            codec,
            rng: RefCell::new(host.rng(&format!("lafs.gateway{suffix}"))),
            backoff_rng: RefCell::new(host.rng(&format!("lafs.gateway{suffix}.backoff"))),
            convergence,
            attempted: RefCell::new(BTreeMap::new()),
            acknowledged: RefCell::new(BTreeMap::new()),
        }
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn node(&self) -> NodeId {
        self.node
    }

    pub fn config(&self) -> &LafsConfig {
        &self.config
    }

    pub(crate) fn codec(&self) -> &Codec {
        &self.codec
    }

    fn server_count(&self) -> u32 {
        u32::try_from(self.servers.len()).unwrap_or(u32::MAX)
    }

    /// Share i lives on server i mod servers.
    fn shares_on(&self, server: u32) -> impl Iterator<Item = u8> {
        let servers = self.server_count().max(1);
        (0..self.config.shares_total).filter(move |share| u32::from(*share) % servers == server)
    }

    fn note(&self, what: &'static str, value: u64) {
        if let Some(trace) = self.host.trace() {
            trace.record(self.node, EventKind::Note { what, value });
        }
    }

    /// Calls `request` on server `server` over the network.
    async fn call<T, F, Fut>(&self, server: u32, request: F) -> Result<T, RpcError>
    where
        T: 'static,
        F: FnOnce(Rc<StorageServer<H>>) -> Fut + 'static,
        Fut: Future<Output = Result<T, ServerError>> + 'static,
    {
        let Some(handle) = self.servers.get(server as usize) else { return Err(RpcError::Net(NetError::Refused)) };
        let target = handle.server.clone();
        // The server's admission gate first: a request it turns away never runs.
        let serve = move || async move {
            let _slot = target.admit().await?;
            request(target).await
        };
        let answer = self.host.call(self.node, handle.node, self.config.rpc_timeout, serve).await;
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(RpcError::Server(error)),
            Err(error) => Err(RpcError::Net(error)),
        }
    }
}
