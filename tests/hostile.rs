//! Hostile clients against the portal's listener (served in-process on the real slapd): hundreds
//! of slow-loris connections do not keep the portal from answering and are dropped at the header
//! timeout; a body declared over the limit is refused before it is sent; busy connections over
//! `portal.max_connections` are refused at once and cost the server nothing; slow bodies filling
//! the bound are cut at the body deadline (408) and the portal serves again; idle connections
//! (keep-alive or silent) give their slots to new clients; `portal.max_connections_per_client`
//! refuses one address's extra connections and not another's; invalid UTF-8 and
//! duplicate fields posted to the real daemon's portal and helpdesk get a plain 400 and leave
//! nothing in the log.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::time::{Duration, Instant};

use common::portal::{Options, Portal};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SLOW_CLIENTS: usize = 300;

/// Opens a connection that sends the start of a request, then one header byte at a time.
async fn slow_client(addr: String, stop: tokio_util::sync::CancellationToken) -> bool {
    let Ok(mut s) = TcpStream::connect(&addr).await else {
        return false;
    };
    if s.write_all(b"GET / HTTP/1.1\r\nHost: portal\r\nX-Slow: ")
        .await
        .is_err()
    {
        return true;
    }
    // Until the server closes the connection (a write or read fails) or the test ends.
    loop {
        tokio::select! {
            () = stop.cancelled() => return false,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if s.write_all(b"a").await.is_err() {
            return true;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(10), s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            // A 408 or similar, then the close.
            Ok(Ok(_)) => return true,
            Err(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_slow_loris_connections_neither_starve_the_portal_nor_stay_open() {
    let portal = Portal::start("loris", &["loris1"], Options::default()).await;
    let addr = portal.url.trim_start_matches("http://").to_owned();
    let stop = tokio_util::sync::CancellationToken::new();
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..SLOW_CLIENTS {
        slow.spawn(slow_client(addr.clone(), stop.clone()));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // While they dribble, ordinary requests are answered (generous bound: "does not hang").
    let client = common::portal::client();
    for _ in 0..5 {
        let started = Instant::now();
        let (status, _) = common::portal::get(&client, &format!("{}/", portal.url)).await;
        assert_eq!(status, 200);
        assert!(started.elapsed() < Duration::from_secs(5), "the portal was starved");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The header timeout (10 s) drops every one of them; allow twice that.
    let deadline = tokio::time::sleep(Duration::from_secs(20));
    tokio::pin!(deadline);
    let mut dropped = 0;
    loop {
        tokio::select! {
            next = slow.join_next() => match next {
                Some(r) => dropped += usize::from(r.unwrap()),
                None => break,
            },
            () = &mut deadline => {
                stop.cancel();
            }
        }
    }
    assert_eq!(dropped, SLOW_CLIENTS, "slow connections the server did not drop");
    portal.stop().await;
}

#[tokio::test]
async fn a_body_declared_over_the_limit_is_refused_before_it_is_sent() {
    let portal = Portal::start("bigbody", &["big1"], Options::default()).await;
    let addr = portal.url.trim_start_matches("http://").to_owned();
    let mut s = TcpStream::connect(&addr).await.unwrap();
    // Only the headers: a server that waited for the 100 MB would never answer.
    s.write_all(
        b"POST /change HTTP/1.1\r\nHost: portal\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 100000000\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
        .await
        .expect("no answer: the server waits for the body")
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    portal.stop().await;
}

/// Connections the server side holds open on `port` (ESTABLISHED, local port = `port`), from
/// /proc/net/tcp: what the portal keeps, whatever else the tests running beside it do.
fn served_connections(port: u16) -> usize {
    let local = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| t.lines().skip(1).map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.len() > 3 && format!("{} ", &cols[1][cols[1].len() - 5..]) == local && cols[3] == "01"
        })
        .count()
}

/// Threads of this process.
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line["Threads:".len()..].trim().parse().unwrap()
}

/// `portal.max_connections` held open (busy: each in the middle of its request headers; idle
/// ones would give way) and ten times as many more on top: each one over the bound gets a 503 at
/// once (or a close), the server keeps no connection for them, an ordinary request is refused
/// rather than left hanging, and once the held ones close the portal answers again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_bound_are_refused_at_once_and_freed_slots_serve_again() {
    const BOUND: usize = 20;
    const OVER: usize = 200;
    let options = Options {
        max_connections: Some(BOUND),
        ..Options::default()
    };
    let portal = Portal::start("bound", &["bound1"], options).await;
    let addr = portal.url.trim_start_matches("http://").to_owned();
    let port = portal.url.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let threads_before = threads();

    let mut held = Vec::new();
    for _ in 0..BOUND {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: portal\r\n").await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut over = Vec::new();
    let mut busy = 0;
    for _ in 0..OVER {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let mut buf = vec![0u8; 1024];
        let read = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("a connection over the bound was left waiting");
        if let Ok(n @ 1..) = read {
            let head = String::from_utf8_lossy(&buf[..n]);
            assert!(head.starts_with("HTTP/1.1 503"), "{head}");
            assert!(head.contains("Retry-After:"), "{head}");
            busy += 1;
        }
        over.push(s); // kept open on our side: the server must not keep its end
    }
    assert!(busy > OVER / 2, "only {busy} of {OVER} got the 503");
    let served = served_connections(port);
    assert!(
        served <= BOUND,
        "the server holds {served} connections: more than the bound of {BOUND}"
    );
    // Tasks, not threads, serve connections; tests running beside this one add a few.
    assert!(threads() <= threads_before + 32, "threads grew with the connections");

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    match client.get(format!("{}/", portal.url)).send().await {
        Ok(r) => assert_eq!(r.status(), 503, "a request over the bound"),
        Err(e) => assert!(!e.is_timeout(), "a request over the bound hung: {e}"),
    }

    drop(held);
    drop(over);
    common::eventually("the portal answers again", Duration::from_secs(10), async || {
        let r = client.get(format!("{}/", portal.url)).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    portal.stop().await;
}

/// Reads into `got` until the server closes the connection (true; a reset too) or `limit`.
async fn read_until_close(s: &mut TcpStream, got: &mut Vec<u8>, limit: Duration) -> bool {
    tokio::time::timeout(limit, s.read_to_end(got)).await.is_ok()
}

fn first_line(got: &[u8]) -> String {
    String::from_utf8_lossy(got)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The first line of what the server answered before it closed the connection (empty when it
/// closed without a word), or `None` if it did not close within `limit`.
async fn answer_before_close(s: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut got = Vec::new();
    read_until_close(s, &mut got, limit).await.then(|| first_line(&got))
}

/// A request to the portal refused at once or answered: its status (0 for a close).
async fn status_now(url: &str) -> u16 {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    match client.get(format!("{url}/")).send().await {
        Ok(r) => r.status().as_u16(),
        Err(e) => {
            assert!(!e.is_timeout(), "a request hung: {e}");
            0
        }
    }
}

/// One client fills `portal.max_connections` with POSTs whose body it sends a byte a second: the
/// portal refuses everybody else while they last, and cuts each at the body deadline (10 s) with
/// a 408 and a close, well before the request deadline (60 s), so the portal serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_filling_the_bound_are_cut_at_the_body_deadline() {
    const BOUND: usize = 16;
    let options = Options {
        max_connections: Some(BOUND),
        ..Options::default()
    };
    let portal = Portal::start("slowbody", &["slowbody1"], options).await;
    let addr = portal.url.trim_start_matches("http://").to_owned();
    let stop = tokio_util::sync::CancellationToken::new();
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..BOUND {
        let (addr, stop) = (addr.clone(), stop.clone());
        slow.spawn(async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            s.write_all(
                b"POST /resend HTTP/1.1\r\nHost: portal\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                  Content-Length: 1000\r\n\r\nlogin=",
            )
            .await
            .unwrap();
            // A byte a second until the server answers and closes.
            let (started, mut got) = (Instant::now(), Vec::new());
            loop {
                tokio::select! {
                    () = stop.cancelled() => return None,
                    closed = read_until_close(&mut s, &mut got, Duration::from_secs(1)) => {
                        if closed {
                            return Some((first_line(&got), started.elapsed()));
                        }
                    }
                }
                // A write after the close may fail (a reset): the read above then ends.
                let _ = s.write_all(b"a").await;
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Connected without a word: the 503 comes before anything would be read.
    let mut refused = TcpStream::connect(&addr).await.unwrap();
    let answer = answer_before_close(&mut refused, Duration::from_secs(5)).await;
    assert!(
        answer.as_deref().is_some_and(|a| a.starts_with("HTTP/1.1 503")),
        "the slow bodies did not fill the bound: {answer:?}"
    );

    // Served again within the body deadline plus a generous margin (the request deadline,
    // what held the slots before, is 60 s).
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    common::eventually("the portal serves again", Duration::from_secs(25), async || {
        let r = client.get(format!("{}/", portal.url)).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    let mut cut = 0;
    loop {
        tokio::select! {
            next = slow.join_next() => match next {
                Some(r) => if let Some((answer, after)) = r.unwrap() {
                    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
                    assert!(after < Duration::from_secs(30), "held for {after:?}");
                    cut += 1;
                },
                None => break,
            },
            () = &mut deadline => stop.cancel(),
        }
    }
    assert_eq!(cut, BOUND, "slow bodies the server did not cut");
    portal.stop().await;
}

/// `portal.max_connections` held by idle connections, half keep-alive connections that were
/// answered once, half connections that never said a word: a new client is served at once (well
/// before the header timeout would close them), the idle connections it displaced are closed by
/// the server, and the others at the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_give_their_slots_to_new_clients() {
    const BOUND: usize = 16;
    let options = Options {
        max_connections: Some(BOUND),
        ..Options::default()
    };
    let portal = Portal::start("idle", &["idle1"], options).await;
    let addr = portal.url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for i in 0..BOUND {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 0 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: portal\r\n\r\n")
                .await
                .unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            assert!(head.starts_with("HTTP/1.1 200") && !head.contains("close"), "{head}");
        }
        held.push(s);
    }
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(status_now(&portal.url).await, 200, "idle connections kept a client out");
    }
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "served only once the idle connections timed out"
    );
    let mut closed = 0;
    for s in &mut held {
        let mut buf = [0u8; 64];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            closed += 1;
        }
    }
    assert!(closed >= 1, "no idle connection was closed to make room");
    // The rest are closed at the idle timeout (10 s; allow twice that).
    for s in &mut held {
        let mut buf = [0u8; 64];
        let end = tokio::time::timeout(Duration::from_secs(20), s.read(&mut buf)).await;
        assert!(
            matches!(end, Ok(Ok(0) | Err(_))),
            "an idle connection was kept open: {end:?}"
        );
    }
    portal.stop().await;
}

/// Connects to `addr` from the loopback address `source`.
async fn connect_from(source: &str, addr: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

/// With `portal.max_connections_per_client`, one address holding its share of busy connections
/// is refused more at once (a 503), while another address is served, and a trusted proxy is not
/// bound per client (its connections carry many).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bound_per_client_refuses_one_address_and_serves_another() {
    const PER_CLIENT: usize = 4;
    let options = Options {
        max_connections: Some(16),
        max_connections_per_client: Some(PER_CLIENT),
        trusted_proxies: vec!["127.0.0.3"],
        ..Options::default()
    };
    let portal = Portal::start("perclient", &["perclient1"], options).await;
    let addr = portal.url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..PER_CLIENT {
        let mut s = connect_from("127.0.0.1", &addr).await;
        s.write_all(b"GET / HTTP/1.1\r\nHost: portal\r\n").await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = connect_from("127.0.0.1", &addr).await;
    extra
        .write_all(b"GET / HTTP/1.1\r\nHost: portal\r\n\r\n")
        .await
        .unwrap();
    let answer = answer_before_close(&mut extra, Duration::from_secs(5))
        .await
        .expect("an extra connection from the capped address was left waiting");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");

    let mut other = connect_from("127.0.0.2", &addr).await;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: portal\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = answer_before_close(&mut other, Duration::from_secs(5))
        .await
        .expect("another address was left waiting");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");

    for _ in 0..PER_CLIENT + 2 {
        let mut s = connect_from("127.0.0.3", &addr).await;
        s.write_all(b"GET / HTTP/1.1\r\nHost: portal\r\n").await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut proxied = connect_from("127.0.0.3", &addr).await;
    proxied
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: portal\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = answer_before_close(&mut proxied, Duration::from_secs(5))
        .await
        .expect("the trusted proxy was left waiting");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the trusted proxy was bound per client: {answer:?}"
    );
    drop(held);
    portal.stop().await;
}

/// What a hostile form carries: a marker that must appear in no answer and no log.
const MARK: &str = "HOSTILE-FORM-VALUE";

/// Bodies no browser sends, for a form whose fields include `field`: invalid UTF-8 raw and
/// percent-encoded, and `field` twice.
fn malformed_bodies(field: &str) -> [(&'static str, Vec<u8>); 3] {
    let mut raw = format!("csrf=x&{field}={MARK}-raw").into_bytes();
    raw.extend_from_slice(b"\xff\xfe");
    [
        ("raw invalid UTF-8", raw),
        (
            "percent-encoded invalid UTF-8",
            format!("csrf=x&{field}={MARK}-pct%FF%FE").into_bytes(),
        ),
        (
            "a duplicate field",
            format!("csrf=x&{field}={MARK}-1&{field}={MARK}-2").into_bytes(),
        ),
    ]
}

/// Invalid UTF-8 and duplicate fields, over HTTP to the real daemon's portal (link, change,
/// resend) and helpdesk (sign-in) posts, as a browser would send them (`Accept: text/html`):
/// each gets a 400 with a plain HTML page that quotes nothing sent and shows no internals, and
/// the daemon's log (at info) holds nothing of the bodies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_utf8_and_duplicate_fields_get_a_plain_400_and_leave_no_trace() {
    let s = common::helpdesk::Setup::start_with("malformed", "auth = \"any\"\n").await;
    let link = s.links_for("ann@example.org").pop().expect("ann's notice");
    let posts = [
        (link, "new_password"),
        (format!("{}/change", s.portal), "current_password"),
        (format!("{}/resend", s.portal), "login"),
        (format!("{}/helpdesk/login", s.base), "password"),
    ];
    let client = reqwest::Client::new();
    for (url, field) in &posts {
        for (what, body) in malformed_bodies(field) {
            let r = client
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .header("Accept", "text/html")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let kind = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let page = r.text().await.unwrap();
            assert_eq!(status, 400, "{url} with {what}: {page}");
            assert!(kind.starts_with("text/html"), "{url} with {what}: {kind}");
            assert!(page.contains("</html>"), "{url} with {what}: not a page: {page}");
            for leak in [MARK, "panicked", "Error {", "Utf8", "invalid utf-8 sequence"] {
                assert!(!page.contains(leak), "{url} with {what} shows {leak:?}: {page}");
            }
        }
    }
    let log = s.daemon.log_text();
    assert!(!log.contains(MARK), "the log holds a hostile body: {log}");
}
