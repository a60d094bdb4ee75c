//! One change or action per account at a time, across every `serve` instance on the store: a
//! claim row (`store::claims`) taken before the work and released by [`Claim::release`] (or,
//! failing that, when its [`Claim`] drops). Both front ends use it (the portal per account DN,
//! the helpdesk per account row), each with its own key prefix as before. A claim whose process
//! is known dead (killed on this host: its pid is gone, as for campaign leases) is taken over
//! at once, so a retry after a crash is not told "in progress"; one of a dead instance on
//! another host ends after [`CLAIM_TTL`]: far longer than any change takes, short enough that
//! nobody waits long for a dead instance. Must not see passwords.

use std::time::Duration;

use super::limits::now_millis;
use crate::store::{Store, StoreError, holder_is_dead, holder_name};

/// How long a claim lasts if it is never released.
pub const CLAIM_TTL: Duration = Duration::from_secs(300);

/// Held while the work on one account is in flight; releases the account when dropped.
pub struct Claim {
    store: Option<Store>,
    key: String,
    holder: String,
}

impl std::fmt::Debug for Claim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim").field("key", &self.key).finish_non_exhaustive()
    }
}

/// Claims `key`; `None` when another request (on any instance) holds it.
pub async fn claim(store: &Store, key: String) -> Result<Option<Claim>, StoreError> {
    let holder = holder_name("claim");
    let now = now_millis();
    let expires = now + CLAIM_TTL.as_millis() as i64;
    let (k, h) = (key.clone(), holder.clone());
    let claimed = store
        .run(move |s| {
            if s.claim(&k, &h, now, expires)? {
                return Ok(true);
            }
            match s.claim_holder(&k)? {
                Some(previous) if holder_is_dead(&previous) => s.take_over_claim(&k, &previous, &h, expires),
                _ => Ok(false),
            }
        })
        .await?;
    Ok(claimed.then(|| Claim {
        store: Some(store.clone()),
        key,
        holder,
    }))
}

impl Claim {
    /// Releases the account now, before the answer goes out: a client's next request (an
    /// operator's second action, a repeat) must not find it still claimed. Dropping releases
    /// too, but on a spawned task that may land after the next request.
    pub async fn release(mut self) {
        let Some(store) = self.store.take() else { return };
        let (key, holder) = (std::mem::take(&mut self.key), std::mem::take(&mut self.holder));
        if let Err(e) = store.run(move |s| s.release_claim(&key, &holder)).await {
            tracing::warn!(error = %e, "cannot release an account's claim; it ends at its expiry");
        }
    }
}

impl Drop for Claim {
    /// Released on the runtime; without one (shutting down), the claim ends at its expiry.
    fn drop(&mut self) {
        let Some(store) = self.store.take() else { return };
        let (key, holder) = (std::mem::take(&mut self.key), std::mem::take(&mut self.holder));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = store.run(move |s| s.release_claim(&key, &holder)).await {
                    tracing::warn!(error = %e, "cannot release an account's claim; it ends at its expiry");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_claim_of_a_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        // pid 4194304 is above Linux's pid_max: no such process.
        let dead = format!(
            "claim@{}:4194304:0000abcd",
            holder_name("x").split(['@', ':']).nth(1).unwrap()
        );
        let taken = store.run_blocking(|s| s.claim("portal:uid=a", &dead, now_millis(), now_millis() + 60_000));
        assert!(taken.unwrap());
        assert!(claim(&store, "portal:uid=a".into()).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_dropped_claim_frees_the_account() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        let held = claim(&store, "portal:uid=a".into()).await.unwrap().unwrap();
        assert!(claim(&store, "portal:uid=a".into()).await.unwrap().is_none());
        assert!(claim(&store, "portal:uid=b".into()).await.unwrap().is_some());
        drop(held);
        for _ in 0..100 {
            if let Some(again) = claim(&store, "portal:uid=a".into()).await.unwrap() {
                drop(again);
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the dropped claim was not released");
    }
}
