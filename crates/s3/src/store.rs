//! The `ObjectStore` interface: everything above S3 talks to it through this.

use std::future::Future;

use bytes::Bytes;

use crate::types::{ListPage, PutCondition, S3Request, S3Response, StoreError};

/// A place to send S3 requests: the simulated service, a retry layer around
/// another store, or (later) a real S3-compatible server over HTTP.
///
/// Futures are not required to be `Send`: the simulator is single-threaded.
pub trait ObjectStore {
    fn send(&self, request: S3Request) -> impl Future<Output = Result<S3Response, StoreError>>;
}

/// Typed helpers over [`ObjectStore::send`].
pub trait ObjectStoreExt: ObjectStore {
    /// PUT; returns the new ETag.
    fn put(&self, key: &str, body: Bytes, condition: PutCondition) -> impl Future<Output = Result<String, StoreError>> {
        let request = S3Request::Put { key: key.to_owned(), body, condition };
        async move {
            match self.send(request).await? {
                S3Response::Put { etag } => Ok(etag.as_str().to_owned()),
                other => Err(unexpected(other)),
            }
        }
    }

    /// GET; returns the body and its ETag.
    fn get(&self, key: &str) -> impl Future<Output = Result<(Bytes, String), StoreError>> {
        let request = S3Request::Get { key: key.to_owned() };
        async move {
            match self.send(request).await? {
                S3Response::Get { body, etag } => Ok((body, etag.as_str().to_owned())),
                other => Err(unexpected(other)),
            }
        }
    }

    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> {
        let request = S3Request::Delete { key: key.to_owned() };
        async move {
            match self.send(request).await? {
                S3Response::Delete => Ok(()),
                other => Err(unexpected(other)),
            }
        }
    }

    /// One page of ListObjectsV2 under `prefix`.
    fn list_page(
        &self,
        prefix: &str,
        continuation_token: Option<String>,
    ) -> impl Future<Output = Result<ListPage, StoreError>> {
        let request = S3Request::List {
            prefix: prefix.to_owned(),
            continuation_token,
            keys_max: crate::types::LIST_PAGE_KEYS_MAX,
        };
        async move {
            match self.send(request).await? {
                S3Response::List(page) => Ok(page),
                other => Err(unexpected(other)),
            }
        }
    }
}

impl<S: ObjectStore + ?Sized> ObjectStoreExt for S {}

/// A response of the wrong shape is a bug in the store, not an S3 answer;
/// report it as an internal error rather than panic.
fn unexpected(_response: S3Response) -> StoreError {
    StoreError::Service(crate::types::S3ErrorCode::InternalError)
}
