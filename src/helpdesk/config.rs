//! The `[helpdesk]` section: who may sign in (operators in a directory group), the API tokens
//! file, sessions and sign-in rate limits. Every error names the key. Must not read the tokens
//! file or touch the directory: [`super::HelpdeskState::new`] reads the file before any port is
//! bound.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, parse_duration};
use crate::directory::dn;
use crate::web::Scheme;
use crate::web::client::{Cidr, parse_proxies};
use crate::web::limits::RateLimit;

#[derive(Debug, Clone)]
pub struct HelpdeskConfig {
    /// Operators must be members of this group (nested membership counts). `None`: nobody can
    /// sign in on the web page; only API tokens work.
    pub operator_group: Option<String>,
    /// Where operators' entries are looked up when they sign in.
    pub operator_base_dn: String,
    /// `NAME:ARGON2ID-PHC` lines (`pwresetd helpdesk token create`). `None`: no API tokens.
    pub api_tokens_file: Option<PathBuf>,
    /// The helpdesk as operators' browsers reach it (`https://…` behind a TLS proxy): decides the
    /// `Secure` cookie flag and the origin forms must come from. `None`: `http://` + the admin
    /// listener's address.
    pub public_url: Option<url::Url>,
    /// A session ends after this long without a request…
    pub session_idle: Duration,
    /// …and this long after sign-in in any case.
    pub session_max: Duration,
    /// How often a session's group membership is checked again.
    pub membership_recheck: Duration,
    /// Sign-in attempts per client address and per login.
    pub login_rate_limit: RateLimit,
    /// Peers whose `X-Forwarded-For` is believed (for rate limits and logs).
    pub trusted_proxies: Vec<Cidr>,
}

impl HelpdeskConfig {
    /// Defaults for tests: operators under `base_dn`, no group, no tokens.
    pub fn for_base_dn(base_dn: &str) -> Result<HelpdeskConfig, ConfigError> {
        RawHelpdesk::default().validate(base_dn, Path::new("/"))
    }

    /// How operators reach the helpdesk: over HTTPS, cookies get `Secure` (and the `__Host-`
    /// prefix) and responses HSTS.
    pub fn scheme(&self) -> Scheme {
        self.public_url.as_ref().map_or(Scheme::Http, Scheme::of)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawHelpdesk {
    operator_group: Option<String>,
    operator_base_dn: Option<String>,
    api_tokens_file: Option<PathBuf>,
    public_url: Option<String>,
    session_idle: String,
    session_max: String,
    membership_recheck: String,
    login_rate_limit_per_address: u32,
    login_rate_limit_per_account: u32,
    login_rate_limit_window: String,
    trusted_proxies: Vec<String>,
}

impl Default for RawHelpdesk {
    fn default() -> Self {
        RawHelpdesk {
            operator_group: None,
            operator_base_dn: None,
            api_tokens_file: None,
            public_url: None,
            session_idle: "30m".into(),
            session_max: "10h".into(),
            membership_recheck: "5m".into(),
            login_rate_limit_per_address: 20,
            login_rate_limit_per_account: 5,
            login_rate_limit_window: "15m".into(),
            trusted_proxies: Vec::new(),
        }
    }
}

fn check_dn(key: &str, value: &str) -> Result<(), ConfigError> {
    dn::validate(value).map_err(|e| ConfigError::invalid(key, format!("malformed DN {value:?}: {e}")))
}

impl RawHelpdesk {
    /// `directory_base_dn` is the default for `operator_base_dn`; relative paths are taken from
    /// `base` (the configuration file's directory).
    pub fn validate(self, directory_base_dn: &str, base: &Path) -> Result<HelpdeskConfig, ConfigError> {
        if let Some(g) = &self.operator_group {
            check_dn("helpdesk.operator_group", g)?;
        }
        let operator_base_dn = self.operator_base_dn.unwrap_or_else(|| directory_base_dn.to_owned());
        check_dn("helpdesk.operator_base_dn", &operator_base_dn)?;
        let api_tokens_file = self
            .api_tokens_file
            .map(|p| if p.is_absolute() { p } else { base.join(p) });
        if let Some(p) = &api_tokens_file {
            if !p.is_file() {
                return Err(ConfigError::invalid(
                    "helpdesk.api_tokens_file",
                    format!(
                        "{} does not exist or is not a file; create it (it may be empty) and add the lines \
                         `pwresetd helpdesk token create --name NAME` prints",
                        p.display()
                    ),
                ));
            }
        }
        let public_url = self.public_url.as_deref().map(parse_url).transpose()?;
        let session_idle = bounded("helpdesk.session_idle", &self.session_idle, 60, 24 * 3600)?;
        let session_max = bounded("helpdesk.session_max", &self.session_max, 60, 7 * 24 * 3600)?;
        if session_max < session_idle {
            return Err(ConfigError::invalid(
                "helpdesk.session_max",
                "must not be shorter than helpdesk.session_idle",
            ));
        }
        let membership_recheck = bounded("helpdesk.membership_recheck", &self.membership_recheck, 10, 24 * 3600)?;
        let login_rate_limit = RateLimit::validate(
            "helpdesk.login_rate_limit",
            self.login_rate_limit_per_address,
            self.login_rate_limit_per_account,
            &self.login_rate_limit_window,
        )?;
        let trusted_proxies = parse_proxies("helpdesk.trusted_proxies", &self.trusted_proxies)?;
        Ok(HelpdeskConfig {
            operator_group: self.operator_group,
            operator_base_dn,
            api_tokens_file,
            public_url,
            session_idle,
            session_max,
            membership_recheck,
            login_rate_limit,
            trusted_proxies,
        })
    }
}

fn parse_url(text: &str) -> Result<url::Url, ConfigError> {
    let key = "helpdesk.public_url";
    let url = url::Url::parse(text).map_err(|e| {
        ConfigError::invalid(
            key,
            format!("{text:?} is not a URL ({e}); e.g. \"https://helpdesk.example.org\""),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.path() != "/" {
        return Err(ConfigError::invalid(
            key,
            format!("{text:?} must be an http(s) URL without a path or query (the helpdesk lives at /helpdesk)"),
        ));
    }
    Ok(url)
}

fn bounded(key: &str, value: &str, min_secs: u64, max_secs: u64) -> Result<Duration, ConfigError> {
    let d = parse_duration(key, value)?;
    if d < Duration::from_secs(min_secs) || d > Duration::from_secs(max_secs) {
        return Err(ConfigError::invalid(
            key,
            format!(
                "must be between {} and {}",
                humantime::format_duration(Duration::from_secs(min_secs)),
                humantime::format_duration(Duration::from_secs(max_secs))
            ),
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "ou=people,dc=example,dc=org";

    fn parse(text: &str) -> Result<HelpdeskConfig, (String, String)> {
        crate::config::testing::parse(text, |raw: RawHelpdesk| raw.validate(BASE, Path::new("/etc/pwresetd")))
    }

    fn check(text: &str, expected: Result<(), (&str, &str)>) {
        crate::config::testing::check(text, parse(text), expected)
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.operator_base_dn, BASE);
        assert_eq!(c.operator_group, None);
        assert_eq!(c.api_tokens_file, None);
        assert_eq!(c.session_idle, Duration::from_secs(1800));
        assert_eq!(c.session_max, Duration::from_secs(36000));
        assert_eq!(c.login_rate_limit.per_account, 5);
        assert_eq!(c.scheme(), Scheme::Http);
    }

    #[test]
    fn validate_table() {
        check(
            "operator_group = \"cn=helpdesk,ou=groups,dc=example,dc=org\"\npublic_url = \"https://hd.example.org\"",
            Ok(()),
        );
        check(
            "operator_group = \"helpdesk\"",
            Err(("helpdesk.operator_group", "malformed DN")),
        );
        check(
            "operator_base_dn = \"dc=x,\"",
            Err(("helpdesk.operator_base_dn", "malformed DN")),
        );
        check(
            "api_tokens_file = \"/nonexistent/tokens\"",
            Err(("helpdesk.api_tokens_file", "does not exist")),
        );
        check("public_url = \"ftp://x\"", Err(("helpdesk.public_url", "http(s)")));
        check(
            "public_url = \"https://x/helpdesk\"",
            Err(("helpdesk.public_url", "without a path")),
        );
        check("session_idle = \"10s\"", Err(("helpdesk.session_idle", "between")));
        check(
            "session_idle = \"2h\"\nsession_max = \"1h\"",
            Err(("helpdesk.session_max", "not be shorter")),
        );
        check(
            "membership_recheck = \"soon\"",
            Err(("helpdesk.membership_recheck", "not a duration")),
        );
        check(
            "login_rate_limit_per_address = 0",
            Err(("helpdesk.login_rate_limit_per_address", "between")),
        );
        check(
            "trusted_proxies = [\"proxy\"]",
            Err(("helpdesk.trusted_proxies", "CIDR")),
        );
        check("colour = \"blue\"", Err(("(parse)", "unknown field")));
        let https = parse("public_url = \"https://hd.example.org\"").unwrap();
        assert_eq!(https.scheme(), Scheme::Https);
    }
}
