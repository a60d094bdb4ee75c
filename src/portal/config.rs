//! The `[portal]` section: where users reach pwresetd and how links and sign-ins work.

use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, parse_duration};

#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// The users' entry point, as they reach it (links in mails are built from it).
    pub public_url: url::Url,
    /// How long a one-time link stays valid.
    pub token_ttl: Duration,
}

impl PortalConfig {
    /// The one-time link for `token`.
    pub fn reset_link(&self, token: &str) -> String {
        format!("{}/reset/{token}", self.public_url.as_str().trim_end_matches('/'))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPortal {
    public_url: String,
    token_ttl: String,
}

impl Default for RawPortal {
    fn default() -> Self {
        RawPortal {
            public_url: "http://127.0.0.1:8080".into(),
            token_ttl: "72h".into(),
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
        Ok(PortalConfig { public_url, token_ttl })
    }
}
