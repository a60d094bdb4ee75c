//! The PostgreSQL side of the store's connection ([`super::db`]): a bounded pool of sync
//! `postgres` clients, each with its prepared statements cached by their SQL text, the `?N` →
//! `$N` rewrite, and the value conversions that follow the server's inferred parameter types
//! (a bool bound where the column is BIGINT is stored as 0/1, as on SQLite).
//!
//! Must not be used from inside an async task: `postgres::Client` blocks on its own runtime.
//! The store runs on tokio's blocking pool ([`super::Store::run`]); a pool dropped inside a
//! runtime closes its connections on a thread of its own.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use postgres::tls::{MakeTlsConnect, TlsConnect};
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Socket};

use super::db_error::{DbError, DbResult};
use super::pg_connect::{PgConnectError, connect_bounded};
use super::value::Value;

/// The store's write lock (see `Conn::lock_writes`), held until the transaction ends.
pub(super) const WRITE_LOCK: &str = "SELECT pg_advisory_xact_lock(7370821605842710001)";
/// Held while the schema is brought up to date, so that two instances starting at once on a
/// fresh database do not both create it.
pub(super) const MIGRATE_LOCK: &str = "SELECT pg_advisory_xact_lock(7370821605842710002)";

type Connect = dyn Fn() -> Result<Client, PgConnectError> + Send + Sync;

/// How long a connect may wait for a server that accepts but does not answer.
const CONNECT_LIMIT: Duration = Duration::from_secs(10);

/// How long a caller waits for a connection while the server is up (every connection busy).
const CHECKOUT_LIMIT: Duration = Duration::from_secs(10);

/// How long a caller waits for a connection once the last attempt to open one failed: a
/// portal page or `/readyz` during an outage answers 503 at once rather than after
/// [`CHECKOUT_LIMIT`], and the first call after the server is back still gets through (the
/// attempt this wait starts succeeds well within it).
const CHECKOUT_LIMIT_WHILE_DOWN: Duration = Duration::from_millis(500);

/// Opens the pool's connections.
pub struct Manager {
    connect: Box<Connect>,
    /// Whether the last attempt to open a connection failed (cleared by the next success).
    down: Arc<AtomicBool>,
}

/// One pooled client and its prepared statements.
pub struct PgClient {
    client: Client,
    statements: HashMap<String, postgres::Statement>,
}

pub type PgConn = r2d2::PooledConnection<Manager>;

impl r2d2::ManageConnection for Manager {
    type Connection = PgClient;
    type Error = PgConnectError;

    fn connect(&self) -> Result<PgClient, PgConnectError> {
        let client = (self.connect)();
        self.down.store(client.is_err(), Ordering::Relaxed);
        Ok(PgClient {
            client: client?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgClient) -> Result<(), PgConnectError> {
        Ok(conn.client.simple_query("").map(drop)?)
    }

    fn has_broken(&self, conn: &mut PgClient) -> bool {
        conn.client.is_closed()
    }
}

/// The pool (dropped off the async runtime, see the module's doc).
pub struct PgPool {
    pool: Option<r2d2::Pool<Manager>>,
    down: Arc<AtomicBool>,
}

impl PgPool {
    /// A pool of at most `size` connections made with `config` and `tls`. One connection is
    /// made at once, so that a refused one is reported with its cause (a certificate the
    /// connector refused, a wrong password) rather than as a pool's timeout.
    pub fn new<T>(config: postgres::Config, tls: T, size: u32) -> Result<PgPool, PgConnectError>
    where
        T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
        T::TlsConnect: Send,
        T::Stream: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        let connect = move || connect_bounded(&config, tls.clone(), CONNECT_LIMIT);
        drop(connect()?);
        let down = Arc::new(AtomicBool::new(false));
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(1))
            .test_on_check_out(false)
            .connection_timeout(CHECKOUT_LIMIT)
            .build_unchecked(Manager {
                connect: Box::new(connect),
                down: down.clone(),
            });
        Ok(PgPool { pool: Some(pool), down })
    }

    /// A connection, or the reason there is none: at once (nearly) while the server is known
    /// to be unreachable.
    pub fn get(&self) -> Result<PgConn, String> {
        let limit = if self.down.load(Ordering::Relaxed) {
            CHECKOUT_LIMIT_WHILE_DOWN
        } else {
            CHECKOUT_LIMIT
        };
        match self.pool.as_ref().map(|p| p.get_timeout(limit)) {
            Some(Ok(c)) => Ok(c),
            Some(Err(e)) => Err(e.to_string()),
            None => Err("the pool is closed".into()),
        }
    }
}

impl Drop for PgPool {
    fn drop(&mut self) {
        // Closing a `postgres::Client` blocks on its runtime, which panics inside another.
        if let Some(pool) = self.pool.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                std::thread::spawn(move || drop(pool));
            }
        }
    }
}

impl PgClient {
    pub fn prepare(&mut self, sql: &str) -> DbResult<postgres::Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.client.prepare(&rewrite(sql))?;
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    pub fn execute(&mut self, sql: &str, params: &[Value]) -> DbResult<usize> {
        let stmt = self.prepare(sql)?;
        self.execute_prepared(&stmt, params)
    }

    pub fn execute_prepared(&mut self, stmt: &postgres::Statement, params: &[Value]) -> DbResult<usize> {
        let n = self.client.execute(stmt, &refs(params))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    pub fn query(&mut self, stmt: &postgres::Statement, params: &[Value]) -> DbResult<Vec<postgres::Row>> {
        Ok(self.client.query(stmt, &refs(params))?)
    }

    pub fn batch(&mut self, sql: &str) -> DbResult<()> {
        Ok(self.client.batch_execute(sql)?)
    }
}

fn refs(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// `?N` → `$N` outside string literals (the store's SQL has no other `?`).
pub(super) fn rewrite(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_literal = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            in_literal = !in_literal;
        }
        if c == '?' && !in_literal && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

/// Column `i` as a [`Value`], by its PostgreSQL type.
pub(super) fn column_value(row: &postgres::Row, i: usize) -> DbResult<Value> {
    let ty = row
        .columns()
        .get(i)
        .map(|c| c.type_().clone())
        .ok_or(DbError::Conversion {
            column: i,
            message: "no such column".into(),
        })?;
    let v = match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
        Type::INT4 => row.try_get::<_, Option<i32>>(i)?.map(|v| Value::Int(v.into())),
        Type::INT2 => row.try_get::<_, Option<i16>>(i)?.map(|v| Value::Int(v.into())),
        Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(Value::Bool),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
        Type::FLOAT4 => row.try_get::<_, Option<f32>>(i)?.map(|v| Value::Real(v.into())),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
            row.try_get::<_, Option<String>>(i)?.map(Value::Text)
        }
        other => {
            return Err(DbError::Conversion {
                column: i,
                message: format!("unsupported PostgreSQL type {other}"),
            });
        }
    };
    Ok(v.unwrap_or(Value::Null))
}

type BoxError = Box<dyn StdError + Sync + Send>;

fn int_to_sql(i: i64, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
    match *ty {
        Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
        Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
        Type::BOOL => (i != 0).to_sql(ty, out),
        Type::FLOAT8 => (i as f64).to_sql(ty, out),
        Type::TEXT | Type::VARCHAR => i.to_string().to_sql(ty, out),
        _ => i.to_sql(ty, out),
    }
}

impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => int_to_sql(*i, ty, out),
            Value::Bool(b) if *ty == Type::BOOL => b.to_sql(ty, out),
            Value::Bool(b) => int_to_sql(i64::from(*b), ty, out),
            Value::Real(f) if *ty == Type::FLOAT4 => (*f as f32).to_sql(ty, out),
            Value::Real(f) => f.to_sql(ty, out),
            Value::Text(s) => s.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    /// Any type: the conversion follows the type the server inferred (see `to_sql`).
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_rewritten_outside_literals() {
        assert_eq!(
            super::rewrite("SELECT ?1, '?2', ?10 WHERE a = 'it''s ?3' AND b = ?3"),
            "SELECT $1, '?2', $10 WHERE a = 'it''s ?3' AND b = $3"
        );
    }
}
