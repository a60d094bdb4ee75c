//! The whole configuration: defaults → TOML file → `PWRESETD_SECTION__KEY` environment variables.
//!
//! The composition root's half of configuration: [`load`] reads the layers, rejects unknown keys
//! and plain-text secrets, and hands each section to the module that owns it for validation
//! (`directory::config`, `policy`, `campaign::config`, `portal::config`, `notify::config`,
//! `helpdesk::config`, `store::config`, and `[daemon]` here). Only this file knows every
//! section. Every error names the key and how to fix it; the CLI exits 64 on any of them.
//! Config is passed explicitly, never global.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::campaign::config::{CampaignConfig, RawCampaign};
pub use crate::config::ConfigError;
use crate::config::{Origin, resolve};
use crate::directory::config::{DirectoryConfig, RawDirectory};
use crate::helpdesk::config::{HelpdeskConfig, RawHelpdesk};
use crate::notify::{MailConfig, MailSettings};
use crate::policy::PolicyConfig;
use crate::portal::config::{PortalConfig, RawPortal};
use crate::store::config::{RawStore, StoreConfig};

mod section;
pub use section::DaemonConfig;

/// The default location of the configuration file.
pub const DEFAULT_PATH: &str = "/etc/pwresetd/pwresetd.toml";

#[derive(Debug, Clone)]
pub struct Config {
    pub directory: DirectoryConfig,
    pub store: StoreConfig,
    pub policy: PolicyConfig,
    pub campaign: CampaignConfig,
    pub portal: PortalConfig,
    pub daemon: DaemonConfig,
    pub mail: MailSettings,
    pub helpdesk: HelpdeskConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    directory: RawDirectory,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    policy: PolicyConfig,
    #[serde(default)]
    campaign: RawCampaign,
    #[serde(default)]
    portal: RawPortal,
    #[serde(default)]
    daemon: section::RawDaemon,
    #[serde(default)]
    mail: MailConfig,
    #[serde(default)]
    helpdesk: RawHelpdesk,
}

/// Loads and validates the configuration at `path`, with environment overrides from `env`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with_env(path, std::env::vars())
}

/// [`load`] with an explicit environment (tests pass their own).
pub fn load_with_env(path: &Path, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let env: Vec<(String, String)> = env.into_iter().collect();
    let overrides: ::config::Map<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with("PWRESETD_") && k.contains("__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let merged = ::config::Config::builder()
        .add_source(::config::File::from_str(&text, ::config::FileFormat::Toml))
        .add_source(
            ::config::Environment::with_prefix("PWRESETD")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(overrides)),
        )
        .build()
        .map_err(|e| ConfigError::Read {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let raw: RawConfig = serde_path_to_error::deserialize(merged).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // A missing key is reported on its parent: name the key itself.
        let missing = message
            .strip_prefix("missing configuration field ")
            .map(|f| f.trim_matches('"'));
        let key = match (path.as_str(), missing) {
            (".", Some(field)) => field.to_owned(),
            (_, Some(field)) => format!("{path}.{field}"),
            (".", None) => "(top level)".to_owned(),
            (_, None) => path,
        };
        ConfigError::Invalid { key, message }
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let credentials = env
        .iter()
        .find(|(k, _)| k == "CREDENTIALS_DIRECTORY")
        .map(|(_, v)| PathBuf::from(v));
    let state_dir = env
        .iter()
        .find(|(k, _)| k == "STATE_DIRECTORY")
        .map(|(_, v)| PathBuf::from(v));
    validate(raw, base, credentials.as_deref(), state_dir.as_deref())
}

fn validate(
    raw: RawConfig,
    base: &Path,
    credentials: Option<&Path>,
    state_dir: Option<&Path>,
) -> Result<Config, ConfigError> {
    let origin = Origin { base, credentials };
    let store = raw.store.validate(origin, state_dir)?;
    let directory = raw.directory.validate(origin, &store.local_dir(state_dir))?;
    let helpdesk = raw.helpdesk.validate(&directory.base_dn, base)?;
    let mut policy = raw.policy;
    policy.validate().map_err(|e| policy_error(e.to_string()))?;
    policy.denylist_file = policy.denylist_file.map(|p| resolve(base, &p));
    policy.breached_index = policy.breached_index.map(|p| resolve(base, &p));
    let daemon = raw.daemon.validate(base)?;
    Ok(Config {
        directory,
        // A holder stalled inside a PostgreSQL transaction must not outlast its lease.
        store: store.for_lease_ttl(daemon.lease_ttl),
        policy,
        campaign: raw.campaign.validate()?,
        portal: raw.portal.validate()?,
        daemon,
        mail: raw
            .mail
            .validate(base, credentials)
            .map_err(|e| ConfigError::invalid(e.key(), e.message()))?,
        helpdesk,
    })
}

/// Policy errors already start with the key (`policy.min_length …`): split it off.
fn policy_error(message: String) -> ConfigError {
    match message.split_once(' ') {
        Some((key, rest)) if key.starts_with("policy.") => ConfigError::invalid(key, rest),
        _ => ConfigError::invalid("policy", message),
    }
}

#[cfg(test)]
mod tests;
