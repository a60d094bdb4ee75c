//! Holding a campaign's lease while working on it: renewed in the background, released on drop.
//!
//! The service holds a campaign's lease for a whole pass, which can take minutes; a foreground
//! command (`campaign revert`, `notify`, `set`, `deadline --now`) that meets it asks for it
//! ([`LeaseGuard::wait_for`]) and waits, bounded. The service's guard ([`LeaseGuard::yielding`])
//! sees the request, cancels the pass's stop token (in-flight work is finished and recorded,
//! nothing new starts) and, when dropped, hands the lease straight to the waiter. Two
//! foreground commands never wait for each other: the second is refused at once.
//! Must not decide what the holder does with the campaign.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreError};

/// How long a lease lasts without renewal; renewed every third of it.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// How often a yielding holder looks for a request, and a waiter for the lease.
const POLL: Duration = Duration::from_millis(500);

/// How long a waiter's request lasts unless renewed (each poll renews it): a killed waiter's
/// request lapses before the service would hand it the lease.
const REQUEST_TTL: Duration = Duration::from_secs(10);

/// The role whose passes yield to a foreground command (see `store::holder_name`).
const SERVICE_ROLE: &str = "daemon@";

pub struct LeaseGuard {
    store: Store,
    campaign_id: i64,
    holder: String,
    renewal: JoinHandle<()>,
    handover: Option<CancellationToken>,
}

/// Why a command did not get the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Another foreground process holds it (or a holder that does not yield).
    Held { holder: String },
    /// Another foreground command already waits for the service's lease.
    Waiting { waiter: String },
    /// The service did not hand it over within the wait.
    TimedOut { holder: String, waited: Duration },
}

impl LeaseGuard {
    /// Takes the lease, or returns the current holder's name when somebody else has it.
    pub async fn acquire(
        store: &Store,
        campaign_id: i64,
        holder: &str,
    ) -> Result<Result<LeaseGuard, String>, StoreError> {
        Ok(Self::try_take(store, campaign_id, holder)
            .await?
            .map(|()| Self::hold(store, campaign_id, holder, None))
            .map_err(named))
    }

    /// [`acquire`](Self::acquire) for the service: the guard's [`stop`](Self::stop) token (a
    /// child of `stop`) is cancelled when a foreground command asks for the lease, and the
    /// guard hands the lease to it when dropped.
    pub async fn yielding(
        store: &Store,
        campaign_id: i64,
        holder: &str,
        stop: &CancellationToken,
    ) -> Result<Result<LeaseGuard, String>, StoreError> {
        Ok(Self::try_take(store, campaign_id, holder)
            .await?
            .map(|()| Self::hold(store, campaign_id, holder, Some(stop.child_token())))
            .map_err(named))
    }

    /// Takes the lease for a foreground command. When the service holds it, asks for it and
    /// waits up to `wait` (calling `waiting` once, with the holder, so the caller can say so);
    /// refused at once when another foreground process holds it or already waits.
    pub async fn wait_for(
        store: &Store,
        campaign_id: i64,
        holder: &str,
        wait: Duration,
        waiting: impl FnOnce(&str),
    ) -> Result<Result<LeaseGuard, Refused>, StoreError> {
        let started = Instant::now();
        let mut waiting = Some(waiting);
        loop {
            let other = match Self::try_take(store, campaign_id, holder).await? {
                Ok(()) => return Ok(Ok(Self::hold(store, campaign_id, holder, None))),
                // Released between our attempt and our look: try again.
                Err(None) => continue,
                Err(Some(other)) => other,
            };
            if !other.starts_with(SERVICE_ROLE) {
                Self::withdraw(store, campaign_id, holder).await?;
                return Ok(Err(Refused::Held { holder: other }));
            }
            let (o, h) = (other.clone(), holder.to_owned());
            let first = store
                .run(move |s| s.request_lease(campaign_id, &o, &h, REQUEST_TTL))
                .await?;
            if let Some(waiter) = first {
                return Ok(Err(Refused::Waiting { waiter }));
            }
            if let Some(say) = waiting.take() {
                say(&other);
            }
            if started.elapsed() >= wait {
                Self::withdraw(store, campaign_id, holder).await?;
                // Handed over between the last look and the withdrawal: take it after all.
                if Self::try_take(store, campaign_id, holder).await?.is_ok() {
                    return Ok(Ok(Self::hold(store, campaign_id, holder, None)));
                }
                let waited = started.elapsed();
                return Ok(Err(Refused::TimedOut { holder: other, waited }));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Cancelled at the service's stop, or (for a [`yielding`](Self::yielding) guard) when a
    /// foreground command asks for the lease.
    pub fn stop(&self, parent: &CancellationToken) -> CancellationToken {
        self.handover.clone().unwrap_or_else(|| parent.clone())
    }

    async fn withdraw(store: &Store, campaign_id: i64, holder: &str) -> Result<(), StoreError> {
        let h = holder.to_owned();
        store.run(move |s| s.withdraw_lease_request(campaign_id, &h)).await
    }

    /// Takes or renews the lease (taking over a holder that no longer exists); the current
    /// holder's name when somebody else has it (`None`: nobody, it was released meanwhile).
    async fn try_take(store: &Store, campaign_id: i64, holder: &str) -> Result<Result<(), Option<String>>, StoreError> {
        let h = holder.to_owned();
        if store.run(move |s| s.acquire_lease(campaign_id, &h, LEASE_TTL)).await? {
            return Ok(Ok(()));
        }
        let other = store.run(move |s| s.lease_holder(campaign_id)).await?;
        let taken = match &other {
            // The holder is us: the service handed the lease over while we waited.
            Some(current) if current == holder => true,
            Some(previous) if crate::store::holder_is_dead(previous) => {
                let (p, h) = (previous.clone(), holder.to_owned());
                tracing::warn!(campaign_id, previous = %p, "taking over the lease of a process that no longer exists");
                store
                    .run(move |s| s.take_over_lease(campaign_id, &p, &h, LEASE_TTL))
                    .await?
            }
            _ => false,
        };
        Ok(if taken { Ok(()) } else { Err(other) })
    }

    fn hold(store: &Store, campaign_id: i64, holder: &str, handover: Option<CancellationToken>) -> LeaseGuard {
        let (s, h, wanted) = (store.clone(), holder.to_owned(), handover.clone());
        let renewal = tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            let mut renewed = Instant::now();
            loop {
                tick.tick().await;
                if renewed.elapsed() >= LEASE_TTL / 3 {
                    renewed = Instant::now();
                    let h2 = h.clone();
                    match s.run(move |s| s.acquire_lease(campaign_id, &h2, LEASE_TTL)).await {
                        Ok(true) => {}
                        Ok(false) => tracing::error!(campaign_id, "lease taken over by another process"),
                        Err(e) => tracing::warn!(campaign_id, error = %e, "cannot renew the lease"),
                    }
                }
                let Some(token) = wanted.as_ref().filter(|t| !t.is_cancelled()) else {
                    continue;
                };
                let h2 = h.clone();
                if let Ok(true) = s.run(move |s| s.lease_wanted(campaign_id, &h2)).await {
                    tracing::info!(
                        campaign_id,
                        "a command asks for the campaign: stopping this pass for it"
                    );
                    token.cancel();
                }
            }
        });
        LeaseGuard {
            store: store.clone(),
            campaign_id,
            holder: holder.to_owned(),
            renewal,
            handover,
        }
    }
}

fn named(holder: Option<String>) -> String {
    holder.unwrap_or_else(|| "another process".into())
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.renewal.abort();
        let (id, holder) = (self.campaign_id, &self.holder);
        match self
            .store
            .run_blocking(|s| s.release_or_hand_over(id, holder, LEASE_TTL))
        {
            Ok(Some(waiter)) => tracing::info!(campaign_id = self.campaign_id, %waiter, "lease handed over"),
            Ok(None) => {}
            Err(e) => tracing::warn!(campaign_id = self.campaign_id, error = %e, "cannot release the lease"),
        }
    }
}
