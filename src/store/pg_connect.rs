//! A PostgreSQL connect that gives up in bounded time.
//!
//! The client's `connect_timeout` bounds only the TCP connect: against a server whose kernel
//! accepts connections but whose postmaster does not answer (stopped, swapping, black-holed
//! behind a proxy), `postgres::Config::connect` waits for ever — measured: more than 20 s with a
//! 5 s `connect_timeout` — and a pool filling up with such attempts keeps the store down after
//! the server is back. [`connect_bounded`] runs the connect on a thread of its own and stops
//! waiting after `limit`; the abandoned attempt ends (its connection dropped) when the server
//! answers or the socket dies.
//!
//! Owns no pool and no retry policy (the store's PostgreSQL backend does); must not log.

use std::sync::mpsc;
use std::time::Duration;

use postgres::Socket;
use postgres::tls::{MakeTlsConnect, TlsConnect};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PgConnectError {
    #[error("{0}")]
    Postgres(#[from] postgres::Error),
    #[error("the database server did not answer within {}s (it accepts connections but does not reply)", .0.as_secs_f32())]
    NoAnswer(Duration),
    #[error("cannot start a connect thread: {0}")]
    Thread(String),
}

/// `config.connect(tls)`, or [`PgConnectError::NoAnswer`] after `limit`.
pub fn connect_bounded<T>(
    config: &postgres::Config,
    tls: T,
    limit: Duration,
) -> Result<postgres::Client, PgConnectError>
where
    T: MakeTlsConnect<Socket> + 'static + Send,
    T::TlsConnect: Send,
    T::Stream: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    // Capacity 1: the thread never blocks on sending, even when nobody waits any more.
    let (tx, rx) = mpsc::sync_channel(1);
    let config = config.clone();
    std::thread::Builder::new()
        .name("pg-connect".into())
        .spawn(move || {
            // A late client goes nowhere: dropping it closes the connection.
            let _ = tx.send(config.connect(tls));
        })
        .map_err(|e| PgConnectError::Thread(e.to_string()))?;
    match rx.recv_timeout(limit) {
        Ok(result) => Ok(result?),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(PgConnectError::NoAnswer(limit)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(PgConnectError::Thread(
            "the connect thread ended without an answer".into(),
        )),
    }
}
