//! State that several `pwresetd serve` instances on one store share, and that a restart keeps
//! (issue 16): the portal's rate limits count the attempts made on every instance (per account
//! and per address) and survive a restart, and so does the budget of failed password binds; a
//! helpdesk operator signed in on instance A is signed in on instance B (the cookie replayed
//! against B's listener), also after B restarts, and signing out on A ends the session on B; a
//! form shown by one instance is accepted by the other (one CSRF key). Two real daemons on one
//! store — a SQLite file, and a fresh database on scripts/pg-start's PostgreSQL — the shared
//! slapd, the SMTP capture server.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::daemon::Daemon;
use common::helpdesk::{Auth, Setup, sign_in_page};
use common::portal::{STRONG, client, form_csrf, submit};
use common::store::Backend;
use common::{USER_PASSWORD, free_port};

const ACCOUNT: &str = "/api/v1/accounts/ann";
const PER_ACCOUNT: usize = 3;
const PER_ADDRESS: usize = 10;

/// A copy of A's config for instance B: the same store, directory and mail server; its own
/// listeners.
fn second_config(a: &Path, admin: u16, portal: u16) -> PathBuf {
    let lines: Vec<String> = std::fs::read_to_string(a)
        .unwrap()
        .lines()
        .map(|l| {
            if l.starts_with("admin_listen =") {
                format!("admin_listen = \"127.0.0.1:{admin}\"")
            } else if l.starts_with("listen =") {
                format!("listen = \"127.0.0.1:{portal}\"")
            } else {
                l.to_owned()
            }
        })
        .collect();
    let b = a.with_file_name("instance-b.toml");
    std::fs::write(&b, lines.join("\n")).unwrap();
    b
}

fn start(config: &Path, admin: u16, portal: u16) -> Daemon {
    let mut d = Daemon::start(config, admin, portal);
    assert!(
        d.wait_notification("READY=1", Duration::from_secs(30)).is_some(),
        "{}",
        d.log_text()
    );
    d
}

/// One wrong current password posted to `/change` on the portal at `base` for `login`, on the
/// form another instance (`shown_by`) showed, as a load balancer may send them; the status (429
/// when a rate limit refused it, 403 if the CSRF key were not shared).
async fn wrong_guess(shown_by: &str, base: &str, login: &str) -> u16 {
    let c = client();
    let change = format!("{base}/change");
    let token = form_csrf(&c, &format!("{shown_by}/change")).await;
    let fields = [
        ("csrf", token.as_str()),
        ("login", login),
        ("current_password", "Wrong-guess-1"),
        ("new_password", STRONG),
        ("confirm_password", STRONG),
    ];
    submit(&c, &change, &fields).await.0
}

async fn sign_out(base: &str, cookie: &str) {
    let http = Setup::http();
    let home = http
        .get(format!("{base}/helpdesk/"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = common::hidden(&home, "csrf");
    let out = http
        .post(format!("{base}/helpdesk/logout"))
        .header("cookie", cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
}

async fn status_with_cookie(base: &str, cookie: &str) -> u16 {
    let r = Setup::http()
        .get(format!("{base}{ACCOUNT}"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_sqlite_share_rate_limits_and_helpdesk_sessions_across_restarts() {
    share_rate_limits_and_sessions(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_postgres_share_rate_limits_and_helpdesk_sessions_across_restarts() {
    share_rate_limits_and_sessions(Backend::Postgres).await;
}

async fn share_rate_limits_and_sessions(backend: Backend) {
    if !backend.available() {
        return;
    }
    let portal_extra =
        format!("auth = \"any\"\nrate_limit_per_account = {PER_ACCOUNT}\nrate_limit_per_address = {PER_ADDRESS}");
    let s = Setup::start_on(backend, "shared", &portal_extra).await;
    let (admin_b, portal_b) = (free_port(), free_port());
    let config_b = second_config(&s.f.config, admin_b, portal_b);
    let mut b = start(&config_b, admin_b, portal_b);
    let (base_b, portal_url_b) = (
        format!("http://127.0.0.1:{admin_b}"),
        format!("http://127.0.0.1:{portal_b}"),
    );

    // Per account: bob's attempts alternate between A and B; the bucket is one.
    let mut statuses = Vec::new();
    for i in 0..=PER_ACCOUNT {
        let (shown_by, portal) = if i % 2 == 0 {
            (&portal_url_b, &s.portal)
        } else {
            (&s.portal, &portal_url_b)
        };
        statuses.push(wrong_guess(shown_by, portal, "bob").await);
    }
    assert!(statuses[..PER_ACCOUNT].iter().all(|&c| c == 401), "{statuses:?}");
    assert_eq!(
        statuses[PER_ACCOUNT], 429,
        "the attempts on A and B were not counted together: {statuses:?}"
    );

    // The budget of failed binds (slapd: pwdMaxFailure 5, so 3) is one: carl's failed helpdesk
    // sign-ins alternate between A and B, and carl is never locked.
    let mut statuses = Vec::new();
    for i in 0..4 {
        let base = if i % 2 == 0 { &s.base } else { &base_b };
        statuses.push(sign_in_page(base, "carl", "Wrong-guess-2").await.0);
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429],
        "the budget was not spent across A and B"
    );
    assert!(
        common::bind(&s.f.dn("carl"), USER_PASSWORD).await.is_ok(),
        "carl locked"
    );

    // An operator signs in on A; B knows the session.
    let op = s.sign_in("op1", USER_PASSWORD).await.unwrap();
    assert_eq!(status_with_cookie(&base_b, &op).await, 200);

    // B restarts: bob is still refused there, and the operator still signed in.
    b.signal("TERM");
    assert_eq!(b.wait_exit(Duration::from_secs(20)), Some(0), "{}", b.log_text());
    let b = start(&config_b, admin_b, portal_b);
    assert_eq!(
        wrong_guess(&s.portal, &portal_url_b, "bob").await,
        429,
        "B forgot bob's attempts on restart"
    );
    assert_eq!(
        status_with_cookie(&base_b, &op).await,
        200,
        "B forgot the session on restart"
    );
    assert_eq!(
        sign_in_page(&base_b, "carl", USER_PASSWORD).await.0,
        429,
        "B forgot carl's failed binds on restart"
    );

    // Per address: new logins each time (no account is over its limit), alternating; the
    // address has used PER_ACCOUNT + 2 attempts so far.
    let left = PER_ADDRESS - (PER_ACCOUNT + 2);
    let mut statuses = Vec::new();
    for i in 0..=left {
        let (shown_by, portal) = if i % 2 == 0 {
            (&portal_url_b, &s.portal)
        } else {
            (&s.portal, &portal_url_b)
        };
        statuses.push(wrong_guess(shown_by, portal, &format!("nobody{i}")).await);
    }
    assert!(statuses[..left].iter().all(|&c| c == 401), "{statuses:?}");
    assert_eq!(
        statuses[left], 429,
        "the address's attempts on A and B were not counted together: {statuses:?}"
    );

    // Signing out on A ends the session on B.
    sign_out(&s.base, &op).await;
    assert_eq!(status_with_cookie(&base_b, &op).await, 401);
    assert_eq!(s.call("GET", ACCOUNT, Auth::Cookie(&op), None).await.0, 401);
    drop(b);
}
