//! OpenLDAP's deadline lock: `pwdAccountLockedTime: 000001010000Z`, ppolicy's permanent
//! administrative lock (until the attribute is removed). ppolicy has no separate "disabled"
//! state, so `disable` is the same lock. It takes effect only where the applying policy has
//! `pwdLockout: TRUE`; without it slapd stores the attribute and ignores it, so a campaign that
//! would lock is refused (exit 69) unless every policy in its scope has it.
//!
//! Any `pwdAccountLockedTime` counts as locked (a failure lockout too): an account found locked
//! before the deadline is left alone, and stays locked when the deadline's lock is undone.

use std::collections::HashSet;

use ldap3::Mod;

use super::super::common::{PolicyNames, Shared};
use super::super::{DirectoryError, Warning, ops};

const LOCKED_TIME: &str = "pwdAccountLockedTime";
/// "Locked until an administrator removes it" (ppolicy draft, 5.3.3).
const PERMANENT: &str = "000001010000Z";

pub(super) async fn state(s: &Shared, dn: &str) -> Result<Option<bool>, DirectoryError> {
    Ok(s.entry(dn, &[LOCKED_TIME])
        .await?
        .map(|e| e.first(LOCKED_TIME).is_some()))
}

pub(super) async fn lock(s: &Shared, dn: &str) -> Result<(), DirectoryError> {
    let mods = vec![Mod::Replace(LOCKED_TIME, HashSet::from([PERMANENT]))];
    ops::modify_ok(&s.pool, dn, "lock", mods).await
}

pub(super) async fn unlock(s: &Shared, dn: &str) -> Result<(), DirectoryError> {
    // Only the deadline's value goes; rc 16 (no such value): not locked by it, nothing to undo.
    let mods = vec![Mod::Delete(LOCKED_TIME, HashSet::from([PERMANENT]))];
    ops::modify_ok(&s.pool, dn, "unlock", mods).await
}

/// A blocking warning for each policy in `policies` without `pwdLockout: TRUE`.
pub(super) async fn warnings(s: &Shared, policies: &PolicyNames) -> Result<Vec<Warning>, DirectoryError> {
    let mut warnings = Vec::new();
    let mut checked = HashSet::new();
    for policy in policies {
        let dn = match policy {
            Some(dn) => dn.clone(),
            None => match super::default_policy(s).await? {
                Ok(dn) => dn,
                Err(_) => {
                    warnings.push(Warning::blocking(
                        "the default password policy is not known, so pwresetd cannot check that it has \
                         pwdLockout: TRUE, without which the deadline's lock (pwdAccountLockedTime) locks \
                         nothing; set directory.default_policy_dn and let the service account read it",
                    ));
                    continue;
                }
            },
        };
        if !checked.insert(dn.to_ascii_lowercase()) {
            continue;
        }
        let lockout = s.entry(&dn, &["pwdLockout"]).await?;
        let on = lockout
            .as_ref()
            .and_then(|e| e.first("pwdLockout"))
            .is_some_and(|v| v.eq_ignore_ascii_case("TRUE"));
        if !on {
            warnings.push(Warning::blocking(format!(
                "password policy {dn} does not have pwdLockout: TRUE (or is not readable), so the \
                 deadline's lock (pwdAccountLockedTime) locks NOTHING for its accounts; set \
                 pwdLockout: TRUE on it (pwdMaxFailure: 0 keeps failed binds from locking anyone), \
                 or start the campaign with --at-deadline none"
            )));
        }
    }
    Ok(warnings)
}
