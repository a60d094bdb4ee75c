//! Passwords the portal sent to the directory without confirming them (the write's answer was
//! lost, or the verification bind failed), one per account, so that a retry with the same
//! password on any `serve` instance, or after a restart, is not refused as "the current
//! password" (`portal/unconfirmed.rs` decides; this file only keeps the rows).
//!
//! Only an argon2id PHC string is kept (made by the policy's history hasher, never a fast hash:
//! a keyed hash whose key sat in the same database could be brute-forced offline), with an
//! expiry; a row is deleted when its account's change is recorded, expired rows then too, when
//! a new one is written, and by `serve`'s periodic housekeeping ([`Store::prune_unconfirmed`]),
//! so that none outlives its hour by much. Keyed by the lowercased DN. One statement each
//! (rows are few: one per unconfirmed write, an hour each, so no batching); plain SQL for both
//! backends.

use super::db::{OptionalExtension, params};

use super::{Store, StoreError, db};

/// Deletes the notes expired by `?1` (by the `expires_at` index).
const PRUNE: &str = "DELETE FROM unconfirmed_passwords WHERE expires_at <= ?1";

impl Store {
    /// Records `phc` as the password last sent unconfirmed for `dn_key` until `expires`
    /// (seconds since the epoch), replacing an earlier one; drops every row expired by `now`.
    pub fn note_unconfirmed(&self, dn_key: &str, phc: &str, now: i64, expires: i64) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute(PRUNE, params![now])
            .map_err(db("prune unconfirmed passwords"))?;
        conn.execute(
            "INSERT INTO unconfirmed_passwords (dn_key, phc, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (dn_key) DO UPDATE SET phc = ?2, expires_at = ?3",
            params![dn_key, phc, expires],
        )
        .map_err(db("note an unconfirmed password"))?;
        Ok(())
    }

    /// The PHC string last noted for `dn_key`, unless it expired by `now`.
    pub fn unconfirmed_password(&self, dn_key: &str, now: i64) -> Result<Option<String>, StoreError> {
        self.lock()
            .query_row(
                "SELECT phc FROM unconfirmed_passwords WHERE dn_key = ?1 AND expires_at > ?2",
                params![dn_key, now],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("read an unconfirmed password"))
    }

    /// Forgets `dn_key`'s note (its change is recorded), and every note expired by `now`.
    pub fn forget_unconfirmed(&self, dn_key: &str, now: i64) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "DELETE FROM unconfirmed_passwords WHERE dn_key = ?1 OR expires_at <= ?2",
                params![dn_key, now],
            )
            .map_err(db("forget an unconfirmed password"))?;
        Ok(())
    }

    /// Deletes every note expired by `now`; how many.
    pub fn prune_unconfirmed(&self, now: i64) -> Result<usize, StoreError> {
        self.lock()
            .execute(PRUNE, params![now])
            .map_err(db("prune unconfirmed passwords"))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::tests::on_both_backends;
    use crate::store::tests::open;

    fn a_note_is_shared_replaced_expires_and_is_forgotten() {
        let (d, store) = open();
        let other = d.reopen();
        assert_eq!(store.unconfirmed_password("uid=a", 0).unwrap(), None);
        store.note_unconfirmed("uid=a", "$argon2id$one", 0, 100).unwrap();
        store.note_unconfirmed("uid=b", "$argon2id$b", 0, 50).unwrap();
        // Another instance (another connection to the same store) reads it.
        assert_eq!(
            other.unconfirmed_password("uid=a", 10).unwrap().as_deref(),
            Some("$argon2id$one")
        );
        other.note_unconfirmed("uid=a", "$argon2id$two", 10, 110).unwrap();
        assert_eq!(
            store.unconfirmed_password("uid=a", 20).unwrap().as_deref(),
            Some("$argon2id$two")
        );
        // Expired: not read, and pruned by the next note.
        assert_eq!(store.unconfirmed_password("uid=b", 50).unwrap(), None);
        store.note_unconfirmed("uid=c", "$argon2id$c", 60, 160).unwrap();
        let rows: i64 = store
            .lock()
            .query_row("SELECT COUNT(*) FROM unconfirmed_passwords", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2, "uid=b's expired row is gone");
        other.forget_unconfirmed("uid=a", 20).unwrap();
        assert_eq!(store.unconfirmed_password("uid=a", 20).unwrap(), None);
        assert_eq!(
            store.unconfirmed_password("uid=c", 100).unwrap().as_deref(),
            Some("$argon2id$c")
        );
    }

    /// Whether a row for `dn_key` is still stored, expired or not (read as at time 0).
    fn stored(store: &crate::store::Store, dn_key: &str) -> bool {
        store.unconfirmed_password(dn_key, 0).unwrap().is_some()
    }

    fn expired_notes_are_pruned_by_housekeeping_and_by_a_recorded_change() {
        let (_d, store) = open();
        store.note_unconfirmed("uid=old", "$argon2id$old", 0, 100).unwrap();
        store.note_unconfirmed("uid=due", "$argon2id$due", 0, 150).unwrap();
        store.note_unconfirmed("uid=live", "$argon2id$live", 0, 500).unwrap();
        // Housekeeping: the rows expired by then, and only those.
        assert_eq!(store.prune_unconfirmed(120).unwrap(), 1);
        assert!(!stored(&store, "uid=old"));
        assert!(stored(&store, "uid=due") && stored(&store, "uid=live"));
        assert_eq!(store.prune_unconfirmed(120).unwrap(), 0, "nothing more expired");
        // A recorded change: its account's note, live, and the others expired by then.
        store.note_unconfirmed("uid=mine", "$argon2id$mine", 140, 900).unwrap();
        store.forget_unconfirmed("uid=mine", 200).unwrap();
        assert!(!stored(&store, "uid=mine"), "the account's own note");
        assert!(!stored(&store, "uid=due"), "an expired note");
        assert!(stored(&store, "uid=live"), "another account's live note stays");
    }

    on_both_backends!(
        a_note_is_shared_replaced_expires_and_is_forgotten,
        expired_notes_are_pruned_by_housekeeping_and_by_a_recorded_change
    );
}
