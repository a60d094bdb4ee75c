//! One pass over a campaign's due mails: the first notice after marking, reminders before the
//! deadline, the `locked` mail once the deadline locked the account. Used by `campaign notify
//! NAME` (once, e.g. from a timer) and by the daemon.
//!
//! Per mail: a fresh one-time link is issued, the intent (and the link's hash) is committed to
//! the store, the mail is sent, then the result is recorded — with the intent of the session's
//! next mail, in one transaction ([`super::slot`]): each session has one mail whose result is
//! not recorded at any time, as with a transaction per step. A clean stop lets in-flight mails
//! finish and record: nobody gets a duplicate. After a kill, only the mails in flight at that
//! moment (left `sending`) are sent again on the next pass. When the mail server is down or
//! cannot be used, the pass starts no further mail, records those in flight as due again, and
//! ends with [`PassError::Server`]: a mail never attempted was never recorded, so every unsent
//! mail stays due and goes out once on a later pass. Progress goes to a [`Progress`] (the CLI's
//! bar, or nothing); no terminal types here.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use tokio_util::sync::CancellationToken;

pub use super::deliver::{Mail, One, Row, Target, deliver};
pub use super::pass_state::{Driver, PassSummary, Progress, Silent};
use super::pass_state::{Job, Pass};
use super::templates::Kind;
use crate::campaign::schedule::{self, Due};
use crate::store::{Campaign, MailCandidate, Store, StoreError};
use crate::token::Links;

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The mail server is down or cannot be used (TLS, authentication): the pass stopped, and
    /// nothing is lost. `summary` is what it did before; `due` the mails it leaves due.
    #[error(
        "{last}; sending stopped with {due} mail(s) still due, none lost: they go out once the \
         server takes mail again"
    )]
    Server {
        /// `host:port`, or the spool directory.
        server: String,
        /// Why no mail goes through, naming the server and its last failure.
        last: String,
        summary: PassSummary,
        due: u64,
    },
}

/// Sends every mail due now for `campaign`; stops early (cleanly) when `stop` is cancelled.
pub async fn run(
    mail: &Mail,
    store: &Store,
    campaign: &Campaign,
    reminders: &[Duration],
    links: &Links,
    stop: Option<&CancellationToken>,
    progress: &dyn Progress,
) -> Result<PassSummary, PassError> {
    let driver = Driver {
        now: &Utc::now,
        stop,
        progress,
    };
    run_at(mail, store, campaign, reminders, links, &driver).await
}

/// [`run`], with the schedule read against `driver.now()` instead of the system clock.
pub async fn run_at(
    mail: &Mail,
    store: &Store,
    campaign: &Campaign,
    reminders: &[Duration],
    links: &Links,
    driver: &Driver<'_>,
) -> Result<PassSummary, PassError> {
    let pass = Pass {
        mail,
        store,
        campaign,
        reminders,
        links,
        driver,
        halted: AtomicBool::new(false),
    };
    let parallel = mail.settings.max_connections.max(1);
    // One stream of due mails over every batch of candidates, taken by `parallel` sessions (the
    // slots of [`super::slot`]): the next batch is read while the last mails of the previous one
    // are still in flight, so no session waits for the slowest mail of a batch. Batches are
    // keyed by account id, so a batch read early never overlaps the one before it.
    let jobs = tokio::sync::Mutex::new(pass.jobs());
    let ends = futures_util::future::join_all((0..parallel).map(|_| super::slot::run(&pass, &jobs))).await;
    let (mut summary, mut stopped, mut failure) = (PassSummary::default(), None, None);
    for end in ends {
        summary.sent += end.summary.sent;
        summary.failed += end.summary.failed;
        summary.retry += end.summary.retry;
        summary.no_address += end.summary.no_address;
        stopped = stopped.or(end.stopped);
        failure = failure.or(end.failure);
    }
    // A store error stopped new mails; those in flight finished and recorded before it is
    // returned (as a clean stop does).
    if let Some(e) = failure {
        return Err(e.into());
    }
    match stopped {
        None => Ok(summary),
        Some(last) => Err(PassError::Server {
            server: mail.mailer.health().server().to_owned(),
            last,
            due: pass.count_due().await?,
            summary,
        }),
    }
}

/// One batch of due mails, as a stream for the pass's pipeline.
pub(super) type JobBatch = stream::Iter<std::vec::IntoIter<Result<Job, StoreError>>>;

impl Pass<'_> {
    /// Every due mail, in account id order. Boxed: with the closures' types visible, rustc
    /// cannot prove the daemon's pass future `Send` ("one type is more general than the other").
    fn jobs(&self) -> BoxStream<'_, Result<Job, StoreError>> {
        stream::try_unfold(0i64, move |after| self.next_batch(after))
            .try_flatten()
            .boxed()
    }

    /// The due mails among the next batch of candidates after account id `after`, and the id to
    /// read on from; `None` once every candidate was read or the pass is stopping.
    async fn next_batch(&self, after: i64) -> Result<Option<(JobBatch, i64)>, StoreError> {
        if self.stopping() {
            return Ok(None);
        }
        let id = self.campaign.id;
        let batch = self.store.run(move |s| s.mail_candidates(id, after, 256)).await?;
        let Some(last) = batch.last() else { return Ok(None) };
        let next = last.account_id;
        let now = (self.driver.now)();
        let jobs: Vec<Result<Job, StoreError>> = batch.into_iter().filter_map(|c| self.plan(now, c)).map(Ok).collect();
        self.driver.progress.add_work(jobs.len() as u64);
        Ok(Some((stream::iter(jobs), next)))
    }

    /// The mail due now for `c`, if any.
    fn plan(&self, now: DateTime<Utc>, c: MailCandidate) -> Option<Job> {
        let campaign = self.campaign;
        let deadline = c.deadline.unwrap_or(campaign.deadline);
        // A mail whose result is unknown (killed) or that must be retried goes out again as
        // what it was; otherwise the schedule decides.
        let (kind, row, step, with_link, point) = match &c.unfinished {
            Some((kind, step)) => match kind.as_str() {
                "notice" => (Kind::Notice, "notice", *step, true, None),
                "reminder" => (Kind::Reminder, "reminder", *step, true, None),
                "resend" => (Kind::Notice, "resend", *step, true, None),
                crate::store::REQUESTED => (Kind::Notice, crate::store::REQUESTED, *step, true, None),
                "changed" => (Kind::Changed, "changed", *step, false, None),
                "locked" => (Kind::Locked, "locked", *step, false, None),
                _ => return None,
            },
            // Once per lock (one row, step 0); a locked account gets no link.
            None if c.locked_mail_due => (Kind::Locked, "locked", 0, false, None),
            None if c.locked => return None,
            None => match schedule::due(now, deadline, self.reminders, c.sent)? {
                Due::Notice => (Kind::Notice, "notice", 0, true, None),
                Due::Reminder { step, point } => (Kind::Reminder, "reminder", step, true, Some(point)),
            },
        };
        if c.mail.iter().all(|m| m.trim().is_empty()) && c.no_address_recorded {
            return None;
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
        Some(Job {
            target,
            kind,
            row: Row { kind: row, step, point },
            with_link,
        })
    }

    /// The mails still due now (with an address), after the pass stopped.
    async fn count_due(&self) -> Result<u64, StoreError> {
        let (mut due, mut after) = (0, 0);
        loop {
            let id = self.campaign.id;
            let batch = self.store.run(move |s| s.mail_candidates(id, after, 256)).await?;
            let Some(last) = batch.last() else {
                return Ok(due);
            };
            after = last.account_id;
            let now = (self.driver.now)();
            due += batch
                .into_iter()
                .filter_map(|c| self.plan(now, c))
                .filter(|job| job.target.mail.iter().any(|m| !m.trim().is_empty()))
                .count() as u64;
        }
    }
}
