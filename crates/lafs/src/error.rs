//! Errors at the two boundaries: what a storage server tells the gateway
//! ([`ServerError`], a protocol error, never a raw S3 exception), and what
//! the gateway tells its web client ([`GatewayError`], with Tahoe-LAFS's
//! names and web statuses), plus the Jepsen outcome of a write.

use std::fmt;

use retrylab_retry::{ErrorClass, GiveUp};
use retrylab_s3::{Retryable, StoreError};
use retrylab_sim::NetError;

use crate::admission::Overload;

/// A storage server's answer when a request fails. The 2012 server leaked a
/// `TahoeS3Error` its RPC layer could not serialise ("foolscap.tokens.
/// Violation ... cannot serialize"); here an S3 failure crosses the boundary
/// as plain data the gateway understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerError {
    /// S3 failed (after the server's retry policy gave up). `indeterminate`:
    /// a write of this request may have landed (an ambiguous S3 failure of a
    /// PUT or DELETE, or an earlier PUT of the same request that succeeded).
    S3 { status: Option<u16>, code: &'static str, indeterminate: bool },
    /// The caller's write enabler does not match the share's.
    BadWriteEnabler,
    /// The share asked for does not exist.
    NoSuchShare,
    /// A bucket write or close for a share that was never allocated here.
    BucketNotAllocated,
    /// A share's container cannot be parsed (e.g. a chunk is missing).
    CorruptContainer { share: u8, reason: &'static str },
    /// The request itself is malformed (e.g. a write far beyond any share).
    BadRequest { reason: &'static str },
    /// A conditional write conflicted after another share of the same
    /// request had already been written: the request is half done.
    PartialWrite { shares_written: u8 },
    /// Every GET of a share returned an older object than the listing names
    /// (2012 eventual consistency): the server will not serve a stale share.
    /// `indeterminate`: the read was a write's re-read, and that write's
    /// earlier attempt may have landed.
    StaleShare { share: u8, indeterminate: bool },
    /// The server turned the request away before running it (its queue was
    /// full, or the request waited too long for a slot): nothing changed,
    /// and trying again later may succeed.
    Overloaded { reason: Overload },
}

impl ServerError {
    /// An S3 failure; `indeterminate` as the caller judges it (a failed
    /// read never is; a failed write is when S3's answer was ambiguous or an
    /// earlier write of the request landed).
    pub(crate) fn from_store(error: StoreError, indeterminate: bool) -> Self {
        ServerError::S3 { status: error.status(), code: error.name(), indeterminate }
    }

    /// Whether the request may have changed stored state.
    pub fn is_indeterminate(&self) -> bool {
        match self {
            ServerError::S3 { indeterminate, .. } | ServerError::StaleShare { indeterminate, .. } => *indeterminate,
            ServerError::PartialWrite { .. } => true,
            ServerError::BadWriteEnabler
            | ServerError::NoSuchShare
            | ServerError::BucketNotAllocated
            | ServerError::CorruptContainer { .. }
            | ServerError::BadRequest { .. }
            | ServerError::Overloaded { .. } => false,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            ServerError::S3 { .. } => "S3Error",
            ServerError::BadWriteEnabler => "BadWriteEnablerError",
            ServerError::NoSuchShare => "NoSuchShare",
            ServerError::BucketNotAllocated => "BucketNotAllocated",
            ServerError::CorruptContainer { .. } => "CorruptContainer",
            ServerError::BadRequest { .. } => "BadRequest",
            ServerError::PartialWrite { .. } => "PartialWrite",
            ServerError::StaleShare { .. } => "StaleShare",
            ServerError::Overloaded { .. } => "ServerOverloaded",
        }
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::S3 { status, code, indeterminate } => {
                match status {
                    Some(status) => write!(f, "S3Error: {status} {code}")?,
                    None => write!(f, "S3Error: {code} (no status line)")?,
                }
                if *indeterminate {
                    f.write_str(" (write may have landed)")?;
                }
                Ok(())
            }
            ServerError::CorruptContainer { share, reason } => write!(f, "CorruptContainer: share {share}: {reason}"),
            ServerError::BadRequest { reason } => write!(f, "BadRequest: {reason}"),
            ServerError::StaleShare { share, .. } => {
                write!(f, "StaleShare: share {share}: every GET returned an older object than the listing")
            }
            ServerError::PartialWrite { shares_written } => {
                write!(f, "PartialWrite: {shares_written} shares written before a conflict")
            }
            ServerError::Overloaded { reason } => write!(f, "ServerOverloaded: {}", reason.name()),
            other => f.write_str(other.name()),
        }
    }
}

impl std::error::Error for ServerError {}

/// A gateway-to-server call that failed: in transit, or at the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RpcError {
    Net(NetError),
    Server(ServerError),
}

impl RpcError {
    /// Whether the request may have changed state at the server: a refused
    /// connection never reached it; a timeout or reset may have run it.
    pub fn is_indeterminate(&self) -> bool {
        match self {
            RpcError::Net(NetError::Refused) => false,
            RpcError::Net(NetError::Timeout | NetError::Reset) => true,
            RpcError::Server(error) => error.is_indeterminate(),
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcError::Net(error) => write!(f, "RPC {}", error.name()),
            RpcError::Server(error) => error.fmt(f),
        }
    }
}

/// What the gateway's web API answers, named as Tahoe-LAFS names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayError {
    /// The best version was chosen but fewer than k of its shares were good.
    NotEnoughShares {
        message: String,
    },
    /// No share of the file was found anywhere (and every server answered).
    NoShares {
        message: String,
    },
    /// No version with k shares was found.
    Unrecoverable {
        message: String,
    },
    /// Fewer than k share writes landed.
    NotEnoughServers {
        message: String,
    },
    /// A test vector failed, or a server held a share the servermap did not know.
    UncoordinatedWrite {
        message: String,
    },
    /// An immutable upload reached fewer than `servers_of_happiness` servers.
    UploadUnhappiness {
        message: String,
    },
    /// A directory already has a child of this name.
    ExistingChild {
        name: String,
    },
    NoSuchChild {
        name: String,
    },
    /// Anything else (a malformed directory, a bug): Tahoe-LAFS's generic 500.
    Unexpected {
        message: String,
    },
    /// Not Tahoe-LAFS's: the web client's own circuit breaker or adaptive
    /// throttle refused to send the operation (`GiveUp::CircuitOpen`,
    /// `GiveUp::ClientThrottled`). Nothing reached the gateway; reported as
    /// 503 Service Unavailable, the status of a service shedding load.
    RefusedByClient {
        reason: GiveUp,
    },
}

impl GatewayError {
    /// The HTTP status Tahoe-LAFS's web API gives (`humanize_failure`).
    pub fn web_status(&self) -> u16 {
        match self {
            GatewayError::NotEnoughShares { .. }
            | GatewayError::NoShares { .. }
            | GatewayError::Unrecoverable { .. } => 410,
            GatewayError::ExistingChild { .. } => 409,
            GatewayError::NoSuchChild { .. } => 404,
            GatewayError::NotEnoughServers { .. }
            | GatewayError::UncoordinatedWrite { .. }
            | GatewayError::UploadUnhappiness { .. }
            | GatewayError::Unexpected { .. } => 500,
            GatewayError::RefusedByClient { .. } => 503,
        }
    }

    /// The Tahoe-LAFS exception name.
    pub fn name(&self) -> &'static str {
        match self {
            GatewayError::NotEnoughShares { .. } => "NotEnoughSharesError",
            GatewayError::NoShares { .. } => "NoSharesError",
            GatewayError::Unrecoverable { .. } => "UnrecoverableFileError",
            GatewayError::NotEnoughServers { .. } => "NotEnoughServersError",
            GatewayError::UncoordinatedWrite { .. } => "UncoordinatedWriteError",
            GatewayError::UploadUnhappiness { .. } => "UploadUnhappinessError",
            GatewayError::ExistingChild { .. } => "ExistingChildError",
            GatewayError::NoSuchChild { .. } => "NoSuchChildError",
            GatewayError::Unexpected { .. } => "UnexpectedError",
            GatewayError::RefusedByClient { .. } => "RefusedByClient",
        }
    }

    /// An error no S3 answer or fault explains (a bug, or a host that
    /// cannot reach its storage): status 500.
    pub fn unexpected(message: impl Into<String>) -> Self {
        GatewayError::Unexpected { message: message.into() }
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: ", self.web_status(), self.name())?;
        match self {
            GatewayError::NotEnoughShares { message }
            | GatewayError::NoShares { message }
            | GatewayError::Unrecoverable { message }
            | GatewayError::NotEnoughServers { message }
            | GatewayError::UncoordinatedWrite { message }
            | GatewayError::UploadUnhappiness { message }
            | GatewayError::Unexpected { message } => f.write_str(message),
            GatewayError::ExistingChild { name } => write!(f, "child {name:?} already exists"),
            GatewayError::NoSuchChild { name } => write!(f, "no child {name:?}"),
            GatewayError::RefusedByClient { reason } => write!(f, "{}: not sent", reason.name()),
        }
    }
}

impl std::error::Error for GatewayError {}

/// How a web client retrying whole operations classifies a gateway error:
/// every error a server or S3 fault can cause is transient (`ServerError`),
/// including the 410s (`NotEnoughSharesError` and the like, which in this
/// grid mean "too many shares unreadable just now", not "deleted"); a 404 or
/// 409 from a directory is an answer about the data, never retried.
impl Retryable for GatewayError {
    fn class(&self) -> ErrorClass {
        match self {
            GatewayError::ExistingChild { .. } | GatewayError::NoSuchChild { .. } => ErrorClass::ClientError,
            GatewayError::NotEnoughShares { .. }
            | GatewayError::NoShares { .. }
            | GatewayError::Unrecoverable { .. }
            | GatewayError::NotEnoughServers { .. }
            | GatewayError::UncoordinatedWrite { .. }
            | GatewayError::UploadUnhappiness { .. }
            | GatewayError::Unexpected { .. } => ErrorClass::ServerError,
            GatewayError::RefusedByClient { .. } => ErrorClass::Refused,
        }
    }

    fn refused(reason: GiveUp) -> Self {
        GatewayError::RefusedByClient { reason }
    }

    fn trace_name(&self) -> &'static str {
        self.name()
    }
}

/// Jepsen's three fates of a write, as far as the gateway can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// It took effect (the client got a success).
    Applied,
    /// It definitely did not take effect: no share write can have landed.
    NotApplied,
    /// It may or may not have: some share write did not come back with a
    /// definite answer, or landed while the operation as a whole failed.
    Indeterminate,
}

/// A failed write: the error the web client sees, and whether it may have
/// landed anyway (`outcome` is never [`Outcome::Applied`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteError {
    pub error: GatewayError,
    pub outcome: Outcome,
}

impl WriteError {
    pub(crate) fn not_applied(error: GatewayError) -> Self {
        WriteError { error, outcome: Outcome::NotApplied }
    }

    pub fn web_status(&self) -> u16 {
        self.error.web_status()
    }

    pub fn is_indeterminate(&self) -> bool {
        self.outcome == Outcome::Indeterminate
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)?;
        if self.is_indeterminate() {
            f.write_str(" (indeterminate: may have landed)")?;
        }
        Ok(())
    }
}

impl std::error::Error for WriteError {}

impl Retryable for WriteError {
    fn class(&self) -> ErrorClass {
        self.error.class()
    }

    /// A refused write was never sent: it did not take effect.
    fn refused(reason: GiveUp) -> Self {
        WriteError::not_applied(GatewayError::refused(reason))
    }

    fn trace_name(&self) -> &'static str {
        self.error.name()
    }
}

impl From<WriteError> for GatewayError {
    fn from(error: WriteError) -> Self {
        error.error
    }
}
