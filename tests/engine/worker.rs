//! The daemon's worker (`daemon::worker`): marking, then reconciliation and mail passes at their
//! intervals over virtual hours, the campaign lease, and the store's housekeeping.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pwresetd::campaign::state::CampaignState;
use pwresetd::daemon::config::Config;
use pwresetd::daemon::housekeeping;
use pwresetd::daemon::metrics::Metrics;
use pwresetd::daemon::worker::{MailPass, Worker};
use pwresetd::engine::lease::{LEASE_TTL, LeaseGuard};
use pwresetd::engine::runner;
use pwresetd::notify::pass::PassError;
use pwresetd::store::{Campaign, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::{Bed, config};

const HOLDER: &str = "daemon@test";

/// A mail pass that sends nothing: it notes who held the campaign's lease while it ran, and
/// whether somebody else could take it meanwhile.
struct Passes {
    store: Store,
    /// (lease holder seen, an intruder was refused), per pass.
    seen: Mutex<Vec<(Option<String>, bool)>>,
}

#[async_trait::async_trait]
impl MailPass for Passes {
    async fn run(&self, campaign: &Campaign, _: &Config, _: &Store, _: &CancellationToken) -> Result<(), PassError> {
        let holder = self.store.run_blocking(|s| s.lease_holder(campaign.id))?;
        let intruder = LeaseGuard::acquire(&self.store, campaign.id, "cli@elsewhere:1:0", LEASE_TTL).await?;
        self.seen.lock().unwrap().push((holder, intruder.is_err()));
        Ok(())
    }
}

/// Starts a worker over `bed` with `[daemon]` settings `daemon`; returns its stop and task.
fn start(bed: &Bed, daemon: &str, mail: Option<Arc<Passes>>) -> (CancellationToken, JoinHandle<()>) {
    let config = config(bed.tmp.path(), daemon);
    let (_tx, rx) = watch::channel(Arc::new(config));
    let stop = CancellationToken::new();
    let worker = Worker {
        directory: bed.dir.clone(),
        store: bed.store.clone(),
        config: rx,
        metrics: Arc::new(Metrics::new()),
        mail: mail.map(|m| m as Arc<dyn MailPass>),
        stop: stop.clone(),
        holder: HOLDER.into(),
    };
    (stop, tokio::spawn(worker.run()))
}

#[tokio::test(start_paused = true)]
async fn the_worker_marks_then_reconciles_and_mails_at_their_intervals() {
    let bed = Bed::with_people(50);
    let passes = Arc::new(Passes {
        store: bed.store.clone(),
        seen: Mutex::default(),
    });
    let daemon = "[daemon]\nreconcile_interval = \"15m\"\nnotify_interval = \"5m\"\n";
    let (stop, task) = start(&bed, daemon, Some(passes.clone()));

    // Ticks every 5 s: marking at 0 s, then reconciliation at 5 s + k·15 min and a mail pass at
    // 5 s + k·5 min, for two hours.
    tokio::time::sleep(Duration::from_secs(2 * 3600 + 2)).await;
    stop.cancel();
    task.await.unwrap();

    assert_eq!(bed.dir.marks(), 50, "each account marked once");
    assert_eq!(bed.campaign().state, CampaignState::Active);
    assert_eq!(bed.dir.locates(), 50 * 8, "eight reconciliations of 50 accounts");
    let seen = passes.seen.lock().unwrap();
    assert_eq!(seen.len(), 24, "a mail pass every 5 minutes");
    for (holder, intruder_refused) in seen.iter() {
        assert_eq!(
            holder.as_deref(),
            Some(HOLDER),
            "the worker holds the lease while working"
        );
        assert!(intruder_refused, "nobody else can take it meanwhile");
    }
    assert_eq!(
        bed.store.run_blocking(|s| s.lease_holder(bed.campaign_id)).unwrap(),
        None,
        "released"
    );
}

#[tokio::test(start_paused = true)]
async fn a_campaign_leased_elsewhere_is_left_alone() {
    let bed = Bed::with_people(20);
    let elsewhere = LeaseGuard::acquire(&bed.store, bed.campaign_id, "cli@elsewhere:1:0", LEASE_TTL)
        .await
        .unwrap()
        .unwrap();
    let (stop, task) = start(&bed, "", None);

    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(bed.dir.marks(), 0, "the CLI holds the campaign");
    assert_eq!(bed.campaign().state, CampaignState::Marking);

    drop(elsewhere);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(bed.dir.marks(), 20, "taken up once released");
    assert_eq!(bed.campaign().state, CampaignState::Active);
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_stop_while_marking_leaves_the_rest_to_the_next_worker() {
    let bed = Bed::with_people(200);
    bed.dir.set_latency(Duration::from_millis(10));
    let (stop, task) = start(&bed, "", None);
    bed.dir.cancel_after_marks(80, stop.clone());
    task.await.unwrap();
    let first = bed.dir.marks();
    assert!((80..200).contains(&first), "stopped mid-run: {first}");
    assert_eq!(bed.campaign().state, CampaignState::Marking, "not done yet");

    let (stop, task) = start(&bed, "", None);
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(bed.dir.marks(), 200, "the rest, each once");
    assert_eq!(bed.dir.flagged().len(), 200);
    assert_eq!(bed.campaign().state, CampaignState::Active);
}

#[tokio::test(start_paused = true)]
async fn a_campaign_stuck_at_a_limit_does_not_hold_up_the_others() {
    // "c" (worked first) has not read its scope yet; "d" is marked and active.
    let bed = Bed::with_people(30);
    let mut spec_d = pwresetd::store::CampaignSpec {
        name: "d".into(),
        ..bed.spec()
    };
    spec_d.reason = "second".into();
    let (d, _) = bed.store.run_blocking(|s| s.create_or_resume(&spec_d, "test")).unwrap();
    runner::mark(
        bed.dir.clone(),
        &bed.store,
        &d,
        &crate::support::settings(4, 0),
        &runner::silent(),
    )
    .await
    .unwrap();
    bed.store
        .run_blocking(|s| s.set_campaign_state(d.id, CampaignState::Active))
        .unwrap();
    let marks_before = bed.dir.marks();
    bed.dir.limit_scan_at(5);

    let (stop, task) = start(&bed, "[daemon]\nreconcile_interval = \"15m\"\n", None);
    tokio::time::sleep(Duration::from_secs(20 * 60)).await;
    stop.cancel();
    task.await.unwrap();

    // "d" was reconciled twice (at start and after 15 min) although "c" failed every time.
    assert_eq!(bed.dir.locates(), 30 * 2);
    assert_eq!(bed.dir.marks(), marks_before, "nothing of \"c\" was marked");
    assert_eq!(bed.campaign().state, CampaignState::Marking);
}

/// A command asking for a campaign the worker is marking gets it mid-pass (the worker stops at
/// the next account and hands the lease straight over), the worker leaves the campaign alone
/// while the command holds it, and finishes the pass once it is released.
#[tokio::test(start_paused = true)]
async fn a_waiting_command_gets_the_campaign_mid_pass_and_the_worker_goes_on_after_it() {
    let bed = Bed::with_people(200);
    bed.dir.set_latency(Duration::from_millis(100));
    let (stop, task) = start(&bed, "", None);
    while bed.dir.marks() < 20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut told = None;
    let waiter = "cli@elsewhere:1:0";
    let guard = LeaseGuard::wait_for(
        &bed.store,
        bed.campaign_id,
        (waiter, LEASE_TTL),
        Duration::from_secs(60),
        |h| told = Some(h.to_owned()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(told.as_deref(), Some(HOLDER), "it said whom it waits for");
    let at_hand_over = bed.dir.marks();
    assert!(at_hand_over < 200, "mid-pass: {at_hand_over}");
    assert_eq!(
        bed.store
            .run_blocking(|s| s.lease_holder(bed.campaign_id))
            .unwrap()
            .as_deref(),
        Some(waiter)
    );
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(bed.dir.marks(), at_hand_over, "nothing while the command holds it");
    assert_eq!(bed.campaign().state, CampaignState::Marking);

    drop(guard);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(bed.dir.marks(), 200, "the rest, each once");
    assert_eq!(bed.campaign().state, CampaignState::Active);
    stop.cancel();
    task.await.unwrap();
}

/// A holder named as the service that never hands over: the wait ends at its bound, with the
/// request withdrawn; a foreground holder is refused at once, without a request.
#[tokio::test(start_paused = true)]
async fn the_wait_is_bounded_and_foreground_holders_are_refused_at_once() {
    use pwresetd::engine::lease::Refused;
    let bed = Bed::with_people(1);
    let id = bed.campaign_id;
    let stuck = LeaseGuard::acquire(&bed.store, id, "daemon@elsewhere:1:0", LEASE_TTL)
        .await
        .unwrap()
        .unwrap();
    let started = tokio::time::Instant::now();
    let refused = LeaseGuard::wait_for(
        &bed.store,
        id,
        ("cli@elsewhere:2:0", LEASE_TTL),
        Duration::from_secs(5),
        |_| {},
    )
    .await
    .unwrap()
    .err()
    .unwrap();
    assert!(
        matches!(&refused, Refused::TimedOut { holder, .. } if holder == "daemon@elsewhere:1:0"),
        "{refused:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(5));
    assert!(
        !bed.store
            .run_blocking(|s| s.lease_wanted(id, "daemon@elsewhere:1:0"))
            .unwrap(),
        "withdrawn"
    );
    drop(stuck);

    let _cli = LeaseGuard::acquire(&bed.store, id, "cli@elsewhere:3:0", LEASE_TTL)
        .await
        .unwrap()
        .unwrap();
    let started = tokio::time::Instant::now();
    let refused = LeaseGuard::wait_for(
        &bed.store,
        id,
        ("cli@elsewhere:4:0", LEASE_TTL),
        Duration::from_secs(60),
        |_| panic!("no waiting for a foreground command"),
    )
    .await
    .unwrap()
    .err()
    .unwrap();
    assert_eq!(
        refused,
        Refused::Held {
            holder: "cli@elsewhere:3:0".into()
        }
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(
        !bed.store
            .run_blocking(|s| s.lease_wanted(id, "cli@elsewhere:3:0"))
            .unwrap()
    );
}

/// The worker's loop runs the store's housekeeping (daemon/housekeeping.rs): an expired
/// unconfirmed-password note is deleted at once, one that expires later at the next round,
/// within `housekeeping::EVERY`; a live note stays. The portal's write records older than a
/// day go too, a recent one stays.
#[tokio::test(start_paused = true)]
async fn expired_unconfirmed_password_notes_are_deleted_periodically() {
    let bed = Bed::with_people(5);
    // Wall-clock seconds (the notes' expiry is not on tokio's paused clock).
    let wall = chrono::Utc::now().timestamp();
    // Written "at time 0", so that writing one prunes nothing; read "at time 0": whether the row
    // is still stored at all, expired or not.
    let note = |key: &'static str, expires: i64| {
        bed.store
            .run_blocking(|s| s.note_unconfirmed(key, "$argon2id$x", 0, expires))
            .unwrap();
    };
    let stored = |key: &'static str| {
        bed.store
            .run_blocking(|s| s.unconfirmed_password(key, 0))
            .unwrap()
            .is_some()
    };
    note("uid=stale", wall - 60);
    note("uid=live", wall + 3600);
    // The portal's write records: one two days old, one from a minute ago (milliseconds).
    let ms = chrono::Utc::now().timestamp_millis();
    let write = |key: &'static str, started: i64| {
        bed.store
            .run_blocking(|s| s.begin_portal_write(key, "h", "$argon2id$x", started, started))
            .unwrap();
    };
    // The recent one first: beginning a write prunes the day-old ones itself.
    write("uid=new-write", ms - 60_000);
    write("uid=old-write", ms - 2 * 86_400_000);
    let recorded = |key: &'static str| bed.store.run_blocking(|s| s.portal_write(key)).unwrap().is_some();
    assert!(recorded("uid=old-write"));
    let (stop, task) = start(&bed, "", None);

    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!stored("uid=stale"), "deleted at the worker's start");
    assert!(
        !recorded("uid=old-write"),
        "a day-old write record deleted at the worker's start"
    );
    assert!(recorded("uid=new-write"), "a recent write record stays");
    note("uid=later", wall - 1);
    tokio::time::sleep(housekeeping::EVERY + Duration::from_secs(10)).await;
    assert!(!stored("uid=later"), "deleted at the next round");
    assert!(stored("uid=live"), "a live note stays");
    stop.cancel();
    task.await.unwrap();
}
