//! Properties: an access-log record written and read back is itself, and no input of any
//! kind makes a parser panic.

use proptest::prelude::*;
use retrylab_logs::{
    read_access_log, read_csv, read_jsonl, AccessLogEntry, ColumnMap, FaultClass, Mode, OperationKind, Outcome, Request,
};

/// An unquoted field's value: no spaces, not `-` (the log's "empty").
fn bare() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[A-Za-z0-9+/=:._\\[\\]\"-]{1,12}".prop_filter("`-` is empty", |text| text != "-"))
}

/// A quoted field's value: anything on one line without `" ` (the format cannot tell it from
/// the field's end), not `-`.
fn quoted() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[ -~é]{0,16}".prop_filter("representable", |text| text != "-" && !text.contains("\" ")))
}

fn number() -> impl Strategy<Value = Option<u64>> {
    proptest::option::of(any::<u64>())
}

fn entry() -> impl Strategy<Value = AccessLogEntry> {
    let head = (bare(), bare(), -62_135_596_800i64..253_402_300_799, bare(), bare(), bare(), bare(), bare(), quoted());
    let numbers = (proptest::option::of(100u16..=599), bare(), number(), number(), number(), number());
    let tail = (quoted(), quoted(), proptest::collection::vec(bare(), 10));
    let extra = proptest::collection::vec("[a-z0-9=:/._-]{1,8}", 0..3);
    (head, numbers, tail, extra).prop_map(|(head, numbers, tail, extra)| {
        let (bucket_owner, bucket, time_s, remote_ip, requester, request_id, operation, key, request_uri) = head;
        let (http_status, error_code, bytes_sent, object_size, total_time_ms, turn_around_time_ms) = numbers;
        let (referrer, user_agent, rest) = tail;
        let mut rest = rest.into_iter();
        let mut next = || rest.next().flatten();
        let mut entry = AccessLogEntry {
            bucket_owner,
            bucket,
            time_ms: time_s * 1000,
            remote_ip,
            requester,
            request_id,
            operation,
            key,
            request_uri,
            http_status,
            error_code,
            bytes_sent,
            object_size,
            total_time_ms,
            turn_around_time_ms,
            referrer,
            user_agent,
            version_id: next(),
            host_id: next(),
            signature_version: next(),
            cipher_suite: next(),
            authentication_type: next(),
            host_header: next(),
            tls_version: next(),
            access_point_arn: next(),
            acl_required: next(),
            source_region: next(),
            extra: Vec::new(),
        };
        // Extra fields exist only after a source region is written, which Display always does.
        entry.extra = extra;
        entry
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn an_entry_written_reads_back_as_itself(entry in entry()) {
        let line = entry.to_string();
        prop_assert_eq!(AccessLogEntry::parse(&line), Ok(entry), "{}", line);
    }

    #[test]
    fn no_string_makes_a_parser_panic(text in "(\\PC|[ \"\\[\\],{}\n-])*") {
        let _ = AccessLogEntry::parse(&text);
        let _ = read_access_log(text.as_bytes(), "x", Mode::Skip);
        let _ = read_csv(text.as_bytes(), "x", &ColumnMap::default(), Mode::Skip);
        let _ = read_jsonl(text.as_bytes(), "x", &ColumnMap::default(), Mode::Skip);
    }

    #[test]
    fn no_bytes_make_a_reader_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = read_access_log(bytes.as_slice(), "x", Mode::Skip);
        let _ = read_csv(bytes.as_slice(), "x", &ColumnMap::default(), Mode::Skip);
        let _ = read_jsonl(bytes.as_slice(), "x", &ColumnMap::default(), Mode::Skip);
    }

    /// Damaged copies of a real record: every prefix, and a byte replaced anywhere.
    #[test]
    fn damaged_records_are_errors_or_records_never_panics(entry in entry(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let line = entry.to_string();
        let at = cut.index(line.len());
        let _ = read_access_log(line.as_bytes()[..at].as_ref(), "x", Mode::Skip);
        let mut damaged = line.into_bytes();
        damaged[at] = byte;
        let _ = read_access_log(damaged.as_slice(), "x", Mode::Skip);
        let csv_like = format!("time,status,latency_ms\n{}", String::from_utf8_lossy(&damaged));
        let _ = read_csv(csv_like.as_bytes(), "x", &ColumnMap::default(), Mode::Skip);
    }
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Success),
        (400u16..=499, proptest::option::of("[A-Za-z]{1,12}"))
            .prop_map(|(status, code)| Outcome::ClientError { status, code }),
        Just(Outcome::Fault(FaultClass::InternalError)),
        Just(Outcome::Fault(FaultClass::SlowDown)),
        Just(Outcome::Fault(FaultClass::ServiceUnavailable)),
        prop_oneof![501u16..=502, 504u16..=599].prop_map(|status| Outcome::Fault(FaultClass::OtherServerError(status))),
        Just(Outcome::Fault(FaultClass::ConnectionReset)),
        Just(Outcome::Fault(FaultClass::Timeout)),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    let kind = proptest::sample::select(OperationKind::ALL.to_vec());
    let key = proptest::option::of("[a-z0-9/._-]{1,20}".prop_filter("`-` is empty", |key| key != "-"));
    (0i64..4_000_000_000, kind, key, proptest::option::of(0u32..100_000), outcome()).prop_map(
        |(time_s, operation, key, latency_ms, outcome)| Request {
            line: 1,
            time_ms: time_s * 1000,
            time_resolution_ms: 1000,
            operation,
            key,
            latency_ms: latency_ms.map(f64::from),
            outcome,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// What `retrylab run --access-log` writes reads back as the request it logged (a timeout
    /// becomes a reset: an access log cannot tell them apart).
    #[test]
    fn a_request_written_as_an_access_log_record_reads_back(request in request()) {
        let line = AccessLogEntry::from_request(&request).to_string();
        let mut expected = request.clone();
        if expected.outcome == Outcome::Fault(FaultClass::Timeout) {
            expected.outcome = Outcome::Fault(FaultClass::ConnectionReset);
        }
        let read = AccessLogEntry::parse(&line).and_then(|entry| entry.to_request(1));
        prop_assert_eq!(read, Ok(expected), "{}", line);
    }
}
