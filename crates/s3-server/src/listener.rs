//! The accept loop: HTTP/1 connections on a loopback listener, each served
//! by hyper through the fault layer, with TCP_NODELAY and resets on demand.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::wire::Wire;

/// Accepts until `stop` fires (or its sender is dropped); stopping drops
/// every connection still open.
pub(crate) async fn serve(listener: TcpListener, wire: Arc<Wire>, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                // A failed accept (out of descriptors, a peer gone before
                // accept) is that connection's loss, not the server's.
                let Ok((stream, _peer)) = accepted else { continue };
                wire.count_connection();
                connections.spawn(serve_connection(stream, wire.clone()));
            }
            // Reap finished connections so the set stays as small as the open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, wire: Arc<Wire>) {
    // Without it, a kept-alive request waits ~40 ms for the previous
    // answer's delayed ACK (Nagle's algorithm).
    let _ = stream.set_nodelay(true);
    let reset = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(ResettableStream { stream, reset: reset.clone() });
    let service = service_fn(move |request| {
        let (wire, reset) = (wire.clone(), reset.clone());
        async move { wire.handle(request, &reset).await }
    });
    // An error here is an injected reset or timeout, or a client that went
    // away: either way the connection is over.
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
}

/// A TCP stream whose close is a reset (RST, no FIN) once `reset` is set:
/// SO_LINGER 0 makes the kernel abort the connection when it is dropped.
struct ResettableStream {
    stream: TcpStream,
    reset: Arc<AtomicBool>,
}

impl ResettableStream {
    fn resetting(&self) -> bool {
        self.reset.load(Ordering::Acquire)
    }
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.resetting() {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.resetting() {
            // A FIN first would let the client read a clean end of stream.
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
