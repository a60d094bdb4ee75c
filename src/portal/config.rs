//! The `[portal]` section: where users reach pwresetd, which flows are open, how links, rate
//! limits, TLS and reverse proxies work. Every error names the key. Must not open sockets or read
//! the certificate files: [`super::PortalState::new`] does, before any port is bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, parse_duration};
use crate::web::Scheme;
use crate::web::client::{Cidr, parse_proxies};
use crate::web::limits::RateLimit;

/// Which ways of proving who you are the portal accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// Only the one-time link from the mail (the password is set by the service account).
    Link,
    /// Login + current password at `/change`, no "send me a new link". While the account is in
    /// an open campaign its current password is the burnt one: `/change` mails a one-time link
    /// instead of changing it (the link's page is open in every mode).
    CurrentPassword,
    /// The link, and the current password on the link's page (both factors).
    LinkAndCurrentPassword,
    /// The link page (link only) and the current-password page, both open.
    Any,
}

impl Auth {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "link" => Some(Auth::Link),
            "current_password" => Some(Auth::CurrentPassword),
            "link_and_current_password" => Some(Auth::LinkAndCurrentPassword),
            "any" => Some(Auth::Any),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Auth::Link => "link",
            Auth::CurrentPassword => "current_password",
            Auth::LinkAndCurrentPassword => "link_and_current_password",
            Auth::Any => "any",
        }
    }

    /// "Send me a new link" (`/resend`) is open, and the landing page offers the link flow.
    /// (`/reset/{token}` is open in every mode.)
    pub fn link_open(self) -> bool {
        self != Auth::CurrentPassword
    }

    /// `/change` is open.
    pub fn change_open(self) -> bool {
        matches!(self, Auth::CurrentPassword | Auth::Any)
    }

    /// The link page also asks for the current password.
    pub fn link_needs_current(self) -> bool {
        self == Auth::LinkAndCurrentPassword
    }

    /// Where a page for a link that cannot be used sends the person for a new one.
    pub fn new_link(self) -> NewLink {
        if self.link_open() {
            NewLink::Resend
        } else {
            NewLink::Change
        }
    }
}

/// How a person whose link cannot be used gets a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NewLink {
    /// The "send me a new link" form (`/resend`).
    Resend,
    /// `/change` (`portal.auth = "current_password"` has no `/resend`): the current password
    /// gets the account a new link there.
    Change,
}

#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// The users' entry point, as they reach it (links in mails are built from it).
    pub public_url: url::Url,
    /// How long a one-time link stays valid.
    pub token_ttl: Duration,
    /// The address the portal listens on.
    pub listen: SocketAddr,
    pub auth: Auth,
    /// Form submissions (POST) allowed per client address and per account.
    pub rate_limit: RateLimit,
    /// PEM certificate chain and private key; the portal speaks HTTPS when both are set.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Connections served at once; more are refused with a 503 (see [`crate::web::listener`]).
    pub max_connections: usize,
    /// Connections served at once from one client address; 0: no such bound (the default: an
    /// office behind one NAT shares an address).
    pub max_connections_per_client: usize,
}

impl PortalConfig {
    /// The one-time link for `token`.
    pub fn reset_link(&self, token: &str) -> String {
        crate::token::reset_link(&self.public_url, token)
    }

    /// What mails need to carry links to this portal.
    pub fn links(&self) -> crate::token::Links {
        crate::token::Links {
            public_url: self.public_url.clone(),
            ttl: self.token_ttl,
        }
    }

    /// How users reach the portal: over HTTPS, cookies get `Secure` (and the `__Host-` prefix)
    /// and responses HSTS.
    pub fn scheme(&self) -> Scheme {
        Scheme::of(&self.public_url)
    }

    /// The origin (`scheme://host[:port]`) browsers send in `Origin` for the portal's own forms.
    pub fn origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }

    /// A configuration for tests and benchmarks: defaults, with `public_url`.
    pub fn for_url(public_url: &str) -> Result<PortalConfig, ConfigError> {
        RawPortal {
            public_url: public_url.into(),
            ..RawPortal::default()
        }
        .validate()
    }
}

/// Connections the portal serves at once unless `portal.max_connections` says otherwise: room
/// for hundreds of people at once (a browser opens a few each), well below the file descriptors
/// the unit allows.
const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// The most `portal.max_connections` may be (each costs a file descriptor).
const MAX_CONNECTIONS: usize = 100_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPortal {
    public_url: String,
    token_ttl: String,
    listen: String,
    auth: String,
    rate_limit_per_address: u32,
    rate_limit_per_account: u32,
    rate_limit_window: String,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    trusted_proxies: Vec<String>,
    max_connections: usize,
    max_connections_per_client: usize,
}

impl Default for RawPortal {
    fn default() -> Self {
        RawPortal {
            public_url: "http://127.0.0.1:8080".into(),
            token_ttl: "72h".into(),
            listen: "127.0.0.1:8080".into(),
            auth: "link".into(),
            rate_limit_per_address: 30,
            rate_limit_per_account: 5,
            rate_limit_window: "15m".into(),
            tls_cert: None,
            tls_key: None,
            trusted_proxies: Vec::new(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_client: 0,
        }
    }
}

impl RawPortal {
    pub fn validate(self) -> Result<PortalConfig, ConfigError> {
        let public_url = url::Url::parse(&self.public_url).map_err(|e| {
            ConfigError::invalid(
                "portal.public_url",
                format!(
                    "{:?} is not a URL ({e}); e.g. \"https://password.example.org\"",
                    self.public_url
                ),
            )
        })?;
        if !matches!(public_url.scheme(), "http" | "https") || public_url.query().is_some() {
            return Err(ConfigError::invalid(
                "portal.public_url",
                format!("{:?} must be an http(s) URL without a query", self.public_url),
            ));
        }
        let token_ttl = parse_duration("portal.token_ttl", &self.token_ttl)?;
        if token_ttl < Duration::from_secs(300) || token_ttl > Duration::from_secs(30 * 86400) {
            return Err(ConfigError::invalid(
                "portal.token_ttl",
                "must be between 5m and 30 days",
            ));
        }
        let listen = self.listen.parse::<SocketAddr>().map_err(|_| {
            ConfigError::invalid(
                "portal.listen",
                format!(
                    "{:?} is not an address:port such as \"127.0.0.1:8080\" or \"[::]:443\"",
                    self.listen
                ),
            )
        })?;
        let auth = Auth::parse(&self.auth).ok_or_else(|| {
            ConfigError::invalid(
                "portal.auth",
                format!(
                    "{:?} is not one of \"link\", \"current_password\", \"link_and_current_password\", \"any\"",
                    self.auth
                ),
            )
        })?;
        if !(1..=MAX_CONNECTIONS).contains(&self.max_connections) {
            return Err(ConfigError::invalid(
                "portal.max_connections",
                format!(
                    "{} is not between 1 and {MAX_CONNECTIONS}; the default is {DEFAULT_MAX_CONNECTIONS} (keep it below the unit's LimitNOFILE)",
                    self.max_connections
                ),
            ));
        }
        if self.max_connections_per_client > self.max_connections {
            return Err(ConfigError::invalid(
                "portal.max_connections_per_client",
                format!(
                    "{} is more than portal.max_connections ({}); use 0 for no bound per client, or a value up to portal.max_connections",
                    self.max_connections_per_client, self.max_connections
                ),
            ));
        }
        Ok(PortalConfig {
            max_connections: self.max_connections,
            max_connections_per_client: self.max_connections_per_client,
            public_url,
            token_ttl,
            listen,
            auth,
            rate_limit: self.rate_limit()?,
            tls: tls_files(self.tls_cert, self.tls_key)?,
            trusted_proxies: parse_proxies("portal.trusted_proxies", &self.trusted_proxies)?,
        })
    }

    fn rate_limit(&self) -> Result<RateLimit, ConfigError> {
        RateLimit::validate(
            "portal.rate_limit",
            self.rate_limit_per_address,
            self.rate_limit_per_account,
            &self.rate_limit_window,
        )
    }
}

fn tls_files(cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<Option<(PathBuf, PathBuf)>, ConfigError> {
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(ConfigError::invalid(
                "portal.tls_key",
                "tls_cert is set: set tls_key too",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::invalid(
                "portal.tls_cert",
                "tls_key is set: set tls_cert too",
            ));
        }
        (Some(c), Some(k)) => (c, k),
    };
    for (name, path) in [("portal.tls_cert", &cert), ("portal.tls_key", &key)] {
        if !path.is_absolute() {
            return Err(ConfigError::invalid(
                name,
                format!("{} must be an absolute path", path.display()),
            ));
        }
        if !path.is_file() {
            return Err(ConfigError::invalid(
                name,
                format!("{} does not exist or is not a file", path.display()),
            ));
        }
    }
    Ok(Some((cert, key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PortalConfig, (String, String)> {
        crate::config::testing::parse(text, |raw: RawPortal| raw.validate())
    }

    fn check(text: &str, expected: Result<(), (&str, &str)>) {
        crate::config::testing::check(text, parse(text), expected)
    }

    #[test]
    fn defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.auth, Auth::Link);
        assert_eq!(
            c.rate_limit,
            RateLimit {
                per_address: 30,
                per_account: 5,
                window: Duration::from_secs(900)
            }
        );
        assert!(c.tls.is_none() && c.trusted_proxies.is_empty() && c.scheme() == Scheme::Http);
        assert_eq!(c.origin(), "http://127.0.0.1:8080");
    }

    #[test]
    fn validate_table() {
        check("auth = \"any\"\nlisten = \"[::]:443\"", Ok(()));
        check("auth = \"password\"", Err(("portal.auth", "is not one of")));
        check("listen = \"localhost:80\"", Err(("portal.listen", "address:port")));
        check(
            "rate_limit_per_address = 0",
            Err(("portal.rate_limit_per_address", "between")),
        );
        check(
            "rate_limit_per_account = 0",
            Err(("portal.rate_limit_per_account", "between")),
        );
        check(
            "rate_limit_window = \"0s\"",
            Err(("portal.rate_limit_window", "between")),
        );
        check(
            "rate_limit_window = \"soon\"",
            Err(("portal.rate_limit_window", "not a duration")),
        );
        check("tls_cert = \"/etc/hostname\"", Err(("portal.tls_key", "set tls_key")));
        check("tls_key = \"/etc/hostname\"", Err(("portal.tls_cert", "set tls_cert")));
        check(
            "tls_cert = \"cert.pem\"\ntls_key = \"/etc/hostname\"",
            Err(("portal.tls_cert", "absolute")),
        );
        check(
            "tls_cert = \"/etc/hostname\"\ntls_key = \"/nonexistent/key.pem\"",
            Err(("portal.tls_key", "does not exist")),
        );
        check("trusted_proxies = [\"10.0.0.0/8\", \"::1\", \"192.168.1.7\"]", Ok(()));
        check(
            "trusted_proxies = [\"10.0.0.0/33\"]",
            Err(("portal.trusted_proxies", "CIDR")),
        );
        check(
            "trusted_proxies = [\"proxy.local\"]",
            Err(("portal.trusted_proxies", "CIDR")),
        );
        check("max_connections = 20", Ok(()));
        check("max_connections = 0", Err(("portal.max_connections", "between 1")));
        check("max_connections_per_client = 64", Ok(()));
        check(
            "max_connections = 20\nmax_connections_per_client = 21",
            Err(("portal.max_connections_per_client", "more than portal.max_connections")),
        );
        check(
            "max_connections = 1000000",
            Err(("portal.max_connections", "between 1")),
        );
        check("unknown = 1", Err(("(parse)", "unknown")));
    }

    #[test]
    fn modes_open_flows() {
        let table = [
            (Auth::Link, true, false, false),
            (Auth::CurrentPassword, false, true, false),
            (Auth::LinkAndCurrentPassword, true, false, true),
            (Auth::Any, true, true, false),
        ];
        for (auth, link, change, both) in table {
            assert_eq!(
                (auth.link_open(), auth.change_open(), auth.link_needs_current()),
                (link, change, both),
                "{auth:?}"
            );
            assert_eq!(Auth::parse(auth.as_str()), Some(auth));
            let new_link = if link { NewLink::Resend } else { NewLink::Change };
            assert_eq!(auth.new_link(), new_link, "{auth:?}");
        }
    }

    #[test]
    fn https_means_secure_cookies() {
        let c = PortalConfig::for_url("https://pw.example.org/").unwrap();
        assert_eq!(c.scheme(), Scheme::Https);
        assert_eq!(c.origin(), "https://pw.example.org");
        assert_eq!(c.reset_link("T"), "https://pw.example.org/reset/T");
    }
}
