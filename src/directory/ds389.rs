//! 389 Directory Server (measured against 389-ds-base 2.3; see DS389-FACTS.md).
//!
//! Mark = `passwordExpirationTime: 19700101000000Z`, which restricts the user to a password change
//! when the server's `passwordMustChange` is on (warned about when off, or when `cn=config` is not
//! readable). Clear = delete exactly that value (an expiry set by anything else stays). `pwdReset`
//! is the server's (no-user-modification): never written. It is not part of "flagged" either: it
//! stays TRUE after an administrative set whose expiry was cleared, while the user is free.
//! Flagged = the 1970 mark, or a real expiry date in the past.
//!
//! Lockout: the applying policy's `passwordLockout`, `passwordMaxFailure` and
//! `passwordResetFailureCount` (cn=config is often not readable by the service account: then
//! unknown).
//!
//! A marked user's bind succeeds and everything else answers rc 53: "must change" is recognised
//! by the PasswordExpired control (or the password policy control's changeAfterReset) on the bind.
//! The user's change is Password Modify with the old password (over TLS). The link flow's set is
//! a `replace: userPassword` as the service account: a member of `passwordAdminDN` skips the
//! server's checks (pwresetd's `[policy]` is then the only one), a non-member's set is checked
//! like a user's. A member's set also marks the account, after the server has answered:
//! `reset.rs` waits for that write before taking the mark off. Disabled accounts
//! (`nsAccountLock: TRUE`) are excluded from the scope.
//! Whether a candidate is the current password cannot be told: the service account cannot read
//! `userPassword`, 389 compares its values as stored (hashed), and a bind would count as a failure.
//! Whether it is an earlier one is told from `passwordHistory` (`history.rs`), which the service
//! account's set skips.
//! A scope larger than the server's size or look-through limits needs the service account's own
//! `nsSizeLimit`/`nsPagedSizeLimit`/`nsLookThroughLimit` lifted (`limits.rs`).

mod history;
mod limits;
mod lock;
mod password;
mod policy;
mod reset;

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::Utc;
use ldap3::Mod;

use super::common::{Known, PolicyNames, Quirks, Shared};
use super::search::Entry;
use super::userpassword::Stored;
use super::{
    Account, AccountDetails, AtDeadline, BindCheck, DirectoryError, ExclusionReason, LimitKind, Lockout, PasswordError,
    Warning, gentime, ops,
};
use crate::directory::config::{DirectoryConfig, Flavor};
use crate::policy::DirectoryRules;
use crate::secret::Secret;

const EXPIRY: &str = "passwordExpirationTime";
/// The value that means "must change at the next bind" (389's NO_TIME).
const MARK: &str = "19700101000000Z";
const LOCAL_POLICY: &str = "pwdpolicysubentry";
const ACCOUNT_LOCK: &str = "nsAccountLock";
const GLOBAL_POLICY: &str = "cn=config";

/// 389-DS's quirks: the rest of the work is [`LdapDirectory`](super::common::LdapDirectory)'s.
pub struct Ds389;

/// The policy entry for an account's `pwdpolicysubentry` (`None`: the global one), and how it
/// governs.
fn governing(named: Option<&str>) -> (&str, &'static str) {
    match named {
        Some(dn) => (dn, "named by pwdpolicysubentry"),
        None => (GLOBAL_POLICY, "the global policy"),
    }
}

/// Takes the mark off. Only the mark goes: an expiry the server set since (a change) stays.
/// rc 16 = not marked.
async fn clear(s: &Shared, dn: &str) -> Result<(), DirectoryError> {
    ops::modify_ok(&s.pool, dn, "clear", vec![Mod::Delete(EXPIRY, HashSet::from([MARK]))]).await
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

#[async_trait]
impl Quirks for Ds389 {
    const FLAVOR: Flavor = Flavor::Ds389;
    const ACCOUNT_ATTRS: &'static [&'static str] = &[EXPIRY, LOCAL_POLICY, ACCOUNT_LOCK];
    const DETAIL_ATTRS: &'static [&'static str] = &["pwdUpdateTime", "passwordHistory", "passwordRetryCount"];
    const POLICY_ATTR: &'static str = LOCAL_POLICY;

    fn flagged(&self, e: &Entry) -> bool {
        expired(e.first(EXPIRY))
    }

    fn exclusion(&self, e: &Entry) -> Option<ExclusionReason> {
        e.first(ACCOUNT_LOCK)
            .is_some_and(|v| v.eq_ignore_ascii_case("TRUE"))
            .then_some(ExclusionReason::Disabled)
    }

    fn limit_fix(&self, kind: LimitKind, c: &DirectoryConfig) -> String {
        limits::fix(kind, &c.bind_dn)
    }

    async fn details(&self, _s: &Shared, e: &Entry, account: Account) -> Result<AccountDetails, DirectoryError> {
        let effective_policy = account.policy.clone().unwrap_or_else(|| GLOBAL_POLICY.to_owned());
        Ok(AccountDetails {
            password_changed_at: changed_at(e),
            // 389 records when a lockout ends (accountUnlockTime), not when it began.
            locked_at: None,
            failure_count: e.first("passwordRetryCount").and_then(|v| v.parse().ok()).unwrap_or(0),
            effective_policy: Some(effective_policy),
            account,
        })
    }

    async fn policy_warnings(&self, s: &Shared, policies: &PolicyNames) -> Result<Vec<Warning>, DirectoryError> {
        let mut warnings = Vec::new();
        let mut checked = HashSet::new();
        for named in policies {
            let (dn, governs) = governing(named.as_deref());
            if checked.insert(dn.to_ascii_lowercase()) {
                let entry = policy::read(&s.pool, dn).await?;
                warnings.extend(policy::warnings(entry.as_ref(), dn, governs));
            }
        }
        Ok(warnings)
    }

    async fn lockout(&self, s: &Shared, policy: Option<&str>) -> Result<Lockout, DirectoryError> {
        policy::lockout(&s.pool, policy.unwrap_or(GLOBAL_POLICY)).await
    }

    async fn rules(&self, s: &Shared, named: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError> {
        let (dn, governs) = governing(named);
        Ok(policy::read(&s.pool, dn).await?.map(|e| policy::rules(&e, governs)))
    }

    /// Only what stops the link flow from refusing earlier passwords: whether the writes are
    /// allowed cannot be told without writing.
    async fn write_warnings(&self, s: &Shared, dn: &str) -> Result<Option<Vec<Warning>>, DirectoryError> {
        Ok(history::HISTORY.warning(s, dn).await?.map(|w| vec![w]))
    }

    async fn mark(&self, s: &Shared, dn: &str) -> Result<(), DirectoryError> {
        ops::modify_ok(&s.pool, dn, "mark", vec![Mod::Replace(EXPIRY, HashSet::from([MARK]))]).await
    }

    async fn clear(&self, s: &Shared, dn: &str) -> Result<(), DirectoryError> {
        clear(s, dn).await
    }

    async fn check_password(&self, s: &Shared, dn: &str, password: &Secret) -> Result<BindCheck, DirectoryError> {
        password::check(s.pool.endpoint(), dn, password).await
    }

    /// The current password cannot be told (module comment); earlier ones from `history.rs`.
    async fn is_stored_password(&self, s: &Shared, dn: &str, candidate: &Secret, which: Stored) -> Known {
        match which {
            Stored::Current => Ok(None),
            Stored::Earlier => history::HISTORY.is_earlier(s, dn, candidate).await,
        }
    }

    async fn change_password(&self, s: &Shared, dn: &str, old: &Secret, new: &Secret) -> Result<(), PasswordError> {
        password::change_as_user(s.pool.endpoint(), dn, old, new).await
    }

    async fn set_password(&self, s: &Shared, dn: &str, new: &Secret) -> Result<(), PasswordError> {
        // A passwordAdminDN member's set marks the account, after the server's answer: see reset.rs.
        reset::set(s, dn, new).await
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
