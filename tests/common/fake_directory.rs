//! A hand-written, in-memory [`Directory`] for the middle test tier: the runner, the worker, the
//! leases and the mail schedule run against it on tokio's paused time.
//!
//! It fakes what orchestration needs and nothing more: accounts with their flag and password
//! change time, a scope scan into the channel, reads, `locate`, mark and clear, the deadline's lock, and switches that
//! make operations fail (the next N unavailable, the whole directory down, one DN refused for
//! good, the scan stopped at a size limit). What a real flavour writes for a mark, or what its result codes mean, is tested against
//! real servers only. Passwords and operator sign-in are refused (unwillingToPerform); group
//! membership is not modelled (nobody is a member of anything).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pwresetd::directory::config::Flavor;
use pwresetd::directory::{
    Account, AccountDetails, AtDeadline, BindCheck, Directory, DirectoryError, ExclusionReason, LimitKind, Lockout,
    PasswordError, Presence, ScanItem, Warning,
};
use pwresetd::policy::DirectoryRules;
use pwresetd::secret::Secret;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The base DN every fake account lives under.
pub const BASE: &str = "ou=people,dc=example,dc=org";

/// The DN of the fake account `login`.
pub fn dn(login: &str) -> String {
    format!("uid={login},{BASE}")
}

struct Entry {
    account: Account,
    changed_at: Option<DateTime<Utc>>,
    excluded: Option<ExclusionReason>,
    /// False once moved out of the base DN.
    in_scope: bool,
}

#[derive(Default)]
struct State {
    entries: BTreeMap<String, Entry>,
    /// The next this many operations of a kind fail as unavailable.
    failing: BTreeMap<&'static str, u32>,
    down: bool,
    down_after_marks: Option<u64>,
    stop_after_marks: Option<(u64, CancellationToken)>,
    refused: BTreeSet<String>,
    /// The scan stops with a size limit after this many entries.
    scan_limit: Option<usize>,
    latency: Duration,
    marks: BTreeMap<String, u32>,
    clears: BTreeMap<String, u32>,
    /// Locked accounts, and how often each was locked / unlocked.
    locked: BTreeSet<String>,
    locks: BTreeMap<String, u32>,
    unlocks: BTreeMap<String, u32>,
    mark_times: Vec<Instant>,
    locates: u64,
}

/// The in-memory directory. Build it with [`FakeDirectory::with_people`], hand `dir.clone()`
/// to the code under test (as an `Arc<dyn Directory>`), and steer and inspect it here.
#[derive(Default)]
pub struct FakeDirectory {
    state: Mutex<State>,
}

impl FakeDirectory {
    /// `n` unflagged accounts `user0000`, `user0001`… with a mail address each.
    pub fn with_people(n: usize) -> Arc<FakeDirectory> {
        let dir = FakeDirectory::default();
        for i in 0..n {
            dir.add(&format!("user{i:04}"), false);
        }
        Arc::new(dir)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Adds an account, flagged or not; returns its DN.
    pub fn add(&self, login: &str, flagged: bool) -> String {
        let account = Account {
            dn: dn(login),
            login: login.into(),
            mail: vec![format!("{login}@example.org")],
            display_name: Some(login.to_uppercase()),
            given_name: None,
            surname: None,
            language: None,
            flagged,
            policy: None,
        };
        let entry = Entry {
            account,
            changed_at: None,
            excluded: None,
            in_scope: true,
        };
        self.state().entries.insert(dn(login), entry);
        dn(login)
    }

    fn edit(&self, dn: &str, f: impl FnOnce(&mut Entry)) {
        let mut state = self.state();
        let entry = state.entries.get_mut(dn);
        f(entry.unwrap_or_else(|| panic!("no fake entry {dn}")));
    }

    /// Excludes an account from the scope (as `exclude_filter` would).
    pub fn exclude(&self, dn: &str, reason: ExclusionReason) {
        self.edit(dn, |e| e.excluded = Some(reason));
    }

    /// Sets or removes the flag behind pwresetd's back (an administrator's tool).
    pub fn set_flag(&self, dn: &str, flagged: bool) {
        self.edit(dn, |e| e.account.flagged = flagged);
    }

    /// The user changes their password outside pwresetd: the directory clears the flag.
    pub fn user_changes_password(&self, dn: &str) {
        self.edit(dn, |e| {
            e.changed_at = Some(Utc::now());
            e.account.flagged = false;
        });
    }

    pub fn delete(&self, dn: &str) {
        self.state().entries.remove(dn);
    }

    /// Moves the entry out of the base DN (it still exists, elsewhere).
    pub fn move_out(&self, dn: &str) {
        self.edit(dn, |e| e.in_scope = false);
    }

    /// The next `n` operations `op` ("mark", "clear", "read", "search", "bind"…) fail as
    /// unavailable; then the directory answers again.
    pub fn fail_next(&self, op: &'static str, n: u32) {
        self.state().failing.insert(op, n);
    }

    /// Every operation fails as unavailable until [`FakeDirectory::come_back`].
    pub fn go_down(&self) {
        self.state().down = true;
    }

    pub fn come_back(&self) {
        self.state().down = false;
    }

    /// The directory goes down right after its `n`th mark.
    pub fn go_down_after_marks(&self, n: u64) {
        self.state().down_after_marks = Some(n);
    }

    /// `stop` is cancelled right after the `n`th mark (a shutdown in the middle of a run).
    pub fn cancel_after_marks(&self, n: u64, stop: CancellationToken) {
        self.state().stop_after_marks = Some((n, stop));
    }

    /// Marking or clearing `dn` is refused for good (insufficient access rights).
    pub fn refuse(&self, dn: &str) {
        self.state().refused.insert(dn.to_owned());
    }

    /// The scan gives `n` entries, then stops at a size limit (as a stock slapd does at 500).
    pub fn limit_scan_at(&self, n: usize) {
        self.state().scan_limit = Some(n);
    }

    /// The administrator lifted the limit.
    pub fn lift_scan_limit(&self) {
        self.state().scan_limit = None;
    }

    /// How long each mark, clear and locate takes (in tokio time, so paused time skips it).
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// The DNs flagged now.
    pub fn flagged(&self) -> BTreeSet<String> {
        let state = self.state();
        let flagged = state.entries.values().filter(|e| e.account.flagged);
        flagged.map(|e| e.account.dn.clone()).collect()
    }

    /// How many times `dn` was marked.
    pub fn marks_of(&self, dn: &str) -> u32 {
        self.state().marks.get(dn).copied().unwrap_or(0)
    }

    /// How many marks, in all.
    pub fn marks(&self) -> u64 {
        self.state().marks.values().map(|n| u64::from(*n)).sum()
    }

    /// When each mark happened, in order (tokio time).
    pub fn mark_times(&self) -> Vec<Instant> {
        self.state().mark_times.clone()
    }

    /// The DNs cleared at least once.
    pub fn cleared(&self) -> BTreeSet<String> {
        self.state().clears.keys().cloned().collect()
    }

    /// Locks an account behind pwresetd's back (before the deadline).
    pub fn set_locked(&self, dn: &str) {
        self.state().locked.insert(dn.to_owned());
    }

    /// The accounts locked now.
    pub fn locked(&self) -> BTreeSet<String> {
        self.state().locked.clone()
    }

    /// How often `dn` was locked, and unlocked.
    pub fn lock_writes(&self, dn: &str) -> (u32, u32) {
        let s = self.state();
        (
            s.locks.get(dn).copied().unwrap_or(0),
            s.unlocks.get(dn).copied().unwrap_or(0),
        )
    }

    pub fn locates(&self) -> u64 {
        self.state().locates
    }

    /// Waits the configured latency (an operation in flight).
    async fn pause(&self) {
        let latency = self.state().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
}

fn unavailable(op: &'static str) -> DirectoryError {
    DirectoryError::ConnectionLost {
        url: "ldap://fake.invalid".into(),
        op,
        message: "fault injected by the test".into(),
    }
}

/// Passwords and operator sign-in are not orchestration: the fake refuses them rather than
/// pretend (the portal and helpdesk are tested against real servers).
fn not_modelled(op: &'static str, dn: &str) -> DirectoryError {
    refused(op, dn, 53)
}

fn refused(op: &'static str, dn: &str, rc: u32) -> DirectoryError {
    DirectoryError::Operation {
        op,
        dn: dn.into(),
        rc,
        text: "refused by the fake directory".into(),
    }
}

impl State {
    /// Whether the directory answers this operation (consumes one injected failure).
    fn gate(&mut self, op: &'static str) -> Result<(), DirectoryError> {
        if self.down {
            return Err(unavailable(op));
        }
        if let Some(n) = self.failing.get_mut(op).filter(|n| **n > 0) {
            *n -= 1;
            return Err(unavailable(op));
        }
        Ok(())
    }

    fn details(&self, dn: &str) -> Option<AccountDetails> {
        self.entries.get(dn).map(|e| AccountDetails {
            account: e.account.clone(),
            password_changed_at: e.changed_at,
            locked_at: None,
            failure_count: 0,
            effective_policy: None,
        })
    }

    fn write(&mut self, op: &'static str, dn: &str, flagged: bool) -> Result<(), DirectoryError> {
        self.gate(op)?;
        if self.refused.contains(dn) {
            return Err(refused(op, dn, 50));
        }
        let entry = self.entries.get_mut(dn).ok_or_else(|| refused(op, dn, 32))?;
        entry.account.flagged = flagged;
        let counts = if flagged { &mut self.marks } else { &mut self.clears };
        *counts.entry(dn.to_owned()).or_default() += 1;
        Ok(())
    }

    fn set_lock(&mut self, op: &'static str, dn: &str, locked: bool) -> Result<(), DirectoryError> {
        self.gate(op)?;
        if !self.entries.contains_key(dn) {
            return Err(refused(op, dn, 32));
        }
        let counts = if locked {
            self.locked.insert(dn.to_owned());
            &mut self.locks
        } else {
            self.locked.remove(dn);
            &mut self.unlocks
        };
        *counts.entry(dn.to_owned()).or_default() += 1;
        Ok(())
    }

    fn after_mark(&mut self) {
        self.mark_times.push(Instant::now());
        let n = self.mark_times.len() as u64;
        if self.down_after_marks == Some(n) {
            self.down = true;
        }
        if let Some((_, stop)) = self.stop_after_marks.as_ref().filter(|(at, _)| *at == n) {
            stop.cancel();
        }
    }
}

#[async_trait]
impl Directory for FakeDirectory {
    fn flavor(&self) -> Flavor {
        Flavor::Openldap
    }

    async fn check(&self) -> Result<Vec<Warning>, DirectoryError> {
        self.state().gate("bind").map(|()| Vec::new())
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        self.state().gate("ping")
    }

    async fn scan(&self, sink: mpsc::Sender<ScanItem>) -> Result<(), DirectoryError> {
        let items: Vec<ScanItem> = {
            let mut state = self.state();
            state.gate("search")?;
            let in_base = state.entries.values().filter(|e| e.in_scope);
            in_base
                .map(|e| match e.excluded {
                    None => ScanItem::InScope(e.account.clone()),
                    Some(reason) => ScanItem::Excluded {
                        dn: e.account.dn.clone(),
                        login: Some(e.account.login.clone()),
                        reason,
                    },
                })
                .collect()
        };
        let limit = self.state().scan_limit;
        for (n, item) in items.into_iter().enumerate() {
            // An outage in the middle of a paged search breaks it off.
            if self.state().down {
                return Err(unavailable("search"));
            }
            if limit == Some(n) {
                return Err(DirectoryError::Limit {
                    base: BASE.into(),
                    account: "cn=fake".into(),
                    kind: LimitKind::Size,
                    rc: 4,
                    text: String::new(),
                    fix: "lift it".into(),
                });
            }
            if sink.send(item).await.is_err() {
                break;
            }
        }
        Ok(())
    }

    async fn policy_warnings(&self, _: &BTreeSet<Option<String>>) -> Result<Vec<Warning>, DirectoryError> {
        Ok(Vec::new())
    }

    async fn write_warnings(&self, _: &str) -> Result<Option<Vec<Warning>>, DirectoryError> {
        Ok(None)
    }

    async fn password_rules(&self, _: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError> {
        Ok(None)
    }

    async fn policy_rules(&self, _: Option<&str>) -> Result<Option<DirectoryRules>, DirectoryError> {
        Ok(None)
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        let mut state = self.state();
        state.gate("search")?;
        let found = state.entries.values().find(|e| e.in_scope && e.account.login == login);
        let dn = found.map(|e| e.account.dn.clone());
        Ok(dn.and_then(|dn| state.details(&dn)))
    }

    async fn search_accounts(&self, text: &str, limit: i32) -> Result<(Vec<Account>, bool), DirectoryError> {
        let mut state = self.state();
        state.gate("search")?;
        let text = text.to_lowercase();
        let has = |v: &str| v.to_lowercase().contains(&text);
        let found: Vec<Account> = state
            .entries
            .values()
            .filter(|e| e.in_scope)
            .map(|e| e.account.clone())
            .filter(|a| has(&a.login) || a.display_name.as_deref().is_some_and(has) || a.mail.iter().any(|m| has(m)))
            .collect();
        let more = found.len() > limit as usize;
        Ok((found.into_iter().take(limit as usize).collect(), more))
    }

    async fn read(&self, dn: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        let mut state = self.state();
        state.gate("read")?;
        Ok(state.details(dn))
    }

    async fn locate(&self, dn: &str) -> Result<Presence, DirectoryError> {
        self.pause().await;
        let mut state = self.state();
        state.gate("read")?;
        state.locates += 1;
        let in_scope = state.entries.get(dn).map(|e| e.in_scope && e.excluded.is_none());
        Ok(match (state.details(dn), in_scope) {
            (Some(d), Some(true)) => Presence::InScope(Box::new(d)),
            (Some(d), _) => Presence::OutOfScope(Box::new(d)),
            (None, _) => Presence::Gone,
        })
    }

    async fn mark(&self, dn: &str) -> Result<(), DirectoryError> {
        self.pause().await;
        let mut state = self.state();
        state.write("mark", dn, true)?;
        state.after_mark();
        Ok(())
    }

    async fn clear(&self, dn: &str) -> Result<(), DirectoryError> {
        self.pause().await;
        self.state().write("clear", dn, false)
    }

    async fn check_password(&self, dn: &str, _: &Secret) -> Result<BindCheck, DirectoryError> {
        Err(not_modelled("bind", dn))
    }

    async fn is_current_password(&self, dn: &str, _: &Secret) -> Result<Option<bool>, DirectoryError> {
        Err(not_modelled("read", dn))
    }

    async fn is_earlier_password(&self, dn: &str, _: &Secret) -> Result<Option<bool>, DirectoryError> {
        Err(not_modelled("read", dn))
    }

    async fn change_password_as_user(&self, dn: &str, _: &Secret, _: &Secret) -> Result<(), PasswordError> {
        Err(not_modelled("password modify", dn).into())
    }

    async fn set_password_as_admin(&self, dn: &str, _: &Secret) -> Result<(), PasswordError> {
        Err(not_modelled("password modify", dn).into())
    }

    async fn find_operator(&self, login: &str, _: &str) -> Result<Option<AccountDetails>, DirectoryError> {
        Err(not_modelled("search", login))
    }

    async fn lockout(&self, _: Option<&str>) -> Result<Lockout, DirectoryError> {
        Ok(Lockout::unknown("the fake directory has no policies".into()))
    }

    async fn is_member(&self, _: &str, _: &str) -> Result<bool, DirectoryError> {
        self.state().gate("search").map(|()| false)
    }

    async fn lock_state(&self, dn: &str, _: AtDeadline) -> Result<Option<bool>, DirectoryError> {
        let mut state = self.state();
        state.gate("read")?;
        Ok(state.entries.contains_key(dn).then(|| state.locked.contains(dn)))
    }

    async fn lock(&self, dn: &str, _: AtDeadline) -> Result<(), DirectoryError> {
        self.pause().await;
        self.state().set_lock("lock", dn, true)
    }

    async fn unlock(&self, dn: &str, _: AtDeadline) -> Result<(), DirectoryError> {
        self.state().set_lock("unlock", dn, false)
    }

    async fn lock_warnings(&self, _: &BTreeSet<Option<String>>, _: AtDeadline) -> Result<Vec<Warning>, DirectoryError> {
        Ok(Vec::new())
    }
}
