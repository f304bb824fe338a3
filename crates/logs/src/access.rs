//! S3 server access logs: the space-delimited record AWS documents, every field of it.
//!
//! A record is, in order: bucket owner, bucket, `[time]`, remote IP, requester, request ID,
//! operation, key, `"request-URI"`, HTTP status, error code, bytes sent, object size,
//! total time (ms), turn-around time (ms), `"referrer"`, `"user agent"`, version ID, host ID,
//! signature version, cipher suite, authentication type, host header, TLS version,
//! access point ARN, aclRequired, source region. Any field may be `-` (unknown or not
//! applicable), quoted or not. Older records end after the user agent (or any later field);
//! fields AWS adds after the source region are kept verbatim in [`AccessLogEntry::extra`].
//!
//! Quoting: AWS does not escape quotes inside quoted fields (user agents containing `"` are
//! logged as they came), so a quoted field ends at the first `"` followed by a space or the
//! end of the line. A value containing `" ` cannot be told apart from two fields; such a
//! line is misread or refused, never a panic.

use std::fmt;
use std::io::BufRead;

use crate::classify::{classify, FaultClass, Outcome};
use crate::read::{for_each_line, Collector, FieldError, LogError, Mode, Parsed};
use crate::time::{parse_access_time, write_access_time, AccessTimeCache};
use crate::{OperationKind, Request};

/// The documented fields, in order; error messages name them.
const FIELD_NAMES: [&str; FIELD_COUNT] = [
    "bucket_owner",
    "bucket",
    "time",
    "remote_ip",
    "requester",
    "request_id",
    "operation",
    "key",
    "request_uri",
    "http_status",
    "error_code",
    "bytes_sent",
    "object_size",
    "total_time",
    "turn_around_time",
    "referrer",
    "user_agent",
    "version_id",
    "host_id",
    "signature_version",
    "cipher_suite",
    "authentication_type",
    "host_header",
    "tls_version",
    "access_point_arn",
    "acl_required",
    "source_region",
];
const FIELD_COUNT: usize = 27;
/// Records as old as the format: through the user agent.
const FIELD_COUNT_MIN: usize = 17;

const TIME: usize = 2;
const OPERATION: usize = 6;
const KEY: usize = 7;
const HTTP_STATUS: usize = 9;
const ERROR_CODE: usize = 10;
const BYTES_SENT: usize = 11;
const OBJECT_SIZE: usize = 12;
const TOTAL_TIME: usize = 13;
const TURN_AROUND_TIME: usize = 14;
/// Fields written in quotes.
const QUOTED: [usize; 3] = [8, 15, 16];

/// One access-log record, every documented field typed. `None` is the log's `-`.
/// `Display` writes the record as AWS does (all 27 fields, then `extra`), so that
/// `parse(display(entry)) == entry`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessLogEntry {
    pub bucket_owner: Option<String>,
    pub bucket: Option<String>,
    /// Unix epoch milliseconds. The log has whole seconds: `Display` drops the milliseconds.
    pub time_ms: i64,
    pub remote_ip: Option<String>,
    pub requester: Option<String>,
    pub request_id: Option<String>,
    /// `REST.GET.OBJECT`, ...: see [`OperationKind::from_s3_operation`].
    pub operation: Option<String>,
    /// URL-encoded, as logged.
    pub key: Option<String>,
    /// The request line, e.g. `GET /bucket/key HTTP/1.1`.
    pub request_uri: Option<String>,
    pub http_status: Option<u16>,
    pub error_code: Option<String>,
    pub bytes_sent: Option<u64>,
    pub object_size: Option<u64>,
    pub total_time_ms: Option<u64>,
    pub turn_around_time_ms: Option<u64>,
    pub referrer: Option<String>,
    pub user_agent: Option<String>,
    pub version_id: Option<String>,
    pub host_id: Option<String>,
    pub signature_version: Option<String>,
    pub cipher_suite: Option<String>,
    pub authentication_type: Option<String>,
    pub host_header: Option<String>,
    pub tls_version: Option<String>,
    pub access_point_arn: Option<String>,
    /// `Yes` when an ACL was required to authorise the request.
    pub acl_required: Option<String>,
    pub source_region: Option<String>,
    /// Fields after the source region (added by AWS later), verbatim (quotes included).
    pub extra: Vec<String>,
}

impl AccessLogEntry {
    /// Parses one record (without its newline).
    pub fn parse(line: &str) -> Result<AccessLogEntry, FieldError> {
        let raw = RawRecord::split(line, parse_access_time)?;
        let text = |index: usize| raw.fields[index].map(str::to_string);
        let numbers = raw.numbers()?;
        Ok(AccessLogEntry {
            bucket_owner: text(0),
            bucket: text(1),
            time_ms: raw.time_ms,
            remote_ip: text(3),
            requester: text(4),
            request_id: text(5),
            operation: text(OPERATION),
            key: text(KEY),
            request_uri: text(8),
            http_status: numbers.http_status,
            error_code: text(ERROR_CODE),
            bytes_sent: numbers.bytes_sent,
            object_size: numbers.object_size,
            total_time_ms: numbers.total_time_ms,
            turn_around_time_ms: numbers.turn_around_time_ms,
            referrer: text(15),
            user_agent: text(16),
            version_id: text(17),
            host_id: text(18),
            signature_version: text(19),
            cipher_suite: text(20),
            authentication_type: text(21),
            host_header: text(22),
            tls_version: text(23),
            access_point_arn: text(24),
            acl_required: text(25),
            source_region: text(26),
            extra: raw.extra()?,
        })
    }

    /// The record as the fitter sees it (`line` is its line in the log).
    pub fn to_request(&self, line: u64) -> Result<Request, FieldError> {
        Ok(Request {
            line,
            time_ms: self.time_ms,
            time_resolution_ms: 1000,
            operation: OperationKind::from_s3_operation(self.operation.as_deref().unwrap_or("-")),
            key: self.key.clone(),
            latency_ms: self.total_time_ms.map(|ms| ms as f64),
            outcome: access_outcome(self.http_status, self.error_code.as_deref())?,
        })
    }

    /// A record of `request` with only what a request knows (the simulator's writer fills in
    /// bucket, requester and the rest as it likes): operation, key, request-URI, status and
    /// error code, total time (rounded to whole milliseconds). A fault without a response
    /// (reset or timeout) has neither status nor code, which reads back as `ConnectionReset`:
    /// an access log cannot tell a client's timeout from a dropped connection.
    pub fn from_request(request: &Request) -> AccessLogEntry {
        let (http_status, error_code) = request.outcome.status_and_code();
        let method = match request.operation {
            OperationKind::Get | OperationKind::List => Some("GET"),
            OperationKind::Put => Some("PUT"),
            OperationKind::Delete => Some("DELETE"),
            OperationKind::Head => Some("HEAD"),
            OperationKind::Other => None,
        };
        let path = match request.operation {
            OperationKind::List => "?list-type=2",
            _ => request.key.as_deref().unwrap_or(""),
        };
        AccessLogEntry {
            time_ms: request.time_ms,
            operation: (request.operation != OperationKind::Other)
                .then(|| request.operation.s3_operation_name().to_string()),
            key: request.key.clone(),
            request_uri: method.map(|method| format!("{method} /{path} HTTP/1.1")),
            http_status,
            error_code: error_code.map(str::to_string),
            total_time_ms: request.latency_ms.map(|latency_ms| latency_ms.max(0.0).round() as u64),
            ..AccessLogEntry::default()
        }
    }

    fn text_fields(&self) -> [&Option<String>; FIELD_COUNT] {
        const NO_TEXT: &Option<String> = &None;
        [
            &self.bucket_owner,
            &self.bucket,
            NO_TEXT,
            &self.remote_ip,
            &self.requester,
            &self.request_id,
            &self.operation,
            &self.key,
            &self.request_uri,
            NO_TEXT,
            &self.error_code,
            NO_TEXT,
            NO_TEXT,
            NO_TEXT,
            NO_TEXT,
            &self.referrer,
            &self.user_agent,
            &self.version_id,
            &self.host_id,
            &self.signature_version,
            &self.cipher_suite,
            &self.authentication_type,
            &self.host_header,
            &self.tls_version,
            &self.access_point_arn,
            &self.acl_required,
            &self.source_region,
        ]
    }
}

impl std::str::FromStr for AccessLogEntry {
    type Err = FieldError;

    fn from_str(line: &str) -> Result<AccessLogEntry, FieldError> {
        AccessLogEntry::parse(line)
    }
}

impl fmt::Display for AccessLogEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts = self.text_fields();
        for (index, text) in texts.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            match index {
                TIME => write_access_time(f, self.time_ms)?,
                HTTP_STATUS => write_number(f, self.http_status.map(u64::from))?,
                BYTES_SENT => write_number(f, self.bytes_sent)?,
                OBJECT_SIZE => write_number(f, self.object_size)?,
                TOTAL_TIME => write_number(f, self.total_time_ms)?,
                TURN_AROUND_TIME => write_number(f, self.turn_around_time_ms)?,
                _ if QUOTED.contains(&index) => write!(f, "\"{}\"", text.as_deref().unwrap_or("-"))?,
                _ => write_bare(f, text.as_deref())?,
            }
        }
        for extra in &self.extra {
            write!(f, " {extra}")?;
        }
        Ok(())
    }
}

fn write_number(f: &mut fmt::Formatter<'_>, number: Option<u64>) -> fmt::Result {
    match number {
        Some(number) => write!(f, "{number}"),
        None => f.write_str("-"),
    }
}

/// An unquoted field; quoted when it would not read back as itself (empty, with a space, or
/// opening with a quote).
fn write_bare(f: &mut fmt::Formatter<'_>, text: Option<&str>) -> fmt::Result {
    match text {
        None => f.write_str("-"),
        Some(text) if text.is_empty() || text.contains(' ') || text.starts_with('"') => write!(f, "\"{text}\""),
        Some(text) => f.write_str(text),
    }
}

/// The outcome of an access-log record. S3 logs a status for every response it sends; a record
/// without one (and without a code that names a fault) is a request whose response was never
/// completed, which the client saw as a dropped connection: `ConnectionReset`.
fn access_outcome(http_status: Option<u16>, error_code: Option<&str>) -> Result<Outcome, FieldError> {
    match (http_status, error_code) {
        (None, None) => Ok(Outcome::Fault(FaultClass::ConnectionReset)),
        (None, Some(_)) => classify(None, error_code).map_err(|message| FieldError::new("error_code", message)),
        (Some(_), _) => classify(http_status, error_code).map_err(|message| FieldError::new("http_status", message)),
    }
}

/// A record split into fields, borrowing the line: the fast path of [`read_access_log`]
/// allocates only the key.
struct RawRecord<'a> {
    /// `None` for `-` and for fields an older record does not have.
    fields: [Option<&'a str>; FIELD_COUNT],
    time_ms: i64,
    /// What follows the source region, unsplit.
    rest: &'a str,
}

struct Numbers {
    http_status: Option<u16>,
    bytes_sent: Option<u64>,
    object_size: Option<u64>,
    total_time_ms: Option<u64>,
    turn_around_time_ms: Option<u64>,
}

impl<'a> RawRecord<'a> {
    fn split(line: &'a str, mut parse_time: impl FnMut(&str) -> Result<i64, String>) -> Result<Self, FieldError> {
        let mut fields = [None; FIELD_COUNT];
        let mut tokens = Tokens { rest: line };
        let mut time_ms = 0;
        for (index, field) in fields.iter_mut().enumerate() {
            let name = FIELD_NAMES[index];
            let Some(token) = tokens.next(index == TIME).map_err(|message| FieldError::new(name, message))? else {
                if index < FIELD_COUNT_MIN {
                    return Err(FieldError::new(
                        name,
                        format!(
                            "missing: the record ends after {index} fields; an access-log record has at least \
                             {FIELD_COUNT_MIN} (bucket owner .. user agent)"
                        ),
                    ));
                }
                break;
            };
            if index == TIME {
                let Token::Bracketed(text) = token else {
                    return Err(FieldError::new(name, "expected `[06/Feb/2019:00:00:38 +0000]`"));
                };
                time_ms = parse_time(text).map_err(|message| FieldError::new(name, message))?;
            } else {
                *field = token.value();
            }
        }
        Ok(RawRecord { fields, time_ms, rest: tokens.rest })
    }

    fn numbers(&self) -> Result<Numbers, FieldError> {
        let number = |index: usize| -> Result<Option<u64>, FieldError> {
            self.fields[index]
                .map(|text| {
                    text.parse::<u64>().map_err(|_| {
                        FieldError::new(FIELD_NAMES[index], format!("expected a whole number or `-`, found `{text}`"))
                    })
                })
                .transpose()
        };
        let http_status = number(HTTP_STATUS)?
            .map(|status| {
                u16::try_from(status).ok().filter(|status| (100..=599).contains(status)).ok_or_else(|| {
                    FieldError::new("http_status", format!("expected an HTTP status in 100..=599, found {status}"))
                })
            })
            .transpose()?;
        Ok(Numbers {
            http_status,
            bytes_sent: number(BYTES_SENT)?,
            object_size: number(OBJECT_SIZE)?,
            total_time_ms: number(TOTAL_TIME)?,
            turn_around_time_ms: number(TURN_AROUND_TIME)?,
        })
    }

    /// The fields after the source region, each verbatim.
    fn extra(&self) -> Result<Vec<String>, FieldError> {
        let mut tokens = Tokens { rest: self.rest };
        let mut extra = Vec::new();
        loop {
            let before = tokens.rest.trim_start_matches(' ');
            match tokens.next(false).map_err(|message| FieldError::new("extra", message))? {
                None => return Ok(extra),
                Some(_) => extra.push(before[..before.len() - tokens.rest.len()].to_string()),
            }
        }
    }

    fn to_request(&self, line: u64) -> Result<Request, FieldError> {
        let numbers = self.numbers()?;
        Ok(Request {
            line,
            time_ms: self.time_ms,
            time_resolution_ms: 1000,
            operation: OperationKind::from_s3_operation(self.fields[OPERATION].unwrap_or("-")),
            key: self.fields[KEY].map(str::to_string),
            latency_ms: numbers.total_time_ms.map(|ms| ms as f64),
            outcome: access_outcome(numbers.http_status, self.fields[ERROR_CODE])?,
        })
    }
}

enum Token<'a> {
    Bare(&'a str),
    Quoted(&'a str),
    Bracketed(&'a str),
}

impl<'a> Token<'a> {
    /// The field's value; `None` for `-` (quoted or not).
    fn value(self) -> Option<&'a str> {
        match self {
            Token::Bare(text) | Token::Quoted(text) | Token::Bracketed(text) => (text != "-").then_some(text),
        }
    }
}

/// Splits a record at spaces, keeping quoted fields (and, where asked, the bracketed time) whole.
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    fn next(&mut self, bracketed: bool) -> Result<Option<Token<'a>>, String> {
        let text = self.rest.trim_start_matches(' ');
        if text.is_empty() {
            self.rest = text;
            return Ok(None);
        }
        let bytes = text.as_bytes();
        let (token, end) = if bracketed && bytes[0] == b'[' {
            let close = text.find(']').ok_or("`[` without its `]`")?;
            (Token::Bracketed(&text[1..close]), close + 1)
        } else if bytes[0] == b'"' {
            // The closing quote is the first one followed by a space or the end of the line.
            let close = (1..bytes.len())
                .find(|&at| bytes[at] == b'"' && bytes.get(at + 1).is_none_or(|next| *next == b' '))
                .ok_or("a quoted field without its closing `\"`")?;
            (Token::Quoted(&text[1..close]), close + 1)
        } else {
            let end = text.find(' ').unwrap_or(text.len());
            (Token::Bare(&text[..end]), end)
        };
        if end < text.len() && bytes[end] != b' ' {
            return Err(format!("expected a space after `{}`", &text[..end]));
        }
        self.rest = &text[end..];
        Ok(Some(token))
    }
}

/// Whether `line` reads as an access-log record (for [`crate::detect_format`]).
pub(crate) fn looks_like_access_log(line: &str) -> bool {
    RawRecord::split(line, parse_access_time).is_ok()
}

/// Reads an S3 server access log. Blank lines are skipped; a malformed line is an error
/// (`Strict`) or skipped and counted (`Skip`). `path` only labels errors.
pub fn read_access_log(reader: impl BufRead, path: &str, mode: Mode) -> Result<Parsed, LogError> {
    let mut collector = Collector::new(path, mode);
    let mut time_cache = AccessTimeCache::default();
    let lines = for_each_line(reader, path, |line, text| {
        let request = text.and_then(|text| {
            if text.trim().is_empty() {
                return Ok(None);
            }
            RawRecord::split(text, |time| time_cache.parse(time))?.to_request(line).map(Some)
        });
        collector.add_line(line, request)
    })?;
    collector.set_lines(lines);
    Ok(collector.finish())
}
