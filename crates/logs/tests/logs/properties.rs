//! Properties: an access-log record written and read back is itself, and no input of any
//! kind makes a parser panic.

use proptest::prelude::*;
use retrylab_logs::{read_access_log, read_csv, read_jsonl, AccessLogEntry, ColumnMap, Mode};

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
