//! The helpdesk's account search at 100,000 accounts: the store's trigram index (what
//! `Store::search_accounts` runs) against the full scan it replaced (`LIKE '%text%'` over every
//! row's login, name and mail), in the same run, on the same store file. Prints figures (median
//! of several runs per query, a first page of 26 accounts) and `table:` rows for
//! `scripts/bench-all`; asserts nothing.
//!
//!   cargo bench --bench search -- [--accounts N] [--runs N]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops loudly on any surprise

use std::time::{Duration, Instant};

use chrono::Utc;
use pwresetd::directory::{Account, ScanItem};
use pwresetd::store::{CampaignSpec, Scope, Store};

/// The query the helpdesk ran before the trigram index: every row read and matched.
const FULL_SCAN: &str = "SELECT a.login, a.dn, a.display_name, a.mail, c.name, a.state
     FROM accounts a JOIN campaigns c ON c.id = a.campaign_id
     WHERE a.login LIKE ?1 ESCAPE '\\' OR a.display_name LIKE ?1 ESCAPE '\\' OR a.mail LIKE ?1 ESCAPE '\\'
     ORDER BY lower(coalesce(a.login, '')) != lower(?2), lower(coalesce(a.login, '')), lower(a.dn), a.campaign_id
     LIMIT 26";

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

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut hits = 0;
    let times = (0..runs)
        .map(|_| {
            let start = Instant::now();
            hits = f();
            start.elapsed()
        })
        .collect();
    (median(times), hits)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let n = arg("--accounts", 100_000);
    let runs = arg("--runs", 9);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = Store::open(&path).unwrap();
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
    println!(
        "{n} accounts recorded (index kept by triggers) in {}",
        ms(start.elapsed())
    );
    let raw = rusqlite::Connection::open(&path).unwrap();
    let queries = [
        ("one account (part of a login)", "user054321".to_owned()),
        ("about 100 (part of a mail)", "family123@".to_owned()),
        ("about 7,700 (a mail domain)", "corp3.example".to_owned()),
        ("every account (common text)", "example".to_owned()),
        ("none", "zzqqxx".to_owned()),
    ];
    println!("query                           | trigram index | full scan | hits | ratio");
    for (what, q) in queries {
        let (indexed, hits) = time(runs, || store.search_accounts(&q, 26).unwrap().0.len());
        let like = format!("%{q}%");
        let (scan, scan_hits) = time(runs, || {
            let mut stmt = raw.prepare_cached(FULL_SCAN).unwrap();
            stmt.query_map(rusqlite::params![like, q], |_| Ok(())).unwrap().count()
        });
        assert_eq!(hits, scan_hits, "{what}: both find the same first page");
        let ratio = scan.as_secs_f64() / indexed.as_secs_f64().max(1e-9);
        println!(
            "{what:<31} | {:>13} | {:>9} | {hits:>4} | x{ratio:.1}",
            ms(indexed),
            ms(scan)
        );
        println!(
            "table: | helpdesk search, {n} accounts, {what} | {} | {} (full scan) | x{:.2} |",
            ms(indexed),
            ms(scan),
            1.0 / ratio
        );
    }
}
