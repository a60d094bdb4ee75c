//! TLS to a real PostgreSQL (`scripts/pg-start`, started by `scripts/test`): the store's rustls
//! connector connects with the CA that signed the server's certificate, refuses another CA and
//! a host name the certificate does not carry (with a message naming the problem and the key to
//! fix), and the server itself refuses plain TCP.
//!
//! Without `PWRESETD_TEST_PG_URL` these tests skip, unless `PWRESETD_REQUIRE_PG=1` (as
//! `scripts/test` sets): then they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

use std::path::{Path, PathBuf};

use pwresetd::secret::Secret;
use pwresetd::store::config::{PgConfig, PgTls};
use pwresetd::store::tls::{certificate_hint, connector};

/// What `scripts/pg-start` exported.
struct TestPg {
    url: String,
    password: Secret,
    ca: PathBuf,
    other_ca: PathBuf,
}

fn test_pg() -> Option<TestPg> {
    let Ok(url) = std::env::var("PWRESETD_TEST_PG_URL") else {
        assert!(
            std::env::var("PWRESETD_REQUIRE_PG").as_deref() != Ok("1"),
            "PWRESETD_REQUIRE_PG=1 but PWRESETD_TEST_PG_URL is not set: run scripts/test, or \
             scripts/pg-start DIR and `set -a; . DIR/env; set +a`"
        );
        eprintln!("skipped: no PWRESETD_TEST_PG_URL (scripts/pg-start)");
        return None;
    };
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (scripts/pg-start)"));
    let password = Secret::from_file(Path::new(&var("PWRESETD_TEST_PG_PASSWORD_FILE"))).unwrap();
    Some(TestPg {
        url,
        password,
        ca: var("PWRESETD_TEST_PG_CA").into(),
        other_ca: var("PWRESETD_TEST_PG_OTHER_CA").into(),
    })
}

/// Connects as the store would; `Err` carries the message and the certificate hint.
fn connect(pg: &PgConfig) -> Result<postgres::Client, (String, Option<&'static str>)> {
    let tls = connector(pg).unwrap();
    pg.client_config()
        .connect(tls)
        .map_err(|e| (format!("{e} ({e:?})"), certificate_hint(&e)))
}

/// The test URL with another host part and query.
fn with_host(url: &str, host: &str, query: &str) -> String {
    let mut parsed = url::Url::parse(url).unwrap();
    parsed.set_host(Some(host)).unwrap();
    parsed.set_query(Some(query));
    parsed.to_string()
}

#[test]
fn connects_with_the_ca_that_signed_the_server() {
    let Some(t) = test_pg() else { return };
    let pg = PgConfig::new(&t.url, t.password.clone(), Some(t.ca.clone()), false).unwrap();
    assert_eq!(pg.tls, PgTls::VerifyFull);
    let mut client = connect(&pg).unwrap_or_else(|e| panic!("{e:?}"));
    let one: i32 = client.query_one("SELECT 1", &[]).unwrap().get(0);
    assert_eq!(one, 1);
    // The session really is TLS (the server's view).
    let ssl: bool = client
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    assert!(ssl);
    // The name "localhost" is on the certificate too.
    let port = url::Url::parse(&t.url).unwrap().port().unwrap();
    let url = with_host(&t.url, "localhost", "sslmode=verify-full&hostaddr=127.0.0.1");
    let pg = PgConfig::new(&url, t.password, Some(t.ca), false).unwrap();
    let mut client = connect(&pg).unwrap_or_else(|e| panic!("localhost:{port}: {e:?}"));
    client.simple_query("SELECT 1").unwrap();
}

#[test]
fn refuses_a_server_signed_by_another_ca() {
    let Some(t) = test_pg() else { return };
    let pg = PgConfig::new(&t.url, t.password.clone(), Some(t.other_ca.clone()), false).unwrap();
    let (message, hint) = connect(&pg).err().expect("connected with the wrong CA");
    let hint = hint.unwrap_or_else(|| panic!("no certificate hint for: {message}"));
    assert!(hint.contains("not signed by a CA pwresetd trusts"), "{hint}");
    assert!(hint.contains("store.ca_file"), "{hint}");
    // Without ca_file, the system's roots: they do not know the test CA either.
    let pg = PgConfig::new(&t.url, t.password, None, false).unwrap();
    let (message, hint) = connect(&pg).err().expect("connected trusting the system's roots");
    assert!(hint.is_some_and(|h| h.contains("store.ca_file")), "{message}");
}

#[test]
fn refuses_a_host_name_the_certificate_does_not_carry() {
    let Some(t) = test_pg() else { return };
    // Same address, another name: only the name check can refuse it.
    let url = with_host(&t.url, "db.wrong.example", "hostaddr=127.0.0.1");
    let pg = PgConfig::new(&url, t.password, Some(t.ca), false).unwrap();
    let (message, hint) = connect(&pg)
        .err()
        .expect("connected under a name the certificate lacks");
    let hint = hint.unwrap_or_else(|| panic!("no certificate hint for: {message}"));
    assert!(hint.contains("does not name the host of store.url"), "{hint}");
}

#[test]
fn the_server_refuses_plain_tcp() {
    let Some(t) = test_pg() else { return };
    let url = with_host(&t.url, "127.0.0.1", "sslmode=disable");
    // The configuration refuses it first…
    let refused = PgConfig::new(&url, t.password.clone(), None, false).err().unwrap();
    assert!(refused.to_string().contains("store.allow_insecure"), "{refused}");
    // …and with allow_insecure, the server (pg_hba.conf: hostnossl reject) does.
    let pg = PgConfig::new(&url, t.password, None, true).unwrap();
    assert_eq!(pg.tls, PgTls::Disable);
    let (message, hint) = connect(&pg).err().expect("plain TCP was accepted");
    assert!(message.contains("no encryption"), "{message}");
    assert_eq!(hint, None, "{message}");
}
