//! The audit trail in the store: who did what to which campaign or account, and when.
//!
//! Append-only (triggers refuse updates and deletes) and hash-chained (see [`super::chain`]):
//! every write goes through [`append`], which reads its chain's head and inserts the sealed
//! record. Batched writes that carry an audit record with a state change (`work.rs`,
//! `helpdesk.rs`, `completion.rs`) call it inside their own transaction; each of those, like
//! [`Store::audit`], is an IMMEDIATE transaction, so the head read and the insert hold the
//! database's write lock together and two processes cannot fork a chain.

use super::db::{Behavior, Conn, OptionalExtension, params};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::chain::{AuditRecord, GENESIS};
use super::{Store, StoreError, db, parse_time, timestamp};

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub campaign: Option<String>,
    pub account: Option<String>,
    pub detail: Option<String>,
}

/// Appends `entry` to its campaign's chain. The caller holds an IMMEDIATE transaction (or
/// the write lock by an earlier write in it).
pub(super) fn append(conn: &Conn, entry: &AuditEntry) -> Result<(), StoreError> {
    // PostgreSQL: the store's write lock, so two instances never chain onto one head.
    conn.lock_writes().map_err(db("read audit chain"))?;
    let head_sql = match entry.campaign {
        Some(_) => "SELECT hash FROM audit WHERE campaign = ?1 ORDER BY id DESC LIMIT 1",
        None => "SELECT hash FROM audit WHERE campaign IS NULL AND CAST(?1 AS TEXT) IS NULL ORDER BY id DESC LIMIT 1",
    };
    let head: Option<String> = conn
        .prepare_cached(head_sql)
        .and_then(|mut s| s.query_row([&entry.campaign], |r| r.get(0)).optional())
        .map_err(db("read audit chain"))?;
    let id: i64 = conn
        .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM audit", [], |r| r.get(0))
        .map_err(db("read audit chain"))?;
    let record = AuditRecord {
        id,
        at: timestamp(entry.at),
        actor: entry.actor.clone(),
        action: entry.action.clone(),
        campaign: entry.campaign.clone(),
        account: entry.account.clone(),
        detail: entry.detail.clone(),
        prev: head.unwrap_or_else(|| GENESIS.to_owned()),
        hash: String::new(),
    }
    .seal();
    conn.prepare_cached(
        "INSERT INTO audit (id, at, actor, action, campaign, account, detail, prev, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut s| {
        s.execute(params![
            record.id,
            record.at,
            record.actor,
            record.action,
            record.campaign,
            record.account,
            record.detail,
            record.prev,
            record.hash
        ])
    })
    .map(drop)
    .map_err(db("write audit"))
}

/// Chains the records written before the chain existed (the migration that added it), in id
/// order, each into its campaign's chain.
pub(super) fn chain_existing(conn: &Conn) -> Result<(), StoreError> {
    let records = read_records(conn, None)?;
    let mut heads = std::collections::HashMap::new();
    let mut update = conn
        .prepare("UPDATE audit SET prev = ?2, hash = ?3 WHERE id = ?1")
        .map_err(db("chain audit"))?;
    for mut record in records {
        record.prev = heads
            .get(&record.campaign)
            .cloned()
            .unwrap_or_else(|| GENESIS.to_owned());
        let record = record.seal();
        update
            .execute(params![record.id, record.prev, record.hash])
            .map_err(db("chain audit"))?;
        heads.insert(record.campaign, record.hash);
    }
    Ok(())
}

/// The records of one campaign (or all), in id order, as stored.
fn read_records(conn: &Conn, campaign: Option<&str>) -> Result<Vec<AuditRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, at, actor, action, campaign, account, detail, prev, hash FROM audit
             WHERE CAST(?1 AS TEXT) IS NULL OR campaign = ?1 ORDER BY id",
        )
        .map_err(db("read audit"))?;
    let rows = stmt
        .query_map([campaign], |r| {
            Ok(AuditRecord {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                action: r.get(3)?,
                campaign: r.get(4)?,
                account: r.get(5)?,
                detail: r.get(6)?,
                prev: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
                hash: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
            })
        })
        .map_err(db("read audit"))?;
    rows.collect::<Result<_, _>>().map_err(db("read audit"))
}

impl Store {
    pub fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(Behavior::Immediate)
            .map_err(db("write audit"))?;
        append(&tx, entry)?;
        tx.commit().map_err(db("write audit"))
    }

    /// The chained records of one campaign (`None`: every record), oldest first, as
    /// `audit export` writes them and `audit verify --store` checks them.
    pub fn audit_records(&self, campaign: Option<&str>) -> Result<Vec<AuditRecord>, StoreError> {
        read_records(&self.lock(), campaign)
    }

    /// Audit records about a campaign (`account` = None) or an account, oldest first.
    pub fn audit_trail(&self, campaign: Option<&str>, account: Option<&str>) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT at, actor, action, campaign, account, detail FROM audit
                 WHERE (CAST(?1 AS TEXT) IS NULL OR campaign = ?1) AND (CAST(?2 AS TEXT) IS NULL OR account = ?2) ORDER BY id",
            )
            .map_err(db("read audit"))?;
        let rows = stmt
            .query_map(params![campaign, account], |r| {
                Ok(AuditEntry {
                    at: parse_time(&r.get::<_, String>(0)?),
                    actor: r.get(1)?,
                    action: r.get(2)?,
                    campaign: r.get(3)?,
                    account: r.get(4)?,
                    detail: r.get(5)?,
                })
            })
            .map_err(db("read audit"))?;
        rows.collect::<Result<_, _>>().map_err(db("read audit"))
    }
}
