//! The deadline's action (`engine::deadline`, run by the daemon's worker) against the fake
//! directory: when it runs, the guard, who is left alone, and its undoing by revert. What each
//! flavour writes for a lock, and that binds then fail, is tested on real servers
//! (`tests/flavors.rs`).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use pwresetd::campaign::deadline::{AtDeadline, Enforcement, Guard};
use pwresetd::daemon::metrics::Metrics;
use pwresetd::daemon::worker::Worker;
use pwresetd::engine::deadline::{self, Protected, Run, When};
use pwresetd::engine::runner::{self, RunError};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::common::fake_directory::{FakeDirectory, dn};
use crate::support::{Bed, config, settings};
use pwresetd::campaign::state::AccountState;
use pwresetd::notify::pass::{self, Mail};
use pwresetd::notify::{Mailer, Templates};
use pwresetd::store::MailState;

const LOCK: Enforcement = Enforcement {
    at_deadline: AtDeadline::Lock,
    grace: Duration::ZERO,
};

/// Ten marked people whose deadline passed a minute ago, locking at deadline + `grace`.
async fn marked_past_deadline(grace: Duration) -> Bed {
    let bed = Bed::new(
        FakeDirectory::with_people(10),
        Utc::now() - chrono::Duration::minutes(1),
    );
    bed.mark(&settings(4, 0)).await.unwrap();
    let enforcement = Enforcement { grace, ..LOCK };
    bed.store
        .run_blocking(|s| s.set_enforcement(bed.campaign_id, enforcement, "test", "campaign.set"))
        .unwrap();
    bed
}

async fn apply(bed: &Bed, guard: f64, protected: &Protected) -> Result<runner::Summary, RunError> {
    let (settings, progress) = (settings(4, 0), runner::silent());
    let run = Run {
        dir: bed.dir.clone(),
        store: &bed.store,
        settings: &settings,
        protected,
        progress: &progress,
        actor: "test",
    };
    let guard = Guard { max_fraction: guard };
    deadline::apply(&run, &bed.campaign(), When::Due(Utc::now()), guard).await
}

#[tokio::test(start_paused = true)]
async fn the_daemon_locks_within_the_reconcile_interval_after_deadline_and_grace() {
    let bed = marked_past_deadline(Duration::ZERO).await;
    let early = marked_past_deadline(Duration::from_secs(7200)).await;
    let daemon = "[daemon]\nreconcile_interval = \"15m\"\n\n[campaign]\nmax_lock_fraction = 1.0\n";
    let mut tasks = Vec::new();
    let stop = CancellationToken::new();
    for b in [&bed, &early] {
        let (_tx, rx) = watch::channel(Arc::new(config(b.tmp.path(), daemon)));
        let worker = Worker {
            directory: b.dir.clone(),
            store: b.store.clone(),
            config: rx,
            metrics: Arc::new(Metrics::new()),
            mail: None,
            stop: stop.clone(),
            holder: "daemon@test".into(),
        };
        tasks.push(tokio::spawn(worker.run()));
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
    stop.cancel();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(bed.dir.locked().len(), 10, "every marked account locked");
    for i in 0..10 {
        assert_eq!(bed.dir.lock_writes(&dn(&format!("user{i:04}"))), (1, 0), "locked once");
    }
    assert_eq!(bed.store.run_blocking(|s| s.count_locked(bed.campaign_id)).unwrap(), 10);
    assert!(
        early.dir.locked().is_empty(),
        "the grace has not passed: nothing locked"
    );
}

#[tokio::test(start_paused = true)]
async fn the_guard_refuses_a_run_that_would_lock_most_of_the_scope() {
    let bed = marked_past_deadline(Duration::ZERO).await;
    let refused = apply(&bed, 0.5, &Protected::default()).await;
    assert!(matches!(refused, Err(RunError::TooMany(t)) if t.would_lock == 10 && t.in_scope == 10));
    assert!(bed.dir.locked().is_empty(), "nothing locked");
    assert_eq!(bed.store.run_blocking(|s| s.count_locked(bed.campaign_id)).unwrap(), 0);
}

#[tokio::test(start_paused = true)]
async fn revert_restores_the_prior_lock_state_and_the_service_account_is_never_locked() {
    let bed = marked_past_deadline(Duration::ZERO).await;
    let (pre, service) = (dn("user0003"), dn("user0007"));
    bed.dir.set_locked(&pre);
    let protected = Protected {
        service_dn: service.to_uppercase(),
        operator_group: None,
    };
    let s = apply(&bed, 1.0, &protected).await.unwrap();
    assert_eq!((s.done, s.unchanged), (9, 1), "{s:?}");
    assert!(
        !bed.dir.locked().contains(&service),
        "the service account is left alone"
    );
    assert_eq!(bed.dir.lock_writes(&pre), (0, 0), "found locked: not written");
    assert_eq!(bed.dir.locked().len(), 9);

    // A second run finds nothing left to do.
    let again = apply(&bed, 1.0, &protected).await.unwrap();
    assert_eq!(again.done, 0, "{again:?}");

    bed.revert().await.unwrap();
    assert_eq!(
        bed.dir.locked(),
        [pre.clone()].into(),
        "only the account locked before stays locked"
    );
    assert_eq!(
        bed.dir.lock_writes(&pre),
        (0, 0),
        "never unlocked: it was locked before"
    );
    assert_eq!(bed.store.run_blocking(|s| s.count_locked(bed.campaign_id)).unwrap(), 0);
}

/// The `locked` mail goes out once per lock the deadline set: not again on a later pass (a
/// restart runs the pass again), not to an account found locked before (the deadline did not
/// lock it), never with a link, and no notice or reminder goes to a locked account.
#[tokio::test(start_paused = true)]
async fn each_lock_the_deadline_set_is_mailed_once() {
    let bed = marked_past_deadline(Duration::ZERO).await;
    let pre = dn("user0003");
    bed.dir.set_locked(&pre);
    let s = apply(&bed, 1.0, &Protected::default()).await.unwrap();
    assert_eq!(s.done, 10, "{s:?}");
    let config = config(bed.tmp.path(), "");
    let mail = Mail {
        settings: Arc::new(config.mail.clone()),
        templates: Arc::new(Templates::load(&config.mail).unwrap()),
        mailer: Arc::new(Mailer::new(&config.mail).unwrap()),
    };
    let campaign = bed.campaign();
    let (reminders, links) = (&config.campaign.reminders, config.portal.links());
    for _ in 0..3 {
        pass::run(&mail, &bed.store, &campaign, reminders, &links, None, &pass::Silent)
            .await
            .unwrap();
    }
    let accounts = bed
        .store
        .run_blocking(|s| s.accounts_in_state(bed.campaign_id, AccountState::Marked, 100))
        .unwrap();
    assert_eq!(accounts.len(), 10);
    for account in accounts {
        let mails: Vec<(String, MailState)> = bed
            .store
            .run_blocking(|s| s.mail_history(account.id))
            .unwrap()
            .into_iter()
            .map(|m| (m.kind, m.state))
            .collect();
        if account.dn == pre {
            assert_eq!(mails, [], "locked before the deadline: no mail says the deadline did");
        } else {
            assert_eq!(mails, [("locked".to_owned(), MailState::Sent)], "{}", account.dn);
        }
    }
    let spool: Vec<String> = std::fs::read_dir(bed.tmp.path().join("spool"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(spool.len(), 9, "one mail per lock the deadline set");
    for message in &spool {
        assert!(message.contains("Subject: Your account has been locked"), "{message}");
        assert!(!message.contains("/reset/"), "no link in a locked mail: {message}");
    }
}
