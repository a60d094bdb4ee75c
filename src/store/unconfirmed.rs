//! Passwords the portal sent to the directory without confirming them (the write's answer was
//! lost, or the verification bind failed), one per account, so that a retry with the same
//! password on any `serve` instance, or after a restart, is not refused as "the current
//! password" (`portal/unconfirmed.rs` decides; this file only keeps the rows).
//!
//! Only an argon2id PHC string is kept (made by the policy's history hasher, never a fast hash:
//! a keyed hash whose key sat in the same database could be brute-forced offline), with an
//! expiry; a row is deleted when its account's change is recorded, expired rows when a new one
//! is written. Keyed by the lowercased DN. One statement each; plain SQL for both backends.

use super::db::{OptionalExtension, params};

use super::{Store, StoreError, db};

impl Store {
    /// Records `phc` as the password last sent unconfirmed for `dn_key` until `expires`
    /// (seconds since the epoch), replacing an earlier one; drops every row expired by `now`.
    pub fn note_unconfirmed(&self, dn_key: &str, phc: &str, now: i64, expires: i64) -> Result<(), StoreError> {
        let conn = self.lock();
        conn.execute("DELETE FROM unconfirmed_passwords WHERE expires_at <= ?1", params![now])
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

    /// Forgets `dn_key`'s note (its change is recorded, or the write was refused).
    pub fn forget_unconfirmed(&self, dn_key: &str) -> Result<(), StoreError> {
        self.lock()
            .execute("DELETE FROM unconfirmed_passwords WHERE dn_key = ?1", params![dn_key])
            .map_err(db("forget an unconfirmed password"))?;
        Ok(())
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
        other.forget_unconfirmed("uid=a").unwrap();
        assert_eq!(store.unconfirmed_password("uid=a", 20).unwrap(), None);
        assert_eq!(
            store.unconfirmed_password("uid=c", 100).unwrap().as_deref(),
            Some("$argon2id$c")
        );
    }

    on_both_backends!(a_note_is_shared_replaced_expires_and_is_forgotten);
}
