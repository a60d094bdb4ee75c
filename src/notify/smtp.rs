//! SMTP sessions: opening them (TCP_NODELAY, implicit TLS or STARTTLS, AUTH), keeping up to
//! `mail.max_connections` of them idle for reuse, and classifying failures by the phase they
//! happened in.
//!
//! lettre speaks the protocol (greeting, EHLO, STARTTLS, AUTH, MAIL/RCPT/DATA, dot-stuffing,
//! TLS through rustls); this file replaces only lettre's connection pool, which (0.11) cannot
//! set TCP_NODELAY (lettre writes the final "." separately, so every message waited out a 40 ms
//! delayed ACK: 85 msgs/s over 4 sessions), checks each reused session with a NOOP round trip,
//! does not bound the sessions in use, and hands sessions back from a spawned task, so a busy
//! sender kept opening new ones. Callers bound the sessions in use ([`super::Mailer`] holds a
//! permit per send); this pool never holds more than that many idle ones.

use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

mod probe;

use super::config::{SmtpSecurity, SmtpSettings};

/// An idle session older than this is checked with a NOOP before reuse (servers close idle
/// sessions after minutes; RFC 5321 asks them to wait at least 5)...
const CHECK_AFTER: Duration = Duration::from_secs(10);
/// ... and one older than this is closed instead.
const CLOSE_AFTER: Duration = Duration::from_secs(60);

/// Why one attempt failed, by what it means for the message and the server.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// A reply about this message worth another attempt later: 4xx to MAIL, RCPT or DATA.
    Transient(String),
    /// The server did not answer (connection refused or reset, timeout, 4xx greeting): no
    /// message can go through now; worth another attempt later, unless the server is down.
    Server(String),
    /// This message is refused for good: 5xx to MAIL, RCPT or DATA.
    Permanent(String),
    /// No message can go through with these settings: TLS, STARTTLS missing, AUTH refused, 5xx
    /// greeting.
    Unusable(String),
}

pub(super) struct SmtpClient {
    host: String,
    port: u16,
    security: SmtpSecurity,
    tls: Option<TlsParameters>,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    max_idle: usize,
}

impl SmtpClient {
    pub(super) fn new(
        smtp: &SmtpSettings,
        tls: Option<TlsParameters>,
        timeout: Duration,
        max_idle: usize,
    ) -> SmtpClient {
        SmtpClient {
            host: smtp.host.clone(),
            port: smtp.port,
            security: smtp.security,
            tls,
            credentials: smtp
                .credentials
                .as_ref()
                .map(|c| Credentials::new(c.username.clone(), c.password.expose().to_owned())),
            hello: ClientId::default(),
            timeout,
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    /// `host:port` (`[v6]:port`), as failures and the operator name the server.
    pub(super) fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Sends one message on an idle session, or a new one. A reused session that turns out to
    /// be dead (network error) is replaced once at once, without counting as an attempt.
    pub(super) async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<Response, Failure> {
        if let Some(conn) = self.take_idle().await {
            match self.transaction(conn, envelope, message).await {
                Err((error, Some(e))) if is_network(&e) => {
                    tracing::debug!(error = ?error, "reused SMTP session failed; opening a new one");
                }
                other => return other.map_err(|(failure, _)| failure),
            }
        }
        let conn = self.connect().await?;
        self.transaction(conn, envelope, message)
            .await
            .map_err(|(failure, _)| failure)
    }

    /// Closes the idle sessions (QUIT).
    pub(super) async fn shutdown(&self) {
        let idle = std::mem::take(&mut *self.lock_idle());
        for (mut conn, _) in idle {
            let _ = timeout(self.timeout, conn.quit()).await;
        }
    }

    async fn transaction(
        &self,
        mut conn: AsyncSmtpConnection,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Response, (Failure, Option<SmtpError>)> {
        match timeout(self.timeout, conn.send(envelope, message)).await {
            Ok(Ok(response)) => {
                self.put_back(conn);
                Ok(response)
            }
            // lettre has already sent QUIT and marked the session broken: drop it.
            Ok(Err(e)) => Err((classify_transaction(&e, &self.server()), Some(e))),
            Err(_) => Err((
                Failure::Server(format!(
                    "{}: no reply within {}",
                    self.server(),
                    humantime::format_duration(self.timeout)
                )),
                None,
            )),
        }
    }

    /// TCP (TCP_NODELAY), TLS, greeting, EHLO, STARTTLS, AUTH, all within `timeout`.
    async fn connect(&self) -> Result<AsyncSmtpConnection, Failure> {
        let server = self.server();
        match timeout(self.timeout, self.open()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(classify_connect(&e, &server)),
            Err(_) => Err(Failure::Server(format!(
                "{server}: no session within {}",
                humantime::format_duration(self.timeout)
            ))),
        }
    }

    async fn open(&self) -> Result<AsyncSmtpConnection, OpenError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(OpenError::Tcp)?;
        // lettre writes a message and its final "." separately: without this, the "." waits
        // for the server's delayed ACK (40 ms on Linux) on every message.
        tcp.set_nodelay(true).map_err(OpenError::Tcp)?;
        let mut conn = match (&self.security, &self.tls) {
            (SmtpSecurity::ImplicitTls, Some(tls)) => {
                AsyncSmtpConnection::connect_with_transport(
                    Box::new(ImplicitTls::handshake(tcp, tls).await?),
                    &self.hello,
                )
                .await?
            }
            _ => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?,
        };
        if let (SmtpSecurity::StartTls, Some(tls)) = (&self.security, &self.tls) {
            // Refused (not downgraded) when the server does not offer STARTTLS.
            conn.starttls(tls.clone(), &self.hello).await?;
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map_err(OpenError::Auth)?;
        }
        Ok(conn)
    }

    async fn take_idle(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut conn, since) = self.lock_idle().pop()?;
            let idle_for = since.elapsed();
            if idle_for < CHECK_AFTER {
                return Some(conn);
            }
            if idle_for < CLOSE_AFTER && timeout(self.timeout, conn.test_connected()).await == Ok(true) {
                return Some(conn);
            }
            let _ = timeout(self.timeout, conn.abort()).await;
        }
    }

    fn put_back(&self, mut conn: AsyncSmtpConnection) {
        let mut idle = self.lock_idle();
        if idle.len() < self.max_idle && !conn.has_broken() {
            idle.push((conn, Instant::now()));
        } else {
            drop(idle);
            // Over the bound (cannot happen while callers hold one permit per send): close it
            // without waiting for the server.
            let limit = self.timeout;
            tokio::spawn(async move {
                let _ = timeout(limit, conn.abort()).await;
            });
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<(AsyncSmtpConnection, Instant)>> {
        // A poisoned lock only means a sender panicked while moving a session in or out.
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

enum OpenError {
    Tcp(io::Error),
    Smtp(SmtpError),
    Auth(SmtpError),
}

impl From<SmtpError> for OpenError {
    fn from(e: SmtpError) -> Self {
        OpenError::Smtp(e)
    }
}

/// Opening a session: every failure concerns the server, not a message.
fn classify_connect(e: &OpenError, server: &str) -> Failure {
    let e = match e {
        OpenError::Tcp(e) => return Failure::Server(format!("{server}: {e}")),
        OpenError::Auth(e) => {
            let why = e.status().map_or_else(|| e.to_string(), |code| reply(e, code));
            return if e.is_transient() {
                Failure::Server(format!("{server}: authentication: {why}"))
            } else {
                Failure::Unusable(format!("{server}: authentication refused: {why}"))
            };
        }
        OpenError::Smtp(e) => e,
    };
    if let Some(tls) = tls_cause(e) {
        return Failure::Unusable(format!("TLS with {server}: {tls}"));
    }
    match e.status() {
        Some(code) if e.is_permanent() => {
            Failure::Unusable(format!("{server} refused the session: {}", reply(e, code)))
        }
        Some(code) => Failure::Server(format!("{server}: {}", reply(e, code))),
        None if e.is_client() || e.is_tls() => Failure::Unusable(format!("{server}: {e}")),
        None => Failure::Server(format!("{server}: {e}")),
    }
}

/// Reply codes to MAIL/RCPT/DATA that concern the session, not the message: 530
/// (authentication or STARTTLS required), 534, 535, 538 (authentication).
const SESSION_CODES: [&str; 4] = ["530", "534", "535", "538"];

/// Sending one message on an open session: a reply concerns this message; a connection that
/// dies under it concerns the server.
fn classify_transaction(e: &SmtpError, server: &str) -> Failure {
    match e.status() {
        Some(code) if SESSION_CODES.contains(&code.to_string().as_str()) => {
            Failure::Unusable(format!("authentication required: {}", reply(e, code)))
        }
        Some(code) if e.is_permanent() => Failure::Permanent(reply(e, code)),
        Some(code) => Failure::Transient(reply(e, code)),
        // lettre's own refusals (no SMTPUTF8 or 8BITMIME for this message) are this message's.
        None if e.is_client() => Failure::Permanent(e.to_string()),
        None => Failure::Server(format!("{server}: {e}")),
    }
}

/// `550 5.1.1 mailbox unavailable`: the code and the server's text.
fn reply(e: &SmtpError, code: lettre::transport::smtp::response::Code) -> String {
    let text = std::error::Error::source(e)
        .map(ToString::to_string)
        .unwrap_or_default();
    format!("{code} {text}").trim_end().to_owned()
}

/// The session died under us: no SMTP reply code (a closed connection shows up as lettre's
/// "incomplete response"), not TLS, not lettre's own refusal.
fn is_network(e: &SmtpError) -> bool {
    e.status().is_none() && !e.is_client() && !e.is_tls() && tls_cause(e).is_none()
}

/// The rustls error under a lettre error (the handshake's io::Error wraps it).
fn tls_cause(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        let inner = err
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        if let Some(tls) = inner {
            return Some(tls.to_string());
        }
        current = err.source();
    }
    None
}

/// Implicit TLS over a socket we opened: lettre's own TLS stream (rustls, our TlsParameters),
/// handed back to lettre as the transport. lettre exposes that stream only through its
/// futures-io traits (and marks the type deprecated as "not meant to be public"), hence this
/// adapter to tokio's.
#[allow(deprecated)]
#[derive(Debug)]
struct ImplicitTls(lettre::transport::smtp::client::AsyncNetworkStream);

#[allow(deprecated)]
impl ImplicitTls {
    async fn handshake(tcp: TcpStream, tls: &TlsParameters) -> Result<ImplicitTls, OpenError> {
        let mut stream = lettre::transport::smtp::client::AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
        stream.upgrade_tls(tls.clone()).await?;
        Ok(ImplicitTls(stream))
    }
}

impl tokio::io::AsyncRead for ImplicitTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match futures_util::io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl tokio::io::AsyncWrite for ImplicitTls {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        futures_util::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_util::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_util::io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

impl AsyncTokioStream for ImplicitTls {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
    }
}
