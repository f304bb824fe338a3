//! `SimS3Client`: an `ObjectStore` that sends requests over the simulated
//! network to the simulated S3 service.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use retrylab_faults::{FaultDecision, FaultKind};
use retrylab_sim::{Detail, EventKind, NetError, NodeId, Value, World};

use crate::service::{FaultState, Handled, S3Service, WireError};
use crate::store::ObjectStore;
use crate::types::{S3Request, S3Response, StoreError, TransportError};

/// One node's connection to the S3 service node. Cheap to clone.
#[derive(Clone)]
pub struct SimS3Client {
    world: World,
    service: Rc<RefCell<S3Service>>,
    from: NodeId,
    s3: NodeId,
    request_timeout: Duration,
}

impl SimS3Client {
    pub fn new(
        world: World,
        service: Rc<RefCell<S3Service>>,
        from: NodeId,
        s3: NodeId,
        request_timeout: Duration,
    ) -> Self {
        SimS3Client { world, service, from, s3, request_timeout }
    }

    pub fn node(&self) -> NodeId {
        self.from
    }
}

impl ObjectStore for SimS3Client {
    async fn send(&self, request: S3Request) -> Result<S3Response, StoreError> {
        let trace = self.world.trace();
        let slot = self.service.borrow_mut().take_slot();
        trace.record_with(
            self.from,
            EventKind::RequestSent { to: self.s3, what: request.operation_name(), slot },
            || vec![("key", request.key().to_owned().into())],
        );
        let service = &self.service;
        let s3 = self.s3;
        // What the request met at S3, for the response's trace line (it
        // never arrives when the network loses it or the caller is down).
        let arrival: Cell<Option<(Duration, Handled)>> = Cell::new(None);
        let wire = self
            .world
            .net()
            .call_sync(self.from, s3, self.request_timeout, || {
                let now = self.world.now();
                let (reply, handled) = service.borrow_mut().handle(&request, slot, now);
                arrival.set(Some((now, handled)));
                if let Some(fault) = handled.fault {
                    trace.record_with(
                        s3,
                        EventKind::FaultInjected { slot, kind: fault.kind.name(), applied: fault.applied },
                        || fault_detail(&request, fault, handled.met),
                    );
                }
                if let Some(reason) = handled.refused {
                    // Only with `[s3.capacity]` or `[s3.rate_limits]`: no
                    // other scenario's trace changes.
                    trace.record_with(s3, EventKind::FaultInjected { slot, kind: reason, applied: false }, || {
                        vec![("key", request.key().to_owned().into()), ("overload", true.into())]
                    });
                }
                if let Some(kind) = handled.corrupted {
                    trace.record_with(s3, EventKind::FaultInjected { slot, kind, applied: true }, || {
                        vec![("key", request.key().to_owned().into()), ("corruption", true.into())]
                    });
                }
                reply
            })
            .await;
        let result = match wire {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(WireError::Status(code))) => Err(StoreError::Service(code)),
            Ok(Err(WireError::Reset)) | Err(NetError::Reset) => {
                Err(StoreError::Transport(TransportError::ConnectionReset))
            }
            Err(NetError::Refused) => Err(StoreError::Transport(TransportError::ConnectionRefused)),
            Err(NetError::Timeout) => Err(StoreError::Transport(TransportError::Timeout)),
        };
        let (status, error) = match &result {
            Ok(S3Response::Delete) => (204, ""),
            Ok(_) => (200, ""),
            Err(error) => (error.status().unwrap_or(0), error.name()),
        };
        trace.record_with(self.from, EventKind::Response { slot, status, error }, || response_detail(arrival.get()));
        result
    }
}

/// A fault's trace detail: the HTTP status the client sees (none for a
/// dropped connection or a timeout), whether the client cannot tell if it
/// took effect (a write failed with a fault that may have been applied),
/// and the fault process state the request met.
fn fault_detail(request: &S3Request, fault: FaultDecision, met: FaultState) -> Detail {
    let status = match fault.kind {
        FaultKind::InternalError => Some(500u64),
        FaultKind::SlowDown => Some(503),
        FaultKind::ConnectionReset | FaultKind::Timeout => None,
    };
    let mut detail: Detail = vec![("key", request.key().to_owned().into())];
    if let Some(status) = status {
        detail.push(("status", status.into()));
    }
    detail.push(("ambiguous", (request.is_mutating() && fault.kind.may_be_applied()).into()));
    push_fault_state(&mut detail, met);
    detail
}

fn push_fault_state(detail: &mut Detail, met: FaultState) {
    if let Some(bad) = met.chain_bad {
        detail.push(("chain", if bad { "bad" } else { "good" }.into()));
    }
    if let Some(outage) = met.outage {
        detail.push(("outage", (outage as u64).into()));
    }
    if met.healed {
        detail.push(("healed", true.into()));
    }
}

/// A response's trace detail: when the request reached S3 and the fault
/// process state it met there (nothing when it never arrived).
fn response_detail(arrival: Option<(Duration, Handled)>) -> Detail {
    let Some((at, handled)) = arrival else { return vec![("arrived", false.into())] };
    let mut detail: Detail = vec![("arrived_s", Value::Secs(at))];
    if let Some(fault) = handled.fault {
        detail.push(("fault", fault.kind.name().into()));
        detail.push(("applied", fault.applied.into()));
    }
    push_fault_state(&mut detail, handled.met);
    detail
}
