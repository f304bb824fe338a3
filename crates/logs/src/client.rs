//! Client-side request logs: CSV with a header row, or JSON lines, in one column convention.
//!
//! The columns (JSON: object keys) are `time`, `latency_ms`, `status`, `error_code`, `outcome`,
//! `operation` and `key`; [`ColumnMap`] renames any of them. `time` is required, and each
//! request needs an outcome from `status`, `error_code` or `outcome` (docs/logs.md has the table).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead, Read};
use std::rc::Rc;

use serde_json::{Map, Number, Value};

use crate::classify::{classify, FaultClass, Outcome};
use crate::read::{for_each_line, Collector, FieldError, LogError, Mode, Parsed};
use crate::time::parse_client_time;
use crate::{OperationKind, Request};

/// The longest latency accepted (a day): a larger value is a unit mistake, not a request.
const LATENCY_MS_MAX: f64 = 86_400_000.0;

/// The column (or JSON key) each value is read from. `Default` is the documented convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    /// RFC 3339 or Unix seconds (a decimal number). Required.
    pub time: String,
    /// Milliseconds, a decimal number; empty when not known.
    pub latency_ms: String,
    /// HTTP status.
    pub status: String,
    /// S3 error code (`SlowDown`, `NoSuchKey`, ...).
    pub error_code: String,
    /// `ok`, `reset`, `timeout` or `error` (any case).
    pub outcome: String,
    /// `GET`, `PUT`, `DELETE`, `HEAD`, `LIST` (any case) or an S3 operation name.
    pub operation: String,
    pub key: String,
}

impl Default for ColumnMap {
    fn default() -> ColumnMap {
        ColumnMap {
            time: "time".into(),
            latency_ms: "latency_ms".into(),
            status: "status".into(),
            error_code: "error_code".into(),
            outcome: "outcome".into(),
            operation: "operation".into(),
            key: "key".into(),
        }
    }
}

impl ColumnMap {
    /// Each column's name in the convention (which errors name) and in this map.
    fn named(&self) -> [(&'static str, &str); 7] {
        [
            ("time", &self.time),
            ("latency_ms", &self.latency_ms),
            ("status", &self.status),
            ("error_code", &self.error_code),
            ("outcome", &self.outcome),
            ("operation", &self.operation),
            ("key", &self.key),
        ]
    }
}

/// One value of a client log: CSV gives text; JSON text or a number.
#[derive(Clone, Copy)]
enum Cell<'a> {
    Text(&'a str),
    Number(&'a Number),
}

/// A row's cells, in the order of [`ColumnMap::named`]; `None` when absent or empty.
type Cells<'a> = [Option<Cell<'a>>; 7];

const TIME: usize = 0;
const LATENCY_MS: usize = 1;
const STATUS: usize = 2;
const ERROR_CODE: usize = 3;
const OUTCOME: usize = 4;
const OPERATION: usize = 5;
const KEY: usize = 6;

/// A cell's text, trimmed; `-` and empty are `None` (as in access logs).
fn text_cell(text: &str) -> Option<Cell<'_>> {
    let text = text.trim();
    (!text.is_empty() && text != "-").then_some(Cell::Text(text))
}

fn cell_text(cell: Cell<'_>) -> String {
    match cell {
        Cell::Text(text) => text.to_string(),
        Cell::Number(number) => number.to_string(),
    }
}

/// The words of the `outcome` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutcomeWord {
    Ok,
    Reset,
    Timeout,
    Error,
}

/// Each word the `outcome` column accepts (any case).
const OUTCOME_WORDS: [(&str, OutcomeWord); 5] = [
    ("ok", OutcomeWord::Ok),
    ("success", OutcomeWord::Ok),
    ("reset", OutcomeWord::Reset),
    ("timeout", OutcomeWord::Timeout),
    ("error", OutcomeWord::Error),
];

fn parse_outcome_word(text: &str) -> Option<OutcomeWord> {
    OUTCOME_WORDS.into_iter().find(|(word, _)| word.eq_ignore_ascii_case(text)).map(|(_, outcome)| outcome)
}

fn outcome_word_name(outcome: OutcomeWord) -> &'static str {
    OUTCOME_WORDS.into_iter().find(|(_, word)| *word == outcome).map_or("?", |(name, _)| name)
}

/// A client request's outcome. A status decides with the error code ([`classify`]); the words
/// `reset` and `timeout` stand for a request without a response, so they contradict a status.
/// Without a status: `reset`, `timeout`, `ok`, or a 5xx fault's error code.
fn client_outcome(
    status: Option<u16>,
    error_code: Option<&str>,
    word: Option<OutcomeWord>,
) -> Result<Outcome, FieldError> {
    match (status, word) {
        (Some(status), Some(word @ (OutcomeWord::Reset | OutcomeWord::Timeout))) => Err(FieldError::new(
            "outcome",
            format!("`{}` (no response) contradicts status {status}", outcome_word_name(word)),
        )),
        (Some(_), _) => classify(status, error_code).map_err(|message| FieldError::new("status", message)),
        (None, Some(OutcomeWord::Reset)) => Ok(Outcome::Fault(FaultClass::ConnectionReset)),
        (None, Some(OutcomeWord::Timeout)) => Ok(Outcome::Fault(FaultClass::Timeout)),
        (None, Some(OutcomeWord::Ok)) => Ok(Outcome::Success),
        (None, _) if error_code.is_some() => {
            classify(None, error_code).map_err(|message| FieldError::new("error_code", message))
        }
        (None, _) => Err(FieldError::line(
            "no outcome: give a status, an error code of a 5xx fault, or outcome ok, reset or timeout",
        )),
    }
}

fn parse_status(cell: Cell<'_>) -> Result<u16, FieldError> {
    let text = cell_text(cell);
    text.parse::<u16>()
        .ok()
        .filter(|status| (100..=599).contains(status))
        .ok_or_else(|| FieldError::new("status", format!("expected an HTTP status in 100..=599, found `{text}`")))
}

fn parse_latency(cell: Cell<'_>) -> Result<f64, FieldError> {
    let latency_ms = match cell {
        Cell::Text(text) => text.parse::<f64>().ok(),
        Cell::Number(number) => number.as_f64(),
    };
    latency_ms.filter(|latency_ms| (0.0..=LATENCY_MS_MAX).contains(latency_ms)).ok_or_else(|| {
        FieldError::new(
            "latency_ms",
            format!("expected milliseconds in 0..={LATENCY_MS_MAX}, found `{}`", cell_text(cell)),
        )
    })
}

/// A time cell: JSON numbers are Unix seconds, their resolution read from their shortest
/// decimal form (JSON keeps no trailing zeros).
fn parse_time(cell: Cell<'_>) -> Result<(i64, u32), FieldError> {
    let result = match cell {
        Cell::Text(text) => parse_client_time(text),
        Cell::Number(number) => {
            let text = number.to_string();
            let text = text.strip_suffix(".0").unwrap_or(&text);
            parse_client_time(text)
        }
    };
    result.map_err(|message| FieldError::new("time", message))
}

/// The request of one row.
fn client_request(line: u64, cells: &Cells<'_>) -> Result<Request, FieldError> {
    let (time_ms, time_resolution_ms) = match cells[TIME] {
        Some(cell) => parse_time(cell)?,
        None => return Err(FieldError::new("time", "empty: every request needs a time")),
    };
    let latency_ms = cells[LATENCY_MS].map(parse_latency).transpose()?;
    let status = cells[STATUS].map(parse_status).transpose()?;
    let error_code = cells[ERROR_CODE].map(cell_text);
    let word = cells[OUTCOME]
        .map(|cell| {
            let text = cell_text(cell);
            parse_outcome_word(&text).ok_or_else(|| {
                FieldError::new("outcome", format!("expected ok, success, reset, timeout or error, found `{text}`"))
            })
        })
        .transpose()?;
    let operation = cells[OPERATION]
        .map(|cell| {
            let text = cell_text(cell);
            OperationKind::parse_name(&text).ok_or_else(|| {
                FieldError::new(
                    "operation",
                    format!("expected GET, PUT, DELETE, HEAD, LIST or an S3 operation name, found `{text}`"),
                )
            })
        })
        .transpose()?
        .unwrap_or(OperationKind::Other);
    Ok(Request {
        line,
        time_ms,
        time_resolution_ms,
        operation,
        key: cells[KEY].map(cell_text),
        latency_ms,
        outcome: client_outcome(status, error_code.as_deref(), word)?,
    })
}

/// Reads a CSV client log: a header row naming the columns (any order, any case; other columns
/// ignored), then one request a record. Quoted fields follow RFC 4180.
pub fn read_csv(reader: impl Read, path: &str, columns: &ColumnMap, mode: Mode) -> Result<Parsed, LogError> {
    // The csv crate's line numbers skip blank lines; a record's byte offset is exact, and
    // the newlines counted on the way in turn it into a line.
    let newlines = Rc::new(RefCell::new(Newlines::default()));
    let counting = NewlineCounter { inner: reader, newlines: Rc::clone(&newlines), offset: 0 };
    let mut csv = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(counting);
    let line_at = |byte: u64| newlines.borrow_mut().line_at(byte);
    let csv_error = |error: csv::Error| {
        let line = error.position().map_or(0, |position| line_at(position.byte()));
        FieldError::line(format!("cannot read CSV: {error}")).at(path, line)
    };
    let header = csv.byte_headers().map_err(csv_error)?.clone();
    let indexes = header_indexes(&header, columns).map_err(|error| error.at(path, 1))?;
    let mut collector = Collector::new(path, mode);
    let mut record = csv::ByteRecord::new();
    while csv.read_byte_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, |position| line_at(position.byte()));
        let request = csv_row(&record).and_then(|row| {
            let mut cells: Cells<'_> = [None; 7];
            for (cell, index) in cells.iter_mut().zip(indexes) {
                *cell = index.and_then(|index| row.get(index).copied()).and_then(text_cell);
            }
            client_request(line, &cells)
        });
        collector.add(line, request)?;
    }
    collector.set_lines(newlines.borrow().lines());
    Ok(collector.finish())
}

/// The newlines a reader has passed, for turning byte offsets (in increasing order) into lines.
#[derive(Default)]
struct Newlines {
    /// Newlines not yet passed by `line_at`: their offset, and whether a `\r` precedes them.
    pending: VecDeque<(u64, bool)>,
    /// Newlines before the last offset asked about.
    passed: u64,
    /// Bytes read, and the last of them (for the count of lines and `\r\n` across reads).
    bytes: u64,
    last_byte: Option<u8>,
}

impl Newlines {
    /// The 1-based line of a record the csv crate says starts at byte `offset`. Its offset is
    /// where it began looking, before the blank lines it skips: skip them too.
    fn line_at(&mut self, mut offset: u64) -> u64 {
        loop {
            while self.pending.front().is_some_and(|(newline, _)| *newline < offset) {
                self.pending.pop_front();
                self.passed += 1;
            }
            match self.pending.front() {
                Some(&(newline, after_cr)) if newline == offset || (after_cr && newline == offset + 1) => {
                    offset = newline + 1;
                }
                _ => return self.passed + 1,
            }
        }
    }

    fn lines(&self) -> u64 {
        let newlines = self.passed + self.pending.len() as u64;
        newlines + u64::from(self.bytes > 0 && self.last_byte != Some(b'\n'))
    }
}

struct NewlineCounter<R> {
    inner: R,
    newlines: Rc<RefCell<Newlines>>,
    offset: u64,
}

impl<R: Read> Read for NewlineCounter<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        let mut newlines = self.newlines.borrow_mut();
        for (at, byte) in buffer[..read].iter().enumerate() {
            if *byte == b'\n' {
                let after_cr = newlines.last_byte == Some(b'\r');
                newlines.pending.push_back((self.offset + at as u64, after_cr));
            }
            newlines.last_byte = Some(*byte);
        }
        self.offset += read as u64;
        newlines.bytes = self.offset;
        Ok(read)
    }
}

/// A record's fields as text (a non-UTF-8 field is an error for its line).
fn csv_row(record: &csv::ByteRecord) -> Result<Vec<&str>, FieldError> {
    record
        .iter()
        .enumerate()
        .map(|(index, field)| {
            std::str::from_utf8(field).map_err(|_| FieldError::line(format!("column {} is not UTF-8", index + 1)))
        })
        .collect()
}

/// Where each column of `columns` is in the header.
fn header_indexes(header: &csv::ByteRecord, columns: &ColumnMap) -> Result<[Option<usize>; 7], FieldError> {
    let names: Vec<String> = header
        .iter()
        .map(|name| String::from_utf8_lossy(name).trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let mut indexes = [None; 7];
    for (slot, (field, column)) in indexes.iter_mut().zip(columns.named()) {
        let mut matches = names.iter().enumerate().filter(|(_, name)| name.eq_ignore_ascii_case(column));
        *slot = matches.next().map(|(index, _)| index);
        if matches.next().is_some() {
            return Err(FieldError::new(field, format!("the header has column `{column}` twice")));
        }
    }
    let header_text = names.join(",");
    if indexes[TIME].is_none() {
        return Err(FieldError::new(
            "time",
            format!("the header ({header_text}) has no column `{}` (rename with the time column flag)", columns.time),
        ));
    }
    if indexes[STATUS].is_none() && indexes[ERROR_CODE].is_none() && indexes[OUTCOME].is_none() {
        return Err(FieldError::new(
            "status",
            format!(
                "the header ({header_text}) has none of the outcome columns `{}`, `{}`, `{}`",
                columns.status, columns.error_code, columns.outcome
            ),
        ));
    }
    Ok(indexes)
}

/// Reads a JSON-lines client log: one object a line, keyed by the column names (other keys
/// ignored); values are strings or numbers, `null` meaning absent. Blank lines are skipped.
pub fn read_jsonl(reader: impl BufRead, path: &str, columns: &ColumnMap, mode: Mode) -> Result<Parsed, LogError> {
    let mut collector = Collector::new(path, mode);
    let names = columns.named();
    let lines = for_each_line(reader, path, |line, text| {
        let request = text.and_then(|text| {
            if text.trim().is_empty() {
                return Ok(None);
            }
            let object: Map<String, Value> =
                serde_json::from_str(text).map_err(|error| FieldError::line(format!("not a JSON object: {error}")))?;
            let mut cells: Cells<'_> = [None; 7];
            for (cell, (field, key)) in cells.iter_mut().zip(names) {
                *cell = match object.get(key) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(text)) => text_cell(text),
                    Some(Value::Number(number)) => Some(Cell::Number(number)),
                    Some(other) => {
                        return Err(FieldError::new(field, format!("expected a string or a number, found {other}")))
                    }
                };
            }
            client_request(line, &cells).map(Some)
        });
        collector.add_line(line, request)
    })?;
    collector.set_lines(lines);
    Ok(collector.finish())
}
