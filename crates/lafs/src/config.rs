//! The grid's configuration: encoding, servers, RPC timeout and the design
//! switches, each of which selects a known-bad variant when not the default.
//!
//! These mirror `retrylab-scenario`'s `LafsSpec` and `Design` switch for
//! switch; the harness maps one onto the other, so neither crate depends on
//! the other.

use std::fmt;
use std::time::Duration;

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
}

impl LafsConfig {
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

/// Design switches. `Design::default()` is the safe design.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Design {
    /// How a mutable share is laid out in S3.
    pub share_layout: ShareLayout,
    /// Serialise operations on one storage index within a server.
    pub per_index_lock: bool,
    /// How a server finds the shares of a storage index.
    pub listing: Listing,
    /// How a server makes a mutable write conditional on what it tested.
    pub write_check: WriteCheck,
    /// What the gateway does when a modify (read-modify-write) fails.
    pub modify_retry: ModifyRetry,
}

impl Default for Design {
    fn default() -> Self {
        Design {
            share_layout: ShareLayout::Whole,
            per_index_lock: true,
            listing: Listing::Prefixed,
            write_check: WriteCheck::IfMatch,
            modify_retry: ModifyRetry::Reconcile,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShareLayout {
    /// One S3 object per share (safe).
    Whole,
    /// Known-bad 1 (the write hole, Tahoe-LAFS #1755): a mutable share split
    /// into chunk objects `<key>.<chunk index>` of at most `chunk_bytes`,
    /// written one PUT at a time with no commit step.
    Chunked { chunk_bytes: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing {
    /// LIST with the prefix `shares/<SI[:2]>/<SI>/`, following continuation tokens (safe).
    Prefixed,
    /// Known-bad 3 (Tahoe-LAFS #1678): LIST the whole bucket without a
    /// prefix, read only the first page of 1,000 keys, then filter.
    WholeBucketFirstPage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteCheck {
    /// PUT with `If-Match: <etag of the share tested>` (`If-None-Match: *`
    /// for a share that did not exist); a 412 means the read was stale or
    /// raced, and the tests are re-run on a fresh read (safe).
    IfMatch,
    /// Known-bad 2: trust the (possibly stale) read and overwrite blindly.
    Blind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModifyRetry {
    /// After an indeterminate failure, re-read and check whether the modify
    /// already landed before applying it again (safe).
    Reconcile,
    /// Known-bad 4: re-run the whole read-modify-write after an ambiguous
    /// 500, so a modify that did land is applied twice.
    Replay,
}

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
