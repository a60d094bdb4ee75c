//! Serving a router on a listener with the bounds every front end needs: a time limit on the
//! request headers (and the TLS handshake), so slow-loris clients are dropped; a bound on
//! concurrent connections; a graceful drain at shutdown. Used by the portal and by the admin
//! listener (health, metrics, helpdesk). Knows nothing of what the routes do.
//!
//! Over the bound, a new connection is refused at once — a fixed `503` with `Retry-After` on
//! plain HTTP (before reading anything), a bare close under TLS — rather than queued: a queue
//! would keep the socket and a task per waiting client, the very resources the bound caps, and
//! would hide the overload from a load balancer, which can retry elsewhere. The kernel's listen
//! backlog stays the only queue. Each listener has its own bound, so a flood of the portal does
//! not reach the admin listener's `/healthz`; slots come back as connections close, and the
//! header timeout closes idle ones.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum_server::accept::{Accept, DefaultAcceptor};
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The answer to a connection over the bound, written without reading the request.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
Retry-After: 5\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 50\r\n\r\n\
Too many connections. Try again in a few seconds.\n";

/// How a listener is bounded.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Names the listener in logs (`portal`, `admin`).
    pub name: &'static str,
    pub max_connections: usize,
    /// Time allowed for the request headers (and the TLS handshake).
    pub header_timeout: Duration,
    /// How long open requests may finish after shutdown.
    pub drain: Duration,
}

/// Serves `app` on `listener` (HTTPS with `tls`) within `bounds` until `shutdown` resolves, then
/// lets open requests finish for up to `bounds.drain`.
pub async fn serve(
    app: Router,
    listener: tokio::net::TcpListener,
    bounds: Bounds,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let handle = axum_server::Handle::<SocketAddr>::new();
    let trigger = handle.clone();
    let drain = bounds.drain;
    tokio::spawn(async move {
        shutdown.await;
        trigger.graceful_shutdown(Some(drain));
    });
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let mut server = axum_server::Server::<SocketAddr>::from_listener(listener).handle(handle);
    server.http_builder().http1().header_read_timeout(bounds.header_timeout);
    let limit = Limit::new(&bounds);
    match tls {
        Some(config) => {
            let tls = RustlsAcceptor::new(RustlsConfig::from_config(config)).handshake_timeout(bounds.header_timeout);
            let acceptor = Bounded {
                inner: tls,
                limit,
                refusal: Refusal::Close,
            };
            server.acceptor(acceptor).serve(app).await
        }
        None => {
            let acceptor = Bounded {
                inner: DefaultAcceptor,
                limit,
                refusal: Refusal::Busy,
            };
            server.acceptor(acceptor).serve(app).await
        }
    }
}

/// The connection slots of one listener.
#[derive(Clone)]
struct Limit {
    name: &'static str,
    max: usize,
    slots: Arc<Semaphore>,
    /// Whether the last connection was refused: the limit is logged once per episode, not per
    /// connection (a flood would flood the log too).
    full: Arc<AtomicBool>,
}

impl Limit {
    fn new(bounds: &Bounds) -> Limit {
        Limit {
            name: bounds.name,
            max: bounds.max_connections,
            slots: Arc::new(Semaphore::new(bounds.max_connections)),
            full: Arc::new(AtomicBool::new(false)),
        }
    }

    fn take(&self) -> Option<OwnedSemaphorePermit> {
        match self.slots.clone().try_acquire_owned() {
            Ok(permit) => {
                if self.full.swap(false, Ordering::Relaxed) {
                    tracing::info!(listener = self.name, "accepting connections again");
                }
                Some(permit)
            }
            Err(_) => {
                if !self.full.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        listener = self.name,
                        max_connections = self.max,
                        "connection limit reached: refusing new connections until some close"
                    );
                }
                None
            }
        }
    }
}

/// What a connection over the bound gets.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// The fixed `503` (plain HTTP).
    Busy,
    /// A close (under TLS nothing readable can be said before the handshake).
    Close,
}

/// An acceptor that holds a slot for each connection it lets through (`inner` then runs: TLS
/// or nothing) and refuses the others.
#[derive(Clone)]
struct Bounded<A> {
    inner: A,
    limit: Limit,
    refusal: Refusal,
}

type Accepted<S, V> = Pin<Box<dyn Future<Output = io::Result<(Held<S>, V)>> + Send>>;

impl<A, V> Accept<TcpStream, V> for Bounded<A>
where
    A: Accept<TcpStream, V>,
    A::Future: Send + 'static,
    A::Stream: Send + 'static,
    A::Service: Send + 'static,
{
    type Stream = Held<A::Stream>;
    type Service = A::Service;
    type Future = Accepted<A::Stream, A::Service>;

    fn accept(&self, stream: TcpStream, service: V) -> Self::Future {
        let Some(slot) = self.limit.take() else {
            if let Refusal::Busy = self.refusal {
                // Best effort, never waiting: a client that does not read gets the close alone.
                let _ = stream.try_write(BUSY);
            }
            drop(stream);
            return Box::pin(std::future::ready(Err(io::Error::other("connection limit reached"))));
        };
        let accepted = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((Held { stream, _slot: slot }, service))
        })
    }
}

/// A connection and its slot, freed when the connection is dropped.
pub struct Held<S> {
    stream: S,
    _slot: OwnedSemaphorePermit,
}

impl<S: AsyncRead + Unpin> AsyncRead for Held<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Held<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busy_answer_declares_its_body_length() {
        let text = std::str::from_utf8(BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head} / {body:?}"
        );
    }
}
