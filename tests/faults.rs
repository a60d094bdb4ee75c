//! Fault injection: the real binary against the real slapd and the SMTP capture server through
//! a fault proxy (`common::fault_proxy`) that black-holes, delays and resets the traffic. Each
//! scenario ends with the same invariant check: the directory's flags are exactly the store's
//! marked accounts (none lost, none extra), nothing pending or failed, the audit chain verifies
//! and records the start and every resume; for mail, every account with an address got its
//! notice, and no more than the mails that can have been in flight at a fault were repeated;
//! for the portal (in-process, and in `serve` killed mid-submit), the store says "completed"
//! only for a password a real bind accepts, and a retry with the same link completes; a kill
//! between the link flow's set and its flag clear is finished, not left flagged.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::fault_proxy::{Fault, FaultProxy};
use common::{Fixture, User, json, marked_in_store, text};

const DEADLINE: &str = "2099-01-01T00:00:00Z";

/// A fixture of `n` users whose config reaches slapd through `proxy`, with `directory_extra`.
async fn proxied_fixture(name: &str, n: usize, directory_extra: &str) -> (Fixture, FaultProxy) {
    let f = Fixture::with_config(name, &users(n), directory_extra).await;
    let url = common::slapd().url().to_owned();
    let upstream = url.trim_start_matches("ldap://").to_owned();
    let proxy = FaultProxy::start(&upstream);
    let toml = std::fs::read_to_string(&f.config).unwrap();
    let via = format!("ldap://127.0.0.1:{}", proxy.port());
    assert!(toml.contains(&format!("\"{url}\"")), "{toml}");
    std::fs::write(&f.config, toml.replace(&format!("\"{url}\""), &format!("\"{via}\""))).unwrap();
    (f, proxy)
}

/// `n` users named `f00000`, `f00001`, … (what [`assert_exact`] expects).
fn users(n: usize) -> Vec<User> {
    (0..n).map(|i| User::new(&format!("f{i:05}"))).collect()
}

fn spawn(f: &Fixture, args: &[&str], what: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pwresetd"))
        .args(["--config", f.config.to_str().unwrap()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(f.dir.path().join(format!("{what}.stderr"))).unwrap())
        .spawn()
        .unwrap()
}

fn start_args(name: &str) -> Vec<&str> {
    vec![
        "campaign",
        "start",
        "--name",
        name,
        "--reason",
        "Intrusion",
        "--deadline",
        DEADLINE,
        "--yes",
    ]
}

/// Waits until the store has `at_least` accounts marked, the run still going.
fn wait_marked(f: &Fixture, child: &mut Child, at_least: i64) {
    let started = Instant::now();
    while marked_in_store(&f.store_path()) < at_least {
        assert!(started.elapsed() < Duration::from_secs(120), "marking did not progress");
        assert!(child.try_wait().unwrap().is_none(), "finished before the fault");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the child to exit (bounded: a hang is a failure), returns its exit code.
fn exit_code(child: &mut Child, within: Duration) -> Option<i32> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if started.elapsed() > within {
            let _ = child.kill();
            panic!("still running after {within:?}: the fault made it hang");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The invariant after every directory scenario: every account marked exactly in the store and
/// in the directory, nothing pending or failed, one campaign record, and the audit chain
/// verifies with the start first and one resume per rerun.
async fn assert_exact(f: &Fixture, name: &str, n: usize, resumes: std::ops::RangeInclusive<usize>) {
    let status = json(&f.run(&["campaign", "status", name, "--json"]));
    assert_eq!(status["in_scope"], n as u64, "{status}");
    assert_eq!(status["marked"], n as u64, "{status}");
    assert_eq!(status["pending"], 0, "{status}");
    assert_eq!(status["failed"], 0, "{status}");
    let flagged = f.flagged().await;
    let all: HashSet<String> = (0..n).map(|i| f.dn(&format!("f{i:05}"))).collect();
    assert_eq!(flagged.len(), n, "flags in the directory");
    assert!(flagged == all, "flagged DNs differ from the fixture's");
    let list = json(&f.run(&["campaign", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1, "one campaign record: {list}");
    let verify = f.run(&["audit", "verify", "--store"]);
    assert!(verify.status.success(), "{}", text(&verify));
    let export = f.run(&["audit", "export", "--campaign", name, "--format", "jsonl"]);
    assert!(export.status.success(), "{}", text(&export));
    let actions: Vec<String> = String::from_utf8(export.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        actions.first().map(String::as_str),
        Some("campaign.start"),
        "{actions:?}"
    );
    assert!(actions[1..].iter().all(|a| a == "campaign.resume"), "{actions:?}");
    assert!(
        resumes.contains(&(actions.len() - 1)),
        "{actions:?}, expected {resumes:?} resumes"
    );
}

/// 10,000 accounts. The directory black-holed at ~30 % for less than `directory.outage_wait`:
/// the operation timeouts fire and the run waits it out. Black-holed again at ~60 % for longer:
/// the run exits 69 saying how to resume; resumed, the result is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_directory_is_waited_out_or_stops_the_run_resumably() {
    const N: usize = 10_000;
    let extra = "timeout = \"2s\"\noutage_wait = \"10s\"\nmax_ops_per_second = 1500";
    let (f, proxy) = proxied_fixture("blackhole", N, extra).await;
    let mut child = spawn(&f, &start_args("bh"), "start");
    wait_marked(&f, &mut child, (N * 3 / 10) as i64);
    proxy.set(Fault::BlackHole);
    std::thread::sleep(Duration::from_secs(4));
    let during = marked_in_store(&f.store_path());
    proxy.heal();
    wait_marked(&f, &mut child, during + 500);

    wait_marked(&f, &mut child, (N * 6 / 10) as i64);
    proxy.set(Fault::BlackHole);
    let code = exit_code(&mut child, Duration::from_secs(120));
    let said = std::fs::read_to_string(f.dir.path().join("start.stderr")).unwrap();
    assert_eq!(code, Some(69), "{said}");
    assert!(said.contains("run the same command again to resume"), "{said}");
    let at_exit = marked_in_store(&f.store_path());
    assert!(at_exit < N as i64, "the outage came too late: {at_exit} marked");

    proxy.heal();
    let out = f.run(&["campaign", "start", "--name", "bh", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_exact(&f, "bh", N, 1..=1).await;
}

/// Resets every few hundred operations with 200 ms of latency both ways, from the start: the
/// scan is cut (a page is larger than the reset interval) and started again on a fresh
/// connection within `directory.outage_wait` (the proxy heals after the first cut, so that the
/// next scan can finish); the marking then rides out the resets, retrying on fresh connections.
/// One run, exit 0, no resume, and the result is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_every_few_hundred_operations_and_latency_lose_and_repeat_nothing() {
    const N: usize = 1500;
    // Paced, so that the fault set once marking has begun covers most of it.
    let extra = "timeout = \"10s\"\nmax_concurrency = 32\nmax_ops_per_second = 300\noutage_wait = \"60s\"";
    let (f, proxy) = proxied_fixture("resets", N, extra).await;
    // A modify and its answer carry ~250 bytes over StartTLS: a reset every ~200 operations.
    // A page of the scan (500 entries) is larger than that: every scan is cut.
    let faulty = Fault::Degraded {
        latency: Duration::from_millis(200),
        reset_every: Some(50_000),
    };
    proxy.set(faulty);
    let mut child = spawn(&f, &start_args("rs"), "start");
    let started = Instant::now();
    while proxy.resets() == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "the scan was never cut");
        assert!(child.try_wait().unwrap().is_none(), "finished before the scan was cut");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        marked_in_store(&f.store_path()),
        0,
        "nothing marked before the whole scope is read"
    );
    proxy.heal();
    wait_marked(&f, &mut child, 1);
    proxy.set(faulty);
    let before = proxy.resets();
    let code = exit_code(&mut child, Duration::from_secs(300));
    let said = std::fs::read_to_string(f.dir.path().join("start.stderr")).unwrap();
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("scanning again"), "the cut scan was not retried: {said}");
    let resets = proxy.resets() - before;
    assert!(
        resets >= 2,
        "only {resets} resets while marking: the fault did not bite"
    );
    proxy.heal();
    assert_exact(&f, "rs", N, 0..=0).await;
}

/// Who got how many notices, from the SMTP capture server.
fn notices(server: &common::smtp::SmtpServer) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for m in server.messages() {
        for to in m.envelope["rcpt_tos"].as_array().unwrap() {
            *out.entry(to.as_str().unwrap().to_owned()).or_default() += 1;
        }
    }
    out
}

/// The mail pass through a proxy that resets connections mid-message for a while, then
/// black-holes the server: the pass ends (no hang), what failed is retried by the next pass
/// once healed, everyone with an address gets a notice, and repeats are bounded by the resets
/// (a reset after the server took the message and before its 250 reached us is the only way
/// to repeat one); the account without an address gets none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_pass_survives_resets_mid_data_and_a_black_holed_server() {
    const N: usize = 60;
    let mut users: Vec<User> = (0..N).map(|i| User::new(&format!("m{i:02}"))).collect();
    users.push(User {
        mail: vec![],
        ..User::new("nomail")
    });
    let f = Fixture::new("mailfault", &users).await;
    let server = common::smtp::SmtpServer::start(&[]);
    let proxy = FaultProxy::start(&format!("127.0.0.1:{}", server.port()));
    f.append_config(&format!(
        "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{}\"\nstarttls = false\n\
         allow_insecure = true\nfrom = \"it@example.org\"\ntimeout = \"2s\"\nmax_attempts = 2\n\
         retry_initial = \"50ms\"\nmax_connections = 2\n\
         [portal]\npublic_url = \"https://pw.example.org\"\n",
        proxy.port()
    ));
    let out = f.run(&start_args("m"));
    assert!(out.status.success(), "{}", text(&out));

    // A notice is a few KiB: a reset every 6000 bytes cuts most sessions inside DATA.
    proxy.set(Fault::Degraded {
        latency: Duration::ZERO,
        reset_every: Some(6000),
    });
    let first = f.run(&["campaign", "notify", "m"]);
    assert!(proxy.resets() > 0, "no reset: {}", text(&first));
    proxy.set(Fault::BlackHole);
    let started = Instant::now();
    let second = f.run(&["campaign", "notify", "m"]);
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "the pass hung on the black hole"
    );
    let _ = second;
    proxy.heal();
    for _ in 0..5 {
        if notices(&server).len() == N {
            break;
        }
        let out = f.run(&["campaign", "notify", "m"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let got = notices(&server);
    assert_eq!(got.len(), N, "everyone with an address got a notice: {got:?}");
    assert!(!got.keys().any(|to| to.starts_with("nomail")));
    let repeats: usize = got.values().map(|n| n - 1).sum();
    let resets = proxy.resets() as usize;
    assert!(
        repeats <= resets,
        "{repeats} repeated notices > {resets} resets: {got:?}"
    );
    // Nothing left to send: a further pass sends nothing.
    let out = f.run(&["campaign", "notify", "m"]);
    assert!(text(&out).contains("0 sent"), "{}", text(&out));
    assert_eq!(notices(&server).values().sum::<usize>(), N + repeats);
    let status = json(&f.run(&["campaign", "status", "m", "--json"]));
    assert_eq!(status["marked"], (N + 1) as u64, "{status}");
    let _: &Path = f.dir.path();
}

/// A small seeded generator (xorshift64*): the kill points are reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// Recipients (the `To:` line) of the mails in a file-transport spool, with their counts.
fn spooled(spool: &Path) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(spool).into_iter().flatten().flatten() {
        if entry.path().extension().is_some_and(|x| x == "eml") {
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            if let Some(to) = text.lines().find(|l| l.starts_with("To: ")) {
                *out.entry(to.to_owned()).or_default() += 1;
            }
        }
    }
    out
}

/// Starts the command, SIGKILLs it once `progress()` reaches `point` (or lets it finish first).
fn kill_at(f: &Fixture, args: &[&str], what: &str, point: u64, progress: &dyn Fn() -> u64) {
    let mut child = spawn(f, args, what);
    let started = Instant::now();
    while progress() < point && child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(120), "{what}: no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill(); // SIGKILL
    child.wait().unwrap();
}

/// SIGKILL at seeded random points of `campaign start` (5) and `campaign notify` (5), each
/// followed by a restart: the final state is exact, every account with an address has its
/// notice, and repeats are at most the mails in flight at each kill (`max_connections`).
/// The seed is printed; `PWRESETD_KILL_SEED=N` replays a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_nothing_and_repeats_only_mails_in_flight() {
    const N: usize = 2000;
    const KILLS: usize = 5;
    const CONNECTIONS: usize = 2;
    let seed = std::env::var("PWRESETD_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(common::rand_u32()));
    eprintln!("kill points from seed {seed} (replay with PWRESETD_KILL_SEED={seed})");
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let f = Fixture::with_config("kills", &users(N), "max_ops_per_second = 1000").await;
    let spool = f.dir.path().join("spool");
    f.append_config(&format!(
        "[mail]\ntransport = \"file\"\nspool_dir = \"{}\"\nfrom = \"it@example.org\"\n\
         max_messages_per_second = 300\nmax_connections = {CONNECTIONS}\n\
         [portal]\npublic_url = \"https://pw.example.org\"\n",
        spool.display()
    ));

    let mut points: Vec<u64> = (0..KILLS).map(|_| 1 + rng.below(N as u64 - 1)).collect();
    points.sort_unstable();
    eprintln!("campaign start killed at {points:?} marked");
    let store = f.store_path();
    let marked = || u64::try_from(marked_in_store(&store)).unwrap();
    let mut runs = 0;
    for p in &points {
        kill_at(&f, &start_args("k"), "start", *p, &marked);
        runs += 1;
    }
    let out = f.run(&start_args("k"));
    assert!(out.status.success(), "{}", text(&out));
    // A run killed before it wrote its resume record leaves none: up to one resume a rerun.
    assert_exact(&f, "k", N, 0..=runs).await;

    let mut points: Vec<u64> = (0..KILLS).map(|_| 1 + rng.below(N as u64 - 1)).collect();
    points.sort_unstable();
    eprintln!("campaign notify killed at {points:?} mails out");
    let sent = || spooled(&spool).values().sum::<usize>() as u64;
    for p in &points {
        kill_at(&f, &["campaign", "notify", "k"], "notify", *p, &sent);
    }
    let out = f.run(&["campaign", "notify", "k"]);
    assert!(out.status.success(), "{}", text(&out));

    let got = spooled(&spool);
    assert_eq!(got.len(), N, "everyone got a notice");
    let repeats: usize = got.values().map(|n| n - 1).sum();
    assert!(
        repeats <= KILLS * CONNECTIONS,
        "{repeats} repeats > {KILLS} kills x {CONNECTIONS} in flight (seed {seed})"
    );
    let again = f.run(&["campaign", "notify", "k"]);
    assert!(text(&again).contains("0 sent"), "{}", text(&again));
}

/// Whether `password` binds as `dn` straight at slapd (no proxy) and the account is no longer
/// restricted (it can read its own entry): what "the directory has the new password" means.
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

/// One submit of the link form for `uid`, `before_post` run between the form and the post:
/// (status, body).
async fn submit_link(p: &common::portal::Portal, link: &str, password: &str, before_post: &dyn Fn()) -> (u16, String) {
    submit_at(&p.reset_url(link), password, before_post).await
}

/// One submit of the link form at `url` (any instance's), as [`submit_link`].
async fn submit_at(url: &str, password: &str, before_post: &dyn Fn()) -> (u16, String) {
    let c = common::portal::client();
    let url = url.to_owned();
    let token = common::portal::form_csrf(&c, &url).await;
    before_post();
    let fields = [
        ("csrf", token.as_str()),
        ("new_password", password),
        ("confirm_password", password),
    ];
    common::portal::submit(&c, &url, &fields).await
}

/// A page a person may see: no 500, no internals (error chains, addresses, DNs).
fn plain(status: u16, body: &str) {
    assert_ne!(status, 500, "{body}");
    for internal in ["panicked", "Error {", "ldap://", "uid=", "rc="] {
        assert!(!body.contains(internal), "the page shows {internal:?}: {body}");
    }
}

/// The portal's submit with the directory (through the proxy) failing at each step:
/// - gone before the write: a plain "try again" page, nothing written, nothing recorded;
/// - gone between the write and the verification bind (the pool's connection is open, the
///   bind's new one is refused): a plain "could not confirm" page and no completion, though the
///   directory has the password; healed, a retry with the same link and the same password
///   completes (it is not refused as "your current password");
/// - gone right after the verification bind: the change completes, and the directory has it.
///
/// In every case the store says "completed" only for a password a real bind accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_failing_during_the_portal_submit_never_records_an_unwritten_password() {
    use common::portal::{Options, Portal, STRONG, STRONG2};
    use pwresetd::campaign::state::AccountState;
    let upstream = common::slapd().url().trim_start_matches("ldap://").to_owned();
    let proxy = FaultProxy::start(&upstream);
    let options = Options {
        directory_url: Some(format!("ldap://127.0.0.1:{}", proxy.port())),
        ..Options::default()
    };
    let p = Portal::start("pfault", &["pf.before", "pf.verify", "pf.commit"], options).await;
    // The pool's connections (2 by default) open before the fault, as in a running portal.
    let warm = async |uid: &str| {
        for _ in 0..4 {
            p.directory.read(&p.fixture.dn(uid)).await.unwrap().unwrap();
        }
    };

    let link = p.link("pf.before", chrono::Duration::hours(1), 0);
    let (status, body) = submit_link(&p, &link, STRONG, &|| proxy.set(Fault::Refuse)).await;
    plain(status, &body);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Nothing was changed"), "{body}");
    proxy.heal();
    assert_eq!(p.record("pf.before").state, AccountState::Marked);
    assert!(!directory_has(&p.fixture.dn("pf.before"), STRONG).await);

    let dn = p.fixture.dn("pf.verify");
    let link = p.link("pf.verify", chrono::Duration::hours(1), 0);
    warm("pf.verify").await;
    let refused = proxy.resets();
    let (status, body) = submit_link(&p, &link, STRONG2, &|| proxy.set(Fault::RefuseNew)).await;
    plain(status, &body);
    assert!(proxy.resets() > refused, "the verification bind was not cut");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("could not confirm"), "{body}");
    assert_eq!(
        p.record("pf.verify").state,
        AccountState::Marked,
        "not recorded as completed"
    );
    proxy.heal();
    let (status, body) = submit_link(&p, &link, STRONG2, &|| ()).await;
    assert_eq!(status, 200, "the retry with the same link and password: {body}");
    assert!(body.contains("has been changed"), "{body}");
    assert_eq!(p.record("pf.verify").state, AccountState::Completed);
    assert!(directory_has(&dn, STRONG2).await);

    let dn = p.fixture.dn("pf.commit");
    let link = p.link("pf.commit", chrono::Duration::hours(1), 0);
    warm("pf.commit").await;
    let (status, body) = submit_link(&p, &link, STRONG, &|| proxy.set(Fault::LastConnection)).await;
    plain(status, &body);
    assert_eq!(status, 200, "{body}");
    let cut = Instant::now();
    while *proxy.current() != Fault::Refuse {
        assert!(
            cut.elapsed() < Duration::from_secs(10),
            "the directory was not cut after the bind"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.heal();
    assert_eq!(p.record("pf.commit").state, AccountState::Completed);
    assert!(directory_has(&dn, STRONG).await);

    for uid in ["pf.before", "pf.verify", "pf.commit"] {
        let record = p.record(uid);
        if record.state == AccountState::Completed {
            assert!(directory_has(&record.dn, STRONG).await || directory_has(&record.dn, STRONG2).await);
        }
    }
    p.stop().await;
}

/// Issue 16: the note of an unconfirmed write is in the store, so the retry may land on another
/// instance (a second portal on the same store file, opened anew as another `serve` would).
/// Instance A's verification bind is cut (the directory holds the new password, nothing is
/// recorded); on B:
/// - the same link and the same password complete (not refused as "your current password");
/// - after another unconfirmed write, a different password is checked as usual: a weak one is
///   refused by the policy, a strong one completes;
/// - a note vouches for its own password only: with a note for STRONG2 (an attempt whose write
///   never reached the directory), the old password the directory still holds is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfirmed_write_on_one_instance_lets_the_retry_on_another_reuse_the_password() {
    use common::portal::{Options, Portal, STRONG, STRONG2};
    use pwresetd::campaign::state::AccountState;
    let upstream = common::slapd().url().trim_start_matches("ldap://").to_owned();
    let proxy = FaultProxy::start(&upstream);
    let options = Options {
        directory_url: Some(format!("ldap://127.0.0.1:{}", proxy.port())),
        ..Options::default()
    };
    let p = Portal::start("pshared", &["ps.same", "ps.other", "ps.burnt"], options).await;
    let b = p.another_instance().await;
    let unconfirmed = async |uid: &str, password: &str| {
        let link = p.link(uid, chrono::Duration::hours(1), 0);
        // The pool's connections open before the fault, as in a running portal.
        for _ in 0..4 {
            p.directory.read(&p.fixture.dn(uid)).await.unwrap().unwrap();
        }
        let (status, body) = submit_link(&p, &link, password, &|| proxy.set(Fault::RefuseNew)).await;
        proxy.heal();
        assert_eq!(status, 502, "{uid}: {body}");
        assert_eq!(p.record(uid).state, AccountState::Marked, "{uid}");
        assert!(directory_has(&p.fixture.dn(uid), password).await, "{uid}");
        link
    };
    let now = || chrono::Utc::now().timestamp();

    let link = unconfirmed("ps.same", STRONG2).await;
    let (status, body) = submit_at(&b.reset_url(&link), STRONG2, &|| ()).await;
    assert_eq!(status, 200, "the retry on the other instance: {body}");
    assert_eq!(p.record("ps.same").state, AccountState::Completed);
    let key = p.fixture.dn("ps.same").to_lowercase();
    assert_eq!(
        p.store.run_blocking(|s| s.unconfirmed_password(&key, now())).unwrap(),
        None,
        "deleted once recorded"
    );

    let link = unconfirmed("ps.other", STRONG2).await;
    let key = p.fixture.dn("ps.other").to_lowercase();
    let noted = p
        .store
        .run_blocking(|s| s.unconfirmed_password(&key, now()))
        .unwrap()
        .unwrap();
    assert!(noted.starts_with("$argon2id$"), "the store keeps an argon2id hash only");
    let (status, body) = submit_at(&b.reset_url(&link), "password", &|| ()).await;
    assert_eq!(status, 422, "a weak password is still refused: {body}");
    let (status, body) = submit_at(&b.reset_url(&link), STRONG, &|| ()).await;
    assert_eq!(status, 200, "another strong password: {body}");
    assert_eq!(p.record("ps.other").state, AccountState::Completed);
    assert!(directory_has(&p.fixture.dn("ps.other"), STRONG).await);

    let dn = p.fixture.dn("ps.burnt");
    let phc = pwresetd::policy::hash_for_history(&pwresetd::policy::Password::new(STRONG2), &[]).unwrap();
    assert!(phc.starts_with("$argon2id$"), "only an argon2id hash is stored");
    p.store
        .run_blocking(|s| s.note_unconfirmed(&dn.to_lowercase(), &phc, now(), now() + 3600))
        .unwrap();
    let link = p.link("ps.burnt", chrono::Duration::hours(1), 0);
    let (status, body) = submit_at(&b.reset_url(&link), common::USER_PASSWORD, &|| ()).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("This is your current password"), "{body}");
    assert_eq!(p.record("ps.burnt").state, AccountState::Marked);

    b.stop().await;
    p.stop().await;
}

/// The one-time link in the spooled notice to `to`, as a full URL.
fn spooled_link(spool: &Path, to: &str, portal: u16) -> Option<String> {
    let prefix = format!("http://127.0.0.1:{portal}/reset/");
    for entry in std::fs::read_dir(spool).ok()?.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        if text
            .lines()
            .any(|l| l.starts_with("To: ") && l.contains(&format!("<{to}>")))
        {
            // Not every mail carries a link (the "password changed" one does not).
            if let Some(token) = text.split(&prefix).nth(1).and_then(|t| t.get(..43)) {
                return Some(format!("{prefix}{token}"));
            }
        }
    }
    None
}

/// Starts `serve`; returns once its portal answers.
async fn serve(f: &Fixture, admin: u16, portal: u16) -> common::daemon::Daemon {
    let mut d = common::daemon::Daemon::start(&f.config, admin, portal);
    assert!(
        d.wait_notification("READY=1", Duration::from_secs(60)).is_some(),
        "serve did not start: {}",
        d.log_text()
    );
    d
}

/// SIGKILL of `serve` at seeded random points: while its worker finishes the marking a killed
/// `campaign start` left (3 points), during its mail pass (3 points), and with a portal submit
/// in flight (3 delays after the post). Each is followed by a restart; at the end the state is
/// exact, everyone has a notice with at most `max_connections` repeats per kill, and for each
/// interrupted submit the store says "completed" only if the directory has the password — the
/// account completed either by the portal, by reconciliation (the password changed), or by a
/// retry with the same link. The seed is printed; `PWRESETD_KILL_SEED=N` replays a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_serve_at_random_points_loses_nothing() {
    use common::portal::STRONG;
    const N: usize = 600;
    const KILLS: usize = 3;
    const CONNECTIONS: usize = 2;
    let seed = std::env::var("PWRESETD_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from(common::rand_u32()));
    eprintln!("serve kill points from seed {seed} (replay with PWRESETD_KILL_SEED={seed})");
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let f = Fixture::with_config("servekill", &users(N), "max_ops_per_second = 200").await;
    let (admin, portal) = (common::free_port(), common::free_port());
    let spool = f.dir.path().join("spool");
    f.append_config(&format!(
        "[mail]\ntransport = \"file\"\nspool_dir = \"{}\"\nfrom = \"it@example.org\"\n\
         max_messages_per_second = 100\nmax_connections = {CONNECTIONS}\n\
         [portal]\nlisten = \"127.0.0.1:{portal}\"\npublic_url = \"http://127.0.0.1:{portal}\"\n\
         [daemon]\nadmin_listen = \"127.0.0.1:{admin}\"\nreconcile_interval = \"1s\"\n\
         notify_interval = \"1s\"\nshutdown_grace = \"5s\"\n",
        spool.display()
    ));
    let store = f.store_path();
    let marked = || u64::try_from(marked_in_store(&store)).unwrap();
    kill_at(&f, &start_args("sk"), "start", 1 + rng.below(N as u64 / 10), &marked);

    let mut points: Vec<u64> = (0..KILLS).map(|_| marked() + 1 + rng.below(N as u64 / 2)).collect();
    points.sort_unstable();
    eprintln!("serve killed at {points:?} marked");
    for p in &points {
        let mut d = serve(&f, admin, portal).await;
        let started = Instant::now();
        while marked() < *p {
            assert!(started.elapsed() < Duration::from_secs(120), "serve did not mark");
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = d.child.kill();
        d.child.wait().unwrap();
    }

    let sent = || spooled(&spool).values().sum::<usize>() as u64;
    let mut points: Vec<u64> = (0..KILLS).map(|_| 1 + rng.below(N as u64 - 1)).collect();
    points.sort_unstable();
    eprintln!("serve killed at {points:?} mails out");
    for p in &points {
        let mut d = serve(&f, admin, portal).await;
        let started = Instant::now();
        while sent() < *p {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "serve sent no mail: {}",
                d.log_text()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = d.child.kill();
        d.child.wait().unwrap();
    }

    // Submits in flight: each of three accounts posts its form, serve is killed after a seeded
    // delay (before, during or after the directory write), then restarted.
    let mut d = serve(&f, admin, portal).await;
    common::eventually("every notice", Duration::from_secs(120), async || {
        (spooled(&spool).len() == N).then_some(())
    })
    .await;
    let who: Vec<String> = (0..KILLS).map(|i| format!("f{:05}", i * 7)).collect();
    for uid in &who {
        let link = spooled_link(&spool, &format!("{uid}@example.org"), portal).unwrap();
        let c = common::portal::client();
        let token = common::portal::form_csrf(&c, &link).await;
        // A submit takes some 30-50 ms here: the kill lands before, inside or after it.
        let delay = Duration::from_micros(rng.below(60_000));
        eprintln!("{uid}: serve killed {delay:?} into the submit");
        let post = tokio::spawn(async move {
            let fields = [
                ("csrf", token.as_str()),
                ("new_password", STRONG),
                ("confirm_password", STRONG),
            ];
            let started = Instant::now();
            let answer = c.post(&link).form(&fields).send().await.map(|r| r.status().as_u16());
            (started.elapsed(), answer.ok())
        });
        tokio::time::sleep(delay).await;
        let _ = d.child.kill();
        d.child.wait().unwrap();
        let (took, answer) = post.await.unwrap();
        eprintln!("{uid}: the post ended after {took:?} with {answer:?}");
        d = serve(&f, admin, portal).await;
    }
    // Reconciliation (every second) completes an account whose password changed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for uid in &who {
        let dn = f.dn(uid);
        let link = spooled_link(&spool, &format!("{uid}@example.org"), portal).unwrap();
        eprintln!("{uid}: {} after the restart", account_state(&store, &dn));
        if account_state(&store, &dn) != "completed" {
            assert!(
                !directory_has(&dn, STRONG).await,
                "{uid}: written, not completed after reconciliation"
            );
            let c = common::portal::client();
            let token = common::portal::form_csrf(&c, &link).await;
            let fields = [
                ("csrf", token.as_str()),
                ("new_password", STRONG),
                ("confirm_password", STRONG),
            ];
            let (status, body) = common::portal::submit(&c, &link, &fields).await;
            assert_eq!(status, 200, "{uid}: the retry with the same link: {body}");
        }
        assert_eq!(account_state(&store, &dn), "completed", "{uid}");
        if !directory_has(&dn, STRONG).await {
            let why = match common::bind(&dn, STRONG).await {
                Ok(_) => "binds but is restricted (pwdReset left set: the set/clear window)",
                Err(_) => "does not bind",
            };
            panic!("{uid}: completed, but the new password {why} (seed {seed})");
        }
    }
    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(30)), Some(0), "{}", d.log_text());

    let status = json(&f.run(&["campaign", "status", "sk", "--json"]));
    assert_eq!(status["in_scope"], N as u64, "{status}");
    assert_eq!(status["pending"], 0, "{status}");
    assert_eq!(status["failed"], 0, "{status}");
    let completed = status["completed"].as_u64().unwrap();
    assert_eq!(completed, who.len() as u64, "{status}");
    let flagged = f.flagged().await;
    let expected: HashSet<String> = (0..N)
        .map(|i| format!("f{i:05}"))
        .filter(|u| !who.contains(u))
        .map(|u| f.dn(&u))
        .collect();
    assert!(
        flagged == expected,
        "flags in the directory differ from the store's marked accounts"
    );
    let verify = f.run(&["audit", "verify", "--store"]);
    assert!(verify.status.success(), "{}", text(&verify));
    let got = spooled(&spool);
    let notices = got.len();
    assert!(notices >= N, "everyone got a notice: {notices}");
    let repeats: usize = got.values().map(|n| n - 1).sum();
    // At most the mails in flight at each kill of the mail pass, and one "password changed"
    // mail to each account that changed it.
    assert!(
        repeats <= KILLS * CONNECTIONS + who.len(),
        "{repeats} repeated mails > {KILLS} kills x {CONNECTIONS} in flight + {} changes (seed {seed})",
        who.len()
    );
}

/// The store's state of the account at `dn` (its only campaign's record).
fn account_state(store: &Path, dn: &str) -> String {
    let conn = rusqlite::Connection::open_with_flags(store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row("SELECT state FROM accounts WHERE dn = ?1", [dn], |r| r.get(0))
        .unwrap()
}

/// Posts the link form for `password` with `serve`'s debug hook armed: the process kills
/// itself (SIGKILL) between the directory's answer to the administrative set and the clear of
/// the `pwdReset` it raised (directory/test_hook.rs). Returns once it is dead.
async fn post_into_the_window(d: &mut common::daemon::Daemon, kill_file: &Path, link: &str, password: &str) {
    use std::os::unix::process::ExitStatusExt;
    let c = common::portal::client();
    let token = common::portal::form_csrf(&c, link).await;
    std::fs::write(kill_file, "").unwrap();
    let fields = [
        ("csrf", token.as_str()),
        ("new_password", password),
        ("confirm_password", password),
    ];
    let answer = c.post(link).form(&fields).send().await;
    assert!(answer.is_err(), "serve answered instead of dying: {answer:?}");
    let status = d.child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "not killed by the hook: {}", d.log_text());
    assert!(!kill_file.exists(), "the hook did not fire");
}

/// The account's state and how it completed, from the fixture's store.
fn record_of(f: &Fixture, dn: &str) -> (bool, bool) {
    let count = |sql: &str| f.store_count(&sql.replace("DN", dn)).unwrap();
    let completed = count("SELECT COUNT(*) FROM accounts WHERE dn = 'DN' AND state = 'completed'") == 1;
    let via_portal = count("SELECT COUNT(*) FROM accounts WHERE dn = 'DN' AND completed_via = 'portal'") == 1;
    (completed, via_portal)
}

/// "password.changed" records in the audit trail for `uid`.
fn changes_audited(f: &Fixture, uid: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM audit WHERE action = 'password.changed' AND account = '{uid}'");
    f.store_count(&sql).unwrap()
}

/// Where the account stands after the change: the new password binds and is unrestricted, the
/// flag is gone, the old password is refused, and the store completed it once, via the portal.
async fn assert_finished(f: &Fixture, uid: &str, new: &str) {
    let dn = f.dn(uid);
    assert!(
        common::bind(&dn, new).await.is_ok(),
        "{uid}: the new password does not bind"
    );
    assert!(
        !f.flagged().await.contains(&dn),
        "{uid}: completed with the new password but pwdReset still set"
    );
    assert!(directory_has(&dn, new).await, "{uid}: the new password is restricted");
    assert!(
        common::bind(&dn, common::USER_PASSWORD).await.is_err(),
        "{uid}: the old password still binds"
    );
    assert_eq!(record_of(f, &dn), (true, true), "{uid}: completed via the portal");
    assert_eq!(changes_audited(f, uid), 1, "{uid}: completed once");
}

/// The window the random kills above found once (CI, "completed without the password"): the
/// link flow's administrative set answered, the `pwdReset` it raised not yet cleared, `serve`
/// SIGKILLed right there by its debug hook. The store remembered the write before it was sent
/// (`portal_writes`), so:
/// - f00000: after the restart, reconciliation sees the portal's own write (its process dead)
///   with the flag still set, clears the flag and completes the account once, via the portal;
///   the spent link then says so;
/// - f00001: the campaign's lease held elsewhere (no reconciliation), the person retries the
///   same link with the same password: it is not refused as "your current password" and
///   completes, flag cleared;
/// - f00002: untouched, still marked and flagged; the audit chain verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_between_the_password_set_and_the_flag_clear_is_finished_not_left_flagged() {
    use common::portal::{STRONG, STRONG2};
    use pwresetd::store::Store;
    // SQLite: the test holds the campaign's lease through the store file itself.
    let f = Fixture::on(common::store::Backend::Sqlite, "setclear", &users(3), "").await;
    let (admin, portal) = (common::free_port(), common::free_port());
    let spool = f.dir.path().join("spool");
    f.append_config(&format!(
        "[mail]\ntransport = \"file\"\nspool_dir = \"{}\"\nfrom = \"it@example.org\"\n\
         [portal]\nlisten = \"127.0.0.1:{portal}\"\npublic_url = \"http://127.0.0.1:{portal}\"\n\
         [daemon]\nadmin_listen = \"127.0.0.1:{admin}\"\nreconcile_interval = \"1s\"\n\
         notify_interval = \"1s\"\n",
        spool.display()
    ));
    let out = f.run(&start_args("sc"));
    assert!(out.status.success(), "{}", text(&out));
    let kill_file = f.dir.path().join("kill-between-set-and-clear");
    let hook = [("PWRESETD_TEST_KILL_BETWEEN_SET_AND_CLEAR", kill_file.as_path())];
    let start = || {
        let mut d = common::daemon::Daemon::start_with(&f.config, (admin, portal), &hook);
        assert!(
            d.wait_notification("READY=1", Duration::from_secs(60)).is_some(),
            "serve did not start: {}",
            d.log_text()
        );
        d
    };
    let mut d = start();
    common::eventually("every notice", Duration::from_secs(60), async || {
        (spooled(&spool).len() == 3).then_some(())
    })
    .await;
    let link = |uid: &str| spooled_link(&spool, &format!("{uid}@example.org"), portal).unwrap();
    let in_the_window = async |uid: &str, password: &str| {
        let dn = f.dn(uid);
        assert!(common::bind(&dn, password).await.is_ok(), "{uid}: the set did not land");
        assert!(f.flagged().await.contains(&dn), "{uid}: killed outside the window");
        assert_eq!(record_of(&f, &dn), (false, false), "{uid}");
    };

    post_into_the_window(&mut d, &kill_file, &link("f00000"), STRONG).await;
    in_the_window("f00000", STRONG).await;
    d = start();
    // The restarted serve takes the dead process's lease and reconciles at once.
    let restarted = Instant::now();
    while !record_of(&f, &f.dn("f00000")).0 {
        let waited = restarted.elapsed();
        assert!(waited < Duration::from_secs(120), "not reconciled: {}", d.log_text());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_finished(&f, "f00000", STRONG).await;
    let (status, body) = common::portal::get(&common::portal::client(), &link("f00000")).await;
    plain(status, &body);
    assert!(body.contains("no longer valid"), "the spent link: {body}");

    post_into_the_window(&mut d, &kill_file, &link("f00001"), STRONG2).await;
    in_the_window("f00001", STRONG2).await;
    // The campaign's lease taken from the dead process by "another host": no reconciliation.
    let store = Store::open(&f.store_path()).unwrap();
    let elsewhere = "test@elsewhere:1:00000000";
    let (campaign, taken) = store.run_blocking(move |s| {
        let id = s.campaign("sc").unwrap().unwrap().id;
        let long = Duration::from_secs(600);
        let taken = match s.lease_holder(id).unwrap() {
            Some(dead) => s.take_over_lease(id, &dead, elsewhere, long),
            None => s.acquire_lease(id, elsewhere, long),
        };
        (id, taken.unwrap())
    });
    assert!(taken, "the lease was not the dead process's");
    d = start();
    let (status, body) = submit_at(&link("f00001"), STRONG2, &|| ()).await;
    assert_eq!(status, 200, "the retry with the same link and password: {body}");
    assert!(body.contains("has been changed"), "{body}");
    assert_finished(&f, "f00001", STRONG2).await;
    store
        .run_blocking(move |s| s.release_lease(campaign, elsewhere))
        .unwrap();

    assert!(f.flagged().await.contains(&f.dn("f00002")), "the others stay marked");
    assert_eq!(record_of(&f, &f.dn("f00002")), (false, false));
    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(30)), Some(0), "{}", d.log_text());
    let verify = f.run(&["audit", "verify", "--store"]);
    assert!(verify.status.success(), "{}", text(&verify));
    assert_eq!(changes_audited(&f, "f00000") + changes_audited(&f, "f00001"), 2);
}
