//! `store migrate`: copying a SQLite store into an empty PostgreSQL one — every table in id
//! order inside one PostgreSQL transaction, the identity sequences moved past the copied ids,
//! then each table's row count compared.
//!
//! Owns the list of tables to copy; must not change a row on the way (the audit chain's hashes
//! cover every field, so `audit verify --store` still passes on the copy).

use super::db::{Behavior, Conn, FromValue, Value, params};
use super::{Store, StoreError, db};

/// Every table of the schema, parents before children (foreign keys), and whether its key is an
/// identity column `id` whose sequence must move past the copied ids.
const TABLES: &[(&str, bool)] = &[
    ("campaigns", true),
    ("accounts", true),
    ("audit", true),
    ("notifications", true),
    ("tokens", false),
    ("password_history", true),
    ("leases", false),
    ("mail_labels", true),
    ("rate_limits", false),
    ("helpdesk_sessions", false),
    ("bind_budget", false),
    ("bind_reservations", false),
    ("shared_secrets", false),
    ("claims", false),
    ("unconfirmed_passwords", false),
    ("dont_expire_ledger", false),
    ("portal_writes", false),
];

/// Rows read from SQLite at a time.
const CHUNK: i64 = 5_000;

/// Why a copy was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the target database already holds data (table {table}: {rows} rows); migrate into an empty database")]
    NotEmpty { table: &'static str, rows: i64 },
    #[error("table {table}: {source_rows} rows in the SQLite store, {target_rows} in PostgreSQL after the copy")]
    CountMismatch {
        table: &'static str,
        source_rows: i64,
        target_rows: i64,
    },
    #[error("both stores must be open: SQLite as the source, PostgreSQL as the target")]
    Backends,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Copies this SQLite store into `target` (PostgreSQL, empty): returns each table's rows.
    pub fn copy_into(&self, target: &Store) -> Result<Vec<(&'static str, i64)>, CopyError> {
        if self.is_shared() || !target.is_shared() {
            return Err(CopyError::Backends);
        }
        let source = self.lock();
        let mut conn = target.lock();
        let tx = conn
            .transaction_with_behavior(Behavior::Immediate)
            .map_err(db("copy store"))?;
        for (table, _) in TABLES {
            let rows = count(&tx, table)?;
            if rows > 0 {
                return Err(CopyError::NotEmpty { table, rows });
            }
        }
        for (table, identity) in TABLES {
            copy_table(&source, &tx, table)?;
            if *identity {
                tx.execute_batch(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                ))
                .map_err(db("copy store"))?;
            }
        }
        tx.commit().map_err(db("copy store"))?;
        drop(conn);
        let target = target.lock();
        let mut counts = Vec::new();
        for (table, _) in TABLES {
            let (source_rows, target_rows) = (count(&source, table)?, count(&target, table)?);
            if source_rows != target_rows {
                return Err(CopyError::CountMismatch {
                    table,
                    source_rows,
                    target_rows,
                });
            }
            counts.push((*table, source_rows));
        }
        Ok(counts)
    }
}

fn count(conn: &Conn, table: &str) -> Result<i64, StoreError> {
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .map_err(db("count rows"))
}

impl FromValue for Value {
    fn from_value(v: Value) -> Result<Self, String> {
        Ok(v)
    }
}

/// Copies `table` in SQLite's rowid order (the id for every table with one), a chunk at a time.
fn copy_table(source: &Conn, target: &Conn, table: &str) -> Result<(), StoreError> {
    let columns: Vec<String> = source
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"))
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .map_err(db("read columns"))?;
    let list = columns.join(", ");
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let insert = format!("INSERT INTO {table} ({list}) VALUES ({})", placeholders.join(", "));
    let select = format!("SELECT rowid, {list} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2");
    let mut after = 0i64;
    loop {
        let rows: Vec<(i64, Vec<Value>)> = source
            .prepare(&select)
            .and_then(|mut s| {
                s.query_map(params![after, CHUNK], |r| {
                    let values = (1..=columns.len()).map(|i| r.get(i)).collect::<Result<_, _>>()?;
                    Ok((r.get(0)?, values))
                })?
                .collect()
            })
            .map_err(db("read rows"))?;
        let Some((last, _)) = rows.last() else {
            return Ok(());
        };
        after = *last;
        let mut stmt = target.prepare(&insert).map_err(db("copy rows"))?;
        for (_, values) in rows {
            stmt.execute(values).map_err(db("copy rows"))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::state::AccountState;
    use crate::store::tests::{account, on_postgres, pg_test, spec};
    use crate::store::{AuditEntry, MailOutcome, Update};

    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let source = Store::open(&dir.path().join("state.db")).unwrap();
        let (c, _) = source.create_or_resume(&spec("a"), "t").unwrap();
        let logins: Vec<String> = (0..12).map(|i| format!("u{i}")).collect();
        let items: Vec<_> = logins.iter().map(|l| account(l, false)).collect();
        let fresh = source.insert_scanned(c.id, &items).unwrap();
        let audit = Some(("runner", "account.marked", "x".to_string()));
        let marks: Vec<_> = fresh
            .iter()
            .map(|w| Update {
                audit: audit.clone(),
                ..Update::new(w.id, AccountState::Marked, None)
            })
            .collect();
        source.record(&marks).unwrap();
        let later = chrono::Utc::now() + chrono::Duration::hours(1);
        let row = source
            .begin_mail(fresh[0].id, "notice", 0, "u0@example.org", Some(("h0", later)))
            .unwrap();
        let sent = MailOutcome::Sent {
            message_id: "<m0@x>".into(),
        };
        source.finish_mail(row, &sent, Some("h0")).unwrap();
        source
            .audit(&AuditEntry {
                at: chrono::Utc::now(),
                actor: "cli:root".into(),
                action: "token.create".into(),
                campaign: None,
                account: None,
                detail: None,
            })
            .unwrap();

        let db = pg_test::Database::create();
        let target = db.open();
        let counts = source.copy_into(&target).unwrap();
        assert!(counts.contains(&("accounts", 12)), "{counts:?}");
        assert!(counts.contains(&("audit", 13)), "{counts:?}");
        assert_eq!(source.audit_records(None).unwrap(), target.audit_records(None).unwrap());
        let mut v = crate::store::chain::Verifier::default();
        for r in &target.audit_records(None).unwrap() {
            v.push(r).unwrap();
        }
        assert!(target.token("h0").unwrap().is_some());
        // The identity sequences moved past the copied ids: new rows do not collide.
        let (d, _) = target.create_or_resume(&spec("b"), "t").unwrap();
        assert!(d.id > c.id);
        let more = target.insert_scanned(d.id, &[account("new", false)]).unwrap();
        assert!(more[0].id > fresh.last().unwrap().id);
        assert!(matches!(
            source.copy_into(&target),
            Err(CopyError::NotEmpty { table: "campaigns", .. })
        ));
    }

    #[test]
    fn a_sqlite_store_is_copied_whole_into_postgresql() {
        on_postgres(round_trip);
    }
}
