//! Claims on an account while one change or action on it is in flight, held in the store so
//! that two `serve` instances (a double submit split by a load balancer) cannot both work on
//! one account at once. A claim ends when its holder releases it, or at its expiry if the
//! holder died. One statement each; plain SQL with `?N` placeholders, for both backends.

use super::db::{OptionalExtension, params};

use super::{Store, StoreError, db};

impl Store {
    /// Claims `key` for `holder` until `expires` unless another live claim holds it (one whose
    /// expiry is after `now`); whether it was claimed.
    pub fn claim(&self, key: &str, holder: &str, now: i64, expires: i64) -> Result<bool, StoreError> {
        let claimed = self
            .lock()
            .query_row(
                "INSERT INTO claims (key, holder, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET holder = ?2, expires_at = ?3 WHERE claims.expires_at <= ?4
                 RETURNING holder",
                params![key, holder, expires, now],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(db("claim an account"))?;
        Ok(claimed.is_some())
    }

    /// Who holds `key` now (if anybody, expired or not).
    pub fn claim_holder(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.lock()
            .query_row("SELECT holder FROM claims WHERE key = ?1", params![key], |r| r.get(0))
            .optional()
            .map_err(db("read an account's claim"))
    }

    /// Takes `key` over from `previous` (a holder known to be dead); false if it changed hands.
    pub fn take_over_claim(&self, key: &str, previous: &str, holder: &str, expires: i64) -> Result<bool, StoreError> {
        let n = self
            .lock()
            .execute(
                "UPDATE claims SET holder = ?3, expires_at = ?4 WHERE key = ?1 AND holder = ?2",
                params![key, previous, holder, expires],
            )
            .map_err(db("take an account's claim over"))?;
        Ok(n == 1)
    }

    /// Ends `holder`'s claim on `key` (nothing if it expired and another holds it now).
    pub fn release_claim(&self, key: &str, holder: &str) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "DELETE FROM claims WHERE key = ?1 AND holder = ?2",
                params![key, holder],
            )
            .map_err(db("release an account"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::tests::on_both_backends;
    use crate::store::tests::open;

    fn one_holder_at_a_time_until_released_or_expired() {
        let (d, store) = open();
        let other = d.reopen();
        assert!(store.claim("k", "a", 0, 100).unwrap());
        assert!(!other.claim("k", "b", 50, 150).unwrap());
        assert!(other.claim("j", "b", 50, 150).unwrap());
        // Another holder's release does nothing; the holder's frees it.
        other.release_claim("k", "b").unwrap();
        assert!(!other.claim("k", "b", 60, 160).unwrap());
        store.release_claim("k", "a").unwrap();
        assert!(other.claim("k", "b", 60, 160).unwrap());
        // A dead holder's claim ends at its expiry.
        assert!(store.claim("k", "a", 160, 260).unwrap());
        other.release_claim("k", "b").unwrap();
        assert!(!other.claim("k", "c", 200, 300).unwrap());
        // Taken over from a holder known to be dead, once.
        assert_eq!(other.claim_holder("k").unwrap().as_deref(), Some("a"));
        assert!(other.take_over_claim("k", "a", "c", 300).unwrap());
        assert!(!store.take_over_claim("k", "a", "d", 300).unwrap());
        assert_eq!(other.claim_holder("j").unwrap().as_deref(), Some("b"));
    }

    on_both_backends!(one_holder_at_a_time_until_released_or_expired);
}
