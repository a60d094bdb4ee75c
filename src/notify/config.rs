//! The `[mail]` configuration section: [`MailConfig`] (the raw keys and their defaults) and its
//! validation into [`MailSettings`] (typed, secrets read, paths resolved).
//!
//! Owns the names, defaults and consistency rules of the keys. Reads only the password file (or
//! systemd credential); must not connect anywhere nor load templates: [`super::Mailer::new`] and
//! [`super::Templates::load`] do.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;
use serde::Deserialize;

use crate::config::resolve;
use crate::secret::Secret;

/// Name of the systemd credential holding the SMTP password (`LoadCredential=smtp-password:…`).
pub const PASSWORD_CREDENTIAL: &str = "smtp-password";

/// Longest pause between two attempts, whatever `retry_initial` and `max_attempts` say.
pub const DEFAULT_RETRY_MAX: &str = "5m";

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
    pub templates_dir: Option<PathBuf>,
    pub timezone: chrono_tz::Tz,
    pub default_language: String,
    /// May be empty: templates then use their own wording ("your organisation").
    pub organisation: String,
    /// May be empty: templates then say "your IT helpdesk".
    pub helpdesk: String,
}

/// Where messages go.
#[derive(Clone, Debug)]
pub enum TransportSettings {
    /// Each message is written to `spool_dir` as an `.eml` file (demos, tests, dry runs).
    File {
        spool_dir: PathBuf,
    },
    Smtp(SmtpSettings),
}

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

/// Retries of one message after transient failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Pause after the first failure; doubled after each further failure...
    pub initial: Duration,
    /// ... up to this.
    pub max: Duration,
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial.saturating_mul(factor).min(self.max)
    }
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
        let transport = match self.transport.as_str() {
            "file" if self.smtp_url.is_some() => {
                return Err(MailConfigError::new(
                    "transport",
                    "is \"file\" (the default) but mail.smtp_url is set; set mail.transport = \"smtp\" \
                     to send through that server, or remove mail.smtp_url to write .eml files",
                ));
            }
            "file" => TransportSettings::File {
                spool_dir: resolve(base_dir, &self.spool_dir),
            },
            "smtp" => TransportSettings::Smtp(self.smtp(base_dir, credentials_dir)?),
            other => {
                return Err(MailConfigError::new(
                    "transport",
                    format!(
                        "unknown transport {other:?}; use \"smtp\" (a mail server) or \"file\" (.eml files in mail.spool_dir)"
                    ),
                ));
            }
        };
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
            templates_dir: self.templates_dir(base_dir)?,
            timezone: self.timezone()?,
            default_language: self.default_language()?,
            organisation: self.organisation.trim().to_owned(),
            helpdesk: self.helpdesk.trim().to_owned(),
        })
    }

    fn smtp(&self, base_dir: &Path, credentials_dir: Option<&Path>) -> Result<SmtpSettings, MailConfigError> {
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

    fn retry(&self) -> Result<RetryPolicy, MailConfigError> {
        let policy = RetryPolicy {
            max_attempts: at_least_one("max_attempts", self.max_attempts)?,
            initial: duration("retry_initial", &self.retry_initial)?,
            max: duration("retry_max", &self.retry_max)?,
        };
        if policy.initial > policy.max {
            return Err(MailConfigError::new(
                "retry_initial",
                format!(
                    "{} is longer than mail.retry_max ({}); lower it or raise mail.retry_max",
                    self.retry_initial, self.retry_max
                ),
            ));
        }
        Ok(policy)
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
