//! A campaign's progress as counts per account state (`campaign status --json`, the helpdesk).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::campaign::deadline::Enforcement;
use crate::campaign::state::{AccountState, CampaignState};
use crate::store::{Campaign, Store, StoreError};

/// A campaign's progress: counts per account state (`campaign status --json`, the helpdesk API).
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub name: String,
    pub state: CampaignState,
    pub reason: String,
    pub deadline: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub scan_complete: bool,
    pub in_scope: u64,
    pub pending: u64,
    pub marked: u64,
    pub failed: u64,
    pub completed: u64,
    pub exempted: u64,
    pub reverted: u64,
    pub excluded: u64,
    /// Deleted or moved out of scope after the campaign started.
    pub gone: u64,
    /// Marked accounts the deadline locked (or disabled), still locked.
    pub locked: u64,
    /// What happens at the deadline, and the grace before it does.
    pub enforcement: Enforcement,
    pub excluded_by_reason: BTreeMap<String, u64>,
    /// Which instance works the campaign (its lease); `None` when none ever did.
    pub lease: Option<Lease>,
}

/// A campaign's lease as an operator reads it: the holder (the instance's name,
/// `daemon@host:pid:random` or `cli@…`) and whether it is current. A lease is held during a
/// pass and released after it, so between passes the last holder shows, not current.
#[derive(Debug, Clone, Serialize)]
pub struct Lease {
    pub holder: String,
    pub current: bool,
    pub expires_at: DateTime<Utc>,
}

impl Status {
    pub fn read(store: &Store, campaign: &Campaign) -> Result<Status, StoreError> {
        let counts = store.counts(campaign.id)?;
        let n = |s: AccountState| counts.get(&s).copied().unwrap_or(0);
        Ok(Status {
            name: campaign.name.clone(),
            state: campaign.state,
            reason: campaign.reason.clone(),
            deadline: campaign.deadline,
            created_at: campaign.created_at,
            created_by: campaign.created_by.clone(),
            scan_complete: campaign.scan_complete,
            in_scope: counts.iter().filter(|(s, _)| s.in_scope()).map(|(_, n)| n).sum(),
            pending: n(AccountState::Pending),
            marked: n(AccountState::Marked),
            failed: n(AccountState::Failed),
            completed: n(AccountState::Completed),
            exempted: n(AccountState::Exempted),
            reverted: n(AccountState::Reverted),
            excluded: n(AccountState::Excluded),
            gone: n(AccountState::Gone),
            locked: store.count_locked(campaign.id)?,
            enforcement: campaign.enforcement,
            excluded_by_reason: store.exclusions(campaign.id)?,
            lease: store.lease_info(campaign.id)?.map(|l| Lease {
                holder: l.holder,
                current: l.current,
                expires_at: l.expires_at,
            }),
        })
    }
}
