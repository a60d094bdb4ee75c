//! Holding a campaign's lease while working on it: renewed in the background, released on drop.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::store::{Store, StoreError};

/// How long a lease lasts without renewal; renewed every third of it.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

pub struct LeaseGuard {
    store: Store,
    campaign_id: i64,
    holder: String,
    renewal: JoinHandle<()>,
}

impl LeaseGuard {
    /// Takes the lease, or returns the current holder's name when somebody else has it.
    pub async fn acquire(
        store: &Store,
        campaign_id: i64,
        holder: &str,
    ) -> Result<Result<LeaseGuard, String>, StoreError> {
        let h = holder.to_owned();
        if !store.run(move |s| s.acquire_lease(campaign_id, &h, LEASE_TTL)).await? {
            let other = store.run(move |s| s.lease_holder(campaign_id)).await?;
            let taken = match &other {
                Some(previous) if crate::store::holder_is_dead(previous) => {
                    let (p, h) = (previous.clone(), holder.to_owned());
                    tracing::warn!(campaign_id, previous = %p, "taking over the lease of a process that no longer exists");
                    store
                        .run(move |s| s.take_over_lease(campaign_id, &p, &h, LEASE_TTL))
                        .await?
                }
                _ => false,
            };
            if !taken {
                return Ok(Err(other.unwrap_or_else(|| "another process".into())));
            }
        }
        let (s, h) = (store.clone(), holder.to_owned());
        let renewal = tokio::spawn(async move {
            let mut tick = tokio::time::interval(LEASE_TTL / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                let (s2, h2) = (s.clone(), h.clone());
                match s.run(move |_| s2.acquire_lease(campaign_id, &h2, LEASE_TTL)).await {
                    Ok(true) => {}
                    Ok(false) => tracing::error!(campaign_id, "lease taken over by another process"),
                    Err(e) => tracing::warn!(campaign_id, error = %e, "cannot renew the lease"),
                }
            }
        });
        Ok(Ok(LeaseGuard {
            store: store.clone(),
            campaign_id,
            holder: holder.to_owned(),
            renewal,
        }))
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.renewal.abort();
        if let Err(e) = self.store.release_lease(self.campaign_id, &self.holder) {
            tracing::warn!(campaign_id = self.campaign_id, error = %e, "cannot release the lease");
        }
    }
}
