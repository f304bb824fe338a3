//! Client-side logs: CSV and JSON lines, the column convention and its renaming, outcomes,
//! malformed rows, and the examples in docs/examples/.

use retrylab_logs::{detect_format, read_csv, read_jsonl, ColumnMap, FaultClass, Format, Mode, OperationKind, Outcome};

fn csv(text: &str, columns: &ColumnMap, mode: Mode) -> Result<retrylab_logs::Parsed, retrylab_logs::LogError> {
    read_csv(text.as_bytes(), "client.csv", columns, mode)
}

#[test]
fn csv_with_the_convention_reads_every_column() {
    let text = "time,latency_ms,status,error_code,outcome,operation,key\n\
                2026-11-30T09:14:05.112Z,81.5,503,SlowDown,,put,\"a, b\"\n";
    let parsed = csv(text, &ColumnMap::default(), Mode::Strict).unwrap();
    let request = &parsed.requests[0];
    assert_eq!(request.line, 2);
    assert_eq!(request.time_ms, 1_796_030_045_112);
    assert_eq!(request.time_resolution_ms, 1);
    assert_eq!(request.latency_ms, Some(81.5));
    assert_eq!(request.outcome, Outcome::Fault(FaultClass::SlowDown));
    assert_eq!(request.operation, OperationKind::Put);
    assert_eq!(request.key.as_deref(), Some("a, b"));
}

#[test]
fn csv_columns_can_be_renamed_reordered_and_extra() {
    let columns = ColumnMap {
        time: "ts".into(),
        latency_ms: "duration".into(),
        status: "http".into(),
        operation: "verb".into(),
        ..ColumnMap::default()
    };
    let text = "host,HTTP,ts,Duration,verb\nh1,200,1796030045,12,GET\nh1,500,1796030046.5,3,LIST\n";
    let parsed = csv(text, &columns, Mode::Strict).unwrap();
    let got: Vec<_> = parsed
        .requests
        .iter()
        .map(|r| (r.time_ms, r.time_resolution_ms, r.latency_ms, r.operation, r.outcome.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1_796_030_045_000, 1000, Some(12.0), OperationKind::Get, Outcome::Success),
            (1_796_030_046_500, 100, Some(3.0), OperationKind::List, Outcome::Fault(FaultClass::InternalError)),
        ]
    );
    // The default names are not in this header.
    let error = csv(text, &ColumnMap::default(), Mode::Skip).unwrap_err();
    assert_eq!((error.line, error.field), (1, Some("time")));
    assert!(error
        .to_string()
        .starts_with("client.csv:1: time: the header (host,HTTP,ts,Duration,verb) has no column `time`"));
}

#[test]
fn a_header_needs_an_outcome_column() {
    let error = csv("time,latency_ms\n1,2\n", &ColumnMap::default(), Mode::Skip).unwrap_err();
    assert_eq!(error.field, Some("status"));
}

#[test]
fn outcomes_from_words_codes_and_statuses() {
    let text = "time,status,error_code,outcome\n\
                1,,,reset\n\
                2,,,TIMEOUT\n\
                3,,,ok\n\
                4,,SlowDown,error\n\
                5,404,NoSuchKey,\n\
                6,200,,timeout\n\
                7,,,\n\
                8,,NoSuchKey,\n\
                9,,,maybe\n";
    let parsed = csv(text, &ColumnMap::default(), Mode::Skip).unwrap();
    let outcomes: Vec<_> = parsed.requests.iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(
        outcomes,
        vec![
            Outcome::Fault(FaultClass::ConnectionReset),
            Outcome::Fault(FaultClass::Timeout),
            Outcome::Success,
            Outcome::Fault(FaultClass::SlowDown),
            Outcome::ClientError { status: 404, code: Some("NoSuchKey".into()) },
        ]
    );
    let errors: Vec<_> = parsed.skipped.iter().map(|e| (e.line, e.field)).collect();
    assert_eq!(errors, vec![(7, Some("outcome")), (8, None), (9, Some("error_code")), (10, Some("outcome"))]);
    assert_eq!(parsed.skipped[0].to_string(), "client.csv:7: outcome: `timeout` (no response) contradicts status 200");
}

#[test]
fn malformed_csv_rows_name_their_line_and_field() {
    let mut text = b"time,latency_ms,status,operation\n\
                     2026-11-30T09:14:05Z,1,200,GET\n\
                     yesterday,1,200,GET\n\
                     2026-11-30T09:14:05Z,-3,200,GET\n\
                     2026-11-30T09:14:05Z,1,2000,GET\n\
                     2026-11-30T09:14:05Z,1,200,COPY\n\
                     2026-11-30T09:14:05Z,1\n\
                     ,1,200,GET\n"
        .to_vec();
    text.extend_from_slice(b"2026-11-30T09:14:05Z,1,200,G\xffT\n");
    let parsed = read_csv(text.as_slice(), "c.csv", &ColumnMap::default(), Mode::Skip).unwrap();
    assert_eq!(parsed.requests.len(), 1);
    let errors: Vec<_> = parsed.skipped.iter().map(|e| (e.line, e.field)).collect();
    assert_eq!(
        errors,
        vec![
            (3, Some("time")),
            (4, Some("latency_ms")),
            (5, Some("status")),
            (6, Some("operation")),
            (7, None),
            (8, Some("time")),
            (9, None),
        ]
    );
    let strict = read_csv(text.as_slice(), "c.csv", &ColumnMap::default(), Mode::Strict).unwrap_err();
    assert_eq!(strict.line, 3);
}

#[test]
fn jsonl_takes_numbers_or_strings_and_reports_bad_lines() {
    let text = "{\"time\": 1796030045.25, \"latency_ms\": 7, \"status\": 200, \"operation\": \"HEAD\"}\n\
                \n\
                {\"time\": \"2026-11-30T09:14:04Z\", \"latency_ms\": \"7.5\", \"status\": \"500\"}\n\
                [1, 2]\n\
                {\"time\": 1796030045, \"status\": true}\n\
                {\"latency_ms\": 1, \"status\": 200}\n\
                {\"time\": 1796030046, \"outcome\": \"reset\", \"latency_ms\": null, \"key\": \"k\"}\n";
    let parsed = read_jsonl(text.as_bytes(), "c.jsonl", &ColumnMap::default(), Mode::Skip).unwrap();
    assert_eq!(parsed.lines, 7);
    let got: Vec<_> = parsed
        .requests
        .iter()
        .map(|r| (r.line, r.time_ms, r.time_resolution_ms, r.latency_ms, r.operation, r.outcome.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (3, 1_796_030_044_000, 1000, Some(7.5), OperationKind::Other, Outcome::Fault(FaultClass::InternalError)),
            (1, 1_796_030_045_250, 10, Some(7.0), OperationKind::Head, Outcome::Success),
            (7, 1_796_030_046_000, 1000, None, OperationKind::Other, Outcome::Fault(FaultClass::ConnectionReset)),
        ]
    );
    let errors: Vec<_> = parsed.skipped.iter().map(|e| (e.line, e.field)).collect();
    assert_eq!(errors, vec![(4, None), (5, Some("status")), (6, Some("time"))]);
}

#[test]
fn jsonl_keys_can_be_renamed() {
    let columns = ColumnMap { time: "@timestamp".into(), outcome: "result".into(), ..ColumnMap::default() };
    let text = "{\"@timestamp\": \"2026-11-30T09:14:04.5Z\", \"result\": \"timeout\"}\n";
    let parsed = read_jsonl(text.as_bytes(), "c.jsonl", &columns, Mode::Strict).unwrap();
    assert_eq!(parsed.requests[0].outcome, Outcome::Fault(FaultClass::Timeout));
    assert_eq!(parsed.requests[0].time_resolution_ms, 100);
}

fn expected_example_outcomes() -> Vec<Outcome> {
    // In time order.
    let success = Outcome::Success;
    vec![
        success.clone(),
        success.clone(),
        success.clone(),
        Outcome::ClientError { status: 404, code: Some("NoSuchKey".into()) },
        Outcome::Fault(FaultClass::InternalError),
        success.clone(),
        success.clone(),
        Outcome::Fault(FaultClass::SlowDown),
        Outcome::Fault(FaultClass::Timeout),
        Outcome::Fault(FaultClass::ConnectionReset),
        success,
    ]
}

#[test]
fn the_example_client_logs_parse_alike() {
    let csv_text = include_str!("../../../../docs/examples/client.csv");
    let jsonl_text = include_str!("../../../../docs/examples/client.jsonl");
    assert_eq!(detect_format(&csv_text.lines().take(3).collect::<Vec<_>>()), Some(Format::Csv));
    assert_eq!(detect_format(&jsonl_text.lines().take(3).collect::<Vec<_>>()), Some(Format::Jsonl));
    let from_csv = read_csv(csv_text.as_bytes(), "client.csv", &ColumnMap::default(), Mode::Strict).unwrap();
    let from_jsonl = read_jsonl(jsonl_text.as_bytes(), "client.jsonl", &ColumnMap::default(), Mode::Strict).unwrap();
    for parsed in [&from_csv, &from_jsonl] {
        assert_eq!(parsed.requests.iter().map(|r| r.outcome.clone()).collect::<Vec<_>>(), expected_example_outcomes());
    }
    let summary = |parsed: &retrylab_logs::Parsed| {
        parsed.requests.iter().map(|r| (r.time_ms, r.operation, r.key.clone(), r.latency_ms)).collect::<Vec<_>>()
    };
    // The two files hold the same requests (the JSON one's reset has no latency).
    let mut csv_summary = summary(&from_csv);
    csv_summary[9].3 = None;
    assert_eq!(csv_summary, summary(&from_jsonl));
}

#[test]
fn formats_are_detected_from_first_lines() {
    assert_eq!(detect_format(&["", "{\"time\": 1}"]), Some(Format::Jsonl));
    assert_eq!(detect_format(&["time,status"]), Some(Format::Csv));
    assert_eq!(detect_format(&["hello"]), None);
    assert_eq!(detect_format(&[]), None);
    for format in Format::ALL {
        assert_eq!(Format::from_name(format.name()), Some(format));
    }
}

#[test]
fn csv_counts_lines_and_numbers_records_by_their_first_line() {
    let text = "time,status,key\n1,200,\"two\nline key\"\n\n2,200,k\n";
    let parsed = csv(text, &ColumnMap::default(), Mode::Strict).unwrap();
    let lines: Vec<_> = parsed.requests.iter().map(|r| (r.line, r.key.clone().unwrap())).collect();
    assert_eq!(lines, vec![(2, "two\nline key".to_string()), (5, "k".to_string())]);
    assert_eq!(parsed.lines, 5);
}

#[test]
fn csv_line_numbers_survive_blank_and_crlf_lines() {
    let text = "time,status\r\n\r\n1,200\r\n\r\n\r\n2,x\r\n3,200";
    let parsed = csv(text, &ColumnMap::default(), Mode::Skip).unwrap();
    assert_eq!(parsed.requests.iter().map(|r| r.line).collect::<Vec<_>>(), vec![3, 7]);
    assert_eq!(parsed.skipped.iter().map(|e| e.line).collect::<Vec<_>>(), vec![6]);
    assert_eq!(parsed.lines, 7);
}
