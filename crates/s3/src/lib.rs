//! The simulated S3 service and the `ObjectStore` interface the rest of
//! retrylab reaches S3 through, with the retry layer applied at that
//! interface.
//!
//! - [`types`]: requests, responses and S3's error codes with their statuses.
//! - [`service`]: the in-memory S3 model (conditional writes, listing pages
//!   of at most 1,000 keys, strong or 2012-style eventual consistency), with
//!   faults from `retrylab-faults`.
//! - [`fault_plan`]: how a request meets the fault model (fault, chain
//!   state, latency per slot), shared by the service and the real server.
//! - [`ObjectStore`]: the client interface; [`SimS3Client`] implements it
//!   over the simulated network, and a real HTTP client can implement it on
//!   tokio later without any caller changing.
//! - [`RetryingStore`]: applies a `retrylab-retry` policy to any store, with
//!   the clock and sleeper as a parameter ([`Clock`]).

mod client;
pub mod fault_plan;
mod retrying;
pub mod service;
mod store;
pub mod types;

pub use client::SimS3Client;
pub use fault_plan::{Encounter, FaultPlan, FaultState};
pub use retrying::{Attempted, Clock, RetryCounters, RetryLayer, Retryable, RetryingStore};
pub use service::{Consistency, CorruptionCounts, S3Config, S3Service};
pub use store::{ObjectStore, ObjectStoreExt};
pub use types::{
    ETag, ListPage, ObjectSummary, PutCondition, S3ErrorCode, S3Request, S3Response, StoreError, TransportError,
    LIST_PAGE_KEYS_MAX,
};
