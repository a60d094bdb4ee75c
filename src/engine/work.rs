//! What a run is given and what it reports: its limits and stop token ([`Settings`]), where its
//! progress goes ([`Progress`]), what it did ([`Summary`]) and why it stopped ([`RunError`]).
//! Shared by the producers (`runner`) and the executor; no work is done here.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::campaign::deadline::TooMany;
use crate::directory::DirectoryError;
use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum RunError {
    #[error("{0}; nothing is lost: run the same command again to resume")]
    Unavailable(DirectoryError),
    /// The directory did not give the whole scope (a limit, an outage mid-scan): marking did not
    /// start, so no account was marked in this run.
    #[error("{0}\nNo account was marked: pwresetd marks only once it has read and recorded the whole scope.")]
    Scan(DirectoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The deadline's guard: nothing was locked.
    #[error(
        "refusing to lock {} of the {} accounts in scope ({:.0}% > campaign.max_lock_fraction = {}): \
         nothing was locked; check the deadline and `campaign deadline NAME --plan`, then raise \
         campaign.max_lock_fraction (1.0 turns the guard off) if this is meant",
        .0.would_lock, .0.in_scope, .0.would_lock as f64 * 100.0 / .0.in_scope.max(1) as f64, .0.max_fraction
    )]
    TooMany(TooMany),
    /// The directory refused the operation for one account (not an outage).
    #[error("{0}")]
    Account(DirectoryError),
}

/// Limits for one run.
#[derive(Debug, Clone)]
pub struct Settings {
    pub concurrency: usize,
    /// 0 = unlimited.
    pub ops_per_second: u32,
    /// Store batch size.
    pub batch: usize,
    /// How long an operation is retried while the directory is unavailable (`directory.outage_wait`).
    pub outage_wait: Duration,
    /// Cancelled at shutdown: stop dispatching, finish and record what is in flight.
    pub stop: Option<CancellationToken>,
}

impl Settings {
    pub(super) fn stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(CancellationToken::is_cancelled)
    }
}

/// Where a run reports its progress: the CLI draws a bar on a terminal, the daemon ignores it.
pub trait Progress: Send + Sync {
    /// `n` more accounts are to be worked on.
    fn add_work(&self, n: u64);
    /// `n` accounts were worked on and recorded.
    fn advance(&self, n: u64);
}

/// Progress that nobody watches.
pub fn silent() -> Arc<dyn Progress> {
    struct Silent;
    impl Progress for Silent {
        fn add_work(&self, _: u64) {}
        fn advance(&self, _: u64) {}
    }
    Arc::new(Silent)
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub done: u64,
    pub failed: u64,
    pub unchanged: u64,
}
