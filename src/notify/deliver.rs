//! One mail: render it, commit the intent (and the new link's hash, and the mail's labels: its
//! reference code and Message-ID) to the store, send it, record the result. Used by a pass ([`super::pass`]) for due notices and reminders, and by
//! the daemon for a new link on demand and the "changed" confirmation.
//!
//! Must not decide who is due for what (the pass and `campaign::schedule` do) nor retry (the
//! [`super::Mailer`] does).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::MailSettings;
use super::message::{self, Recipient};
use super::templates::{Kind, Templates, Vars};
use super::transport::{Mailer, SendError};
use crate::store::{Finished, Intent, MailLabel, MailOutcome, Store, StoreError};
use crate::token::{self, Links};

/// Everything a mail (and so a pass) needs besides the store.
#[derive(Clone)]
pub struct Mail {
    pub settings: Arc<MailSettings>,
    pub templates: Arc<Templates>,
    pub mailer: Arc<Mailer>,
}

/// Who a mail is for.
#[derive(Debug, Clone)]
pub struct Target {
    pub account_id: i64,
    pub login: String,
    pub display_name: String,
    pub language: Option<String>,
    pub mail: Vec<String>,
    pub reason: String,
    pub deadline: chrono::DateTime<Utc>,
}

impl Target {
    pub fn from_record(a: &crate::store::AccountRecord) -> Target {
        Target {
            account_id: a.id,
            login: a.login.clone().unwrap_or_default(),
            display_name: a.display_name.clone().unwrap_or_default(),
            language: a.language.clone(),
            mail: a.mail.clone(),
            reason: a.campaign_reason.clone(),
            deadline: a.effective_deadline(),
        }
    }
}

/// The result of one delivery.
pub enum One {
    Nothing,
    NoAddress,
    Outcome(MailOutcome),
    /// Not sent, and no mail can be now: the mail server is down or cannot be used (its last
    /// failure), or no link can be drawn. Recorded as due again.
    Unusable(String),
}

/// Under which row of the store a mail is recorded: its kind, step and, for a reminder, the
/// point it is due for (`campaign::schedule`). A (kind, step) pair is a row without a point.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub kind: &'static str,
    pub step: u32,
    pub point: Option<chrono::DateTime<Utc>>,
}

impl From<(&'static str, u32)> for Row {
    fn from((kind, step): (&'static str, u32)) -> Row {
        Row {
            kind,
            step,
            point: None,
        }
    }
}

/// What is drawn for a mail before it is rendered: its variables, the new link's hash and
/// expiry, its reference code. Owned, so rendering can run on the blocking pool.
pub struct Drawn {
    vars: Vars,
    token: Option<(String, DateTime<Utc>)>,
    reference: String,
}

/// A mail built and ready to send, with what its intent records.
pub struct Ready {
    pub built: message::Built,
    pub to: String,
    pub token: Option<(String, DateTime<Utc>)>,
    pub label: MailLabel,
}

impl Ready {
    /// The intent to record before `self` goes out as `row`.
    pub fn intent(&self, account_id: i64, row: Row) -> Intent<'_> {
        Intent {
            account_id,
            row: (row.kind, row.step, row.point),
            recipient: &self.to,
            token: self.token.as_ref().map(|(h, e)| (h.as_str(), *e)),
            label: Some(&self.label),
        }
    }

    /// How the send of `self` ended, for the store.
    pub fn finished<'a>(&'a self, id: i64, outcome: &'a MailOutcome) -> Finished<'a> {
        Finished {
            id,
            outcome,
            token_hash: self.token.as_ref().map(|(h, _)| h.as_str()),
        }
    }
}

/// Draws a fresh link (with `links`) and a reference code for a mail of `kind` to `target`;
/// `Err` (in words) when no random number can be drawn.
pub fn draw(target: &Target, kind: Kind, links: Option<&Links>, now: DateTime<Utc>) -> Result<Drawn, String> {
    let link = links
        .map(|p| token::issue().map(|t| (t, p)))
        .transpose()
        .map_err(|e| format!("cannot draw a random token: {e}"))?;
    let reference = token::reference().map_err(|e| format!("cannot draw a random reference code: {e}"))?;
    let vars = Vars {
        display_name: target.display_name.clone(),
        login: target.login.clone(),
        reason: target.reason.clone(),
        deadline: target.deadline,
        link: link.as_ref().map(|(t, p)| p.url(t.token.expose())),
        changed_at: (kind == Kind::Changed).then_some(now),
        now,
        reference: token::show_reference(&reference),
    };
    let token = link.map(|(t, p)| {
        let ttl = chrono::Duration::from_std(p.ttl).unwrap_or(chrono::Duration::hours(72));
        (t.hash, now + ttl)
    });
    Ok(Drawn { vars, token, reference })
}

/// Renders and builds a drawn mail (CPU only); `Err` (in words) when it cannot be built.
pub fn render(mail: &Mail, target: &Target, kind: Kind, drawn: Drawn) -> Result<Ready, String> {
    let built = build(mail, target, kind, &drawn.vars)?;
    let label = MailLabel {
        reference: drawn.reference,
        message_id: built.message_id.clone(),
        token_hash: drawn.token.as_ref().map(|(h, _)| h.clone()),
    };
    Ok(Ready {
        to: built.to.to_string(),
        built,
        token: drawn.token,
        label,
    })
}

/// Renders and sends one mail of `kind` to `target`, recorded as `row` in the store; with
/// `links`, a fresh one-time link goes with it. Intent before, result after.
pub async fn deliver(
    mail: &Mail,
    store: &Store,
    target: &Target,
    kind: Kind,
    row: impl Into<Row>,
    links: Option<&Links>,
) -> Result<One, StoreError> {
    let row = row.into();
    let account_id = target.account_id;
    if target.mail.iter().all(|m| m.trim().is_empty()) {
        store.run(move |s| s.record_no_address(account_id)).await?;
        return Ok(One::NoAddress);
    }
    let drawn = match draw(target, kind, links, Utc::now()) {
        Ok(d) => d,
        Err(why) => return Ok(One::Unusable(why)),
    };
    let ready = match render(mail, target, kind, drawn) {
        Ok(r) => Arc::new(r),
        Err(why) => return unbuildable(store, target, row, why).await,
    };
    let r = ready.clone();
    let id = store
        .run(move |s| s.finish_then_begin(None, Some(r.intent(account_id, row))))
        .await?
        .unwrap_or_default();
    let (outcome, unusable) = outcome_of(mail.mailer.send(&ready.built.message).await);
    let o = outcome.clone();
    store
        .run(move |s| s.finish_then_begin(Some(ready.finished(id, &o)), None).map(drop))
        .await?;
    Ok(match unusable {
        Some(why) => One::Unusable(why),
        None => One::Outcome(outcome),
    })
}

/// Renders the template and builds the message; `Err` (in words) when that cannot be done.
fn build(mail: &Mail, target: &Target, kind: Kind, vars: &Vars) -> Result<message::Built, String> {
    let rendered = mail
        .templates
        .render(kind, target.language.as_deref(), vars)
        .map_err(|e| e.to_string())?;
    let recipient = Recipient {
        display_name: &vars.display_name,
        addresses: &target.mail,
    };
    message::build(&rendered, &recipient, &mail.settings).map_err(|e| e.to_string())
}

/// A mail that cannot be built (a malformed address) fails for good, and is recorded so.
pub async fn unbuildable(store: &Store, target: &Target, row: Row, why: String) -> Result<One, StoreError> {
    let (account_id, to) = (target.account_id, target.mail.first().cloned().unwrap_or_default());
    let id = store
        .run(move |s| s.begin_mail_for(account_id, (row.kind, row.step, row.point), &to, None))
        .await?;
    let outcome = MailOutcome::Failed { reply: why };
    let o = outcome.clone();
    store.run(move |s| s.finish_mail(id, &o, None)).await?;
    Ok(One::Outcome(outcome))
}

/// What a send's result means for the store, and, when no mail can go through now, why (naming
/// the server and its last failure).
pub fn outcome_of(sent: Result<super::Delivery, SendError>) -> (MailOutcome, Option<String>) {
    match sent {
        Ok(delivery) => (
            MailOutcome::Sent {
                message_id: delivery.message_id,
            },
            None,
        ),
        Err(SendError::Permanent { reply }) => (MailOutcome::Failed { reply }, None),
        Err(SendError::Transient { attempts, last }) => (
            MailOutcome::Retry {
                error: format!("{attempts} attempts: {last}"),
            },
            None,
        ),
        Err(SendError::Unusable { reason }) => {
            let why = SendError::Unusable { reason: reason.clone() }.to_string();
            (MailOutcome::Retry { error: reason }, Some(why))
        }
        Err(SendError::ServerDown { server, failures, last }) => {
            let why = format!("mail server {server}: no answer, {failures} failures in a row; last: {last}");
            (MailOutcome::Retry { error: why.clone() }, Some(why))
        }
    }
}
