//! The helpdesk's account search at 100,000 accounts: the store's trigram index (what
//! `Store::search_accounts` runs) against the full scan it replaced (`LIKE '%text%'` over every
//! row's login, name and mail), in the same run, on the same store file. Prints figures (median
//! of several runs per query, a first page of 26 accounts) and `table:` rows for
//! `scripts/bench-all`; asserts nothing.
//!
//!   cargo bench --bench search -- [--accounts N] [--runs N]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops loudly on any surprise

mod common;

use common::search::{QUERIES, record, shown, time};
use common::{arg, ms};
use pwresetd::store::Store;

/// The query the helpdesk ran before the trigram index: every row read and matched.
const FULL_SCAN: &str = "SELECT a.login, a.dn, a.display_name, a.mail, c.name, a.state
     FROM accounts a JOIN campaigns c ON c.id = a.campaign_id
     WHERE a.login LIKE ?1 ESCAPE '\\' OR a.display_name LIKE ?1 ESCAPE '\\' OR a.mail LIKE ?1 ESCAPE '\\'
     ORDER BY lower(coalesce(a.login, '')) != lower(?2), lower(coalesce(a.login, '')), lower(a.dn), a.campaign_id
     LIMIT 26";

fn main() {
    let n = arg("--accounts", 100_000);
    let runs = arg("--runs", 9);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = Store::open(&path).unwrap();
    let (_, took) = record(&store, n).unwrap();
    println!("{n} accounts recorded (index kept by triggers) in {}", shown(took));
    let raw = rusqlite::Connection::open(&path).unwrap();
    println!("query                           | trigram index | full scan | hits | ratio");
    for (what, q) in QUERIES {
        let (indexed, hits) = time(runs, || store.search_accounts(q, 26).unwrap().0.len());
        let like = format!("%{q}%");
        let (scan, scan_hits) = time(runs, || {
            let mut stmt = raw.prepare_cached(FULL_SCAN).unwrap();
            stmt.query_map(rusqlite::params![like, q], |_| Ok(())).unwrap().count()
        });
        assert_eq!(hits, scan_hits, "{what}: both find the same first page");
        let ratio = ms(scan) / ms(indexed).max(1e-6);
        println!(
            "{what:<31} | {:>13} | {:>9} | {hits:>4} | x{ratio:.1}",
            shown(indexed),
            shown(scan)
        );
        println!(
            "table: | helpdesk search, {n} accounts, {what} | {} | {} (full scan) | x{:.2} |",
            shown(indexed),
            shown(scan),
            1.0 / ratio
        );
    }
}
