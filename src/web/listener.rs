//! Serving a router on a listener with the bounds every front end needs: a time limit on the
//! request headers (and the TLS handshake), so slow-loris clients are dropped, which also closes
//! an HTTP/1 keep-alive connection idle that long; a time limit on the request body (see
//! [`super::deadline`]); a bound on concurrent connections, optionally also per client (see
//! [`super::slots`]), where idle connections give their slot up to new ones; a graceful drain at
//! shutdown. Used by the portal and by the admin listener (health, metrics, helpdesk). Knows
//! nothing of what the routes do.
//!
//! Over the bound, with no idle connection to close, a new connection is refused at once — a
//! fixed `503` with `Retry-After` on plain HTTP (before reading anything), a bare close under
//! TLS — rather than queued: a queue would keep the socket and a task per waiting client, the
//! very resources the bound caps, and would hide the overload from a load balancer, which can
//! retry elsewhere. The kernel's listen backlog stays the only queue. Each listener has its own
//! bound, so a flood of the portal does not reach the admin listener's `/healthz`; slots come
//! back as connections close. A slot is held at most header timeout + body timeout + the
//! request deadline by a client that sends anything at all, and by an idle one only while no
//! other connection needs it and for at most the header timeout (under HTTP/1 hyper's header
//! timeout closes it; a sweep does the same for HTTP/2, which has none).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum_server::accept::{Accept, DefaultAcceptor};
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::net::TcpStream;

use super::client::Cidr;
use super::slots::{Held, Refused, Slots};

/// The answer to a connection over the bound, written without reading the request.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
Retry-After: 5\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 50\r\n\r\n\
Too many connections. Try again in a few seconds.\n";

/// How often idle connections are looked for (the idle timeout is that much late at most).
const IDLE_SWEEP: Duration = Duration::from_secs(1);

/// How a listener is bounded.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Names the listener in logs (`portal`, `admin`).
    pub name: &'static str,
    pub max_connections: usize,
    /// At most this many connections from one client address; 0: no such bound.
    pub max_connections_per_client: usize,
    /// Peers exempt from the per-client bound (trusted proxies carry many clients).
    pub trusted_proxies: Vec<Cidr>,
    /// Time allowed for the request headers (and the TLS handshake); also how long a
    /// connection may stay idle.
    pub header_timeout: Duration,
    /// Time allowed for the request body, from when the handler first reads it.
    pub body_timeout: Duration,
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
    let slots = Slots::new(
        bounds.name,
        bounds.max_connections,
        bounds.max_connections_per_client,
        bounds.trusted_proxies.clone(),
    );
    let each = EachRequest {
        slots: slots.clone(),
        body_timeout: bounds.body_timeout,
    };
    let app = app
        .layer(axum::middleware::from_fn_with_state(each, each_request))
        .into_make_service_with_connect_info::<SocketAddr>();
    let mut server = axum_server::Server::<SocketAddr>::from_listener(listener).handle(handle);
    server.http_builder().http1().header_read_timeout(bounds.header_timeout);
    tokio::spawn(sweep_idle(Arc::downgrade(&slots), bounds.header_timeout));
    match tls {
        Some(config) => {
            let tls = RustlsAcceptor::new(RustlsConfig::from_config(config)).handshake_timeout(bounds.header_timeout);
            let acceptor = Bounded {
                inner: tls,
                slots,
                refusal: Refusal::Close,
            };
            server.acceptor(acceptor).serve(app).await
        }
        None => {
            let acceptor = Bounded {
                inner: DefaultAcceptor,
                slots,
                refusal: Refusal::Busy,
            };
            server.acceptor(acceptor).serve(app).await
        }
    }
}

/// What every request passes through on its way to the routes.
#[derive(Clone)]
struct EachRequest {
    slots: Arc<Slots>,
    body_timeout: Duration,
}

/// Keeps the request's connection busy while its handler runs, and bounds its body.
async fn each_request(State(each): State<EachRequest>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let _in_handler = peer.and_then(|peer| each.slots.request(peer));
    super::deadline::within(each.body_timeout, request, next).await
}

/// Closes connections idle for `timeout`, until the listener is gone. HTTP/1 closes its own at
/// the header timeout; HTTP/2 (offered under TLS) would keep them for good.
async fn sweep_idle(slots: Weak<Slots>, timeout: Duration) {
    let mut tick = tokio::time::interval(IDLE_SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(slots) = slots.upgrade() else { return };
        slots.close_idle(timeout);
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
    slots: Arc<Slots>,
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
        let slot = match stream.peer_addr() {
            Ok(peer) => self.slots.take(peer),
            // Gone before it was accepted: nothing to serve.
            Err(_) => Err(Refused::Full),
        };
        let slot = match slot {
            Ok(slot) => slot,
            Err(refused) => {
                if let Refusal::Busy = self.refusal {
                    // Best effort, never waiting: a client that does not read gets the close alone.
                    let _ = stream.try_write(BUSY);
                }
                drop(stream);
                return Box::pin(std::future::ready(Err(io::Error::other(refused))));
            }
        };
        let accepted = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((Held { stream, slot }, service))
        })
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
