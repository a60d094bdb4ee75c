//! [`Mailer`]: sends built messages over SMTP (sessions in [`super::smtp`]) or writes them to a
//! spool directory, with pacing, at most `mail.max_connections` sessions in use, and retries.
//!
//! Retries: transient failures (connection refused, timeouts, dropped connections, 4xx replies)
//! are retried with exponential backoff up to `mail.max_attempts`; a 5xx reply to this message
//! is [`SendError::Permanent`] at once; a server that cannot be used with our settings (TLS
//! certificate not trusted, STARTTLS missing, authentication refused) is
//! [`SendError::Unusable`] at once. Failures of the server rather than the message (see
//! [`super::health`]) are counted across all sends: once `mail.server_failures` came in a row
//! the server is down, and every send then fails at its next server failure (or at once, when it
//! was waiting to retry) with [`SendError::ServerDown`] instead of retrying: an outage costs
//! seconds, not `max_attempts` back-offs per message. Never logs message bodies: they hold
//! one-time links.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::message::Message;
use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::config::{MailSettings, RetryPolicy, SmtpSecurity, SmtpSettings, TransportSettings};
use super::health::ServerHealth;
use super::message::message_id_of;
use super::smtp::{Failure, SmtpClient};
use super::spool::{self, SpoolState};

/// Sends mail. One per process, shared (`Arc`) by every sender: the SMTP connection pool, the
/// pacing and the concurrency bound are per `Mailer`.
pub struct Mailer {
    inner: Inner,
    retry: RetryPolicy,
    /// One permit per SMTP session in use (`mail.max_connections`).
    sessions: Semaphore,
    pacer: Option<Pacer>,
    health: Arc<ServerHealth>,
}

enum Inner {
    Smtp { client: SmtpClient, url: String },
    File { spool_dir: PathBuf },
}

/// A message the server accepted (or the spool holds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: String,
    /// 1 when the first attempt succeeded.
    pub attempts: u32,
    pub destination: Destination,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// `reply` is the server's final reply, e.g. `250 2.0.0 Ok: queued as 4XyZ`.
    Smtp {
        url: String,
        reply: String,
    },
    File {
        path: PathBuf,
    },
}

/// Why a message was not sent. The strings are the server's reply (code and text) or the
/// network/TLS error, fit for the store and the helpdesk; they never contain the body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Temporary failures until `max_attempts` ran out: try again later (next run).
    #[error("not delivered after {attempts} attempts: {last}")]
    Transient { attempts: u32, last: String },
    /// The server refused this message for good (5xx to MAIL, RCPT or DATA): do not retry it.
    #[error("refused by the mail server: {reply}")]
    Permanent { reply: String },
    /// The server cannot be used with these settings (certificate not trusted, no STARTTLS,
    /// authentication refused): no message will go through; stop and tell the operator.
    #[error("the mail server cannot be used: {reason}")]
    Unusable { reason: String },
    /// The server failed `failures` times in a row (refused, reset, timed out): it is down, and
    /// nothing is sent until it answers again.
    #[error("the mail server {server} does not answer ({failures} failures in a row; last: {last})")]
    ServerDown {
        server: String,
        failures: u32,
        last: String,
    },
}

/// The mailer cannot be built from these settings.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("mail.ca_file {}: {message}", .path.display())]
    CaFile { path: PathBuf, message: String },
    #[error("mail.smtp_url: TLS settings: {0}")]
    Tls(String),
    #[error("mail.spool_dir {}: {message}", .path.display())]
    SpoolDir { path: PathBuf, message: String },
}

/// Why [`Mailer::probe`] found that no message could go out, by what the operator fixes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// No session: connection refused, no route, time-out.
    #[error("{0}")]
    Unreachable(String),
    /// TLS failed (certificate not trusted, name mismatch) or STARTTLS is not offered.
    #[error("{0}")]
    Tls(String),
    /// The server refused the credentials.
    #[error("{0}")]
    Auth(String),
    /// The server refused the session (greeting or EHLO).
    #[error("{0}")]
    Refused(String),
    /// The spool folder cannot take files.
    #[error("{0}")]
    Spool(String),
}

impl Mailer {
    /// Builds the mailer; opens no connection (the first send does). The file transport's spool
    /// folder must take files or be creatable; the first message creates it.
    pub fn new(settings: &MailSettings) -> Result<Mailer, MailerError> {
        let inner = match &settings.transport {
            TransportSettings::Smtp(smtp) => {
                let tls = match smtp.security {
                    SmtpSecurity::Plain => None,
                    SmtpSecurity::StartTls | SmtpSecurity::ImplicitTls => Some(tls_parameters(smtp)?),
                };
                Inner::Smtp {
                    client: SmtpClient::new(smtp, tls, settings.timeout, settings.max_connections),
                    url: smtp.url.clone(),
                }
            }
            TransportSettings::File { spool_dir } => {
                // Checked, not created: the first message creates it (check-config changes nothing).
                spool::check(spool_dir).map_err(|message| MailerError::SpoolDir {
                    path: spool_dir.clone(),
                    message,
                })?;
                Inner::File {
                    spool_dir: spool_dir.clone(),
                }
            }
        };
        let server = match &inner {
            Inner::Smtp { client, .. } => client.server(),
            Inner::File { spool_dir } => spool_dir.display().to_string(),
        };
        let pacer = (settings.max_messages_per_second > 0).then(|| Pacer {
            interval: Duration::from_secs(1) / settings.max_messages_per_second,
            next: Mutex::new(Instant::now()),
        });
        Ok(Mailer {
            inner,
            retry: settings.retry,
            sessions: Semaphore::new(settings.max_connections),
            pacer,
            health: Arc::new(ServerHealth::new(server, settings.server_failures)),
        })
    }

    /// Whether the server answers, as the sends so far found out.
    pub fn health(&self) -> &Arc<ServerHealth> {
        &self.health
    }

    /// Where messages go, for humans: `smtps://mail.example.org:465` or `file /var/spool/…`.
    pub fn describe(&self) -> String {
        match &self.inner {
            Inner::Smtp { url, .. } => url.clone(),
            Inner::File { spool_dir } => format!("file {}", spool_dir.display()),
        }
    }

    /// Sends one message, retrying transient failures (see the module documentation).
    pub async fn send(&self, message: &Message) -> Result<Delivery, SendError> {
        let message_id = message_id_of(message).unwrap_or_else(|| "(no Message-ID)".into());
        let to = recipients(message);
        let mut last = String::new();
        for attempt in 1..=self.retry.max_attempts {
            if attempt > 1 && !self.pause(attempt - 1).await {
                return Err(self.server_down(&to, &message_id));
            }
            match self.attempt(message, &message_id).await {
                Ok(destination) => {
                    self.health.delivered();
                    tracing::info!(%to, %message_id, attempts = attempt, "mail delivered");
                    return Ok(Delivery {
                        message_id,
                        attempts: attempt,
                        destination,
                    });
                }
                Err(Failure::Transient(why)) => {
                    self.health.answered();
                    tracing::debug!(%to, %message_id, attempt, error = %why, "mail attempt failed");
                    last = why;
                }
                Err(Failure::Server(why)) => {
                    if self.health.failed(&why) {
                        return Err(self.server_down(&to, &message_id));
                    }
                    tracing::debug!(%to, %message_id, attempt, error = %why, "mail attempt failed");
                    last = why;
                }
                Err(Failure::Permanent(reply)) => {
                    self.health.answered();
                    tracing::info!(%to, %message_id, %reply, "mail refused");
                    return Err(SendError::Permanent { reply });
                }
                Err(Failure::Unusable(reason)) => {
                    self.health.unusable(&reason);
                    tracing::info!(%to, %message_id, %reason, "mail server unusable");
                    return Err(SendError::Unusable { reason });
                }
            }
        }
        tracing::info!(%to, %message_id, attempts = self.retry.max_attempts, error = %last, "mail not delivered");
        Err(SendError::Transient {
            attempts: self.retry.max_attempts,
            last,
        })
    }

    /// Waits out the back-off after failed attempt number `failed`; `false` when the server is
    /// (or goes) down meanwhile: another attempt would only wait for the same failure.
    async fn pause(&self, failed: u32) -> bool {
        tokio::select! {
            biased;
            () = self.health.until_down() => false,
            () = tokio::time::sleep(self.retry.delay_after(failed)) => true,
        }
    }

    /// The error for a send given up because the server is down; the health logged the outage
    /// once, so this message is not logged above debug.
    fn server_down(&self, to: &str, message_id: &str) -> SendError {
        let s = self.health.snapshot();
        tracing::debug!(%to, %message_id, server = %s.server, "mail not sent: the mail server is down");
        SendError::ServerDown {
            server: s.server,
            failures: s.failures_in_a_row,
            last: s.last_failure.unwrap_or_default(),
        }
    }

    /// Checks that messages could go out, sending none: SMTP opens one session (TCP, TLS, EHLO,
    /// STARTTLS, AUTH as configured) and closes it with QUIT; the file transport checks its spool
    /// folder. Says what was checked.
    pub async fn probe(&self) -> Result<String, ProbeError> {
        match &self.inner {
            Inner::Smtp { client, url } => {
                let steps = client.probe().await?;
                Ok(format!("{url}: {steps}, QUIT; nothing sent"))
            }
            Inner::File { spool_dir } => match spool::check(spool_dir) {
                Ok(SpoolState::Writable) => Ok(format!("spool folder {}: writable", spool_dir.display())),
                Ok(SpoolState::Creatable { parent }) => Ok(format!(
                    "spool folder {}: not there yet, created at the first mail ({} is writable)",
                    spool_dir.display(),
                    parent.display()
                )),
                Err(message) => Err(ProbeError::Spool(format!(
                    "mail.spool_dir {}: {message}",
                    spool_dir.display()
                ))),
            },
        }
    }

    /// Closes pooled SMTP connections (QUIT). Sends after this fail.
    pub async fn shutdown(&self) {
        if let Inner::Smtp { client, .. } = &self.inner {
            client.shutdown().await;
        }
    }

    async fn attempt(&self, message: &Message, message_id: &str) -> Result<Destination, Failure> {
        if let Some(pacer) = &self.pacer {
            pacer.wait().await;
        }
        // One permit per session in use; the semaphore is never closed, so this cannot fail.
        let _session = self
            .sessions
            .acquire()
            .await
            .map_err(|e| Failure::Transient(e.to_string()))?;
        match &self.inner {
            Inner::Smtp { client, url } => {
                let response = client.send(message.envelope(), &message.formatted()).await?;
                let text = response.message().collect::<Vec<_>>().join(" ");
                Ok(Destination::Smtp {
                    url: url.clone(),
                    reply: format!("{} {text}", response.code()),
                })
            }
            Inner::File { spool_dir } => spool::write(spool_dir, message_id, message.formatted())
                .await
                .map(|path| Destination::File { path })
                // A full or read-only disk fails every message alike: a failure of the "server".
                .map_err(|e| Failure::Server(format!("writing to {}: {e}", spool_dir.display()))),
        }
    }
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("destination", &self.describe())
            .finish_non_exhaustive()
    }
}

/// Spaces sends `interval` apart, across all tasks sharing the mailer.
struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pacer {
    async fn wait(&self) {
        let slot = {
            // A poisoned lock only means another sender panicked while holding an Instant.
            let mut next = self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

/// rustls (ring) parameters: the CA file alone when given, else the system's roots.
fn tls_parameters(smtp: &SmtpSettings) -> Result<TlsParameters, MailerError> {
    let mut builder = TlsParameters::builder(smtp.host.clone());
    if let Some(path) = &smtp.ca_file {
        let fail = |message: String| MailerError::CaFile {
            path: path.clone(),
            message,
        };
        let pem = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let count = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| fail(e.to_string()))?
            .len();
        if count == 0 {
            return Err(fail("holds no PEM certificate".into()));
        }
        let certificate = Certificate::from_pem(&pem).map_err(|e| fail(e.to_string()))?;
        builder = builder
            .certificate_store(CertificateStore::None)
            .add_root_certificate(certificate);
    }
    builder.build_rustls().map_err(|e| MailerError::Tls(e.to_string()))
}

fn recipients(message: &Message) -> String {
    message
        .envelope()
        .to()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            initial: Duration::from_secs(2),
            max: Duration::from_secs(300),
        };
        let delays: Vec<u64> = (1..=10).map(|a| policy.delay_after(a).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(policy.delay_after(u32::MAX), Duration::from_secs(300));
    }

    /// Real time (tokio's test-util is not enabled): sleeps are never early, so lower bounds hold.
    #[tokio::test]
    async fn pacer_spaces_sends_across_tasks() {
        let pacer = std::sync::Arc::new(Pacer {
            interval: Duration::from_millis(20),
            next: Mutex::new(Instant::now()),
        });
        let start = Instant::now();
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move {
                    pacer.wait().await;
                    Instant::now()
                })
            })
            .collect();
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap().duration_since(start));
        }
        times.sort_unstable();
        for (i, t) in times.iter().enumerate() {
            assert!(*t >= Duration::from_millis(20) * i as u32, "send {i} at {t:?}");
        }
    }
}
