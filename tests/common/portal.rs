//! The portal served in-process for tests: a fixture OU in the shared slapd, the real OpenLDAP
//! `Directory`, a real `Store` in the fixture's temp dir, the real `Policy`, a recording
//! notifier, on 127.0.0.1:0. Plus an HTTP client that keeps cookies and reads CSRF fields.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use pwresetd::directory::{self, Directory, ScanItem};
use pwresetd::policy::{Policy, PolicyConfig};
use pwresetd::portal::{Auth, PortalConfig, PortalParts, PortalState, RecordingNotifier};
use pwresetd::store::{AccountRecord, CampaignSpec, MailOutcome, Scope, Store};
use pwresetd::token;
use tokio::sync::oneshot;

use super::{Fixture, User};

/// How a test wants its portal.
#[derive(Clone)]
pub struct Options {
    pub auth: Auth,
    pub policy: PolicyConfig,
    pub per_address: u32,
    pub per_account: u32,
    /// Replaces the plain-HTTP public URL (e.g. to serve HTTPS).
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Replaces the directory URL (e.g. a fault proxy in front of slapd).
    pub directory_url: Option<String>,
    /// Replaces `portal.max_connections`.
    pub max_connections: Option<usize>,
    /// Replaces `portal.max_connections_per_client`.
    pub max_connections_per_client: Option<usize>,
    /// `portal.trusted_proxies`.
    pub trusted_proxies: Vec<&'static str>,
    /// `mail.helpdesk`: how the "locked" and "gone" pages say to reach the helpdesk.
    pub helpdesk: String,
    /// Users not flagged in the directory before the scan: their records are pending (in
    /// scope, not marked yet). Every other user is flagged (its record marked).
    pub unflagged: Vec<&'static str>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            auth: Auth::Any,
            policy: PolicyConfig::default(),
            per_address: 1000,
            per_account: 1000,
            tls: None,
            directory_url: None,
            max_connections: None,
            max_connections_per_client: None,
            trusted_proxies: Vec::new(),
            helpdesk: "call 4242".into(),
            unflagged: Vec::new(),
        }
    }
}

pub struct Portal {
    pub url: String,
    pub fixture: Fixture,
    pub store: Store,
    pub directory: Arc<dyn Directory>,
    pub policy: Arc<Policy>,
    pub notifier: Arc<RecordingNotifier>,
    pub campaign_id: i64,
    options: Options,
    served: Instance,
}

/// A password every default policy accepts for the fixture users.
pub const STRONG: &str = "violet tractor umbrella 93 quantum";
pub const STRONG2: &str = "marble kettle horizon 57 saffron";

impl Portal {
    /// Creates the OU with `users` (all flagged with pwdReset, as a campaign would), a campaign
    /// that covers them, and serves the portal.
    pub async fn start(name: &str, users: &[&str], options: Options) -> Portal {
        let users: Vec<User> = users
            .iter()
            .map(|u| User {
                flagged: !options.unflagged.contains(u),
                ..User::new(u)
            })
            .collect();
        let fixture = Fixture::new(name, &users).await;
        let mut config = pwresetd::daemon::config::load(&fixture.config).unwrap();
        if let Some(url) = &options.directory_url {
            config.directory.url = url.clone();
        }
        let directory = directory::connect(&config.directory).unwrap();
        let store = Store::open(&fixture.store_path()).unwrap();
        let policy = Arc::new(Policy::load(&options.policy).unwrap());
        let notifier = Arc::new(RecordingNotifier::default());

        let spec = CampaignSpec {
            name: format!("{name}-campaign"),
            reason: "test intrusion".into(),
            deadline: Utc::now() + chrono::Duration::days(7),
            scope: Scope {
                flavor: "openldap".into(),
                base_dn: fixture.ou.clone(),
                user_filter: "(objectClass=inetOrgPerson)".into(),
                exclude_filter: None,
                login_attribute: "uid".into(),
            },
        };
        let (campaign, _) = store.run_blocking(|s| s.create_or_resume(&spec, "test")).unwrap();
        let mut items = Vec::new();
        for u in &users {
            let uid = u.uid.clone().unwrap();
            let details = directory.find_by_login(&uid).await.unwrap().unwrap();
            items.push(ScanItem::InScope(details.account));
        }
        store.run_blocking(|s| s.insert_scanned(campaign.id, &items)).unwrap();

        let served = Instance::serve(
            &options,
            directory.clone(),
            store.clone(),
            policy.clone(),
            notifier.clone(),
        )
        .await;
        Portal {
            url: served.url.clone(),
            fixture,
            store,
            directory,
            policy,
            notifier,
            campaign_id: campaign.id,
            options,
            served,
        }
    }

    /// A second portal instance on the same store file, opened anew (as another `serve` process
    /// would), reaching the directory straight (never through `options.directory_url`).
    pub async fn another_instance(&self) -> Instance {
        let config = pwresetd::daemon::config::load(&self.fixture.config).unwrap();
        let directory = directory::connect(&config.directory).unwrap();
        let store = Store::open(&self.fixture.store_path()).unwrap();
        let notifier = Arc::new(RecordingNotifier::default());
        Instance::serve(&self.options, directory, store, self.policy.clone(), notifier).await
    }

    /// The store's open record of `uid`.
    pub fn record(&self, uid: &str) -> AccountRecord {
        let dn = self.fixture.dn(uid);
        self.store
            .run_blocking(|s| s.accounts_for(uid, Some(&dn)))
            .unwrap()
            .into_iter()
            .find(|r| r.dn == dn)
            .unwrap()
    }

    /// Issues and "delivers" a link for `uid`, valid for `ttl` (negative: already expired).
    /// `step` must differ between links of one account (one notification row each).
    pub fn link(&self, uid: &str, ttl: chrono::Duration, step: u32) -> String {
        let record = self.record(uid);
        let issued = token::issue().unwrap();
        let kind = if step == 0 { "notice" } else { "reminder" };
        let id = self
            .store
            .run_blocking(|s| {
                s.begin_mail(
                    record.id,
                    kind,
                    step,
                    &format!("{uid}@example.org"),
                    Some((&issued.hash, Utc::now() + ttl)),
                )
            })
            .unwrap();
        self.store
            .run_blocking(|s| {
                s.finish_mail(
                    id,
                    &MailOutcome::Sent {
                        message_id: format!("<{uid}-{step}@test>"),
                    },
                    Some(&issued.hash),
                )
            })
            .unwrap();
        issued.token.expose().to_owned()
    }

    pub fn reset_url(&self, link: &str) -> String {
        format!("{}/reset/{link}", self.url)
    }

    pub async fn stop(self) {
        self.served.stop().await
    }
}

/// One portal served in-process until [`Instance::stop`].
pub struct Instance {
    pub url: String,
    stop: oneshot::Sender<()>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Instance {
    /// Serves a portal with `options` over these parts (e.g. another flavour's directory).
    pub async fn serve(
        options: &Options,
        directory: Arc<dyn Directory>,
        store: Store,
        policy: Arc<Policy>,
        notifier: Arc<RecordingNotifier>,
    ) -> Instance {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let scheme = if options.tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://127.0.0.1:{port}");
        let mut portal = PortalConfig::for_url(&url).unwrap();
        portal.auth = options.auth;
        portal.rate_limit.per_address = options.per_address;
        portal.rate_limit.per_account = options.per_account;
        portal.tls = options.tls.clone();
        if let Some(max) = options.max_connections {
            portal.max_connections = max;
        }
        if let Some(max) = options.max_connections_per_client {
            portal.max_connections_per_client = max;
        }
        portal.trusted_proxies = (options.trusted_proxies.iter())
            .map(|p| pwresetd::web::client::Cidr::parse(p).unwrap())
            .collect();
        let state = PortalState::new(PortalParts {
            config: portal,
            directory,
            budget: Arc::new(pwresetd::web::budget::Budget::new(store.clone())),
            store,
            policy,
            notifier,
            helpdesk: options.helpdesk.clone(),
        })
        .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(pwresetd::portal::serve(state, listener, async move {
            let _ = stopped.await;
        }));
        Instance { url, stop, served }
    }

    pub fn reset_url(&self, link: &str) -> String {
        format!("{}/reset/{link}", self.url)
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(15), self.served)
            .await
            .expect("portal drains within 15 s")
            .unwrap()
            .unwrap();
    }
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of the hidden `csrf` field in a page.
pub fn csrf(html: &str) -> String {
    super::hidden(html, "csrf")
}

/// Undoes the HTML escaping minijinja applies, for comparing messages.
pub fn unescape(html: &str) -> String {
    html.replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// GETs `url`, returns (status, body).
pub async fn get(client: &reqwest::Client, url: &str) -> (u16, String) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// POSTs `fields` as a form, returns the response.
pub async fn post(client: &reqwest::Client, url: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    client.post(url).form(fields).send().await.unwrap()
}

/// POSTs and returns (status, body).
pub async fn submit(client: &reqwest::Client, url: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let r = post(client, url, fields).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

/// GETs the form at `url` and returns its CSRF field.
pub async fn form_csrf(client: &reqwest::Client, url: &str) -> String {
    let (status, body) = get(client, url).await;
    assert_eq!(status, 200, "{url}: {body}");
    csrf(&body)
}

/// A `[policy]` that lets the tests' old passwords through its other rules (length 8, no
/// strength or personal-data rule; history and "not the current password" as by default).
pub fn lenient_policy() -> PolicyConfig {
    PolicyConfig {
        min_length: 8,
        min_strength: 0,
        forbid_personal_data: false,
        ..PolicyConfig::default()
    }
}

/// The link form's fields for `password`, typed twice.
pub fn link_fields<'a>(csrf: &'a str, password: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("csrf", csrf),
        ("new_password", password),
        ("confirm_password", password),
    ]
}
