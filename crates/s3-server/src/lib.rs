//! A real S3-compatible server on loopback for real mode: s3s serving a
//! temporary directory through s3s-fs, with the simulator's fault model
//! injected on the wire.
//!
//! Real mode runs retrylab's retry layer, storage server and gateway on
//! tokio over HTTP against this server. Every request arriving takes the
//! next slot (0, 1, 2, ...) and meets the fault model through
//! [`retrylab_s3::FaultPlan`], the type the simulated S3 decides with, at
//! virtual time `now` = wall time since the start / `time_scale`; a seed
//! therefore gives the same fault in the same slot in both worlds. Virtual
//! durations (latencies, the request timeout) take `time_scale` times as
//! long in wall time.
//!
//! - no fault: the request is applied, then answered after the slot's
//!   latency (its error latency if the answer is an S3 error);
//! - a fault: an ambiguous write is applied first; after the slot's error
//!   latency the answer is `500 InternalError` or `503 SlowDown` with S3's
//!   XML body, or the connection is reset (no status line); a timeout is
//!   never answered (its connection is dropped after 4 request timeouts).
//!
//! The server listens on `127.0.0.1` only, checks SigV4 signatures (header
//! or presigned) made with [`ACCESS_KEY`] and [`SECRET_KEY`], and takes
//! path-style addresses (`http://127.0.0.1:PORT/bucket/key`).
//!
//! Where it differs from S3: keys are files under the bucket's directory,
//! so a key cannot also be the "directory" of another (`a` and `a/b`), and
//! keys ending in `/` are directories; two conditional writes to one key
//! are serialised (the second sees the first's result, 412) where S3 may
//! answer `409 ConditionalRequestConflict`; only the single-part object
//! operations, ListObjectsV2 and bucket HEAD/creation are served.

mod listener;
mod scratch;
mod store;
mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use retrylab_faults::{FaultModel, LatencyDist};
use retrylab_s3::FaultPlan;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::scratch::ScratchDir;
use crate::store::ConsistentStore;
pub use crate::wire::WireCounts;
use crate::wire::{TimeScale, Wire};

/// The access key every request is signed with.
pub const ACCESS_KEY: &str = "retrylab";
/// The secret key every request is signed with.
pub const SECRET_KEY: &str = "retrylab-secret";
/// The region of the signatures' credential scope.
pub const REGION: &str = "us-east-1";

/// The largest `time_scale`: a thousand times slower than real time.
pub const TIME_SCALE_MAX: f64 = 1e3;

/// What the server serves and how it fails.
#[derive(Clone, Debug, PartialEq)]
pub struct WireConfig {
    pub faults: FaultModel,
    /// Service time of an answer that succeeds (virtual).
    pub latency: LatencyDist,
    /// Service time of an error answer or an injected fault (virtual); `None` is `latency`.
    pub error_latency: Option<LatencyDist>,
    /// The service seed, as `S3Service::new` gets it.
    pub seed: u64,
    /// Wall time per unit of virtual time, in (0, [`TIME_SCALE_MAX`]]: 1.0 is
    /// real time, 0.01 runs a 945 ms latency in 9.45 ms.
    pub time_scale: f64,
    /// The clients' request timeout (virtual): an injected timeout holds
    /// its request for four of these before dropping the connection.
    pub request_timeout: Duration,
    /// Buckets created at the start (S3 bucket names: 3 to 63 of `a-z0-9.-`).
    pub buckets: Vec<String>,
}

impl WireConfig {
    /// A server without faults or added latency, in real time, serving `buckets`.
    pub fn healthy(buckets: &[&str]) -> Self {
        WireConfig {
            faults: FaultModel::default(),
            latency: LatencyDist::constant_ms(0.0),
            error_latency: None,
            seed: 0,
            time_scale: 1.0,
            request_timeout: Duration::from_secs(30),
            buckets: buckets.iter().map(|bucket| (*bucket).to_owned()).collect(),
        }
    }

    fn validate(&self) -> Result<(), ServerError> {
        let config = |field: &'static str, message: String| Err(ServerError::Config { field, message });
        if !(self.time_scale.is_finite() && self.time_scale > 0.0 && self.time_scale <= TIME_SCALE_MAX) {
            return config("time_scale", format!("must be in (0, {TIME_SCALE_MAX}], got {}", self.time_scale));
        }
        if let Err(error) = self.faults.validate() {
            return config("faults", error.to_string());
        }
        if let Err(error) = self.latency.validate() {
            return config("latency", error.to_string());
        }
        if let Some(Err(error)) = self.error_latency.as_ref().map(LatencyDist::validate) {
            return config("error_latency", error.to_string());
        }
        if let Some(bucket) = self.buckets.iter().find(|bucket| !is_bucket_name(bucket)) {
            return config("buckets", format!("{bucket:?} is not an S3 bucket name (3 to 63 of a-z, 0-9, '.', '-')"));
        }
        Ok(())
    }
}

fn is_bucket_name(name: &str) -> bool {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    let alphanumeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name.chars().all(allowed)
        && alphanumeric(name.chars().next())
        && alphanumeric(name.chars().last())
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{field}: {message}")]
    Config { field: &'static str, message: String },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

/// A running server. Dropping it stops it (and removes its directory);
/// [`RealS3Server::shutdown`] also waits for its connections to close.
pub struct RealS3Server {
    address: SocketAddr,
    wire: Arc<Wire>,
    stop: Option<oneshot::Sender<()>>,
    accept_loop: Option<JoinHandle<()>>,
    /// Declared last: removed after the accept loop is stopped.
    _directory: ScratchDir,
}

impl RealS3Server {
    /// Starts a server on `127.0.0.1` (a free port) on the current tokio
    /// runtime, with a fresh temporary directory holding `config.buckets`.
    pub async fn start(config: WireConfig) -> Result<RealS3Server, ServerError> {
        config.validate()?;
        let directory = ScratchDir::create()?;
        for bucket in &config.buckets {
            let path = directory.path().join(bucket);
            std::fs::create_dir_all(&path).map_err(|source| io_error(format!("create bucket {path:?}"), source))?;
        }
        let fs = s3s_fs::FileSystem::new(directory.path()).map_err(|error| ServerError::Io {
            context: format!("open {:?}", directory.path()),
            source: std::io::Error::other(format!("{error:?}")),
        })?;
        let mut builder = S3ServiceBuilder::new(ConsistentStore::new(fs, &config.buckets));
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let scale = TimeScale(config.time_scale);
        let plan = FaultPlan::new(config.faults, config.latency, config.error_latency, config.seed);
        let timeout_hold = scale.wall(config.request_timeout.saturating_mul(4));
        let wire = Arc::new(Wire::new(builder.build(), plan, scale, timeout_hold));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|source| io_error("bind 127.0.0.1:0".into(), source))?;
        let address = listener.local_addr().map_err(|source| io_error("read the bound address".into(), source))?;
        let (stop, stopped) = oneshot::channel();
        let accept_loop = tokio::spawn(listener::serve(listener, wire.clone(), stopped));
        Ok(RealS3Server { address, wire, stop: Some(stop), accept_loop: Some(accept_loop), _directory: directory })
    }

    /// `http://127.0.0.1:PORT`, the endpoint for path-style requests.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// What was injected so far (readable while requests run).
    pub fn faults_injected(&self) -> WireCounts {
        self.wire.counts()
    }

    /// While `on`, requests are set-up (objects a GET workload reads must
    /// exist before it starts): served at once, taking no slot, meeting no
    /// fault and no latency, as the simulated service's `preload`.
    pub fn set_preloading(&self, on: bool) {
        self.wire.set_preloading(on);
    }

    /// No more faults from now on: checkers read the state at rest through
    /// the same server.
    pub fn heal(&self) {
        self.wire.heal();
    }

    /// Stops accepting, closes every open connection and removes the directory.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(accept_loop) = self.accept_loop.take() {
            let _ = accept_loop.await;
        }
    }
}

impl Drop for RealS3Server {
    fn drop(&mut self) {
        // Not shut down: the loop is cancelled, which drops its connections.
        if let Some(accept_loop) = self.accept_loop.take() {
            accept_loop.abort();
        }
    }
}

fn io_error(context: String, source: std::io::Error) -> ServerError {
    ServerError::Io { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for good in ["abc", "retrylab", "a.b-c", &"a".repeat(63)] {
            assert!(is_bucket_name(good), "{good}");
        }
        for bad in ["ab", "Abc", "-abc", "abc-", "a_b", "", &"a".repeat(64)] {
            assert!(!is_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn bad_configs_name_their_field() {
        let field = |config: WireConfig| match config.validate() {
            Err(ServerError::Config { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let healthy = WireConfig::healthy(&["bucket"]);
        for time_scale in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e4] {
            assert_eq!(field(WireConfig { time_scale, ..healthy.clone() }), "time_scale");
        }
        assert_eq!(field(WireConfig { faults: FaultModel::independent(2.0), ..healthy.clone() }), "faults");
        assert_eq!(field(WireConfig { latency: LatencyDist::constant_ms(-1.0), ..healthy.clone() }), "latency");
        assert_eq!(field(WireConfig::healthy(&["Bad_Bucket"])), "buckets");
        assert!(healthy.validate().is_ok());
    }
}
