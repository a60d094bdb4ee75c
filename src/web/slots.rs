//! The connection slots of one listener: at most `max` connections at once and, when asked for,
//! at most `per_client` from one client address; and which open connections are idle, so that a
//! new connection over a bound takes the slot of the connection idle the longest rather than be
//! refused. Owns [`Held`], the stream a slot travels with. Knows bytes, not HTTP: what answers a
//! refused connection, and the timeouts, are the listener's.
//!
//! Idle means: no request on it is in a handler, and the last thing that happened on it was a
//! write or the end of a handler (a response went out, and the client has sent nothing since),
//! or nothing happened yet (a browser's preconnection, a client that connects and says nothing;
//! a TLS connection still in its handshake counts as one). A connection whose last event is a
//! read is busy: its request is being read, and the header and body deadlines bound how long it
//! stays so; one with a request in a handler is busy until the handler is done (the request
//! deadline bounds that), whatever was written meanwhile (an HTTP/2 window update, say). The
//! listener tells which requests are in a handler ([`Slots::request`], found by the peer's
//! address and port).
//!
//! An idle connection keeps a slot only while nobody else needs it: browsers hold idle
//! keep-alive connections, and a client that opens the bound's worth of silent connections
//! would otherwise keep everybody out until the header timeout, over and over. The one idle the
//! longest goes first (the newest is the likeliest to be about to send its request). It is
//! closed by ending its read side: hyper sees the end of the stream on an idle connection and
//! closes it. A client whose request crosses that close sees a closed keep-alive connection,
//! which browsers retry on a new one; the same happens at any server's idle timeout. A response
//! still being written when its connection is chosen is cut short: only the longest idle is
//! chosen, and a response of a few KB is written in one go, so this needs a client that does not
//! read what it asked for.
//!
//! The per-client bound is off unless configured: staff behind one office NAT share an address.
//! Trusted proxies are exempt from it (their connections carry many clients); IPv6 counts by /64
//! like the rate limits.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::client::{Cidr, bucket, is_trusted};

/// Why a connection gets no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("connection limit reached")]
    Full,
    #[error("connection limit per client reached")]
    Client,
}

/// The slots of one listener.
pub struct Slots {
    name: &'static str,
    max: usize,
    /// 0: no bound per client.
    per_client: usize,
    /// Peers not bound per client (trusted proxies).
    exempt: Vec<Cidr>,
    table: Mutex<Table>,
    /// Whether the last connection was refused for the overall bound: that is logged once per
    /// episode, not per connection (a flood would flood the log too).
    full: AtomicBool,
    /// The minute (since `started`) of the last warning about a client at its bound, plus one.
    client_warned: AtomicU64,
    /// The clock idle times count from.
    started: Instant,
}

#[derive(Default)]
struct Table {
    open: HashMap<u64, Open>,
    /// The open connections by peer (address and port: one connection each while it is open).
    peers: HashMap<SocketAddr, u64>,
    next: u64,
    clients: HashMap<IpAddr, usize>,
}

struct Open {
    conn: Arc<Conn>,
    peer: SocketAddr,
    /// The client it counts for; `None` when no per-client bound applies.
    client: Option<IpAddr>,
}

/// What a connection's stream and its slot share.
struct Conn {
    /// Milliseconds since `Slots::started` plus one at which it went idle; 0 while busy.
    idle_since: AtomicU64,
    /// Requests on it in a handler: while there is one it is busy, whatever it wrote.
    requests: AtomicUsize,
    /// Set when its slot went to another connection: its reads end.
    closing: AtomicBool,
    /// The task waiting on its reads, woken to see `closing`.
    reader: AtomicWaker,
}

impl Conn {
    /// Since when it is idle; `None` while busy.
    fn idle(&self) -> Option<u64> {
        if self.requests.load(Ordering::Acquire) > 0 {
            return None;
        }
        match self.idle_since.load(Ordering::Acquire) {
            0 => None,
            since => Some(since),
        }
    }

    /// Ends its reads (its slot went to another connection or it was idle too long).
    fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.reader.wake();
    }
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    // A panic elsewhere leaves the counts consistent (each change is one statement).
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Slots {
    pub fn new(name: &'static str, max: usize, per_client: usize, exempt: Vec<Cidr>) -> Arc<Slots> {
        Arc::new(Slots {
            name,
            max,
            per_client,
            exempt,
            table: Mutex::new(Table::default()),
            full: AtomicBool::new(false),
            client_warned: AtomicU64::new(0),
            started: Instant::now(),
        })
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64 + 1
    }

    /// A slot for a connection from `peer`, taken from the connection idle the longest when a
    /// bound is reached, or why there is none.
    pub fn take(self: &Arc<Self>, peer: SocketAddr) -> Result<Slot, Refused> {
        let ip = peer.ip();
        let client = (self.per_client > 0 && !is_trusted(&self.exempt, ip)).then(|| bucket(ip));
        let mut table = lock(&self.table);
        if let Some(client) = client
            && table.clients.get(&client).copied().unwrap_or(0) >= self.per_client
            && !table.evict(|o| o.client == Some(client))
        {
            drop(table);
            self.warn_client(client);
            return Err(Refused::Client);
        }
        if table.open.len() >= self.max && !table.evict(|_| true) {
            drop(table);
            if !self.full.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    listener = self.name,
                    max_connections = self.max,
                    "connection limit reached: refusing new connections until some close"
                );
            }
            return Err(Refused::Full);
        }
        let conn = Arc::new(Conn {
            idle_since: AtomicU64::new(self.now()),
            requests: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            reader: AtomicWaker::new(),
        });
        let id = table.next;
        table.next += 1;
        if let Some(client) = client {
            *table.clients.entry(client).or_insert(0) += 1;
        }
        table.open.insert(
            id,
            Open {
                conn: conn.clone(),
                peer,
                client,
            },
        );
        table.peers.insert(peer, id);
        drop(table);
        if self.full.swap(false, Ordering::Relaxed) {
            tracing::info!(listener = self.name, "accepting connections again");
        }
        Ok(Slot {
            slots: self.clone(),
            id,
            conn,
        })
    }

    /// Marks the connection from `peer` busy until the returned guard is dropped (when its
    /// handler is done); `None` when no such connection holds a slot (any more).
    pub fn request(self: &Arc<Self>, peer: SocketAddr) -> Option<InHandler> {
        let table = lock(&self.table);
        let conn = table.open.get(table.peers.get(&peer)?)?.conn.clone();
        drop(table);
        conn.requests.fetch_add(1, Ordering::AcqRel);
        conn.idle_since.store(0, Ordering::Release);
        Some(InHandler {
            slots: self.clone(),
            conn,
        })
    }

    /// At most one warning a minute: an attacker reconnecting in a loop must not flood the log.
    fn warn_client(&self, client: IpAddr) {
        let minute = self.started.elapsed().as_secs() / 60 + 1;
        if self.client_warned.swap(minute, Ordering::Relaxed) != minute {
            tracing::warn!(
                listener = self.name,
                client = %client,
                max_connections_per_client = self.per_client,
                "connection limit per client reached: refusing that client's new connections"
            );
        }
    }

    /// Closes the connections idle for `timeout` or longer (HTTP/2 has no header timeout that
    /// would); returns how many.
    pub fn close_idle(&self, timeout: Duration) -> usize {
        let limit = self.now().saturating_sub(timeout.as_millis() as u64);
        let mut table = lock(&self.table);
        let stale: Vec<u64> = table
            .open
            .iter()
            .filter(|(_, o)| o.conn.idle().is_some_and(|since| since <= limit))
            .map(|(id, _)| *id)
            .collect();
        for id in &stale {
            if let Some(open) = table.release(*id) {
                open.conn.close();
            }
        }
        stale.len()
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        lock(&self.table).open.len()
    }
}

impl Table {
    /// Frees the slot of the connection idle the longest among those `which` selects and tells
    /// it to close; false when none is idle.
    fn evict(&mut self, which: impl Fn(&Open) -> bool) -> bool {
        let oldest = self
            .open
            .iter()
            .filter(|(_, o)| which(o))
            .filter_map(|(id, o)| Some((o.conn.idle()?, *id)))
            .min();
        let Some(open) = oldest.and_then(|(_, id)| self.release(id)) else {
            return false;
        };
        open.conn.close();
        true
    }

    fn release(&mut self, id: u64) -> Option<Open> {
        let open = self.open.remove(&id)?;
        if self.peers.get(&open.peer) == Some(&id) {
            self.peers.remove(&open.peer);
        }
        if let Some(client) = open.client
            && let Some(count) = self.clients.get_mut(&client)
        {
            *count -= 1;
            if *count == 0 {
                self.clients.remove(&client);
            }
        }
        Some(open)
    }
}

/// One connection's slot, given back when it is dropped (unless it already went to another).
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    conn: Arc<Conn>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.slots.table).release(self.id);
    }
}

impl Slot {
    fn mark_busy(&self) {
        self.conn.idle_since.store(0, Ordering::Release);
    }

    fn mark_idle(&self) {
        if self.conn.idle_since.load(Ordering::Relaxed) == 0 {
            self.conn.idle_since.store(self.slots.now(), Ordering::Release);
        }
    }
}

/// A request in a handler: its connection is busy until this is dropped, and idle from then on
/// until the client sends more (the answer it is about to write needs no slot of its own).
pub struct InHandler {
    slots: Arc<Slots>,
    conn: Arc<Conn>,
}

impl Drop for InHandler {
    fn drop(&mut self) {
        if self.conn.requests.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.conn.idle_since.store(self.slots.now(), Ordering::Release);
        }
    }
}

/// A connection and its slot: reads mark it busy, writes idle; once its slot went to another
/// connection, its reads end.
pub struct Held<S> {
    pub stream: S,
    pub slot: Slot,
}

impl<S: AsyncRead + Unpin> AsyncRead for Held<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let conn = self.slot.conn.clone();
        if conn.closing.load(Ordering::SeqCst) {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.slot.mark_busy();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                // Registered before looking again, so an eviction in between is not missed.
                conn.reader.register(cx.waker());
                if conn.closing.load(Ordering::SeqCst) {
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
            failed => failed,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Held<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        if let Poll::Ready(Ok(1..)) = written {
            self.slot.mark_idle();
        }
        written
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
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(1..)) = written {
            self.slot.mark_idle();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A peer at `text`, on a port of its own.
    fn ip(text: &str) -> SocketAddr {
        static PORT: AtomicUsize = AtomicUsize::new(1000);
        let port = PORT.fetch_add(1, Ordering::Relaxed) as u16;
        SocketAddr::new(text.parse().unwrap(), port)
    }

    #[test]
    fn over_the_bound_the_longest_idle_gives_way_and_busy_ones_never() {
        let slots = Slots::new("t", 2, 0, Vec::new());
        let a = slots.take(ip("127.0.0.1")).unwrap();
        a.mark_busy();
        let b = slots.take(ip("127.0.0.1")).unwrap();
        let c = slots.take(ip("127.0.0.1")).unwrap();
        assert!(b.conn.closing.load(Ordering::SeqCst), "the idle one gave way");
        assert!(!a.conn.closing.load(Ordering::SeqCst), "the busy one stays");
        assert_eq!(slots.open(), 2);
        c.mark_busy();
        assert_eq!(slots.take(ip("127.0.0.1")).err(), Some(Refused::Full));
        // The evicted one's slot went to `c`: its drop gives nothing back twice.
        drop(b);
        assert_eq!(slots.take(ip("127.0.0.1")).err(), Some(Refused::Full));
        drop(a);
        let d = slots.take(ip("127.0.0.1")).unwrap();
        // Written to last: idle, and the longest idle is the one that goes first.
        std::thread::sleep(Duration::from_millis(5));
        c.mark_idle();
        let _e = slots.take(ip("127.0.0.1")).unwrap();
        assert!(d.conn.closing.load(Ordering::SeqCst) && !c.conn.closing.load(Ordering::SeqCst));
    }

    #[test]
    fn the_bound_per_client_counts_addresses_and_spares_proxies_and_other_clients() {
        let slots = Slots::new("t", 10, 2, vec![Cidr::parse("10.0.0.1").unwrap()]);
        let held: Vec<Slot> = ["2001:db8::1", "2001:db8::2:1"]
            .iter()
            .map(|a| slots.take(ip(a)).unwrap())
            .collect();
        held.iter().for_each(Slot::mark_busy);
        // IPv6 by /64, as the rate limits.
        assert_eq!(slots.take(ip("2001:db8::ffff")).err(), Some(Refused::Client));
        let other = slots.take(ip("2001:db8:0:1::1")).unwrap();
        other.mark_busy();
        let proxied: Vec<Slot> = (0..5).map(|_| slots.take(ip("10.0.0.1")).unwrap()).collect();
        // A client at its bound with an idle connection: that one gives way, no other client's.
        held[1].mark_idle();
        let _again = slots.take(ip("2001:db8::3")).unwrap();
        assert!(held[1].conn.closing.load(Ordering::SeqCst));
        assert!(proxied.iter().all(|s| !s.conn.closing.load(Ordering::SeqCst)));
        // Off (0): no bound per client.
        let open = Slots::new("t", 10, 0, Vec::new());
        let all: Vec<Slot> = (0..10).map(|_| open.take(ip("127.0.0.1")).unwrap()).collect();
        assert_eq!(all.len(), 10);
    }

    #[test]
    fn idle_connections_past_the_timeout_are_closed() {
        let slots = Slots::new("t", 10, 0, Vec::new());
        let (idle, busy) = (slots.take(ip("::1")).unwrap(), slots.take(ip("::1")).unwrap());
        busy.mark_busy();
        assert_eq!(slots.close_idle(Duration::from_secs(3600)), 0);
        assert_eq!(slots.close_idle(Duration::ZERO), 1);
        assert!(idle.conn.closing.load(Ordering::SeqCst) && !busy.conn.closing.load(Ordering::SeqCst));
        assert_eq!(slots.open(), 1);
    }

    #[test]
    fn a_request_in_a_handler_keeps_its_connection_busy_whatever_was_written() {
        let slots = Slots::new("t", 1, 0, Vec::new());
        let peer = ip("127.0.0.1");
        let slot = slots.take(peer).unwrap();
        let handling = slots.request(peer).unwrap();
        slot.mark_idle();
        assert_eq!(slots.take(ip("127.0.0.1")).err(), Some(Refused::Full));
        assert_eq!(slots.close_idle(Duration::ZERO), 0);
        drop(handling);
        let _next = slots.take(ip("127.0.0.1")).unwrap();
        assert!(slot.conn.closing.load(Ordering::SeqCst));
        assert!(slots.request(peer).is_none(), "its slot went to another");
    }

    #[tokio::test]
    async fn a_connection_read_from_is_busy_and_an_evicted_one_reads_the_end() {
        let slots = Slots::new("t", 1, 0, Vec::new());
        let (mut client, server) = tokio::io::duplex(64);
        let mut held = Held {
            stream: server,
            slot: slots.take(ip("127.0.0.1")).unwrap(),
        };
        client.write_all(b"GET").await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(held.read(&mut buf).await.unwrap(), 3);
        assert_eq!(slots.take(ip("127.0.0.1")).err(), Some(Refused::Full));
        held.write_all(b"200").await.unwrap();
        // Answered, and waiting for the next request: the next connection takes its slot.
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            held.read(&mut buf).await.unwrap()
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _next = slots.take(ip("127.0.0.1")).unwrap();
        let read = tokio::time::timeout(Duration::from_secs(5), reader)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read, 0, "the evicted connection's read ends");
        drop(client);
    }
}
