//! The fault layer in front of s3s: each arriving request takes the next
//! slot, meets the fault model through [`FaultPlan`] (as the simulated S3's
//! requests do), and is answered, delayed, failed, reset or left hanging.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use retrylab_faults::{FaultDecision, FaultKind};
use retrylab_s3::FaultPlan;
use s3s::service::S3Service;
use s3s::Body;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// What the wire layer injected so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireCounts {
    /// Requests that arrived (each took a slot), healed or not.
    pub requests: u64,
    /// Faults injected, by [`FaultKind::name`] (kinds never injected are absent).
    pub faults: BTreeMap<String, u64>,
    /// Faulted writes that were applied although the answer was a fault
    /// (the ambiguous "applied but 500").
    pub applied_writes: u64,
    /// TCP connections accepted: clients keep theirs alive, so a new one
    /// follows a reset, a timeout or a close.
    pub connections: u64,
}

impl WireCounts {
    /// Faults injected, all kinds together.
    pub fn faults_total(&self) -> u64 {
        self.faults.values().sum()
    }
}

/// Why the layer ends a connection without an answer.
#[derive(Debug)]
pub(crate) enum NoAnswer {
    /// An injected connection reset.
    Reset,
    /// An injected timeout held the request past its cap.
    TimedOut,
    /// The request's body could not be read (the client went away).
    BodyLost,
}

impl fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoAnswer::Reset => "injected connection reset",
            NoAnswer::TimedOut => "injected timeout",
            NoAnswer::BodyLost => "request body lost",
        })
    }
}

impl std::error::Error for NoAnswer {}

/// Wall durations from virtual ones: wall = virtual x `time_scale`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeScale(pub(crate) f64);

impl TimeScale {
    pub(crate) fn wall(self, virtual_duration: Duration) -> Duration {
        Duration::try_from_secs_f64(virtual_duration.as_secs_f64() * self.0).unwrap_or(Duration::MAX)
    }

    pub(crate) fn virtual_of(self, wall: Duration) -> Duration {
        Duration::try_from_secs_f64(wall.as_secs_f64() / self.0).unwrap_or(Duration::MAX)
    }
}

/// The arrival side of the layer: slots, the plan and the counts, under one
/// lock so that slots are taken in the order of their arrival times (the
/// plan's burst chain needs non-decreasing times).
struct Arrivals {
    plan: FaultPlan,
    next_slot: u64,
    counts: WireCounts,
}

/// One server's fault layer.
pub(crate) struct Wire {
    s3: S3Service,
    arrivals: Mutex<Arrivals>,
    started: Instant,
    scale: TimeScale,
    /// How long (wall) an injected timeout holds a request before dropping
    /// its connection: a client that gave up has closed it well before.
    timeout_hold: Duration,
    /// Requests are set-up, not part of the run: served at once, with no
    /// slot, no fault and no latency (as `S3Service::preload`).
    preloading: AtomicBool,
}

impl Wire {
    pub(crate) fn new(s3: S3Service, plan: FaultPlan, scale: TimeScale, timeout_hold: Duration) -> Self {
        let arrivals = Arrivals { plan, next_slot: 0, counts: WireCounts::default() };
        // Real mode runs on the wall clock by design: virtual time here is
        // wall time since the start, divided by the time scale.
        let started = Instant::now();
        Wire { s3, arrivals: Mutex::new(arrivals), started, scale, timeout_hold, preloading: AtomicBool::new(false) }
    }

    /// While `on`, requests are set-up: no slot, fault or latency.
    pub(crate) fn set_preloading(&self, on: bool) {
        self.preloading.store(on, Ordering::SeqCst);
    }

    fn arrivals(&self) -> std::sync::MutexGuard<'_, Arrivals> {
        self.arrivals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn counts(&self) -> WireCounts {
        self.arrivals().counts.clone()
    }

    pub(crate) fn count_connection(&self) {
        self.arrivals().counts.connections += 1;
    }

    pub(crate) fn heal(&self) {
        self.arrivals().plan.heal();
    }

    /// Takes the next slot and decides its fault, at the request's arrival.
    fn arrive(&self) -> (u64, Option<FaultDecision>) {
        let mut arrivals = self.arrivals();
        let slot = arrivals.next_slot;
        arrivals.next_slot += 1;
        let now = self.scale.virtual_of(self.started.elapsed());
        let fault = arrivals.plan.meet(slot, now).fault;
        arrivals.counts.requests += 1;
        if let Some(fault) = fault {
            *arrivals.counts.faults.entry(fault.kind.name().to_owned()).or_default() += 1;
        }
        (slot, fault)
    }

    /// Answers one request; `reset` is the connection's flag that makes its
    /// close a reset.
    pub(crate) async fn handle(
        &self,
        request: Request<Incoming>,
        reset: &AtomicBool,
    ) -> Result<Response<Body>, NoAnswer> {
        // The answer leaves `service time` after the arrival, however long
        // the file system took to apply the request (as the simulated S3
        // applies at arrival and answers after its service time).
        let arrived = Instant::now();
        let preloading = self.preloading.load(Ordering::SeqCst);
        let (slot, fault) = if preloading { (0, None) } else { self.arrive() };
        let (parts, body) = request.into_parts();
        // The whole body first, as S3 reads it before answering (an early
        // error answer would make the client's send fail instead).
        let body = body.collect().await.map_err(|_| NoAnswer::BodyLost)?.to_bytes();
        let request = Request::from_parts(parts, body);
        if preloading {
            return Ok(self.forward(request).await);
        }
        let Some(fault) = fault else {
            let response = self.forward(request).await;
            let service_time = {
                let arrivals = self.arrivals();
                if is_error(response.status()) {
                    arrivals.plan.error_latency(slot)
                } else {
                    arrivals.plan.latency(slot)
                }
            };
            sleep_until(arrived, self.scale.wall(service_time)).await;
            return Ok(response);
        };
        // "Applied but 500": a write (never a read) lands although the
        // answer is a fault; a rejected write (412, 404) did not apply.
        if fault.applied && is_mutating(request.method()) {
            let resource = request.uri().path().to_owned();
            let applied = !is_error(self.forward(request).await.status());
            if applied {
                self.arrivals().counts.applied_writes += 1;
            }
            return self.fail(arrived, slot, fault.kind, &resource, reset).await;
        }
        self.fail(arrived, slot, fault.kind, request.uri().path(), reset).await
    }

    async fn forward(&self, request: Request<Bytes>) -> Response<Body> {
        match self.s3.call(request.map(Body::from)).await {
            Ok(response) => response,
            // s3s could not even build an S3 error answer: what S3 says then.
            Err(_) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", INTERNAL_ERROR_MESSAGE, "", 0),
        }
    }

    async fn fail(
        &self,
        arrived: Instant,
        slot: u64,
        kind: FaultKind,
        resource: &str,
        reset: &AtomicBool,
    ) -> Result<Response<Body>, NoAnswer> {
        let answer = match kind {
            FaultKind::InternalError => {
                Some((StatusCode::INTERNAL_SERVER_ERROR, "InternalError", INTERNAL_ERROR_MESSAGE))
            }
            FaultKind::SlowDown => {
                Some((StatusCode::SERVICE_UNAVAILABLE, "SlowDown", "Please reduce your request rate."))
            }
            FaultKind::ConnectionReset => None,
            FaultKind::Timeout => {
                // No answer at all: hold until the client has given up.
                tokio::time::sleep(self.timeout_hold).await;
                return Err(NoAnswer::TimedOut);
            }
        };
        let error_latency = self.arrivals().plan.error_latency(slot);
        sleep_until(arrived, self.scale.wall(error_latency)).await;
        match answer {
            Some((status, code, message)) => Ok(error_response(status, code, message, resource, slot)),
            None => {
                reset.store(true, Ordering::Release);
                Err(NoAnswer::Reset)
            }
        }
    }
}

const INTERNAL_ERROR_MESSAGE: &str = "We encountered an internal error. Please try again.";

fn is_error(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

fn is_mutating(method: &Method) -> bool {
    matches!(*method, Method::PUT | Method::DELETE | Method::POST)
}

/// An S3 error answer with S3's XML body.
fn error_response(status: StatusCode, code: &str, message: &str, resource: &str, slot: u64) -> Response<Body> {
    let request_id = format!("{slot:016X}");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
         <Resource>{}</Resource><RequestId>{request_id}</RequestId></Error>",
        xml_escape(resource)
    );
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/xml"));
    if let Ok(value) = hyper::header::HeaderValue::from_str(&request_id) {
        headers.insert("x-amz-request-id", value);
    }
    response
}

fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Sleeps until `wall` after `arrived`; a deadline already passed costs
/// nothing (tokio would wait for its next timer tick, up to a millisecond,
/// where the simulator waits not at all).
async fn sleep_until(arrived: Instant, wall: Duration) {
    let deadline = arrived + wall;
    if deadline > Instant::now() {
        tokio::time::sleep_until(deadline).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_scale_maps_both_ways_and_saturates() {
        let scale = TimeScale(0.01);
        assert_eq!(scale.wall(Duration::from_millis(945)), Duration::from_micros(9450));
        assert_eq!(scale.virtual_of(Duration::from_secs(19)), Duration::from_secs(1900));
        assert_eq!(TimeScale(1e3).wall(Duration::MAX), Duration::MAX);
    }

    #[test]
    fn error_bodies_are_s3_xml_with_the_resource_escaped() {
        let response = error_response(StatusCode::SERVICE_UNAVAILABLE, "SlowDown", "m", "/b/a&b", 255);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["x-amz-request-id"], "00000000000000FF");
        assert_eq!(xml_escape("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
    }
}
