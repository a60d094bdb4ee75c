//! The store's database connection, whichever the backend: SQLite (one connection, the embedded
//! default) or PostgreSQL (a pool, [`super::pg`]). Its errors are in [`super::db_error`]. Its surface copies what the store used of
//! rusqlite — `execute`, `query_row`, `optional`, `prepare`/`query_map`, `transaction`,
//! `execute_batch`, `params!`, `row.get(i)` — so that every table's
//! queries are written once, with `?N` placeholders, and run on both.
//!
//! Owns the value conversions both ways (a bool is stored as 0/1, every integer is read as i64)
//! and the transaction behaviour; must not hold SQL of its own beyond BEGIN/COMMIT and the
//! PostgreSQL write lock. No rusqlite or postgres type leaves `crate::store`.

use std::cell::RefCell;

pub use super::db_error::{DbError, DbResult};
use super::pg::{self, PgConn};
pub(crate) use super::value::params;
pub use super::value::{FromValue, Params, ToValue, Value};

/// `.optional()` on a `query_row` result: no row is `None`, as rusqlite's `OptionalExtension`.
pub trait OptionalExtension<T> {
    fn optional(self) -> DbResult<Option<T>>;
}
impl<T> OptionalExtension<T> for DbResult<T> {
    fn optional(self) -> DbResult<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRows) | Err(DbError::Sqlite(rusqlite::Error::QueryReturnedNoRows)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One row of a result.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

/// A column's position (rusqlite's `get::<_, T>(i)` shape).
pub trait RowIndex {
    fn index(self) -> usize;
}
impl RowIndex for usize {
    fn index(self) -> usize {
        self
    }
}

impl Row<'_> {
    pub fn get<I: RowIndex, T: FromValue>(&self, i: I) -> DbResult<T> {
        let i = i.index();
        let value = match self {
            Row::Sqlite(r) => sqlite_value(r.get_ref(i)?),
            Row::Postgres(r) => pg::column_value(r, i)?,
        };
        T::from_value(value).map_err(|message| DbError::Conversion { column: i, message })
    }
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// How a transaction starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    Deferred,
    /// Takes the write lock at once: on SQLite the database's, on PostgreSQL the store's
    /// advisory write lock (see [`Conn::lock_writes`]).
    Immediate,
}

/// One connection: SQLite's, a pooled PostgreSQL one, or the reason there is none (a pool
/// that could not hand one out: the first query reports it, under its operation's name).
pub enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<RefCell<PgConn>>),
    Unavailable(String),
}

impl Conn {
    /// A connection from PostgreSQL's pool, or the reason there is none (reported by its first
    /// query).
    pub(super) fn pooled(pool: &pg::PgPool) -> Conn {
        match pool.get() {
            Ok(c) => Conn::Postgres(Box::new(RefCell::new(c))),
            Err(why) => Conn::Unavailable(why),
        }
    }

    pub fn is_postgres(&self) -> bool {
        !matches!(self, Conn::Sqlite(_))
    }

    pub fn execute(&self, sql: &str, params: impl Params) -> DbResult<usize> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute(sql, rusqlite::params_from_iter(params.values()))?),
            Conn::Postgres(c) => c.borrow_mut().execute(sql, &params.values()),
            Conn::Unavailable(why) => Err(DbError::Unavailable(why.clone())),
        }
    }

    pub fn query_row<T>(&self, sql: &str, params: impl Params, f: impl FnOnce(&Row<'_>) -> DbResult<T>) -> DbResult<T> {
        self.prepare(sql)?.query_row(params, f)
    }

    pub fn prepare(&self, sql: &str) -> DbResult<Statement<'_>> {
        match self {
            Conn::Sqlite(c) => Ok(Statement::Sqlite(c.prepare_cached(sql)?)),
            Conn::Postgres(c) => {
                let stmt = c.borrow_mut().prepare(sql)?;
                Ok(Statement::Postgres { conn: c, stmt })
            }
            Conn::Unavailable(why) => Err(DbError::Unavailable(why.clone())),
        }
    }

    /// The same as [`prepare`](Conn::prepare): both backends cache prepared statements.
    pub fn prepare_cached(&self, sql: &str) -> DbResult<Statement<'_>> {
        self.prepare(sql)
    }

    pub fn execute_batch(&self, sql: &str) -> DbResult<()> {
        match self {
            Conn::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Conn::Postgres(c) => c.borrow_mut().batch(sql),
            Conn::Unavailable(why) => Err(DbError::Unavailable(why.clone())),
        }
    }

    pub fn transaction(&mut self) -> DbResult<Transaction<'_>> {
        self.transaction_with_behavior(Behavior::Deferred)
    }

    pub fn transaction_with_behavior(&mut self, behavior: Behavior) -> DbResult<Transaction<'_>> {
        let begin = match (&*self, behavior) {
            (Conn::Sqlite(_), Behavior::Immediate) => "BEGIN IMMEDIATE",
            _ => "BEGIN",
        };
        self.execute_batch(begin)?;
        let tx = Transaction {
            conn: self,
            done: false,
        };
        if behavior == Behavior::Immediate {
            tx.lock_writes()?;
        }
        Ok(tx)
    }

    /// On PostgreSQL, takes the store's write lock until the transaction ends: what SQLite's
    /// single writer gives for free. The audit chain's head read and insert (two instances
    /// must never chain onto the same record) and every IMMEDIATE transaction hold it. A
    /// no-op on SQLite, where an IMMEDIATE transaction holds the database's write lock.
    pub fn lock_writes(&self) -> DbResult<()> {
        match self {
            Conn::Postgres(_) => self.execute_batch(pg::WRITE_LOCK).map(drop),
            _ => Ok(()),
        }
    }
}

/// A prepared statement.
pub enum Statement<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres {
        conn: &'c RefCell<PgConn>,
        stmt: postgres::Statement,
    },
}

impl Statement<'_> {
    pub fn execute(&mut self, params: impl Params) -> DbResult<usize> {
        match self {
            Statement::Sqlite(s) => Ok(s.execute(rusqlite::params_from_iter(params.values()))?),
            Statement::Postgres { conn, stmt } => conn.borrow_mut().execute_prepared(stmt, &params.values()),
        }
    }

    pub fn query_row<T>(&mut self, params: impl Params, f: impl FnOnce(&Row<'_>) -> DbResult<T>) -> DbResult<T> {
        match self {
            Statement::Sqlite(s) => {
                let mut rows = s.query(rusqlite::params_from_iter(params.values()))?;
                match rows.next()? {
                    Some(row) => f(&Row::Sqlite(row)),
                    None => Err(DbError::NoRows),
                }
            }
            Statement::Postgres { conn, stmt } => {
                let rows = conn.borrow_mut().query(stmt, &params.values())?;
                rows.first().map_or(Err(DbError::NoRows), |r| f(&Row::Postgres(r)))
            }
        }
    }

    /// Every row mapped by `f`, read at once (the store's queries are bounded by a LIMIT).
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> DbResult<T>,
    ) -> DbResult<std::vec::IntoIter<DbResult<T>>> {
        let mapped: Vec<DbResult<T>> = match self {
            Statement::Sqlite(s) => {
                let mut rows = s.query(rusqlite::params_from_iter(params.values()))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    out.push(f(&Row::Sqlite(row)));
                }
                out
            }
            Statement::Postgres { conn, stmt } => {
                let rows = conn.borrow_mut().query(stmt, &params.values())?;
                rows.iter().map(|r| f(&Row::Postgres(r))).collect()
            }
        };
        Ok(mapped.into_iter())
    }
}

/// A transaction on a [`Conn`], which it derefs to; rolled back unless committed.
pub struct Transaction<'c> {
    conn: &'c Conn,
    done: bool,
}

impl Transaction<'_> {
    pub fn commit(mut self) -> DbResult<()> {
        self.done = true;
        self.conn.execute_batch("COMMIT")
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            // A failed rollback leaves the connection to its pool's health check (PostgreSQL)
            // or SQLite's own rollback when the next BEGIN fails; nothing else can be done.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}
