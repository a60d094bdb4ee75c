//! One pass over a campaign's due mails: the first notice after marking, reminders before the
//! deadline. Used by `campaign notify NAME` (once, e.g. from a timer) and by the daemon.
//!
//! Per mail: a fresh one-time link is issued, the intent (and the link's hash) is committed to
//! the store, the mail is sent, then the result is recorded. A clean stop lets in-flight mails
//! finish and record: nobody gets a duplicate. After a kill, only the mails in flight at that
//! moment (left `sending`) are sent again on the next pass.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;

use super::MailSettings;
use super::message::{self, Recipient};
use super::templates::{Kind, Templates, Vars};
use super::transport::{Mailer, SendError};
use crate::campaign::schedule::{self, Due};
use crate::store::{Campaign, MailCandidate, MailOutcome, Store, StoreError};
use crate::token::{self, Links};

/// Everything a pass needs besides the store.
#[derive(Clone)]
pub struct Mail {
    pub settings: Arc<MailSettings>,
    pub templates: Arc<Templates>,
    pub mailer: Arc<Mailer>,
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassSummary {
    pub sent: u64,
    /// Refused for good (recorded with the server's reply).
    pub failed: u64,
    /// Transient failures: tried again on the next pass.
    pub retry: u64,
    pub no_address: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The mail server cannot be used at all (TLS, authentication): stop, nothing is lost.
    #[error("{0}; the mails not sent stay due and go out on the next pass")]
    Unusable(String),
}

/// Sends every mail due now for `campaign`; stops early (cleanly) when `stop` is cancelled.
pub async fn run(
    mail: &Mail,
    store: &Store,
    campaign: &Campaign,
    reminders: &[Duration],
    links: &Links,
    stop: Option<&CancellationToken>,
) -> Result<PassSummary, PassError> {
    run_at(&Utc::now, mail, store, campaign, reminders, links, stop).await
}

/// [`run`], with the schedule read against `now()` instead of the system clock: the seam through
/// which tests drive days of reminders on tokio's paused time.
pub async fn run_at(
    now: &(dyn Fn() -> DateTime<Utc> + Sync),
    mail: &Mail,
    store: &Store,
    campaign: &Campaign,
    reminders: &[Duration],
    links: &Links,
    stop: Option<&CancellationToken>,
) -> Result<PassSummary, PassError> {
    let pass = Pass {
        mail,
        store,
        campaign,
        reminders,
        links,
        stop,
    };
    let mut summary = PassSummary::default();
    let mut after = 0;
    let parallel = mail.settings.max_connections.max(1);
    loop {
        if stop.is_some_and(CancellationToken::is_cancelled) {
            break;
        }
        let id = campaign.id;
        let batch = store.run(move |s| s.mail_candidates(id, after, 256)).await?;
        let Some(last) = batch.last() else { break };
        after = last.account_id;
        let results: Vec<Result<One, StoreError>> = stream::iter(batch)
            .map(|c| one(&pass, now(), c))
            .buffer_unordered(parallel)
            .collect()
            .await;
        let mut unusable = None;
        for r in results {
            match r? {
                One::Nothing => {}
                One::NoAddress => summary.no_address += 1,
                One::Outcome(MailOutcome::Sent { .. }) => summary.sent += 1,
                One::Outcome(MailOutcome::Failed { .. }) => summary.failed += 1,
                One::Outcome(MailOutcome::Retry { .. }) => summary.retry += 1,
                One::Unusable(why) => unusable = Some(why),
            }
        }
        if let Some(why) = unusable {
            return Err(PassError::Unusable(why));
        }
    }
    Ok(summary)
}

/// What one pass works with, for each of its mails.
struct Pass<'a> {
    mail: &'a Mail,
    store: &'a Store,
    campaign: &'a Campaign,
    reminders: &'a [Duration],
    links: &'a Links,
    stop: Option<&'a CancellationToken>,
}

impl Pass<'_> {
    fn stopping(&self) -> bool {
        self.stop.is_some_and(CancellationToken::is_cancelled)
    }
}

async fn one(pass: &Pass<'_>, now: DateTime<Utc>, c: MailCandidate) -> Result<One, StoreError> {
    if pass.stopping() {
        return Ok(One::Nothing);
    }
    let campaign = pass.campaign;
    let deadline = c.deadline.unwrap_or(campaign.deadline);
    // A mail whose result is unknown (killed) or that must be retried goes out again as what it
    // was; otherwise the schedule decides.
    let next: Option<(Kind, &'static str, u32, bool)> = match &c.unfinished {
        Some((kind, step)) => match kind.as_str() {
            "notice" => Some((Kind::Notice, "notice", *step, true)),
            "reminder" => Some((Kind::Reminder, "reminder", *step, true)),
            "resend" => Some((Kind::Notice, "resend", *step, true)),
            crate::store::REQUESTED => Some((Kind::Notice, crate::store::REQUESTED, *step, true)),
            "changed" => Some((Kind::Changed, "changed", *step, false)),
            _ => None,
        },
        None => schedule::due(now, deadline, pass.reminders, c.sent).map(|due| match due {
            Due::Notice => (Kind::Notice, "notice", 0, true),
            Due::Reminder(n) => (Kind::Reminder, "reminder", n, true),
        }),
    };
    let Some((kind, row, step, with_link)) = next else {
        return Ok(One::Nothing);
    };
    if c.mail.iter().all(|m| m.trim().is_empty()) && c.no_address_recorded {
        return Ok(One::Nothing);
    }
    let target = Target {
        account_id: c.account_id,
        login: c.login,
        display_name: c.display_name.unwrap_or_default(),
        language: c.language,
        mail: c.mail,
        reason: campaign.reason.clone(),
        deadline,
    };
    let links = with_link.then_some(pass.links);
    deliver(pass.mail, pass.store, &target, kind, (row, step), links).await
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
    Unusable(String),
}

/// Renders and sends one mail of `kind` to `target`, recorded as (`row.0`, `row.1`) in the
/// store; with `links`, a fresh one-time link goes with it. Intent before, result after.
pub async fn deliver(
    mail: &Mail,
    store: &Store,
    target: &Target,
    kind: Kind,
    row: (&'static str, u32),
    links: Option<&Links>,
) -> Result<One, StoreError> {
    let now = Utc::now();
    let account_id = target.account_id;
    if target.mail.iter().all(|m| m.trim().is_empty()) {
        store.run(move |s| s.record_no_address(account_id)).await?;
        return Ok(One::NoAddress);
    }
    let link = match links.map(|p| token::issue().map(|t| (t, p))).transpose() {
        Ok(link) => link,
        Err(e) => return Ok(One::Unusable(format!("cannot draw a random token: {e}"))),
    };
    let vars = Vars {
        display_name: target.display_name.clone(),
        login: target.login.clone(),
        reason: target.reason.clone(),
        deadline: target.deadline,
        link: link.as_ref().map(|(t, p)| p.url(t.token.expose())),
        changed_at: (kind == Kind::Changed).then_some(now),
        now,
    };
    let (kind_s, step) = row;
    let built = match build(mail, target, kind, &vars) {
        Ok(b) => b,
        Err(why) => return unbuildable(store, target, row, why).await,
    };
    let token = link.map(|(t, p)| {
        let ttl = chrono::Duration::from_std(p.ttl).unwrap_or(chrono::Duration::hours(72));
        (t.hash, now + ttl)
    });
    let (to, tok) = (built.to.to_string(), token.clone());
    let id = store
        .run(move |s| {
            s.begin_mail(
                account_id,
                kind_s,
                step,
                &to,
                tok.as_ref().map(|(h, e)| (h.as_str(), *e)),
            )
        })
        .await?;
    let (outcome, unusable) = outcome_of(mail.mailer.send(&built.message).await);
    let o = outcome.clone();
    store
        .run(move |s| s.finish_mail(id, &o, token.as_ref().map(|(h, _)| h.as_str())))
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
async fn unbuildable(
    store: &Store,
    target: &Target,
    (kind, step): (&'static str, u32),
    why: String,
) -> Result<One, StoreError> {
    let (account_id, to) = (target.account_id, target.mail.first().cloned().unwrap_or_default());
    let id = store
        .run(move |s| s.begin_mail(account_id, kind, step, &to, None))
        .await?;
    let outcome = MailOutcome::Failed { reply: why };
    let o = outcome.clone();
    store.run(move |s| s.finish_mail(id, &o, None)).await?;
    Ok(One::Outcome(outcome))
}

/// What a send's result means for the store, and whether the server cannot be used at all.
fn outcome_of(sent: Result<super::Delivery, SendError>) -> (MailOutcome, Option<String>) {
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
        Err(SendError::Unusable { reason }) => (MailOutcome::Retry { error: reason.clone() }, Some(reason)),
    }
}
