//! Hostile clients against the portal's listener (served in-process on the real slapd): hundreds
//! of slow-loris connections do not keep the portal from answering and are dropped at the header
//! timeout; a body declared over the limit is refused before it is sent; connections over
//! `portal.max_connections` are refused at once and cost the server nothing; invalid UTF-8 and
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

/// `portal.max_connections` held open (idle) and ten times as many more on top: each one over
/// the bound gets a 503 at once (or a close), the server keeps no connection for them, an
/// ordinary request is refused rather than left hanging, and once the held ones close the
/// portal answers again.
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
        held.push(TcpStream::connect(&addr).await.unwrap());
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
