//! The helpdesk's test set-up: a fixture OU with accounts and two operators (one in a nested
//! operator group, one in no group), an SMTP capture server, an API token made with the real
//! `pwresetd helpdesk token create`, a campaign started with the real CLI, and the real daemon
//! serving the portal and the admin listener (where the helpdesk lives) on free ports.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use serde_json::Value;

use super::daemon::Daemon;
use super::smtp::SmtpServer;
use super::store::Backend;
use super::{Fixture, User, free_port, hidden, text};

pub const CAMPAIGN: &str = "hd-incident";

pub struct Setup {
    pub f: Fixture,
    pub smtp: SmtpServer,
    pub daemon: Daemon,
    pub token: String,
    pub token_file: PathBuf,
    /// `http://127.0.0.1:ADMIN`
    pub base: String,
    /// `http://127.0.0.1:PORTAL`
    pub portal: String,
    pub group: String,
}

fn operator(uid: &str) -> User {
    User {
        employee_type: Some("service"),
        ..User::new(uid)
    }
}

/// Accounts ann, bob, carl, prior (flagged before the campaign), nomail (no address),
/// `o*neil`; operators op1 and nobody.
fn population() -> [User; 8] {
    [
        User::new("ann"),
        User::new("bob"),
        User::new("carl"),
        User {
            flagged: true,
            ..User::new("prior")
        },
        User {
            mail: vec![],
            ..User::new("nomail")
        },
        User {
            cn: "Oisin O'Neil (100%)".into(),
            ..User::new("o*neil")
        },
        operator("op1"),
        operator("nobody"),
    ]
}

/// cn=tier1 (with op1) inside cn=helpdesk, the operator group; its DN.
async fn add_operator_groups(f: &Fixture) -> String {
    let tier1 = format!("cn=tier1,{}", f.ou);
    let group = format!("cn=helpdesk,{}", f.ou);
    let mut admin = super::admin().await;
    for (dn, cn, member) in [(&tier1, "tier1", f.dn("op1")), (&group, "helpdesk", tier1.clone())] {
        let attrs = vec![
            ("objectClass", HashSet::from(["groupOfNames"])),
            ("cn", HashSet::from([cn])),
            ("member", HashSet::from([member.as_str()])),
        ];
        assert_eq!(admin.add(dn, attrs).await.unwrap().rc, 0, "add {dn}");
    }
    let _ = admin.unbind().await;
    group
}

/// A token, made as an administrator would: (the token, the operator's token file, the
/// server's tokens file).
pub fn create_token(f: &Fixture) -> (String, PathBuf, PathBuf) {
    let out = f.run(&["helpdesk", "token", "create", "--name", "ci"]);
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = printed.lines().map(str::trim).collect();
    let token = lines.iter().find(|l| l.starts_with("ci.")).unwrap().to_string();
    let line = lines
        .iter()
        .find(|l| l.starts_with("ci:$argon2id$"))
        .unwrap()
        .to_string();
    let tokens = f.dir.path().join("helpdesk-tokens");
    std::fs::write(&tokens, format!("# helpdesk API tokens\n{line}\n")).unwrap();
    let token_file = f.dir.path().join("my-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    (token, token_file, tokens)
}

/// The bearer token `/metrics` asks for in these set-ups.
pub const METRICS_TOKEN: &str = "metrics-0123456789abcdef";

/// The `[portal]` (with `portal_extra` lines), `[daemon]`, `[mail]` and `[helpdesk]` sections
/// for the daemon.
pub fn serve_sections(
    ports: (u16, u16),
    smtp: &SmtpServer,
    group: &str,
    files: (&Path, &Path),
    portal_extra: &str,
) -> String {
    let (admin_port, portal_port) = ports;
    let (tokens, metrics_token) = files;
    format!(
        r#"
[portal]
listen = "127.0.0.1:{portal_port}"
public_url = "http://127.0.0.1:{portal_port}"
{portal_extra}

[daemon]
admin_listen = "127.0.0.1:{admin_port}"
reconcile_interval = "1h"
notify_interval = "1s"
shutdown_grace = "5s"
metrics_token_file = "{metrics_token}"

[mail]
transport = "smtp"
smtp_url = "{smtp}"
starttls = false
allow_insecure = true
from = "IT Security <it-security@example.org>"
retry_initial = "100ms"
timeout = "5s"

[helpdesk]
operator_group = "{group}"
api_tokens_file = "{tokens}"
"#,
        smtp = smtp.url(),
        tokens = tokens.display(),
        metrics_token = metrics_token.display(),
    )
}

/// `campaign start` with the real CLI, a week's deadline.
fn start_campaign(f: &Fixture) {
    let deadline = (Utc::now() + chrono::Duration::days(7)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let out = f.run(&[
        "campaign",
        "start",
        "--name",
        CAMPAIGN,
        "--reason",
        "Intrusion",
        "--deadline",
        &deadline,
        "--yes",
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

impl Setup {
    /// The [`population`], op1 in cn=tier1, itself in cn=helpdesk; nobody in no group.
    pub async fn start(name: &str) -> Setup {
        Self::start_with(name, "").await
    }

    /// [`Setup::start`], with extra `[portal]` lines (e.g. `auth = "any"`).
    pub async fn start_with(name: &str, portal_extra: &str) -> Setup {
        Self::start_on(Backend::suite_default(), name, portal_extra).await
    }

    /// Like [`Setup::start_with`], with the store on `backend`.
    pub async fn start_on(backend: Backend, name: &str, portal_extra: &str) -> Setup {
        let f = Fixture::on(backend, name, &population(), "").await;
        let group = add_operator_groups(&f).await;
        let (token, token_file, tokens) = create_token(&f);
        let metrics_token = f.dir.path().join("metrics-token");
        std::fs::write(&metrics_token, format!("{METRICS_TOKEN}\n")).unwrap();
        let smtp = SmtpServer::start(&[]);
        let (admin_port, portal_port) = (free_port(), free_port());
        let files = (tokens.as_path(), metrics_token.as_path());
        f.append_config(&serve_sections(
            (admin_port, portal_port),
            &smtp,
            &group,
            files,
            portal_extra,
        ));
        start_campaign(&f);
        let mut daemon = Daemon::start(&f.config, admin_port, portal_port);
        assert!(
            daemon.wait_notification("READY=1", Duration::from_secs(30)).is_some(),
            "{}",
            daemon.log_text()
        );
        let setup = Setup {
            base: format!("http://127.0.0.1:{admin_port}"),
            portal: format!("http://127.0.0.1:{portal_port}"),
            f,
            smtp,
            daemon,
            token,
            token_file,
            group,
        };
        // The first notices: one per account with an address.
        let got = setup.smtp.wait_for_messages(5, Duration::from_secs(30));
        assert_eq!(got.len(), 5, "{}", setup.daemon.log_text());
        setup
    }

    pub fn http() -> reqwest::Client {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    /// A request to the admin listener with the token (or `auth` as the Authorization header,
    /// or `cookie`); the status and the body as JSON (`Null` when not JSON).
    pub async fn call(&self, method: &str, path: &str, auth: Auth<'_>, body: Option<Value>) -> (u16, Value) {
        let r = self.request(method, path, auth, body).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A request to the admin listener, authenticated as `auth` says, with `body` as JSON.
    pub fn request(&self, method: &str, path: &str, auth: Auth<'_>, body: Option<Value>) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", self.base);
        let req = Self::http().request(method.parse().unwrap(), &url);
        let req = match auth {
            Auth::Token => req.bearer_auth(&self.token),
            Auth::Header(h) => req.header("authorization", h),
            Auth::Cookie(c) => req.header("cookie", c),
            Auth::None => req,
        };
        match body {
            Some(b) => req.json(&b),
            None => req,
        }
    }

    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, Auth::Token, body).await
    }

    /// Signs in through the web form; the session cookie (`name=value`), or the status.
    pub async fn sign_in(&self, login: &str, password: &str) -> Result<String, u16> {
        let (status, cookie, _) = sign_in_page(&self.base, login, password).await;
        cookie.ok_or(status)
    }

    /// The one-time links in the mails captured so far, oldest first, per recipient.
    pub fn links_for(&self, address: &str) -> Vec<String> {
        let prefix = format!("{}/reset/", self.portal);
        self.smtp
            .messages()
            .iter()
            .filter(|m| m.rcpt_tos().iter().any(|r| r == address))
            .filter_map(|m| {
                let body = m.parse().part("text/plain").body.clone();
                let start = body.find(&prefix)?;
                let link: String = body[start..].chars().take_while(|c| !c.is_whitespace()).collect();
                Some(link)
            })
            .collect()
    }

    pub async fn portal_status(link: &str) -> u16 {
        Self::http().get(link).send().await.unwrap().status().as_u16()
    }

    pub fn store(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.f.store_path()).unwrap()
    }

    /// Records `login` as found locked at the deadline, in the store only (the deadline left a
    /// lock from before as it was, so an unlock writes nothing to the directory).
    pub fn locked_before_the_deadline(&self, login: &str) {
        let n = self
            .store()
            .execute(
                "UPDATE accounts SET lock_state = 'locked', prior_locked = 1,
                 locked_at = '2026-01-01T00:00:00Z', locked_by = 'deadline' WHERE login = ?1",
                [login],
            )
            .unwrap();
        assert_eq!(n, 1, "{login} is in one campaign");
    }
}

#[derive(Clone, Copy)]
pub enum Auth<'a> {
    Token,
    Header(&'a str),
    Cookie(&'a str),
    None,
}

/// `name=value` from a response's Set-Cookie headers.
pub fn cookie_pair(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// Signs in through the helpdesk at `base` as a browser does (the form's CSRF field and
/// cookie): the status, the cookies to send afterwards when a session started, and the page.
pub async fn sign_in_page(base: &str, login: &str, password: &str) -> (u16, Option<String>, String) {
    let http = Setup::http();
    let page = http.get(format!("{base}/helpdesk/login")).send().await.unwrap();
    let csrf_cookie = cookie_pair(&page, "pwresetd-csrf").unwrap();
    let html = page.text().await.unwrap();
    let field = hidden(&html, "csrf");
    let r = http
        .post(format!("{base}/helpdesk/login"))
        .header("cookie", &csrf_cookie)
        .form(&[("csrf", field.as_str()), ("login", login), ("password", password)])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let session = cookie_pair(&r, "pwresetd-helpdesk").filter(|_| status == 303);
    let cookie = session.map(|s| format!("{csrf_cookie}; {s}"));
    (status, cookie, r.text().await.unwrap())
}

/// The helpdesk served in-process for a configuration (a flavour's case): the real directory
/// client and store, no mailer, on a free loopback port. No daemon: what is tested is the
/// helpdesk's answer to that directory.
pub struct InProcess {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    served: tokio::task::JoinHandle<()>,
}

impl InProcess {
    pub async fn start(config: &Path) -> InProcess {
        use std::sync::Arc;
        let config = pwresetd::daemon::config::load(config).unwrap();
        let directory = pwresetd::directory::connect(&config.directory).unwrap();
        let store = pwresetd::store::Store::open(config.store.sqlite_path().unwrap()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let state = pwresetd::helpdesk::HelpdeskState::new(pwresetd::helpdesk::HelpdeskParts {
            config: config.helpdesk.clone(),
            directory,
            store: store.clone(),
            resender: Arc::new(pwresetd::helpdesk::NoMailer),
            admin_listen: address,
            budget: Arc::new(pwresetd::web::budget::Budget::new(store)),
            portal_url: config.portal.public_url.clone(),
        })
        .unwrap();
        let app = pwresetd::helpdesk::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let served = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        InProcess {
            base: format!("http://{address}"),
            served,
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.served.abort();
    }
}
