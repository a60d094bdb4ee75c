//! What an operator can do to one account in one campaign: send a new link, exempt it (with a
//! reason), extend its deadline, mark it again. Each action: the campaign and account must allow
//! it (`campaign::state::apply` decides, and says why not), the directory is changed first
//! (idempotent), then the store records the new state and the audit record in one transaction —
//! only if the account did not move meanwhile. Repeating an action is safe: it changes nothing
//! more and says so (`changed: false`), and is audited like the first.
//!
//! Known gap: the daemon's reconciliation may be checking the same account at the moment of an
//! exemption; if it saw the account as marked and the flag already cleared, it puts the flag
//! back. Runs of reconciliation and helpdesk actions are not serialised per account.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::auth::Operator;
use super::error::ApiError;
use super::{HelpdeskState, Resent};
use crate::campaign::state::{AccountState, CampaignState, Effect, Event, PriorFlag, apply};
use crate::store::{AccountRecord, AuditEntry, OperatorChange};

/// Longest reason accepted.
pub const MAX_REASON: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Resend,
    Exempt,
    Extend(DateTime<Utc>),
    Mark,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Resend => "resend",
            Action::Exempt => "exempt",
            Action::Extend(_) => "extend",
            Action::Mark => "mark",
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
            "a reason is required to exempt an account (e.g. \"on leave until January\")",
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
    }
}

/// Performs `request` on the account `login` for `operator`.
#[tracing::instrument(name = "helpdesk_action", skip_all, fields(login = %login, operator = %operator.actor(), action = ?request.action, campaign = request.campaign.as_deref()))]
pub async fn perform(
    state: &HelpdeskState,
    operator: &Operator,
    login: &str,
    request: Request,
) -> Result<Done, ApiError> {
    let reason = check_reason(request.reason.as_deref(), request.action == Action::Exempt)?;
    let (record, campaign_state) = target(state, login, request.campaign.as_deref()).await?;
    let Some(_claim) = state.claim(record.id) else {
        return Err(ApiError::conflict(
            "busy",
            "another action on this account is in progress; try again in a moment",
        ));
    };
    campaign_state
        .accepts_operator_actions()
        .map_err(|r| ApiError::conflict("not_applicable", r.0))?;
    let transition = apply(Some(record.state), event_for(request.action, &record))
        .map_err(|r| ApiError::conflict("not_applicable", r.0))?;
    let ctx = Ctx {
        state,
        operator,
        record,
        reason,
    };
    match request.action {
        Action::Resend => ctx.resend().await,
        Action::Extend(deadline) => ctx.extend(deadline).await,
        Action::Exempt | Action::Mark => ctx.change(request.action, transition.next, transition.effect).await,
    }
}

struct Ctx<'a> {
    state: &'a HelpdeskState,
    operator: &'a Operator,
    record: AccountRecord,
    reason: Option<String>,
}

impl Ctx<'_> {
    fn login(&self) -> String {
        self.record.login.clone().unwrap_or_else(|| self.record.dn.clone())
    }

    fn audit(&self, action: &str, detail: String) -> AuditEntry {
        let detail = match &self.reason {
            Some(r) => format!("{detail}; reason: {r}"),
            None => detail,
        };
        AuditEntry {
            at: Utc::now(),
            actor: self.operator.actor(),
            action: format!("helpdesk.{action}"),
            campaign: Some(self.record.campaign.clone()),
            account: Some(self.login()),
            detail: Some(detail),
        }
    }

    fn done(
        &self,
        action: Action,
        changed: bool,
        state: AccountState,
        deadline: DateTime<Utc>,
        message: String,
    ) -> Done {
        Done {
            login: self.login(),
            campaign: self.record.campaign.clone(),
            action: action.name(),
            changed,
            state,
            deadline,
            message,
            mail: None,
        }
    }

    /// Writes the change; 409 if the account moved since it was read.
    async fn record(&self, change: OperatorChange) -> Result<(), ApiError> {
        let written = self
            .state
            .store()
            .run(move |s| s.operator_change(&change))
            .await
            .map_err(|e| ApiError::store(&e))?;
        written.map_err(|now| {
            ApiError::conflict(
                "changed_meanwhile",
                format!(
                    "the account changed meanwhile (it is now {}); nothing was recorded — look at it again",
                    now.as_str()
                ),
            )
        })
    }

    async fn change(self, action: Action, next: AccountState, effect: Effect) -> Result<Done, ApiError> {
        let dir = self.state.directory();
        let flag = match effect {
            Effect::SetFlag => dir.mark(&self.record.dn).await.map(|()| "flag set"),
            Effect::ClearFlag => dir.clear(&self.record.dn).await.map(|()| "flag cleared"),
            Effect::None if action == Action::Exempt && self.record.prior_flagged => {
                Ok("flag kept: it was set before the campaign")
            }
            Effect::None => Ok("flag unchanged"),
        }
        .map_err(|e| ApiError::directory(&e))?;
        let changed = next != self.record.state;
        let detail = if changed {
            format!("{} → {}; {flag}", self.record.state.as_str(), next.as_str())
        } else {
            format!("repeated: already {}; {flag}", next.as_str())
        };
        let audit = self.audit(action.name(), detail);
        self.record(OperatorChange {
            account_id: self.record.id,
            expected: self.record.state,
            next,
            deadline: None,
            revoke_links: next == AccountState::Exempted,
            audit,
        })
        .await?;
        let message = match (action, changed) {
            (Action::Exempt, true) => format!("Exempted from {}; {flag}.", self.record.campaign),
            (Action::Exempt, false) => format!("Already exempted from {}; nothing changed.", self.record.campaign),
            (_, true) => format!("Marked again in {}; {flag}.", self.record.campaign),
            (_, false) => format!("Already marked in {}; {flag}.", self.record.campaign),
        };
        Ok(self.done(action, changed, next, self.record.effective_deadline(), message))
    }

    async fn extend(self, deadline: DateTime<Utc>) -> Result<Done, ApiError> {
        let campaign_deadline = self.record.campaign_deadline;
        if deadline <= Utc::now() {
            return Err(ApiError::bad_request(
                "invalid_deadline",
                "the new deadline is in the past",
            ));
        }
        if deadline < campaign_deadline {
            return Err(ApiError::bad_request(
                "invalid_deadline",
                format!(
                    "the new deadline is before the campaign's ({}); a deadline can only be extended",
                    time(campaign_deadline)
                ),
            ));
        }
        let old = self.record.effective_deadline();
        let changed = deadline != old;
        let own = (deadline != campaign_deadline).then_some(deadline);
        let audit = self.audit("extend", format!("deadline {} → {}", time(old), time(deadline)));
        self.record(OperatorChange {
            account_id: self.record.id,
            expected: self.record.state,
            next: self.record.state,
            deadline: Some(own),
            revoke_links: false,
            audit,
        })
        .await?;
        let message = if changed {
            format!("Deadline in {} is now {}.", self.record.campaign, time(deadline))
        } else {
            format!(
                "The deadline in {} already was {}; nothing changed.",
                self.record.campaign,
                time(deadline)
            )
        };
        Ok(self.done(Action::Extend(deadline), changed, self.record.state, deadline, message))
    }

    async fn resend(self) -> Result<Done, ApiError> {
        let sent = self
            .state
            .resender()
            .resend(&self.record)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let id = self.record.id;
        let (last, expiry) = self
            .state
            .store()
            .run(move |s| Ok((s.mail_history(id)?.pop(), s.live_link_expiry(id, Utc::now())?)))
            .await
            .map_err(|e| ApiError::store(&e))?;
        let recipient = last.and_then(|m| m.recipient);
        let (detail, result) = match &sent {
            Resent::Sent { message_id } => (
                format!("new link sent to {}", recipient.as_deref().unwrap_or("-")),
                Ok(MailSent {
                    recipient: recipient.clone(),
                    message_id: message_id.clone(),
                    link_expires_at: expiry,
                }),
            ),
            Resent::Refused { reply } => (
                format!("new link refused by the mail server: {reply}"),
                Err(ApiError::new(
                    axum::http::StatusCode::BAD_GATEWAY,
                    "mail_refused",
                    format!("the mail server refused the new link: {reply}"),
                )),
            ),
            Resent::NotNow { error } => (
                format!("new link not delivered: {error}"),
                Err(ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "mail_unavailable",
                    format!("the new link could not be delivered now ({error}); try again later"),
                )),
            ),
            Resent::NoAddress => (
                "no new link: the account has no mail address".to_owned(),
                Err(ApiError::conflict(
                    "no_mail_address",
                    "the account has no mail address in the directory: a link cannot be sent",
                )),
            ),
        };
        let audit = self.audit("resend", detail);
        self.state
            .store()
            .run(move |s| s.audit(&audit))
            .await
            .map_err(|e| ApiError::store(&e))?;
        let mail = result?;
        let message = format!(
            "A new link was sent to {}; the older links no longer work.",
            mail.recipient.as_deref().unwrap_or("the account's address")
        );
        let mut done = self.done(
            Action::Resend,
            true,
            self.record.state,
            self.record.effective_deadline(),
            message,
        );
        done.mail = Some(mail);
        Ok(done)
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
