//! Timestamps of logs: the access log's `06/Feb/2019:00:00:38 +0000` and a client log's
//! RFC 3339 or Unix seconds, all as Unix epoch milliseconds.

use std::fmt;

use jiff::fmt::strtime;
use jiff::Timestamp;

/// The access log's time format (inside its brackets).
const ACCESS_TIME_FORMAT: &str = "%d/%b/%Y:%H:%M:%S %z";

/// The latest Unix second jiff represents (9999-12-31T23:59:59Z): bounds client times.
const UNIX_SECONDS_MAX: i64 = 253_402_300_799;

/// Parses the text between an access log's brackets.
pub(crate) fn parse_access_time(text: &str) -> Result<i64, String> {
    strtime::parse(ACCESS_TIME_FORMAT, text)
        .and_then(|broken_down| broken_down.to_timestamp())
        .map(Timestamp::as_millisecond)
        .map_err(|error| format!("`{text}` is not a time like `06/Feb/2019:00:00:38 +0000`: {error}"))
}

/// Remembers the last access-log time parsed: consecutive records mostly share their second,
/// so most lines skip the parse.
#[derive(Default)]
pub(crate) struct AccessTimeCache {
    text: String,
    time_ms: i64,
}

impl AccessTimeCache {
    pub(crate) fn parse(&mut self, text: &str) -> Result<i64, String> {
        if self.text.is_empty() || self.text != text {
            self.time_ms = parse_access_time(text)?;
            self.text.clear();
            self.text.push_str(text);
        }
        Ok(self.time_ms)
    }
}

/// Writes `time_ms` as the access log does (whole seconds, UTC), brackets included.
/// Times jiff cannot represent (beyond the years -9999..=9999) are written as `[-]`, which
/// the parser refuses rather than misreads.
pub(crate) fn write_access_time(f: &mut fmt::Formatter<'_>, time_ms: i64) -> fmt::Result {
    match Timestamp::from_millisecond(time_ms.div_euclid(1000) * 1000) {
        Ok(timestamp) => write!(f, "[{} +0000]", timestamp.strftime("%d/%b/%Y:%H:%M:%S")),
        Err(_) => f.write_str("[-]"),
    }
}

/// Parses a client log's time: RFC 3339 (`2026-11-30T19:37:22.125Z`, an offset required) or
/// Unix seconds as a decimal number (`1764531442.125`). Returns the time and its resolution
/// from the fractional digits written: none 1000 ms, one 100, two 10, three or more 1
/// (digits beyond milliseconds are dropped).
pub(crate) fn parse_client_time(text: &str) -> Result<(i64, u32), String> {
    if text.bytes().next().is_some_and(|byte| byte.is_ascii_digit()) && !text.contains(['-', ':']) {
        return parse_unix_seconds(text);
    }
    let timestamp: Timestamp = text.parse().map_err(|error| {
        format!("`{text}` is neither RFC 3339 (2026-11-30T19:37:22.125Z) nor Unix seconds: {error}")
    })?;
    let fraction_digits =
        text.split_once(['.', ',']).map_or(0, |(_, rest)| rest.bytes().take_while(u8::is_ascii_digit).count());
    Ok((timestamp.as_millisecond(), resolution_ms(fraction_digits)))
}

/// Unix seconds written as `SECONDS[.FRACTION]`, in 0..=9999-12-31T23:59:59.
fn parse_unix_seconds(text: &str) -> Result<(i64, u32), String> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || (text.contains('.') && fraction.is_empty()) {
        return Err(format!("`{text}` is not Unix seconds (digits, optionally `.` and more digits)"));
    }
    let seconds = whole
        .parse::<i64>()
        .ok()
        .filter(|seconds| *seconds <= UNIX_SECONDS_MAX)
        .ok_or_else(|| format!("`{text}` Unix seconds are beyond the year 9999"))?;
    let millis = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0i64, |millis, digit| millis * 10 + i64::from(digit - b'0'));
    Ok((seconds * 1000 + millis, resolution_ms(fraction.len())))
}

fn resolution_ms(fraction_digits: usize) -> u32 {
    match fraction_digits {
        0 => 1000,
        1 => 100,
        2 => 10,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_time_reads_the_documented_form_and_offsets() {
        assert_eq!(parse_access_time("06/Feb/2019:00:00:38 +0000"), Ok(1_549_411_238_000));
        // The same instant written an hour east of UTC.
        assert_eq!(parse_access_time("06/Feb/2019:01:00:38 +0100"), Ok(1_549_411_238_000));
        assert!(parse_access_time("06/Foo/2019:00:00:38 +0000").is_err());
        assert!(parse_access_time("31/Feb/2019:00:00:38 +0000").is_err());
        assert!(parse_access_time("06/Feb/2019:00:00:38").is_err());
        assert!(parse_access_time("").is_err());
    }

    #[test]
    fn client_times_give_their_resolution() {
        assert_eq!(parse_client_time("2019-02-06T00:00:38Z"), Ok((1_549_411_238_000, 1000)));
        assert_eq!(parse_client_time("2019-02-06T00:00:38.5Z"), Ok((1_549_411_238_500, 100)));
        assert_eq!(parse_client_time("2019-02-06T01:00:38.125+01:00"), Ok((1_549_411_238_125, 1)));
        assert_eq!(parse_client_time("2019-02-06T00:00:38.123456Z"), Ok((1_549_411_238_123, 1)));
        assert_eq!(parse_client_time("1549411238"), Ok((1_549_411_238_000, 1000)));
        assert_eq!(parse_client_time("1549411238.25"), Ok((1_549_411_238_250, 10)));
        assert_eq!(parse_client_time("1549411238.123456"), Ok((1_549_411_238_123, 1)));
        for bad in ["", "abc", "1549411238.", "1.2.3", "99999999999999999999", "2019-02-06T00:00:38", "1e9"] {
            assert!(parse_client_time(bad).is_err(), "{bad}");
        }
    }
}
