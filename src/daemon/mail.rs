//! The daemon's mail glue: due notices and reminders for the worker, the "changed" confirmation
//! and new links for the portal. Templates are swapped on SIGHUP. While the mail server is
//! down, the whole mail pass backs off (`daemon.mail_backoff`, doubled up to
//! `daemon.mail_backoff_max`); the mailer's health logs the outage once, not this file.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::metrics::{MailResult, Metrics};
use super::worker::MailPass;
use crate::daemon::config::Config;
use crate::directory::AccountDetails;
use crate::helpdesk::{Resender, Resent};
use crate::notify::pass::{self, Mail, One, PassError, PassSummary, Target};
use crate::notify::{Kind, Templates};
use crate::portal::ChangeNotifier;
use crate::store::{AccountRecord, MailOutcome, REQUESTED, Store, StoreError};
use crate::token::Links;

pub struct MailGlue {
    pub mail: RwLock<Mail>,
    pub store: Store,
    /// Where the links in mails point, and how long they live.
    pub links: RwLock<Links>,
    pub metrics: Arc<Metrics>,
    /// When the next mail pass may run, while the server is down.
    pub backoff: Mutex<Backoff>,
}

/// The pause between mail passes that found the server down: `None` while it answers.
#[derive(Debug, Default)]
pub struct Backoff(Option<(Instant, Duration)>);

impl Backoff {
    /// Whether a pass must wait still.
    fn waiting(&self) -> bool {
        self.0.is_some_and(|(until, _)| Instant::now() < until)
    }

    /// A pass found the server down: the next waits `initial`, then twice the last, up to `max`.
    fn failed(&mut self, initial: Duration, max: Duration) -> Duration {
        let delay = self.0.map_or(initial, |(_, last)| last.saturating_mul(2)).min(max);
        self.0 = Some((Instant::now() + delay, delay));
        delay
    }
}

impl MailGlue {
    fn current(&self) -> Mail {
        self.mail.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Uses new templates (and link settings) from now on.
    pub fn reload(&self, templates: Templates, links: Links) {
        self.mail.write().unwrap_or_else(|p| p.into_inner()).templates = Arc::new(templates);
        *self.links.write().unwrap_or_else(|p| p.into_inner()) = links;
    }

    fn lock_backoff(&self) -> std::sync::MutexGuard<'_, Backoff> {
        // A poisoned lock only means a pass panicked while noting the pause.
        self.backoff.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, summary: &PassSummary) {
        for (result, n) in [
            ("sent", summary.sent),
            ("failed", summary.failed),
            ("retried", summary.retry),
            ("no_address", summary.no_address),
        ] {
            self.metrics
                .mails
                .get_or_create(&MailResult { result: result.into() })
                .inc_by(n);
        }
    }

    fn count_one(&self, one: &One) {
        let result = match one {
            One::Outcome(MailOutcome::Sent { .. }) => "sent",
            One::Outcome(MailOutcome::Failed { .. }) => "failed",
            One::Outcome(MailOutcome::Retry { .. }) | One::Unusable(_) => "retried",
            One::NoAddress => "no_address",
            One::Nothing => return,
        };
        self.metrics
            .mails
            .get_or_create(&MailResult { result: result.into() })
            .inc();
    }

    /// Sends `account` a new link now: `kind` is `resend` (a helpdesk resend: the older links
    /// go once it is delivered) or [`REQUESTED`] (the portal's anonymous "send me a new link":
    /// the older ones stay valid).
    pub async fn send_link(&self, account: &AccountRecord, kind: &'static str) -> Result<One, StoreError> {
        let id = account.id;
        let step = self.store.run(move |s| s.next_step(id, kind)).await?;
        let links = self.links.read().unwrap_or_else(|p| p.into_inner()).clone();
        let one = pass::deliver(
            &self.current(),
            &self.store,
            &Target::from_record(account),
            Kind::Notice,
            (kind, step),
            Some(&links),
        )
        .await?;
        self.count_one(&one);
        Ok(one)
    }
}

#[async_trait]
impl MailPass for MailGlue {
    async fn run(
        &self,
        campaign: &crate::store::Campaign,
        config: &Config,
        store: &Store,
        stop: &CancellationToken,
    ) -> Result<(), PassError> {
        if self.lock_backoff().waiting() {
            return Ok(());
        }
        let summary = pass::run(
            &self.current(),
            store,
            campaign,
            &config.campaign.reminders,
            &config.portal.links(),
            Some(stop),
            &pass::Silent,
        )
        .await;
        match summary {
            Ok(s) => {
                self.lock_backoff().0 = None;
                self.count(&s);
                if s != PassSummary::default() {
                    tracing::info!(campaign = %campaign.name, sent = s.sent, failed = s.failed, retry = s.retry, no_address = s.no_address, "mail pass");
                }
                Ok(())
            }
            Err(PassError::Server { summary: s, due, .. }) => {
                self.count(&s);
                if s != PassSummary::default() {
                    // What went out before the outage; the outage itself is logged once, by the health.
                    tracing::info!(campaign = %campaign.name, sent = s.sent, failed = s.failed, retry = s.retry, no_address = s.no_address, due, "mail pass stopped: the mail server is down");
                }
                let d = &config.daemon;
                let pause = self.lock_backoff().failed(d.mail_backoff, d.mail_backoff_max);
                tracing::debug!(campaign = %campaign.name, due, next_pass_in = %humantime::format_duration(pause), "mail pass stopped: the mail server is down");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn mail_server_down_since(&self) -> Option<DateTime<Utc>> {
        self.current_mailer().health().snapshot().down_since
    }
}

#[async_trait]
impl ChangeNotifier for MailGlue {
    async fn password_changed(&self, account: &AccountRecord, _details: &AccountDetails) {
        let target = Target::from_record(account);
        match pass::deliver(
            &self.current(),
            &self.store,
            &target,
            Kind::Changed,
            ("changed", 0),
            None,
        )
        .await
        {
            Ok(one) => self.count_one(&one),
            Err(e) => tracing::warn!(login = %target.login, error = %e, "confirmation mail not recorded"),
        }
    }

    async fn link_requested(&self, login: &str) {
        let l = login.to_owned();
        let open = match self.store.run(move |s| s.open_accounts_for_login(&l)).await {
            Ok(open) => open,
            Err(e) => return tracing::warn!(login, error = %e, "new link request"),
        };
        // The portal audited the request (`link.requested`, with the address it came from and
        // why): the mail's own record is the notice row `send_link` writes.
        for account in open {
            if let Err(e) = self.send_link(&account, REQUESTED).await {
                tracing::warn!(login, error = %e, "new link not sent");
            }
        }
    }
}

#[async_trait]
impl Resender for MailGlue {
    fn mail_server_down_since(&self) -> Option<DateTime<Utc>> {
        self.current_mailer().health().snapshot().down_since
    }

    async fn resend(&self, account: &AccountRecord) -> Result<Resent, String> {
        Ok(
            match self.send_link(account, "resend").await.map_err(|e| e.to_string())? {
                One::Outcome(MailOutcome::Sent { message_id }) => Resent::Sent { message_id },
                One::Outcome(MailOutcome::Failed { reply }) => Resent::Refused { reply },
                One::Outcome(MailOutcome::Retry { error }) | One::Unusable(error) => Resent::NotNow { error },
                One::NoAddress => Resent::NoAddress,
                One::Nothing => Resent::NotNow {
                    error: "nothing was sent".into(),
                },
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_pause_doubles_up_to_the_cap_and_then_lets_a_pass_through() {
        let mut pause = Backoff::default();
        assert!(!pause.waiting());
        let (initial, max) = (Duration::from_secs(30), Duration::from_secs(600));
        let got: Vec<u64> = (0..7).map(|_| pause.failed(initial, max).as_secs()).collect();
        assert_eq!(got, [30, 60, 120, 240, 480, 600, 600]);
        assert!(pause.waiting());
        tokio::time::advance(Duration::from_secs(599)).await;
        assert!(pause.waiting());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(!pause.waiting());
    }
}
