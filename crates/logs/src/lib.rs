//! retrylab-logs: reads the request logs users already have into one normalised [`Request`] per line.
//!
//! The input side of `retrylab fit` (issue 13). Three formats:
//!
//! - [`access`]: S3 server access logs, in the space-delimited format AWS documents
//!   ([`AccessLogEntry`] holds every field, parses a line and writes one back with `Display`);
//! - [`client`]: client-side logs as CSV or JSON lines, with the column names of [`ColumnMap`];
//! - [`mod@classify`]: one table from HTTP status, S3 error code or the words `reset`/`timeout`
//!   to an [`Outcome`], shared by all formats.
//!
//! Everything is pure: no clock, no randomness, no hash-ordered collections. Bad input never
//! panics: a malformed line is a [`LogError`] naming `path:line: field: message`, returned at once
//! in [`Mode::Strict`] or counted and skipped in [`Mode::Skip`]. Records come back sorted by time
//! (stable: ties keep file order), because access logs are not written in time order.
//! `docs/logs.md` documents the formats, the header convention and the classification.

pub mod access;
pub mod classify;
pub mod client;
mod read;
mod time;

pub use access::{read_access_log, AccessLogEntry};
pub use classify::{classify, FaultClass, Outcome};
pub use client::{read_csv, read_jsonl, ColumnMap};
pub use read::{FieldError, LogError, Mode, Parsed, SKIPPED_KEPT};

use std::io::BufRead;

/// One request of a log, whatever its format: what the fitter reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// 1-based line of the log it came from (for CSV, the line where its record starts).
    pub line: u64,
    /// When the request was received (access log) or sent (client log), Unix epoch milliseconds.
    pub time_ms: i64,
    /// How finely `time_ms` was written: 1000 for access logs (whole seconds), else from the
    /// number of fractional digits the client log gave (1000, 100, 10 or 1).
    pub time_resolution_ms: u32,
    pub operation: OperationKind,
    pub key: Option<String>,
    /// Access log: S3's total time; client log: the `latency_ms` column. `None` when not written.
    pub latency_ms: Option<f64>,
    pub outcome: Outcome,
}

/// The kind of request, as far as retry behaviour is concerned: the five operations the
/// simulated S3 serves, and everything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OperationKind {
    Get,
    Put,
    Delete,
    Head,
    List,
    Other,
}

impl OperationKind {
    pub const ALL: [OperationKind; 6] = [
        OperationKind::Get,
        OperationKind::Put,
        OperationKind::Delete,
        OperationKind::Head,
        OperationKind::List,
        OperationKind::Other,
    ];

    /// The kind of an access log's operation field (`REST.GET.OBJECT`, ...). Multipart uploads
    /// and copies are writes (`Put`); batch deletes are `Delete`; object listings (V1, V2,
    /// versions, multipart uploads) are `List`; anything else, `-` included, is `Other`.
    pub fn from_s3_operation(operation: &str) -> OperationKind {
        match operation {
            "REST.GET.OBJECT" | "WEBSITE.GET.OBJECT" => OperationKind::Get,
            "REST.PUT.OBJECT" | "REST.POST.OBJECT" | "REST.COPY.OBJECT" | "REST.PUT.PART" | "REST.COPY.PART"
            | "REST.POST.UPLOADS" | "REST.POST.UPLOAD" => OperationKind::Put,
            "REST.DELETE.OBJECT" | "BATCH.DELETE.OBJECT" | "REST.POST.MULTI_OBJECT_DELETE" | "REST.DELETE.UPLOAD" => {
                OperationKind::Delete
            }
            "REST.HEAD.OBJECT" | "WEBSITE.HEAD.OBJECT" => OperationKind::Head,
            "REST.GET.BUCKET" | "REST.GET.BUCKETVERSIONS" | "REST.GET.UPLOADS" => OperationKind::List,
            _ => OperationKind::Other,
        }
    }

    /// The access log's operation field for this kind (what `retrylab run --access-log`
    /// writes); `-` (unknown) for `Other`.
    pub fn s3_operation_name(self) -> &'static str {
        match self {
            OperationKind::Get => "REST.GET.OBJECT",
            OperationKind::Put => "REST.PUT.OBJECT",
            OperationKind::Delete => "REST.DELETE.OBJECT",
            OperationKind::Head => "REST.HEAD.OBJECT",
            OperationKind::List => "REST.GET.BUCKET",
            OperationKind::Other => "-",
        }
    }

    /// The short name of client logs and reports: `GET`, `PUT`, `DELETE`, `HEAD`, `LIST`, `OTHER`.
    pub fn name(self) -> &'static str {
        match self {
            OperationKind::Get => "GET",
            OperationKind::Put => "PUT",
            OperationKind::Delete => "DELETE",
            OperationKind::Head => "HEAD",
            OperationKind::List => "LIST",
            OperationKind::Other => "OTHER",
        }
    }

    /// A client log's operation: a short name (any case) or an S3 operation name
    /// (`REST.GET.OBJECT`); `None` for anything else.
    pub fn parse_name(text: &str) -> Option<OperationKind> {
        if let Some(kind) = OperationKind::ALL.into_iter().find(|kind| kind.name().eq_ignore_ascii_case(text)) {
            return Some(kind);
        }
        let s3_prefixes = ["REST.", "WEBSITE.", "BATCH.", "SOAP."];
        s3_prefixes.iter().any(|prefix| text.starts_with(prefix)).then(|| OperationKind::from_s3_operation(text))
    }
}

/// A log format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// S3 server access log (`s3-access`).
    S3Access,
    /// Client log, CSV with a header row (`csv`).
    Csv,
    /// Client log, one JSON object a line (`jsonl`).
    Jsonl,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::S3Access, Format::Csv, Format::Jsonl];

    /// The `--format` value: `s3-access`, `csv` or `jsonl`.
    pub fn name(self) -> &'static str {
        match self {
            Format::S3Access => "s3-access",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|format| format.name() == name)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Guesses the format from a log's first lines (`--format` left out): the first non-blank line
/// that parses as an access-log record says `S3Access`; one that opens with `{`, `Jsonl`; one
/// with a comma (a CSV header), `Csv`. `None` when no line decides.
pub fn detect_format(first_lines: &[&str]) -> Option<Format> {
    first_lines.iter().find_map(|line| {
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            None
        } else if line.starts_with('{') {
            Some(Format::Jsonl)
        } else if access::looks_like_access_log(line) {
            Some(Format::S3Access)
        } else if line.contains(',') {
            Some(Format::Csv)
        } else {
            None
        }
    })
}

/// Reads a log of any format (what `retrylab fit` calls once the format is known).
/// `columns` is used by the client formats only.
pub fn read_log(
    reader: impl BufRead,
    path: &str,
    format: Format,
    columns: &ColumnMap,
    mode: Mode,
) -> Result<Parsed, LogError> {
    match format {
        Format::S3Access => read_access_log(reader, path, mode),
        Format::Csv => read_csv(reader, path, columns, mode),
        Format::Jsonl => read_jsonl(reader, path, columns, mode),
    }
}
