//! The deadline's locks in the store: a campaign's [`Enforcement`], and per account the lock
//! state found before the deadline touched it (`prior_locked`), recorded *before* the directory
//! is written, then the lock (`lock_state`: `locking` → `locked` → `unlocked`), who set it and
//! when. A run killed between the two writes finds `locking` and finishes the lock without
//! reading the prior state again (it would read its own lock).
//!
//! Must not decide who is locked: `crate::engine::deadline` does, with `crate::campaign::deadline`.

use std::time::Duration;

use super::db::{Behavior, DbResult, OptionalExtension, Params, Row, params};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AuditEntry, Store, StoreError, db, parse_time, timestamp};
use crate::campaign::deadline::{AtDeadline, Enforcement};

/// Where an account's deadline lock stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockState {
    /// The prior state is recorded; the directory may or may not be written yet.
    Locking,
    Locked,
    /// Undone (revert, exemption, the helpdesk's unlock): the prior state is back.
    Unlocked,
}

impl LockState {
    pub fn as_str(self) -> &'static str {
        match self {
            LockState::Locking => "locking",
            LockState::Locked => "locked",
            LockState::Unlocked => "unlocked",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [LockState::Locking, LockState::Locked, LockState::Unlocked]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

/// One account's deadline lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LockRecord {
    pub id: i64,
    pub dn: String,
    pub login: Option<String>,
    pub state: Option<LockState>,
    /// Locked before the deadline touched it (then it stays locked when the lock is undone).
    pub prior_locked: Option<bool>,
    pub locked_at: Option<DateTime<Utc>>,
    pub locked_by: Option<String>,
    /// When and by whom the lock was undone (`state` is then `Unlocked`).
    pub unlocked_at: Option<DateTime<Utc>>,
    pub unlocked_by: Option<String>,
}

const LOCK_COLUMNS: &str =
    "a.id, a.dn, a.login, a.lock_state, a.prior_locked, a.locked_at, a.locked_by, a.unlocked_at, a.unlocked_by";

fn lock_from_row(r: &Row<'_>) -> DbResult<LockRecord> {
    Ok(LockRecord {
        id: r.get(0)?,
        dn: r.get(1)?,
        login: r.get(2)?,
        state: r.get::<_, Option<String>>(3)?.as_deref().and_then(LockState::parse),
        prior_locked: r.get(4)?,
        locked_at: r.get::<_, Option<String>>(5)?.as_deref().map(parse_time),
        locked_by: r.get(6)?,
        unlocked_at: r.get::<_, Option<String>>(7)?.as_deref().map(parse_time),
        unlocked_by: r.get(8)?,
    })
}

/// The accounts due for the deadline's action: marked, not locked yet, their own deadline (or the
/// campaign's) at or before `due_before` (`None`: whatever their deadline, for `--now`).
const CANDIDATES: &str = "a.campaign_id = ?1 AND a.state = 'marked'
     AND (a.lock_state IS NULL OR a.lock_state = 'locking')
     AND (CAST(?2 AS TEXT) IS NULL OR COALESCE(a.deadline, c.deadline) <= ?2)";

impl Store {
    /// Records a campaign's enforcement with an audit record, in one transaction.
    pub fn set_enforcement(
        &self,
        campaign_id: i64,
        enforcement: Enforcement,
        actor: &str,
        action: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        // IMMEDIATE: the audit chain's write lock first, before any row lock (on PostgreSQL
        // a row lock taken first could deadlock with a batch that holds the chain's lock).
        let tx = conn
            .transaction_with_behavior(Behavior::Immediate)
            .map_err(db("set enforcement"))?;
        self.check_fence(&tx)?;
        let now = timestamp(Utc::now());
        tx.execute(
            "UPDATE campaigns SET at_deadline = ?2, grace_secs = ?3, updated_at = ?4 WHERE id = ?1",
            params![
                campaign_id,
                enforcement.at_deadline.as_str(),
                enforcement.grace.as_secs() as i64,
                now
            ],
        )
        .map_err(db("set enforcement"))?;
        let campaign: Option<String> = tx
            .query_row("SELECT name FROM campaigns WHERE id = ?1", [campaign_id], |r| r.get(0))
            .optional()
            .map_err(db("set enforcement"))?;
        if let Some(campaign) = campaign {
            // Through the chain (`audit::append`), under the transaction's write lock.
            super::audit::append(
                &tx,
                &AuditEntry {
                    at: Utc::now(),
                    actor: actor.to_owned(),
                    action: action.to_owned(),
                    campaign: Some(campaign),
                    account: None,
                    detail: Some(format!(
                        "at deadline: {}, grace: {}s",
                        enforcement.at_deadline.as_str(),
                        enforcement.grace.as_secs()
                    )),
                },
            )?;
        }
        tx.commit().map_err(db("set enforcement"))
    }

    /// The campaign's enforcement (the default for campaigns recorded before it existed).
    pub fn enforcement(&self, campaign_id: i64) -> Result<Enforcement, StoreError> {
        let row: Option<(String, i64)> = self
            .lock()
            .query_row(
                "SELECT at_deadline, grace_secs FROM campaigns WHERE id = ?1",
                [campaign_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db("read enforcement"))?;
        Ok(row.map_or_else(Enforcement::default, |(a, g)| Enforcement {
            at_deadline: AtDeadline::parse(&a).unwrap_or_default(),
            grace: Duration::from_secs(g.max(0) as u64),
        }))
    }

    /// Accounts due for the deadline's action (see [`CANDIDATES`]), in id order after `after_id`.
    pub fn lock_candidates(
        &self,
        campaign_id: i64,
        due_before: Option<DateTime<Utc>>,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<LockRecord>, StoreError> {
        let due = due_before.map(timestamp);
        self.query_locks(
            &format!("{CANDIDATES} AND a.id > ?3 ORDER BY a.id LIMIT ?4"),
            params![campaign_id, due, after_id, limit],
        )
    }

    /// How many accounts are due for the deadline's action.
    pub fn count_lock_candidates(
        &self,
        campaign_id: i64,
        due_before: Option<DateTime<Utc>>,
    ) -> Result<u64, StoreError> {
        let due = due_before.map(timestamp);
        self.lock()
            .query_row(
                &format!("SELECT COUNT(*) FROM accounts a JOIN campaigns c ON c.id = a.campaign_id WHERE {CANDIDATES}"),
                params![campaign_id, due],
                |r| r.get(0),
            )
            .map_err(db("count lock candidates"))
    }

    /// Accounts whose lock the deadline set (or was setting), in id order after `after_id`.
    pub fn locks_after(&self, campaign_id: i64, after_id: i64, limit: usize) -> Result<Vec<LockRecord>, StoreError> {
        self.query_locks(
            "a.campaign_id = ?1 AND a.lock_state IN ('locking', 'locked') AND a.id > ?2 ORDER BY a.id LIMIT ?3",
            params![campaign_id, after_id, limit],
        )
    }

    /// One account's lock.
    pub fn lock_of(&self, account_id: i64) -> Result<Option<LockRecord>, StoreError> {
        Ok(self.query_locks("a.id = ?1", [account_id])?.pop())
    }

    /// Accounts of the campaign locked by the deadline now.
    pub fn count_locked(&self, campaign_id: i64) -> Result<u64, StoreError> {
        self.lock()
            .query_row(
                "SELECT COUNT(*) FROM accounts WHERE campaign_id = ?1 AND lock_state = 'locked'",
                [campaign_id],
                |r| r.get(0),
            )
            .map_err(db("count locked"))
    }

    /// Records the lock state found before locking, if the account is still marked and not yet
    /// being locked. `false`: it changed meanwhile (or is already being locked): do not lock.
    pub fn record_lock_prior(&self, account_id: i64, prior_locked: bool) -> Result<bool, StoreError> {
        let n = self.fenced_write("record lock", |c| {
            c.execute(
                "UPDATE accounts SET lock_state = 'locking', prior_locked = ?2, updated_at = ?3
                 WHERE id = ?1 AND state = 'marked' AND lock_state IS NULL",
                params![account_id, prior_locked, timestamp(Utc::now())],
            )
            .map_err(db("record lock"))
        })?;
        Ok(n == 1)
    }

    /// Records that the lock is in place, with its audit record, once.
    pub fn record_locked(&self, account_id: i64, actor: &str, detail: &str) -> Result<bool, StoreError> {
        self.lock_transition(
            account_id,
            "locking",
            LockState::Locked,
            actor,
            "account.locked",
            detail,
        )
    }

    /// Records that the lock was undone (the prior state restored), with its audit record.
    pub fn record_unlocked(
        &self,
        account_id: i64,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<bool, StoreError> {
        self.lock_transition(
            account_id,
            "locking','locked",
            LockState::Unlocked,
            actor,
            action,
            detail,
        )
    }

    fn lock_transition(
        &self,
        account_id: i64,
        from: &str,
        to: LockState,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let now = timestamp(Utc::now());
        let mut conn = self.lock();
        // IMMEDIATE: the audit chain's write lock first, before any row lock (on PostgreSQL
        // a row lock taken first could deadlock with a batch that holds the chain's lock).
        let tx = conn
            .transaction_with_behavior(Behavior::Immediate)
            .map_err(db("record lock"))?;
        self.check_fence(&tx)?;
        // `from` is one of this module's constants, never a value from outside.
        let n = tx
            .execute(
                &format!(
                    "UPDATE accounts SET lock_state = ?2, updated_at = ?3,
                         locked_at = CASE WHEN ?2 = 'locked' THEN ?3 ELSE locked_at END,
                         locked_by = CASE WHEN ?2 = 'locked' THEN ?4 ELSE locked_by END,
                         unlocked_at = CASE WHEN ?2 = 'unlocked' THEN ?3 ELSE unlocked_at END,
                         unlocked_by = CASE WHEN ?2 = 'unlocked' THEN ?4 ELSE unlocked_by END
                     WHERE id = ?1 AND lock_state IN ('{from}')"
                ),
                params![account_id, to.as_str(), now, actor],
            )
            .map_err(db("record lock"))?;
        if n == 1 {
            let (campaign, login): (String, Option<String>) = tx
                .query_row(
                    "SELECT c.name, a.login FROM accounts a JOIN campaigns c ON c.id = a.campaign_id WHERE a.id = ?1",
                    [account_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(db("record lock"))?;
            // Through the chain (`audit::append`), under the transaction's write lock.
            super::audit::append(
                &tx,
                &AuditEntry {
                    at: Utc::now(),
                    actor: actor.to_owned(),
                    action: action.to_owned(),
                    campaign: Some(campaign),
                    account: login,
                    detail: Some(detail.to_owned()),
                },
            )?;
        }
        tx.commit().map_err(db("record lock"))?;
        Ok(n == 1)
    }

    fn query_locks(&self, condition: &str, params: impl Params) -> Result<Vec<LockRecord>, StoreError> {
        let conn = self.lock();
        let sql =
            format!("SELECT {LOCK_COLUMNS} FROM accounts a JOIN campaigns c ON c.id = a.campaign_id WHERE {condition}");
        let mut stmt = conn.prepare_cached(&sql).map_err(db("read locks"))?;
        let rows = stmt.query_map(params, lock_from_row).map_err(db("read locks"))?;
        rows.collect::<Result<_, _>>().map_err(db("read locks"))
    }
}
