use std::path::Path;

use super::*;
use crate::config::testing::{check, parse};

/// `Ok(())`, or the key and a fragment of the message.
type Expected = Result<(), (&'static str, &'static str)>;

const URL: &str = "postgres://pwresetd@db.example.org:5432/pwresetd";

/// Validates `text` with `dir` as the configuration's folder and `credentials` as
/// `$CREDENTIALS_DIRECTORY`.
fn validate(text: &str, dir: &Path, credentials: Option<&Path>) -> Result<StoreConfig, (String, String)> {
    parse(text, |raw: RawStore| {
        raw.validate(Origin { base: dir, credentials }, Some(Path::new("/state")))
    })
}

/// A folder holding `pw` (the password) and `ca.pem`.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "s3cret\n").unwrap();
    std::fs::write(dir.path().join("ca.pem"), "not read here").unwrap();
    dir
}

fn pg(text: &str, dir: &Path) -> PgConfig {
    match validate(text, dir, None) {
        Ok(StoreConfig::Postgres(pg)) => *pg,
        other => panic!("{text:?}: {other:?}"),
    }
}

#[test]
fn sqlite_is_the_default_and_unchanged() {
    let dir = fixture();
    match validate("", dir.path(), None) {
        Ok(StoreConfig::Sqlite { path }) => assert_eq!(path, Path::new("/state/state.db")),
        other => panic!("{other:?}"),
    }
    let c = validate("path = \"x.db\"", dir.path(), None).unwrap();
    assert_eq!(c.sqlite_path(), Some(dir.path().join("x.db").as_path()));
    assert_eq!(c.local_dir(None), dir.path());
}

#[test]
fn refusals_name_the_key_and_the_fix() {
    let dir = fixture();
    let d = dir.path();
    let pw = "password_file = \"pw\"\n";
    let cases: Vec<(String, Expected)> = vec![
        (
            format!("path = \"x.db\"\nurl = \"{URL}\"\n{pw}"),
            Err(("store.url", "store.path and store.url are both set")),
        ),
        (
            "password_file = \"pw\"".into(),
            Err(("store.password_file", "only applies to a PostgreSQL store")),
        ),
        ("ca_file = \"ca.pem\"".into(), Err(("store.ca_file", "set store.url"))),
        (
            "allow_insecure = true".into(),
            Err(("store.allow_insecure", "PostgreSQL")),
        ),
        (
            format!("url = \"{URL}\""),
            Err(("store.password_file", "systemd credential named db-password")),
        ),
        (
            format!("url = \"{URL}\"\npassword_file = \"missing\""),
            Err(("store.password_file", "cannot read")),
        ),
        (
            "url = \"not a url\"\npassword_file = \"pw\"".into(),
            Err(("store.url", "not a URL")),
        ),
        (
            format!("url = \"mysql://u@h/d\"\n{pw}"),
            Err(("store.url", "is not PostgreSQL")),
        ),
        (
            format!("url = \"postgres://db.example.org/pwresetd\"\n{pw}"),
            Err(("store.url", "names no role")),
        ),
        (
            format!("url = \"{URL}?sslmode=disable\"\n{pw}"),
            Err(("store.url", "store.allow_insecure = true")),
        ),
        (
            format!("url = \"{URL}?sslmode=prefer\"\n{pw}"),
            Err(("store.url", "silently")),
        ),
        (
            format!("url = \"{URL}?sslmode=allow\"\n{pw}"),
            Err(("store.url", "allow_insecure")),
        ),
        (
            format!("url = \"{URL}?sslmode=require\"\n{pw}"),
            Err(("store.url", "use sslmode=verify-full")),
        ),
        (
            format!("url = \"{URL}?sslmode=verify-ca\"\n{pw}"),
            Err(("store.url", "does not check the server's name")),
        ),
        (
            format!("url = \"{URL}?sslmode=bogus\"\n{pw}"),
            Err(("store.url", "not a TLS mode")),
        ),
        (
            format!("url = \"{URL}?sslrootcert=/x.pem\"\n{pw}"),
            Err(("store.url", "store.ca_file")),
        ),
        (
            format!("url = \"{URL}?sslcert=/x.pem\"\n{pw}"),
            Err(("store.url", "no client certificates")),
        ),
        (
            format!("url = \"{URL}?nosuchoption=1\"\n{pw}"),
            Err(("store.url", "nosuchoption")),
        ),
        (
            format!("url = \"{URL}\"\n{pw}ca_file = \"missing.pem\""),
            Err(("store.ca_file", "does not exist")),
        ),
        (
            format!("url = \"{URL}?sslmode=disable\"\n{pw}ca_file = \"ca.pem\"\nallow_insecure = true"),
            Err(("store.ca_file", "sslmode=disable")),
        ),
        (
            "pool_size = 4".into(),
            Err(("store.pool_size", "only applies to a PostgreSQL store")),
        ),
        (
            format!("url = \"{URL}\"\n{pw}pool_size = 0"),
            Err(("store.pool_size", "not between 1 and 100")),
        ),
        (
            format!("url = \"{URL}\"\n{pw}pool_size = 101"),
            Err(("store.pool_size", "max_connections")),
        ),
        (format!("url = \"{URL}\"\n{pw}pool_size = 100"), Ok(())),
        (format!("url = \"{URL}\"\n{pw}"), Ok(())),
        (
            format!("url = \"{URL}?sslmode=verify-full&application_name=x\"\n{pw}ca_file = \"ca.pem\""),
            Ok(()),
        ),
        (
            format!("url = \"{URL}?sslmode=disable\"\n{pw}allow_insecure = true"),
            Ok(()),
        ),
        (
            format!("url = \"{URL}?sslmode=prefer\"\n{pw}allow_insecure = true"),
            Ok(()),
        ),
    ];
    for (text, expected) in cases {
        check(&text, validate(&text, d, None), expected);
    }
}

#[test]
fn the_pool_size_is_ten_unless_set() {
    let dir = fixture();
    let c = pg(&format!("url = \"{URL}\"\npassword_file = \"pw\""), dir.path());
    assert_eq!(c.pool_size, DEFAULT_POOL_SIZE);
    assert_eq!(DEFAULT_POOL_SIZE, 10);
    let c = pg(
        &format!("url = \"{URL}\"\npassword_file = \"pw\"\npool_size = 3"),
        dir.path(),
    );
    assert_eq!(c.pool_size, 3);
}

#[test]
fn a_password_in_the_url_is_refused_and_never_repeated() {
    let dir = fixture();
    for url in [
        "postgres://pwresetd:hunter2@db.example.org/pwresetd",
        "postgres://pwresetd@db.example.org/pwresetd?password=hunter2",
        "postgres://pwresetd:hunter2@db.example.org:notaport/pwresetd",
    ] {
        let text = format!("url = \"{url}\"\npassword_file = \"pw\"");
        let (key, message) = validate(&text, dir.path(), None).unwrap_err();
        assert_eq!(key, "store.url", "{url}: {message}");
        assert!(!message.contains("hunter2"), "{url}: {message}");
    }
    let (_, message) = validate(
        "url = \"postgres://pwresetd:hunter2@db.example.org/pwresetd\"\npassword_file = \"pw\"",
        dir.path(),
        None,
    )
    .unwrap_err();
    assert!(message.contains("store.password_file"), "{message}");
}

#[test]
fn the_password_comes_from_the_file_or_the_credential() {
    let dir = fixture();
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join(PASSWORD_CREDENTIAL), "from-credential").unwrap();
    let text = format!("url = \"{URL}\"");
    let Ok(StoreConfig::Postgres(c)) = validate(&text, dir.path(), Some(creds.path())) else {
        panic!("credential not used");
    };
    assert_eq!(c.password.expose(), "from-credential");
    // The file wins over the credential.
    let text = format!("url = \"{URL}\"\npassword_file = \"pw\"");
    let Ok(StoreConfig::Postgres(c)) = validate(&text, dir.path(), Some(creds.path())) else {
        panic!("file not used");
    };
    assert_eq!(c.password.expose(), "s3cret");
    std::fs::write(dir.path().join("empty"), "").unwrap();
    let text = format!("url = \"{URL}\"\npassword_file = \"empty\"");
    check(
        &text,
        validate(&text, dir.path(), None),
        Err(("store.password_file", "is empty")),
    );
}

#[test]
fn the_client_config_carries_password_tls_mode_and_a_timeout() {
    let dir = fixture();
    let c = pg(
        &format!("url = \"{URL}\"\npassword_file = \"pw\"\nca_file = \"ca.pem\""),
        dir.path(),
    );
    assert_eq!(c.tls, PgTls::VerifyFull);
    assert_eq!(c.ca_file, Some(dir.path().join("ca.pem")));
    assert!(!format!("{c:?}").contains("s3cret"));
    let client = c.client_config();
    assert_eq!(client.get_password(), Some(&b"s3cret"[..]));
    assert_eq!(client.get_ssl_mode(), postgres::config::SslMode::Require);
    assert_eq!(client.get_user(), Some("pwresetd"));
    assert_eq!(client.get_dbname(), Some("pwresetd"));
    assert_eq!(client.get_connect_timeout(), Some(&DEFAULT_CONNECT_TIMEOUT));
    assert_eq!(client.get_tcp_user_timeout(), Some(&DEFAULT_TCP_USER_TIMEOUT));
    assert_eq!(StoreConfig::Postgres(Box::new(c.clone())).describe(), URL);
    assert_eq!(
        StoreConfig::Postgres(Box::new(c)).local_dir(None),
        Path::new("/var/lib/pwresetd")
    );

    let c = pg(
        &format!("url = \"{URL}?sslmode=disable&connect_timeout=2\"\npassword_file = \"pw\"\nallow_insecure = true"),
        dir.path(),
    );
    assert_eq!(c.tls, PgTls::Disable);
    let client = c.client_config();
    assert_eq!(client.get_ssl_mode(), postgres::config::SslMode::Disable);
    assert_eq!(client.get_connect_timeout(), Some(&Duration::from_secs(2)));
    let c = pg(
        &format!("url = \"{URL}?sslmode=prefer\"\npassword_file = \"pw\"\nallow_insecure = true"),
        dir.path(),
    );
    assert_eq!(c.client_config().get_ssl_mode(), postgres::config::SslMode::Prefer);
}

#[test]
fn the_idle_in_transaction_limit_follows_the_lease_ttl_unless_the_url_sets_options() {
    let dir = fixture();
    let options = |store: StoreConfig| match store {
        StoreConfig::Postgres(pg) => pg.client_config().get_options().map(str::to_owned),
        other => panic!("{other:?}"),
    };
    let plain = || {
        StoreConfig::Postgres(Box::new(pg(
            &format!("url = \"{URL}\"\npassword_file = \"pw\""),
            dir.path(),
        )))
    };
    assert_eq!(
        options(plain()).as_deref(),
        Some("-c idle_in_transaction_session_timeout=15000"),
        "without a [daemon]: half the default lease_ttl"
    );
    assert_eq!(
        options(plain().for_lease_ttl(Duration::from_secs(5))).as_deref(),
        Some("-c idle_in_transaction_session_timeout=2500"),
        "half of daemon.lease_ttl: a holder stalled in a transaction loses its locks with its lease"
    );
    let own = pg(
        &format!("url = \"{URL}?options=-c%20statement_timeout%3D1000\"\npassword_file = \"pw\""),
        dir.path(),
    );
    let own = StoreConfig::Postgres(Box::new(own)).for_lease_ttl(Duration::from_secs(5));
    assert_eq!(
        options(own).as_deref(),
        Some("-c statement_timeout=1000"),
        "the URL's own options win"
    );
    let sqlite = validate("", dir.path(), None)
        .unwrap()
        .for_lease_ttl(Duration::from_secs(5));
    assert!(sqlite.sqlite_path().is_some());
}
