//! `SimS3Client`: an `ObjectStore` that sends requests over the simulated
//! network to the simulated S3 service.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use retrylab_sim::{EventKind, NetError, NodeId, World};

use crate::service::{S3Service, WireError};
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
        trace.record(self.from, EventKind::RequestSent { to: self.s3, what: request.operation_name(), slot });
        let service = &self.service;
        let s3 = self.s3;
        let wire = self
            .world
            .net()
            .call_sync(self.from, s3, self.request_timeout, || {
                let now = self.world.now();
                let (reply, handled) = service.borrow_mut().handle(&request, slot, now);
                if let Some(fault) = handled.fault {
                    trace
                        .record(s3, EventKind::FaultInjected { slot, kind: fault.kind.name(), applied: fault.applied });
                }
                if let Some(kind) = handled.corrupted {
                    trace.record(s3, EventKind::FaultInjected { slot, kind, applied: true });
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
        trace.record(self.from, EventKind::Response { slot, status, error });
        result
    }
}
