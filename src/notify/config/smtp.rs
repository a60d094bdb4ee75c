//! The SMTP part of the `[mail]` section: `smtp_url` (smtp:// with STARTTLS, smtps://, or plain
//! only with `allow_insecure`), `ca_file`, and the credentials (`username` with
//! `password_file` or the systemd credential `smtp-password`), validated into [`SmtpSettings`].
//!
//! Reads only the password file; must not connect nor build TLS parameters:
//! [`crate::notify::Mailer::new`] does.

use std::path::{Path, PathBuf};

use super::{MailConfig, MailConfigError};
use crate::config::resolve;
use crate::secret::Secret;

/// Name of the systemd credential holding the SMTP password (`LoadCredential=smtp-password:…`).
pub const PASSWORD_CREDENTIAL: &str = "smtp-password";

#[derive(Clone, Debug)]
pub struct SmtpSettings {
    /// The URL as configured, for messages.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    /// `None`: the system's roots.
    pub ca_file: Option<PathBuf>,
    pub credentials: Option<SmtpCredentials>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
    /// `smtp://` upgraded with STARTTLS before anything else; refused if the server lacks it.
    StartTls,
    /// `smtp://` in clear: only with `allow_insecure = true`.
    Plain,
}

#[derive(Clone, Debug)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: Secret,
}

impl MailConfig {
    /// The `smtp_url`, `starttls`, `allow_insecure`, `ca_file` and credential keys.
    pub(super) fn smtp(
        &self,
        base_dir: &Path,
        credentials_dir: Option<&Path>,
    ) -> Result<SmtpSettings, MailConfigError> {
        let Some(url) = &self.smtp_url else {
            return Err(MailConfigError::new(
                "smtp_url",
                "required with transport = \"smtp\"; e.g. \"smtp://mail.example.org:587\" (STARTTLS) or \
                 \"smtps://mail.example.org:465\" (implicit TLS)",
            ));
        };
        let (host, port, scheme) = parse_smtp_url(url)?;
        let security = match (scheme, self.starttls.unwrap_or(true), self.allow_insecure) {
            (Scheme::Smtps, _, _) => SmtpSecurity::ImplicitTls,
            (Scheme::Smtp, true, _) => SmtpSecurity::StartTls,
            (Scheme::Smtp, false, true) => SmtpSecurity::Plain,
            (Scheme::Smtp, false, false) => {
                return Err(MailConfigError::new(
                    "smtp_url",
                    format!(
                        "{url} without STARTTLS would send one-time reset links (and the SMTP password) in \
                         clear; use smtps://, set mail.starttls = true, or (test relays only) \
                         mail.allow_insecure = true"
                    ),
                ));
            }
        };
        if scheme == Scheme::Smtps && self.starttls == Some(true) {
            return Err(MailConfigError::new(
                "starttls",
                "smtps:// is TLS from the first byte; remove mail.starttls or use smtp:// for STARTTLS",
            ));
        }
        let ca_file = self.ca_file.as_deref().map(|p| resolve(base_dir, p));
        if let Some(ca) = &ca_file {
            if security == SmtpSecurity::Plain {
                return Err(MailConfigError::new(
                    "ca_file",
                    "set, but the connection is plain SMTP; enable STARTTLS or use smtps://",
                ));
            }
            if !ca.is_file() {
                return Err(MailConfigError::new(
                    "ca_file",
                    format!("{} does not exist or is not a file", ca.display()),
                ));
            }
        }
        Ok(SmtpSettings {
            url: url.clone(),
            host,
            port,
            security,
            ca_file,
            credentials: self.credentials(base_dir, credentials_dir)?,
        })
    }

    fn credentials(
        &self,
        base_dir: &Path,
        credentials_dir: Option<&Path>,
    ) -> Result<Option<SmtpCredentials>, MailConfigError> {
        let username = self.username.as_deref().map(str::trim).filter(|u| !u.is_empty());
        let credential = credentials_dir
            .map(|d| d.join(PASSWORD_CREDENTIAL))
            .filter(|p| p.is_file());
        let path = match (username, &self.password_file, credential) {
            (None, None, _) => return Ok(None),
            (None, Some(_), _) => {
                return Err(MailConfigError::new(
                    "username",
                    "mail.password_file is set but mail.username is not; set the SMTP login name",
                ));
            }
            (Some(_), Some(file), _) => resolve(base_dir, file),
            (Some(_), None, Some(credential)) => credential,
            (Some(_), None, None) => {
                return Err(MailConfigError::new(
                    "password_file",
                    "mail.username is set but there is no password: set mail.password_file to a file \
                     holding it, or pass a systemd credential named smtp-password",
                ));
            }
        };
        let password = Secret::from_file(&path)
            .map_err(|e| MailConfigError::new("password_file", format!("cannot read {}: {e}", path.display())))?;
        if password.expose().is_empty() {
            return Err(MailConfigError::new(
                "password_file",
                format!("{} is empty", path.display()),
            ));
        }
        Ok(username.map(|u| SmtpCredentials {
            username: u.to_owned(),
            password,
        }))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Smtp,
    Smtps,
}

fn parse_smtp_url(url: &str) -> Result<(String, u16, Scheme), MailConfigError> {
    let bad = |why: String| MailConfigError::new("smtp_url", why);
    let parsed = url::Url::parse(url).map_err(|e| bad(format!("{url:?} is not a URL: {e}")))?;
    let scheme = match parsed.scheme() {
        "smtp" => Scheme::Smtp,
        "smtps" => Scheme::Smtps,
        other => {
            return Err(bad(format!(
                "scheme {other:?} is not supported; use smtp://host:port (STARTTLS) or smtps://host:port"
            )));
        }
    };
    let host = match parsed.host() {
        Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        _ => return Err(bad(format!("{url:?} has no host"))),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(
            "credentials do not belong in the URL; set mail.username and mail.password_file".into(),
        ));
    }
    if !matches!(parsed.path(), "" | "/") || parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad(format!(
            "{url:?}: only smtp[s]://host:port is understood (no path or query)"
        )));
    }
    let port = parsed.port().unwrap_or(match scheme {
        Scheme::Smtp => 587,
        Scheme::Smtps => 465,
    });
    Ok((host, port, scheme))
}
