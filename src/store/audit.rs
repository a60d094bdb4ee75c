//! The audit trail in the store: who did what to which campaign or account, and when.
//!
//! Append-only: entries are written, never changed or deleted. Batched writes that carry an
//! audit record with a state change (`work.rs`, `helpdesk.rs`, `completion.rs`) write it in
//! their own transaction; this module holds the standalone writes and the reads.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

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

impl Store {
    pub fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "INSERT INTO audit (at, actor, action, campaign, account, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    timestamp(entry.at),
                    entry.actor,
                    entry.action,
                    entry.campaign,
                    entry.account,
                    entry.detail
                ],
            )
            .map(drop)
            .map_err(db("write audit"))
    }

    /// Audit records about a campaign (`account` = None) or an account, oldest first.
    pub fn audit_trail(&self, campaign: Option<&str>, account: Option<&str>) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT at, actor, action, campaign, account, detail FROM audit
                 WHERE (?1 IS NULL OR campaign = ?1) AND (?2 IS NULL OR account = ?2) ORDER BY id",
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
