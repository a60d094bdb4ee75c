//! Executes a campaign's directory work: marking (with scan), and reverting.
//!
//! Three parts run together: a producer feeding work items (a sweep of what the store still has
//! to do, then — for a campaign whose scan did not finish — a fresh scan recorded in batches),
//! bounded-concurrency rate-limited workers calling the directory, and a recorder writing results
//! to the store in batches. The store records every account (with its prior flag) before the
//! directory is touched, so a run killed at any moment resumes without losing or re-deciding
//! anything. The workers and the recorder are in `executor`; this file holds the producers.

use crate::campaign::state::AccountState;
use crate::directory::Directory;
use crate::store::{Campaign, Store, StoreError, WorkItem};
use std::sync::Arc;
use tokio::sync::mpsc;

use super::executor::{Action, Executor};
pub use super::work::{Progress, RunError, Settings, Summary, silent};

/// Scans (when needed) and marks every in-scope account of `campaign` not marked yet.
#[tracing::instrument(name = "mark", skip_all, fields(campaign = %campaign.name))]
pub async fn mark(
    dir: Arc<dyn Directory>,
    store: &Store,
    campaign: &Campaign,
    settings: &Settings,
    progress: &Arc<dyn Progress>,
) -> Result<Summary, RunError> {
    let id = campaign.id;
    store.run(move |s| s.retry_failed(id)).await?;
    let (tx, rx) = mpsc::channel(settings.batch * 2);
    let exec = Executor::new(dir.clone(), store.clone(), settings.clone(), progress.clone());
    let producer = async {
        // Accounts recorded by an earlier run first; the scan below only yields new ones.
        sweep(store, id, &[AccountState::Pending], settings.batch, &tx, progress).await?;
        if !campaign.scan_complete {
            scan_into(dir, store, id, settings.batch, &tx, progress).await?;
        }
        drop(tx);
        Ok::<_, RunError>(())
    };
    let (produced, summary) = tokio::join!(producer, exec.process(rx, Action::Mark));
    let summary = summary?;
    produced?;
    Ok(summary)
}

/// Clears the flag on every account the campaign marked that has not completed, except those
/// that carried it before the campaign.
#[tracing::instrument(name = "revert", skip_all, fields(campaign = %campaign.name))]
pub async fn revert(
    dir: Arc<dyn Directory>,
    store: &Store,
    campaign: &Campaign,
    settings: &Settings,
    progress: &Arc<dyn Progress>,
) -> Result<Summary, RunError> {
    let id = campaign.id;
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

/// Scans the directory, records what it finds in batches, and feeds the new pending accounts.
async fn scan_into(
    dir: Arc<dyn Directory>,
    store: &Store,
    id: i64,
    batch: usize,
    tx: &mpsc::Sender<WorkItem>,
    progress: &Arc<dyn Progress>,
) -> Result<(), RunError> {
    let (scan_tx, mut scan_rx) = mpsc::channel(batch * 2);
    let scanner = tokio::spawn(async move { dir.scan(scan_tx).await });
    let mut buf = Vec::with_capacity(batch);
    let mut stopped = false;
    while !stopped && scan_rx.recv_many(&mut buf, batch).await > 0 {
        let items = std::mem::take(&mut buf);
        let fresh = store.run(move |s| s.insert_scanned(id, &items)).await?;
        progress.add_work(fresh.len() as u64);
        for item in fresh {
            if tx.send(item).await.is_err() {
                stopped = true;
                break;
            }
        }
    }
    drop(scan_rx);
    let scanned = scanner.await.map_err(|e| StoreError::Worker(e.to_string()))?;
    if stopped {
        return Ok(());
    }
    scanned.map_err(RunError::Unavailable)?;
    store.run(move |s| s.set_scan_complete(id)).await?;
    tracing::info!(campaign_id = id, "scan complete");
    Ok(())
}
