//! The embedded store (SQLite, WAL): campaigns, their accounts and states, the audit trail.
//!
//! A concrete type, not a trait: there is one store. Methods are synchronous and short; async
//! callers run them through [`Store::run`] on the blocking pool. Batches are written in one
//! transaction each so the store keeps up with the directory.

mod completion;
pub mod config;
mod helpdesk;
mod lease;
mod notify;
pub use completion::Completion;
pub use helpdesk::{AccountList, Found, FoundIn, OperatorChange, Progress};
pub use lease::{holder_is_dead, holder_name};
pub use notify::{MailCandidate, MailOutcome, MailRecord, MailState, TokenRecord};
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::campaign::scope::ScanItem;
use crate::campaign::state::{AccountState, CampaignState, Via};

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

/// The parameters that define which accounts a campaign covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    pub flavor: String,
    pub base_dn: String,
    pub user_filter: String,
    pub exclude_filter: Option<String>,
    pub login_attribute: String,
}

/// What `campaign start` asks for.
#[derive(Debug, Clone)]
pub struct CampaignSpec {
    pub name: String,
    pub reason: String,
    pub deadline: DateTime<Utc>,
    pub scope: Scope,
}

#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub reason: String,
    pub deadline: DateTime<Utc>,
    pub scope: Scope,
    pub state: CampaignState,
    pub scan_complete: bool,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// Whether `create_or_resume` made a new campaign or found the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    Created,
    Resumed,
}

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

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub campaign: Option<String>,
    pub account: Option<String>,
    pub detail: Option<String>,
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

    /// Creates the campaign, or returns the existing one when its parameters are the same.
    pub fn create_or_resume(&self, spec: &CampaignSpec, actor: &str) -> Result<(Campaign, Opened), StoreError> {
        if let Some(existing) = self.campaign(&spec.name)? {
            let differences = differences(&existing, spec);
            if !differences.is_empty() {
                return Err(StoreError::CampaignMismatch {
                    name: spec.name.clone(),
                    differences,
                });
            }
            return Ok((existing, Opened::Resumed));
        }
        let now = timestamp(Utc::now());
        let scope = serde_json::to_string(&spec.scope).map_err(|e| StoreError::Worker(e.to_string()))?;
        let conn = self.lock();
        conn.execute(
            "INSERT INTO campaigns (name, reason, deadline, scope, state, created_at, created_by, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6)",
            params![
                spec.name,
                spec.reason,
                timestamp(spec.deadline),
                scope,
                CampaignState::Marking.as_str(),
                now,
                actor
            ],
        )
        .map_err(db("create campaign"))?;
        drop(conn);
        let campaign = self
            .campaign(&spec.name)?
            .ok_or(StoreError::Worker("campaign vanished".into()))?;
        Ok((campaign, Opened::Created))
    }

    pub fn campaign(&self, name: &str) -> Result<Option<Campaign>, StoreError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT id, name, reason, deadline, scope, state, scan_complete, created_at, created_by
             FROM campaigns WHERE name = ?1",
            [name],
            campaign_from_row,
        )
        .optional()
        .map_err(db("read campaign"))
    }

    pub fn campaigns(&self) -> Result<Vec<Campaign>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "SELECT id, name, reason, deadline, scope, state, scan_complete, created_at, created_by
                 FROM campaigns ORDER BY id",
            )
            .map_err(db("list campaigns"))?;
        let rows = stmt.query_map([], campaign_from_row).map_err(db("list campaigns"))?;
        rows.collect::<Result<_, _>>().map_err(db("list campaigns"))
    }

    pub fn set_campaign_state(&self, id: i64, state: CampaignState) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "UPDATE campaigns SET state = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, state.as_str(), timestamp(Utc::now())],
            )
            .map(drop)
            .map_err(db("update campaign"))
    }

    pub fn set_scan_complete(&self, id: i64) -> Result<(), StoreError> {
        self.lock()
            .execute(
                "UPDATE campaigns SET scan_complete = 1, updated_at = ?2 WHERE id = ?1",
                params![id, timestamp(Utc::now())],
            )
            .map(drop)
            .map_err(db("update campaign"))
    }

    /// Records scanned accounts (ignoring those already recorded) in one transaction and returns
    /// the newly recorded ones that still need marking.
    pub fn insert_scanned(&self, campaign_id: i64, items: &[ScanItem]) -> Result<Vec<WorkItem>, StoreError> {
        use crate::campaign::state::{Event, PriorFlag, apply};
        let now = timestamp(Utc::now());
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db("record scan"))?;
        let mut fresh = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO accounts (campaign_id, dn, login, mail, display_name, language, state,
                         prior_flagged, excluded_reason, marked_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     ON CONFLICT (campaign_id, dn) DO NOTHING",
                )
                .map_err(db("record scan"))?;
            for item in items {
                match item {
                    ScanItem::InScope(a) => {
                        let prior = PriorFlag::from_flagged(a.flagged);
                        let state = apply(None, Event::Scanned(prior))
                            .map(|t| t.next)
                            .unwrap_or(AccountState::Pending);
                        let mail = serde_json::to_string(&a.mail).unwrap_or_else(|_| "[]".into());
                        let marked_at = (state == AccountState::Marked).then_some(&now);
                        let n = stmt
                            .execute(params![
                                campaign_id,
                                a.dn,
                                a.login,
                                mail,
                                a.display_name,
                                a.language,
                                state.as_str(),
                                a.flagged,
                                None::<String>,
                                marked_at,
                                now
                            ])
                            .map_err(db("record scan"))?;
                        if n == 1 && state == AccountState::Pending {
                            fresh.push(WorkItem {
                                id: tx.last_insert_rowid(),
                                dn: a.dn.clone(),
                                state,
                                prior_flagged: false,
                                marked_at: None,
                            });
                        }
                    }
                    ScanItem::Excluded { dn, login, reason } => {
                        stmt.execute(params![
                            campaign_id,
                            dn,
                            login,
                            "[]",
                            None::<String>,
                            None::<String>,
                            AccountState::Excluded.as_str(),
                            false,
                            reason.as_str(),
                            None::<String>,
                            now
                        ])
                        .map_err(db("record scan"))?;
                    }
                }
            }
        }
        tx.commit().map_err(db("record scan"))?;
        Ok(fresh)
    }

    /// Puts failed accounts back to pending so a new run retries them; returns how many.
    pub fn retry_failed(&self, campaign_id: i64) -> Result<usize, StoreError> {
        self.lock()
            .execute(
                "UPDATE accounts SET state = 'pending', updated_at = ?2 WHERE campaign_id = ?1 AND state = 'failed'",
                params![campaign_id, timestamp(Utc::now())],
            )
            .map_err(db("retry failed"))
    }

    /// Accounts in one of `states`, in id order after `after_id`, at most `limit`.
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
             WHERE campaign_id = ?1 AND state IN ({list}) AND id > ?2 ORDER BY id LIMIT ?3"
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(db("read work"))?;
        let rows = stmt
            .query_map(params![campaign_id, after_id, limit as i64], |r| {
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
        let now = timestamp(Utc::now());
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(db("record results"))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE accounts SET state = ?2, last_error = ?3, updated_at = ?4,
                         marked_at = CASE WHEN ?2 = 'marked' THEN ?4 ELSE marked_at END,
                         completed_at = CASE WHEN ?2 = 'completed' THEN ?4 ELSE completed_at END,
                         completed_via = CASE WHEN ?2 = 'completed' THEN ?5 ELSE completed_via END
                     WHERE id = ?1 AND (?6 IS NULL OR state = ?6)",
                )
                .map_err(db("record results"))?;
            let mut audit = tx
                .prepare_cached(
                    "INSERT INTO audit (at, actor, action, campaign, account, detail)
                     SELECT ?1, ?2, ?3, c.name, a.login, ?5 FROM accounts a JOIN campaigns c ON c.id = a.campaign_id
                     WHERE a.id = ?4",
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
                    audit
                        .execute(params![now, actor, action, u.id, detail])
                        .map_err(db("write audit"))?;
                }
            }
        }
        tx.commit().map_err(db("record results"))
    }

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
            params![campaign_id, state.as_str(), limit as i64],
        )
    }

    /// Every campaign's record of the account with this login or DN.
    pub fn accounts_for(&self, login: &str, dn: Option<&str>) -> Result<Vec<AccountRecord>, StoreError> {
        self.query_accounts(
            "(a.login = ?1 OR a.dn = ?2) ORDER BY a.campaign_id",
            params![login, dn.unwrap_or_default()],
        )
    }

    fn query_accounts(&self, condition: &str, params: impl rusqlite::Params) -> Result<Vec<AccountRecord>, StoreError> {
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
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(db("migrate"))?;
        tx.commit().map_err(db("migrate"))?;
    }
    Ok(())
}

fn differences(existing: &Campaign, spec: &CampaignSpec) -> Vec<String> {
    let mut d = Vec::new();
    if existing.reason != spec.reason {
        d.push(format!("reason {:?} ≠ {:?}", existing.reason, spec.reason));
    }
    if existing.deadline != spec.deadline {
        d.push(format!(
            "deadline {} ≠ {}",
            timestamp(existing.deadline),
            timestamp(spec.deadline)
        ));
    }
    let (a, b) = (&existing.scope, &spec.scope);
    for (what, x, y) in [
        ("flavor", Some(&a.flavor), Some(&b.flavor)),
        ("base_dn", Some(&a.base_dn), Some(&b.base_dn)),
        ("user_filter", Some(&a.user_filter), Some(&b.user_filter)),
        ("exclude_filter", a.exclude_filter.as_ref(), b.exclude_filter.as_ref()),
        ("login_attribute", Some(&a.login_attribute), Some(&b.login_attribute)),
    ] {
        if x != y {
            d.push(format!("{what} {x:?} ≠ {y:?}"));
        }
    }
    d
}

fn campaign_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Campaign> {
    let scope: String = r.get(4)?;
    let state: String = r.get(5)?;
    Ok(Campaign {
        id: r.get(0)?,
        name: r.get(1)?,
        reason: r.get(2)?,
        deadline: parse_time(&r.get::<_, String>(3)?),
        scope: serde_json::from_str(&scope)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e)))?,
        state: CampaignState::parse(&state).unwrap_or(CampaignState::Marking),
        scan_complete: r.get(6)?,
        created_at: parse_time(&r.get::<_, String>(7)?),
        created_by: r.get(8)?,
    })
}

fn account_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AccountRecord> {
    let mail: String = r.get(4)?;
    let state: String = r.get(5)?;
    let time = |i: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        Ok(r.get::<_, Option<String>>(i)?.as_deref().map(parse_time))
    };
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

#[cfg(test)]
mod tests;
