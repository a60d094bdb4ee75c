//! What an operator sees about one account: the directory's view (flag, lock, failures, policy)
//! and, per campaign, the state, deadline, live link (its expiry, never the token), mails sent
//! and a history; plus the account's audit trail. Read-only.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::HelpdeskState;
use super::error::ApiError;
use crate::campaign::deadline::AtDeadline;
use crate::campaign::state::{AccountState, CampaignState, Event, PriorFlag, apply};
use crate::directory::AccountDetails;
use crate::store::{
    AccountRecord, AuditEntry, Campaign, LockRecord, LockState, MailRecord, MailState, Store, StoreError,
};

/// Audit records shown per account.
const AUDIT_LIMIT: usize = 200;
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub login: String,
    /// `None` when the directory does not know the login (deleted, renamed, out of scope).
    pub directory: Option<DirectoryView>,
    /// Set when the directory could not be asked (the store's view is still shown).
    pub directory_error: Option<String>,
    pub campaigns: Vec<CampaignView>,
    /// The account's audit trail, oldest first (the newest 200 records).
    pub audit: Vec<AuditEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DirectoryView {
    #[serde(flatten)]
    pub details: AccountDetails,
    pub locked: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct CampaignView {
    pub campaign: String,
    pub campaign_state: CampaignState,
    pub campaign_reason: String,
    pub state: AccountState,
    pub prior_flagged: bool,
    /// The deadline that applies to this account…
    pub deadline: DateTime<Utc>,
    /// …and whether it is the account's own (extended) rather than the campaign's.
    pub deadline_extended: bool,
    pub marked_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub completed_via: Option<String>,
    /// The directory's reply when marking failed.
    pub last_error: Option<String>,
    pub excluded_reason: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// When the account's live one-time link expires; `None`: no usable link.
    pub live_link_expires_at: Option<DateTime<Utc>>,
    pub mails: Vec<MailRecord>,
    pub history: Vec<HistoryItem>,
    /// The deadline's lock, once the deadline reached the account; `None` before.
    pub lock: Option<LockView>,
    /// The actions that apply now: `resend`, `exempt`, `extend`, `mark`, `unlock`.
    pub actions: Vec<&'static str>,
}

/// An account's lock at the deadline, as an operator reads it.
#[derive(Debug, Clone, Serialize)]
pub struct LockView {
    /// `locking` (being written), `locked`, or `unlocked` (undone: the prior state is back).
    pub state: LockState,
    /// `campaign_deadline`: the deadline locked it; `prior_lock`: it was locked before the
    /// campaign's deadline reached it, which left it as it was (and an unlock leaves it locked).
    pub set_by: &'static str,
    /// What the deadline does in this campaign: `lock` or `disable`.
    pub action: AtDeadline,
    pub locked_at: Option<DateTime<Utc>>,
    /// `deadline` (the service at deadline + grace) or who ran `campaign deadline --now`.
    pub locked_by: Option<String>,
    pub unlocked_at: Option<DateTime<Utc>>,
    /// The operator (unlock, exempt) or `revert`.
    pub unlocked_by: Option<String>,
}

impl LockView {
    fn of(lock: LockRecord, campaign: &Campaign) -> Option<LockView> {
        Some(LockView {
            state: lock.state?,
            set_by: if lock.prior_locked == Some(true) {
                "prior_lock"
            } else {
                "campaign_deadline"
            },
            action: campaign.enforcement.at_deadline,
            locked_at: lock.locked_at,
            locked_by: lock.locked_by,
            unlocked_at: lock.unlocked_at,
            unlocked_by: lock.unlocked_by,
        })
    }
}

/// One line of an account's history in a campaign.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryItem {
    pub at: DateTime<Utc>,
    pub what: String,
    pub detail: Option<String>,
    pub actor: Option<String>,
}

/// The actions the state machine allows for an account in a campaign.
pub fn allowed_actions(state: AccountState, campaign: CampaignState, prior_flagged: bool) -> Vec<&'static str> {
    if campaign.accepts_operator_actions().is_err() {
        return Vec::new();
    }
    let s = Some(state);
    [
        ("resend", Event::LinkResent),
        ("exempt", Event::Exempt(PriorFlag::from_flagged(prior_flagged))),
        ("extend", Event::DeadlineExtended),
        ("mark", Event::MarkAgain),
    ]
    .into_iter()
    // Exempting an exempted account is accepted (a no-op) but not worth a button.
    .filter(|(name, e)| apply(s, *e).is_ok() && !(*name == "exempt" && state == AccountState::Exempted))
    .map(|(name, _)| name)
    .collect()
}

fn mail_line(m: &MailRecord) -> HistoryItem {
    let what = match (m.kind.as_str(), m.step) {
        ("notice", _) => "notice mail".to_owned(),
        ("reminder", n) => format!("reminder {n} mail"),
        ("resend", _) => "new link mail".to_owned(),
        (crate::store::REQUESTED, _) => "new link mail (asked for on the portal)".to_owned(),
        ("changed", _) => "confirmation mail".to_owned(),
        ("locked", _) => "locked at the deadline mail".to_owned(),
        (k, _) => format!("{k} mail"),
    };
    let detail = match m.state {
        MailState::Sent => format!("sent to {}", m.recipient.as_deref().unwrap_or("-")),
        MailState::Failed => format!("refused: {}", m.error.as_deref().unwrap_or("-")),
        MailState::Retry => format!("not delivered yet: {}", m.error.as_deref().unwrap_or("-")),
        MailState::Sending => "being sent (result not known)".to_owned(),
        MailState::NoAddress => "not sent: no mail address".to_owned(),
    };
    HistoryItem {
        at: m.finished_at.unwrap_or(m.created_at),
        what,
        detail: Some(detail),
        actor: None,
    }
}

/// The history of one account row: marks, mails, completion, failures, and the audit records.
pub fn history(record: &AccountRecord, mails: &[MailRecord], audit: &[AuditEntry]) -> Vec<HistoryItem> {
    let mut items = Vec::new();
    if let Some(at) = record.marked_at {
        let what = if record.prior_flagged {
            "recorded (already flagged)"
        } else {
            "marked"
        };
        items.push(HistoryItem {
            at,
            what: what.into(),
            detail: None,
            actor: None,
        });
    }
    items.extend(mails.iter().map(mail_line));
    let audited_completion = audit.iter().any(|a| a.action == "password.changed");
    if let (Some(at), false) = (record.completed_at, audited_completion) {
        items.push(HistoryItem {
            at,
            what: format!("completed via {}", record.completed_via.as_deref().unwrap_or("-")),
            detail: None,
            actor: None,
        });
    }
    if let (AccountState::Failed, Some(e)) = (record.state, &record.last_error) {
        items.push(HistoryItem {
            at: record.updated_at,
            what: "marking failed".into(),
            detail: Some(e.clone()),
            actor: None,
        });
    }
    items.extend(audit.iter().map(|a| HistoryItem {
        at: a.at,
        what: a.action.clone(),
        detail: a.detail.clone(),
        actor: Some(a.actor.clone()),
    }));
    items.sort_by_key(|i| i.at);
    items
}

fn campaign_view(
    s: &Store,
    record: AccountRecord,
    campaign: &Campaign,
    now: DateTime<Utc>,
) -> Result<CampaignView, StoreError> {
    let mails = s.mail_history(record.id)?;
    let login = record.login.clone().unwrap_or_default();
    let audit = s.audit_trail(Some(&record.campaign), Some(&login))?;
    let live = s.live_link_expiry(record.id, now)?;
    let history = history(&record, &mails, &audit);
    let lock = s.lock_of(record.id)?.and_then(|l| LockView::of(l, campaign));
    let mut actions = allowed_actions(record.state, campaign.state, record.prior_flagged);
    // Unlocking ends in a new link: offered where a resend is, while the deadline's lock holds.
    if actions.contains(&"resend") && lock.as_ref().is_some_and(|l| l.state != LockState::Unlocked) {
        actions.push("unlock");
    }
    Ok(CampaignView {
        lock,
        actions,
        campaign_state: campaign.state,
        campaign_reason: campaign.reason.clone(),
        state: record.state,
        prior_flagged: record.prior_flagged,
        deadline: record.effective_deadline(),
        deadline_extended: record.deadline.is_some(),
        marked_at: record.marked_at,
        completed_at: record.completed_at,
        completed_via: record.completed_via.clone(),
        last_error: record.last_error.clone(),
        excluded_reason: record.excluded_reason.clone(),
        updated_at: record.updated_at,
        live_link_expires_at: live,
        mails,
        history,
        campaign: record.campaign,
    })
}

/// Everything about the account `login`; 404 when neither the directory nor the store knows it.
pub async fn account(state: &HelpdeskState, login: &str) -> Result<AccountView, ApiError> {
    let (details, directory_error) = match state.directory().find_by_login(login).await {
        Ok(d) => (d, None),
        Err(e) if e.is_unavailable() => (None, Some(e.to_string())),
        Err(e) => return Err(ApiError::directory(&e)),
    };
    // The directory's spelling of the login (case) is the one the store recorded.
    let canonical = details
        .as_ref()
        .map_or_else(|| login.to_owned(), |d| d.account.login.clone());
    let dn = details.as_ref().map(|d| d.account.dn.clone());
    let key = canonical.clone();
    let (campaigns, audit) = state
        .store()
        .run(move |s| {
            let now = Utc::now();
            let mut views = Vec::new();
            for record in s.accounts_for(&key, dn.as_deref())? {
                let Some(campaign) = s.campaign(&record.campaign)? else {
                    continue;
                };
                views.push(campaign_view(s, record, &campaign, now)?);
            }
            let audit = s.audit_recent(None, Some(&key), AUDIT_LIMIT)?;
            Ok((views, audit))
        })
        .await
        .map_err(|e| ApiError::store(&e))?;
    if details.is_none() && campaigns.is_empty() && directory_error.is_none() {
        return Err(ApiError::not_found(
            "account_not_found",
            format!("no account {login:?} in the directory or in any campaign"),
        ));
    }
    Ok(AccountView {
        login: canonical,
        directory: details.map(|d| DirectoryView {
            locked: d.locked_at.is_some(),
            details: d,
        }),
        directory_error,
        campaigns,
        audit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_follow_the_state_machine() {
        use AccountState::*;
        let active = CampaignState::Active;
        let table: [(AccountState, CampaignState, &[&str]); 7] = [
            (Marked, active, &["resend", "exempt", "extend", "mark"]),
            (Pending, active, &["resend", "exempt", "extend", "mark"]),
            (Failed, active, &["resend", "exempt", "extend", "mark"]),
            (Exempted, active, &["mark"]),
            (Completed, active, &[]),
            (Excluded, active, &[]),
            (Marked, CampaignState::Reverted, &[]),
        ];
        for (state, campaign, expected) in table {
            assert_eq!(
                allowed_actions(state, campaign, false),
                expected,
                "{state:?} in {campaign:?}"
            );
        }
    }
}
