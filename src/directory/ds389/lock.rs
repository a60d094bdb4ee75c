//! 389-DS's deadline lock: `nsAccountLock: true`, the server's own "inactivated account" (binds
//! then fail with rc 53). It is also what 389 calls disabled, so `lock` and `disable` are the same
//! here. The service account needs write access to `nsAccountLock`. An account found inactivated
//! before the deadline is left alone and stays so when the deadline's lock is undone.

use std::collections::HashSet;

use ldap3::Mod;

use super::super::DirectoryError;
use super::super::common::Shared;
use super::super::ops;

const ACCOUNT_LOCK: &str = "nsAccountLock";

pub(super) async fn state(s: &Shared, dn: &str) -> Result<Option<bool>, DirectoryError> {
    let entry = s.entry(dn, &[ACCOUNT_LOCK]).await?;
    Ok(entry.map(|e| e.first(ACCOUNT_LOCK).is_some_and(|v| v.eq_ignore_ascii_case("TRUE"))))
}

pub(super) async fn lock(s: &Shared, dn: &str) -> Result<(), DirectoryError> {
    let mods = vec![Mod::Replace(ACCOUNT_LOCK, HashSet::from(["true"]))];
    ops::modify_ok(&s.pool, dn, "lock", mods).await
}

pub(super) async fn unlock(s: &Shared, dn: &str) -> Result<(), DirectoryError> {
    // rc 16 (no such attribute): not locked, nothing to undo.
    let mods = vec![Mod::Delete(ACCOUNT_LOCK, HashSet::new())];
    ops::modify_ok(&s.pool, dn, "unlock", mods).await
}
