//! The DONT_EXPIRE_PASSWORD ledger of the Active Directory flavour
//! (`directory.dont_expire_accounts = "clear-and-restore"`).
//!
//! Marking such an account must clear the bit (or `pwdLastSet: 0` does nothing), and the bit must
//! come back when the campaign is done with the account. Once cleared, the directory no longer
//! says the bit was ever there, and the campaign store records only `prior_flagged`; so the
//! flavour keeps its own write-ahead record: an account is entered here *before* its bit is
//! cleared, and leaves only *after* the bit is set again. A crash in between leaves an entry whose
//! restore is simply repeated (setting a bit that is already set is harmless).
//!
//! A small SQLite file (WAL, busy timeout), so the CLI and the daemon can share it. Owned by the
//! directory module: nothing else reads it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::DirectoryError;

/// What was true of an account before its bit was cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cleared {
    /// `pwdLastSet` was 0 before (ineffective while the bit was set): restored as it was.
    pub pwd_last_set_zero: bool,
}

#[derive(Clone)]
pub(crate) struct Ledger {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl Ledger {
    /// Opens (creating when needed) the ledger at `path`.
    pub fn open(path: &Path) -> Result<Ledger, DirectoryError> {
        let fail = |e: rusqlite::Error| ledger_error(path, &e.to_string());
        let conn = Connection::open(path).map_err(fail)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(fail)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS dont_expire_cleared (
                 dn_key TEXT PRIMARY KEY,
                 dn TEXT NOT NULL,
                 pwd_last_set_zero INTEGER NOT NULL,
                 cleared_at TEXT NOT NULL
             )",
        )
        .map_err(fail)?;
        Ok(Ledger {
            path: path.to_owned(),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Records that `dn`'s bit is about to be cleared. An existing record is kept: it holds the
    /// state from before the first clear.
    pub async fn record(&self, dn: &str, prior: Cleared) -> Result<(), DirectoryError> {
        let (key, dn) = (key(dn), dn.to_owned());
        self.run(move |c| {
            c.execute(
                "INSERT OR IGNORE INTO dont_expire_cleared (dn_key, dn, pwd_last_set_zero, cleared_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![key, dn, prior.pwd_last_set_zero, chrono::Utc::now().to_rfc3339()],
            )
            .map(drop)
        })
        .await
    }

    /// The record for `dn`, when its bit was cleared and not restored yet.
    pub async fn get(&self, dn: &str) -> Result<Option<Cleared>, DirectoryError> {
        let key = key(dn);
        self.run(move |c| {
            c.query_row(
                "SELECT pwd_last_set_zero FROM dont_expire_cleared WHERE dn_key = ?1",
                [key],
                |r| {
                    Ok(Cleared {
                        pwd_last_set_zero: r.get(0)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    /// Forgets `dn` once its bit is set again (or the entry is gone).
    pub async fn forget(&self, dn: &str) -> Result<(), DirectoryError> {
        let key = key(dn);
        self.run(move |c| {
            c.execute("DELETE FROM dont_expire_cleared WHERE dn_key = ?1", [key])
                .map(drop)
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, DirectoryError> {
        let (conn, path) = (self.conn.clone(), self.path.clone());
        let joined = tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn).map_err(|e| ledger_error(&path, &e.to_string()))
        })
        .await;
        joined.map_err(|e| ledger_error(&self.path, &e.to_string()))?
    }
}

fn ledger_error(path: &Path, message: &str) -> DirectoryError {
    DirectoryError::Ledger {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

/// DNs compare case-insensitively with escapes decoded: the key is that canonical form.
fn key(dn: &str) -> String {
    match super::dn::parse(dn) {
        Ok(rdns) => rdns
            .iter()
            .map(|rdn| {
                rdn.iter()
                    .map(|a| format!("{}={}", a.attr.to_ascii_lowercase(), a.value.to_lowercase()))
                    .collect::<Vec<_>>()
                    .join("+")
            })
            .collect::<Vec<_>>()
            .join("\u{0}"),
        Err(_) => dn.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_reopening_and_keep_the_first_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        let ledger = Ledger::open(&path).unwrap();
        let dn = "CN=Svc\\, Backup,OU=People,DC=example,DC=org";
        assert_eq!(ledger.get(dn).await.unwrap(), None);
        let zero = Cleared {
            pwd_last_set_zero: true,
        };
        ledger.record(dn, zero).await.unwrap();
        ledger
            .record(
                dn,
                Cleared {
                    pwd_last_set_zero: false,
                },
            )
            .await
            .unwrap();
        drop(ledger);
        let ledger = Ledger::open(&path).unwrap();
        let same = "cn=svc\\2c backup, ou=people,dc=EXAMPLE,dc=org";
        assert_eq!(ledger.get(same).await.unwrap(), Some(zero));
        ledger.forget(same).await.unwrap();
        assert_eq!(ledger.get(dn).await.unwrap(), None);
    }
}
