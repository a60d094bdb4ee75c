//! The executor of one run: bounded-concurrency, rate-limited workers performing each account's
//! directory work ([`perform`], retried while the directory is unavailable) and a recorder
//! writing the results to the store in batches. Decisions come from `crate::campaign`.

use crate::campaign::reconcile::{Attempt, Observation, PortalWrite, WRITE_WINDOW, decide, needs_portal_write};
use crate::campaign::state::{AccountState, Effect, Event, PriorFlag, Via, apply};
use crate::directory::{Directory, DirectoryError, Presence};
use crate::store::{PortalWriteRow, Store, Update, WorkItem, holder_is_dead};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::{Interval, MissedTickBehavior};
use tracing::Instrument;

use super::work::{Progress, RunError, Settings, Summary};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    Mark,
    Revert,
    Reconcile,
}

pub(super) enum Outcome {
    Done(Update),
    Failed(Update),
    /// Nothing to do for this account.
    Unchanged,
    Unavailable(DirectoryError),
}

pub(super) struct Executor {
    dir: Arc<dyn Directory>,
    store: Store,
    settings: Settings,
    progress: Arc<dyn Progress>,
    abort: Arc<AtomicBool>,
    first_error: Arc<Mutex<Option<DirectoryError>>>,
}

impl Executor {
    pub(super) fn new(dir: Arc<dyn Directory>, store: Store, settings: Settings, progress: Arc<dyn Progress>) -> Self {
        Executor {
            dir,
            store,
            settings,
            progress,
            abort: Arc::new(AtomicBool::new(false)),
            first_error: Arc::new(Mutex::new(None)),
        }
    }

    pub(super) async fn process(&self, mut rx: mpsc::Receiver<WorkItem>, action: Action) -> Result<Summary, RunError> {
        let (done_tx, done_rx) = mpsc::channel(self.settings.batch * 2);
        let dispatch = async {
            let permits = Arc::new(Semaphore::new(self.settings.concurrency));
            let mut pacer = Pacer::new(self.settings.ops_per_second);
            let mut tasks = JoinSet::new();
            while let Some(item) = rx.recv().await {
                if self.abort.load(Ordering::Relaxed) || self.settings.stopping() {
                    break;
                }
                pacer.wait().await;
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let (dir, done, store) = (self.dir.clone(), done_tx.clone(), self.store.clone());
                let wait = self.settings.outage_wait;
                let work = async move {
                    let outcome = perform(dir.as_ref(), &store, action, item, wait).await;
                    drop(permit);
                    let _ = done.send(outcome).await;
                };
                tasks.spawn(work.in_current_span());
                while tasks.try_join_next().is_some() {}
            }
            drop(rx);
            while tasks.join_next().await.is_some() {}
            drop(done_tx);
        };
        let (_, recorded) = tokio::join!(dispatch, self.record(done_rx));
        let summary = recorded?;
        tracing::info!(?action, done = summary.done, failed = summary.failed, "run finished");
        let first_error = self.first_error.lock().unwrap_or_else(|p| p.into_inner()).take();
        match first_error {
            Some(e) => Err(RunError::Unavailable(e)),
            None => Ok(summary),
        }
    }

    async fn record(&self, mut rx: mpsc::Receiver<Outcome>) -> Result<Summary, RunError> {
        let mut summary = Summary::default();
        let mut buf = Vec::with_capacity(self.settings.batch);
        while fill(&mut rx, &mut buf, self.settings.batch).await > 0 {
            let mut updates = Vec::with_capacity(buf.len());
            for outcome in buf.drain(..) {
                match outcome {
                    Outcome::Done(u) => {
                        summary.done += 1;
                        updates.push(u);
                    }
                    Outcome::Failed(u) => {
                        summary.failed += 1;
                        updates.push(u);
                    }
                    Outcome::Unchanged => summary.unchanged += 1,
                    Outcome::Unavailable(e) => {
                        self.abort.store(true, Ordering::Relaxed);
                        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
                        first.get_or_insert(e);
                    }
                }
            }
            let n = updates.len() as u64;
            if let Err(e) = self.store.run(move |s| s.record(&updates)).await {
                self.abort.store(true, Ordering::Relaxed);
                // Keep draining so the workers can finish; report the store error.
                while rx.recv().await.is_some() {}
                return Err(e.into());
            }
            self.progress.advance(n);
        }
        Ok(summary)
    }
}

/// How long the recorder waits for a batch to fill before writing what it has.
const BATCH_WINDOW: Duration = Duration::from_millis(20);

/// Receives up to `limit` items: waits for the first, then up to [`BATCH_WINDOW`] for more, so
/// that the store writes few large transactions rather than many small ones.
async fn fill<T>(rx: &mut mpsc::Receiver<T>, buf: &mut Vec<T>, limit: usize) -> usize {
    if rx.recv_many(buf, limit).await == 0 {
        return 0;
    }
    let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
    while buf.len() < limit {
        let want = limit - buf.len();
        match tokio::time::timeout_at(deadline, rx.recv_many(buf, want)).await {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
    buf.len()
}

/// Performs one item's directory work, retrying for up to `wait` while the directory is
/// unavailable.
#[tracing::instrument(name = "account", skip_all, fields(dn = %item.dn, ?action))]
async fn perform(dir: &dyn Directory, store: &Store, action: Action, item: WorkItem, wait: Duration) -> Outcome {
    let request = match action {
        Action::Mark => Some((Event::MarkRequested, None)),
        Action::Revert => Some((
            Event::RevertRequested(PriorFlag::from_flagged(item.prior_flagged)),
            None,
        )),
        Action::Reconcile => match retrying(wait, || observe(dir, store, &item)).await {
            Ok(event) => event,
            Err(e) if e.is_unavailable() => return Outcome::Unavailable(e),
            Err(e) => return Outcome::Failed(guarded(&item, item.state, Some(e.to_string()))),
        },
    };
    let Some((event, audit)) = request else {
        return Outcome::Unchanged;
    };
    if action == Action::Reconcile && !still_in(store, &item).await {
        // An operator acted on the account since it was read (e.g. exempted it): theirs wins.
        return Outcome::Unchanged;
    }
    let transition = match apply(Some(item.state), event) {
        Ok(t) => t,
        Err(refused) => return Outcome::Failed(guarded(&item, item.state, Some(refused.0))),
    };
    let result = retrying(wait, || async {
        match transition.effect {
            Effect::None => Ok(()),
            Effect::SetFlag => dir.mark(&item.dn).await,
            Effect::ClearFlag => dir.clear(&item.dn).await,
        }
    })
    .await;
    match result {
        Ok(()) => {
            let mut update = guarded(&item, transition.next, None);
            update.via = match event {
                Event::PasswordChanged => Some(Via::Directory),
                Event::PortalWriteInterrupted => Some(Via::Portal),
                _ => None,
            };
            update.audit = audit;
            if event == Event::PortalWriteInterrupted {
                forget_interrupted(store, &item.dn).await;
            }
            Outcome::Done(update)
        }
        Err(e) if e.is_unavailable() => Outcome::Unavailable(e),
        Err(e) => {
            let state = if action == Action::Mark {
                AccountState::Failed
            } else {
                item.state
            };
            Outcome::Failed(guarded(&item, state, Some(e.to_string())))
        }
    }
}

type Audit = Option<(&'static str, &'static str, String)>;

/// An update that applies only if the account is still in the state the item was read in.
fn guarded(item: &WorkItem, state: AccountState, error: Option<String>) -> Update {
    Update {
        expected: Some(item.state),
        ..Update::new(item.id, state, error)
    }
}

/// Whether the store still has the account in the state the work item was read in.
async fn still_in(store: &Store, item: &WorkItem) -> bool {
    let id = item.id;
    match store.run(move |s| s.account(id)).await {
        Ok(Some(a)) => a.state == item.state,
        _ => false,
    }
}

/// Reconciliation: what the directory shows now, as the event to apply (with its audit record).
/// The store's record of the portal's write is read only when the decision needs it.
async fn observe(
    dir: &dyn Directory,
    store: &Store,
    item: &WorkItem,
) -> Result<Option<(Event, Audit)>, DirectoryError> {
    let mut seen = match dir.locate(&item.dn).await? {
        Presence::Gone => (Observation::Gone, "deleted"),
        Presence::OutOfScope(_) => (Observation::Gone, "moved out of scope"),
        Presence::InScope(d) => {
            let o = Observation::Present {
                flagged: d.account.flagged,
                password_changed_at: d.password_changed_at,
                portal_write: None,
            };
            (o, "")
        }
    };
    let marked_at = item.marked_at.unwrap_or_default();
    if needs_portal_write(marked_at, &seen.0) {
        let dn = item.dn.clone();
        let row = match store.run(move |s| s.portal_write(&dn)).await {
            Ok(row) => row,
            Err(e) => {
                // Left for the next pass: completing it now might leave the portal's flag.
                tracing::warn!(error = %e, "reconcile: cannot read the portal's write; the account is looked at again next pass");
                return Ok(None);
            }
        };
        if let Observation::Present { portal_write, .. } = &mut seen.0 {
            *portal_write = row.map(|r| as_seen(&r));
        }
    }
    Ok(decide(marked_at, seen.0).map(|event| {
        let audit = match event {
            Event::FlagMissing => Some((
                "reconcile",
                "flag.restored",
                "flag removed outside pwresetd; marked again".into(),
            )),
            Event::Vanished => Some(("reconcile", "account.gone", format!("{}: {}", seen.1, item.dn))),
            Event::PasswordChanged => Some(("reconcile", "password.changed", "changed in the directory".into())),
            Event::PortalWriteInterrupted => Some((
                "reconcile",
                "password.changed",
                "set through the portal, whose attempt stopped before it took the flag off; flag cleared".into(),
            )),
            _ => None,
        };
        (event, audit)
    }))
}

/// A stored portal write as the decision sees it: still in flight while its process lives, has
/// not said it ended, and is within the window a write can take.
fn as_seen(row: &PortalWriteRow) -> PortalWrite {
    let at = |ms| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let started_at = at(row.started_at);
    let attempt = match row.ended_at {
        Some(ended) => Attempt::Ended(at(ended)),
        None if holder_is_dead(&row.holder) || chrono::Utc::now() > started_at + WRITE_WINDOW => Attempt::Abandoned,
        None => Attempt::InFlight,
    };
    PortalWrite { started_at, attempt }
}

/// Forgets the interrupted write reconciliation has just finished, so that it no longer vouches
/// for its password (a failure only logs: the row ages out).
async fn forget_interrupted(store: &Store, dn: &str) {
    let dn = dn.to_owned();
    let forgotten = store
        .run(move |s| match s.portal_write(&dn)? {
            Some(row) if as_seen(&row).attempt != Attempt::InFlight => s.forget_portal_write(&dn, &row.holder),
            _ => Ok(()),
        })
        .await;
    if let Err(e) = forgotten {
        tracing::warn!(error = %e, "reconcile: cannot forget the portal's finished write; it ages out on its own");
    }
}

/// The first pause between retries; doubled after each, up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(200);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);

/// Runs `op`, retrying while the directory is unavailable until `wait` has passed since the
/// first failure (`directory.outage_wait`): an outage shorter than that is ridden out, a longer
/// one ends the run (resumable). Errors other than unavailability are returned at once.
pub(super) async fn retrying<T, F, Fut>(wait: Duration, mut op: F) -> Result<T, DirectoryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DirectoryError>>,
{
    let mut pause = FIRST_RETRY_PAUSE;
    let mut since: Option<tokio::time::Instant> = None;
    loop {
        match op().await {
            Err(e) if e.is_unavailable() => {
                let first = *since.get_or_insert_with(tokio::time::Instant::now);
                if first.elapsed() + pause > wait {
                    return Err(e);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
            }
            other => return other,
        }
    }
}

/// Spaces operations to at most `per_second` (none when 0).
pub(super) struct Pacer(Option<Interval>);

impl Pacer {
    pub(super) fn new(per_second: u32) -> Self {
        Pacer((per_second > 0).then(|| {
            let mut i = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(per_second)));
            i.set_missed_tick_behavior(MissedTickBehavior::Delay);
            i
        }))
    }

    pub(super) async fn wait(&mut self) {
        if let Some(i) = &mut self.0 {
            i.tick().await;
        }
    }
}
