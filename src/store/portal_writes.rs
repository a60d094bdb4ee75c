//! The portal's administrative password writes, one row per account, from just before the write
//! is sent until the account's change is recorded. Some flavours take a second operation to
//! finish such a change (OpenLDAP clears the `pwdReset` the write raises); a process killed
//! between the two leaves the new password with the flag, and the row is what tells
//! reconciliation (`campaign::reconcile`) and a retry of the link (`portal/in_flight.rs`) that
//! the change was the portal's own. This file only keeps the rows; it decides nothing.
//!
//! A row holds who wrote (a holder name, whose process may be found dead), when, whether the
//! attempt ended unconfirmed, and an argon2id PHC string of the password (made by the policy's
//! history hasher, never a fast hash), so that a retry with the same password is not refused
//! as "the current password". Keyed by the lowercased DN. One statement each; plain SQL with
//! `?N` placeholders, for both backends.

use super::db::{OptionalExtension, params};

use super::{Store, StoreError, db};

/// Rows older than this (milliseconds) are dropped when another write begins and by `serve`'s
/// housekeeping: far past the time a row can decide anything (reconciliation's window, a
/// note's hour).
const KEEP_MS: i64 = 24 * 3600 * 1000;

/// Deletes the rows started before `?1` (by the `started_at` index).
const PRUNE: &str = "DELETE FROM portal_writes WHERE started_at < ?1";

/// One remembered write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalWriteRow {
    pub holder: String,
    /// The password's argon2id PHC string.
    pub phc: String,
    /// Milliseconds since the epoch, just before the write was sent.
    pub started_at: i64,
    /// When the attempt ended without confirming the write (milliseconds); `None` while it is
    /// in flight, or if its process died.
    pub ended_at: Option<i64>,
}

fn key(dn: &str) -> String {
    dn.to_lowercase()
}

impl Store {
    /// Records that `holder` is about to write `dn`'s password (`phc`) at `started_at`
    /// (milliseconds), taking over an earlier attempt's row; drops rows long past use. An
    /// earlier attempt's start at or after `carried_from` is kept: its write may have landed
    /// (its process killed before the clear), and the row must still cover it if this attempt
    /// is refused or interrupted too.
    pub fn begin_portal_write(
        &self,
        dn: &str,
        holder: &str,
        phc: &str,
        started_at: i64,
        carried_from: i64,
    ) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute(PRUNE, params![started_at - KEEP_MS])
            .map_err(db("prune the portal's writes"))?;
        conn.execute(
            "INSERT INTO portal_writes (dn_key, holder, phc, started_at, ended_at) VALUES (?1, ?2, ?3, ?4, NULL)
             ON CONFLICT (dn_key) DO UPDATE SET holder = ?2, phc = ?3, ended_at = NULL,
                 started_at = CASE WHEN portal_writes.started_at >= ?5 THEN portal_writes.started_at ELSE ?4 END",
            params![key(dn), holder, phc, started_at, carried_from],
        )
        .map_err(db("record a portal write"))?;
        Ok(())
    }

    /// `holder`'s attempt on `dn` ended at `ended_at` (milliseconds) without a confirmed change
    /// (refused, or the directory failed after the write).
    pub fn end_portal_write(&self, dn: &str, holder: &str, ended_at: i64) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "UPDATE portal_writes SET ended_at = ?3 WHERE dn_key = ?1 AND holder = ?2",
                params![key(dn), holder, ended_at],
            )
            .map_err(db("end a portal write"))?;
        Ok(())
    }

    /// The write remembered for `dn`, if any.
    pub fn portal_write(&self, dn: &str) -> Result<Option<PortalWriteRow>, StoreError> {
        self.lock()
            .query_row(
                "SELECT holder, phc, started_at, ended_at FROM portal_writes WHERE dn_key = ?1",
                params![key(dn)],
                |r| {
                    Ok(PortalWriteRow {
                        holder: r.get(0)?,
                        phc: r.get(1)?,
                        started_at: r.get(2)?,
                        ended_at: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(db("read a portal write"))
    }

    /// Deletes the rows past use at `now` (milliseconds): those of attempts no change was
    /// recorded for and no later write replaced (the person gave up, or the directory refused
    /// the password), which would otherwise keep a password's hash for good. How many.
    pub fn prune_portal_writes(&self, now: i64) -> Result<usize, StoreError> {
        self.lock()
            .execute(PRUNE, params![now - KEEP_MS])
            .map_err(db("prune the portal's writes"))
    }

    /// Forgets `holder`'s write on `dn` (its change is recorded, or reconciliation finished it);
    /// a later attempt's row stays.
    pub fn forget_portal_write(&self, dn: &str, holder: &str) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "DELETE FROM portal_writes WHERE dn_key = ?1 AND holder = ?2",
                params![key(dn), holder],
            )
            .map_err(db("forget a portal write"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::tests::on_both_backends;
    use crate::store::tests::open;

    use super::*;

    fn a_write_is_shared_ended_replaced_and_forgotten_by_its_holder_only() {
        let (d, store) = open();
        let other = d.reopen();
        assert_eq!(store.portal_write("uid=A,dc=x").unwrap(), None);
        store
            .begin_portal_write("uid=A,dc=x", "a", "$argon2id$one", 1_000, 0)
            .unwrap();
        // Another instance reads it, whatever the DN's case.
        let row = other.portal_write("UID=a,DC=X").unwrap().unwrap();
        assert_eq!(
            row,
            PortalWriteRow {
                holder: "a".into(),
                phc: "$argon2id$one".into(),
                started_at: 1_000,
                ended_at: None,
            }
        );
        other.end_portal_write("uid=a,dc=x", "b", 1_500).unwrap();
        assert_eq!(
            store.portal_write("uid=a,dc=x").unwrap().unwrap().ended_at,
            None,
            "not b's"
        );
        other.end_portal_write("uid=a,dc=x", "a", 1_500).unwrap();
        assert_eq!(store.portal_write("uid=a,dc=x").unwrap().unwrap().ended_at, Some(1_500));
        // A retry's attempt takes it over, keeping a recent earlier start; the earlier holder
        // can no longer forget it.
        other
            .begin_portal_write("uid=a,dc=x", "b", "$argon2id$two", 2_000, 1_000)
            .unwrap();
        let row = store.portal_write("uid=a,dc=x").unwrap().unwrap();
        let seen = (row.holder.as_str(), row.phc.as_str(), row.started_at, row.ended_at);
        assert_eq!(seen, ("b", "$argon2id$two", 1_000, None));
        other
            .begin_portal_write("uid=a,dc=x", "b", "$argon2id$two", 3_000, 1_001)
            .unwrap();
        assert_eq!(
            store.portal_write("uid=a,dc=x").unwrap().unwrap().started_at,
            3_000,
            "too old to keep"
        );
        store.forget_portal_write("uid=a,dc=x", "a").unwrap();
        assert!(store.portal_write("uid=a,dc=x").unwrap().is_some());
        store.forget_portal_write("uid=a,dc=x", "b").unwrap();
        assert_eq!(store.portal_write("uid=a,dc=x").unwrap(), None);
        // Rows a day old go when another write begins.
        store
            .begin_portal_write("uid=old", "a", "$argon2id$o", 2_000, 0)
            .unwrap();
        store
            .begin_portal_write("uid=new", "a", "$argon2id$n", 2_000 + KEEP_MS + 1, 0)
            .unwrap();
        assert_eq!(store.portal_write("uid=old").unwrap(), None);
        assert!(store.portal_write("uid=new").unwrap().is_some());
    }

    fn rows_a_day_old_are_pruned_and_younger_ones_kept() {
        let (_d, store) = open();
        let day = KEEP_MS;
        store
            .begin_portal_write("uid=old,dc=x", "a", "$argon2id$o", 1_000, 0)
            .unwrap();
        store
            .begin_portal_write("uid=new,dc=x", "a", "$argon2id$n", 1_000 + day, 0)
            .unwrap();
        assert_eq!(
            store.prune_portal_writes(1_000 + day).unwrap(),
            0,
            "exactly a day: kept"
        );
        assert_eq!(store.prune_portal_writes(1_001 + day).unwrap(), 1);
        assert_eq!(store.portal_write("uid=old,dc=x").unwrap(), None);
        assert!(store.portal_write("uid=new,dc=x").unwrap().is_some());
    }

    on_both_backends!(
        a_write_is_shared_ended_replaced_and_forgotten_by_its_holder_only,
        rows_a_day_old_are_pruned_and_younger_ones_kept
    );
}
