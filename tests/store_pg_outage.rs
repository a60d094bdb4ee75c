//! PostgreSQL going away, on a private server of each test's own (`scripts/pg-start`, stopped
//! and restarted with `pg-stop --keep` / `pg-start --start-only`, or frozen with SIGSTOP):
//! connecting gives up in bounded time when the server accepts but does not answer, fails at
//! once when it is stopped, and works again — same port, same data — when it is back.
//!
//! Like `store_pg_tls`, these run where `scripts/test` set `PWRESETD_TEST_PG_URL` (the machine
//! has PostgreSQL), skip elsewhere, and fail under `PWRESETD_REQUIRE_PG=1` without it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::pg::PrivatePg;
use pwresetd::store::config::PgConfig;
use pwresetd::store::pg_connect::{PgConnectError, connect_bounded};
use pwresetd::store::tls::connector;

/// `connect_bounded(limit)`, itself watched: a regression that hangs fails the test instead of
/// hanging the suite.
fn connect(pg: &PgConfig, limit: Duration) -> (Duration, Result<postgres::Client, PgConnectError>) {
    let (tx, rx) = mpsc::channel();
    let (config, tls) = (pg.client_config(), connector(pg).unwrap());
    std::thread::spawn(move || {
        let started = Instant::now();
        let result = connect_bounded(&config, tls, limit);
        let _ = tx.send((started.elapsed(), result));
    });
    rx.recv_timeout(limit + Duration::from_secs(20))
        .expect("connect_bounded did not return: it hangs")
}

#[test]
fn connecting_gives_up_in_bounded_time_when_the_server_does_not_answer() {
    let Some(server) = PrivatePg::start() else { return };
    let pg = server.config();
    let (_, first) = connect(&pg, Duration::from_secs(10));
    first.unwrap().simple_query("SELECT 1").unwrap();

    // Frozen: the kernel still accepts the TCP connection; nothing answers.
    server.signal("-STOP");
    let (took, frozen) = connect(&pg, Duration::from_secs(2));
    server.signal("-CONT");
    match frozen {
        Err(PgConnectError::NoAnswer(limit)) => assert_eq!(limit, Duration::from_secs(2)),
        Err(other) => panic!("wrong error against a frozen server: {other}"),
        Ok(_) => panic!("connected to a frozen server"),
    }
    assert!(took < Duration::from_secs(8), "gave up after {took:?}");
    let message = PgConnectError::NoAnswer(Duration::from_secs(2)).to_string();
    assert!(message.contains("did not answer within 2s"), "{message}");

    // Thawed: connecting works again.
    let (_, again) = connect(&pg, Duration::from_secs(10));
    again.unwrap().simple_query("SELECT 1").unwrap();
}

#[test]
fn a_stopped_server_refuses_at_once_and_serves_its_data_again_when_restarted() {
    let Some(server) = PrivatePg::start() else { return };
    let pg = server.config();
    let (_, first) = connect(&pg, Duration::from_secs(10));
    first
        .unwrap()
        .batch_execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
        .unwrap();

    server.script("pg-stop", &["--keep"]);
    let (took, down) = connect(&pg, Duration::from_secs(10));
    match down {
        Err(PgConnectError::Postgres(e)) => assert!(e.to_string().contains("error connecting"), "{e}"),
        Err(other) => panic!("wrong error against a stopped server: {other}"),
        Ok(_) => panic!("connected to a stopped server"),
    }
    assert!(took < Duration::from_secs(5), "a refused connect took {took:?}");

    server.script("pg-start", &["--start-only"]);
    let (_, back) = connect(&pg, Duration::from_secs(10));
    let n: i32 = back.unwrap().query_one("SELECT n FROM kept", &[]).unwrap().get(0);
    assert_eq!(n, 42);
}

/// `kill SIGNAL` to the private server's postmaster and its backends (the pool's open
/// connections are served by the backends: freezing the postmaster alone leaves them answering).
fn signal_all(server: &PrivatePg, signal: &str) {
    let children = std::process::Command::new("pgrep")
        .args(["-P", &server.postmaster()])
        .output()
        .unwrap();
    for pid in String::from_utf8_lossy(&children.stdout).split_whitespace() {
        let _ = std::process::Command::new("kill").args([signal, pid]).status();
    }
    server.signal(signal);
}

/// A store call against a frozen server gives up (`StoreError::NoAnswer`) rather than holding
/// its caller (a portal request) for ever, and the store works again once the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_call_gives_up_when_the_server_does_not_answer() {
    let Some(server) = PrivatePg::start() else { return };
    let pg = server.config();
    let store = tokio::task::spawn_blocking(move || {
        pwresetd::store::off_runtime::blocking(|| pwresetd::store::Store::open_postgres(&pg))
    })
    .await
    .unwrap()
    .unwrap();
    assert!(store.run(|s| s.campaigns()).await.unwrap().is_empty());

    signal_all(&server, "-STOP");
    let started = Instant::now();
    let frozen = tokio::time::timeout(Duration::from_secs(40), store.run(|s| s.campaigns())).await;
    signal_all(&server, "-CONT");
    let took = started.elapsed();
    match frozen.expect("Store::run did not return: it hangs") {
        Err(pwresetd::store::StoreError::NoAnswer(secs)) => assert_eq!(secs, 15),
        other => panic!("against a frozen server: {other:?}"),
    }
    assert!(took < Duration::from_secs(25), "gave up after {took:?}");

    assert!(store.run(|s| s.campaigns()).await.unwrap().is_empty(), "back");
}
