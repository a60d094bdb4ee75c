//! OpenLDAP with the ppolicy overlay.
//!
//! Mark = `pwdReset: TRUE`, which restricts the user to a password change only when the applying
//! policy has `pwdMustChange: TRUE` (checked and warned about). Clear = `delete: pwdReset`.
//! Writing `pwdReset` needs `manage` access for the service account, and reading the whole
//! scope needs a `limits` line lifting slapd's size and time limits for it (`limits.rs`).
//! Lockout: the applying policy's `pwdLockout`, `pwdMaxFailure` and `pwdFailureCountInterval`.
//! The current password is told from the stored `userPassword` hash, earlier ones from
//! `pwdHistory` (`history.rs`): the service account's set skips slapd's own history check.

mod history;
mod limits;
mod lock;

mod policy;

use std::collections::HashSet;

use async_trait::async_trait;
use ldap3::{Mod, Scope};

use super::common::{Known, PolicyNames, Quirks, Shared};
use super::search::{self, Entry};
use super::userpassword::Stored;
use super::{
    Account, AccountDetails, AtDeadline, BindCheck, DirectoryError, LimitKind, Lockout, PasswordError, Refusal,
    Threshold, Warning, gentime, ops, userpassword,
};
use crate::directory::config::{DirectoryConfig, Flavor, PasswordHash};
use crate::policy::DirectoryRules;
use crate::secret::Secret;

const FLAG: &str = "pwdReset";
const POLICY_SUBENTRY: &str = "pwdPolicySubentry";

/// OpenLDAP's quirks: the rest of the work is [`LdapDirectory`](super::common::LdapDirectory)'s.
pub struct OpenLdap;

/// The default policy: configured, or the only `pwdPolicy` entry under the naming contexts.
async fn default_policy(s: &Shared) -> Result<Result<String, Warning>, DirectoryError> {
    if let Some(dn) = &s.config.default_policy_dn {
        return Ok(Ok(dn.clone()));
    }
    let root = search::read(&s.pool, "", Scope::Base, "(objectClass=*)", &["namingContexts"]).await?;
    let mut found = Vec::new();
    for context in root.iter().flat_map(|e| e.all("namingContexts")) {
        let entries = search::read(&s.pool, context, Scope::Subtree, "(objectClass=pwdPolicy)", &["1.1"]).await?;
        found.extend(entries.into_iter().map(|e| e.dn));
    }
    Ok(match found.len() {
        1 => Ok(found.remove(0)),
        // Not found may mean not readable: a check that could not be made, not a failure.
        0 => Err(Warning::advisory(
            "no ppolicy policy entry (objectClass=pwdPolicy) is readable: pwdReset restricts \
             nothing without a policy with pwdMustChange: TRUE; load the ppolicy overlay, set \
             ppolicy_default, and let the service account read the policy",
        )),
        _ => Err(Warning::advisory(format!(
            "{} password policies exist ({}); set directory.default_policy_dn to the one named by \
             ppolicy_default so pwresetd can check that it enforces pwdMustChange",
            found.len(),
            found.join("; ")
        ))),
    })
}

async fn check_policy(s: &Shared, dn: &str, governs: &str) -> Result<Option<Warning>, DirectoryError> {
    let Some(entry) = s.entry(dn, &["pwdMustChange"]).await? else {
        return Ok(Some(Warning::advisory(format!(
            "password policy {dn} ({governs}) does not exist or is not readable by the service account, \
             so pwresetd cannot check that it has pwdMustChange: TRUE; let the service account read it"
        ))));
    };
    let must_change = entry
        .first("pwdMustChange")
        .is_some_and(|v| v.eq_ignore_ascii_case("TRUE"));
    Ok((!must_change).then(|| {
        Warning::blocking(format!(
            "password policy {dn} ({governs}) does not have pwdMustChange: TRUE, so the pwdReset \
             flag restricts NOTHING for its accounts: they can keep using the old password; set \
             pwdMustChange: TRUE on it"
        ))
    }))
}

#[async_trait]
impl Quirks for OpenLdap {
    const FLAVOR: Flavor = Flavor::Openldap;
    const ACCOUNT_ATTRS: &'static [&'static str] = &[FLAG, POLICY_SUBENTRY];
    const DETAIL_ATTRS: &'static [&'static str] = &["pwdChangedTime", "pwdAccountLockedTime", "pwdFailureTime"];
    const POLICY_ATTR: &'static str = POLICY_SUBENTRY;

    fn flagged(&self, e: &Entry) -> bool {
        e.first(FLAG).is_some_and(|v| v.eq_ignore_ascii_case("TRUE"))
    }

    fn limit_fix(&self, kind: LimitKind, c: &DirectoryConfig) -> String {
        limits::fix(kind, &c.bind_dn, &c.base_dn)
    }

    async fn details(&self, s: &Shared, e: &Entry, account: Account) -> Result<AccountDetails, DirectoryError> {
        let effective_policy = account.policy.clone().or_else(|| s.config.default_policy_dn.clone());
        Ok(AccountDetails {
            password_changed_at: e.first("pwdChangedTime").and_then(gentime::parse),
            locked_at: e.first("pwdAccountLockedTime").and_then(gentime::parse),
            failure_count: e.all("pwdFailureTime").len(),
            effective_policy,
            account,
        })
    }

    async fn policy_warnings(&self, s: &Shared, policies: &PolicyNames) -> Result<Vec<Warning>, DirectoryError> {
        let mut warnings = Vec::new();
        let mut checked = HashSet::new();
        for policy in policies {
            let (dn, governs) = match policy {
                Some(dn) => (dn.clone(), "named by pwdPolicySubentry"),
                None => match default_policy(s).await? {
                    Ok(dn) => (dn, "the default policy"),
                    Err(w) => {
                        warnings.push(w);
                        continue;
                    }
                },
            };
            if checked.insert(dn.to_ascii_lowercase()) {
                warnings.extend(check_policy(s, &dn, governs).await?);
            }
        }
        Ok(warnings)
    }

    async fn lockout(&self, s: &Shared, policy: Option<&str>) -> Result<Lockout, DirectoryError> {
        let dn = match policy {
            Some(dn) => dn.to_owned(),
            None => match default_policy(s).await? {
                Ok(dn) => dn,
                Err(w) => return Ok(Lockout::unknown(w.message)),
            },
        };
        let Some(e) = s.entry(&dn, &LOCKOUT_ATTRS).await? else {
            return Ok(Lockout::unknown(format!(
                "the password policy {dn} does not exist or is not readable by the service account"
            )));
        };
        let [on, max, interval] = LOCKOUT_ATTRS.map(|a| e.first(a));
        Ok(lockout_of(&dn, on, max, interval))
    }

    async fn rules(&self, s: &Shared, named: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError> {
        let (dn, governs) = match named {
            Some(dn) => (dn.to_owned(), "named by pwdPolicySubentry"),
            None => match default_policy(s).await? {
                Ok(dn) => (dn, "the default policy"),
                // Not known: the warning is policy_warnings' to give.
                Err(_) => return Ok(None),
            },
        };
        Ok(s.entry(&dn, &policy::ATTRS)
            .await?
            .and_then(|e| policy::rules(&e, governs)))
    }

    /// Only what stops the link flow from refusing earlier passwords: whether the writes are
    /// allowed cannot be told without writing.
    async fn write_warnings(&self, s: &Shared, dn: &str) -> Result<Option<Vec<Warning>>, DirectoryError> {
        Ok(history::HISTORY.warning(s, dn).await?.map(|w| vec![w]))
    }

    async fn mark(&self, s: &Shared, dn: &str) -> Result<(), DirectoryError> {
        ops::modify_ok(&s.pool, dn, "mark", vec![Mod::Replace(FLAG, HashSet::from(["TRUE"]))]).await
    }

    async fn clear(&self, s: &Shared, dn: &str) -> Result<(), DirectoryError> {
        // rc 16 (no such attribute): not flagged, nothing to clear.
        ops::modify_ok(&s.pool, dn, "clear", vec![Mod::Delete(FLAG, HashSet::new())]).await
    }

    async fn check_password(&self, s: &Shared, dn: &str, password: &Secret) -> Result<BindCheck, DirectoryError> {
        let endpoint = s.pool.endpoint();
        let mut ldap = match endpoint.bind(dn, password).await {
            Ok(ldap) => ldap,
            Err(DirectoryError::Bind { rc: 49, .. }) => return Ok(BindCheck::Refused),
            Err(e) => return Err(e),
        };
        let res = ldap
            .with_timeout(endpoint.timeout)
            .search(dn, Scope::Base, "(objectClass=*)", vec!["1.1"])
            .await
            .map_err(|e| DirectoryError::from_op(&endpoint.url, "search", dn, e, endpoint.timeout_secs()));
        let _ = ldap.unbind().await;
        match res?.1.rc {
            0 => Ok(BindCheck::Unrestricted),
            // ppolicy: "Operations are restricted to bind/unbind/abandon/StartTLS/modify password".
            50 => Ok(BindCheck::MustChange),
            rc => Err(DirectoryError::Operation {
                op: "search",
                dn: dn.to_owned(),
                rc,
                text: String::new(),
            }),
        }
    }

    async fn is_stored_password(&self, s: &Shared, dn: &str, candidate: &Secret, which: Stored) -> Known {
        match which {
            Stored::Current => {
                let entry = s.entry(dn, &["userPassword"]).await?;
                let values = entry.iter().flat_map(|e| e.all("userPassword")).map(|v| v.as_bytes());
                Ok(userpassword::matches_any(values, candidate.expose()))
            }
            Stored::Earlier => history::HISTORY.is_earlier(s, dn, candidate).await,
        }
    }

    async fn change_password(&self, s: &Shared, dn: &str, old: &Secret, new: &Secret) -> Result<(), PasswordError> {
        let endpoint = s.pool.endpoint();
        let mut ldap = match endpoint.bind(dn, old).await {
            Ok(ldap) => ldap,
            Err(DirectoryError::Bind { rc: 49, .. }) => return Err(PasswordError::WrongCurrentPassword),
            Err(e) => return Err(e.into()),
        };
        let exop = ldap3::exop::PasswordModify {
            user_id: None,
            old_pass: Some(old.expose()),
            new_pass: Some(new.expose()),
        };
        let res = ldap
            .with_timeout(endpoint.timeout)
            .extended(exop)
            .await
            .map_err(|e| DirectoryError::from_op(&endpoint.url, "password change", dn, e, endpoint.timeout_secs()));
        let _ = ldap.unbind().await;
        let result = res?.1;
        refusal(dn, "password change", result.rc, result.text)
    }

    async fn set_password(&self, s: &Shared, dn: &str, new: &Secret) -> Result<(), PasswordError> {
        let endpoint = s.pool.endpoint();
        let mut ldap = s.pool.get().await?;
        let (rc, text) = match s.config.password_hash {
            PasswordHash::Server => {
                let exop = ldap3::exop::PasswordModify {
                    user_id: Some(dn),
                    old_pass: None,
                    new_pass: Some(new.expose()),
                };
                let res = ldap.with_timeout(endpoint.timeout).extended(exop).await;
                let res = res.map_err(|e| {
                    DirectoryError::from_op(&endpoint.url, "password set", dn, e, endpoint.timeout_secs())
                })?;
                (res.1.rc, res.1.text)
            }
            PasswordHash::Argon2 => {
                let value = userpassword::argon2_value(new.expose()).map_err(|e| PasswordError::Refused {
                    reason: Refusal::NotPrepared,
                    detail: e,
                })?;
                let mods = vec![Mod::Replace("userPassword", HashSet::from([value.as_str()]))];
                let res = ldap.with_timeout(endpoint.timeout).modify(dn, mods).await;
                let res = res.map_err(|e| {
                    DirectoryError::from_op(&endpoint.url, "password set", dn, e, endpoint.timeout_secs())
                })?;
                (res.rc, res.text)
            }
        };
        refusal(dn, "password set", rc, text)?;
        super::test_hook::between_set_and_clear();
        // An administrative set raises pwdReset when pwdMustChange is on: clear it explicitly.
        // Two operations: a process stopped between them leaves the flag with the new password,
        // which the portal's record of its write lets reconciliation finish (portal/in_flight.rs).
        self.clear(s, dn).await?;
        Ok(())
    }

    async fn lock_state(&self, s: &Shared, dn: &str, _: AtDeadline) -> Result<Option<bool>, DirectoryError> {
        lock::state(s, dn).await
    }

    async fn lock(&self, s: &Shared, dn: &str, _: AtDeadline) -> Result<(), DirectoryError> {
        lock::lock(s, dn).await
    }

    async fn unlock(&self, s: &Shared, dn: &str, _: AtDeadline) -> Result<(), DirectoryError> {
        lock::unlock(s, dn).await
    }

    async fn lock_warnings(
        &self,
        s: &Shared,
        policies: &PolicyNames,
        _: AtDeadline,
    ) -> Result<Vec<Warning>, DirectoryError> {
        lock::warnings(s, policies).await
    }
}

/// The ppolicy attributes that say when an account locks.
const LOCKOUT_ATTRS: [&str; 3] = ["pwdLockout", "pwdMaxFailure", "pwdFailureCountInterval"];

/// A policy's lockout rules from its `pwdLockout`, `pwdMaxFailure` and `pwdFailureCountInterval`
/// (absent values take ppolicy's defaults: no lockout, failures kept until a successful bind).
fn lockout_of(dn: &str, on: Option<&str>, max: Option<&str>, interval: Option<&str>) -> Lockout {
    let num = |v: Option<&str>| v.and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(0);
    let locks = on.is_some_and(|v| v.eq_ignore_ascii_case("TRUE"));
    let threshold = match num(max) {
        n if locks && n > 0 => Threshold::After(n),
        _ => Threshold::Never,
    };
    let window = match num(interval) {
        0 => None,
        secs => Some(std::time::Duration::from_secs(u64::from(secs))),
    };
    Lockout {
        threshold,
        window,
        source: format!("pwdLockout/pwdMaxFailure of {dn}"),
    }
}

/// Turns a password operation's result into success or a refusal and its reason.
fn refusal(dn: &str, op: &'static str, rc: u32, text: String) -> Result<(), PasswordError> {
    let lower = text.to_ascii_lowercase();
    let reason = match rc {
        0 => return Ok(()),
        19 | 53 if lower.contains("history") => Refusal::UsedBefore,
        19 | 53 if lower.contains("too young") => Refusal::TooRecent,
        19 | 53 if lower.contains("not being changed") => Refusal::SameAsCurrent,
        19 | 53 if lower.contains("short") => Refusal::TooShort { min: None },
        19 | 53 if lower.contains("quality") => Refusal::TooWeak,
        19 => Refusal::Unspecified,
        _ => {
            return Err(PasswordError::Directory(DirectoryError::Operation {
                op,
                dn: dn.to_owned(),
                rc,
                text,
            }));
        }
    };
    Err(PasswordError::Refused {
        reason,
        detail: super::error::describe_rc(rc, &text),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn lockout_rules_from_the_policy() {
        // (pwdLockout, pwdMaxFailure, pwdFailureCountInterval) → (threshold, window)
        let table = [
            ((Some("TRUE"), Some("5"), Some("300")), (Threshold::After(5), Some(300))),
            ((Some("TRUE"), Some("3"), None), (Threshold::After(3), None)),
            ((Some("TRUE"), Some("0"), Some("300")), (Threshold::Never, Some(300))),
            ((Some("FALSE"), Some("5"), Some("300")), (Threshold::Never, Some(300))),
            ((None, Some("5"), None), (Threshold::Never, None)),
            ((Some("TRUE"), Some("x"), Some("0")), (Threshold::Never, None)),
        ];
        for ((on, max, interval), (threshold, window)) in table {
            let l = lockout_of("cn=p", on, max, interval);
            assert_eq!(
                (l.threshold, l.window),
                (threshold, window.map(Duration::from_secs)),
                "{on:?} {max:?} {interval:?}"
            );
        }
    }
}
