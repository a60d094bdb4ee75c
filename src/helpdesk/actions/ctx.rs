//! Carrying out one operator action on one account row once it is allowed: the store change
//! with its audit line, the mail a resend or an unlock sends, the answer. Undoing the deadline's
//! lock (unlock, exempt) goes through `crate::engine::deadline::undo_one`: the lock state found
//! before the deadline comes back, and the store records who undid it (the deadline run never
//! locks that account again).

use super::*;
use crate::campaign::state::{AccountState, Effect};
use crate::engine::deadline;
use crate::engine::runner::RunError;
use crate::helpdesk::auth::Operator;
use crate::helpdesk::error::ApiError;
use crate::helpdesk::{HelpdeskState, Resent};
use crate::store::{AccountRecord, AuditEntry, LockState, OperatorChange};
use chrono::{DateTime, Utc};

pub(super) struct Ctx<'a> {
    pub(super) state: &'a HelpdeskState,
    pub(super) operator: &'a Operator,
    pub(super) record: AccountRecord,
    pub(super) reason: Option<String>,
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

    pub(super) async fn change(self, action: Action, next: AccountState, effect: Effect) -> Result<Done, ApiError> {
        // An exempted account is out of the campaign: the deadline's lock goes with it.
        let unlocked = match action {
            Action::Exempt => self.undo_lock("account.unlocked", "exempted").await?,
            _ => false,
        };
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
        let flag = if unlocked {
            format!("{flag}; the deadline's lock undone")
        } else {
            flag.to_owned()
        };
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

    pub(super) async fn extend(self, deadline: DateTime<Utc>) -> Result<Done, ApiError> {
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

    pub(super) async fn resend(self) -> Result<Done, ApiError> {
        let mail = self.send_link().await?;
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

    /// Undoes the deadline's lock and mails a fresh link. A repeat (already unlocked) changes
    /// nothing and sends nothing (`resend` does); an account the deadline never locked is a 409.
    pub(super) async fn unlock(self) -> Result<Done, ApiError> {
        let id = self.record.id;
        let lock = self
            .state
            .store()
            .run(move |s| s.lock_of(id))
            .await
            .map_err(|e| ApiError::store(&e))?;
        let campaign = self.record.campaign.clone();
        let (deadline, state) = (self.record.effective_deadline(), self.record.state);
        let prior_locked = lock.as_ref().is_some_and(|l| l.prior_locked == Some(true));
        match lock.and_then(|l| l.state) {
            Some(LockState::Unlocked) => {
                let message = format!("Already unlocked in {campaign}; nothing changed (resend sends a new link).");
                return Ok(self.done(Action::Unlock, false, state, deadline, message));
            }
            Some(LockState::Locking | LockState::Locked) => {}
            None => {
                return Err(ApiError::conflict(
                    "not_locked",
                    format!("the deadline of {campaign} did not lock this account: there is nothing to unlock"),
                ));
            }
        }
        if !self.undo_lock("helpdesk.unlock", "unlocked").await? {
            return Err(ApiError::conflict(
                "changed_meanwhile",
                "the account's lock changed meanwhile; nothing was recorded — look at it again",
            ));
        }
        let mail = self.send_link().await.map_err(|mut e| {
            e.message = format!("the account was unlocked, but {}", e.message);
            e
        })?;
        let to = mail.recipient.as_deref().unwrap_or("the account's address");
        let message = if prior_locked {
            format!(
                "The deadline of {campaign} found this account already locked and left it so: it stays \
                 locked (that lock is not the campaign's to lift). A new link was sent to {to}."
            )
        } else {
            format!("Unlocked in {campaign}; a new link was sent to {to}.")
        };
        let mut done = self.done(Action::Unlock, true, state, deadline, message);
        done.mail = Some(mail);
        Ok(done)
    }

    /// Undoes the account's deadline lock, if it has one, recording `action` in the audit trail.
    /// `Ok(false)`: there was none to undo.
    async fn undo_lock(&self, action: &str, what: &str) -> Result<bool, ApiError> {
        let name = self.record.campaign.clone();
        let campaign = self
            .state
            .store()
            .run(move |s| s.campaign(&name))
            .await
            .map_err(|e| ApiError::store(&e))?
            .ok_or_else(|| ApiError::internal("the account's campaign vanished"))?;
        let detail = match &self.reason {
            Some(r) => format!("{what} by the helpdesk: the prior lock state restored; reason: {r}"),
            None => format!("{what} by the helpdesk: the prior lock state restored"),
        };
        let actor = self.operator.actor();
        let audit = (actor.as_str(), action, detail.as_str());
        let at_deadline = campaign.enforcement.at_deadline;
        deadline::undo_one(
            self.state.directory(),
            self.state.store(),
            self.record.id,
            at_deadline,
            audit,
        )
        .await
        .map_err(|e| match e {
            RunError::Store(e) => ApiError::store(&e),
            RunError::Unavailable(e) | RunError::Account(e) | RunError::Scan(e) => ApiError::directory(&e),
            RunError::TooMany(_) => ApiError::internal("an undo has no guard"),
        })
    }

    /// Mails the account a new link now (the older ones stop working once it is delivered);
    /// audited as a resend.
    async fn send_link(&self) -> Result<MailSent, ApiError> {
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
        result
    }
}
