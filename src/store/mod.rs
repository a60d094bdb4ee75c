//! The embedded store (SQLite, WAL): campaigns, their accounts and states, the audit trail.
//!
//! A concrete type, not a trait: there is one store. Methods are synchronous and short; async
//! callers run them through [`Store::run`] on the blocking pool. Batches are written in one
//! transaction each so the store keeps up with the directory.
//!
//! This file owns opening the database, its schema migrations, the connection lock, the error
//! type and the timestamp format; each table's queries live in a submodule (`campaigns`,
//! `accounts`, `work`, `audit`, `notify`, `helpdesk`, `completion`, `lease`, `fence`, `lock`), every one an
//! `impl Store` block, so callers see one type and the paths `crate::store::*`. `chain` is the
//! audit trail's hash chain (pure), which `audit verify` also uses on exported files.

mod accounts;
mod audit;
mod bind_budget;
mod campaigns;
pub mod chain;
mod claims;
mod completion;
pub mod config;
mod copy;
pub mod db;
mod db_error;
mod dont_expire;
mod fence;
mod helpdesk;
mod labels;
mod lease;
mod lock;
mod move_deadline;
mod notify;
mod notify_batch;
pub mod off_runtime;
mod pg;
pub mod pg_connect;
mod portal_writes;
mod rate_limits;
mod schema;
mod schema_pg;
mod search;
mod secrets;
mod sessions;
pub mod tls;
mod unconfirmed;
mod value;
mod work;
pub use accounts::AccountRecord;
pub use audit::AuditEntry;
pub use bind_budget::{BindEnd, Reservation};
pub use campaigns::{Campaign, CampaignSpec, Opened, Scope};
pub use chain::AuditRecord;
pub use completion::Completion;
pub use copy::CopyError;
pub use fence::Fence;
pub use helpdesk::{AccountList, OperatorChange, Progress};
pub use labels::{LinkState, MailLabel, SentMail};
pub use lease::{LeaseInfo, holder_is_dead, holder_name};
pub use lock::{LockRecord, LockState};
pub use move_deadline::DeadlineMove;
pub use notify::{MailCandidate, MailOutcome, MailRecord, MailState, REQUESTED, TokenRecord};
pub use notify_batch::{Finished, Intent};
pub use portal_writes::PortalWriteRow;
pub use rate_limits::{RateBounds, RateTake};
#[doc(hidden)]
pub use search::pg_search_statement;
pub use search::{Found, FoundIn};
pub use sessions::{SessionRow, SessionSpan};
pub use work::{Update, WorkItem};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, SecondsFormat, Utc};
use thiserror::Error;

use config::{PgConfig, StoreConfig};
use db::{Conn, DbError};

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the store {path}: {message}; check store.path and that its directory exists and is writable")]
    Open { path: PathBuf, message: String },
    #[error("cannot open the store at {url}: {message}; check store.url and that the database is reachable")]
    OpenPostgres { url: String, message: String },
    #[error("store {op}: {source}")]
    Database { op: &'static str, source: DbError },
    #[error("campaign {name:?} already exists with different parameters ({}); use the same parameters to resume it, or another name", differences.join("; "))]
    CampaignMismatch { name: String, differences: Vec<String> },
    #[error("the store was written by a newer pwresetd (schema {found}, this one knows {known}); upgrade pwresetd")]
    TooNew { found: i64, known: i64 },
    #[error(
        "campaign {campaign:?} was taken over by {holder} (this process's lease epoch {epoch} is stale); the write was refused"
    )]
    Fenced {
        campaign: String,
        holder: String,
        epoch: i64,
    },
    #[error("the database did not answer within {0} s")]
    NoAnswer(u64),
    #[error("store worker stopped: {0}")]
    Worker(String),
}

fn db(op: &'static str) -> impl FnOnce(DbError) -> StoreError {
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

/// The connection(s) behind a [`Store`].
enum Backend {
    /// One connection: SQLite has one writer, and the lock orders the store's own calls.
    Sqlite(Mutex<Conn>),
    /// A bounded pool: instances and requests write at once; see `db::Conn::lock_writes`.
    Postgres(pg::PgPool),
}

/// A connection borrowed for one store call.
enum Guard<'a> {
    Shared(MutexGuard<'a, Conn>),
    Pooled(Conn),
}

impl std::ops::Deref for Guard<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        match self {
            Guard::Shared(g) => g,
            Guard::Pooled(c) => c,
        }
    }
}

impl std::ops::DerefMut for Guard<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        match self {
            Guard::Shared(g) => g,
            Guard::Pooled(c) => c,
        }
    }
}

#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
    /// Set on a lease holder's handle ([`Store::fenced`]): its campaign writes are refused
    /// once the lease has passed on.
    fence: Option<Arc<Fence>>,
}

/// How long [`Store::run`] waits for PostgreSQL before it reports the database unavailable.
const PG_ANSWER_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

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
        let conn = rusqlite::Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(|e| open_err(e.to_string()))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(|e| open_err(e.to_string()))?;
        let mut conn = Conn::Sqlite(conn);
        migrate(&mut conn)?;
        Ok(Store {
            backend: Arc::new(Backend::Sqlite(Mutex::new(conn))),
            fence: None,
        })
    }

    /// Opens the store `config` names (SQLite or PostgreSQL). Blocks: call it off the async
    /// runtime (`spawn_blocking`).
    pub fn open_config(config: &StoreConfig) -> Result<Store, StoreError> {
        match config {
            StoreConfig::Sqlite { path } => Store::open(path),
            StoreConfig::Postgres(pg) => Store::open_postgres(pg),
        }
    }

    /// Opens the store in the PostgreSQL database `pg` names, through the rustls connector of
    /// [`tls`], and brings its schema up to date. Blocks: call it off the async runtime.
    pub fn open_postgres(pg: &PgConfig) -> Result<Store, StoreError> {
        let open_err = |message: String| StoreError::OpenPostgres {
            url: pg.url.clone(),
            message,
        };
        let tls = tls::connector(pg).map_err(|e| open_err(e.to_string()))?;
        let pool = pg::PgPool::new(pg.client_config(), tls, pg.pool_size).map_err(|e| {
            let hint = tls::certificate_hint(&e).map(|h| format!(": {h}")).unwrap_or_default();
            let message = match &e {
                pg_connect::PgConnectError::Postgres(e) => db_error::describe(e),
                e => e.to_string(),
            };
            open_err(format!("{message}{hint}"))
        })?;
        let store = Store {
            backend: Arc::new(Backend::Postgres(pool)),
            fence: None,
        };
        migrate(&mut store.lock()).map_err(|e| match e {
            StoreError::Database { source, .. } => open_err(source.to_string()),
            e => e,
        })?;
        Ok(store)
    }

    /// The database's schema version and the newest this build knows (equal once opened).
    pub fn schema_version(&self) -> Result<(i64, i64), StoreError> {
        let version = schema_version(&self.lock())?;
        Ok((version, schema::MIGRATIONS.len() as i64))
    }

    /// Whether the store is on PostgreSQL (several instances may share it).
    pub fn is_shared(&self) -> bool {
        matches!(*self.backend, Backend::Postgres(_))
    }

    fn lock(&self) -> Guard<'_> {
        off_runtime::check();
        match &*self.backend {
            // A panic while holding the lock leaves SQLite consistent (transactions roll back).
            Backend::Sqlite(conn) => Guard::Shared(conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())),
            Backend::Postgres(pool) => Guard::Pooled(db::Conn::pooled(pool)),
        }
    }

    /// Runs `f` now, blocking, where awaiting [`run`](Store::run) is impossible (a `Drop`):
    /// inside an async runtime on a thread of its own, since PostgreSQL's client must not run
    /// on a runtime's thread; inline elsewhere.
    pub fn run_blocking<T: Send>(&self, f: impl FnOnce(&Store) -> T + Send) -> T {
        if tokio::runtime::Handle::try_current().is_err() {
            return f(self);
        }
        std::thread::scope(|s| match s.spawn(|| f(self)).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    }

    /// Runs `f` on the blocking pool (the database calls block; PostgreSQL's client must not
    /// run inside an async task at all).
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = self.clone();
        // A fenced handle's lost connection is looked at again (store/fence.rs).
        let call =
            tokio::task::spawn_blocking(move || off_runtime::blocking(|| f(&store)).map_err(|e| store.refenced(e)));
        let done = match *self.backend {
            // A PostgreSQL server that accepts but does not answer would hold the caller (a
            // portal request) for ever: give up, leaving the blocked call to end on its own.
            Backend::Postgres(_) => tokio::time::timeout(PG_ANSWER_LIMIT, call)
                .await
                .map_err(|_| StoreError::NoAnswer(PG_ANSWER_LIMIT.as_secs()))?,
            Backend::Sqlite(_) => call.await,
        };
        done.map_err(|e| StoreError::Worker(e.to_string()))?
    }
}

fn schema_version(conn: &Conn) -> Result<i64, StoreError> {
    let sql = if conn.is_postgres() {
        "SELECT COALESCE(MAX(version), 0) FROM schema_version"
    } else {
        "PRAGMA user_version"
    };
    conn.query_row(sql, [], |r| r.get(0)).map_err(db("read schema version"))
}

fn migrate(conn: &mut Conn) -> Result<(), StoreError> {
    if conn.is_postgres() {
        return schema_pg::migrate(conn);
    }
    let version = schema_version(conn)?;
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
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
            .map_err(db("migrate"))?;
        tx.commit().map_err(db("migrate"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
