//! One session's share of a pass: it takes the next due mail from the pass's shared stream,
//! renders it and records its intent together with the result of the session's previous mail
//! (one store transaction, [`Store::finish_then_begin`], on the blocking pool, so rendering does
//! not hold up the sessions' network I/O), sends it, and goes on. After each commit the session
//! has one mail `sending` in the store, as with a transaction per step: a kill repeats at most
//! one mail per session. When the session ends (nothing left, a clean stop, the server
//! unusable, a store error) the result of its last mail is recorded alone.
//!
//! Must not decide what is due (the pass does) nor retry a send (the mailer does).

use std::sync::atomic::Ordering;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::sync::Mutex;

use super::deliver::{self, One, Ready};
use super::pass_state::{Job, Pass, PassSummary};
use crate::store::{MailOutcome, StoreError};

/// How a session ended.
#[derive(Default)]
pub(super) struct End {
    pub(super) summary: PassSummary,
    /// The mail server became unusable (why): no further mail was started.
    pub(super) stopped: Option<String>,
    pub(super) failure: Option<StoreError>,
}

/// A mail sent whose result is not recorded yet: recorded with the next intent.
struct Unrecorded {
    id: i64,
    outcome: MailOutcome,
    ready: Ready,
}

/// What the blocking trip of one mail did.
enum Trip {
    /// Rendered, and its intent recorded as this row.
    Ready(Ready, i64),
    /// Cannot be built (in words): recorded as failed by the caller.
    Unbuildable(super::deliver::Target, String),
    /// The transaction failed: nothing of it was recorded.
    Failed(StoreError),
}

/// Runs one session until the pass has no more mail for it or stops.
pub(super) async fn run(pass: &Pass<'_>, jobs: &Mutex<BoxStream<'_, Result<Job, StoreError>>>) -> End {
    let mut end = End::default();
    let mut unrecorded: Option<Unrecorded> = None;
    loop {
        let next = if pass.stopping() {
            None
        } else {
            jobs.lock().await.next().await
        };
        let job = match next {
            None => break,
            // A stop while this session waited for the stream: the mail is not started (nor
            // recorded), so it stays due.
            Some(Ok(_)) if pass.stopping() => break,
            Some(Ok(job)) => job,
            Some(Err(e)) => {
                end.failure = Some(e);
                break;
            }
        };
        let one = match one(pass, job, &mut unrecorded).await {
            Ok(one) => one,
            Err(e) => {
                end.failure = Some(e);
                break;
            }
        };
        pass.driver.progress.advance(1);
        match one {
            One::Nothing => {}
            One::NoAddress => end.summary.no_address += 1,
            One::Outcome(MailOutcome::Sent { .. }) => end.summary.sent += 1,
            One::Outcome(MailOutcome::Failed { .. }) => end.summary.failed += 1,
            One::Outcome(MailOutcome::Retry { .. }) => end.summary.retry += 1,
            One::Unusable(why) => {
                pass.halted.store(true, Ordering::Relaxed);
                end.stopped = Some(why);
            }
        }
    }
    if end.failure.is_some() {
        // Other sessions stop taking mails; theirs in flight finish and record.
        pass.halted.store(true, Ordering::Relaxed);
    }
    if let Some(last) = unrecorded {
        let recorded = pass
            .store
            .run(move |s| s.finish_then_begin(Some(last.ready.finished(last.id, &last.outcome)), None))
            .await;
        if let Err(e) = recorded {
            end.failure.get_or_insert(e);
        }
    }
    end
}

/// Sends `job`, recording its intent with the result of `unrecorded` (then cleared) and leaving
/// its own result there. On a store error `unrecorded` keeps what is not recorded yet.
async fn one(pass: &Pass<'_>, job: Job, unrecorded: &mut Option<Unrecorded>) -> Result<One, StoreError> {
    let Job {
        target,
        kind,
        row,
        with_link,
    } = job;
    if target.mail.iter().all(|m| m.trim().is_empty()) {
        let account_id = target.account_id;
        pass.store.run(move |s| s.record_no_address(account_id)).await?;
        return Ok(One::NoAddress);
    }
    let drawn = match deliver::draw(&target, kind, with_link.then_some(pass.links), (pass.driver.now)()) {
        Ok(d) => d,
        Err(why) => return Ok(One::Unusable(why)),
    };
    let (mail, previous) = (pass.mail.clone(), unrecorded.take());
    let account_id = target.account_id;
    // Rendering and the store's transaction on the blocking pool, one trip per mail. The
    // previous mail comes back unless its result was recorded.
    let (trip, previous) = pass
        .store
        .run(move |s| {
            let ready = match deliver::render(&mail, &target, kind, drawn) {
                Ok(ready) => ready,
                Err(why) => return Ok((Trip::Unbuildable(target, why), previous)),
            };
            let done = previous.as_ref().map(|p| p.ready.finished(p.id, &p.outcome));
            Ok(match s.finish_then_begin(done, Some(ready.intent(account_id, row))) {
                Ok(id) => (Trip::Ready(ready, id.unwrap_or_default()), None),
                // Kept, not returned: `run` does not see it, so the lost-connection check
                // that `run` makes for a fenced handle is made here (store/fence.rs).
                Err(e) => (Trip::Failed(s.refenced(e)), previous),
            })
        })
        .await?;
    *unrecorded = previous;
    let (ready, id) = match trip {
        Trip::Ready(ready, id) => (ready, id),
        Trip::Unbuildable(target, why) => return deliver::unbuildable(pass.store, &target, row, why).await,
        Trip::Failed(e) => return Err(e),
    };
    let (outcome, unusable) = deliver::outcome_of(pass.mail.mailer.send(&ready.built.message).await);
    *unrecorded = Some(Unrecorded {
        id,
        outcome: outcome.clone(),
        ready,
    });
    Ok(match unusable {
        Some(why) => One::Unusable(why),
        None => One::Outcome(outcome),
    })
}
