//! The deadline's teeth: locking (or disabling) every account still marked at deadline + grace,
//! when the campaign asked for it, and undoing those locks.
//!
//! [`plan`] says who would be locked now and why, writing nothing. [`apply`] refuses when the
//! run would lock more than `campaign.max_lock_fraction` of the scope, then works the store's
//! candidates in batches at marking's rate limit: per account it re-reads the store and the
//! directory just before, records the lock state it finds *before* writing (an account locked
//! before stays locked when the lock is undone), locks, and records the lock with its audit
//! record. A run killed at any point resumes: a recorded prior state is never read again, and
//! a recorded lock is never written twice. The service account and the helpdesk's operators
//! are never locked. [`undo_all`] (revert) and [`undo_one`] (exemption, the helpdesk's unlock)
//! restore the prior state. What is due and the guard are decided in `crate::campaign::deadline`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;

use super::executor::{Pacer, retrying};
use super::work::{Progress, RunError, Settings, Summary};
use crate::campaign::deadline::{AtDeadline, Guard, due_before};
use crate::campaign::state::AccountState;
use crate::directory::{Directory, DirectoryError};
use crate::store::{Campaign, LockRecord, LockState, Store};

/// Who is never locked, whatever their campaign state.
#[derive(Debug, Clone, Default)]
pub struct Protected {
    /// The service account pwresetd binds as (`directory.bind_dn`).
    pub service_dn: String,
    /// The helpdesk's operators (`helpdesk.operator_group`), nested membership included.
    pub operator_group: Option<String>,
}

/// Which accounts a run covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Those whose deadline (their own, or the campaign's) + grace has passed at this time.
    Due(DateTime<Utc>),
    /// Every marked account, whatever its deadline (`campaign deadline --now`).
    Now,
}

/// One account of a [`DeadlinePlan`].
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub dn: String,
    pub login: Option<String>,
    /// Why it would be locked, or why it is left alone.
    pub reason: String,
    pub will_lock: bool,
}

/// `campaign deadline --plan`: who would be locked now, and whether the guard allows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadlinePlan {
    pub campaign: String,
    pub at_deadline: AtDeadline,
    pub grace_secs: u64,
    pub in_scope: u64,
    pub would_lock: u64,
    pub max_lock_fraction: f64,
    /// `None` when the guard allows the run; otherwise why it refuses.
    pub refused: Option<String>,
    pub accounts: Vec<Candidate>,
}

fn due(campaign: &Campaign, when: When) -> Option<DateTime<Utc>> {
    match when {
        When::Due(now) => Some(due_before(campaign.enforcement.grace, now)),
        When::Now => None,
    }
}

/// Whether the guard lets a run over `campaign`'s candidates go ahead.
async fn guard_check(store: &Store, campaign: &Campaign, when: When, guard: Guard) -> Result<(u64, u64), RunError> {
    let (id, before) = (campaign.id, due(campaign, when));
    let (would_lock, counts) = store
        .run(move |s| Ok((s.count_lock_candidates(id, before)?, s.counts(id)?)))
        .await?;
    let in_scope = counts.iter().filter(|(s, _)| s.in_scope()).map(|(_, n)| n).sum();
    guard.check(would_lock, in_scope).map_err(RunError::TooMany)?;
    Ok((would_lock, in_scope))
}

/// Who would be locked now and why; writes nothing.
pub async fn plan(
    dir: &dyn Directory,
    store: &Store,
    campaign: &Campaign,
    when: When,
    protected: &Protected,
    guard: Guard,
) -> Result<DeadlinePlan, RunError> {
    let (refused, (would_lock, in_scope)) = match guard_check(store, campaign, when, guard).await {
        Ok(n) => (None, n),
        Err(RunError::TooMany(t)) => (Some(RunError::TooMany(t).to_string()), (t.would_lock, t.in_scope)),
        Err(e) => return Err(e),
    };
    let (id, before) = (campaign.id, due(campaign, when));
    let mut accounts = Vec::new();
    let mut after = 0;
    loop {
        let batch = store.run(move |s| s.lock_candidates(id, before, after, 512)).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        for rec in batch {
            let (will_lock, reason) = match shielded(dir, protected, &rec.dn).await.map_err(RunError::Unavailable)? {
                Some(why) => (false, why.to_owned()),
                None if rec.state == Some(LockState::Locking) => (true, "lock interrupted; will finish".into()),
                None => (true, "still marked, password not changed, past its deadline".into()),
            };
            accounts.push(Candidate {
                dn: rec.dn,
                login: rec.login,
                reason,
                will_lock,
            });
        }
    }
    Ok(DeadlinePlan {
        campaign: campaign.name.clone(),
        at_deadline: campaign.enforcement.at_deadline,
        grace_secs: campaign.enforcement.grace.as_secs(),
        in_scope,
        would_lock,
        max_lock_fraction: guard.max_fraction,
        refused,
        accounts,
    })
}

/// Why `dn` is never locked, if it is not to be.
async fn shielded(
    dir: &dyn Directory,
    protected: &Protected,
    dn: &str,
) -> Result<Option<&'static str>, DirectoryError> {
    if dn.eq_ignore_ascii_case(&protected.service_dn) {
        return Ok(Some("the service account is never locked"));
    }
    if let Some(group) = &protected.operator_group {
        if retrying(SHORT_OUTAGE_WAIT, || dir.is_member(dn, group)).await? {
            return Ok(Some("a helpdesk operator is never locked"));
        }
    }
    Ok(None)
}

/// How long the steps without the run's settings (the operator check, one undo) ride out an
/// unavailable directory: about the three short retries they had before `directory.outage_wait`.
const SHORT_OUTAGE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// What the run needs besides the campaign.
pub struct Run<'a> {
    pub dir: Arc<dyn Directory>,
    pub store: &'a Store,
    pub settings: &'a Settings,
    pub protected: &'a Protected,
    pub progress: &'a Arc<dyn Progress>,
    /// Who the audit trail names: "deadline" for the daemon, the operator for `--now`.
    pub actor: &'a str,
}

/// Locks every candidate (see the module's comment); refuses with [`RunError::TooMany`] before
/// touching anything when the guard does not allow the run.
#[tracing::instrument(name = "deadline", skip_all, fields(campaign = %campaign.name))]
pub async fn apply(run: &Run<'_>, campaign: &Campaign, when: When, guard: Guard) -> Result<Summary, RunError> {
    let action = campaign.enforcement.at_deadline;
    if !action.acts() {
        return Ok(Summary::default());
    }
    guard_check(run.store, campaign, when, guard).await?;
    let (id, before) = (campaign.id, due(campaign, when));
    let mut summary = Summary::default();
    // Paced as each account is taken up, not as its work is queued.
    let pacer = tokio::sync::Mutex::new(Pacer::new(run.settings.ops_per_second));
    let mut after = 0;
    while !run.settings.stopping() {
        let batch = run.settings.batch;
        let items = run
            .store
            .run(move |s| s.lock_candidates(id, before, after, batch))
            .await?;
        let Some(last) = items.last() else { break };
        after = last.id;
        run.progress.add_work(items.len() as u64);
        let pacer = &pacer;
        let results = futures_util::stream::iter(items)
            .take_while(|_| std::future::ready(!run.settings.stopping()))
            .map(|rec| paced(pacer, lock_one(run, action, rec)))
            .buffer_unordered(run.settings.concurrency.max(1));
        let mut results = std::pin::pin!(results);
        let mut first_error = None;
        while let Some(outcome) = results.next().await {
            run.progress.advance(1);
            match outcome {
                Ok(true) => summary.done += 1,
                Ok(false) => summary.unchanged += 1,
                Err(RunError::Unavailable(e)) => {
                    first_error.get_or_insert(RunError::Unavailable(e));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lock at the deadline");
                    summary.failed += 1;
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
    }
    tracing::info!(locked = summary.done, failed = summary.failed, "deadline run");
    Ok(summary)
}

/// Waits for `pacer` (in turn with the other workers), then does `work`.
async fn paced<T>(pacer: &tokio::sync::Mutex<Pacer>, work: impl std::future::Future<Output = T>) -> T {
    pacer.lock().await.wait().await;
    work.await
}

/// Locks one account, re-reading it first. `Ok(false)`: left alone (changed meanwhile, gone,
/// protected).
#[tracing::instrument(name = "lock", skip_all, fields(dn = %rec.dn))]
async fn lock_one(run: &Run<'_>, action: AtDeadline, rec: LockRecord) -> Result<bool, RunError> {
    let dir = run.dir.as_ref();
    let unavailable = RunError::Unavailable;
    if let Some(why) = shielded(dir, run.protected, &rec.dn).await.map_err(unavailable)? {
        tracing::info!(why, "not locked");
        return Ok(false);
    }
    let id = rec.id;
    let (now_rec, lock) = run.store.run(move |s| Ok((s.account(id)?, s.lock_of(id)?))).await?;
    let still_marked = now_rec.is_some_and(|a| a.state == AccountState::Marked);
    let Some(lock) = lock.filter(|l| still_marked && matches!(l.state, None | Some(LockState::Locking))) else {
        return Ok(false);
    };
    let prior_locked = match (lock.state, lock.prior_locked) {
        (Some(LockState::Locking), Some(prior)) => prior,
        _ => {
            // Just before locking: still there and still flagged (a changed password is
            // reconciliation's to record, not a reason to lock).
            match retrying(run.settings.outage_wait, || dir.read(&rec.dn)).await {
                Ok(Some(d)) if d.account.flagged => {}
                Ok(_) => return Ok(false),
                Err(e) if e.is_unavailable() => return Err(unavailable(e)),
                Err(e) => return Err(RunError::Account(e)),
            }
            let prior = match retrying(run.settings.outage_wait, || dir.lock_state(&rec.dn, action)).await {
                Ok(Some(prior)) => prior,
                Ok(None) => return Ok(false),
                Err(e) if e.is_unavailable() => return Err(unavailable(e)),
                Err(e) => return Err(RunError::Account(e)),
            };
            if !run.store.run(move |s| s.record_lock_prior(id, prior)).await? {
                return Ok(false);
            }
            prior
        }
    };
    if !prior_locked {
        match retrying(run.settings.outage_wait, || dir.lock(&rec.dn, action)).await {
            Ok(()) => {}
            Err(e) if e.is_unavailable() => return Err(unavailable(e)),
            Err(e) => return Err(RunError::Account(e)),
        }
    }
    let detail = if prior_locked {
        format!(
            "at the deadline ({}): already locked before, left as it was",
            action.as_str()
        )
    } else {
        format!("at the deadline ({})", action.as_str())
    };
    let actor = run.actor.to_owned();
    Ok(run.store.run(move |s| s.record_locked(id, &actor, &detail)).await?)
}

/// Undoes one account's deadline lock (exemption, the helpdesk's unlock): restores what was
/// there before. `Ok(false)`: it had no lock to undo.
pub async fn undo_one(
    dir: &dyn Directory,
    store: &Store,
    account_id: i64,
    action: AtDeadline,
    audit: (&str, &str, &str),
) -> Result<bool, RunError> {
    let lock = store.run(move |s| s.lock_of(account_id)).await?;
    let Some(lock) = lock.filter(|l| matches!(l.state, Some(LockState::Locking | LockState::Locked))) else {
        return Ok(false);
    };
    // An account locked before the deadline stays locked; only the deadline's lock goes.
    if lock.prior_locked == Some(false) {
        match retrying(SHORT_OUTAGE_WAIT, || dir.unlock(&lock.dn, action)).await {
            Ok(()) => {}
            Err(e) if e.is_unavailable() => return Err(RunError::Unavailable(e)),
            Err(e) => return Err(RunError::Account(e)),
        }
    }
    let (actor, what, detail) = (audit.0.to_owned(), audit.1.to_owned(), audit.2.to_owned());
    Ok(store
        .run(move |s| s.record_unlocked(account_id, &actor, &what, &detail))
        .await?)
}

/// Undoes every deadline lock of the campaign (revert), resumably.
pub async fn undo_all(
    dir: &dyn Directory,
    store: &Store,
    campaign: &Campaign,
    settings: &Settings,
) -> Result<Summary, RunError> {
    let (id, action) = (campaign.id, campaign.enforcement.at_deadline);
    let mut summary = Summary::default();
    let mut pacer = Pacer::new(settings.ops_per_second);
    let mut after = 0;
    while !settings.stopping() {
        let batch = settings.batch;
        let items = store.run(move |s| s.locks_after(id, after, batch)).await?;
        let Some(last) = items.last() else { break };
        after = last.id;
        for rec in items {
            pacer.wait().await;
            match undo_one(
                dir,
                store,
                rec.id,
                action,
                ("revert", "account.unlocked", "campaign reverted"),
            )
            .await
            {
                Ok(true) => summary.done += 1,
                Ok(false) => summary.unchanged += 1,
                Err(RunError::Account(e)) => {
                    tracing::warn!(dn = %rec.dn, error = %e, "unlock at revert");
                    summary.failed += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(summary)
}
