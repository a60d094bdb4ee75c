//! One-time links as the portal sees them: usable or not, and whose.

use chrono::Utc;

use super::PortalState;
use crate::campaign::state::{AccountState, CampaignState};
use crate::store::{AccountRecord, LockState, StoreError, TokenRecord};
use crate::token;

/// A usable link: its record and the account it belongs to.
#[derive(Debug, Clone)]
pub struct LinkTarget {
    pub hash: String,
    pub token: TokenRecord,
    pub account: AccountRecord,
}

impl LinkTarget {
    /// The login shown on the page and used as the rate-limit key.
    pub fn login(&self) -> String {
        self.token.login.clone().unwrap_or_else(|| self.token.dn.clone())
    }
}

fn open_state(state: AccountState) -> bool {
    matches!(
        state,
        AccountState::Pending | AccountState::Marked | AccountState::Failed
    )
}

/// Looks a link up: `None` unless it is well formed, known, unused, unrevoked, unexpired, and
/// its account is pending/marked/failed in a campaign that is marking or active, and not locked
/// at the deadline.
pub async fn open_link(state: &PortalState, link: &str) -> Result<Option<LinkTarget>, StoreError> {
    if !token::well_formed(link) {
        return Ok(None);
    }
    let hash = token::hash(link);
    state
        .store()
        .run(move |s| {
            let Some(token) = s.token(&hash)? else { return Ok(None) };
            if token.used_at.is_some() || token.revoked_at.is_some() || token.expires_at <= Utc::now() {
                return Ok(None);
            }
            let Some(account) = s.account(token.account_id)? else {
                return Ok(None);
            };
            let campaign_open = s
                .campaign(&account.campaign)?
                .is_some_and(|c| matches!(c.state, CampaignState::Marking | CampaignState::Active));
            // Locked at the deadline: the helpdesk unlocks it and sends a fresh link.
            let locked = s
                .lock_of(account.id)?
                .is_some_and(|l| matches!(l.state, Some(LockState::Locking | LockState::Locked)));
            Ok((open_state(account.state) && campaign_open && !locked).then_some(LinkTarget { hash, token, account }))
        })
        .await
}
