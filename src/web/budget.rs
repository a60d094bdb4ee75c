//! pwresetd's own budget of failed password binds per account, one for every `serve` on the
//! store, shared by every flow that binds with a person's password (the portal's
//! current-password checks, the helpdesk sign-in), kept below the directory's lockout threshold
//! by the callers: pwresetd must never be the tool that locks somebody out.
//!
//! A bind is *reserved* before it is made ([`Budget::reserve`]) and settled after: a success
//! forgets the account's failures (the directory resets its count then, too), a failure is
//! remembered; a reservation dropped unsettled (an error, a cancelled request) counts as a
//! failure, since the bind may have reached the directory. Concurrent attempts thus never go
//! past the budget. Failures count as a chain: each within `window` of the one before; once
//! `window` has passed since the last, the chain starts again. That is what Active Directory
//! does, and never less strict than ppolicy's sliding interval.
//!
//! The chains live in the store (`store::bind_budget`): each reservation is one conditional
//! upsert on the key's row, so attempts on several instances queue on that row and together
//! never pass the budget, and a restart forgets no failure. A reservation whose instance died
//! before settling stays in flight until, [`STALE`] later, it is counted as the failure it may
//! have been. A store that fails refuses the bind (fail closed). Keys are the callers' (an
//! account's DN, or the login typed when no account has it), stored as their SHA-256, like the
//! rate limits' keys (see [`super::limits`]). Must not see passwords.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use super::limits::{Limited, now_millis};
use crate::store::{BindEnd, Reservation, Store};

/// A reservation unsettled this long is counted as a failure: far longer than any bind takes.
pub const STALE: Duration = Duration::from_secs(300);

/// Every this many reservations an instance sweeps stale reservations and ended chains.
const SWEEP_EVERY: u64 = 16;
const SWEEP_BATCH: i64 = 64;

/// The key of a known account: its DN, as the directory spells it, lower-cased (every flow
/// reads it from the directory).
pub fn account_key(dn: &str) -> String {
    format!("dn:{}", dn.to_lowercase())
}

/// The key of a typed login that matches no account: counted like an account's, so that the
/// answers do not tell which logins exist.
pub fn login_key(login: &str) -> String {
    let login: String = login.trim().chars().take(256).flat_map(char::to_lowercase).collect();
    format!("login:{login}")
}

/// Failures allowed per key: at most `failures` in a chain of failures each within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub failures: u32,
    pub window: Duration,
}

/// The failures of every account (see the module doc).
pub struct Budget {
    store: Store,
    reservations: AtomicU64,
    failing: AtomicBool,
}

impl std::fmt::Debug for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget").finish_non_exhaustive()
    }
}

/// One reserved bind; settle it with [`Attempt::succeeded`] or [`Attempt::failed`].
#[derive(Debug)]
pub struct Attempt {
    budget: Option<Arc<Budget>>,
    key: String,
    id: String,
    window: i64,
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// The key as stored: the hex SHA-256 of the caller's key.
fn stored_key(key: &str) -> String {
    Sha256::digest(format!("budget\0{key}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Budget {
    pub fn new(store: Store) -> Budget {
        Budget {
            store,
            reservations: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        }
    }

    /// Reserves one bind for `key`. `None`: no budget applies (the directory never locks, or
    /// cannot tell); the attempt is then only counted by the callers' rate limits.
    pub async fn reserve(self: &Arc<Self>, key: &str, allowance: Option<Allowance>) -> Result<Attempt, Limited> {
        let Some(allowance) = allowance else {
            return Ok(Attempt {
                budget: None,
                key: String::new(),
                id: String::new(),
                window: 0,
            });
        };
        let closed = Limited {
            retry_after: allowance.window,
            first: false,
        };
        let mut bytes = [0u8; 16];
        if let Err(e) = OsRng.try_fill_bytes(&mut bytes) {
            tracing::error!(error = %e, "lockout budget: no randomness for a reservation");
            return Err(closed);
        }
        let (id, hashed, window) = (URL_SAFE_NO_PAD.encode(bytes), stored_key(key), millis(allowance.window));
        let allowed = i64::from(allowance.failures.max(1));
        let sweep = self.reservations.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == 0;
        let now = now_millis();
        let (id2, hashed2) = (id.clone(), hashed.clone());
        let answer = self
            .store
            .run(move |s| {
                if sweep {
                    s.sweep_bind_reservations(now, now - millis(STALE), SWEEP_BATCH)?;
                }
                s.reserve_bind(&hashed2, &id2, now, allowed, window)
            })
            .await;
        match self.answered(answer).ok_or(closed)? {
            Reservation::Reserved => Ok(Attempt {
                budget: Some(self.clone()),
                key: hashed,
                id,
                window,
            }),
            Reservation::Refused { chain_ends } => Err(Limited {
                retry_after: chain_ends.map_or(allowance.window, |end| {
                    Duration::from_millis(end.saturating_sub(now).max(1000) as u64)
                }),
                // Every refusal is worth recording: the rate limits in front bound how many come.
                first: true,
            }),
        }
    }

    /// The store's answer, or `None` (logged once until the store answers again).
    fn answered<T>(&self, answer: Result<T, crate::store::StoreError>) -> Option<T> {
        match answer {
            Ok(t) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("lockout budget: the store answers again");
                }
                Some(t)
            }
            Err(e) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(error = %e, "lockout budget: the store failed; binds with a person's password are refused until it answers");
                }
                None
            }
        }
    }
}

impl Attempt {
    /// The bind succeeded: the directory forgot the account's failures, so does the budget.
    pub async fn succeeded(mut self) {
        if let Some(parts) = self.parts() {
            parts.settle(BindEnd::Succeeded).await;
        }
    }

    /// The password was wrong (or the account unknown).
    pub async fn failed(mut self) {
        if let Some(parts) = self.parts() {
            parts.settle(BindEnd::Failed).await;
        }
    }

    /// What settling needs, taken out (so that the attempt's drop does nothing more).
    fn parts(&mut self) -> Option<Unsettled> {
        Some(Unsettled {
            budget: self.budget.take()?,
            key: std::mem::take(&mut self.key),
            id: std::mem::take(&mut self.id),
            window: self.window,
        })
    }
}

/// A reservation on its way to being settled; no `Drop` of its own, so a settlement the
/// runtime cancels at shutdown is simply left to the sweep.
struct Unsettled {
    budget: Arc<Budget>,
    key: String,
    id: String,
    window: i64,
}

impl Unsettled {
    async fn settle(self, end: BindEnd) {
        let Unsettled {
            budget,
            key,
            id,
            window,
        } = self;
        let done = budget
            .store
            .run(move |s| s.settle_bind(&key, &id, end, now_millis(), window))
            .await;
        // Unsettled, the reservation counts as in flight, then as a failure: the safe side.
        budget.answered(done);
    }
}

impl Drop for Attempt {
    /// Unsettled (an error, a cancelled request): a failure, settled on the runtime if there is
    /// one, else by the sweep after [`STALE`].
    fn drop(&mut self) {
        let Some(parts) = self.parts() else { return };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(parts.settle(BindEnd::Failed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_MIN: Duration = Duration::from_secs(300);

    fn allow(failures: u32) -> Allowance {
        Allowance {
            failures,
            window: FIVE_MIN,
        }
    }

    fn budget() -> (tempfile::TempDir, Arc<Budget>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        (dir, Arc::new(Budget::new(store)))
    }

    #[tokio::test]
    async fn failures_are_counted_and_a_success_forgets_them() {
        let (_d, b) = budget();
        for _ in 0..3 {
            b.reserve("dn:a", Some(allow(3))).await.unwrap().failed().await;
        }
        let refused = b.reserve("dn:a", Some(allow(3))).await.unwrap_err();
        assert!(refused.retry_after > FIVE_MIN - Duration::from_secs(10), "{refused:?}");
        // Another key has its own chain; a larger allowance (a link's) gets one more.
        assert!(b.reserve("dn:b", Some(allow(3))).await.is_ok());
        let with_proof = b.reserve("dn:a", Some(allow(4))).await.unwrap();
        with_proof.succeeded().await;
        assert!(
            b.reserve("dn:a", Some(allow(3))).await.is_ok(),
            "a success forgets the failures"
        );
    }

    #[tokio::test]
    async fn concurrent_reservations_never_pass_the_budget_and_unsettled_ones_count() {
        let (_d, b) = budget();
        // Two budgets on one store: two instances.
        let other = Arc::new(Budget::new(b.store.clone()));
        let first = b.reserve("k", Some(allow(2))).await.unwrap();
        let second = other.reserve("k", Some(allow(2))).await.unwrap();
        assert!(
            b.reserve("k", Some(allow(2))).await.is_err(),
            "two in flight use the budget"
        );
        drop(first);
        second.failed().await;
        // The dropped one is settled on the runtime: give it the turn.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            other.reserve("k", Some(allow(2))).await.is_err(),
            "a dropped reservation is a failure"
        );
    }

    #[tokio::test]
    async fn no_allowance_means_no_budget() {
        let (_d, b) = budget();
        for _ in 0..10 {
            b.reserve("k", None).await.unwrap().failed().await;
        }
        assert!(b.reserve("k", Some(allow(1))).await.is_ok(), "nothing was counted");
    }
}
