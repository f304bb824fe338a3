//! The grid's configuration: encoding, servers, RPC timeout and the design
//! switches (defined once, in `retrylab-design`, for the scenario file too).

use std::fmt;
use std::time::Duration;

pub use retrylab_design::{Design, Listing, ModifyRetry, ReadCheck, ServerCapacity, ShareLayout, WriteCheck};

/// Everything the grid needs besides S3 and the retry policy.
#[derive(Clone, Debug, PartialEq)]
pub struct LafsConfig {
    /// k: shares needed to read.
    pub shares_needed: u8,
    /// N: shares written.
    pub shares_total: u8,
    /// Distinct servers that must hold a share for an immutable upload to count.
    pub servers_of_happiness: u8,
    /// Storage servers, each with its own S3 bucket.
    pub servers: u32,
    /// Gateway-to-server RPC timeout.
    pub rpc_timeout: Duration,
    /// Gateways (client nodes) sharing the storage servers.
    pub gateways: u32,
    pub design: Design,
    /// Each storage server's capacity (default: unlimited).
    pub server_capacity: ServerCapacity,
}

impl LafsConfig {
    /// Shares a mutable publish must place to succeed: max(k, happy, a
    /// majority of N). With the read quorum N - W + k, any read meets at
    /// least k shares of every acknowledged version, so no read misses a
    /// write acknowledged before it began, whatever servers fail to answer.
    /// The majority makes an acknowledged version the only one at its
    /// seqnum that can hold a write quorum, so a reader that meets two
    /// versions at one seqnum (a late write from an earlier writer of a
    /// shared file landing beside the next writer's) can tell which one was
    /// acknowledged.
    pub fn write_quorum(&self) -> usize {
        let majority = usize::from(self.shares_total) / 2 + 1;
        usize::from(self.shares_needed.max(self.servers_of_happiness)).max(majority)
    }

    /// The 2012 set-up: 1-of-1 on one storage server.
    pub fn one_of_one() -> Self {
        LafsConfig {
            shares_needed: 1,
            shares_total: 1,
            servers_of_happiness: 1,
            servers: 1,
            rpc_timeout: Duration::from_secs(60),
            gateways: 1,
            design: Design::default(),
            server_capacity: ServerCapacity::default(),
        }
    }

    /// Tahoe-LAFS's defaults: 3-of-10, happy 7, here on `servers` servers.
    pub fn tahoe_default(servers: u32) -> Self {
        LafsConfig { shares_needed: 3, shares_total: 10, servers_of_happiness: 7, servers, ..LafsConfig::one_of_one() }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.shares_needed == 0 {
            return Err(ConfigError::new("shares_needed", "must be at least 1"));
        }
        if self.shares_total < self.shares_needed {
            return Err(ConfigError::new(
                "shares_total",
                format!("must be >= shares_needed ({}), got {}", self.shares_needed, self.shares_total),
            ));
        }
        if self.servers_of_happiness == 0 || self.servers_of_happiness > self.shares_total {
            return Err(ConfigError::new(
                "servers_of_happiness",
                format!("must be in 1..={} (shares_total), got {}", self.shares_total, self.servers_of_happiness),
            ));
        }
        if self.servers == 0 || self.servers > SERVERS_MAX {
            return Err(ConfigError::new("servers", format!("must be in 1..={SERVERS_MAX}, got {}", self.servers)));
        }
        if self.gateways == 0 || self.gateways > GATEWAYS_MAX {
            return Err(ConfigError::new("gateways", format!("must be in 1..={GATEWAYS_MAX}, got {}", self.gateways)));
        }
        if self.rpc_timeout.is_zero() {
            return Err(ConfigError::new("rpc_timeout", "must be > 0"));
        }
        let capacity = &self.server_capacity;
        if capacity.concurrency_max == Some(0) {
            return Err(ConfigError::new("server_concurrency_max", "must be at least 1"));
        }
        if capacity.is_unlimited() && (capacity.queue_max.is_some() || capacity.queue_timeout.is_some()) {
            return Err(ConfigError::new(
                "server_concurrency_max",
                "a queue bound or timeout needs a concurrency limit",
            ));
        }
        if capacity.queue_timeout.is_some_and(|timeout| timeout.is_zero()) {
            return Err(ConfigError::new("server_queue_timeout", "must be > 0"));
        }
        if let ShareLayout::Chunked { chunk_bytes } = self.design.share_layout {
            if chunk_bytes == 0 {
                return Err(ConfigError::new("chunk_bytes", "must be at least 1"));
            }
        }
        Ok(())
    }
}

/// More servers than shares could ever use is a configuration mistake, and
/// each server costs a node, a bucket and a retry layer.
pub const SERVERS_MAX: u32 = 256;

/// Each gateway is a node with its own caps and secrets; more than this is a
/// mistake of units (the scenario loader has the same bound).
pub const GATEWAYS_MAX: u32 = 10_000;

/// Why a grid cannot be built; `field` names the parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub field: &'static str,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        ConfigError { field, message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ConfigError {}
