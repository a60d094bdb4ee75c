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

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::portal::{Link, Pace, csrf, directory_toml, flag, prefill, scenario};
use common::{Res, arg, cpu_seconds, env_file, load_average, ms, pct, pg_config};
use pwresetd::directory::{self, ScanItem};
use pwresetd::store::Store;
use pwresetd::store::config::PgConfig;

fn free_port() -> Res<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A whole `pwresetd.toml` on `store` (its `[store]` lines), the portal on `portal`.
fn config_text(ldap: &HashMap<String, String>, store: &str, portal: u16, work: &Path) -> Res<String> {
    Ok(format!(
        "{}\n[store]\n{store}\n\n[portal]\nlisten = \"127.0.0.1:{portal}\"\n\
         public_url = \"http://127.0.0.1:{portal}\"\nrate_limit_per_address = 100000\nrate_limit_per_account = 100\n\n\
         [daemon]\nadmin_listen = \"127.0.0.1:{}\"\nreconcile_interval = \"1h\"\n\n\
         [mail]\ntransport = \"file\"\nspool_dir = \"{}\"\nfrom = \"IT Security <it-security@example.org>\"\n",
        directory_toml(ldap),
        free_port()?,
        work.join(format!("spool-{portal}")).display(),
    ))
}

/// Flags `user{range}` in the directory of `config`; the scan items a campaign records for them.
async fn flag_with(config: &Path, range: std::ops::Range<usize>) -> Res<Vec<ScanItem>> {
    let config = pwresetd::daemon::config::load(config)?;
    let directory = directory::connect(&config.directory)?;
    flag(directory.as_ref(), range).await
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
    let mut latencies = scenario(&urls, links, users, Pace::NoPause).await?;
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

/// The `[store]` lines for the private PostgreSQL, its settings, and the store opened on it.
fn postgres(pg: &HashMap<String, String>) -> Res<(String, PgConfig, Store)> {
    let config = pg_config(pg)?;
    let lines = format!(
        "url = \"{}\"\npassword_file = \"{}\"\nca_file = \"{}\"",
        pg["PWRESETD_TEST_PG_URL"], pg["PWRESETD_TEST_PG_PASSWORD_FILE"], pg["PWRESETD_TEST_PG_CA"]
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
    let script = "bench-portal-ha";
    let (ldap, pg) = (
        env_file("PWRESETD_TEST_SLAPD_ENV", script)?,
        env_file("PWRESETD_BENCH_PG_ENV", script)?,
    );
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
    let items = runtime.block_on(flag_with(&a_config, 0..per * 6 * rounds))?;
    let (mut a_items, mut pg_items) = (Vec::new(), Vec::new());
    for chunk in items.chunks(per * 6) {
        a_items.extend_from_slice(&chunk[..per * 2]);
        pg_items.extend_from_slice(&chunk[per * 2..]);
    }
    let base = &ldap["LDAP_PEOPLE_DN"];
    let (a_links, _) = prefill(&Store::open(&work.path().join("state.db"))?, base, &a_items, 0..0)?;
    let (pg_lines, pg_config, pg_store) = postgres(&pg)?;
    let (pg_links, _) = prefill(&pg_store, base, &pg_items, 0..0)?;
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
