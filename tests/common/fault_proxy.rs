//! A TCP fault proxy for the fault-injection tests (`tests/faults.rs`): it listens on a loopback
//! port, forwards every connection to one upstream (slapd, the SMTP capture server), and the
//! test switches what happens to the traffic at any moment: pass, added latency, a reset after
//! N forwarded bytes, a black hole (accepted, never answered), refusal — then heals.
//!
//! It runs on a runtime of its own (a thread), so a test that blocks on the real binary
//! (`Command::output`) does not stall it. It sees bytes only: TLS (StartTLS included) passes
//! through untouched, so the client still checks the server's certificate.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does to the traffic, from the moment it is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwards everything.
    Pass,
    /// Forwards everything `latency` late (a delay line: throughput is not limited), and, with
    /// `reset_every`, resets (RST) a connection each time it has carried that many more bytes
    /// (both directions counted); new connections are still accepted.
    Degraded {
        latency: Duration,
        reset_every: Option<u64>,
    },
    /// Accepts connections and forwards nothing, either way, until the fault changes; nothing
    /// is closed (what a dead route or a hung server looks like).
    BlackHole,
    /// Resets new connections at once, and open ones at their next chunk (the server is gone).
    Refuse,
    /// Open connections pass; new ones are reset at once. Cuts exactly the operations that
    /// open a connection of their own (a bind as a user) while a warm pool goes on.
    RefuseNew,
    /// Open connections pass and one more new one is accepted (new ones after it are reset);
    /// once that one has closed, `Refuse`. Cuts everything right after a one-off connection
    /// (the verification bind) has done its work.
    LastConnection,
}

/// A running proxy; dropping it stops it and closes every connection.
pub struct FaultProxy {
    addr: SocketAddr,
    fault: Arc<watch::Sender<Fault>>,
    stats: Arc<Stats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct Stats {
    accepted: AtomicU64,
    resets: AtomicU64,
    bytes: AtomicU64,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`), passing traffic.
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream.to_owned();
        let fault = Arc::new(watch::channel(Fault::Pass).0);
        let tx = fault.clone();
        let stats = Arc::new(Stats::default());
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stats2 = stats.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready_tx.send(listener.local_addr().unwrap()).unwrap();
                tokio::select! {
                    _ = accept_loop(listener, upstream, tx, stats2) => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = ready_rx.recv().unwrap();
        FaultProxy {
            addr,
            fault,
            stats,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Changes the fault; open connections follow it from their next chunk.
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }

    /// The fault in force (the proxy itself moves on from `LastConnection`).
    pub fn current(&self) -> watch::Ref<'_, Fault> {
        self.fault.borrow()
    }

    pub fn heal(&self) {
        self.set(Fault::Pass);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.stats.accepted.load(Ordering::Relaxed)
    }

    /// Connections the proxy reset so far.
    pub fn resets(&self) -> u64 {
        self.stats.resets.load(Ordering::Relaxed)
    }

    /// Bytes forwarded so far (both directions).
    pub fn bytes(&self) -> u64 {
        self.stats.bytes.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn accept_loop(listener: TcpListener, upstream: String, set: Arc<watch::Sender<Fault>>, stats: Arc<Stats>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let now = *set.borrow();
        if matches!(now, Fault::Refuse | Fault::RefuseNew) {
            reset(client, &stats);
            continue;
        }
        let last = now == Fault::LastConnection;
        if last {
            set.send_replace(Fault::RefuseNew);
        }
        let (upstream, set, stats) = (upstream.clone(), set.clone(), stats.clone());
        conns.spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                reset(client, &stats);
                return;
            };
            connection(client, server, set.subscribe(), stats).await;
            if last {
                set.send_replace(Fault::Refuse);
            }
        });
        while conns.try_join_next().is_some() {}
    }
}

/// Closes with RST (linger 0) rather than FIN: what a crashed server or a middlebox sends.
fn reset(stream: TcpStream, stats: &Stats) {
    stats.resets.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Pumps both directions until both sides have closed, or the fault says reset: then both
/// sockets are closed with RST.
async fn connection(mut client: TcpStream, mut server: TcpStream, fault: watch::Receiver<Fault>, stats: Arc<Stats>) {
    // Bytes this connection carried since its last reset point, both directions together.
    let carried = Mutex::new(0u64);
    let end = {
        let (cr, cw) = client.split();
        let (sr, sw) = server.split();
        let up = pump(cr, sw, fault.clone(), &stats, &carried);
        let down = pump(sr, cw, fault, &stats, &carried);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        loop {
            let end = tokio::select! {
                e = &mut up, if !up_done => { up_done = true; e }
                e = &mut down, if !down_done => { down_done = true; e }
            };
            if end == End::Reset || (up_done && down_done) {
                break end;
            }
        }
    };
    if end == End::Reset {
        stats.resets.fetch_add(1, Ordering::Relaxed);
        let _ = client.set_zero_linger();
        let _ = server.set_zero_linger();
    }
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    Closed,
    Reset,
}

/// Forwards one direction: a reader stamps each chunk with its arrival, a writer forwards it
/// once the fault in force allows (after the latency, unless black-holed, reset or refused).
async fn pump(
    mut from: tokio::net::tcp::ReadHalf<'_>,
    mut to: tokio::net::tcp::WriteHalf<'_>,
    mut fault: watch::Receiver<Fault>,
    stats: &Stats,
    carried: &Mutex<u64>,
) -> End {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let read = async move {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf).await {
            if tx.send((tokio::time::Instant::now(), buf[..n].to_vec())).is_err() {
                break;
            }
        }
    };
    let write = async {
        while let Some((arrived, chunk)) = rx.recv().await {
            loop {
                let current = *fault.borrow_and_update();
                match current {
                    Fault::Pass | Fault::RefuseNew | Fault::LastConnection => break,
                    Fault::Degraded { latency, reset_every } => {
                        tokio::time::sleep_until(arrived + latency).await;
                        let mut c = carried.lock().unwrap();
                        *c += chunk.len() as u64;
                        if reset_every.is_some_and(|limit| *c >= limit) {
                            *c = 0;
                            return End::Reset;
                        }
                        break;
                    }
                    // Held until the fault changes; then the chunk goes on (or is reset).
                    Fault::BlackHole => {
                        if fault.changed().await.is_err() {
                            return End::Closed;
                        }
                    }
                    Fault::Refuse => return End::Reset,
                }
            }
            if to.write_all(&chunk).await.is_err() {
                return End::Closed;
            }
            stats.bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
        let _ = to.shutdown().await;
        End::Closed
    };
    // The reader ends at EOF (dropping the sender); the writer then drains and ends. A reset
    // decided by the writer ends the reader too.
    tokio::pin!(read, write);
    tokio::select! {
        end = &mut write => end,
        () = &mut read => write.await,
    }
}
