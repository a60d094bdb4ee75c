//! The helpdesk's account search and a campaign's progress on PostgreSQL at 100,000 accounts:
//! the time `Store::search_accounts`, `Store::counts` and `Store::progress` take (median of
//! several runs) and the plans PostgreSQL chose, `EXPLAIN (ANALYZE, BUFFERS)`, both the custom
//! plan (parameters known when planning) and the generic one a cached prepared statement may
//! switch to after five runs (the store caches its statements per connection). Driver for
//! `scripts/bench-search-pg`, which starts a private PostgreSQL and points
//! `PWRESETD_BENCH_PG_ENV` at its env file. Prints; asserts nothing.
//!
//!   cargo bench --bench search_pg -- [--accounts N] [--runs N]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops loudly on any surprise

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use pwresetd::campaign::state::AccountState;
use pwresetd::directory::{Account, ScanItem};
use pwresetd::secret::Secret;
use pwresetd::store::config::PgConfig;
use pwresetd::store::{CampaignSpec, Scope, Store};

/// `store::search`'s PostgreSQL query (`PG_SEARCH`, private there), `?N` written `$N`: keep
/// the two alike.
const SEARCH: &str = "SELECT a.login, a.dn, a.display_name, a.mail, c.name, a.state
     FROM accounts a JOIN campaigns c ON c.id = a.campaign_id
     WHERE a.login ILIKE $1 OR a.display_name ILIKE $1 OR pwresetd_mail_text(a.mail) ILIKE $1
     ORDER BY translate(coalesce(a.login, ''), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') COLLATE \"C\"
              != translate($2, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') COLLATE \"C\",
              translate(coalesce(a.login, ''), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') COLLATE \"C\",
              translate(a.dn, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') COLLATE \"C\", a.campaign_id
     LIMIT $3";
/// `Store::counts` and `Store::progress` (store/accounts.rs, store/helpdesk.rs).
const COUNTS: &str = "SELECT state, COUNT(*) FROM accounts WHERE campaign_id = $1 GROUP BY state";
const PROGRESS: &str = "SELECT dn, state, completed_at FROM accounts WHERE campaign_id = $1";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

fn account(i: usize) -> ScanItem {
    ScanItem::InScope(Account {
        dn: format!("uid=user{i:06},ou=people,dc=example,dc=org"),
        login: format!("user{i:06}"),
        mail: vec![format!("first{i}.family{}@corp{}.example", i % 997, i % 13)],
        display_name: Some(format!("First{i} Family{}", i % 997)),
        given_name: None,
        surname: None,
        language: None,
        flagged: false,
        policy: None,
    })
}

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn pg_config() -> PgConfig {
    let path = std::env::var("PWRESETD_BENCH_PG_ENV").expect("PWRESETD_BENCH_PG_ENV: run scripts/bench-search-pg");
    let env: HashMap<String, String> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect();
    let password = Secret::from_file(Path::new(&env["PWRESETD_TEST_PG_PASSWORD_FILE"])).unwrap();
    let ca = env["PWRESETD_TEST_PG_CA"].clone().into();
    PgConfig::new(&env["PWRESETD_TEST_PG_URL"], password, Some(ca), false).unwrap()
}

/// Prints the plan of `sql` with `params`, as a custom and as a generic plan.
fn explain(client: &mut postgres::Client, what: &str, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) {
    for mode in ["force_custom_plan", "force_generic_plan"] {
        client.batch_execute(&format!("SET plan_cache_mode = {mode}")).unwrap();
        let stmt = client.prepare(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}")).unwrap();
        println!("--- {what}: {mode}");
        for row in client.query(&stmt, params).unwrap() {
            println!("    {}", row.get::<_, String>(0));
        }
    }
    client.batch_execute("RESET plan_cache_mode").unwrap();
}

fn main() {
    let n = arg("--accounts", 100_000);
    let runs = arg("--runs", 9);
    let pg = pg_config();
    let store = Store::open_postgres(&pg).unwrap();
    let spec = CampaignSpec {
        name: "bench".into(),
        reason: "bench".into(),
        deadline: Utc::now() + chrono::Duration::days(7),
        scope: Scope {
            flavor: "openldap".into(),
            base_dn: "ou=people,dc=example,dc=org".into(),
            user_filter: "(objectClass=inetOrgPerson)".into(),
            exclude_filter: None,
            login_attribute: "uid".into(),
        },
    };
    let (campaign, _) = store.create_or_resume(&spec, "bench").unwrap();
    let start = Instant::now();
    let items: Vec<ScanItem> = (0..n).map(account).collect();
    for chunk in items.chunks(1000) {
        store.insert_scanned(campaign.id, chunk).unwrap();
    }
    println!("{n} accounts recorded on PostgreSQL in {}", ms(start.elapsed()));
    let tls = pwresetd::store::tls::connector(&pg).unwrap();
    let mut client = pg.client_config().connect(tls).unwrap();
    // What autovacuum would do a little later: statistics for the planner.
    client.batch_execute("ANALYZE").unwrap();

    let queries = [
        ("one account (part of a login)", "user054321"),
        ("about 100 (part of a mail)", "family123@"),
        ("about 7,700 (a mail domain)", "corp3.example"),
        ("every account (common text)", "example"),
        ("none", "zzqqxx"),
    ];
    for (what, q) in queries {
        let hits = store.search_accounts(q, 26).unwrap().0.len();
        let took = median(runs, || drop(store.search_accounts(q, 26).unwrap()));
        println!("search {what:<31} {:>10}  hits {hits}", ms(took));
        println!(
            "table: | helpdesk search on PostgreSQL, {n} accounts, {what} | {} | - | - |",
            ms(took)
        );
        let pattern = format!("%{q}%");
        explain(&mut client, &format!("search {q:?}"), SEARCH, &[&pattern, &q, &27_i64]);
    }
    let counts = median(runs, || drop(store.counts(campaign.id).unwrap()));
    let progress = median(runs, || drop(store.progress(campaign.id).unwrap()));
    let marked = store.counts(campaign.id).unwrap()[&AccountState::Marked];
    println!("counts {} (marked {marked}), progress {}", ms(counts), ms(progress));
    println!(
        "table: | campaign counts / progress on PostgreSQL, {n} accounts | {} / {} | - | - |",
        ms(counts),
        ms(progress)
    );
    explain(&mut client, "counts", COUNTS, &[&campaign.id]);
    explain(&mut client, "progress", PROGRESS, &[&campaign.id]);
}
