//! Keys every `serve` instance on one store must hold alike (the CSRF keys of the portal and
//! the helpdesk): drawn by whichever instance comes first, then read by the others and after
//! every restart. One row per name; the first writer wins (`ON CONFLICT DO NOTHING`), so two
//! instances starting at once still end up with one key. Plain SQL with `?N` placeholders, for
//! both backends. Must not log the values.

use super::db::params;

use super::{Store, StoreError, db};

impl Store {
    /// The value kept under `name`, after storing `fresh` there if it held none.
    pub fn shared_secret(&self, name: &str, fresh: &str) -> Result<String, StoreError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO shared_secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![name, fresh],
        )
        .map_err(db("store a shared key"))?;
        conn.query_row("SELECT value FROM shared_secrets WHERE name = ?1", params![name], |r| {
            r.get(0)
        })
        .map_err(db("read a shared key"))
    }
}

#[cfg(test)]
mod tests {
    use crate::store::tests::on_both_backends;
    use crate::store::tests::open;

    fn the_first_value_stays() {
        let (_d, store) = open();
        assert_eq!(store.shared_secret("a", "one").unwrap(), "one");
        assert_eq!(store.shared_secret("a", "two").unwrap(), "one");
        assert_eq!(store.shared_secret("b", "two").unwrap(), "two");
    }

    on_both_backends!(the_first_value_stays);
}
