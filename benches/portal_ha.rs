//! Portal submits on one `pwresetd serve` with a SQLite store (A) against two `serve` processes
//! sharing one PostgreSQL store (B), users spread over the pair as a load balancer would, plus
//! one instance of that pair alone (C: what PostgreSQL costs, apart from running two processes).
//! Driver for `scripts/bench-portal-ha`, which starts a private slapd and PostgreSQL and points
//! `PWRESETD_TEST_SLAPD_ENV` / `PWRESETD_BENCH_PG_ENV` at their env files.
//!
//! Set-up, the same for every store: the accounts flagged with `pwdReset`, 5 earlier campaigns
//! completed through the store API (5 history hashes per account, one account salt), an active
//! campaign with one link per account, the default policy (history 5). Each setup has its own
//! accounts. The daemons are the release binary cargo built beside this bench, real processes
//! answering real HTTP; the rate limit per address is raised (every user comes from 127.0.0.1).
//!
//! Load: virtual users, each with its own cookie jar, take the next link, GET the form, POST the
//! new password at once (timed): a 20-user and a 100-user burst per setup, in the order A, B, C.
//! User `u` goes to instance `u % n`: sticky per user, round robin over users.
//! Printed: submits/s, p50/p99, CPU per submit of each process (from /proc), B/A ratios and
//! `table:` rows for scripts/bench-all. Nothing is asserted but that every submit succeeded.
//!
//! Usage: cargo bench --bench portal_ha -- [--per-scenario N] [--rounds N] [--concurrency N] [--many N]
//! (`--rounds`: the six bursts again on fresh accounts, interleaved; the ratios are of the medians).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use pwresetd::campaign::state::{AccountState, Via};
use pwresetd::directory::{self, ScanItem};
use pwresetd::policy::{Password, hash_for_history};
use pwresetd::secret::Secret;
use pwresetd::store::config::PgConfig;
use pwresetd::store::{AuditEntry, CampaignSpec, Completion, MailOutcome, Scope, Store};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A link and the new password its user types.
type Link = (String, String);

const WORDS: [&str; 24] = [
    "violet", "tractor", "umbrella", "quantum", "marble", "kettle", "horizon", "saffron", "glacier", "pepper",
    "lantern", "orchid", "canyon", "biscuit", "falcon", "meadow", "copper", "walrus", "thimble", "nebula", "juniper",
    "anchor", "velvet", "cobalt",
];

fn password(i: usize) -> String {
    let w = |k: usize| WORDS[(i * 7 + k * 5 + k * k) % WORDS.len()];
    format!("{} {} {} {} {}", w(1), w(2), w(3), 100 + i, w(4))
}

/// `KEY=value` lines of a fixture's env file (the path is in the variable `var`).
fn env_file(var: &str) -> Res<HashMap<String, String>> {
    let path = std::env::var(var).map_err(|_| format!("{var} is not set: run scripts/bench-portal-ha"))?;
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('\'').to_owned()))
        .collect())
}

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A whole `pwresetd.toml` on `store` (its `[store]` lines), the portal on `portal`.
fn config_text(ldap: &HashMap<String, String>, store: &str, portal: u16, work: &Path) -> Res<String> {
    Ok(format!(
        "[directory]\nurl = \"{}\"\nca_file = \"{}\"\nbind_dn = \"{}\"\nbind_password_file = \"{}\"\n\
         base_dn = \"{}\"\nuser_filter = \"(uid=user*)\"\ndefault_policy_dn = \"{}\"\nmax_concurrency = 32\n\
         connections = 4\n\n[store]\n{store}\n\n[portal]\nlisten = \"127.0.0.1:{portal}\"\n\
         public_url = \"http://127.0.0.1:{portal}\"\nrate_limit_per_address = 100000\nrate_limit_per_account = 100\n\n\
         [daemon]\nadmin_listen = \"127.0.0.1:{}\"\nreconcile_interval = \"1h\"\n\n\
         [mail]\ntransport = \"file\"\nspool_dir = \"{}\"\nfrom = \"IT Security <it-security@example.org>\"\n",
        ldap["LDAP_URL"],
        ldap["LDAP_CA_FILE"],
        ldap["LDAP_BIND_DN"],
        ldap["LDAP_BIND_PASSWORD_FILE"],
        ldap["LDAP_PEOPLE_DN"],
        ldap["LDAP_POLICY_DN"],
        free_port()?,
        work.join(format!("spool-{portal}")).display(),
    ))
}

/// Flags `user{range}` in the directory; the scan items a campaign records for them.
async fn flag(config: &Path, range: std::ops::Range<usize>) -> Res<Vec<ScanItem>> {
    let config = pwresetd::daemon::config::load(config)?;
    let directory = directory::connect(&config.directory)?;
    let mut items = Vec::new();
    for i in range {
        let login = format!("user{i:05}");
        let details = directory
            .find_by_login(&login)
            .await?
            .ok_or_else(|| format!("{login} is missing: start slapd with more --users"))?;
        directory.mark(&details.account.dn).await?;
        let mut account = details.account;
        account.flagged = true; // read before marking
        items.push(ScanItem::InScope(account));
    }
    Ok(items)
}

fn campaign(store: &Store, name: &str, base: &str, items: &[ScanItem]) -> Res<i64> {
    let spec = CampaignSpec {
        name: name.into(),
        reason: "benchmark".into(),
        deadline: Utc::now() + chrono::Duration::days(7),
        scope: Scope {
            flavor: "openldap".into(),
            base_dn: base.into(),
            user_filter: "(uid=user*)".into(),
            exclude_filter: None,
            login_attribute: "uid".into(),
        },
    };
    let (c, _) = store.create_or_resume(&spec, "bench")?;
    store.insert_scanned(c.id, items)?;
    Ok(c.id)
}

/// Five earlier campaigns completed (5 history hashes per account), then the benchmark's
/// campaign with one link per account, written through the store API; the links in account
/// order. Blocking: called off the async runtime (PostgreSQL's client must not run on it).
fn prefill(store: &Store, base: &str, items: &[ScanItem]) -> Res<Vec<Link>> {
    let mut history: Vec<String> = Vec::new();
    for k in 0..5 {
        let entry = hash_for_history(&Password::new(format!("retired password number {k}")), &history)?;
        history.insert(0, entry);
    }
    history.reverse(); // oldest first: inserted in that order below
    for (k, phc) in history.iter().enumerate() {
        let id = campaign(store, &format!("earlier-{k}"), base, items)?;
        for record in store.accounts_in_state(id, AccountState::Marked, 1_000_000)? {
            let audit = AuditEntry {
                at: Utc::now(),
                actor: "bench".into(),
                action: "password.changed".into(),
                campaign: Some(record.campaign.clone()),
                account: record.login.clone(),
                detail: None,
            };
            let completion = Completion {
                account_id: record.id,
                via: Via::Portal,
                token_hash: None,
                history: Some((phc, 5)),
                audit,
            };
            store.complete(&completion)?.map_err(|e| format!("prefill: {e}"))?;
        }
    }
    let id = campaign(store, "bench", base, items)?;
    let mut records = store.accounts_in_state(id, AccountState::Marked, 1_000_000)?;
    records.sort_by(|a, b| a.login.cmp(&b.login));
    let mut links = Vec::new();
    for (i, record) in records.into_iter().enumerate() {
        let issued = pwresetd::token::issue()?;
        let expires = Utc::now() + chrono::Duration::hours(2);
        let mail = store.begin_mail(record.id, "notice", 0, "x@example.org", Some((&issued.hash, expires)))?;
        let sent = MailOutcome::Sent {
            message_id: format!("<{i}@bench>"),
        };
        store.finish_mail(mail, &sent, Some(&issued.hash))?;
        if store.password_history(&record.dn, 5)?.len() != 5 {
            return Err(format!("{}: not 5 history entries after the prefill", record.dn).into());
        }
        links.push((issued.token.expose().to_owned(), password(i)));
    }
    Ok(links)
}

/// A `pwresetd serve` of this bench (killed on drop).
struct Daemon {
    child: Child,
    url: String,
}

impl Daemon {
    fn start(config: &Path, portal: u16) -> Res<Daemon> {
        let log = std::fs::File::create(config.with_extension("log"))?;
        let child = Command::new(env!("CARGO_BIN_EXE_pwresetd"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("PWRESETD_CONFIG")
            .env_remove("PWRESETD_LOG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        Ok(Daemon {
            child,
            url: format!("http://127.0.0.1:{portal}"),
        })
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until every daemon answers `/healthz`, then until none burns CPU: the first
/// reconciliation pass of the campaigns (one directory read per account) must not overlap the
/// measurements.
async fn settle(daemons: &[&Daemon]) -> Res<()> {
    let client = reqwest::Client::new();
    for d in daemons {
        let started = Instant::now();
        while !client
            .get(format!("{}/healthz", d.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            if started.elapsed() > Duration::from_secs(60) {
                return Err(format!("{} did not answer within 60 s (see its .log beside its config)", d.url).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let pids: Vec<String> = daemons.iter().map(|d| d.pid()).collect();
    let busy = || pids.iter().map(|p| cpu_seconds(p)).sum::<f64>();
    let (mut quiet, started) = (0, Instant::now());
    while quiet < 2 && started.elapsed() < Duration::from_secs(120) {
        let before = busy();
        tokio::time::sleep(Duration::from_millis(500)).await;
        quiet = if busy() - before < 0.03 { quiet + 1 } else { 0 };
    }
    Ok(())
}

fn csrf(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[start..start + html[start..].find('"')?].to_owned())
}

/// One person: GET the link's form, POST the password at once; the POST's latency.
async fn one_change(url: &str, (link, password): &Link) -> Res<Duration> {
    let client = reqwest::Client::builder().cookie_store(true).build()?;
    let form_url = format!("{url}/reset/{link}");
    let page = client.get(&form_url).send().await?.text().await?;
    let token = csrf(&page).ok_or("no csrf field on the form")?;
    let fields = [
        ("csrf", token.as_str()),
        ("new_password", password.as_str()),
        ("confirm_password", password.as_str()),
    ];
    let t0 = Instant::now();
    let response = client.post(&form_url).form(&fields).send().await?;
    let status = response.status();
    let _ = response.bytes().await?;
    let took = t0.elapsed();
    if status != 200 {
        return Err(format!("submit on {url} answered {status}").into());
    }
    Ok(took)
}

/// `users` virtual users, user `u` on `urls[u % urls.len()]`, share `links`; the latencies.
async fn burst(urls: &[String], links: &[Link], users: usize) -> Res<Vec<Duration>> {
    let links = Arc::new(links.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for u in 0..users {
        let (links, next, url) = (links.clone(), next.clone(), urls[u % urls.len()].clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while let Some(link) = links.get(next.fetch_add(1, Ordering::Relaxed)) {
                out.push(one_change(&url, link).await.map_err(|e| e.to_string())?);
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

/// `users` concurrent GETs of form pages on each of `urls` (their links stay unused): the
/// first requests after start-up open PostgreSQL connections (TLS, SCRAM), which is start-up
/// cost, not the steady state measured here.
async fn warm(urls: &[String], links: &[Link], users: usize) -> Res<()> {
    let mut tasks = Vec::new();
    for url in urls {
        for (link, _) in links.iter().take(users) {
            let form_url = format!("{url}/reset/{link}");
            tasks.push(tokio::spawn(async move {
                let page = reqwest::get(&form_url).await?.text().await?;
                csrf(&page).map(drop).ok_or("no csrf field on the form")?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
            }));
        }
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// CPU seconds (user + system) used so far by process `pid` ("self" for this one).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may contain spaces): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<f64> = rest.split_whitespace().map(|f| f.parse().unwrap_or(0.0)).collect();
    let ticks = fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0);
    ticks / 100.0 // USER_HZ is 100 on Linux
}

/// CPU seconds of the postmaster `pid` and its backends (children; ended ones not counted).
fn pg_cpu_seconds(pid: &str) -> f64 {
    let children: f64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            rest.split_whitespace().nth(1) == Some(pid)
        })
        .map(|p| cpu_seconds(&p))
        .sum();
    children + cpu_seconds(pid)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The processes whose CPU a scenario reports, and the database whose sessions it samples.
struct Watched {
    serve: Vec<String>,
    slapd: String,
    postmaster: String,
    pg: PgConfig,
}

/// What PostgreSQL's sessions (not idle) are doing, sampled every 50 ms until `stop`: per
/// state or wait event, the average number of sessions in it (a queue on the store's write
/// lock shows as `Lock:advisory`). The sampling costs PostgreSQL a little CPU, counted in its
/// figure.
fn sample_sessions(pg: PgConfig, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let client = pwresetd::store::tls::connector(&pg)
            .ok()
            .and_then(|tls| pg.client_config().connect(tls).ok());
        let Some(mut client) = client else {
            return "(could not connect)".to_owned();
        };
        let sql = "SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'running') \
                   ELSE state END FROM pg_stat_activity \
                   WHERE datname = current_database() AND state <> 'idle' AND pid <> pg_backend_pid()";
        let (mut seen, mut samples) = (std::collections::BTreeMap::<String, usize>::new(), 0);
        while !stop.load(Ordering::Relaxed) {
            for row in client.query(sql, &[]).unwrap_or_default() {
                *seen.entry(row.get(0)).or_default() += 1;
            }
            samples += 1;
            std::thread::sleep(Duration::from_millis(50));
        }
        let parts: Vec<String> = seen
            .iter()
            .map(|(what, n)| format!("{what} {:.1}", *n as f64 / f64::from(samples.max(1))))
            .collect();
        if parts.is_empty() {
            "none".to_owned()
        } else {
            parts.join(", ")
        }
    })
}

impl Watched {
    /// serve processes…, slapd, PostgreSQL (all backends), this load generator.
    fn sample(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self.serve.iter().map(|p| cpu_seconds(p)).collect();
        v.extend([
            cpu_seconds(&self.slapd),
            pg_cpu_seconds(&self.postmaster),
            cpu_seconds("self"),
        ]);
        v
    }
}

/// One scenario's figures.
#[derive(Clone, Copy)]
struct Scored {
    p50: Duration,
    p99: Duration,
    rate: f64,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs one burst against `daemons` and prints its figures with the CPU each process spent.
async fn measured(name: &str, daemons: &[&Daemon], watched: &Watched, links: &[Link], users: usize) -> Res<Scored> {
    let urls: Vec<String> = daemons.iter().map(|d| d.url.clone()).collect();
    let watched = Watched {
        serve: daemons.iter().map(|d| d.pid()).collect(),
        slapd: watched.slapd.clone(),
        postmaster: watched.postmaster.clone(),
        pg: watched.pg.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let sessions = sample_sessions(watched.pg.clone(), stop.clone());
    let (before, t0) = (watched.sample(), Instant::now());
    let mut latencies = burst(&urls, links, users).await?;
    let wall = t0.elapsed().as_secs_f64();
    let cpu: Vec<f64> = watched.sample().iter().zip(&before).map(|(a, b)| a - b).collect();
    stop.store(true, Ordering::Relaxed);
    let sessions = sessions.join().unwrap_or_default();
    latencies.sort();
    let n = latencies.len() as f64;
    let scored = Scored {
        p50: pct(&latencies, 0.50),
        p99: pct(&latencies, 0.99),
        rate: n / wall,
    };
    let per = |s: f64| s * 1000.0 / n;
    let serve: Vec<String> = cpu[..daemons.len()].iter().map(|s| format!("{:.1}", per(*s))).collect();
    let tail = &cpu[daemons.len()..];
    let servers = cpu[..daemons.len() + 2].iter().sum::<f64>();
    println!(
        "{name:<44} n={n:<4} {:>6.1} submits/s  p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
        scored.rate,
        ms(scored.p50),
        ms(scored.p99),
        ms(*latencies.last().unwrap_or(&Duration::ZERO))
    );
    println!(
        "{:<44} CPU ms per submit: serve {}, slapd {:.1}, PostgreSQL {:.1} (servers {:.1}), load generator {:.1}",
        "",
        serve.join(" + "),
        per(tail[0]),
        per(tail[1]),
        per(servers),
        per(tail[2])
    );
    println!("{:<44} PostgreSQL sessions on average: {sessions}", "");
    Ok(scored)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The `[store]` lines for the private PostgreSQL, its settings, and the store opened on it.
fn postgres(pg: &HashMap<String, String>) -> Res<(String, PgConfig, Store)> {
    let password = Secret::from_file(Path::new(&pg["PWRESETD_TEST_PG_PASSWORD_FILE"]))?;
    let ca = pg["PWRESETD_TEST_PG_CA"].clone();
    let config = PgConfig::new(&pg["PWRESETD_TEST_PG_URL"], password, Some(ca.clone().into()), false)?;
    let lines = format!(
        "url = \"{}\"\npassword_file = \"{}\"\nca_file = \"{ca}\"",
        pg["PWRESETD_TEST_PG_URL"], pg["PWRESETD_TEST_PG_PASSWORD_FILE"]
    );
    let store = Store::open_postgres(&config)?;
    Ok((lines, config, store))
}

/// The three set-ups, their links (A: 2 bursts per round; B then C: 4 per round) and what
/// a scenario reports.
struct Bench {
    a: Daemon,
    pair: [Daemon; 2],
    a_links: Vec<Link>,
    pg_links: Vec<Link>,
    watched: Watched,
    per: usize,
}

impl Bench {
    /// Round `round`: a `few`- and a `many`-user burst on A, B and C, in turn.
    async fn round(&self, round: usize, few: usize, many: usize) -> Res<Vec<Row>> {
        let per = self.per;
        let a_links = self.a_links[round * 2 * per..].chunks(per);
        let pg_links: Vec<&[Link]> = self.pg_links[round * 4 * per..].chunks(per).take(4).collect();
        let (a, b, c) = (
            &[&self.a][..],
            &[&self.pair[0], &self.pair[1]][..],
            &[&self.pair[0]][..],
        );
        let mut rows = Vec::new();
        for ((users, a_links), (b_links, c_links)) in [few, many]
            .into_iter()
            .zip(a_links)
            .zip([(pg_links[0], pg_links[2]), (pg_links[1], pg_links[3])])
        {
            let name = |what: &str| format!("{what}, {users} users, round {}", round + 1);
            let sa = measured(&name("A 1 x serve, SQLite"), a, &self.watched, a_links, users).await?;
            let sb = measured(&name("B 2 x serve, PostgreSQL"), b, &self.watched, b_links, users).await?;
            let sc = measured(&name("C 1 x serve, PostgreSQL"), c, &self.watched, c_links, users).await?;
            rows.push((users, sa, sb, sc));
        }
        Ok(rows)
    }
}

/// One burst size's figures in one round: users, A, B, C.
type Row = (usize, Scored, Scored, Scored);

fn main() -> Res<()> {
    let (per, rounds) = (arg("--per-scenario", 200), arg("--rounds", 1).max(1));
    let (few, many) = (arg("--concurrency", 20), arg("--many", 100));
    let (ldap, pg) = (env_file("PWRESETD_TEST_SLAPD_ENV")?, env_file("PWRESETD_BENCH_PG_ENV")?);
    let work = tempfile::tempdir()?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!("load average before: {} ({cores} cores)", load_average());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()?;

    // Accounts, per round: A's two bursts, then B's two and C's two (B and C share one store).
    let started = Instant::now();
    let a_port = free_port()?;
    let a_config = work.path().join("a.toml");
    let sqlite = format!("path = \"{}\"", work.path().join("state.db").display());
    std::fs::write(&a_config, config_text(&ldap, &sqlite, a_port, work.path())?)?;
    let items = runtime.block_on(flag(&a_config, 0..per * 6 * rounds))?;
    let (mut a_items, mut pg_items) = (Vec::new(), Vec::new());
    for chunk in items.chunks(per * 6) {
        a_items.extend_from_slice(&chunk[..per * 2]);
        pg_items.extend_from_slice(&chunk[per * 2..]);
    }
    let base = &ldap["LDAP_PEOPLE_DN"];
    let a_links = prefill(&Store::open(&work.path().join("state.db"))?, base, &a_items)?;
    let (pg_lines, pg_config, pg_store) = postgres(&pg)?;
    let pg_links = prefill(&pg_store, base, &pg_items)?;
    drop(pg_store);
    eprintln!(
        "set-up: {} accounts flagged, 5 history hashes each, a link each, in {:.1}s",
        items.len(),
        started.elapsed().as_secs_f64()
    );

    let a = Daemon::start(&a_config, a_port)?;
    let mut pair = Vec::new();
    for name in ["b1", "b2"] {
        let (port, config) = (free_port()?, work.path().join(format!("{name}.toml")));
        std::fs::write(&config, config_text(&ldap, &pg_lines, port, work.path())?)?;
        pair.push(Daemon::start(&config, port)?);
    }
    let pair: [Daemon; 2] = pair.try_into().map_err(|_| "two daemons")?;
    let watched = Watched {
        serve: Vec::new(),
        slapd: std::fs::read_to_string(&ldap["SLAPD_PID_FILE"])?.trim().to_owned(),
        postmaster: postmaster(&pg)?,
        pg: pg_config,
    };
    let bench = Bench {
        a,
        pair,
        a_links,
        pg_links,
        watched,
        per,
    };
    runtime.block_on(async {
        settle(&[&bench.a, &bench.pair[0], &bench.pair[1]]).await?;
        let pair: Vec<String> = bench.pair.iter().map(|d| d.url.clone()).collect();
        for offset in [0, per] {
            warm(std::slice::from_ref(&bench.a.url), &bench.a_links[offset..], many).await?;
            warm(&pair, &bench.pg_links[offset..], many).await?;
        }
        let mut rows = Vec::new();
        for round in 0..rounds {
            rows.extend(bench.round(round, few, many).await?);
        }
        report(&rows, rounds);
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })?;
    println!("load average after: {}", load_average());
    Ok(())
}

/// The postmaster's pid, from its pid file.
fn postmaster(pg: &HashMap<String, String>) -> Res<String> {
    let pidfile = Path::new(&pg["PWRESETD_TEST_PG_DIR"]).join("data/postmaster.pid");
    let text = std::fs::read_to_string(pidfile)?;
    Ok(text.lines().next().unwrap_or_default().trim().to_owned())
}

/// The median of each figure over `scores` (one per round).
fn median(scores: &[Scored]) -> Scored {
    let mid = |f: &dyn Fn(&Scored) -> f64| {
        let mut v: Vec<f64> = scores.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Scored {
        p50: Duration::from_secs_f64(mid(&|s| s.p50.as_secs_f64())),
        p99: Duration::from_secs_f64(mid(&|s| s.p99.as_secs_f64())),
        rate: mid(&|s| s.rate),
    }
}

/// The ratios and the `table:` rows: B (and C) against A, per burst size, each figure the
/// median over the rounds.
fn report(rows: &[Row], rounds: usize) {
    let fig = |s: &Scored| format!("{:.0}/s, p50 {:.0} ms, p99 {:.0} ms", s.rate, ms(s.p50), ms(s.p99));
    let mut sizes: Vec<usize> = rows.iter().map(|r| r.0).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let of = |users: usize, pick: &dyn Fn(&Row) -> Scored| {
        let v: Vec<Scored> = rows.iter().filter(|r| r.0 == users).map(pick).collect();
        median(&v)
    };
    let medians: Vec<Row> = sizes
        .iter()
        .map(|&u| (u, of(u, &|r| r.1), of(u, &|r| r.2), of(u, &|r| r.3)))
        .collect();
    let over = if rounds > 1 {
        format!(", median of {rounds} rounds")
    } else {
        String::new()
    };
    for (users, a, b, c) in &medians {
        println!(
            "ratio B/A at {users} users{over}: submits/s x{:.2}, p50 x{:.2}, p99 x{:.2}   (C/A: x{:.2}, x{:.2}, x{:.2})",
            b.rate / a.rate,
            ms(b.p50) / ms(a.p50),
            ms(b.p99) / ms(a.p99),
            c.rate / a.rate,
            ms(c.p50) / ms(a.p50),
            ms(c.p99) / ms(a.p99),
        );
    }
    for (users, a, b, c) in &medians {
        let base = format!("{} (1 serve, SQLite)", fig(a));
        for (what, s) in [("2 serve on one PostgreSQL", b), ("1 serve on PostgreSQL", c)] {
            println!(
                "table: | portal HA: {users}-user burst, {what}{over} | {} | {base} | x{:.2} submits/s, x{:.2} p99 |",
                fig(s),
                s.rate / a.rate,
                ms(s.p99) / ms(a.p99)
            );
        }
    }
}
