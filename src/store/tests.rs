use super::*;
use crate::campaign::scope::{Account, ExclusionReason, ScanItem};
use crate::campaign::state::AccountState;

pub(super) fn spec(name: &str) -> CampaignSpec {
    CampaignSpec {
        name: name.into(),
        reason: "Targeted intrusion".into(),
        deadline: DateTime::parse_from_rfc3339("2026-12-04T17:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
        scope: Scope {
            flavor: "openldap".into(),
            base_dn: "ou=people,dc=example,dc=org".into(),
            user_filter: "(objectClass=inetOrgPerson)".into(),
            exclude_filter: None,
            login_attribute: "uid".into(),
        },
    }
}

pub(super) fn account(login: &str, flagged: bool) -> ScanItem {
    ScanItem::InScope(Account {
        dn: format!("uid={login},ou=people,dc=example,dc=org"),
        login: login.into(),
        mail: vec![format!("{login}@example.org")],
        display_name: Some(login.to_uppercase()),
        given_name: None,
        surname: None,
        language: None,
        flagged,
        policy: None,
    })
}

/// Where a test's store lives: a temp dir (SQLite), or a database of its own on the test
/// PostgreSQL (`PWRESETD_TEST_PG_URL`), dropped after the test. Tests run in parallel.
pub(super) enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres(Box<pg_test::Database>),
}

impl TestDb {
    /// Another store on the same database: another process's connections.
    pub(super) fn reopen(&self) -> Store {
        match self {
            TestDb::Sqlite(dir) => Store::open(&dir.path().join("state.db")).unwrap(),
            TestDb::Postgres(db) => db.open(),
        }
    }
}

thread_local! {
    static ON_POSTGRES: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A store for one test, on the backend the test runs on (see [`on_both_backends`]).
pub(super) fn open() -> (TestDb, Store) {
    let db = if ON_POSTGRES.get() {
        TestDb::Postgres(Box::new(pg_test::Database::create()))
    } else {
        TestDb::Sqlite(tempfile::tempdir().unwrap())
    };
    let store = db.reopen();
    (db, store)
}

/// Runs `test` on PostgreSQL; without `PWRESETD_TEST_PG_URL` it is skipped, unless
/// `PWRESETD_REQUIRE_PG=1` (scripts/test) makes that a failure.
pub(super) fn on_postgres(test: fn()) {
    if std::env::var_os(pg_test::URL_VAR).is_none() {
        assert!(
            std::env::var("PWRESETD_REQUIRE_PG").as_deref() != Ok("1"),
            "PWRESETD_REQUIRE_PG=1 but {} is not set",
            pg_test::URL_VAR
        );
        eprintln!("skipped: {} is not set", pg_test::URL_VAR);
        return;
    }
    ON_POSTGRES.set(true);
    test();
}

/// `on_both_backends!(a, b)`: the test functions `a` and `b` (no `#[test]` of their own) run
/// as `sqlite::a` and `postgres::a`, …
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $name() { super::$name() } )*
        }
        mod postgres {
            $( #[test] fn $name() { $crate::store::tests::on_postgres(super::$name) } )*
        }
    };
}
pub(super) use on_both_backends;

pub(super) mod pg_test {
    //! A database of its own per test on the test server (scripts/pg-start's variables).
    use std::path::{Path, PathBuf};

    use crate::secret::Secret;
    use crate::store::config::PgConfig;

    pub const URL_VAR: &str = "PWRESETD_TEST_PG_URL";

    pub struct Database {
        admin: PgConfig,
        pub config: PgConfig,
        name: String,
    }

    /// The server's URL with `database`, as PgConfig validates it (TLS verified against
    /// PWRESETD_TEST_PG_CA; without one, the URL must say sslmode=disable).
    fn config(database: Option<&str>) -> PgConfig {
        let mut url = url::Url::parse(&std::env::var(URL_VAR).unwrap()).unwrap();
        if let Some(database) = database {
            url.set_path(&format!("/{database}"));
        }
        let password = std::env::var("PWRESETD_TEST_PG_PASSWORD_FILE").unwrap();
        let password = Secret::from_file(Path::new(&password)).unwrap();
        let ca = std::env::var_os("PWRESETD_TEST_PG_CA").map(PathBuf::from);
        let insecure = ca.is_none();
        PgConfig::new(url.as_str(), password, ca, insecure).unwrap()
    }

    fn client(pg: &PgConfig) -> postgres::Client {
        let tls = crate::store::tls::connector(pg).unwrap();
        pg.client_config()
            .connect(tls)
            .unwrap_or_else(|e| panic!("{}: {e}", pg.url))
    }

    impl Database {
        pub fn create() -> Database {
            let admin = config(None);
            let name = format!("pwresetd_test_{:016x}", rand::random::<u64>());
            client(&admin)
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
            Database {
                admin,
                config: config(Some(&name)),
                name,
            }
        }

        pub fn open(&self) -> super::Store {
            super::Store::open_postgres(&self.config).unwrap()
        }
    }

    impl Drop for Database {
        fn drop(&mut self) {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            if let Err(e) = client(&self.admin).batch_execute(&drop) {
                eprintln!("{drop}: {e}");
            }
        }
    }
}

fn create_resume_and_mismatch() {
    let (_d, store) = open();
    let (c, o) = store.create_or_resume(&spec("a"), "test").unwrap();
    assert_eq!(o, Opened::Created);
    let (c2, o2) = store.create_or_resume(&spec("a"), "test").unwrap();
    assert_eq!((o2, c2.id), (Opened::Resumed, c.id));
    let mut other = spec("a");
    other.reason = "Other".into();
    other.scope.exclude_filter = Some("(employeeType=service)".into());
    match store.create_or_resume(&other, "test") {
        Err(StoreError::CampaignMismatch { differences, .. }) => {
            assert_eq!(differences.len(), 2, "{differences:?}");
            assert!(differences[0].starts_with("reason"));
            assert!(differences[1].starts_with("exclude_filter"));
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(store.campaigns().unwrap().len(), 1);
}

fn scan_insert_is_idempotent_and_records_prior_flag() {
    let (_d, store) = open();
    let (c, _) = store.create_or_resume(&spec("a"), "test").unwrap();
    let items = vec![
        account("ann", false),
        account("bob", true),
        ScanItem::Excluded {
            dn: "uid=svc,ou=people,dc=example,dc=org".into(),
            login: Some("svc".into()),
            reason: ExclusionReason::ExcludeFilter,
        },
    ];
    let fresh = store.insert_scanned(c.id, &items).unwrap();
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].dn, "uid=ann,ou=people,dc=example,dc=org");
    // Again, with bob's flag now unset (as if we marked and crashed): nothing new, prior kept.
    let again = store
        .insert_scanned(c.id, &[account("ann", true), account("bob", false)])
        .unwrap();
    assert!(again.is_empty());
    let bob = store.accounts_for("bob", None).unwrap();
    assert_eq!(bob.len(), 1);
    assert!(bob[0].prior_flagged);
    assert_eq!(bob[0].state, AccountState::Marked);
    let counts = store.counts(c.id).unwrap();
    assert_eq!(counts[&AccountState::Pending], 1);
    assert_eq!(counts[&AccountState::Marked], 1);
    assert_eq!(counts[&AccountState::Excluded], 1);
    assert_eq!(store.exclusions(c.id).unwrap()["exclude_filter"], 1);
}

/// More accounts than one multi-row INSERT takes, mixed with exclusions and accounts already
/// flagged: every pending one comes back once with its own id, a second scan adds nothing, and
/// the search index has them all.
fn scan_insert_over_several_statements_keeps_each_id_with_its_dn() {
    let (_d, store) = open();
    let (c, _) = store.create_or_resume(&spec("a"), "test").unwrap();
    let items: Vec<ScanItem> = (0..620)
        .map(|i| match i % 10 {
            3 => ScanItem::Excluded {
                dn: format!("uid=x{i:04},ou=people,dc=example,dc=org"),
                login: Some(format!("x{i:04}")),
                reason: ExclusionReason::ExcludeFilter,
            },
            7 => account(&format!("u{i:04}"), true),
            _ => account(&format!("u{i:04}"), false),
        })
        .collect();
    let fresh = store.insert_scanned(c.id, &items).unwrap();
    assert_eq!(fresh.len(), 496, "620 less 62 excluded and 62 already flagged");
    for item in &fresh {
        let login = item.dn.trim_start_matches("uid=").split(',').next().unwrap();
        let recorded = store.accounts_for(login, None).unwrap();
        assert_eq!(recorded.len(), 1, "{login}");
        assert_eq!(recorded[0].id, item.id, "{login}: the id returned is its own row's");
        assert_eq!(recorded[0].state, AccountState::Pending);
    }
    let ids: std::collections::BTreeSet<i64> = fresh.iter().map(|w| w.id).collect();
    assert_eq!(ids.len(), fresh.len());
    assert!(store.insert_scanned(c.id, &items).unwrap().is_empty());
    let counts = store.counts(c.id).unwrap();
    assert_eq!(counts[&AccountState::Pending], 496);
    assert_eq!(counts[&AccountState::Marked], 62);
    assert_eq!(counts[&AccountState::Excluded], 62);
    let (found, more) = store.search_accounts("U0617", 5).unwrap();
    assert_eq!((found.len(), more), (1, false));
    assert_eq!(found[0].mail, vec!["u0617@example.org".to_string()]);
}

fn record_results_and_retry_failed() {
    let (_d, store) = open();
    let (c, _) = store.create_or_resume(&spec("a"), "test").unwrap();
    let fresh = store
        .insert_scanned(c.id, &[account("ann", false), account("cid", false)])
        .unwrap();
    store
        .record(&[
            Update::new(fresh[0].id, AccountState::Marked, None),
            Update::new(
                fresh[1].id,
                AccountState::Failed,
                Some("insufficientAccessRights (50)".into()),
            ),
        ])
        .unwrap();
    let ann = &store.accounts_for("ann", None).unwrap()[0];
    assert!(ann.marked_at.is_some());
    let failed = store.accounts_in_state(c.id, AccountState::Failed, 10).unwrap();
    assert_eq!(failed[0].last_error.as_deref(), Some("insufficientAccessRights (50)"));
    // No limit (`usize::MAX`) is the largest i64, not -1: PostgreSQL refuses a negative LIMIT.
    assert_eq!(
        store
            .accounts_in_state(c.id, AccountState::Failed, usize::MAX)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(store.retry_failed(c.id).unwrap(), 1);
    let work = store.work_after(c.id, &[AccountState::Pending], 0, 10).unwrap();
    assert_eq!(work.len(), 1);
    assert_eq!(work[0].dn, "uid=cid,ou=people,dc=example,dc=org");
    assert!(
        store
            .work_after(c.id, &[AccountState::Pending], work[0].id, 10)
            .unwrap()
            .is_empty()
    );
}

fn reopen_keeps_data_and_schema_version() {
    let (db, store) = open();
    {
        store.create_or_resume(&spec("a"), "test").unwrap();
        store
            .audit(&AuditEntry {
                at: Utc::now(),
                actor: "cli:root".into(),
                action: "campaign.start".into(),
                campaign: Some("a".into()),
                account: None,
                detail: None,
            })
            .unwrap();
    }
    drop(store);
    let store = db.reopen();
    let (version, known) = store.schema_version().unwrap();
    assert_eq!(version, known);
    assert_eq!(store.campaigns().unwrap().len(), 1);
    assert_eq!(store.audit_trail(Some("a"), None).unwrap().len(), 1);
    assert!(store.audit_trail(Some("b"), None).unwrap().is_empty());
}

#[test]
fn open_in_missing_directory_names_it() {
    let err = Store::open(Path::new("/nonexistent/dir/state.db")).err().unwrap();
    assert!(err.to_string().contains("/nonexistent/dir does not exist"), "{err}");
}

fn guarded_updates_lose_to_changes_made_meanwhile() {
    let (_d, store) = open();
    let (c, _) = store.create_or_resume(&spec("a"), "test").unwrap();
    let fresh = store.insert_scanned(c.id, &[account("ann", false)]).unwrap();
    let id = fresh[0].id;
    let stale = Update {
        expected: Some(AccountState::Marked),
        ..Update::new(id, AccountState::Completed, None)
    };
    let audit = Some(("reconcile", "password.changed", "x".to_string()));
    store.record(&[Update { audit, ..stale }]).unwrap();
    let ann = &store.accounts_for("ann", None).unwrap()[0];
    assert_eq!(
        ann.state,
        AccountState::Pending,
        "the account was pending, not marked: nothing applied"
    );
    assert!(
        store.audit_trail(None, Some("ann")).unwrap().is_empty(),
        "no audit for an update not applied"
    );
    let current = Update {
        expected: Some(AccountState::Pending),
        ..Update::new(id, AccountState::Marked, None)
    };
    store.record(&[current]).unwrap();
    assert_eq!(store.accounts_for("ann", None).unwrap()[0].state, AccountState::Marked);
}

fn entry(campaign: Option<&str>, action: &str) -> AuditEntry {
    AuditEntry {
        at: Utc::now(),
        actor: "cli:root".into(),
        action: action.into(),
        campaign: campaign.map(str::to_owned),
        account: None,
        detail: None,
    }
}

fn verify(records: &[AuditRecord]) -> Result<chain::Verified, chain::Broken> {
    let mut v = chain::Verifier::default();
    for r in records {
        v.push(r)?;
    }
    Ok(v.finish())
}

fn every_audit_writer_chains_its_record() {
    use crate::campaign::state::Via;
    let (_d, store) = open();
    let (c, _) = store.create_or_resume(&spec("a"), "test").unwrap();
    store.audit(&entry(Some("a"), "campaign.start")).unwrap();
    store.audit(&entry(None, "token.create")).unwrap();
    let ann = store.insert_scanned(c.id, &[account("ann", false)]).unwrap()[0].id;
    let audit = Some(("reconcile", "flag.restored", "x".to_string()));
    store
        .record(&[Update {
            audit,
            ..Update::new(ann, AccountState::Marked, None)
        }])
        .unwrap();
    let change = OperatorChange {
        account_id: ann,
        expected: AccountState::Marked,
        next: AccountState::Marked,
        deadline: None,
        revoke_links: false,
        audit: entry(Some("a"), "helpdesk.mark"),
    };
    store.operator_change(&change).unwrap().unwrap();
    let completion = Completion {
        account_id: ann,
        via: Via::Portal,
        token_hash: None,
        history: None,
        audit: entry(Some("a"), "password.changed"),
    };
    store.complete(&completion).unwrap().unwrap();
    let records = store.audit_records(None).unwrap();
    let actions: Vec<_> = records.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "campaign.start",
            "token.create",
            "flag.restored",
            "helpdesk.mark",
            "password.changed"
        ]
    );
    let verified = verify(&records).unwrap();
    assert_eq!(verified.chains.len(), 2, "{verified:?}");
    assert_eq!(verify(&store.audit_records(Some("a")).unwrap()).unwrap().records, 4);
    assert_eq!(
        records[2].account.as_deref(),
        Some("ann"),
        "the batch names the account"
    );
}

fn the_audit_trail_refuses_updates_and_deletes() {
    let (_d, store) = open();
    store.audit(&entry(Some("a"), "campaign.start")).unwrap();
    let conn = store.lock();
    for sql in ["UPDATE audit SET detail = 'x'", "DELETE FROM audit"] {
        let err = conn.execute(sql, []).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

fn a_record_changed_in_the_store_is_found() {
    let (_d, store) = open();
    for action in ["one", "two", "three"] {
        store.audit(&entry(Some("a"), action)).unwrap();
    }
    {
        let conn = store.lock();
        let drop = match conn.is_postgres() {
            true => "DROP TRIGGER audit_no_update ON audit",
            false => "DROP TRIGGER audit_no_update",
        };
        conn.execute_batch(drop).unwrap();
        conn.execute_batch("UPDATE audit SET actor = 'someone else' WHERE action = 'two'")
            .unwrap();
    }
    let err = verify(&store.audit_records(None).unwrap()).unwrap_err();
    assert!(matches!(err, chain::Broken::Changed { line: 2, .. }), "{err}");
}

#[test]
fn records_written_before_the_chain_are_chained_by_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for sql in &schema::MIGRATIONS[..schema::AUDIT_CHAINED - 1] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", (schema::AUDIT_CHAINED - 1) as i64)
            .unwrap();
        for (campaign, action) in [(Some("a"), "one"), (None, "two"), (Some("a"), "three")] {
            conn.execute(
                "INSERT INTO audit (at, actor, action, campaign) VALUES ('2026-12-01T10:00:00.000Z', 'cli:root', ?1, ?2)",
                rusqlite::params![action, campaign],
            )
            .unwrap();
        }
    }
    let store = Store::open(&path).unwrap();
    store.audit(&entry(Some("a"), "four")).unwrap();
    let records = store.audit_records(None).unwrap();
    assert_eq!(records.len(), 4);
    assert_eq!(records[2].prev, records[0].hash, "chained per campaign");
    assert_eq!(
        records[3].prev, records[2].hash,
        "new records extend the migrated chain"
    );
    verify(&records).unwrap();
}

fn concurrent_writers_never_fork_a_chain() {
    // Two stores on one database are two processes' connections (on PostgreSQL each a pool).
    let (db, first) = open();
    let stores = [first, db.reopen()];
    std::thread::scope(|s| {
        for (i, store) in stores.iter().enumerate() {
            s.spawn(move || {
                for n in 0..50 {
                    let campaign = (n % 2 == 0).then_some("a");
                    store.audit(&entry(campaign, &format!("writer{i}.{n}"))).unwrap();
                }
            });
        }
    });
    let records = stores[0].audit_records(None).unwrap();
    assert_eq!(records.len(), 100);
    verify(&records).unwrap();
}

fn two_instances_complete_an_account_once_and_share_one_campaign() {
    use crate::campaign::state::Via;
    let (db, first) = open();
    let stores = [first, db.reopen()];
    let opened: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .map(|store| s.spawn(move || store.create_or_resume(&spec("a"), "t").unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(opened[0].0.id, opened[1].0.id, "one campaign");
    assert_eq!(opened.iter().filter(|(_, o)| *o == Opened::Created).count(), 1);
    let logins: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
    let items: Vec<_> = logins.iter().map(|l| account(l, true)).collect();
    stores[0].insert_scanned(opened[0].0.id, &items).unwrap();
    let ids: Vec<i64> = logins
        .iter()
        .map(|l| stores[0].accounts_for(l, None).unwrap()[0].id)
        .collect();
    let done: usize = std::thread::scope(|s| {
        let handles: Vec<_> = stores
            .iter()
            .map(|store| {
                let ids = &ids;
                s.spawn(move || {
                    ids.iter()
                        .filter(|id| {
                            let c = Completion {
                                account_id: **id,
                                via: Via::Portal,
                                token_hash: None,
                                history: None,
                                audit: entry(Some("a"), "password.changed"),
                            };
                            store.complete(&c).unwrap().is_ok()
                        })
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(done, ids.len(), "each account completed once, by one instance");
    let records = stores[1].audit_records(None).unwrap();
    assert_eq!(records.len(), ids.len());
    verify(&records).unwrap();
}

/// The helpdesk's account view (`accounts_for`) finds an account by login or DN through
/// indexes, not by reading every account: at 100k accounts a scan costs a request tens of ms.
#[test]
fn looking_an_account_up_by_login_or_dn_uses_indexes() {
    let (_dir, store) = open();
    let conn = store.lock();
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN QUERY PLAN SELECT a.id FROM accounts a JOIN campaigns c ON c.id = a.campaign_id
             WHERE (a.login = ?1 OR a.dn = ?2) ORDER BY a.campaign_id",
        )
        .unwrap()
        .query_map(["jdoe", "uid=jdoe,dc=example,dc=org"], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let text = plan.join("\n");
    assert!(text.contains("accounts_by_login"), "{text}");
    assert!(text.contains("accounts_by_dn"), "{text}");
    assert!(!plan.iter().any(|step| step.starts_with("SCAN a")), "{text}");
}

on_both_backends!(
    create_resume_and_mismatch,
    scan_insert_is_idempotent_and_records_prior_flag,
    scan_insert_over_several_statements_keeps_each_id_with_its_dn,
    record_results_and_retry_failed,
    reopen_keeps_data_and_schema_version,
    guarded_updates_lose_to_changes_made_meanwhile,
    every_audit_writer_chains_its_record,
    the_audit_trail_refuses_updates_and_deletes,
    a_record_changed_in_the_store_is_found,
    concurrent_writers_never_fork_a_chain,
    two_instances_complete_an_account_once_and_share_one_campaign,
);
