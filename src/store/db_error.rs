//! What a query of the store's connection fails with, on either backend ([`DbError`]), and the
//! server's own words for a PostgreSQL error ([`describe`]).
//!
//! The bottom of the connection layer: `db` (the connection) and `pg` (PostgreSQL's pool) both
//! use it; it must not import either.

use std::error::Error as _;

use thiserror::Error;

/// What a query failed with, on either backend.
#[derive(Debug, Error)]
pub enum DbError {
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", describe(.0))]
    Postgres(#[from] postgres::Error),
    #[error("query returned no rows")]
    NoRows,
    #[error("column {column}: {message}")]
    Conversion { column: usize, message: String },
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

impl DbError {
    /// Whether the connection itself failed (closed, ended by the server, unreachable) rather
    /// than the statement: a fenced write that fails so may have been cut off because its
    /// holder stalled past its lease (see `Store::refenced`).
    pub fn is_connection_lost(&self) -> bool {
        use postgres::error::SqlState;
        match self {
            DbError::Postgres(e) => {
                let lost_code = e.code().is_some_and(|c| {
                    c.code().starts_with("08") // connection exception
                        || *c == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT
                        || *c == SqlState::ADMIN_SHUTDOWN
                });
                let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
                e.is_closed() || lost_code || io
            }
            DbError::Unavailable(_) => true,
            DbError::Sqlite(_) | DbError::NoRows | DbError::Conversion { .. } => false,
        }
    }
}

pub type DbResult<T> = Result<T, DbError>;

/// The server's message (postgres' own Display says only "db error").
pub(super) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match e.source() {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}
