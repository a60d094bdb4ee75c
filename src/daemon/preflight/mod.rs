//! `pwresetd check-config` as a preflight: everything a campaign and the service will need,
//! checked before either runs, as a list of [`Check`]s (one line each, with the fix in words).
//!
//! First the configuration and everything [`Services::build`] loads (store, templates, mailer,
//! policy and breached-password index, portal TLS, helpdesk tokens): the same function `serve`
//! runs, so `serve` never fails on something this passed. Only on a valid configuration, then
//! the servers: the directory (bind and TLS, the whole scope read in pages, the policies that
//! decide whether the mark takes effect, the service account's write rights where the flavour
//! can tell) and the mail server (a session opened and closed) or the spool folder.
//!
//! This module decides what is checked and what a result means; it prints nothing (the CLI
//! does) and changes nothing: no port bound, no spool folder created, no mail sent, no account
//! marked. A check that cannot be made for lack of read rights is a warning, not a failure.

mod build;
mod servers;

use std::path::Path;

use serde::Serialize;

use super::config::{self, ConfigError};
use super::services::{BuildError, Services};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Works, but something is worse than it should be, or could not be checked.
    Warn,
    Fail,
}

/// One check: what was looked at, how it came out, and what to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What was checked, e.g. `mail templates`, `scope`, `mail server`.
    pub check: &'static str,
    pub status: Status,
    pub message: String,
    /// What to do, in words; `None` for a check that passed.
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(check: &'static str, message: impl Into<String>) -> Self {
        Check {
            check,
            status: Status::Ok,
            message: message.into(),
            fix: None,
        }
    }

    pub fn warn(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            check,
            status: Status::Warn,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn fail(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            check,
            status: Status::Fail,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Why the checks stopped before the servers were contacted.
#[derive(Debug)]
pub enum Stopped {
    /// The configuration file cannot be read or is invalid.
    Config(ConfigError),
    /// Something `serve` loads at start-up failed (the same error `serve` stops with).
    Build(BuildError),
}

/// Every check made, in order: configuration first, then the servers.
#[derive(Debug)]
pub struct Report {
    pub checks: Vec<Check>,
    /// Set when the configuration stage failed; the servers were then not contacted.
    pub stopped: Option<Stopped>,
}

impl Report {
    /// Whether a server check failed (the configuration stage passed).
    pub fn servers_failed(&self) -> bool {
        self.stopped.is_none() && self.checks.iter().any(|c| c.status == Status::Fail)
    }
}

/// Runs the preflight on the configuration at `path`.
pub async fn run(path: &Path) -> Report {
    let mut checks = Vec::new();
    let config = match config::load(path) {
        Ok(config) => config,
        Err(e) => {
            checks.push(build::config_failure(path, &e));
            return Report {
                checks,
                stopped: Some(Stopped::Config(e)),
            };
        }
    };
    checks.push(Check::ok("configuration", format!("{}: valid", path.display())));
    let burnt = burnt_passwords(&config);
    let described = build::Loaded::of(&config);
    let services = match Services::build(config).await {
        Ok(services) => services,
        Err(e) => {
            checks.extend(described.until_failure(&e));
            return Report {
                checks,
                stopped: Some(Stopped::Build(e)),
            };
        }
    };
    checks.extend(described.all());
    checks.extend(burnt);
    checks.push(build::store_schema(&services).await);
    checks.extend(servers::directory(&services).await);
    checks.push(servers::mail(&services).await);
    Report { checks, stopped: None }
}

/// Where the configuration lets a password the campaign burnt through (what pwresetd exists
/// for: somebody holds the old passwords): one warning each; nothing when it lets none through.
fn burnt_passwords(config: &config::Config) -> Vec<Check> {
    const CHECK: &str = "burnt passwords";
    let mut checks = Vec::new();
    if config.portal.auth.change_open() {
        checks.push(Check::warn(
            CHECK,
            format!(
                "portal.auth = \"{}\" opens /change: it no longer lets a current password choose the new one \
                 while the account is in an open campaign (that password is the one the campaign burnt; a \
                 one-time link is mailed instead), and outside every campaign it changes nothing. What is \
                 left: to whoever holds an old password, /change answers whether it still opens the account \
                 and whether the account is in a campaign",
                config.portal.auth.as_str()
            ),
            "set portal.auth = \"link\" (the one-time link mailed to the person): /change adds nothing the \
             link does not",
        ));
    }
    if !config.policy.differs_from_current {
        checks.push(Check::warn(
            CHECK,
            "policy.differs_from_current = false: the current password, the one the campaign burnt, is \
             accepted as the new one",
            "set policy.differs_from_current = true",
        ));
    }
    checks
}
