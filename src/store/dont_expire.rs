//! The Active Directory flavour's DONT_EXPIRE_PASSWORD ledger (`directory/ledger.rs` says what
//! an entry means; this file only keeps the rows), shared by every instance and CLI run on the
//! store, so that a bit cleared on one host is restored on any other. Implements the
//! directory's [`LedgerStore`] (the store sits above the directory and may name its trait).
//! One statement each; plain SQL with `?N` placeholders, for both backends.

use async_trait::async_trait;

use super::db::{OptionalExtension, params};
use super::{Store, StoreError, db};
use crate::directory::{Cleared, LedgerError, LedgerStore};

impl Store {
    /// Enters `key` (`dn` for people) with the state before its bit was first cleared; an
    /// existing entry is kept.
    pub fn ledger_record(
        &self,
        key: &str,
        dn: &str,
        pwd_last_set_zero: bool,
        cleared_at: &str,
    ) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "INSERT INTO dont_expire_ledger (dn_key, dn, pwd_last_set_zero, cleared_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (dn_key) DO NOTHING",
                params![key, dn, i64::from(pwd_last_set_zero), cleared_at],
            )
            .map_err(db("record a cleared DONT_EXPIRE_PASSWORD bit"))?;
        Ok(())
    }

    /// Whether `key`'s `pwdLastSet` was 0 before its bit was cleared; `None` when not entered.
    pub fn ledger_entry(&self, key: &str) -> Result<Option<bool>, StoreError> {
        let zero: Option<i64> = self
            .lock()
            .query_row(
                "SELECT pwd_last_set_zero FROM dont_expire_ledger WHERE dn_key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("read a cleared DONT_EXPIRE_PASSWORD bit"))?;
        Ok(zero.map(|z| z != 0))
    }

    /// Takes `key` off the ledger.
    pub fn ledger_forget(&self, key: &str) -> Result<(), StoreError> {
        self.lock()
            .execute("DELETE FROM dont_expire_ledger WHERE dn_key = ?1", params![key])
            .map_err(db("forget a cleared DONT_EXPIRE_PASSWORD bit"))?;
        Ok(())
    }
}

fn ledger_error(e: StoreError) -> LedgerError {
    LedgerError(e.to_string())
}

#[async_trait]
impl LedgerStore for Store {
    async fn record(&self, key: &str, dn: &str, prior: Cleared, cleared_at: &str) -> Result<(), LedgerError> {
        let (key, dn, at) = (key.to_owned(), dn.to_owned(), cleared_at.to_owned());
        self.run(move |s| s.ledger_record(&key, &dn, prior.pwd_last_set_zero, &at))
            .await
            .map_err(ledger_error)
    }

    async fn get(&self, key: &str) -> Result<Option<Cleared>, LedgerError> {
        let key = key.to_owned();
        let zero = self.run(move |s| s.ledger_entry(&key)).await.map_err(ledger_error)?;
        Ok(zero.map(|pwd_last_set_zero| Cleared { pwd_last_set_zero }))
    }

    async fn forget(&self, key: &str) -> Result<(), LedgerError> {
        let key = key.to_owned();
        self.run(move |s| s.ledger_forget(&key)).await.map_err(ledger_error)
    }
}

#[cfg(test)]
mod tests {
    use crate::directory::{Cleared, LedgerStore};
    use crate::store::tests::on_both_backends;
    use crate::store::tests::open;

    fn entries_are_shared_keep_the_first_state_and_are_forgotten() {
        let (d, store) = open();
        let other = d.reopen();
        assert_eq!(store.ledger_entry("cn=a").unwrap(), None);
        store
            .ledger_record("cn=a", "CN=A", true, "2026-12-01T00:00:00Z")
            .unwrap();
        other
            .ledger_record("cn=a", "CN=A", false, "2026-12-01T01:00:00Z")
            .unwrap();
        other
            .ledger_record("cn=b", "CN=B", false, "2026-12-01T01:00:00Z")
            .unwrap();
        assert_eq!(
            other.ledger_entry("cn=a").unwrap(),
            Some(true),
            "the first clear's state"
        );
        assert_eq!(store.ledger_entry("cn=b").unwrap(), Some(false));
        other.ledger_forget("cn=a").unwrap();
        assert_eq!(store.ledger_entry("cn=a").unwrap(), None);
        assert_eq!(store.ledger_entry("cn=b").unwrap(), Some(false));
        // Through the directory's trait, on a runtime (as the Active Directory flavour calls it).
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let zero = Cleared {
                pwd_last_set_zero: true,
            };
            LedgerStore::record(&store, "cn=c", "CN=C", zero, "now").await.unwrap();
            assert_eq!(LedgerStore::get(&other, "cn=c").await.unwrap(), Some(zero));
            LedgerStore::forget(&other, "cn=c").await.unwrap();
            assert_eq!(LedgerStore::get(&store, "cn=c").await.unwrap(), None);
        });
    }

    on_both_backends!(entries_are_shared_keep_the_first_state_and_are_forgotten);
}
