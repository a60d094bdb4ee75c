//! The runner's queue in the store: recording scanned accounts ([`Store::insert_scanned`]),
//! reading the accounts left to work on ([`WorkItem`]), and recording batches of results
//! ([`Update`]), each batch in one transaction so the store keeps up with the directory.
//!
//! Must not decide states: the transitions come from `campaign::state`; this only writes them.

use super::db::{Behavior, params};
use super::db::{ToValue, Value};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

use super::{AuditEntry, Store, StoreError, audit, db, parse_time, timestamp};
use crate::campaign::scope::ScanItem;
use crate::campaign::state::{AccountState, Via};

/// A state change to record for one account.
#[derive(Debug, Clone)]
pub struct Update {
    pub id: i64,
    pub state: AccountState,
    pub error: Option<String>,
    /// How the account completed, when `state` is completed.
    pub via: Option<Via>,
    /// An audit record to write with the change: (actor, action, detail).
    pub audit: Option<(&'static str, &'static str, String)>,
    /// Apply only if the account is still in this state (it was decided from it): an operator's
    /// change made meanwhile wins.
    pub expected: Option<AccountState>,
}

impl Update {
    pub fn new(id: i64, state: AccountState, error: Option<String>) -> Self {
        Update {
            id,
            state,
            error,
            via: None,
            audit: None,
            expected: None,
        }
    }
}

/// An account the runner has to work on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub id: i64,
    pub dn: String,
    pub state: AccountState,
    pub prior_flagged: bool,
    pub marked_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Records scanned accounts (ignoring those already recorded) in one transaction and returns
    /// the newly recorded ones that still need marking.
    ///
    /// Many rows per statement: on SQLite every statement that fires the search index's trigger
    /// opens a savepoint, and FTS5 writes its pending index segment at each one, so a statement
    /// per row made the scan of 100k accounts cost ~3 s of index merging (the scan itself reads
    /// them in 0.75 s).
    pub fn insert_scanned(&self, campaign_id: i64, items: &[ScanItem]) -> Result<Vec<WorkItem>, StoreError> {
        let now = timestamp(Utc::now());
        let rows: Vec<ScannedRow<'_>> = items
            .iter()
            .map(|item| ScannedRow::new(campaign_id, item, &now))
            .collect();
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db("record scan"))?;
        self.check_fence(&tx)?;
        let mut fresh = Vec::new();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let mut stmt = tx
                .prepare_cached(&insert_scanned_sql(chunk.len()))
                .map_err(db("record scan"))?;
            let values: Vec<Value> = chunk.iter().flat_map(|r| r.values.iter().cloned()).collect();
            // RETURNING gives the inserted rows in no promised order: matched back by DN.
            let inserted: HashMap<String, i64> = stmt
                .query_map(values, |r| Ok((r.get(1)?, r.get(0)?)))
                .and_then(Iterator::collect)
                .map_err(db("record scan"))?;
            for row in chunk.iter().filter(|r| r.state == AccountState::Pending) {
                if let Some(&id) = inserted.get(row.dn) {
                    fresh.push(WorkItem {
                        id,
                        dn: row.dn.to_owned(),
                        state: row.state,
                        prior_flagged: false,
                        marked_at: None,
                    });
                }
            }
        }
        tx.commit().map_err(db("record scan"))?;
        Ok(fresh)
    }

    /// Puts failed accounts back to pending so a new run retries them; returns how many.
    pub fn retry_failed(&self, campaign_id: i64) -> Result<usize, StoreError> {
        self.fenced_write("retry failed", |c| {
            c.execute(
                "UPDATE accounts SET state = 'pending', updated_at = ?2 WHERE campaign_id = ?1 AND state = 'failed'",
                params![campaign_id, timestamp(Utc::now())],
            )
            .map_err(db("retry failed"))
        })
    }

    /// Accounts in one of `states`, in id order after `after_id`, at most `limit`. Accounts the
    /// deadline locked are left out: a locked account looks disabled (or out of scope) to the
    /// directory, and its flag is for the lock's undoing to give back first.
    pub fn work_after(
        &self,
        campaign_id: i64,
        states: &[AccountState],
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<WorkItem>, StoreError> {
        let conn = self.lock();
        let list = states
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT id, dn, state, prior_flagged, marked_at FROM accounts
             WHERE campaign_id = ?1 AND state IN ({list}) AND id > ?2
                 AND (lock_state IS NULL OR lock_state = 'unlocked') ORDER BY id LIMIT ?3"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(db("read work"))?;
        let rows = stmt
            .query_map(params![campaign_id, after_id, limit], |r| {
                let state: String = r.get(2)?;
                Ok(WorkItem {
                    id: r.get(0)?,
                    dn: r.get(1)?,
                    state: AccountState::parse(&state).unwrap_or(AccountState::Pending),
                    prior_flagged: r.get(3)?,
                    marked_at: r.get::<_, Option<String>>(4)?.as_deref().map(parse_time),
                })
            })
            .map_err(db("read work"))?;
        rows.collect::<Result<_, _>>().map_err(db("read work"))
    }

    /// Records a batch of state changes in one transaction.
    pub fn record(&self, updates: &[Update]) -> Result<(), StoreError> {
        let now_at = Utc::now();
        let now = timestamp(now_at);
        let mut conn = self.lock();
        // IMMEDIATE: the audit chain's head is read and extended under the write lock.
        let tx = conn
            .transaction_with_behavior(Behavior::Immediate)
            .map_err(db("record results"))?;
        self.check_fence(&tx)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE accounts SET state = ?2, last_error = ?3, updated_at = ?4,
                         marked_at = CASE WHEN ?2 = 'marked' THEN ?4 ELSE marked_at END,
                         completed_at = CASE WHEN ?2 = 'completed' THEN ?4 ELSE completed_at END,
                         completed_via = CASE WHEN ?2 = 'completed' THEN ?5 ELSE completed_via END
                     WHERE id = ?1 AND (CAST(?6 AS TEXT) IS NULL OR state = ?6)",
                )
                .map_err(db("record results"))?;
            let mut about = tx
                .prepare_cached(
                    "SELECT c.name, a.login FROM accounts a JOIN campaigns c ON c.id = a.campaign_id WHERE a.id = ?1",
                )
                .map_err(db("record results"))?;
            for u in updates {
                let via = u.via.map(Via::as_str);
                let expected = u.expected.map(AccountState::as_str);
                let n = stmt
                    .execute(params![u.id, u.state.as_str(), u.error, now, via, expected])
                    .map_err(db("record results"))?;
                if n == 0 {
                    tracing::info!(account_id = u.id, "account changed meanwhile; result not recorded");
                    continue;
                }
                if let Some((actor, action, detail)) = &u.audit {
                    let (campaign, account) = about
                        .query_row([u.id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(db("write audit"))?;
                    let entry = AuditEntry {
                        at: now_at,
                        actor: (*actor).to_owned(),
                        action: (*action).to_owned(),
                        campaign: Some(campaign),
                        account,
                        detail: Some(detail.clone()),
                    };
                    audit::append(&tx, &entry)?;
                }
            }
        }
        tx.commit().map_err(db("record results"))
    }
}

/// Rows per multi-row INSERT of [`Store::insert_scanned`]: 11 placeholders each, far below
/// SQLite's 32,766 and PostgreSQL's 65,535.
const ROWS_PER_INSERT: usize = 250;

/// `INSERT … VALUES (…), (…) … ON CONFLICT DO NOTHING RETURNING id, dn` for `rows` rows.
fn insert_scanned_sql(rows: usize) -> String {
    let values = (0..rows)
        .map(|r| {
            let p = (1..=11).map(|c| format!("?{}", r * 11 + c)).collect::<Vec<_>>();
            format!("({})", p.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO accounts (campaign_id, dn, login, mail, display_name, language, state,
             prior_flagged, excluded_reason, marked_at, updated_at)
         VALUES {values}
         ON CONFLICT (campaign_id, dn) DO NOTHING RETURNING id, dn"
    )
}

/// One scanned account as the values of an `accounts` row, with the state it starts in.
struct ScannedRow<'a> {
    dn: &'a str,
    state: AccountState,
    values: [Value; 11],
}

impl<'a> ScannedRow<'a> {
    fn new(campaign_id: i64, item: &'a ScanItem, now: &str) -> Self {
        use crate::campaign::state::{Event, PriorFlag, apply};
        match item {
            ScanItem::InScope(a) => {
                let prior = PriorFlag::from_flagged(a.flagged);
                let state = apply(None, Event::Scanned(prior))
                    .map(|t| t.next)
                    .unwrap_or(AccountState::Pending);
                let mail = serde_json::to_string(&a.mail).unwrap_or_else(|_| "[]".into());
                let marked_at = (state == AccountState::Marked).then_some(now);
                ScannedRow {
                    dn: &a.dn,
                    state,
                    values: [
                        campaign_id.to_value(),
                        a.dn.to_value(),
                        a.login.to_value(),
                        mail.to_value(),
                        a.display_name.to_value(),
                        a.language.to_value(),
                        state.as_str().to_value(),
                        a.flagged.to_value(),
                        Value::Null,
                        marked_at.to_value(),
                        now.to_value(),
                    ],
                }
            }
            ScanItem::Excluded { dn, login, reason } => ScannedRow {
                dn,
                state: AccountState::Excluded,
                values: [
                    campaign_id.to_value(),
                    dn.to_value(),
                    login.to_value(),
                    "[]".to_value(),
                    Value::Null,
                    Value::Null,
                    AccountState::Excluded.as_str().to_value(),
                    false.to_value(),
                    reason.as_str().to_value(),
                    Value::Null,
                    now.to_value(),
                ],
            },
        }
    }
}
