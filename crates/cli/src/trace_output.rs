//! `retrylab run`'s trace views: `--trace` (one `key=value` line per
//! event), `--trace-json` (one JSON object per line), `--trace-filter` with
//! `--from`/`--to` (select by node, operation, key, event and virtual time)
//! and `--op N` (the story of one operation). Lines are streamed to stdout
//! as they are rendered, so `| head` stops the work and ends quietly.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use retrylab_harness::{
    operation_records, Event, EventKind, NodeNames, OperationRecord, RunReport, TraceValue, MODIFY_RETRY_NOTE,
};

/// A parsed `--trace-filter` plus time window: an event is shown when it
/// matches every field given (values of one field are alternatives).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceFilter {
    nodes: Vec<Pattern>,
    operations: Vec<(u64, u64)>,
    keys: Vec<Pattern>,
    events: Vec<String>,
    from: Option<Duration>,
    to: Option<Duration>,
}

/// An exact value, or a prefix when it ends in `*`.
#[derive(Clone, Debug, PartialEq)]
enum Pattern {
    Exact(String),
    Prefix(String),
}

impl Pattern {
    fn new(text: &str) -> Pattern {
        match text.strip_suffix('*') {
            Some(prefix) => Pattern::Prefix(prefix.to_owned()),
            None => Pattern::Exact(text.to_owned()),
        }
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Pattern::Exact(exact) => value == exact,
            Pattern::Prefix(prefix) => value.starts_with(prefix.as_str()),
        }
    }
}

/// The event names a filter's `event=` accepts.
const EVENT_NAMES: [&str; 11] =
    ["op-start", "op-end", "send", "fault", "lost", "response", "retry", "give-up", "crash", "restart", "note"];

impl TraceFilter {
    /// Parses `node=gateway.3,op=17,key=shares/*,event=retry` and the
    /// `--from`/`--to` times; the error says which part is wrong and why.
    pub fn parse(spec: Option<&str>, from: Option<&str>, to: Option<&str>) -> Result<TraceFilter, String> {
        let mut filter = TraceFilter::default();
        for part in spec.unwrap_or_default().split(',').map(str::trim).filter(|part| !part.is_empty()) {
            let Some((field, value)) = part.split_once('=') else {
                return Err(format!("--trace-filter: {part:?} is not FIELD=VALUE (fields: node, op, key, event)"));
            };
            let value = value.trim();
            if value.is_empty() {
                return Err(format!("--trace-filter: {field}= needs a value"));
            }
            match field.trim() {
                "node" => filter.nodes.push(Pattern::new(value)),
                "op" => filter.operations.push(parse_operations(value)?),
                "key" => filter.keys.push(Pattern::new(value)),
                "event" if EVENT_NAMES.contains(&value) => filter.events.push(value.to_owned()),
                "event" => {
                    return Err(format!(
                        "--trace-filter: event={value}: no such event; one of {}",
                        EVENT_NAMES.join(", ")
                    ))
                }
                other => {
                    return Err(format!("--trace-filter: unknown field {other:?}: filter by node, op, key or event"))
                }
            }
        }
        filter.from = from.map(|text| parse_time("--from", text)).transpose()?;
        filter.to = to.map(|text| parse_time("--to", text)).transpose()?;
        if let (Some(from), Some(to)) = (filter.from, filter.to) {
            if from > to {
                return Err(format!(
                    "--from {} is after --to {}: the window would be empty",
                    from.as_secs_f64(),
                    to.as_secs_f64()
                ));
            }
        }
        Ok(filter)
    }

    /// Whether the filter keeps every event.
    pub fn is_empty(&self) -> bool {
        *self == TraceFilter::default()
    }

    /// Whether `event` is shown. `op_keys` holds each operation's key, so
    /// `key=` also selects the events of the operations on that key.
    fn matches(&self, event: &Event, names: &NodeNames, op_keys: &BTreeMap<u64, String>) -> bool {
        if self.from.is_some_and(|from| event.at < from) || self.to.is_some_and(|to| event.at > to) {
            return false;
        }
        if !self.nodes.is_empty() && !self.nodes.iter().any(|p| p.matches(&names.name(event.node))) {
            return false;
        }
        if !self.events.is_empty() && !self.events.iter().any(|name| name == event.name()) {
            return false;
        }
        let operation = event.operation();
        if !self.operations.is_empty()
            && !operation.is_some_and(|op| self.operations.iter().any(|&(low, high)| (low..=high).contains(&op)))
        {
            return false;
        }
        if !self.keys.is_empty() {
            let own = match event.detail_field("key") {
                Some(TraceValue::Str(key)) => Some(key.as_ref()),
                _ => None,
            };
            let of_operation = operation.and_then(|op| op_keys.get(&op)).map(String::as_str);
            let keys = [own, of_operation];
            if !self.keys.iter().any(|p| keys.iter().flatten().any(|key| p.matches(key))) {
                return false;
            }
        }
        true
    }
}

/// `17` or `10..20` (inclusive).
fn parse_operations(text: &str) -> Result<(u64, u64), String> {
    let number = |t: &str| {
        t.trim().parse::<u64>().map_err(|_| {
            format!("--trace-filter: op={text}: not an operation number (a whole number, or a range like 10..20)")
        })
    };
    match text.split_once("..") {
        Some((low, high)) => {
            let (low, high) = (number(low)?, number(high)?);
            if low > high {
                return Err(format!("--trace-filter: op={text}: the range is empty ({low} > {high})"));
            }
            Ok((low, high))
        }
        None => number(text).map(|op| (op, op)),
    }
}

/// A virtual time: `1200` or `1200s` (seconds), `1200000ms`, `20m`, `1h`,
/// fractions allowed (`1.5s`), at most a million hours.
pub fn parse_time(flag: &str, text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let (number, unit_s) = if let Some(n) = trimmed.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = trimmed.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = trimmed.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = trimmed.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (trimmed, 1.0)
    };
    let bad = || format!("{flag} {text:?}: not a virtual time (e.g. 1200, 1200s, 1200000ms, 20m, 1h)");
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    let seconds = value * unit_s;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(bad());
    }
    if seconds > 3.6e9 {
        return Err(format!("{flag} {text:?}: more than a million hours of virtual time"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// How `run` shows its trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Lines,
    Json,
}

/// Each operation's key, for `key=` filters.
fn operation_keys(events: &[Event]) -> BTreeMap<u64, String> {
    events
        .iter()
        .filter_map(|event| match (event.kind, event.detail_field("key")) {
            (EventKind::OperationStart { operation, .. }, Some(TraceValue::Str(key))) => {
                Some((operation, key.clone().into_owned()))
            }
            _ => None,
        })
        .collect()
}

/// Streams the events `filter` selects to `out`, one line each.
pub fn write_trace(
    out: &mut impl Write,
    report: &RunReport,
    filter: &TraceFilter,
    format: Format,
) -> std::io::Result<()> {
    let Some(events) = &report.trace else { return Ok(()) };
    let op_keys = if filter.keys.is_empty() { BTreeMap::new() } else { operation_keys(events) };
    for event in events.iter().filter(|event| filter.matches(event, &report.node_names, &op_keys)) {
        let line = match format {
            Format::Lines => event.line(&report.node_names),
            Format::Json => event.json(&report.node_names),
        };
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// `--op N`: the operation's story, or `None` when the run has no operation N.
pub fn write_story(out: &mut impl Write, report: &RunReport, operation: u64) -> Result<(), StoryError> {
    let records = operation_records(report);
    let Some(record) = records.iter().find(|record| record.operation == operation) else {
        let low = records.iter().map(|r| r.operation).min();
        let high = records.iter().map(|r| r.operation).max();
        let range = match (low, high) {
            (Some(low), Some(high)) => format!("operations are numbered {low} to {high}"),
            _ => "it has no operations".to_owned(),
        };
        return Err(StoryError::NoSuchOperation(format!(
            "seed {}: no operation {operation} in this run ({range})",
            report.seed
        )));
    };
    let Some(events) = &report.trace else { return Ok(()) };
    let names = &report.node_names;
    writeln!(out, "{}", headline(record, report))?;
    writeln!(out, "{}", verdict(record))?;
    writeln!(out)?;
    for event in events.iter().filter(|event| event.operation() == Some(operation)) {
        writeln!(out, "{:>14.6}s {:<16} {}", event.at.as_secs_f64(), names.name(event.node), sentence(event, names))?;
    }
    writeln!(out)?;
    Ok(())
}

/// Why `--op` printed no story.
#[derive(Debug)]
pub enum StoryError {
    NoSuchOperation(String),
    Io(std::io::Error),
}

impl From<std::io::Error> for StoryError {
    fn from(error: std::io::Error) -> Self {
        StoryError::Io(error)
    }
}

fn headline(record: &OperationRecord, report: &RunReport) -> String {
    let key = record.key.as_deref().map(|key| format!(" {key}")).unwrap_or_default();
    format!(
        "operation {}: {}{key} on {} (seed {}, policy {})",
        record.operation, record.what, record.node, report.seed, report.policy
    )
}

fn verdict(record: &OperationRecord) -> String {
    let took = record.end.saturating_sub(record.start);
    let outcome = if record.ok {
        format!("succeeded ({})", record.status)
    } else {
        let status = if record.status == 0 { "no status".to_owned() } else { record.status.to_string() };
        format!("failed ({status} {})", record.error.as_deref().unwrap_or("error"))
    };
    let modify = if record.modify_retries > 0 {
        format!(" and {} by the modify loop", record.modify_retries)
    } else {
        String::new()
    };
    format!(
        "  {outcome} after {} attempt(s), {} retr{} in all layers{modify}, {} S3 request(s); {:.6}s to {:.6}s ({:.3} ms)",
        record.attempts,
        record.retries,
        if record.retries == 1 { "y" } else { "ies" },
        record.s3_requests,
        record.start.as_secs_f64(),
        record.end.as_secs_f64(),
        took.as_secs_f64() * 1000.0
    )
}

fn field(event: &Event, name: &str) -> Option<String> {
    event.detail_field(name).map(|value| match value {
        TraceValue::U64(n) => n.to_string(),
        TraceValue::I64(n) => n.to_string(),
        TraceValue::Bool(b) => b.to_string(),
        TraceValue::Ms(d) => milliseconds(*d),
        TraceValue::Secs(at) => format!("{:.6}s", at.as_secs_f64()),
        TraceValue::Str(s) => s.clone().into_owned(),
    })
}

/// `20 ms`, or `956.000 ms` when not whole.
fn milliseconds(duration: Duration) -> String {
    if duration.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
    }
}

fn attempt_prefix(event: &Event) -> String {
    match (event.context.outer_attempt, event.context.attempt) {
        (Some(outer), Some(inner)) => format!("[try {outer}, attempt {inner}] "),
        (None, Some(attempt)) => format!("[attempt {attempt}] "),
        _ => String::new(),
    }
}

/// One event in words, with its `key=value` line's facts.
fn sentence(event: &Event, names: &NodeNames) -> String {
    let at = attempt_prefix(event);
    let fault_state = || {
        let mut state = Vec::new();
        if let Some(chain) = field(event, "chain") {
            state.push(format!("chain {chain}"));
        }
        if let Some(outage) = field(event, "outage") {
            state.push(format!("inside outage {outage}"));
        }
        if state.is_empty() {
            String::new()
        } else {
            format!(" [{}]", state.join(", "))
        }
    };
    match event.kind {
        EventKind::OperationStart { what, .. } => {
            let key = field(event, "key").map(|key| format!(" {key}")).unwrap_or_default();
            format!("starts {what}{key}")
        }
        EventKind::OperationEnd { status, .. } => match field(event, "error") {
            None if status == 200 => "ends: success".to_owned(),
            None => format!("ends: status {status}"),
            Some(error) => format!("ends: FAILED, status {status} {error}"),
        },
        EventKind::RequestSent { to, what, slot } => {
            let key = field(event, "key").map(|key| format!(" {key}")).unwrap_or_default();
            format!("{at}sends {what}{key} to {} (slot {slot})", names.name(to))
        }
        EventKind::FaultInjected { slot, kind, applied } => {
            if field(event, "corruption").is_some() {
                return format!("{at}corrupts slot {slot}: {kind}");
            }
            let status = field(event, "status").map(|s| format!(" (status {s})")).unwrap_or_default();
            let effect = match (applied, field(event, "ambiguous").as_deref()) {
                (true, _) => "; the request took effect anyway (ambiguous: applied but failed)",
                (false, Some("true")) => "; not applied, but the client cannot tell (ambiguous)",
                _ => "; not applied",
            };
            format!("{at}injects fault {kind}{status} into slot {slot}{effect}{}", fault_state())
        }
        EventKind::MessageLost { to } => format!("{at}loses a message to {}", names.name(to)),
        EventKind::Response { slot, status, error } => {
            let answer = if status == 0 { error.to_owned() } else { format!("status {status}") };
            let arrival = if field(event, "arrived").is_some() { "; the request never reached S3" } else { "" };
            format!("{at}gets slot {slot}'s answer: {answer}{arrival}{}", fault_state())
        }
        EventKind::RetryDecided { delay, .. } => {
            format!("{at}retries after {}: {}", milliseconds(delay), reason(event))
        }
        EventKind::GaveUp { reason: why, .. } => format!("{at}gives up ({why}): {}", reason(event)),
        EventKind::NodeCrashed => "crashes".to_owned(),
        EventKind::NodeRestarted => "restarts".to_owned(),
        EventKind::Note { what, value } if what == MODIFY_RETRY_NOTE => format!(
            "{at}modify retries after {} (its try {value} failed: {}; at most {} tries)",
            field(event, "delay_ms").unwrap_or_default(),
            field(event, "error").unwrap_or_default(),
            field(event, "attempts_max").unwrap_or_default()
        ),
        EventKind::Note { what, value } => format!("{at}note {what} {value}"),
    }
}

/// A decision's why: the error, the policy and its state.
fn reason(event: &Event) -> String {
    let mut parts = Vec::new();
    if let Some(error) = field(event, "error") {
        let class = field(event, "class").map(|class| format!(" ({class})")).unwrap_or_default();
        parts.push(format!("error {error}{class}"));
    }
    if let Some(policy) = field(event, "policy") {
        let max = field(event, "attempts_max").map(|max| format!(", at most {max} attempts")).unwrap_or_default();
        parts.push(format!("policy {policy}{max}"));
    }
    if let Some(quota) = field(event, "quota_left") {
        parts.push(format!("retry quota left {quota}"));
    }
    if let Some(tokens) = field(event, "tokens_left") {
        parts.push(format!("tokens left {tokens}"));
    }
    if let Some(elapsed) = field(event, "elapsed_ms") {
        let deadline = field(event, "deadline_ms").map(|d| format!(" of a {d} deadline")).unwrap_or_default();
        parts.push(format!("{elapsed} spent{deadline}"));
    }
    parts.join("; ")
}

/// What `run` was asked to show of its trace.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    format: Format,
    filter: TraceFilter,
    operation: Option<u64>,
}

/// Why a view could not be printed.
#[derive(Debug)]
pub enum ViewError {
    /// `--op N` names no operation of the run (a usage error).
    Usage(String),
    /// Standard output could not be written (a closed pipe among others).
    Io(std::io::Error),
}

impl View {
    /// The view the arguments ask for (`None`: no trace wanted, the run
    /// only hashes its events), or why the filter is wrong.
    pub fn of(args: &crate::args::RunArgs) -> Result<Option<View>, String> {
        let filter = TraceFilter::parse(args.trace_filter.as_deref(), args.from.as_deref(), args.to.as_deref())?;
        let format = if args.trace_json { Format::Json } else { Format::Lines };
        let wanted = args.trace || args.trace_json || args.op.is_some() || !filter.is_empty();
        Ok(wanted.then_some(View { format, filter, operation: args.op }))
    }

    /// Streams the trace (or the operation's story) to stdout, then the run's summary.
    pub fn print(
        self,
        scenario: &retrylab_scenario::Scenario,
        report: &mut RunReport,
        warnings: &[String],
    ) -> Result<(), ViewError> {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        match self.operation {
            Some(operation) => match write_story(&mut out, report, operation) {
                Ok(()) => {}
                Err(StoryError::NoSuchOperation(message)) => return Err(ViewError::Usage(message)),
                Err(StoryError::Io(error)) => return Err(ViewError::Io(error)),
            },
            None => write_trace(&mut out, report, &self.filter, self.format).map_err(ViewError::Io)?,
        }
        // The events went out above; the summary must not print them again.
        report.trace = None;
        let summary = match self.format {
            Format::Lines if self.operation.is_none() => format!("\n{}", crate::output::run_human(scenario, report)),
            Format::Lines => crate::output::run_human(scenario, report),
            Format::Json => summary_line(&crate::output::run_json(scenario, report), warnings),
        };
        out.write_all(summary.as_bytes()).map_err(ViewError::Io)?;
        out.flush().map_err(ViewError::Io)
    }
}

/// `run --json`'s object (with the warnings) as the last JSON line.
fn summary_line(run_json: &str, warnings: &[String]) -> String {
    let mut summary: serde_json::Value = serde_json::from_str(run_json).unwrap_or(serde_json::Value::Null);
    if let Some(object) = summary.as_object_mut() {
        object.insert("warnings".to_owned(), serde_json::json!(warnings));
    }
    let mut line = serde_json::json!({ "event": "run-summary", "summary": summary }).to_string();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_take_every_documented_unit() {
        let expected = Duration::from_secs(1200);
        for text in ["1200", "1200s", "1200000ms", "20m", "0.3333333333333333h"] {
            let parsed = parse_time("--from", text).unwrap();
            assert!(parsed.abs_diff(expected) < Duration::from_micros(1), "{text}: {parsed:?}");
        }
        assert_eq!(parse_time("--to", "1.5s").unwrap(), Duration::from_millis(1500));
        for bad in ["", "s", "12q", "-1", "NaN", "inf", "1e12h"] {
            assert!(parse_time("--from", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_filter_parses_each_field_and_refuses_what_it_does_not_know() {
        let filter =
            TraceFilter::parse(Some("node=gateway.3, op=17,op=20..22,key=shares/*,event=retry"), None, None).unwrap();
        assert_eq!(filter.nodes, [Pattern::Exact("gateway.3".to_owned())]);
        assert_eq!(filter.operations, [(17, 17), (20, 22)]);
        assert_eq!(filter.keys, [Pattern::Prefix("shares/".to_owned())]);
        assert_eq!(filter.events, ["retry"]);
        assert!(TraceFilter::parse(Some(""), None, None).unwrap().is_empty());
        for bad in ["op=", "op=1..", "bucket=x", "event=retries", "=3"] {
            assert!(TraceFilter::parse(Some(bad), None, None).is_err(), "{bad}");
        }
    }
}
