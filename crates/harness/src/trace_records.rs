//! Reading a full trace back: each operation's story in one record (start,
//! end, outcome, attempts, whether any retry layer retried it) and each S3
//! request's fate with the fault process state it met, for plots, reports
//! and `retrylab run --op`.

use std::collections::BTreeMap;
use std::time::Duration;

use retrylab_sim::{Detail, Event, EventKind, NodeId, Value};

use crate::report::RunReport;

/// One workload operation, as its full trace tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationRecord {
    /// The operation's number in the trace (`op=` in every line of it).
    pub operation: u64,
    /// Its kind: `PUT`, `GET` (S3 workloads), `put`, `append`, `read`, `backup` (grids).
    pub what: String,
    /// What it worked on: the S3 key, or on a grid `file.<n>` / `backup.<n>`.
    pub key: Option<String>,
    /// The node that ran it (`storage-server`, `gateway.3`).
    pub node: String,
    /// Virtual time it started and ended (`end == start` if the run ended first).
    pub start: Duration,
    pub end: Duration,
    /// Whether its final answer was a success.
    pub ok: bool,
    /// The final status: 200, an HTTP error status, or 0 for none (a
    /// dropped connection, a timeout, or an operation the run never ended).
    pub status: u16,
    /// Tries of the whole operation by the retry layer at its own node (the
    /// storage server's S3 layer for `s3-requests`, the gateway's layer on
    /// a grid, 1 where the gateway does not retry): 1 + that layer's retries.
    pub attempts: u32,
    /// Retries decided for it in any retry layer (S3 layers and gateway
    /// layers, on any node, including a server's handler still working after
    /// the gateway gave up).
    pub retries: u32,
    /// Retries of a Tahoe-LAFS modify (an append) by the gateway's own
    /// modify loop, after an uncoordinated write or an ambiguous 500.
    pub modify_retries: u32,
    /// Whether anything retried it: a retry layer or the modify loop.
    pub retried: bool,
    /// S3 requests sent for it (first tries, retries and hedges, every server).
    pub s3_requests: u64,
    /// The final error's name (`InternalError`, `NotEnoughSharesError`), if it failed.
    pub error: Option<String>,
}

/// One S3 request, as its full trace tells it: the timeline of the fault process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3RequestRecord {
    /// When the request reached S3 (when its fault was decided); its send
    /// time if it never arrived (lost on the network, or its sender crashed).
    pub at: Duration,
    /// When the storage server sent it.
    pub sent_at: Duration,
    /// The request's slot: its index among the requests to its bucket (the
    /// common-random-number index of its fault and latency draws).
    pub slot: u64,
    /// The S3 node (bucket) it went to: `s3`, or `s3.<i>` on a grid.
    pub s3_node: String,
    /// `PUT`, `GET`, `HEAD`, `DELETE`, `LIST`.
    pub what: String,
    pub key: Option<String>,
    /// Whether it reached S3 at all.
    pub arrived: bool,
    /// The Gilbert-Elliott chain's state it met: `Some(true)` bad; `None`
    /// when the process is not bursty, the service was healed, or it never arrived.
    pub chain_bad: Option<bool>,
    /// Whether it arrived inside a scripted outage (`[[faults.outages]]`).
    pub in_outage: bool,
    /// The fault injected (`internal_error`, `slow_down`, `connection_reset`,
    /// `timeout`), if any.
    pub fault: Option<String>,
    /// Whether the faulted request took effect anyway ("applied but 500").
    pub applied: bool,
    /// The status the client saw (200/204 success, 500, 503, 404 ...), 0
    /// for none (a dropped connection or a timeout) or no answer at all.
    pub status: u16,
    /// The transport error the client saw (`timeout`, `connection_reset`), if any.
    pub error: Option<String>,
    /// Whether the client saw an answer (a hedge's losing copy is cancelled unanswered).
    pub answered: bool,
    /// When the answer reached the client.
    pub answered_at: Option<Duration>,
    /// The workload operation it was sent for, when known.
    pub operation: Option<u64>,
}

/// The detail of an `OperationEnd`: `ok`, and the error's name when it failed.
pub(crate) fn end_detail(error: Option<&'static str>) -> Detail {
    let mut detail: Detail = vec![("ok", error.is_none().into())];
    if let Some(error) = error {
        detail.push(("error", error.into()));
    }
    detail
}

fn text(event: &Event, field: &str) -> Option<String> {
    match event.detail_field(field)? {
        Value::Str(text) => Some(text.clone().into_owned()),
        _ => None,
    }
}

fn flag(event: &Event, field: &str) -> Option<bool> {
    match event.detail_field(field)? {
        Value::Bool(flag) => Some(*flag),
        _ => None,
    }
}

fn number(event: &Event, field: &str) -> Option<u64> {
    match event.detail_field(field)? {
        Value::U64(n) => Some(*n),
        _ => None,
    }
}

/// Every operation of a full trace (`TraceMode::Full`), in the order they
/// started; empty for a report without its events.
pub fn operation_records(report: &RunReport) -> Vec<OperationRecord> {
    let Some(events) = &report.trace else { return Vec::new() };
    let mut records: Vec<OperationRecord> = Vec::new();
    let mut index: BTreeMap<u64, usize> = BTreeMap::new();
    let mut home: Vec<NodeId> = Vec::new();
    for event in events {
        if let EventKind::OperationStart { operation, what } = event.kind {
            index.insert(operation, records.len());
            home.push(event.node);
            records.push(OperationRecord {
                operation,
                what: what.to_owned(),
                key: text(event, "key"),
                node: report.node_names.name(event.node).into_owned(),
                start: event.at,
                end: event.at,
                ok: false,
                status: 0,
                attempts: 1,
                retries: 0,
                modify_retries: 0,
                retried: false,
                s3_requests: 0,
                error: None,
            });
            continue;
        }
        let Some(&i) = event.operation().and_then(|operation| index.get(&operation)) else { continue };
        let record = &mut records[i];
        match event.kind {
            EventKind::OperationEnd { status, .. } => {
                record.end = event.at;
                record.status = status;
                record.ok = flag(event, "ok").unwrap_or(status == 200);
                record.error = text(event, "error");
            }
            EventKind::RetryDecided { .. } => {
                record.retries += 1;
                record.retried = true;
                if event.node == home[i] {
                    record.attempts += 1;
                }
            }
            EventKind::RequestSent { .. } => record.s3_requests += 1,
            EventKind::Note { what, .. } if what == retrylab_lafs::MODIFY_RETRY_NOTE => {
                record.modify_retries += 1;
                record.retried = true;
            }
            _ => {}
        }
    }
    records
}

/// Every S3 request of a full trace, in the order they were sent; empty
/// for a report without its events.
pub fn s3_request_records(report: &RunReport) -> Vec<S3RequestRecord> {
    let Some(events) = &report.trace else { return Vec::new() };
    let mut records: Vec<S3RequestRecord> = Vec::new();
    // (S3 node, slot) -> record; each storage server has one bucket, so its
    // requests' slots are unique per S3 node.
    let mut index: BTreeMap<(NodeId, u64), usize> = BTreeMap::new();
    let mut bucket_of: BTreeMap<NodeId, NodeId> = BTreeMap::new();
    for event in events {
        match event.kind {
            EventKind::RequestSent { to, what, slot } => {
                bucket_of.insert(event.node, to);
                index.insert((to, slot), records.len());
                records.push(S3RequestRecord {
                    at: event.at,
                    sent_at: event.at,
                    slot,
                    s3_node: report.node_names.name(to).into_owned(),
                    what: what.to_owned(),
                    key: text(event, "key"),
                    arrived: false,
                    chain_bad: None,
                    in_outage: false,
                    fault: None,
                    applied: false,
                    status: 0,
                    error: None,
                    answered: false,
                    answered_at: None,
                    operation: event.operation(),
                });
            }
            EventKind::FaultInjected { slot, kind, applied } if flag(event, "corruption") != Some(true) => {
                let Some(&i) = index.get(&(event.node, slot)) else { continue };
                let record = &mut records[i];
                record.at = event.at;
                record.arrived = true;
                record.fault = Some(kind.to_owned());
                record.applied = applied;
                record.chain_bad = text(event, "chain").map(|state| state == "bad");
                record.in_outage = number(event, "outage").is_some();
            }
            EventKind::Response { slot, status, error } => {
                let Some(bucket) = bucket_of.get(&event.node) else { continue };
                let Some(&i) = index.get(&(*bucket, slot)) else { continue };
                let record = &mut records[i];
                record.answered = true;
                record.answered_at = Some(event.at);
                record.status = status;
                record.error = (!error.is_empty()).then(|| error.to_owned());
                if let Some(Value::Secs(arrived)) = event.detail_field("arrived_s") {
                    record.at = *arrived;
                    record.arrived = true;
                    record.chain_bad = text(event, "chain").map(|state| state == "bad");
                    record.in_outage = number(event, "outage").is_some();
                }
            }
            _ => {}
        }
    }
    records
}
