//! Configuration primitives shared by every section: the error type, durations, paths and
//! secret files.
//!
//! A leaf: it imports nothing of pwresetd but [`crate::secret`]. Each section's type lives in
//! the module that owns it (`directory::config`, `portal::config`, `notify::config`, …); only
//! the composition root (`daemon::config`) knows every section and assembles the whole
//! configuration. Errors name the key and how to fix it; the CLI exits 64 on any of them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::secret::Secret;

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

/// Parses a duration such as "90s", "5m" or "72h".
pub fn parse_duration(key: &str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value).map_err(|e| {
        ConfigError::invalid(
            key,
            format!("{value:?} is not a duration ({e}); write e.g. \"90s\", \"5m\", \"72h\""),
        )
    })
}

/// A path from the configuration, relative to the configuration file's folder `base`.
pub fn resolve(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_owned() } else { base.join(p) }
}

/// Refuses 0 for a count that must be at least 1.
pub fn positive(key: &str, v: usize) -> Result<(), ConfigError> {
    if v == 0 {
        Err(ConfigError::invalid(key, "must be at least 1"))
    } else {
        Ok(())
    }
}

/// Reads a secret from `path` (a `*_file` key or a systemd credential); an empty file is an
/// error, since an empty password is never what was meant.
pub fn read_secret(key: &str, path: &Path) -> Result<Secret, ConfigError> {
    let secret = Secret::from_file(path)
        .map_err(|e| ConfigError::invalid(key, format!("cannot read {}: {e}", path.display())))?;
    if secret.expose().is_empty() {
        return Err(ConfigError::invalid(key, format!("{} is empty", path.display())));
    }
    Ok(secret)
}

/// Where relative paths and secrets are found while validating a configuration.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The configuration file's folder.
    pub base: &'a Path,
    /// systemd's `$CREDENTIALS_DIRECTORY`, when set.
    pub credentials: Option<&'a Path>,
}

impl Origin<'_> {
    pub fn resolve(&self, p: &Path) -> PathBuf {
        resolve(self.base, p)
    }

    /// The systemd credential `name`, when it exists.
    pub fn credential(&self, name: &str) -> Option<PathBuf> {
        self.credentials.map(|d| d.join(name)).filter(|p| p.is_file())
    }
}

/// Table-test helpers for the sections' own unit tests.
#[cfg(test)]
pub mod testing {
    use super::ConfigError;

    /// Parses one section's TOML and validates it: `Err((key, message))` on any error.
    pub fn parse<R: serde::de::DeserializeOwned, T>(
        text: &str,
        validate: impl FnOnce(R) -> Result<T, ConfigError>,
    ) -> Result<T, (String, String)> {
        let raw: R = ::config::Config::builder()
            .add_source(::config::File::from_str(text, ::config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ("(parse)".to_string(), e.to_string()))?;
        validate(raw).map_err(|e| match e {
            ConfigError::Invalid { key, message } => (key, message),
            other => ("(other)".into(), other.to_string()),
        })
    }

    /// `expected`: `Ok(())`, or `Err((key, fragment of the message))`.
    pub fn check<T: std::fmt::Debug>(text: &str, got: Result<T, (String, String)>, expected: Result<(), (&str, &str)>) {
        match (got, expected) {
            (Ok(_), Ok(())) => {}
            (Err((key, message)), Err((k, m))) => {
                assert_eq!(key, k, "{text:?}: {message}");
                assert!(message.contains(m), "{text:?}: {message:?} lacks {m:?}");
            }
            (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
        }
    }
}
