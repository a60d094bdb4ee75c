//! 389 Directory Server (measured against 389-ds-base 2.3; see DS389-FACTS.md).
//!
//! Mark = `passwordExpirationTime: 19700101000000Z`, which restricts the user to a password change
//! when the server's `passwordMustChange` is on (warned about when off, or when `cn=config` is not
//! readable). Clear = delete exactly that value (an expiry set by anything else stays). `pwdReset`
//! is the server's (no-user-modification): never written. It is not part of "flagged" either: it
//! stays TRUE after an administrative set whose expiry was cleared, while the user is free.
//! Flagged = the 1970 mark, or a real expiry date in the past.
//!
//! A marked user's bind succeeds and everything else answers rc 53: "must change" is recognised
//! by the PasswordExpired control (or the password policy control's changeAfterReset) on the bind.
//! The user's change is Password Modify with the old password (over TLS). The link flow's set is
//! a `replace: userPassword` as the service account: a member of `passwordAdminDN` skips the
//! server's checks (pwresetd's `[policy]` is then the only one), a non-member's set is checked
//! like a user's. Disabled accounts (`nsAccountLock: TRUE`) are excluded from the scope.

mod password;
mod policy;

use std::collections::{BTreeSet, HashSet};

use async_trait::async_trait;
use chrono::Utc;
use ldap3::{Mod, Scope, ldap_escape};
use tokio::sync::mpsc;

use super::conn::{Endpoint, Pool};
use super::search::{self, Entry};
use super::{
    Account, AccountDetails, BindCheck, Directory, DirectoryError, ExclusionReason, PasswordError, Presence, ScanItem,
    Warning, gentime, groups, ops, scope,
};
use crate::directory::config::{DirectoryConfig, Flavor};
use crate::secret::Secret;

const EXPIRY: &str = "passwordExpirationTime";
/// The value that means "must change at the next bind" (389's NO_TIME).
const MARK: &str = "19700101000000Z";
const LOCAL_POLICY: &str = "pwdpolicysubentry";
const ACCOUNT_LOCK: &str = "nsAccountLock";
const GLOBAL_POLICY: &str = "cn=config";

pub struct Ds389 {
    pool: Pool,
    config: DirectoryConfig,
}

/// Whether a `passwordExpirationTime` value restricts the account now.
fn expired(value: Option<&str>) -> bool {
    let Some(t) = value.and_then(gentime::parse) else {
        return false;
    };
    // 19700101000000Z is the mark; 19700101000001Z is what a change leaves when expiry is off.
    t.timestamp() == 0 || (t.timestamp() > 1 && t <= Utc::now())
}

/// When the password was last changed: `pwdUpdateTime` (kept when `passwordTrackUpdateTime` is
/// on), else the newest `passwordHistory` value's timestamp prefix (the time the previous
/// password was replaced). The history's hashes themselves are not looked at.
fn changed_at(e: &Entry) -> Option<chrono::DateTime<Utc>> {
    e.first("pwdUpdateTime").and_then(gentime::parse).or_else(|| {
        e.all("passwordHistory")
            .iter()
            .filter_map(|v| v.get(..15).and_then(gentime::parse))
            .max()
    })
}

impl Ds389 {
    pub fn new(config: &DirectoryConfig) -> Result<Self, DirectoryError> {
        let endpoint = Endpoint::new(config)?;
        Ok(Ds389 {
            pool: Pool::new(endpoint, config),
            config: config.clone(),
        })
    }

    fn account_attrs(&self) -> Vec<&str> {
        let c = &self.config;
        vec![
            &c.login_attribute,
            &c.mail_attribute,
            &c.display_name_attribute,
            &c.given_name_attribute,
            &c.surname_attribute,
            &c.language_attribute,
            EXPIRY,
            LOCAL_POLICY,
            ACCOUNT_LOCK,
        ]
    }

    fn detail_attrs(&self) -> Vec<&str> {
        let mut attrs = self.account_attrs();
        attrs.extend(["pwdUpdateTime", "passwordHistory", "passwordRetryCount"]);
        attrs
    }

    fn account(&self, e: &Entry) -> Account {
        e.account(&self.config, expired(e.first(EXPIRY)), e.first(LOCAL_POLICY))
    }

    fn details(&self, e: &Entry) -> AccountDetails {
        let account = self.account(e);
        let effective_policy = account.policy.clone().unwrap_or_else(|| GLOBAL_POLICY.to_owned());
        AccountDetails {
            password_changed_at: changed_at(e),
            // 389 records when a lockout ends (accountUnlockTime), not when it began.
            locked_at: None,
            failure_count: e.first("passwordRetryCount").and_then(|v| v.parse().ok()).unwrap_or(0),
            effective_policy: Some(effective_policy),
            account,
        }
    }

    fn exclusion(&self, e: &Entry) -> Option<ExclusionReason> {
        if e.first(&self.config.login_attribute).is_none_or(str::is_empty) {
            Some(ExclusionReason::MissingLogin)
        } else if e.first(ACCOUNT_LOCK).is_some_and(|v| v.eq_ignore_ascii_case("TRUE")) {
            Some(ExclusionReason::Disabled)
        } else {
            None
        }
    }

    async fn read_entry(&self, dn: &str) -> Result<Option<Entry>, DirectoryError> {
        let attrs = self.detail_attrs();
        let entries = search::read(&self.pool, dn, Scope::Base, "(objectClass=*)", &attrs).await?;
        Ok(entries.into_iter().next())
    }
}

#[async_trait]
impl Directory for Ds389 {
    fn flavor(&self) -> Flavor {
        Flavor::Ds389
    }

    async fn check(&self) -> Result<Vec<Warning>, DirectoryError> {
        self.pool.get().await?;
        self.policy_warnings(&BTreeSet::from([None])).await
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        search::ping(&self.pool).await
    }

    async fn scan(&self, sink: mpsc::Sender<ScanItem>) -> Result<(), DirectoryError> {
        let attrs = self.account_attrs();
        search::scan_scope(&self.pool, &self.config, &attrs, &sink, |e| match self.exclusion(&e) {
            None => ScanItem::InScope(self.account(&e)),
            Some(reason) => ScanItem::Excluded {
                login: e.first(&self.config.login_attribute).map(str::to_owned),
                dn: e.dn,
                reason,
            },
        })
        .await
    }

    async fn policy_warnings(&self, policies: &BTreeSet<Option<String>>) -> Result<Vec<Warning>, DirectoryError> {
        let mut warnings = Vec::new();
        let mut checked = HashSet::new();
        for policy in policies {
            let (dn, governs) = match policy {
                Some(dn) => (dn.as_str(), "named by pwdpolicysubentry"),
                None => (GLOBAL_POLICY, "the global policy"),
            };
            if checked.insert(dn.to_ascii_lowercase()) {
                warnings.extend(policy::check(&self.pool, &self.config.policy_floor, dn, governs).await?);
            }
        }
        Ok(warnings)
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        let c = &self.config;
        let filter = format!("(&{}({}={}))", c.user_filter, c.login_attribute, ldap_escape(login));
        let entries = search::read(&self.pool, &c.base_dn, Scope::Subtree, &filter, &self.detail_attrs()).await?;
        match entries.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(self.details(one))),
            many => Err(DirectoryError::Operation {
                op: "lookup",
                dn: c.base_dn.clone(),
                rc: 0,
                text: format!("login {login:?} is ambiguous: {} entries have it", many.len()),
            }),
        }
    }

    async fn read(&self, dn: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        Ok(self.read_entry(dn).await?.map(|e| self.details(&e)))
    }

    async fn locate(&self, dn: &str) -> Result<Presence, DirectoryError> {
        let Some(entry) = self.read_entry(dn).await? else {
            return Ok(Presence::Gone);
        };
        let matching = scope::is_under(dn, &self.config.base_dn)
            && self.exclusion(&entry).is_none()
            && !search::read(
                &self.pool,
                dn,
                Scope::Base,
                &scope::scope_filter(&self.config),
                &["1.1"],
            )
            .await?
            .is_empty();
        let details = Box::new(self.details(&entry));
        Ok(if matching {
            Presence::InScope(details)
        } else {
            Presence::OutOfScope(details)
        })
    }

    async fn mark(&self, dn: &str) -> Result<(), DirectoryError> {
        ops::modify_ok(
            &self.pool,
            dn,
            "mark",
            vec![Mod::Replace(EXPIRY, HashSet::from([MARK]))],
        )
        .await
    }

    async fn clear(&self, dn: &str) -> Result<(), DirectoryError> {
        // Only the mark goes: an expiry the server set since (a change) stays. rc 16 = not marked.
        ops::modify_ok(
            &self.pool,
            dn,
            "clear",
            vec![Mod::Delete(EXPIRY, HashSet::from([MARK]))],
        )
        .await
    }

    async fn check_password(&self, dn: &str, password: &Secret) -> Result<BindCheck, DirectoryError> {
        password::check(self.pool.endpoint(), dn, password).await
    }

    async fn is_current_password(&self, _dn: &str, _candidate: &Secret) -> Result<Option<bool>, DirectoryError> {
        // The service account cannot read userPassword, and 389 compares userPassword values
        // as stored (hashed), so neither a read nor a compare tells; a bind would count.
        Ok(None)
    }

    async fn change_password_as_user(&self, dn: &str, old: &Secret, new: &Secret) -> Result<(), PasswordError> {
        password::change_as_user(self.pool.endpoint(), dn, old, new).await
    }

    async fn set_password_as_admin(&self, dn: &str, new: &Secret) -> Result<(), PasswordError> {
        password::set_as_admin(&self.pool, dn, new).await?;
        // A passwordAdminDN member's set marks the account (1970 expiry): take that off.
        self.clear(dn).await?;
        Ok(())
    }

    async fn authenticate(
        &self,
        login: &str,
        password: &Secret,
        base_dn: &str,
    ) -> Result<Option<String>, DirectoryError> {
        if login.is_empty() || password.expose().is_empty() {
            return Ok(None);
        }
        let filter = format!("({}={})", self.config.login_attribute, ldap_escape(login));
        let entries = search::read(&self.pool, base_dn, Scope::Subtree, &filter, &["1.1"]).await?;
        let [entry] = entries.as_slice() else { return Ok(None) };
        match self.pool.endpoint().bind(&entry.dn, password).await {
            Ok(mut ldap) => {
                let _ = ldap.unbind().await;
                Ok(Some(entry.dn.clone()))
            }
            Err(DirectoryError::Bind { rc: 49 | 53, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn is_member(&self, dn: &str, group_dn: &str) -> Result<bool, DirectoryError> {
        let base = groups::context_of(&self.pool, group_dn, &self.config.base_dn).await?;
        groups::walk_up(&self.pool, &base, dn, group_dn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_values() {
        let table = [
            (Some(MARK), true),
            (Some("19700101000001Z"), false),
            (Some("20000101000000Z"), true),
            (Some("20991231235959Z"), false),
            (Some("garbage"), false),
            (None, false),
        ];
        for (value, want) in table {
            assert_eq!(expired(value), want, "{value:?}");
        }
    }
}
