//! Servers on loopback for the real client's tests: an s3s-fs S3 server
//! serving a temporary directory (until `retrylab-s3-server` is merged), and
//! hand-written servers that misbehave in one way each.
//!
//! s3s-fs 0.14.1 lists objects without their ETags (S3 always gives them,
//! and the storage server reads them), so the S3 server here is s3s-fs with
//! its listings completed ([`ListingWithETags`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use retrylab_s3::types::quoted_md5_hex;
use retrylab_s3_http::HttpS3Client;
use s3s::auth::SimpleAuth;
use s3s::dto::{
    CreateBucketInput, CreateBucketOutput, DeleteObjectInput, DeleteObjectOutput, ETag, GetObjectInput,
    GetObjectOutput, HeadObjectInput, HeadObjectOutput, ListObjectsV2Input, ListObjectsV2Output, PutObjectInput,
    PutObjectOutput,
};
use s3s::service::S3ServiceBuilder;
use s3s::{S3Request, S3Response, S3Result, S3};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub const BUCKET: &str = "retrylab";
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "retrylab-test";
pub const SECRET_KEY: &str = "retrylab-test-secret";

/// A server task that stops when dropped (with whatever it owns, such as
/// its temporary directory).
pub struct Server {
    pub address: SocketAddr,
    /// Connections accepted so far.
    connections: Arc<AtomicUsize>,
    /// Request heads read so far (misbehaving servers only).
    requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
    _root: Option<tempfile::TempDir>,
}

impl Server {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// A client of this server's bucket with the test credentials.
    pub fn client(&self, request_timeout: Duration) -> HttpS3Client {
        HttpS3Client::new(&self.endpoint(), BUCKET, REGION, ACCESS_KEY, SECRET_KEY, request_timeout).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An s3s-fs server with SigV4 authentication on 127.0.0.1, serving an
/// empty bucket `BUCKET` from a fresh temporary directory.
pub async fn start_s3s_fs() -> Server {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join(BUCKET)).unwrap();
    let file_system = s3s_fs::FileSystem::new(root.path()).unwrap();
    let mut builder = S3ServiceBuilder::new(ListingWithETags { file_system, root: root.path().to_owned() });
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::clone(&connections);
    let task = tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            accepted.fetch_add(1, Ordering::SeqCst);
            // Without it, kept-alive requests stall about 40 ms (Nagle
            // against the client's delayed ACK).
            socket.set_nodelay(true).unwrap();
            let connection =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service.clone());
            tokio::spawn(connection);
        }
    });
    Server { address, connections, requests: Arc::default(), task, _root: Some(root) }
}

/// s3s-fs, with the ETag of every listed object filled in as s3s-fs
/// computes it for a single-part upload (the MD5 of the file); only the
/// operations `HttpS3Client` sends.
struct ListingWithETags {
    file_system: s3s_fs::FileSystem,
    root: PathBuf,
}

#[async_trait::async_trait]
impl S3 for ListingWithETags {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        self.file_system.create_bucket(req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.file_system.put_object(req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.file_system.get_object(req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.file_system.head_object(req).await
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.file_system.delete_object(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        let bucket = self.root.join(&req.input.bucket);
        let mut listing = self.file_system.list_objects_v2(req).await?;
        for object in listing.output.contents.iter_mut().flatten() {
            let Some(key) = &object.key else { continue };
            let body = std::fs::read(bucket.join(key)).map_err(|error| s3s::s3_error!(error, InternalError))?;
            object.e_tag = Some(ETag::Strong(quoted_md5_hex(&body).trim_matches('"').to_owned()));
        }
        Ok(listing)
    }
}

/// What a misbehaving server does once it has read a request's head.
#[derive(Clone, Copy)]
pub enum Misbehaviour {
    /// Writes these bytes (a whole or partial HTTP answer), then closes.
    Answer(&'static str),
    /// Writes these bytes, then keeps the connection open and says no more.
    AnswerThenSilence(&'static str),
}

/// A server that reads each request's head (the tests send no bodies to
/// it) and then misbehaves.
pub async fn start_misbehaving(misbehaviour: Misbehaviour) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (connections, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (accepted, read) = (Arc::clone(&connections), Arc::clone(&requests));
    let task = tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { continue };
            accepted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(misbehave(socket, misbehaviour, Arc::clone(&read)));
        }
    });
    Server { address, connections, requests, task, _root: None }
}

async fn misbehave(mut socket: TcpStream, misbehaviour: Misbehaviour, requests: Arc<AtomicUsize>) {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    match misbehaviour {
        Misbehaviour::Answer(bytes) => {
            let _ = socket.write_all(bytes.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
        Misbehaviour::AnswerThenSilence(bytes) => {
            let _ = socket.write_all(bytes.as_bytes()).await;
            std::future::pending().await
        }
    }
}

/// An HTTP/1.1 answer with S3's XML error body for `code`.
pub fn s3_error_answer(status_line: &str, code: &str) -> &'static str {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>injected</Message>\
         <RequestId>1</RequestId></Error>"
    );
    let answer = format!(
        "HTTP/1.1 {status_line}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    Box::leak(answer.into_boxed_str())
}

/// A loopback address where nothing listens: bound, then closed (another
/// process taking the port in between is possible, not likely).
pub async fn closed_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}
