//! Executes a campaign's directory work: marking (with scan), and reverting.
//!
//! A campaign whose scan did not finish is scanned first: the whole scope is read and recorded
//! in the store, in batches, before the first account is marked. A scan the directory breaks
//! off (a size or time limit, an outage) therefore marks nothing; what it recorded stays
//! pending, and the next run scans again (recording is idempotent) and marks only once the scan
//! is complete. Then a producer feeds the store's pending accounts to bounded-concurrency,
//! rate-limited workers calling the directory, and a recorder writes their results in batches.
//! The store records every account (with its prior flag) before the directory is touched, so a
//! run killed at any moment resumes without losing or re-deciding anything. The workers and the
//! recorder are in `executor`; this file holds the producers.

use crate::campaign::state::AccountState;
use crate::directory::Directory;
use crate::store::{Campaign, Store, StoreError, WorkItem};
use std::sync::Arc;
use tokio::sync::mpsc;

use super::executor::{Action, Executor, retrying};
pub use super::work::{Progress, RunError, Settings, Summary, silent};

/// Scans (when needed) and records the whole scope, then marks every in-scope account of
/// `campaign` not marked yet.
#[tracing::instrument(name = "mark", skip_all, fields(campaign = %campaign.name))]
pub async fn mark(
    dir: Arc<dyn Directory>,
    store: &Store,
    campaign: &Campaign,
    settings: &Settings,
    progress: &Arc<dyn Progress>,
) -> Result<Summary, RunError> {
    let id = campaign.id;
    if !campaign.scan_complete && record_scan(dir.clone(), store, id, settings).await? == Scan::Stopped {
        return Ok(Summary::default());
    }
    store.run(move |s| s.retry_failed(id)).await?;
    let (tx, rx) = mpsc::channel(settings.batch * 2);
    let exec = Executor::new(dir, store.clone(), settings.clone(), progress.clone());
    let producer = async {
        sweep(store, id, &[AccountState::Pending], settings.batch, &tx, progress).await?;
        drop(tx);
        Ok::<_, RunError>(())
    };
    let (produced, summary) = tokio::join!(producer, exec.process(rx, Action::Mark));
    let summary = summary?;
    produced?;
    Ok(summary)
}

/// Undoes the deadline's locks, then clears the flag on every account the campaign marked that
/// has not completed, except those that carried it before the campaign.
#[tracing::instrument(name = "revert", skip_all, fields(campaign = %campaign.name))]
pub async fn revert(
    dir: Arc<dyn Directory>,
    store: &Store,
    campaign: &Campaign,
    settings: &Settings,
    progress: &Arc<dyn Progress>,
) -> Result<Summary, RunError> {
    let id = campaign.id;
    // The deadline's locks first: a locked account is left out of the flag's sweep until then.
    let unlocked = super::deadline::undo_all(dir.as_ref(), store, campaign, settings).await?;
    if unlocked.done + unlocked.failed > 0 {
        tracing::info!(
            unlocked = unlocked.done,
            failed = unlocked.failed,
            "deadline locks undone"
        );
    }
    let (tx, rx) = mpsc::channel(settings.batch * 2);
    let exec = Executor::new(dir, store.clone(), settings.clone(), progress.clone());
    let states = [AccountState::Pending, AccountState::Marked, AccountState::Failed];
    let producer = async {
        sweep(store, id, &states, settings.batch, &tx, progress).await?;
        drop(tx);
        Ok::<_, RunError>(())
    };
    let (produced, summary) = tokio::join!(producer, exec.process(rx, Action::Revert));
    let summary = summary?;
    produced?;
    Ok(summary)
}

/// Enforcement: checks every marked account against the directory (password changed there,
/// flag removed behind pwresetd's back, account gone) and records what changed.
#[tracing::instrument(name = "reconcile", skip_all, fields(campaign = %campaign.name))]
pub async fn reconcile(
    dir: Arc<dyn Directory>,
    store: &Store,
    campaign: &Campaign,
    settings: &Settings,
    progress: &Arc<dyn Progress>,
) -> Result<Summary, RunError> {
    let id = campaign.id;
    let (tx, rx) = mpsc::channel(settings.batch * 2);
    let exec = Executor::new(dir, store.clone(), settings.clone(), progress.clone());
    let producer = async {
        sweep(store, id, &[AccountState::Marked], settings.batch, &tx, progress).await?;
        drop(tx);
        Ok::<_, RunError>(())
    };
    let (produced, summary) = tokio::join!(producer, exec.process(rx, Action::Reconcile));
    let summary = summary?;
    produced?;
    Ok(summary)
}

/// Feeds the store's accounts in `states`, in id order.
async fn sweep(
    store: &Store,
    id: i64,
    states: &[AccountState],
    batch: usize,
    tx: &mpsc::Sender<WorkItem>,
    progress: &Arc<dyn Progress>,
) -> Result<(), RunError> {
    let mut after = 0;
    loop {
        let states = states.to_vec();
        let items = store.run(move |s| s.work_after(id, &states, after, batch)).await?;
        let Some(last) = items.last() else { return Ok(()) };
        after = last.id;
        progress.add_work(items.len() as u64);
        for item in items {
            if tx.send(item).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// How a scan ended without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// The directory gave the whole scope; the store has it all and says so.
    Complete,
    /// The run was told to stop (shutdown) before the end; the next run scans again.
    Stopped,
}

/// Scans the directory and records what it finds in batches; once the directory has given the
/// whole scope, marks the scan complete. Nothing is marked here. A scan cut off by an outage
/// (a connection lost, a timeout) is started again from the top on a fresh connection until
/// `directory.outage_wait` has passed since the first cut: a paged search cannot be continued
/// on another connection, and recording what was already recorded changes nothing.
async fn record_scan(dir: Arc<dyn Directory>, store: &Store, id: i64, settings: &Settings) -> Result<Scan, RunError> {
    let attempt = || async {
        let scanned = scan_once(dir.clone(), store, id, settings).await;
        match scanned {
            Err(RunError::Scan(e)) if e.is_unavailable() && !settings.stopping() => {
                tracing::warn!(campaign_id = id, error = %e, "the scan was cut off; scanning again (what it recorded stays)");
                Err(e)
            }
            other => Ok(other),
        }
    };
    match retrying(settings.outage_wait, attempt).await {
        Ok(done) => done,
        Err(e) => Err(RunError::Scan(e)),
    }
}

/// One pass of [`record_scan`].
async fn scan_once(dir: Arc<dyn Directory>, store: &Store, id: i64, settings: &Settings) -> Result<Scan, RunError> {
    let batch = settings.batch;
    let (scan_tx, mut scan_rx) = mpsc::channel(batch * 2);
    let scanner = tokio::spawn(async move { dir.scan(scan_tx).await });
    let mut buf = Vec::with_capacity(batch);
    while next_batch(&mut scan_rx, &mut buf, settings).await > 0 {
        let items = std::mem::take(&mut buf);
        store.run(move |s| s.insert_scanned(id, &items)).await?;
    }
    if settings.stopping() {
        // Not awaited: a directory that stopped answering must not hold a shutdown up.
        scanner.abort();
        return Ok(Scan::Stopped);
    }
    let scanned = scanner.await.map_err(|e| StoreError::Worker(e.to_string()))?;
    scanned.map_err(RunError::Scan)?;
    store.run(move |s| s.set_scan_complete(id)).await?;
    tracing::info!(campaign_id = id, "scan complete");
    Ok(Scan::Complete)
}

/// Up to `settings.batch` scanned items into `buf`; 0 at the scan's end or when the run is told
/// to stop (a slow directory does not hold a shutdown up).
async fn next_batch<T>(rx: &mut mpsc::Receiver<T>, buf: &mut Vec<T>, settings: &Settings) -> usize {
    match &settings.stop {
        Some(stop) => tokio::select! {
            n = rx.recv_many(buf, settings.batch) => n,
            () = stop.cancelled() => 0,
        },
        None => rx.recv_many(buf, settings.batch).await,
    }
}
