//! The embedded store (SQLite, WAL): campaigns, their accounts and states, the audit trail.
//!
//! A concrete type, not a trait: there is one store. Methods are synchronous and short; async
//! callers run them through [`Store::run`] on the blocking pool. Batches are written in one
//! transaction each so the store keeps up with the directory.
//!
//! This file owns opening the database, its schema migrations, the connection lock, the error
//! type and the timestamp format; each table's queries live in a submodule (`campaigns`,
//! `accounts`, `work`, `audit`, `notify`, `helpdesk`, `completion`, `lease`, `lock`), every one an
//! `impl Store` block, so callers see one type and the paths `crate::store::*`. `chain` is the
//! audit trail's hash chain (pure), which `audit verify` also uses on exported files.

mod accounts;
mod audit;
mod campaigns;
pub mod chain;
mod completion;
pub mod config;
mod helpdesk;
mod labels;
mod lease;
mod lock;
mod notify;
pub mod pg_connect;
mod schema;
mod search;
pub mod tls;
mod work;
pub use accounts::AccountRecord;
pub use audit::AuditEntry;
pub use campaigns::{Campaign, CampaignSpec, Opened, Scope};
pub use chain::AuditRecord;
pub use completion::Completion;
pub use helpdesk::{AccountList, OperatorChange, Progress};
pub use labels::{LinkState, MailLabel, SentMail};
pub use lease::{holder_is_dead, holder_name};
pub use lock::{LockRecord, LockState};
pub use notify::{MailCandidate, MailOutcome, MailRecord, MailState, REQUESTED, TokenRecord};
pub use search::{Found, FoundIn};
pub use work::{Update, WorkItem};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the store {path}: {message}; check store.path and that its directory exists and is writable")]
    Open { path: PathBuf, message: String },
    #[error("store {op}: {source}")]
    Database { op: &'static str, source: rusqlite::Error },
    #[error("campaign {name:?} already exists with different parameters ({}); use the same parameters to resume it, or another name", differences.join("; "))]
    CampaignMismatch { name: String, differences: Vec<String> },
    #[error("the store was written by a newer pwresetd (schema {found}, this one knows {known}); upgrade pwresetd")]
    TooNew { found: i64, known: i64 },
    #[error("store worker stopped: {0}")]
    Worker(String),
}

fn db(op: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError::Database { op, source }
}

pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(s: &str) -> DateTime<Utc> {
    // Only this module writes these columns, always through `timestamp`.
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the store at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |message: String| StoreError::Open {
            path: path.to_owned(),
            message,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            if !parent.is_dir() {
                return Err(open_err(format!("directory {} does not exist", parent.display())));
            }
        }
        let mut conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| open_err(e.to_string()))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| open_err(e.to_string()))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| open_err(e.to_string()))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| open_err(e.to_string()))?;
        migrate(&mut conn)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The database's schema version and the newest this build knows (equal once opened).
    pub fn schema_version(&self) -> Result<(i64, i64), StoreError> {
        let version = self
            .lock()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(db("read schema version"))?;
        Ok((version, schema::MIGRATIONS.len() as i64))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back).
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the blocking pool (SQLite calls block).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Worker(e.to_string()))?
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(db("read schema version"))?;
    let known = schema::MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew { found: version, known });
    }
    for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction().map_err(db("migrate"))?;
        tx.execute_batch(sql).map_err(db("migrate"))?;
        if i + 1 == schema::AUDIT_CHAINED {
            audit::chain_existing(&tx)?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(db("migrate"))?;
        tx.commit().map_err(db("migrate"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
