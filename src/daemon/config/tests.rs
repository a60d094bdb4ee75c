use std::time::Duration;

use super::*;
use crate::directory::config::Transport;

const BASE: &str = r#"
[directory]
url = "ldap://127.0.0.1:3389"
bind_dn = "cn=pwadmin,dc=example,dc=org"
bind_password_file = "bind-password"
base_dn = "ou=people,dc=example,dc=org"
"#;

fn load_str(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bind-password"), "s3cret\n").unwrap();
    let path = dir.path().join("pwresetd.toml");
    std::fs::write(&path, toml).unwrap();
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    load_with_env(&path, env)
}

/// Loads `toml`; `expected` is `Ok(())` or `Err((key, fragment of the message))`.
fn check(toml: &str, env: &[(&str, &str)], expected: Result<(), (&str, &str)>) {
    match (load_str(toml, env), expected) {
        (Ok(_), Ok(())) => {}
        (Err(ConfigError::Invalid { key, message }), Err((k, m))) => {
            assert_eq!(key, k, "{message}");
            assert!(message.contains(m), "message {message:?} lacks {m:?}");
        }
        (got, want) => panic!("got {got:?}, want {want:?}\n{toml}"),
    }
}

#[test]
fn minimal_config_loads_with_defaults() {
    let c = load_str(BASE, &[]).unwrap();
    assert_eq!(c.directory.transport, Transport::StartTls);
    assert_eq!(c.directory.login_attribute, "uid");
    assert_eq!(c.directory.bind_password.expose(), "s3cret");
    assert_eq!(c.directory.timeout, Duration::from_secs(30));
    assert_eq!(c.directory.outage_wait, Duration::from_secs(120));
    assert_eq!(
        c.store.sqlite_path(),
        Some(PathBuf::from("/var/lib/pwresetd/state.db").as_path())
    );
}

type Expected = Result<(), (&'static str, &'static str)>;

#[test]
fn invalid_configs_name_the_key() {
    let cases: Vec<(String, Expected)> = vec![
        (
            format!("{BASE}unknown = 1\n"),
            Err(("directory.unknown", "unknown field")),
        ),
        (format!("{BASE}[stor]\npath = \"x\"\n"), Err(("stor", "unknown field"))),
        (
            format!("{BASE}bind_password = \"x\"\n"),
            Err(("directory.bind_password", "refused")),
        ),
        (
            format!("{BASE}user_filter = \"(uid=*\"\n"),
            Err(("directory.user_filter", "malformed LDAP filter")),
        ),
        (
            format!("{BASE}exclude_filter = \"uid=x\"\n"),
            Err(("directory.exclude_filter", "malformed")),
        ),
        (
            BASE.replace("ou=people,dc=example", "ou=people,,dc=example"),
            Err(("directory.base_dn", "malformed DN")),
        ),
        (
            BASE.replace("cn=pwadmin", "pwadmin"),
            Err(("directory.bind_dn", "malformed DN")),
        ),
        (format!("{BASE}starttls = false\n"), Err(("directory.url", "in clear"))),
        (format!("{BASE}starttls = false\nallow_insecure = true\n"), Ok(())),
        (
            BASE.replace("ldap://", "http://"),
            Err(("directory.url", "not supported")),
        ),
        (BASE.replace("ldap://127.0.0.1:3389", "ldaps://127.0.0.1:3636"), Ok(())),
        (
            format!("{BASE}timeout = \"soon\"\n"),
            Err(("directory.timeout", "not a duration")),
        ),
        (format!("{BASE}outage_wait = \"0s\"\n"), Ok(())),
        (
            format!("{BASE}outage_wait = \"25h\"\n"),
            Err(("directory.outage_wait", "at most \"24h\"")),
        ),
        (
            format!("{BASE}max_concurrency = 0\n"),
            Err(("directory.max_concurrency", "at least 1")),
        ),
        (
            format!("{BASE}max_concurrency = \"many\"\n"),
            Err(("directory.max_concurrency", "invalid")),
        ),
        (
            format!("{BASE}ca_file = \"missing.pem\"\n"),
            Err(("directory.ca_file", "does not exist")),
        ),
        (
            format!("{BASE}login_attribute = \"u id\"\n"),
            Err(("directory.login_attribute", "not an attribute")),
        ),
        (
            BASE.replace("bind_password_file = \"bind-password\"\n", ""),
            Err(("directory.bind_password_file", "not set")),
        ),
        (
            BASE.replace("\"bind-password\"", "\"nope\""),
            Err(("directory.bind_password_file", "cannot read")),
        ),
        (
            "[store]\npath = \"x\"\n".to_string(),
            Err(("directory", "missing configuration field")),
        ),
        (
            format!("{BASE}[daemon]\nmetrics_token_file = \"nope\"\n"),
            Err(("daemon.metrics_token_file", "cannot read")),
        ),
        (
            format!("{BASE}[daemon]\nmetrics_token_file = \"bind-password\"\n"),
            Err(("daemon.metrics_token_file", "at least 16 characters")),
        ),
    ];
    for (toml, expected) in &cases {
        check(toml, &[], *expected);
    }
}

#[test]
fn environment_overrides_the_file() {
    let c = load_str(
        BASE,
        &[
            ("PWRESETD_DIRECTORY__MAX_CONCURRENCY", "3"),
            ("PWRESETD_STORE__PATH", "/tmp/x.db"),
        ],
    )
    .unwrap();
    assert_eq!(c.directory.max_concurrency, 3);
    assert_eq!(c.store.sqlite_path(), Some(PathBuf::from("/tmp/x.db").as_path()));
    check(
        BASE,
        &[("PWRESETD_DIRECTORY__BIND_PASSWORD", "x")],
        Err(("directory.bind_password", "refused")),
    );
}

#[test]
fn systemd_credential_and_state_directory() {
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join("bind-password"), "fromcred").unwrap();
    let toml = BASE.replace("bind_password_file = \"bind-password\"\n", "");
    let c = load_str(
        &toml,
        &[
            ("CREDENTIALS_DIRECTORY", creds.path().to_str().unwrap()),
            ("STATE_DIRECTORY", "/var/lib/x"),
        ],
    )
    .unwrap();
    assert_eq!(c.directory.bind_password.expose(), "fromcred");
    assert_eq!(
        c.store.sqlite_path(),
        Some(PathBuf::from("/var/lib/x/state.db").as_path())
    );
}

#[test]
fn relative_paths_resolve_against_the_config_file() {
    let c = load_str(&format!("{BASE}[store]\npath = \"state.db\"\n"), &[]).unwrap();
    assert!(c.store.sqlite_path().unwrap().is_absolute());
    assert!(c.store.sqlite_path().unwrap().ends_with("state.db"));
}

#[test]
fn the_documented_example_config_is_valid() {
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(creds.path().join("bind-password"), "x").unwrap();
    std::fs::write(creds.path().join("smtp-password"), "y").unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/pwresetd.toml");
    let env = [(
        "CREDENTIALS_DIRECTORY".to_string(),
        creds.path().to_str().unwrap().to_string(),
    )];
    let c = load_with_env(&path, env).unwrap();
    assert_eq!(c.directory.transport, Transport::StartTls);
    assert_eq!(c.policy, PolicyConfig::default());
}

#[test]
fn campaign_and_portal_sections() {
    let c = load_str(
        &format!(
            "{BASE}[campaign]\nreminders = [\"24h\", \"7d\"]\n[portal]\npublic_url = \"https://pw.example.org/\"\n"
        ),
        &[],
    )
    .unwrap();
    assert_eq!(
        c.campaign.reminders,
        vec![Duration::from_secs(7 * 86400), Duration::from_secs(86400)]
    );
    assert_eq!(c.portal.reset_link("TOKEN"), "https://pw.example.org/reset/TOKEN");
    assert_eq!(c.portal.token_ttl, Duration::from_secs(72 * 3600));
    let cases: Vec<(String, Expected)> = vec![
        (
            format!("{BASE}[campaign]\nreminders = [\"soon\"]\n"),
            Err(("campaign.reminders", "not a duration")),
        ),
        (
            format!("{BASE}[campaign]\nreminders = [\"0s\"]\n"),
            Err(("campaign.reminders", "never sent")),
        ),
        (
            format!("{BASE}[portal]\npublic_url = \"pw.example.org\"\n"),
            Err(("portal.public_url", "not a URL")),
        ),
        (
            format!("{BASE}[portal]\npublic_url = \"ftp://x\"\n"),
            Err(("portal.public_url", "http(s)")),
        ),
        (
            format!("{BASE}[portal]\ntoken_ttl = \"1s\"\n"),
            Err(("portal.token_ttl", "between")),
        ),
    ];
    for (toml, expected) in &cases {
        check(toml, &[], *expected);
    }
}

#[test]
fn mail_backoff_keys_default_and_their_cap() {
    let c = load_str(BASE, &[]).unwrap();
    assert_eq!(c.daemon.mail_backoff, Duration::from_secs(30));
    assert_eq!(c.daemon.mail_backoff_max, Duration::from_secs(600));
    check(
        &format!("{BASE}[daemon]\nmail_backoff = \"20m\"\n"),
        &[],
        Err(("daemon.mail_backoff", "longer than daemon.mail_backoff_max (10m)")),
    );
    check(
        &format!("{BASE}[daemon]\nmail_backoff_max = \"0s\"\n"),
        &[],
        Err(("daemon.mail_backoff_max", "must be more than 0s")),
    );
    check(
        &format!("{BASE}[daemon]\nmail_backoff = \"1s\"\nmail_backoff_max = \"1s\"\n"),
        &[],
        Ok(()),
    );
}

#[test]
fn admin_max_connections_defaults_and_bounds() {
    let c = load_str(BASE, &[]).unwrap();
    assert_eq!(c.daemon.admin_max_connections, 64);
    assert_eq!(c.portal.max_connections, 512);
    check(
        &format!("{BASE}[daemon]\nadmin_max_connections = 0\n"),
        &[],
        Err(("daemon.admin_max_connections", "between 1 and 100000")),
    );
    check(&format!("{BASE}[daemon]\nadmin_max_connections = 8\n"), &[], Ok(()));
}

#[test]
fn lease_ttl_defaults_and_bounds() {
    let c = load_str(BASE, &[]).unwrap();
    assert_eq!(c.daemon.lease_ttl, std::time::Duration::from_secs(30));
    for bad in ["4s", "11m"] {
        check(
            &format!("{BASE}[daemon]\nlease_ttl = \"{bad}\"\n"),
            &[],
            Err(("daemon.lease_ttl", "between \"5s\" and \"10m\"")),
        );
    }
    check(&format!("{BASE}[daemon]\nlease_ttl = \"5s\"\n"), &[], Ok(()));
}
