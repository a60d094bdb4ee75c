//! The campaign leases this service instance holds. A lease is taken when free and kept,
//! renewed by its guard, between passes for as long as the service runs, so that
//! `pwresetd_campaign_lease_held` is 1 on the instance holding the campaign and 0 elsewhere at
//! any time, not only during a pass. It is given up when a foreground command asks for it (the
//! guard hands it over), when a renewal found it taken over, when its campaign is reverted, and
//! at shutdown (the guards are dropped: released, the other instance takes over at its next
//! look). Must not work the campaigns (worker.rs does) nor decide who may hold a lease
//! (engine/lease.rs does).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::metrics::{self, Metrics};
use crate::campaign::state::CampaignState;
use crate::engine::lease::LeaseGuard;
use crate::store::{Campaign, Store, StoreError};

/// How long after another holder's recorded expiry the standby looks again: the other's clock
/// wrote it, and a look a little late costs less than one too early (another full wait).
const AFTER_EXPIRY: Duration = Duration::from_millis(200);

pub struct Leases {
    metrics: Arc<Metrics>,
    holder: String,
    /// Campaign id → (name, guard).
    held: HashMap<i64, (String, LeaseGuard)>,
}

impl Leases {
    pub fn new(metrics: Arc<Metrics>, holder: &str) -> Leases {
        Leases {
            metrics,
            holder: holder.to_owned(),
            held: HashMap::new(),
        }
    }

    /// This instance's guard on `campaign`'s lease: the one it keeps, or a new one when the
    /// lease is free; `None` while another process holds it.
    pub async fn take(
        &mut self,
        store: &Store,
        campaign: &Campaign,
        ttl: Duration,
        stop: &CancellationToken,
    ) -> Result<Option<&LeaseGuard>, StoreError> {
        if !self.held.contains_key(&campaign.id) {
            match LeaseGuard::yielding(store, campaign.id, &self.holder, ttl, stop).await? {
                Ok(guard) => {
                    set(&self.metrics, &campaign.name, true);
                    self.held.insert(campaign.id, (campaign.name.clone(), guard));
                }
                Err(other) => {
                    tracing::debug!(campaign = %campaign.name, holder = %other, "campaign worked by another process");
                    return Ok(None);
                }
            }
        }
        Ok(self.held.get(&campaign.id).map(|(_, guard)| guard))
    }

    /// Gives up `campaign_id`'s lease (handing it to a waiting command, if one asks).
    pub fn let_go(&mut self, campaign_id: i64) {
        if let Some((name, guard)) = self.held.remove(&campaign_id) {
            drop(guard);
            set(&self.metrics, &name, false);
        }
    }

    /// Gives up the leases a command asks for and those taken over meanwhile.
    pub fn let_go_unwanted(&mut self) {
        let ids: Vec<i64> = self
            .held
            .iter()
            .filter(|(_, (_, g))| g.handover_wanted() || g.is_lost())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.let_go(id);
        }
    }

    /// Whether this instance's guard on `campaign_id` should be given up now (a command asks).
    pub fn handover_wanted(&self, campaign_id: i64) -> bool {
        self.held.get(&campaign_id).is_some_and(|(_, g)| g.handover_wanted())
    }

    /// The tokens a command's request cancels, for an idle worker to wake on.
    pub fn handover_tokens(&self) -> Vec<CancellationToken> {
        self.held.values().filter_map(|(_, g)| g.handover_token()).collect()
    }

    /// Sets `campaign_lease_held` from the store (1 for the campaigns whose current lease this
    /// instance holds, 0 for the others not reverted: every instance knows every campaign) and
    /// returns how long until the earliest recorded expiry of another holder's lease (now,
    /// when one has expired), plus a little: when to look again to take over a holder that
    /// died at once, rather than a polling period later.
    pub async fn publish(&self, store: &Store, campaigns: &[Campaign]) -> Result<Option<Duration>, StoreError> {
        let ids: Vec<i64> = campaigns.iter().map(|c| c.id).collect();
        let leases = store
            .run(move |s| ids.iter().map(|id| s.lease_info(*id)).collect::<Result<Vec<_>, _>>())
            .await?;
        let now = Utc::now();
        let mut next: Option<Duration> = None;
        for (c, lease) in campaigns.iter().zip(leases) {
            if c.state == CampaignState::Reverted {
                let label = metrics::CampaignName {
                    campaign: c.name.clone(),
                };
                self.metrics.lease_held.remove(&label);
                continue;
            }
            let held = lease.as_ref().is_some_and(|l| l.current && l.holder == self.holder);
            set(&self.metrics, &c.name, held);
            // Expired already (e.g. while this tick's attempt waited on a PostgreSQL row lock
            // of a holder stalled inside a transaction): look again right away.
            if let Some(l) = lease.filter(|l| l.holder != self.holder) {
                let left = (l.expires_at - now).to_std().unwrap_or_default() + AFTER_EXPIRY;
                next = Some(next.map_or(left, |n| n.min(left)));
            }
        }
        Ok(next)
    }
}

fn set(metrics: &Metrics, campaign: &str, held: bool) {
    let label = metrics::CampaignName {
        campaign: campaign.to_owned(),
    };
    metrics.lease_held.get_or_create(&label).set(i64::from(held));
}
