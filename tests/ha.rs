//! Two `pwresetd serve` instances on one store — a SQLite file (WAL, one host), and a fresh
//! database on scripts/pg-start's PostgreSQL, each scenario on both — one slapd and one SMTP
//! capture server, with their own listeners and holder names: one campaign worker at a time,
//! a dead holder taken over within `daemon.lease_ttl` (measured from its death), a holder
//! stopped by SIGTERM giving its lease up (taken over at once, not at its expiry), a stalled
//! holder's late writes refused by the lease's fencing epoch — on PostgreSQL also a holder
//! stalled inside a transaction, whose lost connection counts as fenced — the lease kept
//! between passes (`pwresetd_campaign_lease_held` 1 on the holder, 0 on the other), and a link
//! mailed by one instance completed on the other's portal. Real slapd, the real binary, real
//! SMTP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::daemon::{Daemon, get};
use common::pg::PrivatePg;
use common::smtp::SmtpServer;
use common::store::Backend;
use common::{Fixture, User, eventually, free_port, json, text};

/// Accounts per campaign: a mail pass of several seconds at [`RATE`].
const N: usize = 2000;
/// Mails in flight at once per instance: the most a kill or a stall can repeat.
const CONNECTIONS: usize = 2;
/// Mails per second per instance, so that the pass is long enough to interrupt.
const RATE: u32 = 150;
/// `daemon.lease_ttl` in these tests (its minimum).
const TTL: Duration = Duration::from_secs(5);

/// One instance: its config file and its (admin, portal) ports.
struct Instance {
    config: PathBuf,
    ports: (u16, u16),
    /// Created by the test to stop the instance inside a store transaction ([`Bed::serve`]).
    stop_file: PathBuf,
}

struct Bed {
    f: Fixture,
    smtp: SmtpServer,
    a: Instance,
    b: Instance,
}

impl Bed {
    /// `n` users, a campaign `ha` marked by the CLI, and a config per instance (same store,
    /// directory and SMTP server; own ports and public URL).
    async fn new(backend: Backend, name: &str, n: usize, connections: usize) -> Bed {
        Bed::build(backend, None, name, n, connections).await
    }

    /// As [`Bed::new`], on a private PostgreSQL of the test's own (one it may stop).
    async fn on_private(pg: &PrivatePg, name: &str, n: usize, connections: usize) -> Bed {
        Bed::build(Backend::Postgres, Some(pg), name, n, connections).await
    }

    async fn build(backend: Backend, private: Option<&PrivatePg>, name: &str, n: usize, connections: usize) -> Bed {
        let users: Vec<User> = (0..n).map(|i| User::new(&format!("h{i:05}"))).collect();
        let mut f = Fixture::on(backend, name, &users, "").await;
        if let Some(pg) = private {
            common::store::choose_section(f.dir.path(), &pg.store_section());
            let config = f.dir.path().join("pwresetd.toml");
            std::fs::write(&config, common::config_toml(&f.ou, f.dir.path(), "")).unwrap();
            f.config = config;
        }
        let smtp = SmtpServer::start(&[]);
        let instance = |tag: &str| {
            let ports = (free_port(), free_port());
            let config = f.dir.path().join(format!("serve-{tag}.toml"));
            // The fixture's folder keeps its store: both configs name the same one.
            let directory = common::config_toml(&f.ou, f.dir.path(), "");
            std::fs::write(&config, format!("{directory}\n{}", sections(&smtp, ports, connections))).unwrap();
            let stop_file = f.dir.path().join(format!("stop-{tag}"));
            Instance {
                config,
                ports,
                stop_file,
            }
        };
        let (a, b) = (instance("a"), instance("b"));
        f.append_config(&sections(&smtp, a.ports, connections));
        let deadline = "2099-01-01T00:00:00Z";
        let out = f.run(&[
            "campaign",
            "start",
            "--name",
            "ha",
            "--reason",
            "Intrusion",
            "--deadline",
            deadline,
            "--yes",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        Bed { f, smtp, a, b }
    }

    /// Sets `daemon.lease_ttl` of both instances to `ttl` (instead of [`TTL`]).
    fn set_lease_ttl(&self, ttl: Duration) {
        for which in [&self.a, &self.b] {
            let text = std::fs::read_to_string(&which.config).unwrap();
            let from = format!("lease_ttl = \"{}s\"", TTL.as_secs());
            assert!(text.contains(&from), "{text}");
            let to = format!("lease_ttl = \"{}s\"", ttl.as_secs());
            std::fs::write(&which.config, text.replace(&from, &to)).unwrap();
        }
    }

    fn serve(&self, which: &Instance) -> Daemon {
        // The debug build's test hook (store/fence.rs): the instance stops itself inside its
        // next fenced write's transaction once this file exists.
        let hook = [("PWRESETD_TEST_STOP_IN_FENCED_WRITE", which.stop_file.as_path())];
        let mut d = Daemon::start_with(&which.config, which.ports, &hook);
        assert!(
            d.wait_notification("READY=1", Duration::from_secs(60)).is_some(),
            "{}",
            d.log_text()
        );
        d
    }

    /// How many notices each recipient received.
    fn received(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for m in self.smtp.messages() {
            for to in m.rcpt_tos() {
                *out.entry(to).or_default() += 1;
            }
        }
        out
    }

    fn sent(&self) -> usize {
        self.received().values().sum()
    }

    /// Waits until at least `n` mails arrived (bounded: a stuck pass fails).
    async fn wait_sent(&self, n: usize, what: &str) {
        eventually(what, Duration::from_secs(180), async || {
            (self.sent() >= n).then_some(())
        })
        .await;
    }

    /// The end of every scenario: every account has its notice, repeats are at most `repeats`,
    /// the store recorded one sent notice per account, and its counts equal the directory's
    /// flags.
    async fn assert_exact(&self, repeats: usize) {
        eventually("every notice", Duration::from_secs(180), async || {
            (self.received().len() >= N).then_some(())
        })
        .await;
        // Let in-flight and late mails land before counting.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let got = self.received();
        assert_eq!(got.len(), N, "everyone got a notice");
        let extra: usize = got.values().map(|n| n - 1).sum();
        let twice: Vec<_> = got.iter().filter(|(_, n)| **n > 1).collect();
        eprintln!("{extra} repeated notices: {twice:?}");
        assert!(extra <= repeats, "{extra} repeats > {repeats} in flight: {twice:?}");
        eventually("the store records every notice", Duration::from_secs(30), async || {
            let sent = "SELECT COUNT(*) FROM notifications WHERE kind = 'notice' AND state = 'sent'";
            (self.f.store_count(sent) == Some(N as i64)).then_some(())
        })
        .await;
        let status = json(&self.f.run(&["campaign", "status", "ha", "--json"]));
        assert_eq!(status["marked"], N as u64, "{status}");
        assert_eq!(status["pending"], 0, "{status}");
        assert_eq!(status["failed"], 0, "{status}");
        assert_eq!(self.f.flagged().await.len(), N, "the directory's flags");
        let verify = self.f.run(&["audit", "verify", "--store"]);
        assert!(verify.status.success(), "{}", text(&verify));
    }
}

/// The sections both instances share, with their own listeners and public URL.
fn sections(smtp: &SmtpServer, (admin, portal): (u16, u16), connections: usize) -> String {
    format!(
        r#"
[portal]
listen = "127.0.0.1:{portal}"
public_url = "http://127.0.0.1:{portal}"

[daemon]
admin_listen = "127.0.0.1:{admin}"
reconcile_interval = "1h"
notify_interval = "1s"
shutdown_grace = "5s"
lease_ttl = "{ttl}s"

[mail]
transport = "smtp"
smtp_url = "{url}"
starttls = false
allow_insecure = true
from = "IT Security <it-security@example.org>"
retry_initial = "100ms"
timeout = "20s"
max_connections = {connections}
max_messages_per_second = {RATE}
"#,
        ttl = TTL.as_secs(),
        url = smtp.url()
    )
}

/// `pwresetd_campaign_lease_held{campaign="ha"}` on an instance's `/metrics` (None: no answer).
async fn lease_held(d: &Daemon) -> Option<bool> {
    let (status, body) = d.admin_get("/metrics").await;
    if status != 200 {
        return None;
    }
    body.lines()
        .find_map(|l| l.strip_prefix("pwresetd_campaign_lease_held{campaign=\"ha\"} "))
        .map(|v| v.trim() == "1")
}

/// Which of the two holds the campaign, once one does: 0 for `a`, 1 for `b`.
async fn holder(a: &Daemon, b: &Daemon) -> usize {
    eventually(
        "an instance holds the campaign",
        Duration::from_secs(60),
        async || match (lease_held(a).await, lease_held(b).await) {
            (Some(true), _) => Some(0),
            (_, Some(true)) => Some(1),
            _ => None,
        },
    )
    .await
}

/// Waits until `d` holds the campaign; how long it took.
async fn taken_over(d: &Daemon, since: Instant) -> Duration {
    eventually(
        "the other instance takes the campaign over",
        Duration::from_secs(60),
        async || (lease_held(d).await == Some(true)).then_some(()),
    )
    .await;
    since.elapsed()
}

/// SIGSTOPs `d` outside a store transaction: a process stopped inside a SQLite write
/// transaction holds the file's write lock, and inside a PostgreSQL transaction the locks of
/// the rows it wrote — a fenced write's first is the lease row — so the other instance could
/// not write (nor take the lease) until it resumes. Tries again when the stop landed inside one.
/// Returns when the stop that held was sent: the holder ran (and renewed its lease) between the
/// tries, so a take-over is timed from that stop, not from the first try (CI once saw "taken
/// over after 7.8 s": a first try inside a write, whose check then waited 5 s on the lock).
fn stop_outside_a_write(d: &Daemon, f: &Fixture) -> Instant {
    for attempt in 1..=200 {
        let stopped = Instant::now();
        d.signal("STOP");
        // A statement the server was running when the client stopped ends by itself.
        std::thread::sleep(Duration::from_millis(20));
        if common::store::no_open_write(f.dir.path()) {
            eprintln!("stopped outside a write at try {attempt}");
            return stopped;
        }
        d.signal("CONT");
        // Resumed for a varying while, so that the next stop does not land in the same long
        // transaction again.
        std::thread::sleep(Duration::from_millis(3 + (attempt * 7) % 40));
    }
    panic!("could not stop the instance outside a store write");
}

/// The one-time link in the first captured notice whose link points at `portal`: (recipient,
/// token path `/reset/…`).
fn link_to(smtp: &SmtpServer, portal: u16) -> Option<(String, String)> {
    let prefix = format!("http://127.0.0.1:{portal}/reset/");
    smtp.messages().iter().find_map(|m| {
        let raw = String::from_utf8_lossy(&m.raw);
        let token = raw.split(&prefix).nth(1)?.get(..43)?.to_owned();
        Some((m.rcpt_tos().first()?.clone(), format!("/reset/{token}")))
    })
}

/// Whether `password` binds as `dn` at slapd and the account can read its own entry.
async fn directory_has(dn: &str, password: &str) -> bool {
    let Ok(mut ldap) = common::bind(dn, password).await else {
        return false;
    };
    let res = ldap
        .search(dn, ldap3::Scope::Base, "(objectClass=*)", vec!["1.1"])
        .await
        .unwrap();
    let _ = ldap.unbind().await;
    res.1.rc == 0
}

/// SIGKILL of the instance holding the campaign in the middle of its mail pass: the other
/// takes it over within the lease's TTL and finishes the pass; every account has one notice
/// but for the mails in flight at the kill; the store's counts equal the directory's flags. Then
/// a link the killed instance mailed completes on the other's portal (a real bind proves it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_killed_holder_is_taken_over_and_nothing_is_lost_or_sent_twice() {
    killed_holder(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_killed_holder_is_taken_over_and_nothing_is_lost_or_sent_twice() {
    killed_holder(Backend::Postgres).await;
}

async fn killed_holder(backend: Backend) {
    if !backend.available() {
        return;
    }
    let bed = Bed::new(backend, "hakill", N, CONNECTIONS).await;
    let (a, b) = (bed.serve(&bed.a), bed.serve(&bed.b));
    let first = holder(&a, &b).await;
    bed.wait_sent(N / 4, "a quarter of the notices").await;
    let (mut dead, live, dead_ports) = if first == 0 {
        (a, b, bed.a.ports)
    } else {
        (b, a, bed.b.ports)
    };
    let killed = Instant::now();
    let _ = dead.child.kill(); // SIGKILL
    dead.child.wait().unwrap();
    eprintln!("killed the holder at {} mails", bed.sent());
    let took = taken_over(&live, killed).await;
    eprintln!("taken over after {took:?}");
    assert!(took < TTL, "taken over after {took:?}: not within lease_ttl {TTL:?}");
    bed.assert_exact(CONNECTIONS).await;

    // (c) A link the dead instance mailed (pointing at its portal) completes on the live one.
    let (to, path) = link_to(&bed.smtp, dead_ports.1).expect("a link mailed by the killed instance");
    let uid = to.split('@').next().unwrap();
    let url = format!("http://127.0.0.1:{}{path}", live.portal);
    let c = common::portal::client();
    let csrf = common::portal::form_csrf(&c, &url).await;
    let password = common::portal::STRONG;
    let fields = [
        ("csrf", csrf.as_str()),
        ("new_password", password),
        ("confirm_password", password),
    ];
    let (status, body) = common::portal::submit(&c, &url, &fields).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        directory_has(&bed.f.dn(uid), password).await,
        "{uid}: the new password binds"
    );
    drop(live);
}

/// SIGTERM of the holder: it gives its lease up as it stops (its guards are released at
/// shutdown, daemon/leases.rs), so the other instance takes the campaign over at its next look
/// (within the worker's tick), long before the lease would run out; the stopped instance exits
/// 0. Without the release the lease row runs out no sooner than a third of the TTL after the
/// SIGTERM (the holder writes half the TTL ahead every sixth of it until it exits), so with a
/// long TTL the two are far apart. The stopped holder is left a zombie (not reaped) until the
/// take-over is seen: a holder of this host whose process is gone is taken over at once
/// (store::holder_is_dead), which would hide a missing release; a zombie keeps its /proc
/// entry, as a holder on another host (the case the release is for) keeps its name alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_holder_stopped_by_sigterm_gives_its_lease_up_at_once() {
    stopped_holder(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_holder_stopped_by_sigterm_gives_its_lease_up_at_once() {
    stopped_holder(Backend::Postgres).await;
}

async fn stopped_holder(backend: Backend) {
    if !backend.available() {
        return;
    }
    // Long enough that a take-over at the lease's expiry (no sooner than LONG / 3 after the
    // SIGTERM) cannot pass for one at the next look (the worker looks every 5 s at most).
    const LONG: Duration = Duration::from_secs(60);
    let n = 20;
    let bed = Bed::new(backend, "haterm", n, CONNECTIONS).await;
    bed.set_lease_ttl(LONG);
    let (a, b) = (bed.serve(&bed.a), bed.serve(&bed.b));
    let first = holder(&a, &b).await;
    // The pass done: the holder is idle between passes, keeping its lease.
    bed.wait_sent(n, "every notice").await;
    let (mut stopped, live) = if first == 0 { (a, b) } else { (b, a) };
    let signalled = Instant::now();
    stopped.signal("TERM");
    let exited = wait_state(&stopped, 'Z', "exit after SIGTERM");
    eprintln!("the holder exited {:?} after SIGTERM", exited - signalled);
    let took = taken_over(&live, signalled).await;
    eprintln!("taken over {took:?} after SIGTERM");
    assert!(
        took < LONG / 3,
        "taken over {took:?} after SIGTERM: at the lease's expiry, not at its release"
    );
    assert_eq!(
        stopped.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        stopped.log_text()
    );
    drop(live);
}

/// SIGSTOP of the holder in the middle of its mail pass, past its TTL: the other takes the
/// campaign over within the TTL and goes on; SIGCONT of the first: its late writes (mail
/// intents, results) are refused by the fence, it logs whom the campaign went to and sends
/// nothing new, so that nothing is sent twice beyond the mails it had in flight. Meanwhile the
/// lease is kept between passes: the metric says which instance holds the campaign.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_stalled_holder_is_fenced_when_it_wakes_up() {
    stalled_holder(Backend::Sqlite, Stall::OutsideAWrite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_stalled_holder_is_fenced_when_it_wakes_up() {
    stalled_holder(Backend::Postgres, Stall::OutsideAWrite).await;
}

/// The holder stops inside a fenced write's transaction, holding its lease row's lock: the
/// server ends that session after half the TTL (`idle_in_transaction_session_timeout`, from
/// `daemon.lease_ttl`), the other instance takes over within the TTL, and the woken holder's
/// write, which fails on its lost connection, counts as fenced. PostgreSQL only: on SQLite a
/// process stopped inside a write transaction holds the file's write lock until it resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_holder_stalled_inside_a_transaction_is_fenced_when_it_wakes_up() {
    stalled_holder(Backend::Postgres, Stall::InsideATransaction).await;
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stall {
    OutsideAWrite,
    InsideATransaction,
}

async fn stalled_holder(backend: Backend, stall: Stall) {
    if !backend.available() {
        return;
    }
    // Stalled inside a transaction: one mail at a time, so that the woken holder's next store
    // call is the one on its lost connection (with two, the other session's fence check may
    // refuse first and hide whether a lost connection counts as fenced).
    let connections = match stall {
        Stall::OutsideAWrite => CONNECTIONS,
        Stall::InsideATransaction => 1,
    };
    let bed = Bed::new(backend, "hastop", N, connections).await;
    let (a, b) = (bed.serve(&bed.a), bed.serve(&bed.b));
    let first = holder(&a, &b).await;
    bed.wait_sent(N / 4, "a quarter of the notices").await;
    let (stalled, live, stop_file) = if first == 0 {
        (a, b, &bed.a.stop_file)
    } else {
        (b, a, &bed.b.stop_file)
    };
    let stopped = match stall {
        Stall::OutsideAWrite => stop_outside_a_write(&stalled, &bed.f),
        Stall::InsideATransaction => {
            std::fs::write(stop_file, "").unwrap();
            let stopped = wait_state(&stalled, 'T', "stop itself inside a fenced write");
            assert!(
                !common::store::no_open_write(bed.f.dir.path()),
                "the holder stopped inside a transaction"
            );
            stopped
        }
    };
    let at_stop = bed.sent();
    eprintln!("stopped the holder ({stall:?}) at {at_stop} mails");
    let took = taken_over(&live, stopped).await;
    eprintln!("taken over after {took:?}");
    assert!(
        took >= TTL / 4,
        "taken over after {took:?}: before the stalled lease ran out"
    );
    assert!(took < TTL, "taken over after {took:?}: not within lease_ttl {TTL:?}");
    bed.wait_sent(at_stop + 200, "the new holder goes on").await;
    stalled.signal("CONT");
    // The counts first: without the fence the woken instance resumes its pass and repeats
    // what the new holder sent meanwhile.
    bed.assert_exact(connections).await;

    let fenced = eventually("the woken instance is fenced", Duration::from_secs(60), async || {
        let (_, body) = stalled.admin_get("/metrics").await;
        body.lines()
            .find_map(|l| l.strip_prefix("pwresetd_campaign_fenced_total "))
            .filter(|v| v.trim() != "0")
            .map(str::to_owned)
    })
    .await;
    eprintln!("fenced: {fenced}");
    let log = stalled.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("campaign taken over by another instance"))
        .unwrap_or_else(|| panic!("no fenced warning: {log}"));
    assert!(line.contains("WARN") && line.contains("holder=daemon@"), "{line}");
    held_between_passes(&live, &stalled).await;
    drop((stalled, live));
}

/// The lease stays with its holder between passes (the campaign is idle here: every notice
/// sent): `campaign_lease_held` is 1 on `holder` and 0 on `other` at every look.
async fn held_between_passes(holder: &Daemon, other: &Daemon) {
    for _ in 0..8 {
        let seen = (lease_held(holder).await, lease_held(other).await);
        assert_eq!(seen, (Some(true), Some(false)), "(holder, other) holds the campaign");
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

/// Waits until `d`'s process is in `state` (in /proc/PID/stat: `T` stopped, `Z` exited and not
/// yet reaped); when that was seen.
fn wait_state(d: &Daemon, state: char, what: &str) -> Instant {
    let stat = format!("/proc/{}/stat", d.child.id());
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        let text = std::fs::read_to_string(&stat).unwrap();
        // `PID (COMM) STATE …`: the state follows the last parenthesis.
        if text
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with(state))
        {
            return Instant::now();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("the holder did not {what}: {}", d.log_text());
}

/// The database down for 20 s in the middle of the mail pass (a private PostgreSQL, so that
/// stopping it disturbs no other test): meanwhile both instances' `/readyz` fail and both
/// portals answer a plain 503 page, quickly, and neither dies; when it is back the campaign
/// goes on: every account has its notice, repeats are at most the mails in flight, the store's
/// counts equal the directory's flags and the audit chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_the_database_down_for_20_s_mid_pass_loses_nothing() {
    let Some(pg) = PrivatePg::start() else { return };
    let bed = Bed::on_private(&pg, "hadown", N, CONNECTIONS).await;
    let (mut a, mut b) = (bed.serve(&bed.a), bed.serve(&bed.b));
    holder(&a, &b).await;
    bed.wait_sent(N / 4, "a quarter of the notices").await;
    // A link the store does not know: only the store can say so.
    let link = |d: &Daemon| format!("http://127.0.0.1:{}/reset/{}", d.portal, "A".repeat(43));

    pg.script("pg-stop", &["--keep"]);
    let down = Instant::now();
    eprintln!("database stopped at {} mails", bed.sent());
    // Quickly: a user (or a load balancer's health check) waits no longer than this for the
    // answer (before the pool failed fast while the server was unreachable, each store call
    // waited for a connection for 10 s).
    let quick = Duration::from_secs(5);
    for d in [&a, &b] {
        let started = Instant::now();
        let (status, body) = d.admin_get("/readyz").await;
        let readyz = started.elapsed();
        assert_eq!(status, 503, "{body}");
        assert!(body.starts_with("not ready: store"), "{body}");
        let started = Instant::now();
        let (status, page) = get(&link(d)).await;
        let portal = started.elapsed();
        assert_eq!(status, 503, "{page}");
        assert!(
            page.contains("<html") || page.contains("<!DOCTYPE"),
            "not a page: {page}"
        );
        eprintln!("database down: /readyz answered in {readyz:?}, the portal in {portal:?}");
        assert!(
            readyz < quick && portal < quick,
            "/readyz {readyz:?}, portal {portal:?}"
        );
    }
    let sent_while_down = bed.sent();
    tokio::time::sleep(Duration::from_secs(20).saturating_sub(down.elapsed())).await;
    // Nothing can be sent without its intent in the store: the mails in flight at the stop
    // are the most that may still arrive.
    assert!(
        bed.sent() <= sent_while_down + 2 * CONNECTIONS,
        "mails went out while the database was down: {} after {sent_while_down}",
        bed.sent()
    );
    for d in [&mut a, &mut b] {
        assert!(
            d.child.try_wait().unwrap().is_none(),
            "an instance died: {}",
            d.log_text()
        );
    }

    pg.script("pg-start", &["--start-only"]);
    for d in [&a, &b] {
        eventually("/readyz to recover", Duration::from_secs(60), async || {
            (d.admin_get("/readyz").await.0 == 200).then_some(())
        })
        .await;
    }
    bed.assert_exact(CONNECTIONS).await;
    drop((a, b));
}
