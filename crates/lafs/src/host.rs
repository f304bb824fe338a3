//! [`Host`]: what storage servers and gateways need from the world they run
//! in, the one seam between simulation (madsim, [`World`]) and real mode
//! (tokio over HTTP, `retrylab-real`).
//!
//! Everything above the seam (the retry layer, the storage server's remote
//! interface over S3 objects, the gateway's publish, retrieve and modify
//! loops) is one copy of code, compiled once per host. A host gives:
//! - the S3 client under each server's retry layer ([`Host::S3`]): the
//!   simulated client in a world, an HTTP client in real mode;
//! - the clock and sleeper the retry layers and the modify loop use
//!   ([`Host::Clock`]): virtual time, or wall time scaled back to virtual;
//! - named random streams derived from the run's seed ([`Host::rng`]), so a
//!   gateway's caps, salts and backoff jitter are the same in both modes;
//! - the trace, in simulation only;
//! - the gateway-to-server call ([`Host::call`]): an RPC over the simulated
//!   network, or an in-process call with a timeout in real mode.

use std::future::Future;
use std::time::Duration;

use retrylab_faults::SimRng;
use retrylab_s3::{Clock, ObjectStore, SimS3Client};
use retrylab_sim::{NetError, NodeId, SimClock, Trace, World};

/// The world a grid runs in. Cheap to clone.
pub trait Host: Clone + 'static {
    /// The S3 client a storage server's retry layer wraps.
    type S3: ObjectStore + 'static;
    /// Time for retry delays, backoff and lease expiry.
    type Clock: Clock + Clone + 'static;

    fn clock(&self) -> Self::Clock;

    /// The random stream `label` of the run's seed.
    fn rng(&self, label: &str) -> SimRng;

    /// The run's trace, when there is one (simulation).
    fn trace(&self) -> Option<&Trace>;

    /// Runs `serve` as a request from node `from` to node `to`, with a
    /// timeout; a handler whose caller gave up goes on running, as a real
    /// server's would.
    fn call<T, F>(
        &self,
        from: NodeId,
        to: NodeId,
        timeout: Duration,
        serve: impl FnOnce() -> F + 'static,
    ) -> impl Future<Output = Result<T, NetError>>
    where
        T: 'static,
        F: Future<Output = T> + 'static;
}

/// The simulated world: madsim's virtual time, the world's seeded streams,
/// its trace and its network.
impl Host for World {
    type S3 = SimS3Client;
    type Clock = SimClock;

    fn clock(&self) -> SimClock {
        SimClock
    }

    fn rng(&self, label: &str) -> SimRng {
        World::rng(self, label)
    }

    fn trace(&self) -> Option<&Trace> {
        Some(World::trace(self))
    }

    fn call<T, F>(
        &self,
        from: NodeId,
        to: NodeId,
        timeout: Duration,
        serve: impl FnOnce() -> F + 'static,
    ) -> impl Future<Output = Result<T, NetError>>
    where
        T: 'static,
        F: Future<Output = T> + 'static,
    {
        self.net().call(from, to, timeout, serve)
    }
}
