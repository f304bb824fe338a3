//! A Tahoe-LAFS-style grid on the simulated world: one gateway, N storage
//! servers that keep shares in S3 through the scenario's retry policy, and
//! the design switches that select the known-bad variants of 2012-2013.
//!
//! Code map:
//!
//! - [`config`]: [`LafsConfig`] and the [`Design`] switches (mirroring
//!   `retrylab-scenario`'s, which the harness maps onto these).
//! - [`grid`]: [`Grid::new`] builds the nodes inside a world; at-rest reads
//!   (`verify_mutable_at_rest`, `read_mutable_at_rest`, ...) for checkers.
//! - [`gateway`]: the web-API operations (`put`, `get`, `modify`, `upload`,
//!   `download`, directories, `backup`), servermap and retrieve.
//! - [`server`]: the storage server's remote interface over S3 objects;
//!   [`admission`]: its gate (concurrency limit, FIFO queue, load shedding).
//! - [`mutable_share`], [`immutable_share`], [`container`]: share formats,
//!   the container a server wraps a share in, S3 keys.
//! - [`erasure`] (k-of-N Reed-Solomon), [`hash`] (tagged hashes, HMAC,
//!   base32, Merkle trees), [`cap`] (capabilities), [`error`], [`lock`].
//!
//! Where the model simplifies Tahoe-LAFS 1.9 (each matters little to the
//! retry questions): no encryption (a per-version salt is hashed into the
//! block hashes instead), HMAC-SHA256 under the write key instead of RSA
//! signatures, single-round tagged SHA-256, one segment per mutable file,
//! share and container formats of its own; fixed placement (share i on
//! server i mod servers) with no re-placement of a share whose server
//! failed; servermap updates query every server in both modes; immutable
//! files are one segment with a UEB hash over the block hashes; directories
//! carry no metadata; `backup` keeps no backup database.
//!
//! Determinism: every random draw comes from `World::rng` streams
//! (`lafs.gateway`, `lafs.gateway.backoff`, `lafs.convergence`) or sub-seeds
//! (`s3.<i>`, `policy.<i>`); collections are B-trees; nothing reads a wall
//! clock. No input or fault panics: failures are errors.

pub mod admission;
pub mod at_rest;
pub mod cap;
pub mod config;
pub mod container;
pub mod erasure;
pub mod error;
pub mod gateway;
pub mod grid;
pub mod hash;
pub mod host;
pub mod immutable_share;
pub mod lock;
pub mod mutable_share;
pub mod server;

pub use admission::{Overload, OverloadCounts};
pub use at_rest::BucketsAtRest;
pub use cap::{Cap, FileCap, ImmutableCap, LiteralCap, MutableCap, StorageIndex, LITERAL_BYTES_MAX};
pub use config::{
    ConfigError, Design, LafsConfig, Listing, ModifyRetry, ReadCheck, ServerCapacity, ShareLayout, WriteCheck,
};
pub use error::{GatewayError, Outcome, RpcError, ServerError, WriteError};
pub use gateway::{
    parse_entries, AddChild, AppendLine, BackupItem, BackupReport, BackupRoot, Gateway, Modified, Modifier, Retrieved,
    ServerHandle, SetChild, MODIFY_RETRY_NOTE,
};
pub use grid::{Grid, ShareVerdict};
pub use host::Host;
pub use server::{ReadData, StorageServer, TestAndWrite, TestOp, TestVector, WriteVector};
