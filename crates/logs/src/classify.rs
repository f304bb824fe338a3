//! From HTTP status and S3 error code to an outcome: one table for every log format.

/// What a request's response says about the service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// 2xx or 3xx.
    Success,
    /// 4xx: the service worked and refused the request (404 NoSuchKey, 412 PreconditionFailed,
    /// 403 AccessDenied, ...). Not a fault: retrying it does not help, and the fitter does not
    /// count it as one.
    ClientError { status: u16, code: Option<String> },
    /// The service (or the network to it) failed: what retries are for.
    Fault(FaultClass),
}

impl Outcome {
    pub fn fault(&self) -> Option<FaultClass> {
        match self {
            Outcome::Fault(class) => Some(*class),
            Outcome::Success | Outcome::ClientError { .. } => None,
        }
    }

    pub fn is_fault(&self) -> bool {
        self.fault().is_some()
    }

    /// The HTTP status and S3 error code a server answers with for this outcome (what an access
    /// log records): success 200; a client error its own; 500 `InternalError`, 503 `SlowDown`,
    /// 503 `ServiceUnavailable`, another 5xx without a code; none for a reset or a timeout
    /// (no response was sent). `classify` of the result gives the outcome back, but for
    /// `Timeout`, which becomes a reset in an access log.
    pub fn status_and_code(&self) -> (Option<u16>, Option<&str>) {
        match self {
            Outcome::Success => (Some(200), None),
            Outcome::ClientError { status, code } => (Some(*status), code.as_deref()),
            Outcome::Fault(FaultClass::InternalError) => (Some(500), Some("InternalError")),
            Outcome::Fault(FaultClass::SlowDown) => (Some(503), Some("SlowDown")),
            Outcome::Fault(FaultClass::ServiceUnavailable) => (Some(503), Some("ServiceUnavailable")),
            Outcome::Fault(FaultClass::OtherServerError(status)) => (Some(*status), None),
            Outcome::Fault(FaultClass::ConnectionReset | FaultClass::Timeout) => (None, None),
        }
    }
}

/// The kinds of fault the simulator can inject, as logs show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultClass {
    /// 500 (any code).
    InternalError,
    /// 503 with code `SlowDown`: S3's request-rate throttling.
    SlowDown,
    /// 503 with any other code, or none.
    ServiceUnavailable,
    /// Another 5xx status (501, 502, 504, ...).
    OtherServerError(u16),
    /// No response: the connection was reset or closed (client logs: outcome `reset`;
    /// access logs: a record with neither status nor error code).
    ConnectionReset,
    /// No response in time (client logs: outcome `timeout`).
    Timeout,
}

impl FaultClass {
    /// The name reports use: `InternalError`, `SlowDown`, `ServiceUnavailable`,
    /// `OtherServerError`, `ConnectionReset`, `Timeout`.
    pub fn name(self) -> &'static str {
        match self {
            FaultClass::InternalError => "InternalError",
            FaultClass::SlowDown => "SlowDown",
            FaultClass::ServiceUnavailable => "ServiceUnavailable",
            FaultClass::OtherServerError(_) => "OtherServerError",
            FaultClass::ConnectionReset => "ConnectionReset",
            FaultClass::Timeout => "Timeout",
        }
    }
}

/// The outcome of a response with this status and error code (`docs/logs.md` has the table).
/// With no status, only the codes of the 5xx faults (`InternalError`, `SlowDown`,
/// `ServiceUnavailable`) say what happened. `Err` says why the pair cannot be classified:
/// a status outside 200..=599, or no status and no such code.
pub fn classify(status: Option<u16>, error_code: Option<&str>) -> Result<Outcome, String> {
    match status {
        Some(200..=399) => Ok(Outcome::Success),
        Some(status @ 400..=499) => Ok(Outcome::ClientError { status, code: error_code.map(str::to_string) }),
        Some(500) => Ok(Outcome::Fault(FaultClass::InternalError)),
        Some(503) if error_code == Some("SlowDown") => Ok(Outcome::Fault(FaultClass::SlowDown)),
        Some(503) => Ok(Outcome::Fault(FaultClass::ServiceUnavailable)),
        Some(status @ 501..=599) => Ok(Outcome::Fault(FaultClass::OtherServerError(status))),
        Some(status) => Err(format!("status {status} is not a final HTTP response (200..=599)")),
        None => match error_code {
            Some("InternalError") => Ok(Outcome::Fault(FaultClass::InternalError)),
            Some("SlowDown") => Ok(Outcome::Fault(FaultClass::SlowDown)),
            Some("ServiceUnavailable") => Ok(Outcome::Fault(FaultClass::ServiceUnavailable)),
            Some(code) => Err(format!(
                "no status, and error code `{code}` alone does not say what happened \
                 (known without a status: InternalError, SlowDown, ServiceUnavailable)"
            )),
            None => Err("no status and no error code".to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes_map_to_the_documented_classes() {
        assert_eq!(classify(Some(200), None), Ok(Outcome::Success));
        assert_eq!(classify(Some(204), None), Ok(Outcome::Success));
        assert_eq!(classify(Some(304), None), Ok(Outcome::Success));
        assert_eq!(
            classify(Some(404), Some("NoSuchKey")),
            Ok(Outcome::ClientError { status: 404, code: Some("NoSuchKey".into()) })
        );
        assert_eq!(classify(Some(412), None), Ok(Outcome::ClientError { status: 412, code: None }));
        assert_eq!(classify(Some(500), Some("InternalError")), Ok(Outcome::Fault(FaultClass::InternalError)));
        assert_eq!(classify(Some(500), None), Ok(Outcome::Fault(FaultClass::InternalError)));
        assert_eq!(classify(Some(503), Some("SlowDown")), Ok(Outcome::Fault(FaultClass::SlowDown)));
        assert_eq!(classify(Some(503), Some("ServiceUnavailable")), Ok(Outcome::Fault(FaultClass::ServiceUnavailable)));
        assert_eq!(classify(Some(503), None), Ok(Outcome::Fault(FaultClass::ServiceUnavailable)));
        assert_eq!(classify(Some(502), None), Ok(Outcome::Fault(FaultClass::OtherServerError(502))));
        assert_eq!(classify(None, Some("SlowDown")), Ok(Outcome::Fault(FaultClass::SlowDown)));
        assert_eq!(classify(None, Some("InternalError")), Ok(Outcome::Fault(FaultClass::InternalError)));
    }

    #[test]
    fn unclassifiable_pairs_are_errors() {
        assert!(classify(Some(100), None).unwrap_err().contains("100"));
        assert!(classify(Some(600), None).is_err());
        assert!(classify(None, Some("NoSuchKey")).unwrap_err().contains("NoSuchKey"));
        assert!(classify(None, None).is_err());
    }

    #[test]
    fn only_faults_are_faults() {
        assert!(!Outcome::Success.is_fault());
        assert!(!Outcome::ClientError { status: 404, code: None }.is_fault());
        assert_eq!(Outcome::Fault(FaultClass::Timeout).fault(), Some(FaultClass::Timeout));
    }
}
