//! The `[directory]` section: which server, how to reach it, the scope and the attributes.
//!
//! Validation only: nothing here connects. Flavour-dependent keys and defaults are in
//! [`flavor`]. Errors name the key, like every other configuration error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, Origin, parse_duration, positive, read_secret};
use crate::directory::dn;
use crate::secret::Secret;

mod flavor;
pub use flavor::{DEFAULT_LEDGER_NAME, DontExpire, Flavor};

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
    /// How long a run keeps retrying an operation while the directory is unreachable before it
    /// stops (exit 69, resumable); 0 = no retry.
    pub outage_wait: Duration,
    /// How long a policy's password rules read for a form page are used again; 0 = read each time.
    pub rules_cache: Duration,
    /// Active Directory: accounts whose password never expires (`dont_expire_accounts`).
    pub dont_expire: DontExpire,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDirectory {
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
    #[serde(default = "default_rules_cache")]
    rules_cache: String,
    #[serde(default = "default_outage_wait")]
    outage_wait: String,
    #[serde(default)]
    allow_insecure: bool,
    dont_expire_accounts: Option<String>,
    dont_expire_ledger: Option<PathBuf>,
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
fn default_rules_cache() -> String {
    "60s".into()
}
fn default_outage_wait() -> String {
    "2m".into()
}

impl RawDirectory {
    /// Validates the section. `store_dir` holds the default DONT_EXPIRE ledger.
    pub fn validate(self, origin: Origin<'_>, store_dir: &Path) -> Result<DirectoryConfig, ConfigError> {
        let raw = self;
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
        .validate(origin.base, store_dir)?;
        let user_filter = raw
            .user_filter
            .clone()
            .unwrap_or_else(|| flavor.default_user_filter().to_owned());
        let login_attribute = raw
            .login_attribute
            .clone()
            .unwrap_or_else(|| flavor.default_login_attribute().to_owned());
        let password_hash = parse_password_hash(&raw.password_hash)?;
        let transport = transport_for(&raw.url, raw.starttls, raw.allow_insecure)?;
        raw.check_names(&user_filter, &login_attribute)?;
        let bind_password = read_bind_password(raw.bind_password_file.as_deref(), origin)?;
        let ca_file = raw
            .ca_file
            .as_deref()
            .map(|p| existing_file("directory.ca_file", origin.resolve(p)))
            .transpose()?;
        let timeout = parse_duration("directory.timeout", &raw.timeout)?;
        let outage_wait = parse_duration("directory.outage_wait", &raw.outage_wait)?;
        if outage_wait > Duration::from_secs(86400) {
            return Err(ConfigError::invalid(
                "directory.outage_wait",
                "must be at most \"24h\"; a longer outage is better resumed by hand",
            ));
        }
        let rules_cache = parse_duration("directory.rules_cache", &raw.rules_cache)?;
        if rules_cache > Duration::from_secs(3600) {
            return Err(ConfigError::invalid(
                "directory.rules_cache",
                "must be at most \"1h\": a policy changed in the directory shows on the form pages after that long",
            ));
        }
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
            outage_wait,
            rules_cache,
            dont_expire,
        })
    }

    /// DNs, filters and attribute names are well-formed.
    fn check_names(&self, user_filter: &str, login_attribute: &str) -> Result<(), ConfigError> {
        let raw = self;
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
        check_filter("directory.user_filter", user_filter)?;
        if let Some(f) = &raw.exclude_filter {
            check_filter("directory.exclude_filter", f)?;
        }
        for (key, attr) in [
            ("directory.login_attribute", login_attribute),
            ("directory.mail_attribute", &raw.mail_attribute),
            ("directory.display_name_attribute", &raw.display_name_attribute),
            ("directory.given_name_attribute", &raw.given_name_attribute),
            ("directory.surname_attribute", &raw.surname_attribute),
            ("directory.language_attribute", &raw.language_attribute),
        ] {
            check_attribute(key, attr)?;
        }
        Ok(())
    }
}

fn parse_password_hash(value: &str) -> Result<PasswordHash, ConfigError> {
    Ok(match value {
        "server" => PasswordHash::Server,
        "argon2" => PasswordHash::Argon2,
        other => {
            return Err(ConfigError::invalid(
                "directory.password_hash",
                format!("{other:?} is not one of \"server\" (the directory hashes) or \"argon2\""),
            ));
        }
    })
}

fn existing_file(key: &str, path: PathBuf) -> Result<PathBuf, ConfigError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(ConfigError::invalid(
            key,
            format!("{} does not exist or is not a file", path.display()),
        ))
    }
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

fn read_bind_password(file: Option<&Path>, origin: Origin<'_>) -> Result<Secret, ConfigError> {
    let key = "directory.bind_password_file";
    let path = match (file, origin.credential("bind-password")) {
        (Some(f), _) => origin.resolve(f),
        (None, Some(credential)) => credential,
        (None, None) => {
            return Err(ConfigError::invalid(
                key,
                "not set, and no systemd credential bind-password; set it to a file holding the \
                 service account's password",
            ));
        }
    };
    read_secret(key, &path)
}
