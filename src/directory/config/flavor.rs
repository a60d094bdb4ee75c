//! `directory.flavor` and the keys that depend on it: the flavour's defaults (`user_filter`,
//! `login_attribute`), the keys a flavour refuses, and `dont_expire_accounts` (Active Directory).
//!
//! Only names, defaults and validation live here; what a flavour does with them is in
//! the flavour's own file under `crate::directory`. Errors name the key, like every other config error.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, resolve};

/// Which directory server family the accounts live in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Flavor {
    #[serde(rename = "openldap")]
    Openldap,
    #[serde(rename = "active-directory")]
    ActiveDirectory,
    #[serde(rename = "389ds")]
    Ds389,
}

impl Flavor {
    pub const ALL: [Flavor; 3] = [Flavor::Openldap, Flavor::ActiveDirectory, Flavor::Ds389];

    /// The value of `directory.flavor` that names this flavour.
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Openldap => "openldap",
            Flavor::ActiveDirectory => "active-directory",
            Flavor::Ds389 => "389ds",
        }
    }

    pub(super) fn parse(value: &str) -> Result<Flavor, ConfigError> {
        Flavor::ALL.into_iter().find(|f| f.as_str() == value).ok_or_else(|| {
            ConfigError::invalid(
                "directory.flavor",
                format!("unknown flavor {value:?}; one of \"openldap\", \"active-directory\", \"389ds\""),
            )
        })
    }

    /// `directory.user_filter` when not set.
    pub(super) fn default_user_filter(self) -> &'static str {
        match self {
            Flavor::Openldap | Flavor::Ds389 => "(objectClass=inetOrgPerson)",
            // objectCategory keeps computer accounts (objectClass=user too) out.
            Flavor::ActiveDirectory => "(&(objectCategory=person)(objectClass=user))",
        }
    }

    /// `directory.login_attribute` when not set.
    pub(super) fn default_login_attribute(self) -> &'static str {
        match self {
            Flavor::Openldap | Flavor::Ds389 => "uid",
            Flavor::ActiveDirectory => "sAMAccountName",
        }
    }
}

/// What a campaign does with Active Directory accounts whose password never expires
/// (`userAccountControl` DONT_EXPIRE_PASSWORD), on which `pwdLastSet: 0` silently does nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DontExpire {
    /// Left out of the scope and listed by `campaign plan` (the default: they are usually service
    /// accounts, and forcing their change breaks whatever uses them).
    Skip,
    /// In scope: marking clears the bit (after recording that in the store's ledger), and
    /// revert, the account's own password change, or reconciliation seeing it changed sets it
    /// again. `ledger`: the file an earlier version kept the ledger in, imported on first use.
    ClearAndRestore { ledger: PathBuf },
}

/// The `[directory]` keys whose meaning depends on the flavour.
pub(super) struct FlavorKeys<'a> {
    pub flavor: Flavor,
    pub allow_insecure: bool,
    pub password_hash: &'a str,
    pub default_policy_dn: bool,
    pub dont_expire_accounts: Option<&'a str>,
    pub dont_expire_ledger: Option<&'a Path>,
}

/// The file earlier versions remembered cleared DONT_EXPIRE_PASSWORD bits in (now imported into
/// the store on first use), when not configured.
pub const DEFAULT_LEDGER_NAME: &str = "dont-expire-restore.db";

impl FlavorKeys<'_> {
    /// Refuses what the flavour cannot honour; returns the DONT_EXPIRE_PASSWORD handling.
    /// `base` resolves a relative ledger path; `store_dir` holds the default ledger.
    pub(super) fn validate(&self, base: &Path, store_dir: &Path) -> Result<DontExpire, ConfigError> {
        let name = self.flavor.as_str();
        if self.flavor == Flavor::ActiveDirectory && self.allow_insecure {
            return Err(ConfigError::invalid(
                "directory.allow_insecure",
                "Active Directory refuses simple binds without TLS (and password changes need it): \
                 use ldaps:// or StartTLS (directory.starttls = true)",
            ));
        }
        if self.flavor != Flavor::Openldap && self.password_hash != "server" {
            return Err(ConfigError::invalid(
                "directory.password_hash",
                format!("only \"server\" is possible with flavor {name:?}: the directory hashes passwords itself"),
            ));
        }
        if self.flavor != Flavor::Openldap && self.default_policy_dn {
            let instead = match self.flavor {
                Flavor::ActiveDirectory => "the domain policy and each user's msDS-ResultantPSO are read instead",
                _ => "the global policy in cn=config and each entry's pwdpolicysubentry are read instead",
            };
            return Err(ConfigError::invalid(
                "directory.default_policy_dn",
                format!("not used with flavor {name:?}: {instead}; remove it"),
            ));
        }
        let mode = match self.dont_expire_accounts.unwrap_or("skip") {
            "skip" => None,
            "clear-and-restore" => Some(()),
            other => {
                return Err(ConfigError::invalid(
                    "directory.dont_expire_accounts",
                    format!("{other:?} is not one of \"skip\" or \"clear-and-restore\""),
                ));
            }
        };
        if self.flavor != Flavor::ActiveDirectory && (mode.is_some() || self.dont_expire_ledger.is_some()) {
            let key = if mode.is_some() {
                "directory.dont_expire_accounts"
            } else {
                "directory.dont_expire_ledger"
            };
            return Err(ConfigError::invalid(
                key,
                format!("only meaningful with flavor \"active-directory\", not {name:?}"),
            ));
        }
        Ok(match (mode, self.dont_expire_ledger) {
            (None, None) => DontExpire::Skip,
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "directory.dont_expire_ledger",
                    "only used with directory.dont_expire_accounts = \"clear-and-restore\"",
                ));
            }
            (Some(()), Some(p)) => DontExpire::ClearAndRestore {
                ledger: resolve(base, p),
            },
            (Some(()), None) => DontExpire::ClearAndRestore {
                ledger: store_dir.join(DEFAULT_LEDGER_NAME),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(flavor: Flavor) -> FlavorKeys<'static> {
        FlavorKeys {
            flavor,
            allow_insecure: false,
            password_hash: "server",
            default_policy_dn: false,
            dont_expire_accounts: None,
            dont_expire_ledger: None,
        }
    }

    /// `Ok(mode)` or `Err((key, fragment))`.
    fn check(k: FlavorKeys<'_>, expected: Result<DontExpire, (&str, &str)>) {
        let got = k.validate(Path::new("/etc/pwresetd"), Path::new("/var/lib/pwresetd"));
        match (got, expected) {
            (Ok(mode), Ok(want)) => assert_eq!(mode, want),
            (Err(ConfigError::Invalid { key, message }), Err((k, m))) => {
                assert_eq!(key, k, "{message}");
                assert!(message.contains(m), "{message:?} lacks {m:?}");
            }
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn flavour_names_and_defaults() {
        for f in Flavor::ALL {
            assert_eq!(Flavor::parse(f.as_str()).unwrap(), f);
        }
        assert!(Flavor::parse("ad").is_err());
        assert_eq!(Flavor::ActiveDirectory.default_login_attribute(), "sAMAccountName");
        assert_eq!(Flavor::Ds389.default_login_attribute(), "uid");
        assert!(
            Flavor::ActiveDirectory
                .default_user_filter()
                .contains("objectCategory=person")
        );
    }

    #[test]
    fn flavour_specific_keys() {
        use Flavor::*;
        let ledger = |p: &str| DontExpire::ClearAndRestore { ledger: p.into() };
        check(keys(ActiveDirectory), Ok(DontExpire::Skip));
        check(
            FlavorKeys {
                allow_insecure: true,
                ..keys(ActiveDirectory)
            },
            Err(("directory.allow_insecure", "refuses simple binds without TLS")),
        );
        check(
            FlavorKeys {
                allow_insecure: true,
                ..keys(Ds389)
            },
            Ok(DontExpire::Skip),
        );
        check(
            FlavorKeys {
                password_hash: "argon2",
                ..keys(Ds389)
            },
            Err(("directory.password_hash", "only \"server\"")),
        );
        check(
            FlavorKeys {
                default_policy_dn: true,
                ..keys(ActiveDirectory)
            },
            Err(("directory.default_policy_dn", "msDS-ResultantPSO")),
        );
        check(
            FlavorKeys {
                dont_expire_accounts: Some("clear-and-restore"),
                ..keys(ActiveDirectory)
            },
            Ok(ledger("/var/lib/pwresetd/dont-expire-restore.db")),
        );
        check(
            FlavorKeys {
                dont_expire_accounts: Some("clear-and-restore"),
                dont_expire_ledger: Some(Path::new("ledger.db")),
                ..keys(ActiveDirectory)
            },
            Ok(ledger("/etc/pwresetd/ledger.db")),
        );
        check(
            FlavorKeys {
                dont_expire_accounts: Some("clear"),
                ..keys(ActiveDirectory)
            },
            Err(("directory.dont_expire_accounts", "not one of")),
        );
        check(
            FlavorKeys {
                dont_expire_accounts: Some("clear-and-restore"),
                ..keys(Openldap)
            },
            Err(("directory.dont_expire_accounts", "only meaningful")),
        );
        check(
            FlavorKeys {
                dont_expire_ledger: Some(Path::new("x.db")),
                ..keys(ActiveDirectory)
            },
            Err(("directory.dont_expire_ledger", "only used with")),
        );
    }
}
