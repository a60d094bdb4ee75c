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

mod common;

use common::search::{QUERIES, record, shown, time};
use common::{arg, env_file, pg_config};
use pwresetd::campaign::state::AccountState;
use pwresetd::store::Store;

/// `Store::counts` and `Store::progress` (store/accounts.rs, store/helpdesk.rs).
const COUNTS: &str = "SELECT state, COUNT(*) FROM accounts WHERE campaign_id = $1 GROUP BY state";
const PROGRESS: &str = "SELECT dn, state, completed_at FROM accounts WHERE campaign_id = $1";

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
    let pg = pg_config(&env_file("PWRESETD_BENCH_PG_ENV", "bench-search-pg").unwrap()).unwrap();
    let store = Store::open_postgres(&pg).unwrap();
    let (campaign, took) = record(&store, n).unwrap();
    println!("{n} accounts recorded on PostgreSQL in {}", shown(took));
    let tls = pwresetd::store::tls::connector(&pg).unwrap();
    let mut client = pg.client_config().connect(tls).unwrap();
    // What autovacuum would do a little later: statistics for the planner.
    client.batch_execute("ANALYZE").unwrap();

    for (what, q) in QUERIES {
        let (took, hits) = time(runs, || store.search_accounts(q, 26).unwrap().0.len());
        println!("search {what:<31} {:>10}  hits {hits}", shown(took));
        println!(
            "table: | helpdesk search on PostgreSQL, {n} accounts, {what} | {} | - | - |",
            shown(took)
        );
        // The statement the store ran, with its parameters: 26 accounts and one more, on a
        // store of one campaign.
        let (sql, pattern) = pwresetd::store::pg_search_statement(q);
        explain(&mut client, &format!("search {q:?}"), &sql, &[&pattern, &q, &27_i64]);
    }
    let (counts, _) = time(runs, || store.counts(campaign.id).unwrap());
    let (progress, _) = time(runs, || store.progress(campaign.id).unwrap());
    let marked = store.counts(campaign.id).unwrap()[&AccountState::Marked];
    println!(
        "counts {} (marked {marked}), progress {}",
        shown(counts),
        shown(progress)
    );
    println!(
        "table: | campaign counts / progress on PostgreSQL, {n} accounts | {} / {} | - | - |",
        shown(counts),
        shown(progress)
    );
    explain(&mut client, "counts", COUNTS, &[&campaign.id]);
    explain(&mut client, "progress", PROGRESS, &[&campaign.id]);
}
