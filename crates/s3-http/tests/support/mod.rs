//! Servers on loopback for the real client's tests: real mode's own S3
//! server (`retrylab-s3-server`, healthy: no faults, no latency), and
//! hand-written servers that misbehave in one way each.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use retrylab_s3_http::HttpS3Client;
use retrylab_s3_server::{RealS3Server, WireConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub const BUCKET: &str = "retrylab";
pub use retrylab_s3_server::{ACCESS_KEY, REGION, SECRET_KEY};

/// A server task that stops when dropped (with whatever it owns, such as
/// its temporary directory).
pub struct Server {
    pub address: SocketAddr,
    /// Connections accepted so far.
    connections: Arc<AtomicUsize>,
    /// Request heads read so far (misbehaving servers only).
    requests: Arc<AtomicUsize>,
    task: Option<JoinHandle<()>>,
    /// Real mode's server, for the well-behaved S3.
    real: Option<RealS3Server>,
}

impl Server {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn connections(&self) -> usize {
        match &self.real {
            Some(real) => usize::try_from(real.faults_injected().connections).unwrap_or(usize::MAX),
            None => self.connections.load(Ordering::SeqCst),
        }
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
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Real mode's S3 server on 127.0.0.1 (s3s-fs behind the wire layer, with
/// no faults and no added latency), serving an empty bucket `BUCKET`.
pub async fn start_s3_server() -> Server {
    let real = RealS3Server::start(WireConfig::healthy(&[BUCKET])).await.unwrap();
    let address = real.endpoint().trim_start_matches("http://").parse().unwrap();
    Server { address, connections: Arc::default(), requests: Arc::default(), task: None, real: Some(real) }
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
    Server { address, connections, requests, task: Some(task), real: None }
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
