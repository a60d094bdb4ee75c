//! Fixtures shared by the integration tests: the slapd started by `scripts/test`, a private OU
//! per test, config files, running the real binary, and the small waits and page readers every
//! tier uses. Every test file's support lives in this one tree: `daemon` (the real `serve`),
//! `smtp` (the capture server), `flavor` (AD and 389-DS beside slapd), `portal` (served
//! in-process), `helpdesk` (the daemon with operators and a token), `pg` (PostgreSQL: the suite's,
//! or a private one to stop and freeze), `store` (a fixture's store on SQLite or PostgreSQL, read
//! either way), `browser` (headless Chromium), and `fake_directory` (in memory, for the middle
//! tier that needs no server).
#![allow(dead_code)]
// Fixture helpers fail the test on any surprise; that is what unwrap is for here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod artifacts;
pub mod browser;
pub mod daemon;
pub mod fake_directory;
pub mod fault_proxy;
pub mod flavor;
pub mod helpdesk;
pub mod pg;
pub mod portal;
pub mod smtp;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry, dn_escape};

/// The password of every fixture user.
pub const USER_PASSWORD: &str = "Initial-Passw0rd!";

/// What `scripts/slapd-start` wrote to its env file.
#[derive(Debug, Clone)]
pub struct Slapd {
    vars: HashMap<String, String>,
}

impl Slapd {
    pub fn get(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from the slapd env file"))
    }
    pub fn url(&self) -> &str {
        self.get("LDAP_URL")
    }
    pub fn ldaps_url(&self) -> &str {
        self.get("LDAPS_URL")
    }
    pub fn admin_password(&self) -> String {
        read_secret(self.get("LDAP_ADMIN_PASSWORD_FILE"))
    }
}

fn read_secret(path: &str) -> String {
    std::fs::read_to_string(path).unwrap().trim_end_matches('\n').to_owned()
}

/// The shared slapd, from the env file `scripts/test` names in `PWRESETD_TEST_SLAPD_ENV`.
pub fn slapd() -> &'static Slapd {
    static SLAPD: OnceLock<Slapd> = OnceLock::new();
    SLAPD.get_or_init(|| {
        let path = std::env::var("PWRESETD_TEST_SLAPD_ENV").unwrap_or_else(|_| {
            panic!(
                "PWRESETD_TEST_SLAPD_ENV is not set: these tests need the private slapd that \
                 scripts/test starts (run scripts/test, or scripts/slapd-start DIR and export \
                 PWRESETD_TEST_SLAPD_ENV=DIR/env)"
            )
        });
        Slapd {
            vars: read_env(Path::new(&path)),
        }
    })
}

/// The `KEY=value` lines of an env file a fixture script wrote (quotes and `#` lines dropped).
pub fn read_env(path: &Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_owned(),
                v.trim().trim_matches('\'').trim_matches('"').to_owned(),
            )
        })
        .collect()
}

/// A connection bound as the directory's rootdn (bypasses ACLs), over StartTLS.
pub async fn admin() -> Ldap {
    let s = slapd();
    bind(s.get("LDAP_ADMIN_DN"), &s.admin_password())
        .await
        .expect("admin bind")
}

/// Opens a StartTLS connection and binds; returns the bind's result code on failure.
pub async fn bind(dn: &str, password: &str) -> Result<Ldap, u32> {
    let s = slapd();
    let ca = std::fs::read(s.get("LDAP_CA_FILE")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile_certs(&ca) {
        roots.add(cert).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let settings = LdapConnSettings::new()
        .set_starttls(true)
        .set_config(std::sync::Arc::new(config));
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, s.url()).await.unwrap();
    ldap3::drive!(conn);
    let res = ldap.simple_bind(dn, password).await.unwrap();
    if res.rc == 0 { Ok(ldap) } else { Err(res.rc) }
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .map(|c| c.unwrap())
        .collect()
}

/// A user to create in a fixture OU.
#[derive(Debug, Clone)]
pub struct User {
    /// The RDN value (`uid=…` unless `rdn_attr` says otherwise).
    pub rdn: String,
    pub rdn_attr: &'static str,
    pub uid: Option<String>,
    pub cn: String,
    pub mail: Vec<String>,
    pub employee_type: Option<&'static str>,
    pub flagged: bool,
    pub policy: Option<String>,
}

impl User {
    pub fn new(uid: &str) -> Self {
        User {
            rdn: uid.into(),
            rdn_attr: "uid",
            uid: Some(uid.into()),
            cn: format!("User {uid}"),
            mail: vec![format!("{uid}@example.org")],
            employee_type: None,
            flagged: false,
            policy: None,
        }
    }
}

/// A private OU under ou=people with its own users, config file and store.
pub struct Fixture {
    pub ou: String,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Fixture {
    /// Creates `ou=NAME-<random>` with `users` and writes a config whose base DN is that OU.
    pub async fn new(name: &str, users: &[User]) -> Fixture {
        Self::with_config(name, users, "").await
    }

    /// Like [`Fixture::new`], with extra TOML lines in the `[directory]` section.
    pub async fn with_config(name: &str, users: &[User], directory_extra: &str) -> Fixture {
        Self::on(store::Backend::suite_default(), name, users, directory_extra).await
    }

    /// Like [`Fixture::with_config`], with the store on `backend` (a fresh PostgreSQL
    /// database; `PWRESETD_TEST_STORE_ON_PG=1` makes that every fixture's default).
    pub async fn on(backend: store::Backend, name: &str, users: &[User], directory_extra: &str) -> Fixture {
        let s = slapd();
        let suffix: u32 = rand_u32();
        let ou = format!("ou={name}-{suffix:08x},{}", s.get("LDAP_PEOPLE_DN"));
        let mut ldap = admin().await;
        let res = ldap
            .add(
                &ou,
                vec![
                    ("objectClass", HashSet::from(["organizationalUnit"])),
                    ("ou", HashSet::from([ou_value(&ou)])),
                ],
            )
            .await
            .unwrap();
        assert_eq!(res.rc, 0, "add {ou}: {res:?}");
        add_users(&ldap, &ou, users).await;
        let _ = ldap.unbind().await;
        let dir = artifacts::tempdir();
        store::choose(dir.path(), backend);
        let config = dir.path().join("pwresetd.toml");
        std::fs::write(&config, config_toml(&ou, dir.path(), directory_extra)).unwrap();
        Fixture { ou, dir, config }
    }

    pub fn dn(&self, uid: &str) -> String {
        format!("uid={},{}", dn_escape(uid), self.ou)
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    /// The one number `sql` selects from this fixture's store, SQLite or PostgreSQL (`None`
    /// while it cannot be read).
    pub fn store_count(&self, sql: &str) -> Option<i64> {
        store::count(self.dir.path(), sql)
    }

    /// Runs the real binary with this fixture's config.
    pub fn run(&self, args: &[&str]) -> Output {
        pwresetd(&self.config, args)
    }

    /// Appends sections (e.g. `[mail]`, `[daemon]`) to the config.
    pub fn append_config(&self, text: &str) {
        let mut toml = std::fs::read_to_string(&self.config).unwrap();
        toml.push('\n');
        toml.push_str(text);
        std::fs::write(&self.config, toml).unwrap();
    }

    /// Rewrites the config with extra `[directory]` lines (replacing earlier extras).
    pub fn rewrite_config(&self, directory_extra: &str) {
        std::fs::write(&self.config, config_toml(&self.ou, self.dir.path(), directory_extra)).unwrap();
    }

    /// DNs under the fixture OU that carry `pwdReset: TRUE`, as the rootdn sees them.
    pub async fn flagged(&self) -> HashSet<String> {
        let mut ldap = admin().await;
        let (entries, _) = ldap
            .search(&self.ou, Scope::Subtree, "(pwdReset=TRUE)", vec!["1.1"])
            .await
            .unwrap()
            .success()
            .unwrap();
        let out = entries.into_iter().map(|e| SearchEntry::construct(e).dn).collect();
        let _ = ldap.unbind().await;
        out
    }
}

fn ou_value(ou_dn: &str) -> &str {
    ou_dn.split(',').next().unwrap().trim_start_matches("ou=")
}

pub fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish() as u32
}

/// Adds users under `ou`, many at a time on one connection.
pub async fn add_users(ldap: &Ldap, ou: &str, users: &[User]) {
    use futures_util::stream::{self, StreamExt};
    let results: Vec<_> = stream::iter(users.iter().cloned())
        .map(|u| {
            let mut ldap = ldap.clone();
            let ou = ou.to_owned();
            async move {
                let dn = format!("{}={},{}", u.rdn_attr, dn_escape(&u.rdn), ou);
                let mut attrs: Vec<(String, HashSet<String>)> = vec![
                    ("objectClass".into(), HashSet::from(["inetOrgPerson".into()])),
                    ("cn".into(), HashSet::from([u.cn.clone()])),
                    (
                        "sn".into(),
                        HashSet::from([u.cn.split(' ').next_back().unwrap_or("x").to_owned()]),
                    ),
                    ("displayName".into(), HashSet::from([u.cn.clone()])),
                    ("userPassword".into(), HashSet::from([USER_PASSWORD.to_owned()])),
                ];
                if let Some(uid) = &u.uid {
                    attrs.push(("uid".into(), HashSet::from([uid.clone()])));
                }
                if !u.mail.is_empty() {
                    attrs.push(("mail".into(), u.mail.iter().cloned().collect()));
                }
                if let Some(t) = u.employee_type {
                    attrs.push(("employeeType".into(), HashSet::from([t.to_owned()])));
                }
                if let Some(p) = &u.policy {
                    attrs.push(("pwdPolicySubentry".into(), HashSet::from([p.clone()])));
                }
                let res = ldap.add(&dn, attrs).await.unwrap();
                assert_eq!(res.rc, 0, "add {dn}: {res:?}");
                if u.flagged {
                    let res = ldap
                        .modify(&dn, vec![Mod::Replace("pwdReset", HashSet::from(["TRUE"]))])
                        .await
                        .unwrap();
                    assert_eq!(res.rc, 0, "flag {dn}: {res:?}");
                }
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert_eq!(results.len(), users.len());
}

/// The config file for a fixture OU.
pub fn config_toml(base_dn: &str, dir: &Path, directory_extra: &str) -> String {
    let s = slapd();
    format!(
        r#"[directory]
url = "{url}"
starttls = true
ca_file = "{ca}"
bind_dn = "{bind_dn}"
bind_password_file = "{bind_pw}"
base_dn = "{base_dn}"
user_filter = "(objectClass=inetOrgPerson)"
exclude_filter = "(employeeType=service)"
default_policy_dn = "{policy}"
{directory_extra}

[store]
{store}
"#,
        url = s.url(),
        ca = s.get("LDAP_CA_FILE"),
        bind_dn = s.get("LDAP_BIND_DN"),
        bind_pw = s.get("LDAP_BIND_PASSWORD_FILE"),
        policy = s.get("LDAP_POLICY_DN"),
        store = store::section(dir),
    )
}

/// Runs the real binary with a config file (its output kept for the password check).
pub fn pwresetd(config: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_pwresetd"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("PWRESETD_CONFIG")
        .output()
        .expect("run pwresetd");
    artifacts::keep_output(args, &out);
    out
}

/// stdout + stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Parses stdout as JSON.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

/// A loopback port that was free a moment ago (for a server started later).
///
/// Chosen below the kernel's ephemeral range (32768 and up by default): a port the kernel hands
/// out for `:0` can be taken again at once as the source port of any outgoing connection (an
/// LDAP or SMTP client of a test running beside), and the server then fails with "Address
/// already in use". Ports are never handed out twice within one test process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Each process starts at its own offset, so test binaries run side by side rarely meet.
    let _ = NEXT.compare_exchange(
        0,
        (std::process::id() % 10_000) as u16,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..12_000 {
        let port = 20_000 + NEXT.fetch_add(1, Ordering::SeqCst) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between 20000 and 31999")
}

/// The value of the hidden field `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Waits until `probe` answers, or fails the test after `limit`.
pub async fn eventually<T>(what: &str, limit: Duration, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many accounts a campaign's store holds as marked (0 while the store does not exist yet).
pub fn marked_in_store(path: &Path) -> i64 {
    let Ok(conn) = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else {
        return 0;
    };
    conn.query_row("SELECT COUNT(*) FROM accounts WHERE state = 'marked'", [], |r| r.get(0))
        .unwrap_or(0)
}
