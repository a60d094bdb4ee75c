//! The runner (`engine::runner`): mark, resume, revert and reconcile against the fake directory.

use std::collections::BTreeSet;
use std::time::Duration;

use pwresetd::campaign::state::AccountState::*;
use pwresetd::directory::{DirectoryError, ExclusionReason};
use pwresetd::engine::runner::{RunError, Settings};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::common::fake_directory::{FakeDirectory, dn};
use crate::support::{Bed, settings, stoppable};

/// Every DN the fake directory holds, flagged or not, marked exactly once (or never, for those
/// flagged before the campaign).
fn each_marked_once(bed: &Bed, all: &BTreeSet<String>, prior: &BTreeSet<String>) {
    for dn in all {
        let expected = u32::from(!prior.contains(dn));
        assert_eq!(bed.dir.marks_of(dn), expected, "{dn}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_marks_every_account_in_scope_once() {
    let bed = Bed::with_people(300);
    let prior: BTreeSet<String> = ["early1", "early2"].map(|l| bed.dir.add(l, true)).into();
    let service = bed.dir.add("svc", false);
    bed.dir.exclude(&service, ExclusionReason::ExcludeFilter);

    let summary = bed.mark(&settings(8, 0)).await.unwrap();

    assert_eq!((summary.done, summary.failed), (300, 0), "{summary:?}");
    let in_scope = bed.dir.flagged();
    assert_eq!(in_scope.len(), 302);
    assert!(prior.is_subset(&in_scope));
    assert_eq!(bed.dns(Marked), in_scope, "the store and the directory agree");
    assert_eq!(bed.dns(Excluded), BTreeSet::from([service]));
    each_marked_once(&bed, &in_scope, &prior);
    assert!(bed.campaign().scan_complete);
}

#[tokio::test(start_paused = true)]
async fn a_stop_mid_run_resumes_to_the_exact_result() {
    let bed = Bed::with_people(300);
    bed.dir.set_latency(Duration::from_millis(10));
    let stop = CancellationToken::new();
    bed.dir.cancel_after_marks(120, stop.clone());

    let first = bed.mark(&stoppable(8, &stop)).await.unwrap();
    assert!((120..300).contains(&first.done), "{first:?}");
    assert_eq!(
        bed.dns(Marked),
        bed.dir.flagged(),
        "in-flight marks finished and recorded"
    );
    assert_eq!(bed.dns(Marked).len() as u64, first.done);

    let second = bed.mark(&settings(8, 0)).await.unwrap();
    assert_eq!(first.done + second.done, 300, "{second:?}");
    let all = bed.dir.flagged();
    assert_eq!(all.len(), 300);
    assert_eq!(bed.counts(), [(Marked, 300)].into());
    each_marked_once(&bed, &all, &BTreeSet::new());
}

#[tokio::test(start_paused = true)]
async fn an_outage_stops_the_run_and_loses_nothing() {
    let bed = Bed::with_people(300);
    bed.dir.go_down_after_marks(100);

    let err = bed.mark(&settings(8, 0)).await.unwrap_err();
    assert!(matches!(err, RunError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("nothing is lost"), "{err}");
    assert_eq!(bed.dir.marks(), 100);
    assert_eq!(bed.dns(Marked), bed.dir.flagged(), "every mark recorded, no other");
    assert!(bed.dns(Failed).is_empty(), "unavailable is not a failure");

    bed.dir.come_back();
    let resumed = bed.mark(&settings(8, 0)).await.unwrap();
    assert_eq!(resumed.done, 200, "{resumed:?}");
    assert_eq!(bed.counts(), [(Marked, 300)].into());
    each_marked_once(&bed, &bed.dir.flagged(), &BTreeSet::new());
}

#[tokio::test(start_paused = true)]
async fn an_outage_shorter_than_outage_wait_is_ridden_out() {
    let bed = Bed::with_people(300);
    bed.dir.go_down_after_marks(100);
    let dir = bed.dir.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        dir.come_back();
    });
    let start = Instant::now();
    let wait_2m = Settings {
        outage_wait: Duration::from_secs(120),
        ..settings(8, 0)
    };

    let summary = bed.mark(&wait_2m).await.unwrap();

    assert_eq!(summary.done, 300, "{summary:?}");
    assert!(start.elapsed() >= Duration::from_secs(60), "waited for the directory");
    assert_eq!(bed.counts(), [(Marked, 300)].into());
    each_marked_once(&bed, &bed.dir.flagged(), &BTreeSet::new());
}

#[tokio::test(start_paused = true)]
async fn a_scan_stopped_at_a_limit_marks_nothing_then_resumes_to_the_exact_result() {
    let bed = Bed::with_people(300);
    // "uid=early…" sorts first: it is among the entries the broken-off scan gave.
    let prior = bed.dir.add("early", true);
    bed.dir.limit_scan_at(100);

    let err = bed.mark(&settings(8, 0)).await.unwrap_err();

    assert!(matches!(err, RunError::Scan(DirectoryError::Limit { .. })), "{err}");
    assert!(err.to_string().contains("No account was marked"), "{err}");
    assert_eq!(bed.dir.marks(), 0, "nothing marked before the whole scope is read");
    assert!(!bed.campaign().scan_complete);
    // Recorded, not marked: the flag set before the campaign counts as marked, as always.
    assert_eq!(bed.counts(), [(Pending, 99), (Marked, 1)].into());

    bed.dir.lift_scan_limit();
    let summary = bed.mark(&settings(8, 0)).await.unwrap();
    assert_eq!((summary.done, summary.failed), (300, 0), "{summary:?}");
    assert_eq!(bed.counts(), [(Marked, 301)].into());
    each_marked_once(&bed, &bed.dir.flagged(), &BTreeSet::from([prior]));
    assert!(bed.campaign().scan_complete);
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_during_the_scan_marks_nothing_and_the_next_run_scans_again() {
    let bed = Bed::with_people(300);
    let stop = CancellationToken::new();
    stop.cancel();

    let summary = bed.mark(&stoppable(8, &stop)).await.unwrap();

    assert_eq!(summary, Default::default());
    assert_eq!(bed.dir.marks(), 0);
    assert!(
        !bed.campaign().scan_complete,
        "an unfinished scan is not recorded as complete"
    );
    let resumed = bed.mark(&settings(8, 0)).await.unwrap();
    assert_eq!(resumed.done, 300, "{resumed:?}");
    each_marked_once(&bed, &bed.dir.flagged(), &BTreeSet::new());
}

#[tokio::test(start_paused = true)]
async fn a_blip_is_retried_and_a_refusal_fails_one_account() {
    let bed = Bed::with_people(20);
    bed.dir.fail_next("mark", 3);
    bed.dir.refuse(&dn("user0007"));
    let start = Instant::now();

    let summary = bed.mark(&settings(4, 0)).await.unwrap();

    assert_eq!((summary.done, summary.failed), (19, 1), "{summary:?}");
    assert!(start.elapsed() >= Duration::from_millis(200), "retried after a pause");
    assert_eq!(bed.dns(Failed), BTreeSet::from([dn("user0007")]));
    let failed = bed
        .store
        .run_blocking(|s| s.accounts_in_state(bed.campaign_id, Failed, 10))
        .unwrap();
    let error = failed[0].last_error.as_deref().unwrap_or_default();
    assert!(error.contains("insufficientAccessRights (50)"), "{error}");
    assert_eq!(bed.dir.flagged().len(), 19);
}

#[tokio::test(start_paused = true)]
async fn revert_clears_only_what_the_campaign_set() {
    let bed = Bed::with_people(10);
    let prior: BTreeSet<String> = ["early1", "early2", "early3"].map(|l| bed.dir.add(l, true)).into();
    bed.mark(&settings(4, 0)).await.unwrap();
    bed.dir.user_changes_password(&dn("user0003"));
    bed.reconcile().await.unwrap();
    assert_eq!(bed.dns(Completed), BTreeSet::from([dn("user0003")]));

    let summary = bed.revert().await.unwrap();

    assert_eq!((summary.done, summary.failed), (12, 0), "{summary:?}");
    assert_eq!(bed.dir.flagged(), prior, "flags set before the campaign stay");
    let set_by_campaign: BTreeSet<String> = (0..10)
        .filter(|i| *i != 3)
        .map(|i| dn(&format!("user{i:04}")))
        .collect();
    assert_eq!(
        bed.dir.cleared(),
        set_by_campaign,
        "completed and prior flags untouched"
    );
    assert_eq!(bed.counts(), [(Completed, 1), (Reverted, 12)].into());
}

#[tokio::test(start_paused = true)]
async fn reconcile_follows_what_happened_in_the_directory() {
    let dir = FakeDirectory::with_people(0);
    let [keep, cleared, changed, deleted, moved] =
        ["keep", "cleared", "changed", "deleted", "moved"].map(|l| dir.add(l, false));
    let bed = Bed::new(dir, chrono::Utc::now() + chrono::Duration::days(7));
    bed.mark(&settings(4, 0)).await.unwrap();
    bed.dir.set_flag(&cleared, false);
    bed.dir.user_changes_password(&changed);
    bed.dir.delete(&deleted);
    bed.dir.move_out(&moved);

    let summary = bed.reconcile().await.unwrap();

    assert_eq!(
        (summary.done, summary.failed, summary.unchanged),
        (4, 0, 1),
        "{summary:?}"
    );
    // The moved entry keeps its flag where it went: out of scope, pwresetd leaves it alone.
    let flagged = BTreeSet::from([keep.clone(), cleared.clone(), moved.clone()]);
    assert_eq!(bed.dir.flagged(), flagged);
    assert_eq!(bed.dir.marks_of(&cleared), 2, "the flag is set again");
    assert_eq!(bed.dns(Marked), BTreeSet::from([keep, cleared]));
    assert_eq!(bed.dns(Completed), BTreeSet::from([changed]));
    assert_eq!(bed.dns(Gone), BTreeSet::from([deleted, moved]));
    let completed = bed
        .store
        .run_blocking(|s| s.accounts_in_state(bed.campaign_id, Completed, 1))
        .unwrap();
    assert_eq!(completed[0].completed_via.as_deref(), Some("directory"));
    let actions: BTreeSet<String> = bed
        .store
        .run_blocking(|s| s.audit_trail(Some("c"), None))
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    let expected = ["account.gone", "flag.restored", "password.changed"].map(String::from);
    assert_eq!(actions, expected.into());

    let again = bed.reconcile().await.unwrap();
    assert_eq!((again.done, again.unchanged), (0, 2), "a second pass changes nothing");
}

/// The time between the first and last mark of a run over `n` accounts at `per_second`.
async fn marking_time(n: usize, per_second: u32) -> (Duration, Vec<Instant>) {
    let bed = Bed::with_people(n);
    let start = Instant::now();
    bed.mark(&settings(8, per_second)).await.unwrap();
    assert_eq!(bed.dir.marks(), n as u64);
    (start.elapsed(), bed.dir.mark_times())
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_holds_in_virtual_time() {
    let (elapsed, times) = marking_time(100, 20).await;
    // 100 marks at 20/s: the first at once, the last 99 intervals of 50 ms later.
    assert!(elapsed >= Duration::from_millis(4950), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    for window in times.windows(21) {
        let span = window[20] - window[0];
        assert!(span >= Duration::from_secs(1), "21 marks within {span:?}");
    }
    let (unlimited, _) = marking_time(100, 0).await;
    assert!(unlimited < Duration::from_millis(500), "{unlimited:?}");
}
