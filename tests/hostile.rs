//! Hostile clients against the portal's listener (served in-process on the real slapd): hundreds
//! of slow-loris connections do not keep the portal from answering and are dropped at the header
//! timeout; a body declared over the limit is refused before it is sent; connections over
//! `portal.max_connections` are refused at once and cost the server nothing.
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
