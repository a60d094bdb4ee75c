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
//! The entries live in the store (`store/dont_expire.rs` implements [`LedgerStore`]; the daemon
//! and the CLI inject it), so that every `serve` instance and CLI run sharing one store sees
//! them: the campaign's lease may move to another host, and the portal on any host completes
//! the account. The directory layer owns what an entry means and its key, never the storage
//! (it must not import the store). Earlier versions kept a SQLite file per host
//! (`directory.dont_expire_ledger`): on first use its entries are copied into the store, and the
//! file is renamed `*.imported`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};

use super::DirectoryError;

/// What was true of an account before its bit was cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cleared {
    /// `pwdLastSet` was 0 before (ineffective while the bit was set): restored as it was.
    pub pwd_last_set_zero: bool,
}

/// Why the ledger's storage failed, in its own words (never a password: entries hold none).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LedgerError(pub String);

/// Where the ledger's entries are kept, keyed by [`key`] (the canonical DN). The store
/// implements it.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Enters `key` (`dn` as read, for people) unless it is there already: an existing entry
    /// holds the state from before the first clear. `cleared_at` is RFC 3339.
    async fn record(&self, key: &str, dn: &str, prior: Cleared, cleared_at: &str) -> Result<(), LedgerError>;
    /// The entry for `key`, when its bit was cleared and not restored yet.
    async fn get(&self, key: &str) -> Result<Option<Cleared>, LedgerError>;
    /// Takes `key` off the ledger.
    async fn forget(&self, key: &str) -> Result<(), LedgerError>;
}

/// The ledger as the flavour uses it: DNs in, canonical keys to the storage.
#[derive(Clone)]
pub(crate) struct Ledger {
    store: Arc<dyn LedgerStore>,
}

impl Ledger {
    /// The ledger on `store`, after importing the legacy file at `legacy` when there is one.
    pub async fn open(store: Arc<dyn LedgerStore>, legacy: &Path) -> Result<Ledger, DirectoryError> {
        let ledger = Ledger { store };
        ledger.import(legacy).await?;
        Ok(ledger)
    }

    /// Records that `dn`'s bit is about to be cleared. An existing record is kept: it holds the
    /// state from before the first clear.
    pub async fn record(&self, dn: &str, prior: Cleared) -> Result<(), DirectoryError> {
        let at = chrono::Utc::now().to_rfc3339();
        self.store.record(&key(dn), dn, prior, &at).await.map_err(failed)
    }

    /// The record for `dn`, when its bit was cleared and not restored yet.
    pub async fn get(&self, dn: &str) -> Result<Option<Cleared>, DirectoryError> {
        self.store.get(&key(dn)).await.map_err(failed)
    }

    /// Forgets `dn` once its bit is set again (or the entry is gone).
    pub async fn forget(&self, dn: &str) -> Result<(), DirectoryError> {
        self.store.forget(&key(dn)).await.map_err(failed)
    }

    /// Copies the entries of an earlier version's ledger file at `path` (if it exists) into the
    /// store, then renames it `*.imported` (so it is read once; kept, not deleted, for an
    /// administrator to inspect). Entries already in the store are kept (the first clear wins);
    /// two processes importing at once do no harm.
    async fn import(&self, path: &Path) -> Result<(), DirectoryError> {
        let p = path.to_owned();
        let read = tokio::task::spawn_blocking(move || read_legacy(&p))
            .await
            .map_err(|e| legacy_error(path, &e.to_string()))??;
        let Some(entries) = read else { return Ok(()) };
        for (key, dn, prior, at) in &entries {
            self.store.record(key, dn, *prior, at).await.map_err(failed)?;
        }
        let imported = imported_name(path);
        match std::fs::rename(path, &imported) {
            Ok(()) => {}
            // Another process imported it at the same time.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(legacy_error(
                    path,
                    &format!("renaming it to {}: {e}", imported.display()),
                ));
            }
        }
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        tracing::info!(
            file = %path.display(),
            renamed = %imported.display(),
            entries = entries.len(),
            "DONT_EXPIRE_PASSWORD ledger file imported into the store"
        );
        Ok(())
    }
}

/// One entry of a legacy file: key, DN, prior state, when it was cleared.
type LegacyEntry = (String, String, Cleared, String);

/// The entries of the legacy file at `path`; `None` when there is no such file.
fn read_legacy(path: &Path) -> Result<Option<Vec<LegacyEntry>>, DirectoryError> {
    if !path.exists() {
        return Ok(None);
    }
    let fail = |e: rusqlite::Error| legacy_error(path, &e.to_string());
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(fail)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(fail)?;
    let mut stmt = conn
        .prepare("SELECT dn_key, dn, pwd_last_set_zero, cleared_at FROM dont_expire_cleared")
        .map_err(fail)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                Cleared {
                    pwd_last_set_zero: r.get(2)?,
                },
                r.get(3)?,
            ))
        })
        .map_err(fail)?;
    let entries = rows.collect::<Result<Vec<_>, _>>().map_err(fail)?;
    Ok(Some(entries))
}

fn imported_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".imported");
    PathBuf::from(name)
}

fn failed(e: LedgerError) -> DirectoryError {
    DirectoryError::Ledger { message: e.0 }
}

fn legacy_error(path: &Path, message: &str) -> DirectoryError {
    DirectoryError::LedgerFile {
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

/// DNs compare case-insensitively with escapes decoded: the key is that canonical form.
pub fn key(dn: &str) -> String {
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
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// The storage as a map (the store's own implementation is tested in `store/dont_expire.rs`).
    #[derive(Default)]
    struct Map(Mutex<HashMap<String, (String, Cleared, String)>>);

    #[async_trait]
    impl LedgerStore for Map {
        async fn record(&self, key: &str, dn: &str, prior: Cleared, at: &str) -> Result<(), LedgerError> {
            let mut map = self.0.lock().unwrap();
            map.entry(key.to_owned())
                .or_insert_with(|| (dn.to_owned(), prior, at.to_owned()));
            Ok(())
        }
        async fn get(&self, key: &str) -> Result<Option<Cleared>, LedgerError> {
            Ok(self.0.lock().unwrap().get(key).map(|(_, c, _)| *c))
        }
        async fn forget(&self, key: &str) -> Result<(), LedgerError> {
            self.0.lock().unwrap().remove(key);
            Ok(())
        }
    }

    const ZERO: Cleared = Cleared {
        pwd_last_set_zero: true,
    };
    const NOT_ZERO: Cleared = Cleared {
        pwd_last_set_zero: false,
    };

    #[tokio::test]
    async fn entries_keep_the_first_state_and_dns_compare_canonically() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(Arc::new(Map::default()), &dir.path().join("none.db"))
            .await
            .unwrap();
        let dn = "CN=Svc\\, Backup,OU=People,DC=example,DC=org";
        assert_eq!(ledger.get(dn).await.unwrap(), None);
        ledger.record(dn, ZERO).await.unwrap();
        ledger.record(dn, NOT_ZERO).await.unwrap();
        let same = "cn=svc\\2c backup, ou=people,dc=EXAMPLE,dc=org";
        assert_eq!(ledger.get(same).await.unwrap(), Some(ZERO));
        ledger.forget(same).await.unwrap();
        assert_eq!(ledger.get(dn).await.unwrap(), None);
    }

    /// A ledger file as earlier versions wrote it.
    fn legacy_file(path: &Path, entries: &[(&str, bool)]) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE dont_expire_cleared (dn_key TEXT PRIMARY KEY, dn TEXT NOT NULL,
                 pwd_last_set_zero INTEGER NOT NULL, cleared_at TEXT NOT NULL)",
        )
        .unwrap();
        for (dn, zero) in entries {
            conn.execute(
                "INSERT INTO dont_expire_cleared VALUES (?1, ?2, ?3, '2026-01-01T00:00:00Z')",
                rusqlite::params![key(dn), dn, zero],
            )
            .unwrap();
        }
    }

    #[tokio::test]
    async fn a_legacy_file_is_imported_once_then_renamed_and_the_store_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dont-expire-restore.db");
        legacy_file(&path, &[("CN=A,DC=x", true), ("CN=B,DC=x", false)]);
        let store = Arc::new(Map::default());
        // An entry the store already holds keeps its state.
        store
            .record(&key("cn=b,dc=x"), "cn=b,dc=x", ZERO, "then")
            .await
            .unwrap();
        let ledger = Ledger::open(store.clone(), &path).await.unwrap();
        assert_eq!(ledger.get("cn=a,dc=x").await.unwrap(), Some(ZERO));
        assert_eq!(ledger.get("CN=B,DC=x").await.unwrap(), Some(ZERO));
        assert!(!path.exists(), "renamed");
        assert!(dir.path().join("dont-expire-restore.db.imported").is_file());
        // Opened again: nothing to import, and what was forgotten stays forgotten.
        ledger.forget("cn=a,dc=x").await.unwrap();
        let again = Ledger::open(store, &path).await.unwrap();
        assert_eq!(again.get("cn=a,dc=x").await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_unreadable_legacy_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.db");
        std::fs::write(&path, b"not a database, but long enough to be read as a header ......").unwrap();
        let Err(e) = Ledger::open(Arc::new(Map::default()), &path).await else {
            panic!("opened")
        };
        assert!(e.to_string().contains("ledger.db"), "{e}");
        assert!(path.exists(), "left in place");
    }
}
