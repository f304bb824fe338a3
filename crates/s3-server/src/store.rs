//! The object store behind the wire layer: s3s-fs, with the S3 behaviour
//! retrylab relies on and s3s-fs lacks added around it (atomic conditional
//! writes per key, ETags in listings, `404 NoSuchKey` for `If-Match` on a
//! missing key and for keys that are only directories on disk,
//! `NoSuchBucket` for a PUT into a bucket that does not exist, which s3s-fs
//! would create).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use s3s::dto::{
    CreateBucketInput, CreateBucketOutput, DeleteObjectInput, DeleteObjectOutput, ETag, GetObjectInput,
    GetObjectOutput, HeadBucketInput, HeadBucketOutput, HeadObjectInput, HeadObjectOutput, ListObjectsV2Input,
    ListObjectsV2Output, PutObjectInput, PutObjectOutput,
};
use s3s::{s3_error, S3Request, S3Response, S3Result, S3};
use s3s_fs::FileSystem;
use tokio::sync::RwLock;

/// s3s-fs under per-key locks, with an index of every live key's ETag.
///
/// The server starts on an empty directory and every write goes through
/// here, so the index is exact; it answers existence and listing ETags
/// without reading the metadata files s3s-fs keeps beside each object.
pub(crate) struct ConsistentStore {
    fs: FileSystem,
    /// One lock per `bucket/key` ever touched: writes are exclusive (a
    /// conditional write checks and writes with no other write between),
    /// reads shared (a read sees a body and its ETag from one write; s3s-fs
    /// writes the two in separate files).
    locks: Mutex<BTreeMap<String, Arc<RwLock<()>>>>,
    /// The current ETag of every live `bucket/key`.
    etags: Mutex<BTreeMap<String, ETag>>,
    /// The buckets there are (s3s-fs would create a missing one on PUT).
    buckets: Mutex<BTreeSet<String>>,
}

impl ConsistentStore {
    /// `fs` serves a directory holding exactly `buckets`, each empty.
    pub(crate) fn new(fs: FileSystem, buckets: &[String]) -> Self {
        ConsistentStore {
            fs,
            locks: Mutex::new(BTreeMap::new()),
            etags: Mutex::new(BTreeMap::new()),
            buckets: Mutex::new(buckets.iter().cloned().collect()),
        }
    }

    fn bucket_exists(&self, bucket: &str) -> bool {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner).contains(bucket)
    }

    fn lock_of(&self, bucket: &str, key: &str) -> Arc<RwLock<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.entry(index_key(bucket, key)).or_default().clone()
    }

    fn etag_of(&self, bucket: &str, key: &str) -> Option<ETag> {
        self.etags.lock().unwrap_or_else(PoisonError::into_inner).get(&index_key(bucket, key)).cloned()
    }

    fn set_etag(&self, bucket: &str, key: &str, etag: Option<ETag>) {
        let mut etags = self.etags.lock().unwrap_or_else(PoisonError::into_inner);
        match etag {
            Some(etag) => etags.insert(index_key(bucket, key), etag),
            None => etags.remove(&index_key(bucket, key)),
        };
    }
}

fn index_key(bucket: &str, key: &str) -> String {
    // Bucket names cannot contain '/', so the pair is unambiguous.
    format!("{bucket}/{key}")
}

#[async_trait::async_trait]
impl S3 for ConsistentStore {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let bucket = req.input.bucket.clone();
        let response = self.fs.create_bucket(req).await?;
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner).insert(bucket);
        Ok(response)
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let lock = self.lock_of(&bucket, &key);
        let _exclusive = lock.write().await;
        if !self.bucket_exists(&bucket) {
            return Err(s3_error!(NoSuchBucket));
        }
        // S3 answers `If-Match` on a missing key with 404 NoSuchKey (as the
        // simulated service does); s3s-fs says 412.
        if req.input.if_match.is_some() && self.etag_of(&bucket, &key).is_none() {
            return Err(s3_error!(NoSuchKey));
        }
        let response = self.fs.put_object(req).await?;
        self.set_etag(&bucket, &key, response.output.e_tag.clone());
        Ok(response)
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let lock = self.lock_of(&bucket, &key);
        let _exclusive = lock.write().await;
        let response = self.fs.delete_object(req).await?;
        self.set_etag(&bucket, &key, None);
        Ok(response)
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let lock = self.lock_of(&req.input.bucket, &req.input.key);
        let _shared = lock.read().await;
        // A key that is only a directory on disk (the parent of other keys)
        // is no object: s3s-fs would fail reading it with a 500.
        if self.etag_of(&req.input.bucket, &req.input.key).is_none() {
            return Err(s3_error!(NoSuchKey));
        }
        // The file is open when this returns, so the body streamed after the
        // lock is released is still this version (a PUT renames a new file in).
        self.fs.get_object(req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        let lock = self.lock_of(&req.input.bucket, &req.input.key);
        let _shared = lock.read().await;
        if self.etag_of(&req.input.bucket, &req.input.key).is_none() {
            return Err(s3_error!(NoSuchKey));
        }
        self.fs.head_object(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let bucket = req.input.bucket.clone();
        let mut response = self.fs.list_objects_v2(req).await?;
        // s3s-fs lists keys and sizes only; S3 gives each object's ETag.
        for object in response.output.contents.iter_mut().flatten() {
            if let Some(key) = &object.key {
                object.e_tag = self.etag_of(&bucket, key);
            }
        }
        Ok(response)
    }
}
