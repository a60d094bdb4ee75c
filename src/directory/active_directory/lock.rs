//! Active Directory's deadline lock: `userAccountControl` ACCOUNTDISABLE (0x2), for `disable`
//! and for `lock` alike. Binds then fail with `data 533`.
//!
//! Why `lock` is the disable bit too: AD has no administrative lock. Its lockout belongs to the
//! server (`lockoutTime` accepts only 0, which unlocks), and lasts `lockoutDuration`; an
//! `accountExpires` in the past would stop sign-ins too, but means "contract ended" to HR
//! processes, needs a further delegated right, and hides the prior expiry date pwresetd would
//! have to restore. The disable bit is the state helpdesks already see and reverse, and only
//! the one bit is touched: the prior bit is recorded, and an account disabled before the
//! deadline stays disabled when the lock is undone.

use std::collections::HashSet;

use ldap3::Mod;

use super::super::common::Shared;
use super::super::{DirectoryError, ops};
use super::{ACCOUNTDISABLE, PwState, UAC};

pub(super) async fn state(s: &Shared, dn: &str) -> Result<Option<bool>, DirectoryError> {
    Ok(s.entry(dn, &[UAC]).await?.map(|e| PwState::of(&e).disabled()))
}

pub(super) async fn lock(s: &Shared, dn: &str) -> Result<(), DirectoryError> {
    set_bit(s, dn, "lock", |uac| uac | ACCOUNTDISABLE).await
}

pub(super) async fn unlock(s: &Shared, dn: &str) -> Result<(), DirectoryError> {
    set_bit(s, dn, "unlock", |uac| uac & !ACCOUNTDISABLE).await
}

/// Reads `userAccountControl` and writes it back changed by `change`, when that changes it.
async fn set_bit(s: &Shared, dn: &str, op: &'static str, change: impl Fn(u32) -> u32) -> Result<(), DirectoryError> {
    let Some(entry) = s.entry(dn, &[UAC]).await? else {
        return Err(DirectoryError::Operation {
            op,
            dn: dn.to_owned(),
            rc: 32,
            text: "no such object".into(),
        });
    };
    let uac = PwState::of(&entry).uac;
    let next = change(uac);
    if next == uac {
        return Ok(());
    }
    let value = next.to_string();
    let mods = vec![Mod::Replace(UAC, HashSet::from([value.as_str()]))];
    ops::modify_ok(&s.pool, dn, op, mods).await
}
