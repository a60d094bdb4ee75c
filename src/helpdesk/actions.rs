//! What an operator can do to one account in one campaign: send a new link, exempt it (with a
//! reason), extend its deadline, mark it again, unlock it after the deadline locked it (with a
//! reason; a fresh link follows) — never to their own account, and a refusal is audited like an
//! action. Each action: the campaign and account must allow
//! it (`campaign::state::apply` decides, and says why not), the directory is changed first
//! (idempotent), then the store records the new state and the audit record in one transaction —
//! only if the account did not move meanwhile. Repeating an action is safe: it changes nothing
//! more and says so (`changed: false`), and is audited like the first.
//!
//! Known gap: the daemon's reconciliation may be checking the same account at the moment of an
//! exemption; if it saw the account as marked and the flag already cleared, it puts the flag
//! back. Runs of reconciliation and helpdesk actions are not serialised per account.

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::HelpdeskState;
use super::auth::Operator;
use super::error::ApiError;

mod ctx;
use crate::campaign::state::{AccountState, CampaignState, Event, PriorFlag, apply};
use crate::directory::dn;
use crate::store::AccountRecord;
use ctx::Ctx;

/// Longest reason accepted.
pub const MAX_REASON: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Resend,
    Exempt,
    Extend(DateTime<Utc>),
    Mark,
    /// Undo the deadline's lock (the prior lock state comes back) and mail a fresh link.
    Unlock,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Resend => "resend",
            Action::Exempt => "exempt",
            Action::Extend(_) => "extend",
            Action::Mark => "mark",
            Action::Unlock => "unlock",
        }
    }
}

/// An operator's request.
#[derive(Debug, Clone)]
pub struct Request {
    pub action: Action,
    /// Which campaign; may be left out when the account has one open campaign.
    pub campaign: Option<String>,
    pub reason: Option<String>,
}

/// What an action did.
#[derive(Debug, Clone, Serialize)]
pub struct Done {
    pub login: String,
    pub campaign: String,
    pub action: &'static str,
    /// False when the account already was as asked (a repeat).
    pub changed: bool,
    pub state: AccountState,
    pub deadline: DateTime<Utc>,
    pub message: String,
    /// For `resend`: where the new link went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailSent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MailSent {
    pub recipient: Option<String>,
    pub message_id: String,
    pub link_expires_at: Option<DateTime<Utc>>,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A deadline as the API takes it: RFC 3339 (`2027-01-15T17:00:00Z`).
pub fn parse_deadline(text: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_deadline",
                format!("{text:?} is not an RFC 3339 date-time such as \"2027-01-15T17:00:00Z\""),
            )
        })
}

/// A deadline from the web form: RFC 3339, or a `datetime-local` value taken as UTC.
pub fn parse_deadline_form(text: &str) -> Result<DateTime<Utc>, ApiError> {
    let t = text.trim();
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(t, f).ok())
        .map(|n| n.and_utc())
        .map_or_else(|| parse_deadline(t), Ok)
}

/// A reason as typed: trimmed, at most [`MAX_REASON`] bytes, no control characters.
pub fn check_reason(reason: Option<&str>, required: bool) -> Result<Option<String>, ApiError> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    match reason {
        None if required => Err(ApiError::bad_request(
            "reason_required",
            "a reason is required to exempt or unlock an account (e.g. \"on leave until January\", \"identity checked by a call back\")",
        )),
        None => Ok(None),
        Some(r) if r.len() > MAX_REASON => Err(ApiError::bad_request(
            "invalid_reason",
            format!("the reason is longer than {MAX_REASON} bytes"),
        )),
        Some(r) if r.chars().any(char::is_control) => Err(ApiError::bad_request(
            "invalid_reason",
            "the reason contains control characters",
        )),
        Some(r) => Ok(Some(r.to_owned())),
    }
}

/// The record of `login` in the campaign the request names, or its only open one.
async fn target(
    state: &HelpdeskState,
    login: &str,
    campaign: Option<&str>,
) -> Result<(AccountRecord, CampaignState), ApiError> {
    let key = login.to_owned();
    let mut records = state
        .store()
        .run(move |s| s.accounts_for(&key, None))
        .await
        .map_err(|e| ApiError::store(&e))?;
    if records.is_empty() {
        // The store keeps the directory's spelling: ask the directory for it.
        if let Some(d) = state
            .directory()
            .find_by_login(login)
            .await
            .map_err(|e| ApiError::directory(&e))?
        {
            let (key, dn) = (d.account.login, d.account.dn);
            records = state
                .store()
                .run(move |s| s.accounts_for(&key, Some(&dn)))
                .await
                .map_err(|e| ApiError::store(&e))?;
        }
    }
    if records.is_empty() {
        return Err(ApiError::not_found(
            "account_not_found",
            format!("{login:?} is not in any campaign"),
        ));
    }
    let names: Vec<String> = records.iter().map(|r| r.campaign.clone()).collect();
    let campaigns = state
        .store()
        .run(move |s| names.iter().map(|n| s.campaign(n)).collect::<Result<Vec<_>, _>>());
    let campaigns = campaigns.await.map_err(|e| ApiError::store(&e))?;
    let mut pairs: Vec<(AccountRecord, CampaignState)> = records
        .into_iter()
        .zip(campaigns)
        .filter_map(|(r, c)| c.map(|c| (r, c.state)))
        .collect();
    if let Some(name) = campaign {
        return pairs.into_iter().find(|(r, _)| r.campaign == name).ok_or_else(|| {
            ApiError::not_found(
                "not_in_campaign",
                format!("{login:?} is not in a campaign named {name:?}"),
            )
        });
    }
    let open = |(r, c): &(AccountRecord, CampaignState)| {
        c.accepts_operator_actions().is_ok()
            && matches!(
                r.state,
                AccountState::Pending | AccountState::Marked | AccountState::Failed | AccountState::Exempted
            )
    };
    let open_count = pairs.iter().filter(|p| open(p)).count();
    match (open_count, pairs.len()) {
        (1, _) => Ok(pairs
            .into_iter()
            .find(|p| open(p))
            .ok_or_else(|| ApiError::internal("open campaign vanished"))?),
        (0, 1) => Ok(pairs.remove(0)),
        _ => Err(ApiError::conflict(
            "campaign_required",
            format!(
                "{login:?} is in several campaigns ({}); say which one with \"campaign\"",
                pairs
                    .iter()
                    .map(|(r, _)| r.campaign.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

fn event_for(action: Action, record: &AccountRecord) -> Event {
    match action {
        Action::Resend => Event::LinkResent,
        Action::Exempt => Event::Exempt(PriorFlag::from_flagged(record.prior_flagged)),
        Action::Extend(_) => Event::DeadlineExtended,
        Action::Mark => Event::MarkAgain,
        // An unlock ends in a new link: it applies where a new link does.
        Action::Unlock => Event::LinkResent,
    }
}

/// Performs `request` on the account `login` for `operator`; a refusal (a 4xx) is audited.
#[tracing::instrument(name = "helpdesk_action", skip_all, fields(login = %login, operator = %operator.actor(), action = ?request.action, campaign = request.campaign.as_deref()))]
pub async fn perform(
    state: &HelpdeskState,
    operator: &Operator,
    login: &str,
    request: Request,
) -> Result<Done, ApiError> {
    let (action, campaign) = (request.action.name(), request.campaign.clone());
    let result = attempt(state, operator, login, request).await;
    if let Err(e) = &result {
        if e.status.is_client_error() {
            let detail = format!(
                "{action} refused ({}): {}{}",
                e.code,
                e.message,
                campaign.map(|c| format!("; campaign {c}")).unwrap_or_default()
            );
            let account = Some(login.to_owned());
            state.audit(operator.actor(), "helpdesk.refused", account, detail).await;
        }
    }
    result
}

async fn attempt(state: &HelpdeskState, operator: &Operator, login: &str, request: Request) -> Result<Done, ApiError> {
    let reason = check_reason(
        request.reason.as_deref(),
        matches!(request.action, Action::Exempt | Action::Unlock),
    )?;
    let (record, campaign_state) = target(state, login, request.campaign.as_deref()).await?;
    // Whoever holds an operator's password must not be able to free that account: another
    // operator must act on it.
    if operator.dn.as_deref().is_some_and(|own| dn::equal(own, &record.dn)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "own_account",
            "operators cannot act on their own account (resend, exempt, extend, mark, unlock): ask another operator",
        ));
    }
    let Some(claim) = state.claim(record.id).await.map_err(|e| ApiError::store(&e))? else {
        return Err(ApiError::conflict(
            "busy",
            "another action on this account is in progress; try again in a moment",
        ));
    };
    let done = claimed(state, operator, record, reason, campaign_state, request.action).await;
    claim.release().await;
    done
}

/// The action on a claimed account.
async fn claimed(
    state: &HelpdeskState,
    operator: &Operator,
    record: AccountRecord,
    reason: Option<String>,
    campaign_state: CampaignState,
    action: Action,
) -> Result<Done, ApiError> {
    campaign_state
        .accepts_operator_actions()
        .map_err(|r| ApiError::conflict("not_applicable", r.0))?;
    let transition =
        apply(Some(record.state), event_for(action, &record)).map_err(|r| ApiError::conflict("not_applicable", r.0))?;
    let ctx = Ctx {
        state,
        operator,
        record,
        reason,
    };
    match action {
        Action::Resend => ctx.resend().await,
        Action::Unlock => ctx.unlock().await,
        Action::Extend(deadline) => ctx.extend(deadline).await,
        Action::Exempt | Action::Mark => ctx.change(action, transition.next, transition.effect).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_checked() {
        assert_eq!(
            check_reason(Some("  on leave  "), true).unwrap().as_deref(),
            Some("on leave")
        );
        assert_eq!(check_reason(None, false).unwrap(), None);
        assert_eq!(check_reason(Some("   "), true).unwrap_err().code, "reason_required");
        assert_eq!(check_reason(None, true).unwrap_err().code, "reason_required");
        assert_eq!(check_reason(Some("a\u{0}b"), false).unwrap_err().code, "invalid_reason");
        assert_eq!(
            check_reason(Some(&"x".repeat(501)), false).unwrap_err().code,
            "invalid_reason"
        );
    }

    #[test]
    fn deadlines_are_parsed() {
        let want = DateTime::parse_from_rfc3339("2027-01-15T17:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_deadline("2027-01-15T18:00:00+01:00").unwrap(), want);
        assert_eq!(parse_deadline_form("2027-01-15T17:00").unwrap(), want);
        assert_eq!(parse_deadline("2027-01-15T17:00").unwrap_err().code, "invalid_deadline");
        assert_eq!(parse_deadline_form("next week").unwrap_err().code, "invalid_deadline");
    }
}
