//! What a failed HTTP exchange means to retrylab: an S3 error status and
//! body become `StoreError::Service`, a failure with no status line becomes
//! `StoreError::Transport`, exactly as `SimS3Client` reports them.

use retrylab_s3::{S3ErrorCode, StoreError, TransportError};

/// Every code retrylab's model knows, to read `<Code>` back.
const KNOWN_CODES: [S3ErrorCode; 6] = [
    S3ErrorCode::InternalError,
    S3ErrorCode::SlowDown,
    S3ErrorCode::NoSuchKey,
    S3ErrorCode::PreconditionFailed,
    S3ErrorCode::ConditionalRequestConflict,
    S3ErrorCode::InvalidArgument,
];

/// The error a non-2xx answer stands for: the `<Code>` of S3's XML error
/// body when retrylab knows it; with no code at all (a HEAD answer has no
/// body), the model's own code for the status.
///
/// Any other answer maps by status class, so the retry layer classifies it
/// as S3's clients do: 503 is S3's throttling answer (`SlowDown`); any other
/// 5xx is a server fault worth retrying (`InternalError`); any other status
/// (4xx, and a 3xx redirect, which is never followed) means the request as
/// sent cannot succeed here (`InvalidArgument`, not retried). A code
/// retrylab does not know is never read as a known one by its status:
/// `404 NoSuchBucket` is a misconfiguration, not an absent key.
pub(crate) fn service_error(status: u16, body: &[u8]) -> StoreError {
    let code = match xml_error_code(body) {
        Some(code) => KNOWN_CODES.into_iter().find(|known| known.code() == code),
        None => KNOWN_CODES.into_iter().find(|known| known.status() == status),
    };
    StoreError::Service(code.unwrap_or_else(|| code_for_status_class(status)))
}

/// The `<Code>` element of an S3 XML error body, if there is one.
///
/// A plain search rather than an XML parser: the body is S3's fixed
/// `<Error><Code>…</Code>…</Error>` shape, and anything else falls back to
/// the status anyway.
pub(crate) fn xml_error_code(body: &[u8]) -> Option<&str> {
    let body = std::str::from_utf8(body).ok()?;
    let start = body.find("<Code>")? + "<Code>".len();
    let length = body[start..].find("</Code>")?;
    Some(body[start..start + length].trim())
}

fn code_for_status_class(status: u16) -> S3ErrorCode {
    match status {
        503 => S3ErrorCode::SlowDown,
        500..=599 => S3ErrorCode::InternalError,
        _ => S3ErrorCode::InvalidArgument,
    }
}

/// A failure with no status line.
///
/// The question that matters to the retry layer and the checkers is
/// whether the server may have seen the request
/// (`StoreError::is_indeterminate`): a connection that was never made is
/// `ConnectionRefused` (nothing sent: whatever the cause, refused, host
/// unreachable, is the closest variant); a timeout is `Timeout`; anything
/// else happened after the request left (the connection closed or reset
/// before a whole answer arrived) and is `ConnectionReset`.
pub(crate) fn transport_error(error: &reqwest::Error) -> StoreError {
    // reqwest looks through the whole chain of causes for both (an I/O
    // `TimedOut` counts as a timeout, a failed connect as a connect error).
    let transport = if error.is_timeout() {
        TransportError::Timeout
    } else if error.is_connect() {
        TransportError::ConnectionRefused
    } else {
        TransportError::ConnectionReset
    };
    StoreError::Transport(transport)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_body(code: &str) -> Vec<u8> {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>m</Message>\
             <RequestId>r</RequestId></Error>"
        )
        .into_bytes()
    }

    #[test]
    fn every_known_code_is_read_from_its_body_whatever_the_status() {
        for code in KNOWN_CODES {
            assert_eq!(service_error(code.status(), &error_body(code.code())), StoreError::Service(code));
            // The body's code wins over a status that disagrees.
            assert_eq!(service_error(418, &error_body(code.code())), StoreError::Service(code));
        }
    }

    #[test]
    fn without_a_body_the_status_names_the_code() {
        for code in KNOWN_CODES {
            assert_eq!(service_error(code.status(), b""), StoreError::Service(code));
        }
    }

    #[test]
    fn unknown_codes_map_by_status_class() {
        let cases = [
            (502, "BadGateway", S3ErrorCode::InternalError),
            (503, "ServiceUnavailable", S3ErrorCode::SlowDown),
            (504, "GatewayTimeout", S3ErrorCode::InternalError),
            (403, "AccessDenied", S3ErrorCode::InvalidArgument),
            (404, "NoSuchBucket", S3ErrorCode::InvalidArgument),
            (409, "BucketAlreadyExists", S3ErrorCode::InvalidArgument),
            (301, "PermanentRedirect", S3ErrorCode::InvalidArgument),
        ];
        for (status, code, expected) in cases {
            assert_eq!(service_error(status, &error_body(code)), StoreError::Service(expected), "{status} {code}");
        }
    }

    #[test]
    fn a_body_that_is_not_s3_xml_falls_back_to_the_status() {
        assert_eq!(service_error(500, b"<html>oops</html>"), StoreError::Service(S3ErrorCode::InternalError));
        assert_eq!(service_error(503, &[0xff, 0xfe]), StoreError::Service(S3ErrorCode::SlowDown));
        assert_eq!(service_error(404, b"<Code>unterminated"), StoreError::Service(S3ErrorCode::NoSuchKey));
        assert_eq!(service_error(502, b""), StoreError::Service(S3ErrorCode::InternalError));
        assert_eq!(service_error(403, b""), StoreError::Service(S3ErrorCode::InvalidArgument));
    }
}
