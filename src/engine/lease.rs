//! Holding a campaign's lease while working on it: renewed in the background, released on drop.
//!
//! The service holds a campaign's lease while it runs, between passes too (daemon/worker.rs),
//! and a pass can take minutes; a foreground command (`campaign revert`, `notify`, `set`,
//! `deadline --now`) that meets it asks for it ([`LeaseGuard::wait_for`]) and waits, bounded.
//! The service's guard ([`LeaseGuard::yielding`]) sees the request, cancels the pass's stop
//! token (in-flight work is finished and recorded, nothing new starts) and, when dropped,
//! hands the lease straight to the waiter. Two foreground commands never wait for each other:
//! the second is refused at once.
//!
//! The lease row's expiry is half of `daemon.lease_ttl`, renewed every sixth of it
//! ([`expiry`] says why): a dead holder is taken over within the TTL.
//!
//! A guard knows its lease's fencing epoch: [`LeaseGuard::store`] is a store handle whose
//! campaign writes are refused once the lease has passed to another holder (store/fence.rs),
//! so a holder that stalled past its TTL and was taken over cannot commit late work.
//! Must not decide what the holder does with the campaign.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::{Fence, Store, StoreError};

/// `daemon.lease_ttl`'s default: the bound on a take-over after the holder dies or stalls.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// The expiry a holder writes into its lease row: half of `ttl`, renewed every sixth of `ttl`
/// ([`renewal`]).
///
/// `daemon.lease_ttl` promises a take-over within the TTL, measured from the holder's death.
/// Writing the full TTL as the expiry could not keep it: the row expires up to a TTL after the
/// last renewal, and the standby only sees that at its next look. With half the TTL written,
/// the row runs out at most `ttl/2` after the holder's last renewal (so after its death), and
/// the standby, which sleeps until the expiry it read (daemon/worker.rs), takes over shortly
/// after: a margin of half the TTL for the standby's look, a store slow to answer, and (on
/// PostgreSQL) a holder stalled inside a transaction, whose session the server ends after
/// `ttl/2` too (store/config.rs). Renewing every sixth of the TTL lets a holder miss two
/// renewals in a row (a slow store, a busy host) before its lease can run out.
pub fn expiry(ttl: Duration) -> Duration {
    ttl / 2
}

/// How often a holder renews its lease: every sixth of `ttl` (see [`expiry`]).
pub fn renewal(ttl: Duration) -> Duration {
    ttl / 6
}

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
    ttl: Duration,
    epoch: i64,
    renewal: JoinHandle<()>,
    handover: Option<CancellationToken>,
    /// Cancelled by the renewal task when the lease turned out taken over.
    lost: CancellationToken,
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
        ttl: Duration,
    ) -> Result<Result<LeaseGuard, String>, StoreError> {
        Ok(Self::try_take(store, campaign_id, holder, ttl)
            .await?
            .map(|epoch| Self::hold(store, (campaign_id, epoch), holder, ttl, None))
            .map_err(named))
    }

    /// [`acquire`](Self::acquire) for the service: the guard's [`stop`](Self::stop) token (a
    /// child of `stop`) is cancelled when a foreground command asks for the lease, and the
    /// guard hands the lease to it when dropped.
    pub async fn yielding(
        store: &Store,
        campaign_id: i64,
        holder: &str,
        ttl: Duration,
        stop: &CancellationToken,
    ) -> Result<Result<LeaseGuard, String>, StoreError> {
        Ok(Self::try_take(store, campaign_id, holder, ttl)
            .await?
            .map(|epoch| Self::hold(store, (campaign_id, epoch), holder, ttl, Some(stop.child_token())))
            .map_err(named))
    }

    /// Takes the lease for a foreground command. When the service holds it, asks for it and
    /// waits up to `wait` (calling `waiting` once, with the holder, so the caller can say so);
    /// refused at once when another foreground process holds it or already waits.
    pub async fn wait_for(
        store: &Store,
        campaign_id: i64,
        (holder, ttl): (&str, Duration),
        wait: Duration,
        waiting: impl FnOnce(&str),
    ) -> Result<Result<LeaseGuard, Refused>, StoreError> {
        let started = Instant::now();
        let mut waiting = Some(waiting);
        loop {
            let other = match Self::try_take(store, campaign_id, holder, ttl).await? {
                Ok(epoch) => return Ok(Ok(Self::hold(store, (campaign_id, epoch), holder, ttl, None))),
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
                if let Ok(epoch) = Self::try_take(store, campaign_id, holder, ttl).await? {
                    return Ok(Ok(Self::hold(store, (campaign_id, epoch), holder, ttl, None)));
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

    /// What this holder's writes carry: the campaign, the holder and the lease's epoch.
    pub fn fence(&self) -> Fence {
        Fence {
            campaign_id: self.campaign_id,
            holder: self.holder.clone(),
            epoch: self.epoch,
        }
    }

    /// The store through which the holder works the campaign: its campaign writes are refused
    /// ([`StoreError::Fenced`]) once the lease has passed on.
    pub fn store(&self) -> Store {
        self.store.fenced(self.fence())
    }

    async fn withdraw(store: &Store, campaign_id: i64, holder: &str) -> Result<(), StoreError> {
        let h = holder.to_owned();
        store.run(move |s| s.withdraw_lease_request(campaign_id, &h)).await
    }

    /// Takes or renews the lease (taking over a holder that no longer exists) and returns its
    /// epoch; the current holder's name when somebody else has it (`None`: nobody, it was
    /// released meanwhile).
    async fn try_take(
        store: &Store,
        campaign_id: i64,
        holder: &str,
        ttl: Duration,
    ) -> Result<Result<i64, Option<String>>, StoreError> {
        let h = holder.to_owned();
        if store
            .run(move |s| s.acquire_lease(campaign_id, &h, expiry(ttl)))
            .await?
        {
            return Self::epoch(store, campaign_id, holder).await;
        }
        let other = store.run(move |s| s.lease_holder(campaign_id)).await?;
        let taken = match &other {
            // The holder is us: the service handed the lease over while we waited.
            Some(current) if current == holder => true,
            Some(previous) if crate::store::holder_is_dead(previous) => {
                let (p, h) = (previous.clone(), holder.to_owned());
                tracing::warn!(campaign_id, previous = %p, "taking over the lease of a process that no longer exists");
                store
                    .run(move |s| s.take_over_lease(campaign_id, &p, &h, expiry(ttl)))
                    .await?
            }
            _ => false,
        };
        if taken {
            return Self::epoch(store, campaign_id, holder).await;
        }
        Ok(Err(other))
    }

    /// The epoch of the lease `holder` just took (another holder's name, in the unlikely case
    /// the lease ran out and passed on in between).
    async fn epoch(store: &Store, campaign_id: i64, holder: &str) -> Result<Result<i64, Option<String>>, StoreError> {
        let h = holder.to_owned();
        match store.run(move |s| s.lease_epoch(campaign_id, &h)).await? {
            Some(epoch) => Ok(Ok(epoch)),
            None => Ok(Err(store.run(move |s| s.lease_holder(campaign_id)).await?)),
        }
    }

    fn hold(
        store: &Store,
        (campaign_id, epoch): (i64, i64),
        holder: &str,
        ttl: Duration,
        handover: Option<CancellationToken>,
    ) -> LeaseGuard {
        let lost = CancellationToken::new();
        let (s, h, wanted, gone) = (store.clone(), holder.to_owned(), handover.clone(), lost.clone());
        let renewal = tokio::spawn(async move {
            let mut renew_at = tokio::time::interval(renewal(ttl));
            let mut look = tokio::time::interval(POLL);
            // After a stall, one renewal (or look) at once, not a burst of the missed ones.
            renew_at.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = renew_at.tick() => {
                        if !renew(&s, (campaign_id, epoch), &h, ttl).await {
                            // Taken over. Not cancelling the pass here is deliberate: after a
                            // stall this timer may run after the next write, so the fence
                            // (which refuses that write) is what stops the holder
                            // (ARCHITECTURE.md). The owner sees `is_lost` and lets go.
                            gone.cancel();
                            return;
                        }
                    }
                    _ = look.tick() => {
                        let Some(token) = wanted.as_ref().filter(|t| !t.is_cancelled()) else {
                            continue;
                        };
                        let h2 = h.clone();
                        if let Ok(true) = s.run(move |s| s.lease_wanted(campaign_id, &h2)).await {
                            tracing::info!(
                                campaign_id,
                                "a command asks for the campaign: handing it over after this pass"
                            );
                            token.cancel();
                        }
                    }
                }
            }
        });
        LeaseGuard {
            store: store.clone(),
            campaign_id,
            holder: holder.to_owned(),
            ttl,
            epoch,
            renewal,
            handover,
            lost,
        }
    }

    /// Whether a foreground command asked for the lease (a [`yielding`](Self::yielding) guard):
    /// drop the guard to hand it over.
    pub fn handover_wanted(&self) -> bool {
        self.handover.as_ref().is_some_and(CancellationToken::is_cancelled)
    }

    /// Cancelled when a foreground command asks for the lease (never for a guard that does not
    /// yield), so that an idle holder can wait for it.
    pub fn handover_token(&self) -> Option<CancellationToken> {
        self.handover.clone()
    }

    /// Whether a renewal found the lease taken over by another holder: the guard holds nothing
    /// any more (its fenced writes are refused); drop it and compete again.
    pub fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }
}

/// Renews the lease; false once it has passed to another holder (its epoch moved on), which is
/// then logged once here. A renewal already under way when the guard is dropped (its task is
/// aborted, its store call is not) may land after the release: it does not take the lease back
/// (`Store::renew_lease`), so that a stopping service leaves the campaign free at once.
async fn renew(store: &Store, (campaign_id, epoch): (i64, i64), holder: &str, ttl: Duration) -> bool {
    let h = holder.to_owned();
    let renewed = store
        .run(move |s| s.renew_lease(campaign_id, &h, epoch, expiry(ttl)))
        .await;
    match renewed {
        Ok(true) => true,
        Ok(false) => {
            tracing::warn!(
                campaign_id,
                epoch,
                "the campaign's lease was taken over by another process while held"
            );
            false
        }
        Err(e) => {
            tracing::warn!(campaign_id, error = %e, "cannot renew the lease");
            true
        }
    }
}

fn named(holder: Option<String>) -> String {
    holder.unwrap_or_else(|| "another process".into())
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.renewal.abort();
        let (id, holder, ttl) = (self.campaign_id, &self.holder, self.ttl);
        match self
            .store
            .run_blocking(|s| s.release_or_hand_over(id, holder, expiry(ttl)))
        {
            Ok(Some(waiter)) => tracing::info!(campaign_id = self.campaign_id, %waiter, "lease handed over"),
            Ok(None) => {}
            Err(e) => tracing::warn!(campaign_id = self.campaign_id, error = %e, "cannot release the lease"),
        }
    }
}
