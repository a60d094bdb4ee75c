//! The `[daemon]` section: how `pwresetd serve` runs.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, parse_duration};

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
        }
    }
}

impl RawDaemon {
    pub(super) fn validate(self) -> Result<DaemonConfig, ConfigError> {
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
        Ok(DaemonConfig {
            admin_listen,
            reconcile_interval: positive("daemon.reconcile_interval", &self.reconcile_interval)?,
            notify_interval: positive("daemon.notify_interval", &self.notify_interval)?,
            mail_backoff,
            mail_backoff_max,
            shutdown_grace: parse_duration("daemon.shutdown_grace", &self.shutdown_grace)?,
            log_level: self.log_level,
        })
    }
}
