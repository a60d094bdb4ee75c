//! Portal submit latency (driver for `scripts/bench-portal`, which starts a private slapd with
//! enough users and points `PWRESETD_TEST_SLAPD_ENV` at it).
//!
//! Set-up: a store in a temp dir where every account already has 5 argon2id history hashes
//! (5 earlier campaigns completed through the store API), an active campaign with one link per
//! account, the accounts flagged with `pwdReset`, the default policy (history 5), the portal
//! served in-process on 127.0.0.1 with the production router.
//!
//! Load: virtual users (20), each with its own cookie jar, take the next link, GET the form, then
//! POST a new password (timed), in three scenarios: one user at a time (the latency floor), 20
//! users without pause (a closed loop that saturates the CPU) and 20 users pausing 1–3 s between
//! page and submit, as people type (their first arrivals spread over 3 s).
//!
//! Also printed: the CPU seconds of this process (portal + load generator) and of slapd per
//! submit, read from /proc around each scenario (the figure that does not depend on what else the
//! machine runs); the policy and directory steps of one submit timed alone; and the baseline,
//! `GET /healthz` on the same server (20 users, no pause), plus the same probe every 50 ms
//! *during* the no-pause run, to show the server keeps answering while argon2 runs.
//!
//! Usage: cargo bench --bench portal -- [--per-scenario N] [--concurrency N]

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::portal::{Link, Pace, directory_toml, flag, password, prefill, scenario};
use common::{Res, arg, cpu_seconds, env_file, load_average, ms, pct};
use pwresetd::directory::{self, ScanItem};
use pwresetd::policy::{Password, Policy, PolicyConfig, hash_for_history};
use pwresetd::portal::{LogNotifier, PortalConfig, PortalParts, PortalState};
use pwresetd::store::Store;

struct Setup {
    url: String,
    slapd_pid: String,
    /// The 5 history entries of the legacy accounts, then of the others.
    history: [Vec<String>; 2],
    directory: Arc<dyn pwresetd::directory::Directory>,
    /// An account whose password the component measurement may change.
    probe_dn: String,
    links: Vec<Link>,
    _dir: tempfile::TempDir,
}

async fn set_up(users: usize, legacy: std::ops::Range<usize>) -> Res<Setup> {
    let env = env_file("PWRESETD_TEST_SLAPD_ENV", "bench-portal")?;
    let dir = tempfile::tempdir()?;
    let config_path = dir.path().join("pwresetd.toml");
    let store_path = dir.path().join("state.db");
    let store_toml = format!("[store]\npath = \"{}\"\n", store_path.display());
    std::fs::write(&config_path, format!("{}{store_toml}", directory_toml(&env)))?;
    let config = pwresetd::daemon::config::load(&config_path)?;
    let directory = directory::connect(&config.directory)?;
    let store = Store::open(config.store.sqlite_path().ok_or("a SQLite store")?)?;
    let policy = Arc::new(Policy::load(&PolicyConfig::default())?);

    let started = Instant::now();
    let items = flag(directory.as_ref(), 0..users).await?;
    // Accounts in `legacy` get history entries as written before the account salt. Off the
    // runtime's threads: the store's calls block.
    let base = &env["LDAP_PEOPLE_DN"];
    let (links, history) = store.run_blocking(|s| prefill(s, base, &items, legacy.clone()))?;
    eprintln!(
        "set-up: {users} accounts flagged, 5 history hashes each ({} with legacy salts), {} links, in {:.1}s",
        legacy.len(),
        links.len(),
        started.elapsed().as_secs_f64()
    );

    let probe_directory = directory.clone();
    let probe_dn = match items.first() {
        Some(ScanItem::InScope(account)) => account.dn.clone(),
        _ => String::new(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let mut portal = PortalConfig::for_url(&url)?;
    portal.rate_limit.per_address = 100_000;
    let state = PortalState::new(PortalParts {
        config: portal,
        directory: directory.clone(),
        store: store.clone(),
        policy,
        notifier: Arc::new(LogNotifier),
        budget: Arc::new(pwresetd::web::budget::Budget::new(store)),
        helpdesk: String::new(),
    })?;
    tokio::spawn(pwresetd::portal::serve(state, listener, std::future::pending()));
    let slapd_pid = std::fs::read_to_string(&env["SLAPD_PID_FILE"])?.trim().to_owned();
    Ok(Setup {
        url,
        slapd_pid,
        history,
        directory: probe_directory,
        probe_dn,
        links,
        _dir: dir,
    })
}

async fn baseline(url: &str, users: usize, per_user: usize) -> Res<Vec<Duration>> {
    let mut tasks = Vec::new();
    for _ in 0..users {
        let url = format!("{url}/healthz");
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut out = Vec::new();
            for _ in 0..per_user {
                let t0 = Instant::now();
                let r = client.get(&url).send().await.map_err(|e| e.to_string())?;
                let _ = r.bytes().await.map_err(|e| e.to_string())?;
                out.push(t0.elapsed());
            }
            Ok::<_, String>(out)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(all)
}

/// Runs a scenario and reports the CPU it cost pwresetd and slapd per submit.
async fn measured(name: &str, url: &str, links: &[Link], users: usize, pace: Pace, slapd: &str) -> Res<Scored> {
    let (ours, theirs, t0) = (cpu_seconds("self"), cpu_seconds(slapd), Instant::now());
    let latencies = scenario(&[url.to_owned()], links, users, pace).await?;
    let (wall, n) = (t0.elapsed().as_secs_f64(), latencies.len() as f64);
    let (ours, theirs) = (cpu_seconds("self") - ours, cpu_seconds(slapd) - theirs);
    let (p50, p99) = summary(name, latencies);
    println!(
        "{:<34} {:.1} submits/s; CPU per submit: pwresetd+client {:.1} ms, slapd {:.1} ms",
        "",
        n / wall,
        ours * 1000.0 / n,
        theirs * 1000.0 / n
    );
    Ok(Scored {
        p50,
        p99,
        rate: n / wall,
        cpu_ms: ours * 1000.0 / n,
        slapd_ms: theirs * 1000.0 / n,
    })
}

/// One scenario's figures.
#[derive(Clone, Copy)]
struct Scored {
    p50: Duration,
    p99: Duration,
    rate: f64,
    /// CPU of this process (portal + load generator) per submit: what load elsewhere does not skew.
    cpu_ms: f64,
    /// slapd's CPU per submit.
    slapd_ms: f64,
}

/// GETs `url` every 50 ms until `stop`; the latencies.
fn probe(url: String, stop: Arc<std::sync::atomic::AtomicBool>) -> tokio::task::JoinHandle<Vec<Duration>> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut out = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let t0 = Instant::now();
            if let Ok(r) = client.get(&url).send().await {
                let _ = r.bytes().await;
                out.push(t0.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        out
    })
}

/// A no-pause run with `/healthz` and a form page probed every 50 ms during it; the submit
/// figures and the probes' p99.
async fn burst(
    name: &str,
    setup: &Setup,
    links: &[Link],
    users: usize,
    page: &str,
) -> Res<(Scored, Duration, Duration)> {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let health = probe(format!("{}/healthz", setup.url), stop.clone());
    let form = probe(format!("{}/reset/{page}", setup.url), stop.clone());
    let scored = measured(name, &setup.url, links, users, Pace::NoPause, &setup.slapd_pid).await?;
    stop.store(true, Ordering::Relaxed);
    let (_, health_p99) = summary("  GET /healthz during that burst", health.await?);
    let (_, form_p99) = summary("  GET the form page during it", form.await?);
    Ok((scored, health_p99, form_p99))
}

fn summary(name: &str, mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let (p50, p99) = (pct(&v, 0.50), pct(&v, 0.99));
    println!(
        "{name:<34} n={:<4} p50 {:>7.1} ms   p99 {:>7.1} ms   max {:>7.1} ms",
        v.len(),
        ms(p50),
        ms(p99),
        ms(*v.last().unwrap_or(&Duration::ZERO))
    );
    (p50, p99)
}

/// CPU cost of the policy pieces of one submit, measured alone on this thread.
/// Returns the CPU of the one-salt history hash and check (what every submit pays).
fn component_costs([legacy, shared]: &[Vec<String>; 2]) -> Res<f64> {
    let policy = Policy::load(&PolicyConfig::default())?;
    let no_history = Policy::load(&PolicyConfig {
        history: 0,
        ..PolicyConfig::default()
    })?;
    let subject = pwresetd::policy::Subject {
        login: "user00001".into(),
        given_name: Some("Test".into()),
        surname: Some("User00001".into()),
        display_name: Some("Test User 00001".into()),
        mail: vec!["user00001@example.org".into()],
    };
    let rounds = 20;
    let time = |f: &dyn Fn() -> Res<()>| -> Res<f64> {
        let t0 = Instant::now();
        for _ in 0..rounds {
            f()?;
        }
        Ok(ms(t0.elapsed()) / f64::from(rounds))
    };
    let pw = Password::new(password(1));
    // What the portal does: hash the candidate for the store, then check with that hash.
    let submit = |p: &Policy, h: &[String]| -> Res<()> {
        let entry = if h.is_empty() {
            None
        } else {
            Some(hash_for_history(&pw, h)?)
        };
        let input = pwresetd::policy::CheckInput {
            password: &pw,
            current: None,
            history: h,
            subject: &subject,
        };
        p.check_with_entry(&input, entry.as_deref())?;
        Ok(())
    };
    let with_legacy = time(&|| submit(&policy, legacy))?;
    let with_shared = time(&|| submit(&policy, shared))?;
    let rules_only = time(&|| submit(&no_history, &[]))?;
    println!(
        "CPU per submit, measured alone: rules without history {rules_only:.1} ms; history hash + check with \
         5 legacy salts {:.1} ms, with one account salt {:.1} ms (x{:.2})",
        with_legacy - rules_only,
        with_shared - rules_only,
        (with_shared - rules_only) / (with_legacy - rules_only)
    );
    Ok(with_shared - rules_only)
}

/// Wall time of each directory operation of a link submit, one at a time (`dn` ends up with a
/// throwaway password; its link still works).
async fn directory_costs(directory: &dyn pwresetd::directory::Directory, dn: &str) -> Res<()> {
    use pwresetd::secret::Secret;
    let rounds = 10;
    let pw = Secret::new(password(9999));
    let mut totals = [Duration::ZERO; 4];
    for _ in 0..rounds {
        let t0 = Instant::now();
        directory.read(dn).await?;
        let t1 = Instant::now();
        directory.is_current_password(dn, &pw).await?;
        let t2 = Instant::now();
        directory.set_password_as_admin(dn, &pw).await?;
        let t3 = Instant::now();
        directory.check_password(dn, &pw).await?;
        let t4 = Instant::now();
        for (total, (a, b)) in totals.iter_mut().zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4)]) {
            *total += b - a;
        }
    }
    let avg = |d: Duration| ms(d) / f64::from(rounds);
    println!(
        "directory, one at a time: read {:.1} ms, is_current_password {:.1} ms, set_password_as_admin {:.1} ms, \
         verification bind {:.1} ms",
        avg(totals[0]),
        avg(totals[1]),
        avg(totals[2]),
        avg(totals[3])
    );
    Ok(())
}

/// Links for the one-user-at-a-time scenario (the latency floor).
const SOLO: usize = 30;

fn main() -> Res<()> {
    let per_scenario = arg("--per-scenario", 200);
    let users = arg("--concurrency", 20);
    let many = arg("--many", 100);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()?;
    println!("load average before: {} ({cores} cores)", load_average());
    runtime.block_on(async {
        // Links: solo, legacy burst, burst, many-users burst, typing, and one for the page probe.
        let legacy = SOLO..SOLO + per_scenario;
        let setup = set_up(SOLO + per_scenario * 4 + 1, legacy).await?;
        let argon2_ms = component_costs(&setup.history)?;
        directory_costs(setup.directory.as_ref(), &setup.probe_dn).await?;
        let (solo, rest) = setup.links.split_at(SOLO);
        let (legacy_links, rest) = rest.split_at(per_scenario);
        let (burst_links, rest) = rest.split_at(per_scenario);
        let (many_links, rest) = rest.split_at(per_scenario);
        let (typing_links, page) = rest.split_at(per_scenario);
        let page = page.first().map(|(link, _)| link.clone()).unwrap_or_default();
        let slapd = setup.slapd_pid.clone();
        let (base_p50, base_p99) = summary("baseline GET /healthz", baseline(&setup.url, users, 50).await?);
        measured("POST submit, one user at a time", &setup.url, solo, 1, Pace::NoPause, &slapd).await?;
        let before_name = format!("POST submit, {users} users, no pause, 5 legacy salts");
        let (before, before_health, _) = burst(&before_name, &setup, legacy_links, users, &page).await?;
        let after_name = format!("POST submit, {users} users, no pause");
        let (after, health, form) = burst(&after_name, &setup, burst_links, users, &page).await?;
        let many_name = format!("POST submit, {many} users, no pause");
        let (at_many, many_health, many_form) = burst(&many_name, &setup, many_links, many, &page).await?;
        let typing_name = format!("POST submit, {users} users, 1-3 s typing");
        let typing = measured(&typing_name, &setup.url, typing_links, users, Pace::Typing, &slapd).await?;
        println!(
            "before/after, {users}-user burst (5 legacy salts -> one account salt): throughput {:.1} -> {:.1}/s (x{:.2}), \
             p50 x{:.2}, p99 x{:.2}; GET /healthz p99 during it {:.1} -> {:.1} ms",
            before.rate,
            after.rate,
            after.rate / before.rate,
            ms(after.p50) / ms(before.p50),
            ms(after.p99) / ms(before.p99),
            ms(before_health),
            ms(health)
        );
        println!(
            "ratio to baseline GET /healthz p50/p99 ({:.2}/{:.2} ms): burst x{:.0}/x{:.0}; typing x{:.0}/x{:.0}",
            ms(base_p50),
            ms(base_p99),
            ms(after.p50) / ms(base_p50),
            ms(after.p99) / ms(base_p99),
            ms(typing.p50) / ms(base_p50),
            ms(typing.p99) / ms(base_p99),
        );
        let met = |ok: bool| if ok { "met" } else { "NOT met" };
        println!(
            "targets: {users}-user burst p99 <= 300 ms {}, >= 100 submits/s {}; GET p99 <= 50 ms under the burst: /healthz {}, form {}",
            met(after.p99 <= Duration::from_millis(300)),
            met(after.rate >= 100.0),
            met(health <= Duration::from_millis(50)),
            met(form <= Duration::from_millis(50)),
        );
        // The burst is CPU-bound: both cores run argon2id, the portal, slapd and the load generator.
        let per_submit = after.cpu_ms + after.slapd_ms;
        let ceiling = cores as f64 * 1000.0 / per_submit;
        let (m, t, p) = pwresetd::policy::HISTORY_PARAMS;
        println!(
            "CPU ceiling on {cores} cores: {cores} x 1000 ms / ({:.1} ms pwresetd+client + {:.1} ms slapd per submit) = \
             {ceiling:.0} submits/s, of which one argon2id history hash (m={m} KiB, t={t}, p={p}) {argon2_ms:.1} ms; \
             measured {:.0}/s = x{:.2} of it (the rest: other processes on the machine, scheduling)",
            after.cpu_ms,
            after.slapd_ms,
            after.rate,
            after.rate / ceiling
        );
        // Rows for scripts/bench-all: figure | baseline measured in this run | ratio.
        let row = |what: String, figure: String, base: String, ratio: f64| {
            println!("table: | {what} | {figure} | {base} | x{ratio:.2} |");
        };
        row(format!("portal: {users}-user burst, submits/s"), format!("{:.0}", after.rate), format!("{:.0} (5 legacy salts)", before.rate), after.rate / before.rate);
        row("portal: CPU per submit (portal + load generator)".into(), format!("{:.1} ms", after.cpu_ms), format!("{:.1} ms (5 legacy salts)", before.cpu_ms), after.cpu_ms / before.cpu_ms);
        row(format!("portal: {users}-user burst, p50 / p99"), format!("{:.0} / {:.0} ms", ms(after.p50), ms(after.p99)), format!("{:.0} / {:.0} ms (5 legacy salts)", ms(before.p50), ms(before.p99)), ms(after.p99) / ms(before.p99));
        row(format!("portal: {users}-user burst, submits/s vs the CPU ceiling"), format!("{:.0}", after.rate), format!("{ceiling:.0} ({cores} cores / {per_submit:.1} ms CPU per submit)"), after.rate / ceiling);
        row(format!("portal: {many}-user burst, submits/s (p50 / p99)"), format!("{:.0} ({:.0} / {:.0} ms)", at_many.rate, ms(at_many.p50), ms(at_many.p99)), format!("{:.0} ({users} users)", after.rate), at_many.rate / after.rate);
        row(format!("portal: GET /healthz p99 during the {users} / {many}-user burst"), format!("{:.1} / {:.1} ms", ms(health), ms(many_health)), format!("{:.2} ms idle", ms(base_p99)), ms(health) / ms(base_p99));
        row(format!("portal: GET form page p99 during the {users} / {many}-user burst"), format!("{:.1} / {:.1} ms", ms(form), ms(many_form)), format!("{:.2} ms idle /healthz", ms(base_p99)), ms(form) / ms(base_p99));
        println!("load average after: {}", load_average());
        Ok(())
    })
}
