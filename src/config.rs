//! Configuration: defaults → TOML file → `PWRESETD_SECTION__KEY` environment variables.
//!
//! [`load`] reads the layers, rejects unknown keys and plain-text secrets, resolves secret files
//! (or systemd credentials) and returns a validated, typed [`Config`]. Every error names the key
//! and how to fix it; the CLI exits 64 on any of them. Config is passed explicitly, never global.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

use crate::directory::dn;
use crate::policy::PolicyConfig;
pub use crate::portal::PortalConfig;
use crate::secret::Secret;
pub use sections::CampaignConfig;

mod daemon;
mod flavor;
mod sections;
pub use daemon::DaemonConfig;
pub use flavor::{DontExpire, Flavor, PolicyFloor};

/// The default location of the configuration file.
pub const DEFAULT_PATH: &str = "/etc/pwresetd/pwresetd.toml";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("invalid configuration: {key}: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            message: message.into(),
        }
    }
}

/// How the link flow writes a new password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordHash {
    /// Password Modify as the service account: the server hashes with its own scheme.
    Server,
    /// An `{ARGON2}` argon2id value written to `userPassword` (OpenLDAP with the argon2 module).
    Argon2,
}

/// How the connection to the directory is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `ldaps://`: TLS from the first byte.
    Ldaps,
    /// `ldap://` upgraded with StartTLS before anything else is sent.
    StartTls,
    /// `ldap://` in clear: only with `allow_insecure = true`.
    Plain,
}

#[derive(Debug, Clone)]
pub struct DirectoryConfig {
    pub flavor: Flavor,
    pub url: String,
    pub transport: Transport,
    pub ca_file: Option<PathBuf>,
    pub bind_dn: String,
    pub bind_password: Secret,
    pub base_dn: String,
    pub user_filter: String,
    pub exclude_filter: Option<String>,
    pub login_attribute: String,
    pub mail_attribute: String,
    pub display_name_attribute: String,
    pub given_name_attribute: String,
    pub surname_attribute: String,
    pub language_attribute: String,
    pub default_policy_dn: Option<String>,
    pub password_hash: PasswordHash,
    pub max_concurrency: usize,
    pub max_ops_per_second: u32,
    pub connections: usize,
    pub page_size: i32,
    pub timeout: Duration,
    /// Active Directory: accounts whose password never expires (`dont_expire_accounts`).
    pub dont_expire: DontExpire,
    /// The `[policy]` rules a flavour compares with the directory's own (for its warnings).
    pub policy_floor: PolicyFloor,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub directory: DirectoryConfig,
    pub store: StoreConfig,
    pub policy: PolicyConfig,
    pub campaign: CampaignConfig,
    pub portal: PortalConfig,
    pub daemon: DaemonConfig,
    pub mail: crate::notify::MailSettings,
    pub helpdesk: crate::helpdesk::HelpdeskConfig,
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
    campaign: sections::RawCampaign,
    #[serde(default)]
    portal: crate::portal::config::RawPortal,
    #[serde(default)]
    daemon: daemon::RawDaemon,
    #[serde(default)]
    mail: crate::notify::MailConfig,
    #[serde(default)]
    helpdesk: crate::helpdesk::config::RawHelpdesk,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    #[serde(default = "default_flavor")]
    flavor: String,
    url: String,
    #[serde(default = "yes")]
    starttls: bool,
    ca_file: Option<PathBuf>,
    bind_dn: String,
    bind_password_file: Option<PathBuf>,
    /// Present only to refuse it with a helpful message.
    bind_password: Option<serde::de::IgnoredAny>,
    base_dn: String,
    /// Default by flavour.
    user_filter: Option<String>,
    exclude_filter: Option<String>,
    /// Default by flavour.
    login_attribute: Option<String>,
    #[serde(default = "default_mail_attribute")]
    mail_attribute: String,
    #[serde(default = "default_display_name_attribute")]
    display_name_attribute: String,
    #[serde(default = "default_given_name_attribute")]
    given_name_attribute: String,
    #[serde(default = "default_surname_attribute")]
    surname_attribute: String,
    #[serde(default = "default_language_attribute")]
    language_attribute: String,
    default_policy_dn: Option<String>,
    #[serde(default = "default_password_hash")]
    password_hash: String,
    #[serde(default = "default_max_concurrency")]
    max_concurrency: usize,
    #[serde(default)]
    max_ops_per_second: u32,
    #[serde(default = "default_connections")]
    connections: usize,
    #[serde(default = "default_page_size")]
    page_size: i32,
    #[serde(default = "default_timeout")]
    timeout: String,
    #[serde(default)]
    allow_insecure: bool,
    dont_expire_accounts: Option<String>,
    dont_expire_ledger: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<PathBuf>,
}

fn yes() -> bool {
    true
}
fn default_flavor() -> String {
    "openldap".into()
}
fn default_mail_attribute() -> String {
    "mail".into()
}
fn default_display_name_attribute() -> String {
    "displayName".into()
}
fn default_given_name_attribute() -> String {
    "givenName".into()
}
fn default_surname_attribute() -> String {
    "sn".into()
}
fn default_language_attribute() -> String {
    "preferredLanguage".into()
}
fn default_password_hash() -> String {
    "server".into()
}
fn default_max_concurrency() -> usize {
    8
}
fn default_connections() -> usize {
    2
}
fn default_page_size() -> i32 {
    500
}
fn default_timeout() -> String {
    "30s".into()
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
    let overrides: config::Map<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with("PWRESETD_") && k.contains("__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let merged = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Toml))
        .add_source(
            config::Environment::with_prefix("PWRESETD")
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
    let store_path = match (raw.store.path, state_dir) {
        (Some(p), _) => resolve(base, &p),
        (None, Some(dir)) => dir.join("state.db"),
        (None, None) => PathBuf::from("/var/lib/pwresetd/state.db"),
    };
    let store_dir = store_path.parent().unwrap_or(Path::new("."));
    let floor = PolicyFloor::of(&raw.policy);
    let directory = validate_directory(raw.directory, base, credentials, store_dir, floor)?;
    let helpdesk = raw.helpdesk.validate(&directory.base_dn, base)?;
    let mut policy = raw.policy;
    policy.validate().map_err(|e| policy_error(e.to_string()))?;
    policy.denylist_file = policy.denylist_file.map(|p| resolve(base, &p));
    policy.breached_index = policy.breached_index.map(|p| resolve(base, &p));
    Ok(Config {
        directory,
        store: StoreConfig { path: store_path },
        policy,
        campaign: raw.campaign.validate()?,
        portal: raw.portal.validate()?,
        daemon: raw.daemon.validate()?,
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

fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_owned() } else { base.join(p) }
}

fn validate_directory(
    raw: RawDirectory,
    base: &Path,
    credentials: Option<&Path>,
    store_dir: &Path,
    policy_floor: PolicyFloor,
) -> Result<DirectoryConfig, ConfigError> {
    if raw.bind_password.is_some() {
        return Err(ConfigError::invalid(
            "directory.bind_password",
            "plain-text passwords are refused in the configuration and the environment; put the \
             password in a file readable only by pwresetd and set directory.bind_password_file, or \
             pass a systemd credential named bind-password (LoadCredential=)",
        ));
    }
    let flavor = Flavor::parse(&raw.flavor)?;
    let dont_expire = flavor::FlavorKeys {
        flavor,
        allow_insecure: raw.allow_insecure,
        password_hash: &raw.password_hash,
        default_policy_dn: raw.default_policy_dn.is_some(),
        dont_expire_accounts: raw.dont_expire_accounts.as_deref(),
        dont_expire_ledger: raw.dont_expire_ledger.as_deref(),
    }
    .validate(base, store_dir)?;
    let user_filter = raw
        .user_filter
        .unwrap_or_else(|| flavor.default_user_filter().to_owned());
    let login_attribute = raw
        .login_attribute
        .unwrap_or_else(|| flavor.default_login_attribute().to_owned());
    let password_hash = match raw.password_hash.as_str() {
        "server" => PasswordHash::Server,
        "argon2" => PasswordHash::Argon2,
        other => {
            return Err(ConfigError::invalid(
                "directory.password_hash",
                format!("{other:?} is not one of \"server\" (the directory hashes) or \"argon2\""),
            ));
        }
    };
    let transport = transport_for(&raw.url, raw.starttls, raw.allow_insecure)?;
    for (key, value) in [("directory.bind_dn", &raw.bind_dn), ("directory.base_dn", &raw.base_dn)] {
        dn::validate(value).map_err(|e| ConfigError::invalid(key, format!("malformed DN {value:?}: {e}")))?;
    }
    if let Some(policy_dn) = &raw.default_policy_dn {
        dn::validate(policy_dn).map_err(|e| {
            ConfigError::invalid(
                "directory.default_policy_dn",
                format!("malformed DN {policy_dn:?}: {e}"),
            )
        })?;
    }
    check_filter("directory.user_filter", &user_filter)?;
    if let Some(f) = &raw.exclude_filter {
        check_filter("directory.exclude_filter", f)?;
    }
    for (key, attr) in [
        ("directory.login_attribute", &login_attribute),
        ("directory.mail_attribute", &raw.mail_attribute),
        ("directory.display_name_attribute", &raw.display_name_attribute),
        ("directory.given_name_attribute", &raw.given_name_attribute),
        ("directory.surname_attribute", &raw.surname_attribute),
        ("directory.language_attribute", &raw.language_attribute),
    ] {
        check_attribute(key, attr)?;
    }
    let bind_password = read_bind_password(raw.bind_password_file.as_deref(), base, credentials)?;
    let ca_file = raw.ca_file.map(|p| resolve(base, &p));
    if let Some(ca) = &ca_file {
        if !ca.is_file() {
            return Err(ConfigError::invalid(
                "directory.ca_file",
                format!("{} does not exist or is not a file", ca.display()),
            ));
        }
    }
    let timeout = parse_duration("directory.timeout", &raw.timeout)?;
    positive("directory.max_concurrency", raw.max_concurrency)?;
    positive("directory.connections", raw.connections)?;
    if !(1..=10_000).contains(&raw.page_size) {
        return Err(ConfigError::invalid(
            "directory.page_size",
            "must be between 1 and 10000",
        ));
    }
    Ok(DirectoryConfig {
        flavor,
        url: raw.url,
        transport,
        ca_file,
        bind_dn: raw.bind_dn,
        bind_password,
        base_dn: raw.base_dn,
        user_filter,
        exclude_filter: raw.exclude_filter,
        login_attribute,
        mail_attribute: raw.mail_attribute,
        display_name_attribute: raw.display_name_attribute,
        given_name_attribute: raw.given_name_attribute,
        surname_attribute: raw.surname_attribute,
        language_attribute: raw.language_attribute,
        default_policy_dn: raw.default_policy_dn,
        password_hash,
        max_concurrency: raw.max_concurrency,
        max_ops_per_second: raw.max_ops_per_second,
        connections: raw.connections,
        page_size: raw.page_size,
        timeout,
        dont_expire,
        policy_floor,
    })
}

fn transport_for(url: &str, starttls: bool, allow_insecure: bool) -> Result<Transport, ConfigError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| ConfigError::invalid("directory.url", format!("{url:?} is not a URL: {e}")))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::invalid("directory.url", format!("{url:?} has no host")));
    }
    match (parsed.scheme(), starttls, allow_insecure) {
        ("ldaps", _, _) => Ok(Transport::Ldaps),
        ("ldap", true, _) => Ok(Transport::StartTls),
        ("ldap", false, true) => Ok(Transport::Plain),
        ("ldap", false, false) => Err(ConfigError::invalid(
            "directory.url",
            format!(
                "{url} without StartTLS would send the bind password and users' passwords in \
                 clear; use ldaps://, set directory.starttls = true, or (test directories only) \
                 directory.allow_insecure = true"
            ),
        )),
        (scheme, _, _) => Err(ConfigError::invalid(
            "directory.url",
            format!("scheme {scheme:?} is not supported; use ldaps:// or ldap:// with StartTLS"),
        )),
    }
}

fn check_filter(key: &str, filter: &str) -> Result<(), ConfigError> {
    let trimmed = filter.trim();
    if !trimmed.starts_with('(') || ldap3::parse_filter(trimmed).is_err() {
        return Err(ConfigError::invalid(
            key,
            format!(
                "malformed LDAP filter {filter:?}; expected e.g. \"(objectClass=inetOrgPerson)\", with parentheses balanced and special characters escaped as \\2a \\28 \\29 \\5c"
            ),
        ));
    }
    Ok(())
}

fn check_attribute(key: &str, attr: &str) -> Result<(), ConfigError> {
    let ok = attr.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && attr.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ';');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(key, format!("{attr:?} is not an attribute name")))
    }
}

fn positive(key: &str, v: usize) -> Result<(), ConfigError> {
    if v == 0 {
        Err(ConfigError::invalid(key, "must be at least 1"))
    } else {
        Ok(())
    }
}

/// Parses a duration such as "90s", "5m" or "72h".
pub fn parse_duration(key: &str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value).map_err(|e| {
        ConfigError::invalid(
            key,
            format!("{value:?} is not a duration ({e}); write e.g. \"90s\", \"5m\", \"72h\""),
        )
    })
}

fn read_bind_password(file: Option<&Path>, base: &Path, credentials: Option<&Path>) -> Result<Secret, ConfigError> {
    let key = "directory.bind_password_file";
    let path = match (file, credentials) {
        (Some(f), _) => resolve(base, f),
        (None, Some(dir)) if dir.join("bind-password").is_file() => dir.join("bind-password"),
        _ => {
            return Err(ConfigError::invalid(
                key,
                "not set, and no systemd credential bind-password; set it to a file holding the \
                 service account's password",
            ));
        }
    };
    let secret = Secret::from_file(&path)
        .map_err(|e| ConfigError::invalid(key, format!("cannot read {}: {e}", path.display())))?;
    if secret.expose().is_empty() {
        return Err(ConfigError::invalid(key, format!("{} is empty", path.display())));
    }
    Ok(secret)
}

#[cfg(test)]
mod tests;
