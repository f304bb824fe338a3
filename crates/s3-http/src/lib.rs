//! The `ObjectStore` interface over real HTTP, for real mode (issue 11).
//!
//! [`HttpS3Client`] sends each `S3Request` once, SigV4-signed (presigned
//! URLs, path-style addressing) with rusty-s3, over a keep-alive HTTP/1.1
//! connection from reqwest, and answers exactly what `SimS3Client` would:
//! the same `S3Response` shapes (ETags quoted as S3 sends them) and the same
//! `StoreError`s. It never retries: retrylab's policies (`RetryingStore`)
//! decide every retry, as they do in the simulator.
//!
//! - [`client`]: the client and how each request is built and answered.
//! - [`errors`]: HTTP statuses, S3 error bodies and transport failures
//!   mapped onto `StoreError`.
//! - [`list`]: a ListObjectsV2 answer mapped onto a `ListPage`.

mod client;
mod errors;
mod list;

pub use client::{ClientBuildError, HttpS3Client};
