//! The three directory flavours behind one face, so that `tests/flavors.rs` runs one scenario on
//! each: the shared slapd (through [`super::Fixture`]), the Samba AD DC and the 389-DS that
//! `scripts/test` starts once per run (env files named by `PWRESETD_TEST_AD_ENV` and
//! `PWRESETD_TEST_DS389_ENV`).
//!
//! Each [`Case`] is a private OU on one server with its own users, config file and store, so cases
//! run in parallel and never touch the servers' template users (other tests rely on them). Users
//! are described in flavour-neutral terms ([`Person`]) and created the way each server wants
//! (Active Directory: `unicodePwd` and `userAccountControl`; 389-DS: `nsAccountLock`, and the
//! expiry Directory Manager's add sets is taken off).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, OnceLock};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry, dn_escape, ldap_escape};
use pwresetd::directory::{self, Directory};

use super::{USER_PASSWORD, User};

/// A directory flavour under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    OpenLdap,
    ActiveDirectory,
    Ds389,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::OpenLdap => "openldap",
            Kind::ActiveDirectory => "active-directory",
            Kind::Ds389 => "389ds",
        }
    }
}

/// What a test user is, whatever the flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Ordinary,
    /// Matches the case's `exclude_filter` (every flavour excludes it).
    Service,
    /// Disabled in the directory (AD ACCOUNTDISABLE, 389 nsAccountLock; an ordinary user on OpenLDAP).
    Disabled,
    /// AD DONT_EXPIRE_PASSWORD (an ordinary user elsewhere).
    NeverExpires,
}

/// A test user. `login` gets the case's tag prefixed (AD logins are domain-wide).
#[derive(Debug, Clone)]
pub struct Person {
    pub login: &'static str,
    pub cn: &'static str,
    pub role: Role,
    /// Carries the flag before any campaign (set as the directory's administrator).
    pub flagged: bool,
}

impl Person {
    pub const fn new(login: &'static str, cn: &'static str) -> Self {
        Person {
            login,
            cn,
            role: Role::Ordinary,
            flagged: false,
        }
    }

    pub const fn role(self, role: Role) -> Self {
        Person { role, ..self }
    }

    pub const fn flagged(self) -> Self {
        Person { flagged: true, ..self }
    }
}

/// What the server does to a user bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restriction {
    /// The bind and a read of the user's own entry succeed.
    Free,
    /// The bind is refused with this AD `data` code (773 = must change).
    BindRefused(String),
    /// The bind succeeds, then reading the own entry gets this result code.
    Restricted(u32),
    /// The bind is refused with this result code.
    Refused(u32),
}

/// An env file written by a fixture script.
#[derive(Debug, Clone)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    pub fn get(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from the fixture's env file"))
    }

    fn secret(&self, key: &str) -> String {
        std::fs::read_to_string(self.get(key))
            .unwrap()
            .trim_end_matches('\n')
            .to_owned()
    }
}

fn load_env(var: &str, script: &str) -> Env {
    let path = std::env::var(var).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| {
        panic!(
            "{var} is not set: these tests need the servers scripts/test starts; run scripts/test \
             (or {script} DIR and export {var}=DIR/env)"
        )
    });
    Env {
        vars: super::read_env(Path::new(&path)),
    }
}

/// The Samba AD DC of this run.
pub fn ad() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| load_env("PWRESETD_TEST_AD_ENV", "scripts/samba-start"))
}

/// The 389-DS of this run.
pub fn ds389() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| load_env("PWRESETD_TEST_DS389_ENV", "scripts/ds389-start"))
}

/// A private OU with users, a config file and a store, on one flavour's server.
pub struct Case {
    pub kind: Kind,
    pub ou: String,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    /// Tagged login → DN.
    dns: BTreeMap<String, String>,
    tag: String,
    directory_extra: String,
}

impl Case {
    /// Creates `OU=<name>-<random>` under the server's people OU, with `people` in it, and a
    /// config (extra `[directory]` lines in `directory_extra`) whose base DN is that OU.
    pub async fn new(kind: Kind, name: &str, people: &[Person], directory_extra: &str) -> Case {
        let tag = format!("{:05x}", super::rand_u32() & 0xfffff);
        let dir = super::artifacts::tempdir();
        let config = dir.path().join("pwresetd.toml");
        let (ou, dns) = match kind {
            Kind::OpenLdap => {
                let users: Vec<User> = people.iter().map(|p| openldap_user(&tag, p)).collect();
                let f = super::Fixture::new(name, &users).await;
                let dns = people
                    .iter()
                    .map(|p| (format!("{tag}{}", p.login), f.dn(&format!("{tag}{}", p.login))))
                    .collect();
                (f.ou.clone(), dns)
            }
            Kind::ActiveDirectory => add_ad(name, &tag, people).await,
            Kind::Ds389 => add_ds389(name, &tag, people).await,
        };
        let case = Case {
            kind,
            ou,
            dir,
            config,
            dns,
            tag,
            directory_extra: directory_extra.to_owned(),
        };
        case.write_config(directory_extra);
        case
    }

    /// The tagged login of a person.
    pub fn login(&self, login: &str) -> String {
        format!("{}{login}", self.tag)
    }

    pub fn dn(&self, login: &str) -> String {
        self.dns
            .get(&self.login(login))
            .unwrap_or_else(|| panic!("no person {login}"))
            .clone()
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("state.db")
    }

    /// Runs the real binary with this case's config.
    pub fn run(&self, args: &[&str]) -> Output {
        super::pwresetd(&self.config, args)
    }

    /// `campaign start` of campaign `name` ("Intrusion", a deadline in 2099, confirmed), which
    /// must succeed.
    pub fn start_campaign(&self, name: &str) {
        let args = ["campaign", "start", "--name", name, "--reason", "Intrusion"];
        let out = self.run(&[&args[..], &["--deadline", "2099-12-04T17:00:00Z", "--yes"]].concat());
        assert!(out.status.success(), "{name}: {}", super::text(&out));
    }

    /// The library's directory client for this case's config (its DONT_EXPIRE_PASSWORD ledger
    /// in the case's store, as `serve` and the CLI keep it).
    pub fn directory(&self) -> Arc<dyn Directory> {
        let config = pwresetd::daemon::config::load(&self.config).unwrap();
        self.directory_with(&config.directory)
    }

    /// The directory client for `config` (e.g. another host's), with the case's store.
    pub fn directory_with(&self, config: &pwresetd::directory::config::DirectoryConfig) -> Arc<dyn Directory> {
        let store = pwresetd::store::Store::open(&self.store_path()).unwrap();
        directory::connect_with_ledger(config, Some(Arc::new(store))).unwrap()
    }

    /// Rewrites the config with other extra `[directory]` lines.
    pub fn write_config(&self, directory_extra: &str) {
        let store = self.store_path();
        let text = match self.kind {
            Kind::OpenLdap => super::config_toml(&self.ou, self.dir.path(), directory_extra),
            Kind::ActiveDirectory => ldap_config(
                ad(),
                "AD",
                "active-directory",
                &self.ou,
                "(description=service)",
                directory_extra,
                &store,
            ),
            Kind::Ds389 => ldap_config(
                ds389(),
                "DS",
                "389ds",
                &self.ou,
                "(employeeType=service)",
                directory_extra,
                &store,
            ),
        };
        std::fs::write(&self.config, text).unwrap();
    }

    /// Puts back the `[directory]` lines the case was created with.
    pub fn restore_config(&self) {
        self.write_config(&self.directory_extra.clone());
    }

    /// Appends sections (`[mail]`, `[portal]`) to the config.
    pub fn append_config(&self, text: &str) {
        let mut toml = std::fs::read_to_string(&self.config).unwrap();
        toml.push('\n');
        toml.push_str(text);
        std::fs::write(&self.config, toml).unwrap();
    }

    /// A connection bound as the server's administrator (rootdn, Administrator, Directory Manager).
    pub async fn admin(&self) -> Ldap {
        admin(self.kind).await
    }

    /// DNs under the case's OU whose "must change" mark is set, as the administrator sees it
    /// (`pwdReset: TRUE`, `pwdLastSet: 0`, `passwordExpirationTime: 19700101000000Z`), lower-cased.
    pub async fn flagged(&self) -> HashSet<String> {
        let filter = match self.kind {
            Kind::OpenLdap => "(pwdReset=TRUE)",
            Kind::ActiveDirectory => "(pwdLastSet=0)",
            Kind::Ds389 => "(passwordExpirationTime=19700101000000Z)",
        };
        let entries = self.search(&self.ou, Scope::Subtree, filter, &["1.1"]).await;
        entries.into_iter().map(|e| e.dn.to_lowercase()).collect()
    }

    /// The lower-cased DNs of `logins`.
    pub fn dn_set(&self, logins: &[&str]) -> HashSet<String> {
        logins.iter().map(|l| self.dn(l).to_lowercase()).collect()
    }

    /// Searches as the administrator.
    pub async fn search(&self, base: &str, scope: Scope, filter: &str, attrs: &[&str]) -> Vec<SearchEntry> {
        let mut ldap = self.admin().await;
        let (entries, _) = ldap
            .search(base, scope, filter, attrs.to_vec())
            .await
            .unwrap()
            .success()
            .unwrap();
        let _ = ldap.unbind().await;
        entries
            .into_iter()
            .filter(|e| !e.is_ref())
            .map(SearchEntry::construct)
            .collect()
    }

    /// One attribute of a person's entry, as the administrator sees it.
    pub async fn attr(&self, login: &str, attr: &str) -> Option<String> {
        let e = self
            .search(&self.dn(login), Scope::Base, "(objectClass=*)", &[attr])
            .await;
        e.first()
            .and_then(|e| e.attrs.iter().find(|(k, _)| k.eq_ignore_ascii_case(attr)))
            .map(|(_, v)| v[0].clone())
    }

    /// Modifies a person's entry as the administrator.
    pub async fn admin_modify(&self, login: &str, mods: Vec<Mod<Vec<u8>>>) {
        let mut ldap = self.admin().await;
        let dn = self.dn(login);
        let res = ldap.modify(&dn, mods).await.unwrap();
        assert_eq!(res.rc, 0, "modify {dn}: {res:?}");
        let _ = ldap.unbind().await;
    }

    /// What the server does to `login`'s bind with `password`.
    pub async fn restriction(&self, login: &str, password: &str) -> Restriction {
        let dn = self.dn(login);
        let mut ldap = connect(self.kind).await;
        let res = ldap.simple_bind(&dn, password).await.unwrap();
        if res.rc != 0 {
            return match res.text.split_once("data ") {
                Some((_, rest)) if self.kind == Kind::ActiveDirectory => {
                    Restriction::BindRefused(rest.split(',').next().unwrap_or_default().to_owned())
                }
                _ => Restriction::Refused(res.rc),
            };
        }
        let res = ldap
            .search(&dn, Scope::Base, "(objectClass=*)", vec!["cn"])
            .await
            .unwrap();
        let _ = ldap.unbind().await;
        match res.1.rc {
            0 => Restriction::Free,
            rc => Restriction::Restricted(rc),
        }
    }
}

fn openldap_user(tag: &str, p: &Person) -> User {
    let login = format!("{tag}{}", p.login);
    User {
        cn: p.cn.to_owned(),
        employee_type: (p.role == Role::Service).then_some("service"),
        flagged: p.flagged,
        ..User::new(&login)
    }
}

fn ldap_config(
    env: &Env,
    prefix: &str,
    flavor: &str,
    base_dn: &str,
    exclude: &str,
    directory_extra: &str,
    store: &std::path::Path,
) -> String {
    let url = env.get(&format!("{prefix}_LDAP_URL"));
    format!(
        r#"[directory]
flavor = "{flavor}"
url = "{url}"
starttls = true
ca_file = "{ca}"
bind_dn = "{bind_dn}"
bind_password_file = "{bind_pw}"
base_dn = "{base_dn}"
exclude_filter = "{exclude}"
{directory_extra}

[store]
path = "{store}"
"#,
        ca = env.get(&format!("{prefix}_CA_FILE")),
        bind_dn = env.get(&format!("{prefix}_BIND_DN")),
        bind_pw = env.get(&format!("{prefix}_BIND_PASSWORD_FILE")),
        store = store.display(),
    )
}

/// A StartTLS connection (not bound) to a flavour's server.
pub async fn connect(kind: Kind) -> Ldap {
    let (url, ca) = match kind {
        Kind::OpenLdap => (
            super::slapd().url().to_owned(),
            super::slapd().get("LDAP_CA_FILE").to_owned(),
        ),
        Kind::ActiveDirectory => (ad().get("AD_LDAP_URL").to_owned(), ad().get("AD_CA_FILE").to_owned()),
        Kind::Ds389 => (
            ds389().get("DS_LDAP_URL").to_owned(),
            ds389().get("DS_CA_FILE").to_owned(),
        ),
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in super::rustls_pemfile_certs(&std::fs::read(&ca).unwrap()) {
        roots.add(cert).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let settings = LdapConnSettings::new().set_starttls(true).set_config(Arc::new(tls));
    let (conn, ldap) = LdapConnAsync::with_settings(settings, &url).await.unwrap();
    ldap3::drive!(conn);
    ldap
}

/// A connection bound as the flavour's administrator.
pub async fn admin(kind: Kind) -> Ldap {
    let (dn, password) = match kind {
        Kind::OpenLdap => return super::admin().await,
        Kind::ActiveDirectory => (ad().get("AD_ADMIN_DN"), ad().secret("AD_ADMIN_PASSWORD_FILE")),
        Kind::Ds389 => (ds389().get("DS_ADMIN_DN"), ds389().secret("DS_ADMIN_PASSWORD_FILE")),
    };
    let mut ldap = connect(kind).await;
    let res = ldap.simple_bind(dn, &password).await.unwrap();
    assert_eq!(res.rc, 0, "administrator bind: {res:?}");
    ldap
}

async fn add_ou(ldap: &mut Ldap, ou: &str, value: &str) {
    let res = ldap
        .add(
            ou,
            vec![
                ("objectClass", HashSet::from(["top", "organizationalUnit"])),
                ("ou", HashSet::from([value])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "add {ou}: {res:?}");
}

/// A `unicodePwd` value: the quoted password in UTF-16LE.
pub fn unicode_pwd(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

async fn add_ad(name: &str, tag: &str, people: &[Person]) -> (String, BTreeMap<String, String>) {
    let value = format!("{name}-{tag}");
    let ou = format!("OU={value},{}", ad().get("AD_PEOPLE_DN"));
    let mut ldap = admin(Kind::ActiveDirectory).await;
    add_ou(&mut ldap, &ou, &value).await;
    let mut dns = BTreeMap::new();
    for p in people {
        let login = format!("{tag}{}", p.login);
        let dn = format!("CN={},{ou}", dn_escape(p.cn));
        let uac = 0x200
            | match p.role {
                Role::Disabled => 0x2,
                Role::NeverExpires => 0x1_0000,
                Role::Ordinary | Role::Service => 0,
            };
        let mut attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = vec![
            (b"objectClass".to_vec(), HashSet::from([b"user".to_vec()])),
            (b"sAMAccountName".to_vec(), HashSet::from([login.clone().into_bytes()])),
            (
                b"userPrincipalName".to_vec(),
                HashSet::from([format!("{login}@example.org").into_bytes()]),
            ),
            (b"unicodePwd".to_vec(), HashSet::from([unicode_pwd(USER_PASSWORD)])),
            (
                b"userAccountControl".to_vec(),
                HashSet::from([uac.to_string().into_bytes()]),
            ),
            (b"displayName".to_vec(), HashSet::from([p.cn.as_bytes().to_vec()])),
            (
                b"sn".to_vec(),
                HashSet::from([p.cn.rsplit(' ').next().unwrap().as_bytes().to_vec()]),
            ),
            (
                b"mail".to_vec(),
                HashSet::from([format!("{login}@example.org").into_bytes()]),
            ),
            (b"preferredLanguage".to_vec(), HashSet::from([b"en".to_vec()])),
        ];
        if p.role == Role::Service {
            attrs.push((b"description".to_vec(), HashSet::from([b"service".to_vec()])));
        }
        let res = ldap.add(&dn, attrs).await.unwrap();
        assert_eq!(res.rc, 0, "add {dn}: {res:?}");
        if p.flagged {
            let res = ldap
                .modify(&dn, vec![Mod::Replace("pwdLastSet", HashSet::from(["0"]))])
                .await
                .unwrap();
            assert_eq!(res.rc, 0, "flag {dn}: {res:?}");
        }
        dns.insert(login, dn);
    }
    let _ = ldap.unbind().await;
    (ou, dns)
}

async fn add_ds389(name: &str, tag: &str, people: &[Person]) -> (String, BTreeMap<String, String>) {
    let value = format!("{name}-{tag}");
    let ou = format!("ou={value},{}", ds389().get("DS_PEOPLE_DN"));
    let mut ldap = admin(Kind::Ds389).await;
    add_ou(&mut ldap, &ou, &value).await;
    let mut dns = BTreeMap::new();
    for p in people {
        let login = format!("{tag}{}", p.login);
        let dn = format!("uid={},{ou}", dn_escape(&login));
        let mail = format!("{login}@example.org");
        let sn = p.cn.rsplit(' ').next().unwrap();
        let mut attrs: Vec<(&str, HashSet<&str>)> = vec![
            (
                "objectClass",
                HashSet::from(["top", "person", "organizationalPerson", "inetOrgPerson"]),
            ),
            ("uid", HashSet::from([login.as_str()])),
            ("cn", HashSet::from([p.cn])),
            ("sn", HashSet::from([sn])),
            ("displayName", HashSet::from([p.cn])),
            ("mail", HashSet::from([mail.as_str()])),
            ("preferredLanguage", HashSet::from(["en"])),
            ("userPassword", HashSet::from([USER_PASSWORD])),
        ];
        match p.role {
            Role::Service => attrs.push(("employeeType", HashSet::from(["service"]))),
            Role::Disabled => attrs.push(("nsAccountLock", HashSet::from(["TRUE"]))),
            Role::Ordinary | Role::NeverExpires => {}
        }
        let res = ldap.add(&dn, attrs).await.unwrap();
        assert_eq!(res.rc, 0, "add {dn}: {res:?}");
        // Directory Manager's add under passwordMustChange marks the entry: take that off unless
        // the person is to start flagged.
        if !p.flagged {
            let res = ldap
                .modify(
                    &dn,
                    vec![Mod::Delete(
                        "passwordExpirationTime",
                        HashSet::from(["19700101000000Z"]),
                    )],
                )
                .await
                .unwrap();
            assert!(matches!(res.rc, 0 | 16), "unmark {dn}: {res:?}");
        } else {
            let res = ldap
                .modify(
                    &dn,
                    vec![Mod::Replace(
                        "passwordExpirationTime",
                        HashSet::from(["19700101000000Z"]),
                    )],
                )
                .await
                .unwrap();
            assert_eq!(res.rc, 0, "flag {dn}: {res:?}");
        }
        dns.insert(login, dn);
    }
    let _ = ldap.unbind().await;
    (ou, dns)
}

/// A filter-safe value (for tests building filters from DNs).
pub fn escaped(value: &str) -> String {
    ldap_escape(value).into_owned()
}
