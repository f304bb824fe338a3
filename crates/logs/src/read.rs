//! Reading a log line by line: the errors, strict and skipping modes, and the sorted result.

use std::fmt;
use std::io::BufRead;

use crate::Request;

/// How many skipped lines' errors [`Parsed`] keeps verbatim; the rest are only counted, so a
/// log of a million bad lines does not hold a million messages.
pub const SKIPPED_KEPT: usize = 20;

/// What to do with a malformed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Refuse the log: return the first malformed line's error (`--strict`).
    Strict,
    /// Skip malformed lines, keeping the first [`SKIPPED_KEPT`] errors and a count.
    Skip,
}

/// A malformed line (or a log that cannot be read): `path:line: field: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogError {
    pub path: String,
    /// 1-based; 0 when the error is not about one line.
    pub line: u64,
    /// The field at fault (`time`, `http_status`, `latency_ms`, ...), when one is.
    pub field: Option<&'static str>,
    pub message: String,
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.path, self.line)?;
        if let Some(field) = self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for LogError {}

/// What is wrong with one line, before the path and line number are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: Option<&'static str>,
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> FieldError {
        FieldError { field: Some(field), message: message.into() }
    }

    pub(crate) fn line(message: impl Into<String>) -> FieldError {
        FieldError { field: None, message: message.into() }
    }

    pub(crate) fn at(self, path: &str, line: u64) -> LogError {
        LogError { path: path.to_string(), line, field: self.field, message: self.message }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(field) = self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for FieldError {}

/// The requests of one log, sorted by time (stable: ties keep file order).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub requests: Vec<Request>,
    /// Lines read, blank ones included.
    pub lines: u64,
    /// The first [`SKIPPED_KEPT`] malformed lines' errors ([`Mode::Skip`] only).
    pub skipped: Vec<LogError>,
    /// How many malformed lines were skipped in all.
    pub skipped_total: u64,
}

/// Gathers one log's requests and skipped lines.
pub(crate) struct Collector<'p> {
    path: &'p str,
    mode: Mode,
    parsed: Parsed,
}

impl<'p> Collector<'p> {
    pub(crate) fn new(path: &'p str, mode: Mode) -> Collector<'p> {
        Collector {
            path,
            mode,
            parsed: Parsed { requests: Vec::new(), lines: 0, skipped: Vec::new(), skipped_total: 0 },
        }
    }

    pub(crate) fn set_lines(&mut self, lines: u64) {
        self.parsed.lines = lines;
    }

    /// Keeps a line's request, or handles its error as the mode says.
    pub(crate) fn add(&mut self, line: u64, request: Result<Request, FieldError>) -> Result<(), LogError> {
        match request {
            Ok(request) => {
                self.parsed.requests.push(request);
                Ok(())
            }
            Err(error) => self.reject(error.at(self.path, line)),
        }
    }

    /// [`Collector::add`] for a line that may hold no request (a blank line: `Ok(None)`).
    pub(crate) fn add_line(&mut self, line: u64, request: Result<Option<Request>, FieldError>) -> Result<(), LogError> {
        match request {
            Ok(None) => Ok(()),
            Ok(Some(request)) => self.add(line, Ok(request)),
            Err(error) => self.add(line, Err(error)),
        }
    }

    fn reject(&mut self, error: LogError) -> Result<(), LogError> {
        match self.mode {
            Mode::Strict => Err(error),
            Mode::Skip => {
                self.parsed.skipped_total += 1;
                if self.parsed.skipped.len() < SKIPPED_KEPT {
                    self.parsed.skipped.push(error);
                }
                Ok(())
            }
        }
    }

    pub(crate) fn finish(mut self) -> Parsed {
        // Stable: requests logged in the same second keep their file order.
        self.parsed.requests.sort_by_key(|request| request.time_ms);
        self.parsed
    }
}

/// Calls `on_line` with each line's number and text (without its `\n` or `\r\n`; a UTF-8 byte
/// order mark at the start of the file removed), or the error of a line that is not UTF-8.
/// Returns the number of lines read. Only an I/O error stops it early (or `on_line`'s error).
pub(crate) fn for_each_line(
    mut reader: impl BufRead,
    path: &str,
    mut on_line: impl FnMut(u64, Result<&str, FieldError>) -> Result<(), LogError>,
) -> Result<u64, LogError> {
    let mut buffer = Vec::with_capacity(512);
    let mut line = 0u64;
    loop {
        buffer.clear();
        let read = reader.read_until(b'\n', &mut buffer).map_err(|error| LogError {
            path: path.to_string(),
            line: line + 1,
            field: None,
            message: format!("cannot read: {error}"),
        })?;
        if read == 0 {
            return Ok(line);
        }
        line += 1;
        let mut bytes = buffer.as_slice();
        bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if line == 1 {
            bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
        }
        let text = std::str::from_utf8(bytes).map_err(|error| {
            FieldError::line(format!("not UTF-8 (invalid byte at column {})", error.valid_up_to() + 1))
        });
        on_line(line, text)?;
    }
}
