//! Probing the mail server for `check-config`: one session opened as a send opens it, then
//! closed with QUIT; nothing is sent. A failure says what the operator fixes.

use tokio::time::timeout;

use super::{OpenError, SmtpClient, reply, tls_cause};
use crate::notify::config::SmtpSecurity;
use crate::notify::transport::ProbeError;

impl SmtpClient {
    /// Opens one session as a send would (TCP, TLS, greeting, EHLO, STARTTLS, AUTH) within
    /// `timeout`, then QUIT; sends nothing. Says which steps passed.
    pub(in crate::notify) async fn probe(&self) -> Result<String, ProbeError> {
        let server = format!("{}:{}", self.host, self.port);
        let mut conn = match timeout(self.timeout, self.open()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(probe_failure(e, &server)),
            Err(_) => {
                return Err(ProbeError::Unreachable(format!(
                    "{server}: no session within {} (mail.timeout)",
                    humantime::format_duration(self.timeout)
                )));
            }
        };
        let _ = timeout(self.timeout, conn.quit()).await;
        let mut steps = vec!["connected", "EHLO"];
        match self.security {
            SmtpSecurity::ImplicitTls => steps.insert(1, "TLS"),
            SmtpSecurity::StartTls => steps.push("STARTTLS"),
            SmtpSecurity::Plain => {}
        }
        if self.credentials.is_some() {
            steps.push("AUTH");
        }
        Ok(steps.join(", "))
    }
}

/// Opening a session for a probe: what the operator fixes.
fn probe_failure(e: OpenError, server: &str) -> ProbeError {
    match e {
        OpenError::Tcp(e) => ProbeError::Unreachable(format!("{server}: {e}")),
        OpenError::Auth(e) => {
            let why = e.status().map_or_else(|| e.to_string(), |code| reply(&e, code));
            ProbeError::Auth(format!("{server}: authentication refused: {why}"))
        }
        OpenError::Smtp(e) => match tls_cause(&e) {
            Some(tls) => ProbeError::Tls(format!("TLS with {server}: {tls}")),
            // lettre's own refusal here: the server does not offer STARTTLS.
            None if e.is_tls() || e.is_client() => ProbeError::Tls(format!("{server}: {e}")),
            None => match e.status() {
                Some(code) => ProbeError::Refused(format!("{server} refused the session: {}", reply(&e, code))),
                None => ProbeError::Unreachable(format!("{server}: {e}")),
            },
        },
    }
}
