//! Reading account rows: [`AccountRecord`] (one account of one campaign, with its campaign's
//! deadline and reason), the per-state and per-exclusion counts, and the row parser.
//!
//! Read-only: recording scans and results is in `work.rs`, operator changes in `helpdesk.rs`,
//! completions in `completion.rs`.

use std::collections::BTreeMap;

use super::db::{DbResult, Params, Row, params};
use chrono::{DateTime, Utc};

use super::{Store, StoreError, db, parse_time};
use crate::campaign::state::AccountState;

/// One account row of one campaign.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    pub id: i64,
    pub campaign: String,
    pub dn: String,
    pub login: Option<String>,
    pub mail: Vec<String>,
    pub state: AccountState,
    pub prior_flagged: bool,
    pub excluded_reason: Option<String>,
    pub last_error: Option<String>,
    pub marked_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub completed_via: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub display_name: Option<String>,
    pub language: Option<String>,
    /// The account's own deadline when it was extended; the campaign's applies otherwise.
    pub deadline: Option<DateTime<Utc>>,
    /// The campaign's deadline and reason, for mails about this account.
    pub campaign_deadline: DateTime<Utc>,
    pub campaign_reason: String,
}

impl AccountRecord {
    /// The deadline that applies to this account.
    pub fn effective_deadline(&self) -> DateTime<Utc> {
        self.deadline.unwrap_or(self.campaign_deadline)
    }
}

impl Store {
    /// Number of accounts per state.
    pub fn counts(&self, campaign_id: i64) -> Result<BTreeMap<AccountState, u64>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached("SELECT state, COUNT(*) FROM accounts WHERE campaign_id = ?1 GROUP BY state")
            .map_err(db("count"))?;
        let rows = stmt
            .query_map([campaign_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))
            .map_err(db("count"))?;
        let mut counts: BTreeMap<AccountState, u64> = AccountState::ALL.iter().map(|s| (*s, 0)).collect();
        for row in rows {
            let (state, n) = row.map_err(db("count"))?;
            if let Some(s) = AccountState::parse(&state) {
                counts.insert(s, n);
            }
        }
        Ok(counts)
    }

    /// Excluded accounts per reason.
    pub fn exclusions(&self, campaign_id: i64) -> Result<BTreeMap<String, u64>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT excluded_reason, COUNT(*) FROM accounts
                 WHERE campaign_id = ?1 AND state = 'excluded' GROUP BY excluded_reason",
            )
            .map_err(db("count exclusions"))?;
        let rows = stmt
            .query_map([campaign_id], |r| {
                Ok((r.get::<_, Option<String>>(0)?.unwrap_or_default(), r.get(1)?))
            })
            .map_err(db("count exclusions"))?;
        rows.collect::<Result<_, _>>().map_err(db("count exclusions"))
    }

    /// Accounts of `campaign_id` in `state`, at most `limit`.
    pub fn accounts_in_state(
        &self,
        campaign_id: i64,
        state: AccountState,
        limit: usize,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        self.query_accounts(
            "a.campaign_id = ?1 AND a.state = ?2 ORDER BY a.id LIMIT ?3",
            params![campaign_id, state.as_str(), limit],
        )
    }

    /// Every campaign's record of the account with this login or DN.
    pub fn accounts_for(&self, login: &str, dn: Option<&str>) -> Result<Vec<AccountRecord>, StoreError> {
        self.query_accounts(
            "(a.login = ?1 OR a.dn = ?2) ORDER BY a.campaign_id",
            params![login, dn.unwrap_or_default()],
        )
    }

    pub(super) fn query_accounts(
        &self,
        condition: &str,
        params: impl Params,
    ) -> Result<Vec<AccountRecord>, StoreError> {
        let conn = self.lock();
        let sql = format!(
            "SELECT a.id, c.name, a.dn, a.login, a.mail, a.state, a.prior_flagged, a.excluded_reason,
                    a.last_error, a.marked_at, a.completed_at, a.completed_via, a.updated_at,
                    a.display_name, a.language, a.deadline, c.deadline, c.reason
             FROM accounts a JOIN campaigns c ON c.id = a.campaign_id WHERE {condition}"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(db("read accounts"))?;
        let rows = stmt.query_map(params, account_from_row).map_err(db("read accounts"))?;
        rows.collect::<Result<_, _>>().map_err(db("read accounts"))
    }
}

fn account_from_row(r: &Row<'_>) -> DbResult<AccountRecord> {
    let mail: String = r.get(4)?;
    let state: String = r.get(5)?;
    let time =
        |i: usize| -> DbResult<Option<DateTime<Utc>>> { Ok(r.get::<_, Option<String>>(i)?.as_deref().map(parse_time)) };
    Ok(AccountRecord {
        id: r.get(0)?,
        campaign: r.get(1)?,
        dn: r.get(2)?,
        login: r.get(3)?,
        mail: serde_json::from_str(&mail).unwrap_or_default(),
        state: AccountState::parse(&state).unwrap_or(AccountState::Pending),
        prior_flagged: r.get(6)?,
        excluded_reason: r.get(7)?,
        last_error: r.get(8)?,
        marked_at: time(9)?,
        completed_at: time(10)?,
        completed_via: r.get(11)?,
        updated_at: time(12)?.unwrap_or_default(),
        display_name: r.get(13)?,
        language: r.get(14)?,
        deadline: time(15)?,
        campaign_deadline: time(16)?.unwrap_or_default(),
        campaign_reason: r.get(17)?,
    })
}
