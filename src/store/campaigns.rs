//! Campaigns in the store: their definition ([`CampaignSpec`], [`Scope`]), creation or
//! resumption with the same parameters, listing, and their state and scan flags.
//!
//! Owns the `campaigns` table's rows; accounts, mails and the audit trail live in the sibling
//! modules. Must not decide when a campaign changes state: the runner and the CLI do.

use super::db::{DbError, DbResult, OptionalExtension, Row, params};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, db, parse_time, timestamp};
use crate::campaign::deadline::{AtDeadline, Enforcement};
use crate::campaign::state::CampaignState;

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
    /// What happens at the deadline (`campaign start --at-deadline`, `campaign set`).
    pub enforcement: Enforcement,
}

/// Whether `create_or_resume` made a new campaign or found the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    Created,
    Resumed,
}

impl Store {
    /// Creates the campaign, or returns the existing one when its parameters are the same.
    pub fn create_or_resume(&self, spec: &CampaignSpec, actor: &str) -> Result<(Campaign, Opened), StoreError> {
        self.create_or_resume_with(spec, Enforcement::default(), actor)
    }

    /// [`create_or_resume`](Store::create_or_resume), recording `enforcement` with a new campaign
    /// (an existing one keeps its own: changing it is `campaign set`).
    pub fn create_or_resume_with(
        &self,
        spec: &CampaignSpec,
        enforcement: Enforcement,
        actor: &str,
    ) -> Result<(Campaign, Opened), StoreError> {
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
        let created: Option<i64> = conn
            .query_row(
                "INSERT INTO campaigns (name, reason, deadline, scope, state, created_at, created_by, updated_at,
                 at_deadline, grace_secs)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6, ?8, ?9) ON CONFLICT (name) DO NOTHING RETURNING id",
                params![
                    spec.name,
                    spec.reason,
                    timestamp(spec.deadline),
                    scope,
                    CampaignState::Marking.as_str(),
                    now,
                    actor,
                    enforcement.at_deadline.as_str(),
                    enforcement.grace.as_secs() as i64
                ],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("create campaign"))?;
        drop(conn);
        if created.is_none() {
            // Another instance created it between the check and the insert (a shared store):
            // resume it, or report how it differs.
            return self.create_or_resume_with(spec, enforcement, actor);
        }
        let campaign = self
            .campaign(&spec.name)?
            .ok_or(StoreError::Worker("campaign vanished".into()))?;
        Ok((campaign, Opened::Created))
    }

    pub fn campaign(&self, name: &str) -> Result<Option<Campaign>, StoreError> {
        let conn = self.lock();
        conn.query_row(
            &format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE name = ?1"),
            [name],
            campaign_from_row,
        )
        .optional()
        .map_err(db("read campaign"))
    }

    pub fn campaigns(&self) -> Result<Vec<Campaign>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(&format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY id"))
            .map_err(db("list campaigns"))?;
        let rows = stmt.query_map([], campaign_from_row).map_err(db("list campaigns"))?;
        rows.collect::<Result<_, _>>().map_err(db("list campaigns"))
    }

    pub fn set_campaign_state(&self, id: i64, state: CampaignState) -> Result<(), StoreError> {
        self.fenced_write("update campaign", |c| {
            c.execute(
                "UPDATE campaigns SET state = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, state.as_str(), timestamp(Utc::now())],
            )
            .map(drop)
            .map_err(db("update campaign"))
        })
    }

    pub fn set_scan_complete(&self, id: i64) -> Result<(), StoreError> {
        self.fenced_write("update campaign", |c| {
            c.execute(
                "UPDATE campaigns SET scan_complete = 1, updated_at = ?2 WHERE id = ?1",
                params![id, timestamp(Utc::now())],
            )
            .map(drop)
            .map_err(db("update campaign"))
        })
    }
}

fn differences(existing: &Campaign, spec: &CampaignSpec) -> Vec<String> {
    let mut d = Vec::new();
    if existing.reason != spec.reason {
        d.push(format!("reason {:?} ≠ {:?}", existing.reason, spec.reason));
    }
    if existing.deadline != spec.deadline {
        d.push(format!(
            "deadline {} ≠ {}: `campaign set {} --deadline` moves it",
            timestamp(existing.deadline),
            timestamp(spec.deadline),
            existing.name
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

const CAMPAIGN_COLUMNS: &str =
    "id, name, reason, deadline, scope, state, scan_complete, created_at, created_by, at_deadline, grace_secs";

fn campaign_from_row(r: &Row<'_>) -> DbResult<Campaign> {
    let scope: String = r.get(4)?;
    let state: String = r.get(5)?;
    Ok(Campaign {
        id: r.get(0)?,
        name: r.get(1)?,
        reason: r.get(2)?,
        deadline: parse_time(&r.get::<_, String>(3)?),
        scope: serde_json::from_str(&scope).map_err(|e| DbError::Conversion {
            column: 4,
            message: e.to_string(),
        })?,
        state: CampaignState::parse(&state).unwrap_or(CampaignState::Marking),
        scan_complete: r.get(6)?,
        created_at: parse_time(&r.get::<_, String>(7)?),
        created_by: r.get(8)?,
        enforcement: Enforcement {
            at_deadline: AtDeadline::parse(&r.get::<_, String>(9)?).unwrap_or_default(),
            grace: std::time::Duration::from_secs(r.get::<_, i64>(10)?.max(0) as u64),
        },
    })
}
