//! The `[mail]` configuration section: [`MailConfig`] (the raw keys and their defaults) and its
//! validation into [`MailSettings`] (typed, secrets read, paths resolved).
//!
//! Owns the names, defaults and consistency rules of the keys. Reads only the password file (or
//! systemd credential); must not connect anywhere nor load templates: [`super::Mailer::new`] and
//! [`super::Templates::load`] do. This file holds the section, the error and the keys shared by
//! every transport (sender, limits, templates, time zone, language); the choice of transport is
//! in `transport.rs`, the SMTP keys in `smtp.rs`, the retry keys in `retry.rs`.

mod retry;
mod smtp;
mod transport;
pub use retry::{DEFAULT_RETRY_MAX, RetryPolicy};
pub use smtp::{PASSWORD_CREDENTIAL, SmtpCredentials, SmtpSecurity, SmtpSettings};
pub use transport::TransportSettings;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;
use serde::Deserialize;

use crate::config::resolve;

/// The `[mail]` section. Every key is optional; missing keys take the defaults in brackets.
///
/// ```toml
/// [mail]
/// transport = "smtp"             # ["file"] or "smtp"
/// smtp_url = "smtp://mail.example.org:587"  # smtp://host:port (+STARTTLS) or smtps://host:port
/// starttls = true                # [true] for smtp://; plain SMTP needs allow_insecure = true
/// # allow_insecure = false       # [false] test relays only
/// # ca_file = "/etc/pwresetd/smtp-ca.pem"   # [system roots]
/// # username = "pwresetd"        # password: password_file or the credential "smtp-password"
/// # password_file = "/etc/pwresetd/smtp-password"
/// spool_dir = "mail-spool"       # ["mail-spool"] file transport: one .eml per message
/// from = "IT Security <it-security@example.org>"   # required for smtp
/// # reply_to = "helpdesk@example.org"
/// max_messages_per_second = 0    # [0] = unlimited
/// max_connections = 4            # [4] SMTP sessions in parallel
/// timeout = "30s"                # ["30s"] opening a session (TCP, TLS, EHLO, AUTH); sending one message
/// max_attempts = 5               # [5] per message, transient failures only
/// retry_initial = "2s"           # ["2s"] doubled after each failure ...
/// retry_max = "5m"               # ["5m"] ... up to this
/// server_failures = 3            # [3] server failures in a row (refused, reset, timeout, TLS,
///                                #     AUTH) after which the server is down: sending stops
/// # templates_dir = "/etc/pwresetd/templates"   # [built-in] overrides, file by file
/// timezone = "Europe/Paris"      # ["UTC"] IANA name, for deadlines in mails
/// default_language = "en"        # ["en"]
/// organisation = "Example Corp"  # [""] templates then say "your organisation"
/// helpdesk = "+33 1 23 45 67 89 or helpdesk@example.org"   # [""]
/// ```
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    pub transport: String,
    pub smtp_url: Option<String>,
    /// `None`: true for `smtp://`, meaningless for `smtps://`.
    pub starttls: Option<bool>,
    pub allow_insecure: bool,
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// Present only to refuse it with a helpful message.
    pub password: Option<serde::de::IgnoredAny>,
    pub spool_dir: PathBuf,
    pub from: Option<String>,
    pub reply_to: Option<String>,
    pub max_messages_per_second: u32,
    pub max_connections: u32,
    pub timeout: String,
    pub max_attempts: u32,
    pub retry_initial: String,
    pub retry_max: String,
    pub server_failures: u32,
    pub templates_dir: Option<PathBuf>,
    pub timezone: String,
    pub default_language: String,
    pub organisation: String,
    pub helpdesk: String,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: "file".into(),
            smtp_url: None,
            starttls: None,
            allow_insecure: false,
            ca_file: None,
            username: None,
            password_file: None,
            password: None,
            spool_dir: "mail-spool".into(),
            from: None,
            reply_to: None,
            max_messages_per_second: 0,
            max_connections: 4,
            timeout: "30s".into(),
            max_attempts: 5,
            retry_initial: "2s".into(),
            retry_max: DEFAULT_RETRY_MAX.into(),
            server_failures: 3,
            templates_dir: None,
            timezone: "UTC".into(),
            default_language: "en".into(),
            organisation: String::new(),
            helpdesk: String::new(),
        }
    }
}

/// The validated `[mail]` section.
#[derive(Clone, Debug)]
pub struct MailSettings {
    pub transport: TransportSettings,
    pub from: Mailbox,
    pub reply_to: Option<Mailbox>,
    /// 0 = unlimited.
    pub max_messages_per_second: u32,
    pub max_connections: usize,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Server failures in a row (not replies about one message) after which the mail server is
    /// down: sends stop retrying, a pass stops sending (at least 1).
    pub server_failures: u32,
    pub templates_dir: Option<PathBuf>,
    pub timezone: chrono_tz::Tz,
    pub default_language: String,
    /// May be empty: templates then use their own wording ("your organisation").
    pub organisation: String,
    /// May be empty: templates then say "your IT helpdesk".
    pub helpdesk: String,
}

/// A `[mail]` key with an unusable value: [`MailConfigError::key`] names it, the message says
/// what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct MailConfigError {
    key: String,
    message: String,
}

impl MailConfigError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        Self {
            key: format!("mail.{key}"),
            message: message.into(),
        }
    }

    /// The full key, e.g. `mail.smtp_url`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What is wrong, without the key.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl MailConfig {
    /// Checks the keys and builds [`MailSettings`]. Relative paths are resolved against
    /// `base_dir` (the configuration file's directory); the SMTP password comes from
    /// `password_file` or `credentials_dir/smtp-password` (systemd's `$CREDENTIALS_DIRECTORY`).
    pub fn validate(&self, base_dir: &Path, credentials_dir: Option<&Path>) -> Result<MailSettings, MailConfigError> {
        if self.password.is_some() {
            return Err(MailConfigError::new(
                "password",
                "plain-text passwords are refused in the configuration and the environment; put the \
                 SMTP password in a file readable only by pwresetd and set mail.password_file, or pass \
                 a systemd credential named smtp-password (LoadCredential=smtp-password:/path)",
            ));
        }
        let transport = self.transport_settings(base_dir, credentials_dir)?;
        let from = match (&self.from, &transport) {
            (Some(from), _) => mailbox("from", from)?,
            (None, TransportSettings::File { .. }) => mailbox("from", "pwresetd <pwresetd@localhost>")?,
            (None, TransportSettings::Smtp(_)) => {
                return Err(MailConfigError::new(
                    "from",
                    "required with transport = \"smtp\"; set the sender, e.g. from = \"IT Security <it-security@example.org>\"",
                ));
            }
        };
        let reply_to = self.reply_to.as_deref().map(|r| mailbox("reply_to", r)).transpose()?;
        Ok(MailSettings {
            transport,
            from,
            reply_to,
            max_messages_per_second: self.max_messages_per_second,
            max_connections: at_least_one("max_connections", self.max_connections)? as usize,
            timeout: duration("timeout", &self.timeout)?,
            retry: self.retry()?,
            server_failures: self.server_failures()?,
            templates_dir: self.templates_dir(base_dir)?,
            timezone: self.timezone()?,
            default_language: self.default_language()?,
            organisation: self.organisation.trim().to_owned(),
            helpdesk: self.helpdesk.trim().to_owned(),
        })
    }

    fn server_failures(&self) -> Result<u32, MailConfigError> {
        if self.server_failures == 0 {
            return Err(MailConfigError::new(
                "server_failures",
                "must be at least 1: it is how many failures of the mail server in a row (refused, \
                 reset, timed out) stop the sending; write 3 (the default) or remove the key",
            ));
        }
        Ok(self.server_failures)
    }

    fn templates_dir(&self, base_dir: &Path) -> Result<Option<PathBuf>, MailConfigError> {
        let Some(dir) = &self.templates_dir else {
            return Ok(None);
        };
        let dir = resolve(base_dir, dir);
        if !dir.is_dir() {
            return Err(MailConfigError::new(
                "templates_dir",
                format!(
                    "{} is not a directory; create it with the templates to override (e.g. fr/notice.txt) \
                     or remove the key to use the built-in templates",
                    dir.display()
                ),
            ));
        }
        Ok(Some(dir))
    }

    fn timezone(&self) -> Result<chrono_tz::Tz, MailConfigError> {
        self.timezone.trim().parse().map_err(|_| {
            MailConfigError::new(
                "timezone",
                format!(
                    "{:?} is not an IANA time zone name; write e.g. \"Europe/Paris\", \"America/Montreal\" or \"UTC\"",
                    self.timezone
                ),
            )
        })
    }

    fn default_language(&self) -> Result<String, MailConfigError> {
        let lang = self.default_language.trim().to_ascii_lowercase().replace('_', "-");
        let ok = !lang.is_empty()
            && lang
                .split('-')
                .all(|s| (1..=8).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric()));
        if !ok {
            return Err(MailConfigError::new(
                "default_language",
                format!(
                    "{:?} is not a language tag; write e.g. \"en\" or \"fr\"",
                    self.default_language
                ),
            ));
        }
        Ok(lang)
    }
}

fn mailbox(key: &str, value: &str) -> Result<Mailbox, MailConfigError> {
    value.trim().parse().map_err(|e| {
        MailConfigError::new(
            key,
            format!(
                "{value:?} is not a mail address ({e}); write \"it-security@example.org\" or \
                 \"IT Security <it-security@example.org>\""
            ),
        )
    })
}

fn duration(key: &str, value: &str) -> Result<Duration, MailConfigError> {
    humantime::parse_duration(value).map_err(|e| {
        MailConfigError::new(
            key,
            format!("{value:?} is not a duration ({e}); write e.g. \"500ms\", \"2s\", \"5m\""),
        )
    })
}

fn at_least_one(key: &str, value: u32) -> Result<u32, MailConfigError> {
    if value == 0 {
        Err(MailConfigError::new(key, "must be at least 1"))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests;
