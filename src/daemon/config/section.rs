//! The `[daemon]` section: how `pwresetd serve` runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, parse_duration, read_secret, resolve};
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Where `/metrics`, `/healthz`, `/readyz` (and the helpdesk API) listen.
    pub admin_listen: SocketAddr,
    /// How often marked accounts are checked against the directory.
    pub reconcile_interval: Duration,
    /// How often due notices and reminders are sent.
    pub notify_interval: Duration,
    /// The pause before the next mail pass after the mail server was found down; doubled after
    /// each pass that finds it still down...
    pub mail_backoff: Duration,
    /// ... up to this.
    pub mail_backoff_max: Duration,
    /// How long in-flight requests and mails may take to finish at shutdown.
    pub shutdown_grace: Duration,
    /// The log filter (`info`, `pwresetd=debug,warn`…); reloaded on SIGHUP.
    pub log_level: String,
    /// When set, `/metrics` answers only `Authorization: Bearer <this>` (read from
    /// `daemon.metrics_token_file`).
    pub metrics_token: Option<Secret>,
    /// Connections served at once on `admin_listen` (see [`crate::web::listener`]).
    pub admin_max_connections: usize,
    /// The bound on a take-over after a campaign's holder dies: the lease row expires half of
    /// it after a renewal (every sixth of it), then another instance takes over
    /// (engine/lease.rs).
    pub lease_ttl: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawDaemon {
    admin_listen: String,
    reconcile_interval: String,
    notify_interval: String,
    mail_backoff: String,
    mail_backoff_max: String,
    shutdown_grace: String,
    log_level: String,
    metrics_token_file: Option<PathBuf>,
    admin_max_connections: usize,
    lease_ttl: String,
}

impl Default for RawDaemon {
    fn default() -> Self {
        RawDaemon {
            admin_listen: "127.0.0.1:9187".into(),
            reconcile_interval: "5m".into(),
            notify_interval: "1m".into(),
            mail_backoff: "30s".into(),
            mail_backoff_max: "10m".into(),
            shutdown_grace: "10s".into(),
            log_level: "info".into(),
            metrics_token_file: None,
            admin_max_connections: 64,
            lease_ttl: "30s".into(),
        }
    }
}

impl RawDaemon {
    /// `base`: the configuration file's folder (a relative `metrics_token_file` is under it).
    pub(super) fn validate(self, base: &Path) -> Result<DaemonConfig, ConfigError> {
        let admin_listen = self.admin_listen.parse().map_err(|e| {
            ConfigError::invalid(
                "daemon.admin_listen",
                format!(
                    "{:?} is not an address:port ({e}); e.g. \"127.0.0.1:9187\"",
                    self.admin_listen
                ),
            )
        })?;
        let positive = |key: &str, value: &str| -> Result<Duration, ConfigError> {
            let d = parse_duration(key, value)?;
            if d.is_zero() {
                Err(ConfigError::invalid(key, "must be more than 0s"))
            } else {
                Ok(d)
            }
        };
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return Err(ConfigError::invalid(
                "daemon.log_level",
                format!(
                    "{:?} is not a log filter; e.g. \"info\" or \"pwresetd=debug,warn\"",
                    self.log_level
                ),
            ));
        }
        let mail_backoff = positive("daemon.mail_backoff", &self.mail_backoff)?;
        let mail_backoff_max = positive("daemon.mail_backoff_max", &self.mail_backoff_max)?;
        if mail_backoff > mail_backoff_max {
            return Err(ConfigError::invalid(
                "daemon.mail_backoff",
                format!(
                    "{} is longer than daemon.mail_backoff_max ({}); lower it or raise daemon.mail_backoff_max",
                    self.mail_backoff, self.mail_backoff_max
                ),
            ));
        }
        if !(1..=100_000).contains(&self.admin_max_connections) {
            return Err(ConfigError::invalid(
                "daemon.admin_max_connections",
                format!(
                    "{} is not between 1 and 100000; the default is 64",
                    self.admin_max_connections
                ),
            ));
        }
        Ok(DaemonConfig {
            lease_ttl: lease_ttl(&self.lease_ttl)?,
            admin_max_connections: self.admin_max_connections,
            admin_listen,
            reconcile_interval: positive("daemon.reconcile_interval", &self.reconcile_interval)?,
            notify_interval: positive("daemon.notify_interval", &self.notify_interval)?,
            mail_backoff,
            mail_backoff_max,
            shutdown_grace: parse_duration("daemon.shutdown_grace", &self.shutdown_grace)?,
            log_level: self.log_level,
            metrics_token: metrics_token(base, self.metrics_token_file.as_deref())?,
        })
    }
}

/// `daemon.lease_ttl`, between 5 s (renewals every sixth of it must not crowd the store) and
/// 10 min (a dead holder's campaign waits that long for another instance).
fn lease_ttl(value: &str) -> Result<Duration, ConfigError> {
    const KEY: &str = "daemon.lease_ttl";
    let ttl = parse_duration(KEY, value)?;
    if !(Duration::from_secs(5)..=Duration::from_secs(600)).contains(&ttl) {
        return Err(ConfigError::invalid(
            KEY,
            format!("{value:?} is not between \"5s\" and \"10m\"; the default is \"30s\""),
        ));
    }
    Ok(ttl)
}

/// The bearer token `/metrics` asks for, read from its file; a short one is refused (a scraper's
/// token guessed in a few tries protects nothing).
fn metrics_token(base: &Path, file: Option<&Path>) -> Result<Option<Secret>, ConfigError> {
    const KEY: &str = "daemon.metrics_token_file";
    let Some(file) = file else { return Ok(None) };
    let token = read_secret(KEY, &resolve(base, file))?;
    if token.expose().trim().len() < 16 || token.expose().chars().any(char::is_whitespace) {
        return Err(ConfigError::invalid(
            KEY,
            "the token must be one line of at least 16 characters without spaces; e.g. `openssl rand -hex 32 > FILE`",
        ));
    }
    Ok(Some(token))
}
