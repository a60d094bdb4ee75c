//! The store a fixture's config points at — a SQLite file in the fixture's folder or a fresh
//! database on the suite's PostgreSQL (scripts/pg-start) — chosen once per fixture folder so
//! that every config written there (several `serve` instances) shares it, and read the same
//! way whatever the backend (a count, whether a stopped instance holds a transaction open).

use std::path::Path;

use pwresetd::secret::Secret;
use pwresetd::store::config::PgConfig;

/// Where a test's store lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The suite's default: SQLite, or PostgreSQL under `PWRESETD_TEST_STORE_ON_PG=1`.
    pub fn suite_default() -> Backend {
        if std::env::var_os("PWRESETD_TEST_STORE_ON_PG").is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// Whether a test on this backend can run here: SQLite always; PostgreSQL when the suite
    /// has one (without, the test skips — or fails under `PWRESETD_REQUIRE_PG=1`).
    pub fn available(self) -> bool {
        self == Backend::Sqlite || super::pg::available()
    }
}

/// The file in a fixture folder that remembers its `[store]` lines.
const CHOSEN: &str = "store-section.toml";

/// Chooses the store of the fixture folder `dir` (a fresh PostgreSQL database is created for
/// `Backend::Postgres`); a folder keeps its first choice.
pub fn choose(dir: &Path, backend: Backend) {
    if dir.join(CHOSEN).exists() {
        return;
    }
    let lines = match backend {
        Backend::Sqlite => format!("path = \"{}\"", dir.join("state.db").display()),
        Backend::Postgres => fresh_database(),
    };
    std::fs::write(dir.join(CHOSEN), lines).unwrap();
}

/// Points the fixture folder `dir` at the `[store]` section `section` (e.g. a private
/// PostgreSQL's, `common::pg::PrivatePg::store_section`), replacing its earlier choice.
pub fn choose_section(dir: &Path, section: &str) {
    let lines = section.strip_prefix("[store]\n").unwrap_or(section);
    std::fs::write(dir.join(CHOSEN), lines).unwrap();
}

/// The `[store]` lines of the fixture folder `dir` (the suite's default when none was chosen).
pub fn section(dir: &Path) -> String {
    choose(dir, Backend::suite_default());
    std::fs::read_to_string(dir.join(CHOSEN)).unwrap()
}

/// The validated settings of the suite's PostgreSQL (its own database).
fn suite_pg() -> PgConfig {
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is not set: run scripts/test"));
    let url = url::Url::parse(&var("PWRESETD_TEST_PG_URL")).unwrap();
    let secret = Secret::from_file(Path::new(&var("PWRESETD_TEST_PG_PASSWORD_FILE"))).unwrap();
    let ca = var("PWRESETD_TEST_PG_CA");
    PgConfig::new(url.as_str(), secret, Some(ca.into()), false).unwrap()
}

/// Runs `work` on a client of `pg` in a thread of its own: the blocking client must not run
/// on a tokio worker. `None` when the database cannot be reached.
fn with_client<T: Send + 'static>(
    pg: PgConfig,
    work: impl FnOnce(&mut postgres::Client) -> T + Send + 'static,
) -> Option<T> {
    std::thread::spawn(move || {
        let tls = pwresetd::store::tls::connector(&pg).ok()?;
        let mut client = pg.client_config().connect(tls).ok()?;
        Some(work(&mut client))
    })
    .join()
    .unwrap()
}

/// `[store]` lines naming a fresh database on the suite's PostgreSQL.
fn fresh_database() -> String {
    let name = format!("it_{:016x}", rand::random::<u64>());
    let create = format!("CREATE DATABASE {name}");
    with_client(suite_pg(), move |c| c.batch_execute(&create).unwrap()).expect("the suite's PostgreSQL");
    let pg = |k: &str| std::env::var(k).unwrap();
    let mut url = url::Url::parse(&pg("PWRESETD_TEST_PG_URL")).unwrap();
    url.set_path(&format!("/{name}"));
    format!(
        "url = \"{url}\"\npassword_file = \"{}\"\nca_file = \"{}\"",
        pg("PWRESETD_TEST_PG_PASSWORD_FILE"),
        pg("PWRESETD_TEST_PG_CA")
    )
}

/// The PostgreSQL settings of the fixture folder `dir` (the suite's server or a private one);
/// `None` for SQLite.
fn database(dir: &Path) -> Option<PgConfig> {
    let table: toml::Table = toml::from_str(&section(dir)).unwrap();
    let key = |k: &str| table.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let url = key("url")?;
    let secret = Secret::from_file(Path::new(&key("password_file")?)).unwrap();
    Some(PgConfig::new(&url, secret, key("ca_file").map(Into::into), false).unwrap())
}

/// The one number `sql` selects from the store of `dir` (`None` while it cannot be read, e.g.
/// before it exists). `sql` is portable and its value an `INTEGER` (SQLite) / `bigint`.
pub fn count(dir: &Path, sql: &str) -> Option<i64> {
    match database(dir) {
        None => {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
            let conn = rusqlite::Connection::open_with_flags(dir.join("state.db"), flags).ok()?;
            conn.query_row(sql, [], |r| r.get(0)).ok()
        }
        Some(pg) => {
            let sql = sql.to_owned();
            with_client(pg, move |c| c.query_one(&sql, &[]).ok()?.try_get(0).ok()).flatten()
        }
    }
}

/// Whether no other session holds a transaction open on the store of `dir`, so that a process
/// stopped now blocks nobody: SQLite's write lock is free (`BEGIN IMMEDIATE` succeeds); no
/// other PostgreSQL session of this database is idle (or stuck) in a transaction, which would
/// keep its row locks — the lease row's among them — until it resumes.
pub fn no_open_write(dir: &Path) -> bool {
    match database(dir) {
        None => {
            let conn = rusqlite::Connection::open(dir.join("state.db")).unwrap();
            // Answer at once: rusqlite's default busy timeout (5 s) waited on the lock of a
            // process stopped inside its write, which never comes free while it is stopped.
            conn.busy_timeout(std::time::Duration::ZERO).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").is_ok()
        }
        Some(pg) => {
            let sql = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                       AND pid <> pg_backend_pid() AND xact_start IS NOT NULL";
            let open = with_client(pg, move |c| c.query_one(sql, &[]).unwrap().get::<_, i64>(0));
            open == Some(0)
        }
    }
}
