//! The campaign worker: finishes interrupted marking and reverts, reconciles active campaigns
//! with the directory, sends due mails, and publishes progress (metrics and systemd STATUS).
//! It holds a campaign's lease (leases.rs) while the service runs, so that a CLI run or another
//! daemon never works the same campaign at the same time. Its loop, the one periodic task of
//! `serve`, also runs the store's housekeeping (housekeeping.rs).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
// tokio's clock (the system's monotonic clock, unless a test pauses it): the reconcile and mail
// intervals then follow paused time in tests.
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::housekeeping::Housekeeping;
use super::leases::Leases;
use super::metrics::{self, Metrics};
use super::systemd;
use crate::campaign::deadline::Guard;
use crate::campaign::state::{AccountState, CampaignState};
use crate::daemon::config::Config;
use crate::directory::Directory;
use crate::engine::Status;
use crate::engine::deadline::{self, Protected, Run, When};
use crate::engine::lease::{self, LeaseGuard};
use crate::engine::runner::{self, RunError, Settings};
use crate::notify::pass::PassError;
use crate::store::{Campaign, Store, StoreError};

/// How often the worker looks for work when nothing is due sooner.
const TICK: Duration = Duration::from_secs(5);

/// A pass over due mails for one campaign; provided by the daemon once the mailer is set up.
#[async_trait::async_trait]
pub trait MailPass: Send + Sync {
    /// `store`: the lease holder's fenced handle (its mail intents are refused once another
    /// instance has taken the campaign over).
    async fn run(
        &self,
        campaign: &Campaign,
        config: &Config,
        store: &Store,
        stop: &CancellationToken,
    ) -> Result<(), PassError>;

    /// Since when the mail server is down, for the STATUS line; `None` while it answers.
    fn mail_server_down_since(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        None
    }
}

pub struct Worker {
    pub directory: Arc<dyn Directory>,
    pub store: Store,
    pub config: watch::Receiver<Arc<Config>>,
    pub metrics: Arc<Metrics>,
    pub mail: Option<Arc<dyn MailPass>>,
    /// Cancelled at shutdown: in-flight work is finished and recorded, nothing new starts.
    pub stop: CancellationToken,
    pub holder: String,
}

#[derive(Default)]
struct Due {
    reconciled: HashMap<i64, Instant>,
    mailed: HashMap<i64, Instant>,
    /// A campaign whose last work failed (a scan stopped at a limit, a store error) is tried
    /// again after a pause that doubles up to [`RETRY_MAX`]: (when, pause).
    retry: HashMap<i64, (Instant, Duration)>,
}

/// The longest pause before retrying a campaign whose work keeps failing.
const RETRY_MAX: Duration = Duration::from_secs(300);

impl Worker {
    /// Works until `stop` is cancelled; in-flight work is finished and recorded first, and the
    /// leases are released (dropped with `leases`), so another instance takes over at once.
    pub async fn run(self) {
        let mut due = Due::default();
        let mut leases = Leases::new(self.metrics.clone(), &self.holder);
        let mut housekeeping = Housekeeping::default();
        while !self.stop.is_cancelled() {
            housekeeping.run_if_due(&self.store).await;
            let ttl = self.config.borrow().daemon.lease_ttl;
            // A standby looks again when the lease it waits for runs out (engine/lease.rs:
            // take-over within the TTL), and everyone at least three times per TTL.
            let next = match self.tick(&mut due, &mut leases).await {
                Ok(expiry) => expiry.unwrap_or(TICK).min(TICK).min(ttl / 3),
                Err(e) => {
                    tracing::warn!(error = %e, "campaign worker");
                    lease::renewal(ttl).min(TICK)
                }
            };
            let wanted = leases.handover_tokens();
            tokio::select! {
                _ = tokio::time::sleep(next) => {}
                _ = self.stop.cancelled() => {}
                _ = any_cancelled(&wanted) => {}
            }
        }
    }

    /// Works each campaign due under its lease; when to look again for another holder's
    /// expired lease.
    async fn tick(&self, due: &mut Due, leases: &mut Leases) -> Result<Option<Duration>, RunError> {
        let config = self.config.borrow().clone();
        let campaigns = self.store.run(|s| s.campaigns()).await?;
        leases.let_go_unwanted();
        for campaign in &campaigns {
            if self.stop.is_cancelled() {
                break;
            }
            if campaign.state == CampaignState::Reverted {
                leases.let_go(campaign.id);
                continue;
            }
            let ttl = config.daemon.lease_ttl;
            let Some(lease) = leases.take(&self.store, campaign, ttl, &self.stop).await? else {
                continue;
            };
            // One campaign's failure (e.g. its scan stopped at a server limit) must not keep the
            // others from being worked: log it, pause that campaign, go on.
            let now = Instant::now();
            if due.retry.get(&campaign.id).is_some_and(|(at, _)| now < *at) {
                continue;
            }
            match self.work(campaign, &config, due, lease).await {
                Ok(()) => {
                    due.retry.remove(&campaign.id);
                }
                // Taken over while working (this process stalled past its lease): the other
                // instance works it now; this one competes for the lease again like any other.
                Err(RunError::Store(StoreError::Fenced { holder, epoch, .. })) => {
                    self.metrics.fenced.inc();
                    tracing::warn!(campaign = %campaign.name, %holder, epoch, "campaign taken over by another instance: its lease passed on while this one worked, the late write was refused (fenced); stopping work on it");
                    due.retry.remove(&campaign.id);
                    leases.let_go(campaign.id);
                }
                Err(e) => {
                    let pause = due
                        .retry
                        .get(&campaign.id)
                        .map_or(TICK, |(_, p)| (*p * 2).min(RETRY_MAX));
                    tracing::warn!(campaign = %campaign.name, error = %e, retry_in_secs = pause.as_secs(), "campaign worker");
                    due.retry.insert(campaign.id, (now + pause, pause));
                }
            }
            // A command asked during the pass: it gets the lease now, not at the next tick.
            if leases.handover_wanted(campaign.id) {
                leases.let_go(campaign.id);
            }
        }
        self.publish(&campaigns).await?;
        Ok(leases.publish(&self.store, &campaigns).await?)
    }

    #[tracing::instrument(skip_all, fields(campaign = %campaign.name))]
    async fn work(
        &self,
        campaign: &Campaign,
        config: &Config,
        due: &mut Due,
        lease: &LeaseGuard,
    ) -> Result<(), RunError> {
        let now = Instant::now();
        let reconcile_due = due
            .reconciled
            .get(&campaign.id)
            .is_none_or(|t| now - *t >= config.daemon.reconcile_interval);
        let mail_due = due
            .mailed
            .get(&campaign.id)
            .is_none_or(|t| now - *t >= config.daemon.notify_interval);
        let wanted = match campaign.state {
            CampaignState::Marking | CampaignState::Reverting => true,
            CampaignState::Active => reconcile_due || (mail_due && self.mail.is_some()),
            CampaignState::Reverted => false,
        };
        if !wanted {
            return Ok(());
        }
        // A foreground command asking for the campaign stops this pass at the next account
        // (`stop` below) and gets the lease when the guard drops (engine/lease.rs, tick).
        let stop = lease.stop(&self.stop);
        // Every campaign write below goes through the fenced handle (store/fence.rs).
        let store = &lease.store();
        // Read again under the lease: a command that held it before may have changed the
        // campaign (reverted it, changed its deadline action) since this tick read it.
        let name = campaign.name.clone();
        let Some(campaign) = self.store.run(move |s| s.campaign(&name)).await? else {
            return Ok(());
        };
        let campaign = &campaign;
        let settings = Settings {
            concurrency: config.directory.max_concurrency,
            ops_per_second: config.directory.max_ops_per_second,
            batch: 256,
            outage_wait: config.directory.outage_wait,
            stop: Some(stop.clone()),
        };
        let bar = runner::silent();
        let dir = self.directory.clone();
        match campaign.state {
            CampaignState::Marking => {
                let summary = runner::mark(dir, store, campaign, &settings, &bar).await?;
                tracing::info!(marked = summary.done, failed = summary.failed, "marking run");
                finish_if_done(store, campaign, CampaignState::Active, &stop).await?;
            }
            CampaignState::Reverting => {
                runner::revert(dir, store, campaign, &settings, &bar).await?;
                finish_if_done(store, campaign, CampaignState::Reverted, &stop).await?;
            }
            CampaignState::Active => {
                if reconcile_due {
                    let s = runner::reconcile(dir, store, campaign, &settings, &bar).await?;
                    if s.done + s.failed > 0 {
                        tracing::info!(changed = s.done, failed = s.failed, "reconciled");
                    }
                    due.reconciled.insert(campaign.id, now);
                }
                if let (true, Some(mail)) = (mail_due, &self.mail) {
                    match mail.run(campaign, config, store, &stop).await {
                        Ok(()) => {}
                        Err(PassError::Store(e @ StoreError::Fenced { .. })) => return Err(e.into()),
                        Err(e) => tracing::warn!(error = %e, "mail pass"),
                    }
                    due.mailed.insert(campaign.id, now);
                }
                if reconcile_due && !stop.is_cancelled() {
                    self.enforce(store, campaign, config, &settings).await?;
                }
            }
            CampaignState::Reverted => {}
        }
        Ok(())
    }

    /// Applies the campaign's deadline action to the accounts whose deadline + grace has passed
    /// (nothing when it has none). Runs with reconciliation, so within `daemon.reconcile_interval`.
    async fn enforce(
        &self,
        store: &Store,
        campaign: &Campaign,
        config: &Config,
        settings: &Settings,
    ) -> Result<(), RunError> {
        if !campaign.enforcement.at_deadline.acts() {
            return Ok(());
        }
        let protected = Protected {
            service_dn: config.directory.bind_dn.clone(),
            operator_group: config.helpdesk.operator_group.clone(),
        };
        let progress = runner::silent();
        let run = Run {
            dir: self.directory.clone(),
            store,
            settings,
            protected: &protected,
            progress: &progress,
            actor: "deadline",
        };
        let guard = Guard {
            max_fraction: config.campaign.max_lock_fraction,
        };
        let s = deadline::apply(&run, campaign, When::Due(chrono::Utc::now()), guard).await?;
        if s.done + s.failed > 0 {
            tracing::info!(locked = s.done, failed = s.failed, "deadline action");
        }
        Ok(())
    }

    /// Account counts as metrics, and a one-line progress summary as systemd STATUS.
    async fn publish(&self, campaigns: &[Campaign]) -> Result<(), StoreError> {
        let list = campaigns.to_vec();
        let statuses = self
            .store
            .run(move |s| list.iter().map(|c| Status::read(s, c)).collect::<Result<Vec<_>, _>>())
            .await?;
        let mut line = Vec::new();
        for s in &statuses {
            for (state, n) in [
                (AccountState::Pending, s.pending),
                (AccountState::Marked, s.marked),
                (AccountState::Failed, s.failed),
                (AccountState::Completed, s.completed),
                (AccountState::Exempted, s.exempted),
                (AccountState::Reverted, s.reverted),
                (AccountState::Excluded, s.excluded),
                (AccountState::Gone, s.gone),
            ] {
                let labels = metrics::CampaignState {
                    campaign: s.name.clone(),
                    state: state.as_str().into(),
                };
                self.metrics.accounts.get_or_create(&labels).set(n as i64);
            }
            let campaign = metrics::CampaignName {
                campaign: s.name.clone(),
            };
            if matches!(s.state, CampaignState::Marking | CampaignState::Active) {
                self.metrics
                    .deadline
                    .get_or_create(&campaign)
                    .set(s.deadline.timestamp());
            } else {
                self.metrics.deadline.remove(&campaign);
            }
            if matches!(s.state, CampaignState::Marking | CampaignState::Active) {
                line.push(format!(
                    "{}: {}/{} changed",
                    s.name,
                    group(s.completed),
                    group(s.in_scope)
                ));
            }
        }
        if line.is_empty() {
            line.push("no active campaign".to_owned());
        }
        if let Some(since) = self.mail.as_ref().and_then(|m| m.mail_server_down_since()) {
            line.push(format!(
                "mail server down since {}",
                since.format("%Y-%m-%d %H:%M:%S UTC")
            ));
        }
        systemd::status(&line.join("; "));
        Ok(())
    }
}

/// Resolves when one of `tokens` is cancelled (never when there is none).
async fn any_cancelled(tokens: &[CancellationToken]) {
    if tokens.is_empty() {
        return std::future::pending().await;
    }
    futures_util::future::select_all(tokens.iter().map(|t| Box::pin(t.cancelled()))).await;
}

/// Moves the campaign on when nothing is left to do in its current state (not when the pass
/// stopped: at shutdown, or for a command that now holds the campaign and may change it).
/// `store`: the lease holder's fenced handle.
#[tracing::instrument(skip_all, fields(campaign = %campaign.name))]
async fn finish_if_done(
    store: &Store,
    campaign: &Campaign,
    next: CampaignState,
    stop: &CancellationToken,
) -> Result<(), StoreError> {
    let c = campaign.clone();
    let status = store.run(move |s| Status::read(s, &c)).await?;
    let left = match next {
        CampaignState::Active => status.pending + status.failed + u64::from(!status.scan_complete),
        _ => status.pending + status.marked + status.failed,
    };
    if left == 0 && !stop.is_cancelled() {
        let id = campaign.id;
        store.run(move |s| s.set_campaign_state(id, next)).await?;
        tracing::info!(state = next.as_str(), "campaign state");
    }
    Ok(())
}

/// 8120 → "8,120".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (8120, "8,120"),
            (1234567, "1,234,567"),
        ] {
            assert_eq!(super::group(n), s);
        }
    }
}
