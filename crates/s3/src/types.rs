//! S3 requests, responses and errors, with S3's own codes and statuses.

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use retrylab_retry::{ErrorClass, GiveUp};

/// S3 never returns more than this many keys in one ListObjectsV2 page.
pub const LIST_PAGE_KEYS_MAX: usize = 1000;

/// A conditional write (S3 conditional writes: `If-None-Match: *` since
/// August 2024, `If-Match: <etag>` since November 2024).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutCondition {
    None,
    /// Create only: fail with 412 if the key exists.
    IfNoneMatch,
    /// Overwrite only the version with this ETag: 412 on mismatch, 404 if absent.
    IfMatch(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum S3Request {
    Put {
        key: String,
        body: Bytes,
        condition: PutCondition,
    },
    Get {
        key: String,
    },
    Head {
        key: String,
    },
    Delete {
        key: String,
    },
    /// ListObjectsV2. `keys_max` above 1,000 is treated as 1,000, as S3 does.
    List {
        prefix: String,
        continuation_token: Option<String>,
        keys_max: usize,
    },
}

impl S3Request {
    /// The HTTP-ish name used in traces and reports.
    pub fn operation_name(&self) -> &'static str {
        match self {
            S3Request::Put { .. } => "PUT",
            S3Request::Get { .. } => "GET",
            S3Request::Head { .. } => "HEAD",
            S3Request::Delete { .. } => "DELETE",
            S3Request::List { .. } => "LIST",
        }
    }

    /// The object key (a LIST's prefix), for the trace.
    pub fn key(&self) -> &str {
        match self {
            S3Request::Put { key, .. }
            | S3Request::Get { key }
            | S3Request::Head { key }
            | S3Request::Delete { key } => key,
            S3Request::List { prefix, .. } => prefix,
        }
    }

    /// Whether the request changes stored state (and so can be "applied but 500").
    pub fn is_mutating(&self) -> bool {
        matches!(self, S3Request::Put { .. } | S3Request::Delete { .. })
    }
}

/// An S3 ETag: for a single-part upload, the quoted hex MD5 of the body.
///
/// Computed when first read and then shared by every clone: an MD5 of a
/// 1 KiB body costs more than all the rest of a simulated request, and most
/// PUT answers are never looked at.
#[derive(Clone)]
pub struct ETag(Arc<ETagInner>);

struct ETagInner {
    body: Bytes,
    quoted_md5_hex: OnceLock<String>,
}

impl ETag {
    /// The ETag of a single-part upload of `body`.
    pub fn of(body: Bytes) -> ETag {
        ETag(Arc::new(ETagInner { body, quoted_md5_hex: OnceLock::new() }))
    }

    /// An ETag as a real server sent it (the HTTP client has only the
    /// header, not the body to hash). S3 always quotes it; an unquoted one
    /// is quoted so that it compares equal to [`quoted_md5_hex`] of the body.
    pub fn from_quoted(etag: &str) -> ETag {
        let etag = etag.trim();
        let quoted =
            if etag.starts_with('"') || etag.starts_with("W/") { etag.to_owned() } else { format!("\"{etag}\"") };
        ETag(Arc::new(ETagInner { body: Bytes::new(), quoted_md5_hex: OnceLock::from(quoted) }))
    }

    /// The ETag as S3 sends it, quotes included.
    pub fn as_str(&self) -> &str {
        self.0.quoted_md5_hex.get_or_init(|| quoted_md5_hex(&self.0.body))
    }
}

/// The quoted hex MD5 of `body`.
pub fn quoted_md5_hex(body: &[u8]) -> String {
    use md5::{Digest, Md5};
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Md5::digest(body);
    let mut etag = String::with_capacity(34);
    etag.push('"');
    for byte in digest {
        etag.push(char::from(HEX[usize::from(byte >> 4)]));
        etag.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    etag.push('"');
    etag
}

impl PartialEq for ETag {
    fn eq(&self, other: &ETag) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.as_str() == other.as_str()
    }
}

impl Eq for ETag {}

impl PartialEq<str> for ETag {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ETag {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for ETag {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl fmt::Debug for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectSummary {
    pub key: String,
    pub etag: ETag,
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    pub objects: Vec<ObjectSummary>,
    /// Present when the listing is truncated: pass it to get the next page.
    pub next_continuation_token: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum S3Response {
    Put {
        etag: ETag,
    },
    Get {
        body: Bytes,
        etag: ETag,
    },
    Head {
        etag: ETag,
        size: u64,
    },
    /// S3 answers 204 whether or not the key existed.
    Delete,
    List(ListPage),
}

/// S3 error codes retrylab's model produces, with their HTTP statuses
/// (Amazon S3 API Reference, "Error responses").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum S3ErrorCode {
    /// 500: "We encountered an internal error. Please try again."
    InternalError,
    /// 503: "Please reduce your request rate."
    SlowDown,
    /// 404
    NoSuchKey,
    /// 412: a conditional write's precondition did not hold.
    PreconditionFailed,
    /// 409: a conflicting conditional operation is in progress on the key.
    ConditionalRequestConflict,
    /// 400
    InvalidArgument,
}

impl S3ErrorCode {
    pub fn status(self) -> u16 {
        match self {
            S3ErrorCode::InternalError => 500,
            S3ErrorCode::SlowDown => 503,
            S3ErrorCode::NoSuchKey => 404,
            S3ErrorCode::PreconditionFailed => 412,
            S3ErrorCode::ConditionalRequestConflict => 409,
            S3ErrorCode::InvalidArgument => 400,
        }
    }

    /// The `<Code>` element of S3's XML error body.
    pub fn code(self) -> &'static str {
        match self {
            S3ErrorCode::InternalError => "InternalError",
            S3ErrorCode::SlowDown => "SlowDown",
            S3ErrorCode::NoSuchKey => "NoSuchKey",
            S3ErrorCode::PreconditionFailed => "PreconditionFailed",
            S3ErrorCode::ConditionalRequestConflict => "ConditionalRequestConflict",
            S3ErrorCode::InvalidArgument => "InvalidArgument",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            S3ErrorCode::InternalError => "We encountered an internal error. Please try again.",
            S3ErrorCode::SlowDown => "Please reduce your request rate.",
            S3ErrorCode::NoSuchKey => "The specified key does not exist.",
            S3ErrorCode::PreconditionFailed => "At least one of the preconditions you specified did not hold.",
            S3ErrorCode::ConditionalRequestConflict => {
                "A conflicting operation occurred. If using PutObject you can retry the request."
            }
            S3ErrorCode::InvalidArgument => "Invalid Argument",
        }
    }

    pub fn class(self) -> ErrorClass {
        match self {
            S3ErrorCode::InternalError => ErrorClass::ServerError,
            S3ErrorCode::SlowDown => ErrorClass::Throttling,
            // S3 invites a retry of 409 ConditionalRequestConflict, but the
            // retry must re-read first: a blind resend is a 4xx misuse.
            S3ErrorCode::NoSuchKey
            | S3ErrorCode::PreconditionFailed
            | S3ErrorCode::ConditionalRequestConflict
            | S3ErrorCode::InvalidArgument => ErrorClass::ClientError,
        }
    }
}

/// A failure below HTTP: no status line at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransportError {
    /// The connection dropped with no status line (2012's `BadStatusLine: ''`).
    ConnectionReset,
    /// The connection was refused (the service node is down).
    ConnectionRefused,
    /// No answer within the request timeout.
    Timeout,
}

impl TransportError {
    pub fn name(self) -> &'static str {
        match self {
            TransportError::ConnectionReset => "connection_reset",
            TransportError::ConnectionRefused => "connection_refused",
            TransportError::Timeout => "timeout",
        }
    }
}

/// What a caller of an `ObjectStore` sees when a request fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreError {
    Service(S3ErrorCode),
    Transport(TransportError),
    /// Never sent: the client's own circuit breaker or adaptive throttle
    /// refused the attempt (`GiveUp::CircuitOpen`, `GiveUp::ClientThrottled`).
    /// No status, never retried, and definitely not applied.
    Refused(GiveUp),
}

impl StoreError {
    pub fn class(self) -> ErrorClass {
        match self {
            StoreError::Service(code) => code.class(),
            StoreError::Transport(TransportError::Timeout) => ErrorClass::Timeout,
            StoreError::Transport(TransportError::ConnectionReset | TransportError::ConnectionRefused) => {
                ErrorClass::ConnectionReset
            }
            StoreError::Refused(_) => ErrorClass::Refused,
        }
    }

    /// The HTTP status, or `None` when no status line arrived.
    pub fn status(self) -> Option<u16> {
        match self {
            StoreError::Service(code) => Some(code.status()),
            StoreError::Transport(_) | StoreError::Refused(_) => None,
        }
    }

    /// A stable name for reports: the S3 code, the transport error, or
    /// `refused_by_client` (the reason is in the trace's `GaveUp` event).
    pub fn name(self) -> &'static str {
        match self {
            StoreError::Service(code) => code.code(),
            StoreError::Transport(error) => error.name(),
            StoreError::Refused(_) => "refused_by_client",
        }
    }

    /// The outcome may or may not have taken effect (Jepsen's "info").
    pub fn is_indeterminate(self) -> bool {
        match self {
            StoreError::Service(code) => code == S3ErrorCode::InternalError,
            StoreError::Transport(error) => error != TransportError::ConnectionRefused,
            StoreError::Refused(_) => false,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Service(code) => write!(f, "{} {}: {}", code.status(), code.code(), code.message()),
            StoreError::Transport(error) => write!(f, "{} (no status line)", error.name()),
            StoreError::Refused(reason) => write!(f, "refused_by_client ({}): not sent", reason.name()),
        }
    }
}

impl std::error::Error for StoreError {}
