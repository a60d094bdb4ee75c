//! `directory.dont_expire_accounts = "clear-and-restore"`: the Active Directory flavour's side of
//! the [`Ledger`]. Marking a DONT_EXPIRE_PASSWORD account clears the bit (after entering the
//! account in the ledger: write-ahead); revert and exemption set it again with the prior
//! `pwdLastSet`, the account's completed change (portal) or reconciliation seeing it unflagged set
//! only the bit; either way the account then leaves the ledger.

use std::collections::HashSet;

use ldap3::Mod;

use super::super::common::Shared;
use super::super::ledger::{Cleared, Ledger};
use super::super::search::Entry;
use super::super::{DirectoryError, ops};
use super::{ActiveDirectory, DONT_EXPIRE_PASSWORD, PWD_LAST_SET, PwState, STATE_ATTRS, UAC};

/// What the campaign does when it is done with an account the ledger holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Restore {
    /// Revert or exemption: the flag as it was before (`pwdLastSet` 0 again if it was).
    PriorState,
    /// The password was changed: only the bit comes back.
    BitOnly,
}

impl ActiveDirectory {
    /// The ledger, opened on first use (an earlier version's file imported then); `None`
    /// unless `dont_expire_accounts = "clear-and-restore"`.
    pub(super) async fn ledger(&self) -> Result<Option<&Ledger>, DirectoryError> {
        let Some(legacy) = &self.ledger_path else {
            return Ok(None);
        };
        let ledger = self
            .ledger
            .get_or_try_init(|| async {
                let store = self.ledger_store.clone().ok_or_else(|| DirectoryError::Ledger {
                    message: "this command does not open the store the ledger is kept in".into(),
                })?;
                Ledger::open(store, legacy).await
            })
            .await?;
        Ok(Some(ledger))
    }

    /// The modification clearing the bit, for an account that has it (recorded in the ledger
    /// first); nothing otherwise, or without clear-and-restore.
    pub(super) async fn clear_bit_before_mark(
        &self,
        s: &Shared,
        dn: &str,
    ) -> Result<Option<Mod<String>>, DirectoryError> {
        let Some(ledger) = self.ledger().await? else {
            return Ok(None);
        };
        let entry = s.entry(dn, STATE_ATTRS).await?;
        let state = entry.as_ref().map(PwState::of).unwrap_or_default();
        if !state.never_expires() {
            return Ok(None);
        }
        let prior = Cleared {
            pwd_last_set_zero: state.pwd_last_set == Some(0),
        };
        ledger.record(dn, prior).await?;
        let uac = (state.uac & !DONT_EXPIRE_PASSWORD).to_string();
        Ok(Some(Mod::Replace(UAC.to_owned(), HashSet::from([uac]))))
    }

    /// Sets DONT_EXPIRE_PASSWORD again on an account the ledger holds (nothing otherwise), then
    /// takes it off the ledger.
    pub(super) async fn restore(&self, s: &Shared, dn: &str, how: Restore) -> Result<(), DirectoryError> {
        let Some(ledger) = self.ledger().await? else {
            return Ok(());
        };
        let Some(prior) = ledger.get(dn).await? else {
            return Ok(());
        };
        let Some(entry) = s.entry(dn, STATE_ATTRS).await? else {
            return ledger.forget(dn).await;
        };
        let uac = (PwState::of(&entry).uac | DONT_EXPIRE_PASSWORD).to_string();
        let mut mods = vec![Mod::Replace(UAC, HashSet::from([uac.as_str()]))];
        if how == Restore::PriorState && prior.pwd_last_set_zero {
            mods.push(Mod::Replace(PWD_LAST_SET, HashSet::from(["0"])));
        }
        ops::modify_ok(&s.pool, dn, "restore DONT_EXPIRE_PASSWORD", mods).await?;
        tracing::info!(dn, "DONT_EXPIRE_PASSWORD set again");
        ledger.forget(dn).await
    }

    /// Reconciliation's side of the ledger: an account no longer flagged is done with, whatever
    /// changed that (its password, or someone clearing the flag: then reconciliation marks it
    /// again, which clears the bit again).
    pub(super) async fn settle(&self, s: &Shared, dn: &str, entry: &Entry) -> Result<(), DirectoryError> {
        if self.ledger_path.is_some() && !PwState::of(entry).flagged() {
            self.restore(s, dn, Restore::BitOnly).await?;
        }
        Ok(())
    }

    /// `pwdLastSet: -1`, then the ledger's restore for `how`.
    pub(super) async fn unflag(&self, s: &Shared, dn: &str, how: Restore) -> Result<(), DirectoryError> {
        let mods = vec![Mod::Replace(PWD_LAST_SET, HashSet::from(["-1"]))];
        ops::modify_ok(&s.pool, dn, "clear", mods).await?;
        self.restore(s, dn, how).await
    }
}
