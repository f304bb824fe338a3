//! The S3 server access log: every documented field, quoting, short and long records,
//! malformed lines, and the example in docs/examples/.

use retrylab_logs::{
    detect_format, read_access_log, AccessLogEntry, FaultClass, Format, LogError, Mode, OperationKind, Outcome,
    SKIPPED_KEPT,
};

/// A record with every field distinct, written in the documented order.
const FULL: &str = concat!(
    "79a5owner amzn-bucket [06/Feb/2019:00:00:38 +0000] 192.0.2.3 arn:aws:iam::123456789012:user/alice ",
    "3E57427F3EXAMPLE REST.PUT.OBJECT photos/2019/cat.jpg \"PUT /amzn-bucket/photos/2019/cat.jpg HTTP/1.1\" ",
    "200 - 113 4096 70 10 \"https://example.com/upload page\" \"aws-cli/2.15.0 Python/3.11 Linux\" ",
    "3HL4kqtJvjVBH40Nrjfkd s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV4 ",
    "ECDHE-RSA-AES128-GCM-SHA256 AuthHeader amzn-bucket.s3.us-west-1.amazonaws.com TLSv1.2 ",
    "arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP Yes us-east-1"
);

fn some(text: &str) -> Option<String> {
    Some(text.to_string())
}

#[test]
fn every_documented_field_is_read() {
    let entry = AccessLogEntry::parse(FULL).unwrap();
    assert_eq!(entry.bucket_owner, some("79a5owner"));
    assert_eq!(entry.bucket, some("amzn-bucket"));
    assert_eq!(entry.time_ms, 1_549_411_238_000);
    assert_eq!(entry.remote_ip, some("192.0.2.3"));
    assert_eq!(entry.requester, some("arn:aws:iam::123456789012:user/alice"));
    assert_eq!(entry.request_id, some("3E57427F3EXAMPLE"));
    assert_eq!(entry.operation, some("REST.PUT.OBJECT"));
    assert_eq!(entry.key, some("photos/2019/cat.jpg"));
    assert_eq!(entry.request_uri, some("PUT /amzn-bucket/photos/2019/cat.jpg HTTP/1.1"));
    assert_eq!(entry.http_status, Some(200));
    assert_eq!(entry.error_code, None);
    assert_eq!(entry.bytes_sent, Some(113));
    assert_eq!(entry.object_size, Some(4096));
    assert_eq!(entry.total_time_ms, Some(70));
    assert_eq!(entry.turn_around_time_ms, Some(10));
    assert_eq!(entry.referrer, some("https://example.com/upload page"));
    assert_eq!(entry.user_agent, some("aws-cli/2.15.0 Python/3.11 Linux"));
    assert_eq!(entry.version_id, some("3HL4kqtJvjVBH40Nrjfkd"));
    assert_eq!(entry.host_id, some("s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234="));
    assert_eq!(entry.signature_version, some("SigV4"));
    assert_eq!(entry.cipher_suite, some("ECDHE-RSA-AES128-GCM-SHA256"));
    assert_eq!(entry.authentication_type, some("AuthHeader"));
    assert_eq!(entry.host_header, some("amzn-bucket.s3.us-west-1.amazonaws.com"));
    assert_eq!(entry.tls_version, some("TLSv1.2"));
    assert_eq!(entry.access_point_arn, some("arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP"));
    assert_eq!(entry.acl_required, some("Yes"));
    assert_eq!(entry.source_region, some("us-east-1"));
    assert!(entry.extra.is_empty());
    // Written back exactly as read.
    assert_eq!(entry.to_string(), FULL);

    let request = entry.to_request(7).unwrap();
    assert_eq!(request.line, 7);
    assert_eq!(request.time_ms, 1_549_411_238_000);
    assert_eq!(request.time_resolution_ms, 1000);
    assert_eq!(request.operation, OperationKind::Put);
    assert_eq!(request.key.as_deref(), Some("photos/2019/cat.jpg"));
    assert_eq!(request.latency_ms, Some(70.0));
    assert_eq!(request.outcome, Outcome::Success);
}

/// The record of the FULL line from the status on, with the given tail.
fn with_status(status: &str, code: &str) -> String {
    FULL.replace("200 - 113", &format!("{status} {code} 113"))
}

#[test]
fn status_and_error_code_classify_the_request() {
    let outcome = |status: &str, code: &str| AccessLogEntry::parse(&with_status(status, code)).unwrap().to_request(1);
    assert_eq!(outcome("500", "InternalError").unwrap().outcome, Outcome::Fault(FaultClass::InternalError));
    assert_eq!(outcome("503", "SlowDown").unwrap().outcome, Outcome::Fault(FaultClass::SlowDown));
    assert_eq!(outcome("503", "ServiceUnavailable").unwrap().outcome, Outcome::Fault(FaultClass::ServiceUnavailable));
    assert_eq!(
        outcome("404", "NoSuchKey").unwrap().outcome,
        Outcome::ClientError { status: 404, code: Some("NoSuchKey".into()) }
    );
    // No status: a response never completed, what the client sees as a reset.
    assert_eq!(outcome("-", "-").unwrap().outcome, Outcome::Fault(FaultClass::ConnectionReset));
    assert_eq!(outcome("-", "SlowDown").unwrap().outcome, Outcome::Fault(FaultClass::SlowDown));
    let error = outcome("-", "AccessDenied").unwrap_err();
    assert_eq!(error.field, Some("error_code"));
}

#[test]
fn dashes_quoted_or_not_are_empty_and_numbers_may_be_dashes() {
    let line = "- bkt [06/Feb/2019:00:00:38 +0000] - - - REST.GET.BUCKET - \"-\" 200 - - - - - - \"-\"";
    let entry = AccessLogEntry::parse(line).unwrap();
    assert_eq!(entry.bucket_owner, None);
    assert_eq!(entry.key, None);
    assert_eq!(entry.request_uri, None);
    assert_eq!((entry.bytes_sent, entry.object_size, entry.total_time_ms), (None, None, None));
    assert_eq!(entry.referrer, None, "an unquoted `-` in a quoted field");
    assert_eq!(entry.user_agent, None);
    let request = entry.to_request(1).unwrap();
    assert_eq!(request.operation, OperationKind::List);
    assert_eq!(request.latency_ms, None);
}

#[test]
fn quoted_fields_keep_spaces_and_unescaped_quotes() {
    // AWS logs a user agent's quotes as they came (no escaping).
    let line = FULL.replace("\"aws-cli/2.15.0 Python/3.11 Linux\"", "\"() { :;}; echo; echo \"probe\"\"");
    let entry = AccessLogEntry::parse(&line).unwrap();
    assert_eq!(entry.user_agent, some("() { :;}; echo; echo \"probe\""));
    assert_eq!(entry.version_id, some("3HL4kqtJvjVBH40Nrjfkd"));
    assert_eq!(entry.to_string(), line);
}

#[test]
fn older_short_records_and_later_extra_fields_are_read() {
    let through_user_agent = FULL.split(" 3HL4kqtJvjVBH40Nrjfkd").next().unwrap();
    let entry = AccessLogEntry::parse(through_user_agent).unwrap();
    assert_eq!(entry.user_agent, some("aws-cli/2.15.0 Python/3.11 Linux"));
    assert_eq!((entry.version_id, entry.host_id, entry.source_region), (None, None, None));

    let through_version = format!("{through_user_agent} -");
    assert_eq!(AccessLogEntry::parse(&through_version).unwrap().version_id, None);

    let longer = format!("{FULL} 42 \"a later field\" -");
    let entry = AccessLogEntry::parse(&longer).unwrap();
    assert_eq!(entry.source_region, some("us-east-1"));
    assert_eq!(entry.extra, vec!["42".to_string(), "\"a later field\"".to_string(), "-".to_string()]);
    assert_eq!(entry.to_string(), longer);
}

#[test]
fn operations_map_to_kinds_and_back() {
    for kind in
        [OperationKind::Get, OperationKind::Put, OperationKind::Delete, OperationKind::Head, OperationKind::List]
    {
        assert_eq!(OperationKind::from_s3_operation(kind.s3_operation_name()), kind);
    }
    assert_eq!(OperationKind::from_s3_operation("REST.PUT.PART"), OperationKind::Put);
    assert_eq!(OperationKind::from_s3_operation("REST.POST.UPLOAD"), OperationKind::Put);
    assert_eq!(OperationKind::from_s3_operation("REST.POST.MULTI_OBJECT_DELETE"), OperationKind::Delete);
    assert_eq!(OperationKind::from_s3_operation("REST.GET.VERSIONING"), OperationKind::Other);
    assert_eq!(OperationKind::from_s3_operation(OperationKind::Other.s3_operation_name()), OperationKind::Other);
}

#[test]
fn malformed_lines_are_reported_with_their_line_and_field() {
    let good = FULL;
    let lines = [
        good.to_string(),                                                        // 1
        String::new(),                                                           // 2: blank, skipped silently
        good.replace("[06/Feb/2019:00:00:38 +0000]", "06/Feb/2019"),             // 3
        good.replace(" 200 - 113", " 2x0 - 113"),                                // 4
        good.replace(" 200 - 113", " 999 - 113"),                                // 5
        good.replace(" 4096 ", " -5 "),                                          // 6
        "just three words".to_string(),                                          // 7: no bracketed time third
        good.replace("\"aws-cli/2.15.0 Python/3.11 Linux\" ", "\"unterminated"), // 8
        good.replace("06/Feb", "36/Feb"),                                        // 9
        good.to_string(),                                                        // 10
    ];
    let mut text = lines.join("\n").into_bytes();
    text.extend_from_slice(b"\nbad \xff byte\n"); // 11: not UTF-8
    let parsed = read_access_log(text.as_slice(), "s3.log", Mode::Skip).unwrap();
    assert_eq!(parsed.lines, 11);
    assert_eq!(parsed.requests.iter().map(|request| request.line).collect::<Vec<_>>(), vec![1, 10]);
    assert_eq!(parsed.skipped_total, 8);
    let where_and_field: Vec<(u64, Option<&str>)> =
        parsed.skipped.iter().map(|error| (error.line, error.field)).collect();
    assert_eq!(
        where_and_field,
        vec![
            (3, Some("time")),
            (4, Some("http_status")),
            (5, Some("http_status")),
            (6, Some("object_size")),
            (7, Some("time")),
            (8, Some("user_agent")),
            (9, Some("time")),
            (11, None),
        ]
    );
    assert_eq!(parsed.skipped[1].to_string(), "s3.log:4: http_status: expected a whole number or `-`, found `2x0`");
    assert!(parsed.skipped[7].to_string().starts_with("s3.log:11: not UTF-8"), "{}", parsed.skipped[7]);

    let strict = read_access_log(text.as_slice(), "s3.log", Mode::Strict).unwrap_err();
    assert_eq!((strict.line, strict.field), (3, Some("time")));
}

#[test]
fn skipped_errors_are_capped_but_counted() {
    let text = "garbage\n".repeat(SKIPPED_KEPT + 15);
    let parsed = read_access_log(text.as_bytes(), "bad.log", Mode::Skip).unwrap();
    assert!(parsed.requests.is_empty());
    assert_eq!(parsed.skipped.len(), SKIPPED_KEPT);
    assert_eq!(parsed.skipped_total, SKIPPED_KEPT as u64 + 15);
    assert_eq!(parsed.skipped.last().map(|error: &LogError| error.line), Some(SKIPPED_KEPT as u64));
}

#[test]
fn requests_come_back_in_time_order_ties_in_file_order() {
    let at = |time: &str, key: &str| FULL.replace("00:00:38", time).replace("photos/2019/cat.jpg ", &format!("{key} "));
    let text = [at("00:00:40", "a"), at("00:00:38", "b"), at("00:00:40", "c"), at("00:00:39", "d")].join("\n");
    let parsed = read_access_log(text.as_bytes(), "x", Mode::Strict).unwrap();
    let keys: Vec<_> = parsed.requests.iter().map(|request| request.key.clone().unwrap()).collect();
    assert_eq!(keys, ["b", "d", "a", "c"]);
}

#[test]
fn the_example_log_parses_with_the_expected_counts() {
    let text = include_str!("../../../../docs/examples/access.log");
    assert_eq!(detect_format(&text.lines().take(3).collect::<Vec<_>>()), Some(Format::S3Access));
    let parsed = read_access_log(text.as_bytes(), "access.log", Mode::Strict).unwrap();
    assert_eq!(parsed.requests.len(), 30);
    let count = |outcome: &dyn Fn(&Outcome) -> bool| parsed.requests.iter().filter(|r| outcome(&r.outcome)).count();
    assert_eq!(count(&|o| *o == Outcome::Success), 25);
    assert_eq!(count(&|o| o.fault() == Some(FaultClass::InternalError)), 2);
    assert_eq!(count(&|o| o.fault() == Some(FaultClass::SlowDown)), 1);
    assert_eq!(count(&|o| matches!(o, Outcome::ClientError { status: 404, .. })), 1);
    assert_eq!(count(&|o| matches!(o, Outcome::ClientError { status: 403, .. })), 1);
    let kinds = |kind| parsed.requests.iter().filter(|r| r.operation == kind).count();
    assert_eq!(
        [OperationKind::Put, OperationKind::Get, OperationKind::Head, OperationKind::List, OperationKind::Delete]
            .map(kinds),
        [11, 10, 4, 3, 2]
    );
    assert!(parsed.requests.windows(2).all(|pair| pair[0].time_ms <= pair[1].time_ms));
    let span_ms = parsed.requests.last().unwrap().time_ms - parsed.requests[0].time_ms;
    assert_eq!(span_ms, 236_000);
    // Every example line is written back byte for byte.
    for line in text.lines() {
        assert_eq!(AccessLogEntry::parse(line).unwrap().to_string(), line);
    }
}

/// A generated log of a few thousand records (the 1,000,000-line measurement in docs/logs.md
/// used the same generator): times jump back and forth, as in delivered logs, which the
/// reader's one-entry time cache must follow.
#[test]
fn a_generated_log_reads_back_every_record_in_time_order() {
    let example: Vec<AccessLogEntry> = include_str!("../../../../docs/examples/access.log")
        .lines()
        .map(|line| AccessLogEntry::parse(line).unwrap())
        .collect();
    let records = 3000i64;
    let mut text = String::new();
    for index in 0..records {
        let mut entry = example[(index % 30) as usize].clone();
        // A permutation of 0..records (7 is coprime with 3000): out of order, no two alike.
        let second = (index * 7) % records;
        entry.time_ms = 1_796_030_045_000 + second * 1000;
        entry.key = Some(format!("k{second}"));
        text.push_str(&entry.to_string());
        text.push('\n');
    }
    let parsed = read_access_log(text.as_bytes(), "generated.log", Mode::Strict).unwrap();
    assert_eq!(parsed.requests.len() as i64, records);
    for (second, request) in (0..records).zip(&parsed.requests) {
        assert_eq!(request.time_ms, 1_796_030_045_000 + second * 1000);
        assert_eq!(request.key, Some(format!("k{second}")));
    }
}
