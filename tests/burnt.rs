//! The attacker's view: someone holds every account's old password (the one the campaign
//! burnt) and knows every login. On every directory flavour's real server, the link flow refuses
//! that password as the new one (the service account's write skips the server's history, so
//! pwresetd's own check is all there is), and still accepts another; spellings of one login do
//! not multiply "send me a new link" mails; `/change` takes the burnt current password for no
//! proof (it mails a new link instead); the portal's pages link to nowhere but the portal,
//! whatever path a crafted URL carries; `check-config` warns where a burnt password gets
//! through; a failed helpdesk sign-in names nothing of the directory.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::USER_PASSWORD;
use common::artifacts::FLAVOR_NEW;
use common::flavor::{Case, Kind, Person};
use common::portal::{Instance, Options, Portal, client, form_csrf, submit};
use pwresetd::directory::BindCheck;
use pwresetd::policy::Policy;
use pwresetd::portal::{Auth, RecordingNotifier};
use pwresetd::secret::Secret;
use pwresetd::store::{AccountRecord, MailOutcome, Store};
use pwresetd::token;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Issues a link for `record` and records its mail as delivered; returns the raw token.
fn deliver_link(store: &Store, record: &AccountRecord, address: &str) -> String {
    let issued = token::issue().unwrap();
    let expires = Utc::now() + chrono::Duration::hours(1);
    let id = store
        .run_blocking(|s| s.begin_mail(record.id, "notice", 0, address, Some((&issued.hash, expires))))
        .unwrap();
    let sent = MailOutcome::Sent {
        message_id: format!("<burnt-{}@test>", record.id),
    };
    store
        .run_blocking(|s| s.finish_mail(id, &sent, Some(&issued.hash)))
        .unwrap();
    issued.token.expose().to_owned()
}

/// A campaign on `kind`'s server marking one person, `bo` ("Ona Pike"), and a portal with
/// `options` over the case's directory and store.
struct Served {
    case: Case,
    store: Store,
    portal: Instance,
    notifier: Arc<RecordingNotifier>,
}

async fn serve(kind: Kind, name: &str, options: Options) -> Served {
    let case = Case::new(kind, name, &[Person::new("bo", "Ona Pike")], "").await;
    case.start_campaign(name);
    let store = Store::open(&case.store_path()).unwrap();
    let policy = Arc::new(Policy::load(&options.policy).unwrap());
    let notifier = Arc::new(RecordingNotifier::default());
    let portal = Instance::serve(&options, case.directory(), store.clone(), policy, notifier.clone()).await;
    Served {
        case,
        store,
        portal,
        notifier,
    }
}

/// A campaign marks the account (its password, `USER_PASSWORD`, is now burnt); the link holder
/// types that password as the new one: refused as the current password, nothing written, the
/// account still marked. Another password then goes through.
async fn the_burnt_password_is_refused_through_the_link(kind: Kind) {
    let options = Options {
        auth: Auth::Link,
        policy: common::portal::lenient_policy(),
        ..Options::default()
    };
    let Served {
        case, store, portal, ..
    } = serve(kind, "burnt", options).await;
    let (login, dn) = (case.login("bo"), case.dn("bo"));
    let record = store
        .run_blocking(|s| s.accounts_for(&login, None))
        .unwrap()
        .into_iter()
        .find(|r| r.dn.eq_ignore_ascii_case(&dn))
        .unwrap();
    let link = deliver_link(&store, &record, &format!("{login}@example.org"));
    let directory = case.directory();

    let c = client();
    let url = portal.reset_url(&link);
    let csrf = form_csrf(&c, &url).await;
    let (status, body) = submit(&c, &url, &common::portal::link_fields(&csrf, USER_PASSWORD)).await;
    assert_eq!(status, 422, "{kind:?}: the burnt password must be refused: {body}");
    assert!(body.contains("This is your current password"), "{kind:?}: {body}");
    let bind = |password: &'static str| {
        let (directory, dn) = (directory.clone(), dn.clone());
        async move { directory.check_password(&dn, &Secret::new(password)).await.unwrap() }
    };
    assert_eq!(
        bind(USER_PASSWORD).await,
        BindCheck::MustChange,
        "{kind:?}: nothing written, still marked"
    );

    let (status, body) = submit(&c, &url, &common::portal::link_fields(&csrf, FLAVOR_NEW)).await;
    assert_eq!(status, 200, "{kind:?}: another password goes through: {body}");
    assert_eq!(bind(FLAVOR_NEW).await, BindCheck::Unrestricted, "{kind:?}");
    assert_eq!(bind(USER_PASSWORD).await, BindCheck::Refused, "{kind:?}");
    portal.stop().await;
}

#[tokio::test]
async fn openldap_refuses_the_burnt_password_through_the_link() {
    the_burnt_password_is_refused_through_the_link(Kind::OpenLdap).await;
}

#[tokio::test]
async fn ds389_refuses_the_burnt_password_through_the_link() {
    the_burnt_password_is_refused_through_the_link(Kind::Ds389).await;
}

#[tokio::test]
async fn active_directory_refuses_the_burnt_password_through_the_link() {
    the_burnt_password_is_refused_through_the_link(Kind::ActiveDirectory).await;
}

/// "Send me a new link" for one Active Directory account, asked by its sAMAccountName and by
/// its UPN (two logins for the form's per-login limit): the mails are counted per account, so
/// the spellings do not add up. The answers are the same page either way.
#[tokio::test]
async fn spellings_of_one_login_do_not_multiply_new_link_mails() {
    let options = Options {
        auth: Auth::Link,
        per_account: 2,
        ..Options::default()
    };
    let Served {
        case, portal, notifier, ..
    } = serve(Kind::ActiveDirectory, "spell", options).await;
    let sam = case.login("bo");
    let upn = format!("{sam}@example.org");
    let c = client();
    let csrf = form_csrf(&c, &format!("{}/", portal.url)).await;
    let resend = format!("{}/resend", portal.url);
    for login in [&sam, &sam, &upn, &upn] {
        let (status, body) = submit(&c, &resend, &[("csrf", csrf.as_str()), ("login", login.as_str())]).await;
        assert_eq!(status, 200, "{login}: {body}");
    }
    // Generous: two mails arrive within a second or two; a third would within this bound.
    let calls = notifier.wait_for(3, Duration::from_secs(8)).await;
    assert_eq!(
        calls.len(),
        2,
        "two new links for the account in the window, not four: {calls:?}"
    );
    portal.stop().await;
}

/// `GET //evil.example/x` on the portal's own host (a crafted URL in a phishing mail) is the
/// 404 page; its language switch must not become a protocol-relative link to that host.
#[tokio::test]
async fn a_crafted_path_does_not_put_a_link_off_site_on_the_portal_s_pages() {
    let portal = Portal::start("offsite", &["off1"], Options::default()).await;
    let address = portal.url.trim_start_matches("http://").to_owned();
    for path in ["//evil.example/x", "/\\evil.example/x"] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        if response.starts_with("HTTP/1.1 400") {
            // The server refused the request line itself: no page, no link.
            continue;
        }
        assert!(response.starts_with("HTTP/1.1 404"), "{path}: {response}");
        let body = common::portal::unescape(response.split("\r\n\r\n").nth(1).unwrap_or_default());
        assert!(!body.contains("evil.example"), "{path}: a link off-site: {body}");
        assert!(
            body.contains("href=\"/?lang=fr\""),
            "{path}: the switch links home: {body}"
        );
    }
    portal.stop().await;
}

/// `check-config` says where the configuration lets a burnt password through: `/change` (the
/// current password as proof) and `policy.differs_from_current = false`; nothing by default.
#[tokio::test]
async fn check_config_warns_where_a_burnt_password_gets_through() {
    let f = common::Fixture::new("burntcfg", &[]).await;
    let quiet = common::text(&f.run(&["check-config"]));
    assert!(!quiet.contains("burnt passwords"), "{quiet}");
    let mut toml = std::fs::read_to_string(&f.config).unwrap();
    toml.push_str("\n[portal]\nauth = \"any\"\n\n[policy]\ndiffers_from_current = false\n");
    std::fs::write(&f.config, toml).unwrap();
    let out = common::text(&f.run(&["check-config"]));
    assert!(
        out.contains(
            "! burnt passwords: portal.auth = \"any\" opens /change: it no longer lets a current password choose"
        ),
        "{out}"
    );
    assert!(
        out.contains("! burnt passwords: policy.differs_from_current = false"),
        "{out}"
    );
}

/// A sign-in while the directory does not answer: the helpdesk says so without the error's
/// words (which name the directory's URL, and for a failed bind the DN of the login typed) to
/// somebody it has not recognised.
#[tokio::test]
async fn a_sign_in_error_names_nothing_of_the_directory() {
    let f = common::Fixture::new("burntdown", &[]).await;
    let port = common::free_port();
    let toml = std::fs::read_to_string(&f.config).unwrap();
    let url = common::slapd().url();
    std::fs::write(&f.config, toml.replace(url, &format!("ldap://127.0.0.1:{port}"))).unwrap();
    let helpdesk = common::helpdesk::InProcess::start(&f.config).await;
    let (status, _, body) = common::helpdesk::sign_in_page(&helpdesk.base, "someone", FLAVOR_NEW).await;
    assert_eq!(status, 503, "{body}");
    assert!(!body.contains(&port.to_string()), "the directory's address: {body}");
    assert!(!body.contains("ldap://"), "{body}");
}

/// 389-DS whose policy (cn=config) the service account cannot read: the lockout threshold is
/// unknown, so pwresetd counts as if the directory locked at the third failure. A stranger's
/// wrong passwords at the helpdesk sign-in get one bind, then 429 without a bind, instead of
/// as many binds as the rate limits allow (5 per login, more than 389's default of 3).
#[tokio::test]
async fn an_unreadable_lockout_policy_is_counted_as_a_strict_one() {
    let case = Case::new(Kind::Ds389, "unknownlock", &[Person::new("ul", "Ula Lind")], "").await;
    let lockout = case.directory().lockout(None).await.unwrap();
    assert_eq!(
        lockout.threshold,
        pwresetd::directory::Threshold::Unknown,
        "{lockout:?}"
    );
    let helpdesk = common::helpdesk::InProcess::start(&case.config).await;
    let login = case.login("ul");
    let (first, _, page) = common::helpdesk::sign_in_page(&helpdesk.base, &login, FLAVOR_NEW).await;
    assert_eq!(first, 401, "{page}");
    let (second, _, page) = common::helpdesk::sign_in_page(&helpdesk.base, &login, FLAVOR_NEW).await;
    assert_eq!(
        second, 429,
        "the second failure is not tried against the directory: {page}"
    );
}

/// `/change` with the current password of an account in the campaign (the real daemon, slapd,
/// the SMTP capture): that password is the burnt one, so it chooses nothing; the account is
/// mailed a new one-time link, which works. A wrong password gets the refusal it always got and
/// no mail; an account in no campaign has nothing to do, as before.
#[tokio::test(flavor = "multi_thread")]
async fn a_burnt_current_password_at_change_gets_a_mailed_link_not_the_account() {
    use common::artifacts::NOT_THE_PASSWORD;
    use common::helpdesk::Setup;
    let s = Setup::start_with("burntchange", "auth = \"any\"").await;
    let (ann, address) = (s.f.dn("ann"), "ann@example.org");
    assert_eq!(s.links_for(address).len(), 1, "the notice");
    let c = client();
    let change = format!("{}/change", s.portal);
    let csrf = form_csrf(&c, &change).await;
    // The form's fields: the username and the current password. `new`: also a new password, as
    // the form of an older version (a page left open overnight) posted it — not read.
    let post = async |login: &str, current: &str, new: Option<&str>| {
        let mut fields = vec![("csrf", csrf.as_str()), ("login", login), ("current_password", current)];
        if let Some(new) = new {
            fields.extend([("new_password", new), ("confirm_password", new)]);
        }
        submit(&c, &change, &fields).await
    };

    let (status, wrong) = post("ann", NOT_THE_PASSWORD, None).await;
    assert_eq!(status, 401, "{wrong}");
    assert!(
        wrong.contains("username or the current password is not right"),
        "{wrong}"
    );

    let (status, page) = post("ann", USER_PASSWORD, Some(FLAVOR_NEW)).await;
    assert_eq!(status, 200, "{page}");
    let text = common::portal::unescape(&page);
    assert!(text.contains("cannot be used to choose a new one"), "{page}");
    assert!(text.contains("has been sent to your email address"), "{page}");
    assert!(!text.contains(address), "the address is not shown: {page}");
    assert!(
        common::bind(&ann, USER_PASSWORD).await.is_ok(),
        "the old password still opens it"
    );
    assert!(
        common::bind(&ann, FLAVOR_NEW).await.is_err(),
        "the typed new one was not set"
    );
    assert!(s.f.flagged().await.contains(&ann), "still flagged");

    let links = common::eventually("the new link", Duration::from_secs(20), async || {
        let links = s.links_for(address);
        (links.len() >= 2).then_some(links)
    })
    .await;
    // Generous: the wrong password's mail, had there been one, would be in by now too.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        s.links_for(address).len(),
        2,
        "one new link, none for the wrong password"
    );
    // Audited once, by the portal, with where the request came from (the mailer wrote a second,
    // bare entry before).
    let requested: Vec<Option<String>> = s
        .store()
        .prepare("SELECT detail FROM audit WHERE action = 'link.requested' AND account = 'ann'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(requested.len(), 1, "{requested:?}");
    assert!(
        requested[0].as_deref().is_some_and(|d| d.contains("via=/change")),
        "{requested:?}"
    );
    let fresh = &links[1];
    let csrf = form_csrf(&c, fresh).await;
    let (status, body) = submit(&c, fresh, &common::portal::link_fields(&csrf, FLAVOR_NEW)).await;
    assert_eq!(status, 200, "the mailed link works: {body}");
    assert!(common::bind(&ann, FLAVOR_NEW).await.is_ok());
    assert!(!s.f.flagged().await.contains(&ann), "completed");

    // Completed, and op1 is in no campaign: nothing to do, nothing mailed, as before.
    for (login, current) in [("ann", FLAVOR_NEW), ("op1", USER_PASSWORD)] {
        let (status, body) = post(login, current, None).await;
        assert_eq!(status, 409, "{login}: {body}");
    }
    assert!(common::bind(&s.f.dn("op1"), USER_PASSWORD).await.is_ok());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(s.links_for(address).len(), 2);
    assert!(s.links_for("op1@example.org").is_empty());
}
