//! What the scenarios share: a store in a temp dir with one campaign over a fake directory, run
//! settings, a configuration file, and a wall clock that follows tokio's paused time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use pwresetd::campaign::state::AccountState;
use pwresetd::daemon::config::{Config, load_with_env};
use pwresetd::engine::runner::{self, RunError, Settings, Summary};
use pwresetd::store::{Campaign, CampaignSpec, Scope, Store};
use tempfile::TempDir;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::common::fake_directory::{BASE, FakeDirectory};

/// One campaign over a fake directory, with its store.
pub struct Bed {
    pub tmp: TempDir,
    pub store: Store,
    pub dir: Arc<FakeDirectory>,
    pub campaign_id: i64,
}

impl Bed {
    /// A campaign named "c" over `dir`, due `deadline`.
    pub fn new(dir: Arc<FakeDirectory>, deadline: DateTime<Utc>) -> Bed {
        let tmp = crate::common::artifacts::tempdir();
        let store = Store::open(&tmp.path().join("state.db")).unwrap();
        let (campaign, _) = store
            .run_blocking(|s| s.create_or_resume(&spec("c", deadline), "test"))
            .unwrap();
        Bed {
            tmp,
            store,
            dir,
            campaign_id: campaign.id,
        }
    }

    /// `n` people, due in a week.
    pub fn with_people(n: usize) -> Bed {
        Bed::new(FakeDirectory::with_people(n), Utc::now() + chrono::Duration::days(7))
    }

    /// The parameters of campaign "c" (for a second campaign over the same scope).
    pub fn spec(&self) -> CampaignSpec {
        let c = self.campaign();
        spec(&c.name, c.deadline)
    }

    /// The campaign as the store has it now.
    pub fn campaign(&self) -> Campaign {
        self.store.run_blocking(|s| s.campaign("c")).unwrap().unwrap()
    }

    pub async fn mark(&self, settings: &Settings) -> Result<Summary, RunError> {
        runner::mark(
            self.dir.clone(),
            &self.store,
            &self.campaign(),
            settings,
            &runner::silent(),
        )
        .await
    }

    pub async fn revert(&self) -> Result<Summary, RunError> {
        let settings = settings(4, 0);
        runner::revert(
            self.dir.clone(),
            &self.store,
            &self.campaign(),
            &settings,
            &runner::silent(),
        )
        .await
    }

    pub async fn reconcile(&self) -> Result<Summary, RunError> {
        let settings = settings(4, 0);
        runner::reconcile(
            self.dir.clone(),
            &self.store,
            &self.campaign(),
            &settings,
            &runner::silent(),
        )
        .await
    }

    /// The DNs the store has in `state`.
    pub fn dns(&self, state: AccountState) -> BTreeSet<String> {
        let accounts = self
            .store
            .run_blocking(|s| s.accounts_in_state(self.campaign_id, state, 100_000))
            .unwrap();
        accounts.into_iter().map(|a| a.dn).collect()
    }

    /// How many accounts the store has in each state (states with none left out).
    pub fn counts(&self) -> BTreeMap<AccountState, u64> {
        let mut counts = self.store.run_blocking(|s| s.counts(self.campaign_id)).unwrap();
        counts.retain(|_, n| *n > 0);
        counts
    }
}

/// Run settings: `concurrency` workers, at most `ops_per_second` (0 = unlimited).
pub fn settings(concurrency: usize, ops_per_second: u32) -> Settings {
    Settings {
        concurrency,
        ops_per_second,
        batch: 64,
        // About what a run waited before `directory.outage_wait` existed (0.2 + 0.8 + 3.2 s).
        outage_wait: Duration::from_secs(4),
        stop: None,
    }
}

/// [`settings`] that stop when `stop` is cancelled.
pub fn stoppable(concurrency: usize, stop: &CancellationToken) -> Settings {
    Settings {
        stop: Some(stop.clone()),
        ..settings(concurrency, 0)
    }
}

/// A whole daemon configuration in `dir` (which is never connected to): the file transport
/// into `dir/spool`, and `extra` TOML appended (e.g. a `[daemon]` section).
pub fn config(dir: &Path, extra: &str) -> Config {
    std::fs::write(dir.join("bind-password"), "s3cret\n").unwrap();
    let toml = format!(
        r#"[directory]
url = "ldap://127.0.0.1:3389"
bind_dn = "cn=pwresetd,dc=example,dc=org"
bind_password_file = "bind-password"
base_dn = "{BASE}"

[store]
path = "{store}"

[mail]
transport = "file"
spool_dir = "{spool}"
from = "IT Security <it@example.org>"

[portal]
public_url = "https://pw.example.org"

{extra}"#,
        store = dir.join("state.db").display(),
        spool = dir.join("spool").display(),
    );
    let path = dir.join("pwresetd.toml");
    std::fs::write(&path, toml).unwrap();
    load_with_env(&path, []).unwrap()
}

/// Wall-clock time that moves with tokio's (paused) clock from the moment it is made.
pub struct Clock {
    start: DateTime<Utc>,
    origin: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            start: Utc::now().trunc_subsecs(0),
            origin: Instant::now(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.start + (Instant::now() - self.origin)
    }

    /// The wall time `hours` after the start.
    pub fn at(&self, hours: u32) -> DateTime<Utc> {
        self.start + span_hours(hours)
    }

    /// Sleeps (on tokio's clock) until `hours` after the start.
    pub async fn until(&self, hours: u32) {
        tokio::time::sleep_until(self.origin + span_hours(hours)).await;
    }
}

fn span_hours(n: u32) -> Duration {
    Duration::from_secs(u64::from(n) * 3600)
}

/// A campaign `name` over the fake directory's whole scope, due `deadline`.
fn spec(name: &str, deadline: DateTime<Utc>) -> CampaignSpec {
    CampaignSpec {
        name: name.into(),
        reason: "Targeted intrusion".into(),
        deadline,
        scope: Scope {
            flavor: "openldap".into(),
            base_dn: BASE.into(),
            user_filter: "(objectClass=inetOrgPerson)".into(),
            exclude_filter: None,
            login_attribute: "uid".into(),
        },
    }
}
