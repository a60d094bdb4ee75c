//! `serve`'s periodic clean-up of store rows that expire on their own and that nothing else
//! deletes soon: the portal's unconfirmed-write notes (store/unconfirmed.rs, an hour each),
//! otherwise deleted only when another note is written or a change recorded, and its records
//! of administrative writes (store/portal_writes.rs, a day), otherwise deleted only when
//! another write begins — each holds a password's argon2id hash, so none may sit in the store
//! for days. Run from the campaign worker's loop (worker.rs, the one periodic task `serve`
//! has), at most every [`EVERY`], on every instance: a DELETE by an index per table,
//! idempotent, so no lease is needed. Must not decide what has expired (each row carries
//! its expiry) nor stop the worker: an error is logged and the next round tries again.

use std::time::Duration;

// tokio's clock: the period follows paused time in tests.
use tokio::time::Instant;

use crate::store::Store;

/// How often: a note lives an hour, and a few minutes more in the store harm nobody.
pub const EVERY: Duration = Duration::from_secs(300);

/// When the last round ran.
#[derive(Default)]
pub struct Housekeeping {
    last: Option<Instant>,
}

impl Housekeeping {
    /// Deletes what has expired, when [`EVERY`] has passed since the last round (at once the
    /// first time).
    pub async fn run_if_due(&mut self, store: &Store) {
        if self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        let now = chrono::Utc::now();
        let secs = now.timestamp();
        match store.run(move |s| s.prune_unconfirmed(secs)).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(notes = n, "housekeeping: expired unconfirmed-password notes deleted"),
            Err(e) => tracing::warn!(error = %e, "housekeeping: cannot delete expired unconfirmed-password notes"),
        }
        let ms = now.timestamp_millis();
        match store.run(move |s| s.prune_portal_writes(ms)).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(rows = n, "housekeeping: the portal's day-old write records deleted"),
            Err(e) => tracing::warn!(error = %e, "housekeeping: cannot delete the portal's day-old write records"),
        }
    }
}
