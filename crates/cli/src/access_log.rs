//! `retrylab run --access-log FILE`: what the simulated S3 served in a run,
//! one line per request in the S3 server access-log format, so `retrylab
//! fit` can be tested against known truth and users can see the format.

use std::fmt::Write as _;
use std::path::Path;

use retrylab_harness::{s3_request_records, RunReport, S3RequestRecord};
use retrylab_logs::{AccessLogEntry, FaultClass, OperationKind, Outcome, Request};

use crate::Failure;

/// The wall-clock time the log says virtual time 0 was: 2012-05-08T00:00:00Z,
/// the spring of the experiment (any fixed instant would do; it must not be now).
pub const EPOCH_MS: i64 = 1_336_435_200_000;

/// The access-log record of one request S3 received (`None`: it never arrived).
fn request_of(record: &S3RequestRecord, line: u64) -> Option<Request> {
    if !record.arrived {
        return None;
    }
    let outcome = match record.fault.as_deref() {
        Some("internal_error") => Outcome::Fault(FaultClass::InternalError),
        Some("slow_down") => Outcome::Fault(FaultClass::SlowDown),
        Some("connection_reset") => Outcome::Fault(FaultClass::ConnectionReset),
        Some("timeout") => Outcome::Fault(FaultClass::Timeout),
        // A request S3 answered; a hedge's cancelled copy was served all the same.
        _ if !record.answered || (200..400).contains(&record.status) => Outcome::Success,
        _ => match retrylab_logs::classify(Some(record.status), record.error.as_deref()) {
            Ok(outcome) => outcome,
            Err(_) => Outcome::ClientError { status: record.status, code: record.error.clone() },
        },
    };
    // Total time as S3 logs it: from the request's arrival to its answer
    // (the simulated answer's network leg included); none if unanswered.
    let latency_ms = record.answered_at.map(|answered| answered.saturating_sub(record.at).as_secs_f64() * 1000.0);
    let operation = OperationKind::parse_name(&record.what).unwrap_or(OperationKind::Other);
    let at_ms = i64::try_from(record.at.as_millis()).unwrap_or(i64::MAX / 2);
    Some(Request {
        line,
        time_ms: EPOCH_MS.saturating_add(at_ms),
        time_resolution_ms: 1,
        operation,
        key: record.key.clone(),
        latency_ms,
        outcome,
    })
}

/// The lines of `report`'s S3 requests, in arrival order (a full trace's report).
pub fn lines(report: &RunReport, bucket: &str) -> (String, u64) {
    let mut records = s3_request_records(report);
    records.sort_by_key(|record| (record.at, record.slot));
    let mut text = String::new();
    let mut count = 0;
    for record in &records {
        let Some(request) = request_of(record, count + 1) else { continue };
        count += 1;
        let entry = AccessLogEntry {
            bucket_owner: Some("retrylab".to_owned()),
            bucket: Some(bucket.to_owned()),
            remote_ip: Some("192.0.2.1".to_owned()),
            requester: Some("storage-server".to_owned()),
            request_id: Some(format!("{}{:012X}", record.s3_node.to_uppercase().replace('.', ""), record.slot)),
            ..AccessLogEntry::from_request(&request)
        };
        let _ = writeln!(text, "{entry}");
    }
    (text, count)
}

/// Writes the access log of `report` to `path`, whole or not at all.
pub fn write(report: &RunReport, path: &Path, bucket: &str) -> Result<u64, Failure> {
    let (text, count) = lines(report, bucket);
    crate::write_whole(path, text.as_bytes())?;
    Ok(count)
}
