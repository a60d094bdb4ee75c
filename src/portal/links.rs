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

/// What a link opens.
#[derive(Debug, Clone)]
pub enum Link {
    Usable(Box<LinkTarget>),
    /// A link pwresetd mailed to an account the deadline locked (whatever its expiry): the
    /// portal answers the "locked at the deadline" page.
    Locked,
    /// Anything else: malformed, unknown, spent, expired, revoked, or its account is no longer
    /// expected to change.
    Gone,
}

/// Looks a link up: `None` unless it is well formed, known, unused, unrevoked, unexpired, and
/// its account is pending/marked/failed in a campaign that is marking or active, and not locked
/// at the deadline.
pub async fn open_link(state: &PortalState, link: &str) -> Result<Option<LinkTarget>, StoreError> {
    Ok(match look_up(state, link).await? {
        Link::Usable(target) => Some(*target),
        Link::Locked | Link::Gone => None,
    })
}

/// What `link` opens, from one store read (no directory read on any path).
///
/// What the answer reveals: [`Link::Locked`] needs a token the store knows, i.e. one pwresetd
/// mailed to that account's address (256 random bits: nobody guesses one). A stranger with a
/// made-up, truncated or altered token always gets [`Link::Gone`], exactly as before the
/// deadline existed, and learns nothing about which accounts exist or are locked; the login is
/// on neither page. Only whoever holds the account's own mailed link learns that it is locked,
/// which is what its owner needs to hear (and what the `locked` mail tells them anyway). Both
/// answers take the same path (this one read, then a page of the same status and shape), so the
/// timing does not separate them either.
pub async fn look_up(state: &PortalState, link: &str) -> Result<Link, StoreError> {
    if !token::well_formed(link) {
        return Ok(Link::Gone);
    }
    let hash = token::hash(link);
    state
        .store()
        .run(move |s| {
            let Some(token) = s.token(&hash)? else {
                return Ok(Link::Gone);
            };
            // Locked at the deadline: the helpdesk unlocks it and sends a fresh link.
            let locked = s
                .lock_of(token.account_id)?
                .is_some_and(|l| matches!(l.state, Some(LockState::Locking | LockState::Locked)));
            if locked {
                return Ok(Link::Locked);
            }
            if token.used_at.is_some() || token.revoked_at.is_some() || token.expires_at <= Utc::now() {
                return Ok(Link::Gone);
            }
            let Some(account) = s.account(token.account_id)? else {
                return Ok(Link::Gone);
            };
            let campaign_open = s
                .campaign(&account.campaign)?
                .is_some_and(|c| matches!(c.state, CampaignState::Marking | CampaignState::Active));
            Ok(if open_state(account.state) && campaign_open {
                Link::Usable(Box::new(LinkTarget { hash, token, account }))
            } else {
                Link::Gone
            })
        })
        .await
}
