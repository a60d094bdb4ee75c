//! An EARLIER campaign's burnt password, on the real slapd and 389-DS: campaign one burns P0,
//! the person sets P1 (through campaign one's link, or with their own change in the directory),
//! campaign two burns P1. Through campaign two's link, P0 is refused as used before (the service
//! account's write skips the server's history, and pwresetd's own history never held P0: it is
//! only in the directory's, `pwdHistory` / `passwordHistory`), P1 too; a fresh password goes
//! through. The existing case, a history that is still empty, is `tests/burnt.rs`'s first test.
//! Active Directory keeps no history pwresetd can read: not tested here (README, "Security").
//! `check-config` says when the service account may not read the history.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::sync::Arc;

use chrono::Utc;
use common::artifacts::{FLAVOR_NEW, FLAVOR_NEW2};
use common::flavor::{Case, Kind, Person};
use common::portal::{Instance, Options, client, form_csrf, submit};
use common::{USER_PASSWORD, User};
use pwresetd::directory::{BindCheck, Directory};
use pwresetd::policy::Policy;
use pwresetd::portal::{Auth, RecordingNotifier};
use pwresetd::secret::Secret;
use pwresetd::store::{MailOutcome, Store};
use pwresetd::token;

const USED_BEFORE: &str = "You have used this password before";
const CURRENT: &str = "This is your current password";

/// How the person replaced campaign one's burnt password.
#[derive(Debug, Clone, Copy)]
enum Replaced {
    /// Through campaign one's link (the service account's write).
    ThroughTheLink,
    /// With their own change in the directory (as with ldappasswd), outside pwresetd.
    InTheDirectory,
}

/// A delivered link of campaign `campaign` for the case's person `bo`; returns its URL.
fn link(case: &Case, store: &Store, portal: &Instance, campaign: &str) -> String {
    let (login, dn) = (case.login("bo"), case.dn("bo"));
    let record = store
        .run_blocking(|s| s.accounts_for(&login, None))
        .unwrap()
        .into_iter()
        .find(|r| r.dn.eq_ignore_ascii_case(&dn) && r.campaign == campaign)
        .unwrap_or_else(|| panic!("no record of {campaign}"));
    let issued = token::issue().unwrap();
    let expires = Utc::now() + chrono::Duration::hours(1);
    let address = format!("{login}@example.org");
    let id = store
        .run_blocking(|s| s.begin_mail(record.id, "notice", 0, &address, Some((&issued.hash, expires))))
        .unwrap();
    let sent = MailOutcome::Sent {
        message_id: format!("<earlier-{}@test>", record.id),
    };
    store
        .run_blocking(|s| s.finish_mail(id, &sent, Some(&issued.hash)))
        .unwrap();
    portal.reset_url(issued.token.expose())
}

async fn bind(directory: &Arc<dyn Directory>, dn: &str, password: &str) -> BindCheck {
    directory.check_password(dn, &Secret::new(password)).await.unwrap()
}

async fn an_earlier_burnt_password_is_refused(kind: Kind, replaced: Replaced) {
    let name = format!("earlier-{replaced:?}").to_ascii_lowercase();
    let case = Case::new(kind, &name, &[Person::new("bo", "Ona Pike")], "").await;
    let dn = case.dn("bo");
    let directory = case.directory();
    case.start_campaign("one");
    let store = Store::open(&case.store_path()).unwrap();
    let options = Options {
        auth: Auth::Link,
        policy: common::portal::lenient_policy(),
        ..Options::default()
    };
    let policy = Arc::new(Policy::load(&options.policy).unwrap());
    let notifier = Arc::new(RecordingNotifier::default());
    let portal = Instance::serve(&options, directory.clone(), store.clone(), policy, notifier).await;
    let c = client();

    // P0 = USER_PASSWORD, burnt by campaign one, replaced by P1 = FLAVOR_NEW.
    match replaced {
        Replaced::ThroughTheLink => {
            let url = link(&case, &store, &portal, "one");
            let csrf = form_csrf(&c, &url).await;
            let (status, body) = submit(&c, &url, &common::portal::link_fields(&csrf, FLAVOR_NEW)).await;
            assert_eq!(status, 200, "campaign one's link takes P1: {body}");
        }
        Replaced::InTheDirectory => {
            let (old, new) = (Secret::new(USER_PASSWORD), Secret::new(FLAVOR_NEW));
            directory.change_password_as_user(&dn, &old, &new).await.unwrap();
        }
    }
    assert_eq!(
        bind(&directory, &dn, FLAVOR_NEW).await,
        BindCheck::Unrestricted,
        "{kind:?}"
    );

    // Campaign two burns P1.
    case.start_campaign("two");
    assert_eq!(
        bind(&directory, &dn, FLAVOR_NEW).await,
        BindCheck::MustChange,
        "{kind:?}"
    );
    let url = link(&case, &store, &portal, "two");
    let csrf = form_csrf(&c, &url).await;

    let (status, body) = submit(&c, &url, &common::portal::link_fields(&csrf, USER_PASSWORD)).await;
    assert_eq!(
        status, 422,
        "{kind:?}: campaign one's burnt password must be refused: {body}"
    );
    assert!(body.contains(USED_BEFORE), "{kind:?}: {body}");
    assert!(!body.contains(CURRENT), "{kind:?}: it is not the current one: {body}");
    let refused = bind(&directory, &dn, USER_PASSWORD).await;
    assert_eq!(refused, BindCheck::Refused, "{kind:?}: not written");
    let marked = bind(&directory, &dn, FLAVOR_NEW).await;
    assert_eq!(marked, BindCheck::MustChange, "{kind:?}: still marked");

    // Through the link, P1 is in pwresetd's history too ("used before"); otherwise the
    // current password (389-DS: told by a bind).
    let (status, body) = submit(&c, &url, &common::portal::link_fields(&csrf, FLAVOR_NEW)).await;
    assert_eq!(
        status, 422,
        "{kind:?}: campaign two's burnt password must be refused: {body}"
    );
    assert!(body.contains(CURRENT) || body.contains(USED_BEFORE), "{kind:?}: {body}");
    let marked = bind(&directory, &dn, FLAVOR_NEW).await;
    assert_eq!(marked, BindCheck::MustChange, "{kind:?}: still marked");

    let (status, body) = submit(&c, &url, &common::portal::link_fields(&csrf, FLAVOR_NEW2)).await;
    assert_eq!(status, 200, "{kind:?}: a fresh password goes through: {body}");
    assert_eq!(
        bind(&directory, &dn, FLAVOR_NEW2).await,
        BindCheck::Unrestricted,
        "{kind:?}"
    );
    assert_eq!(
        bind(&directory, &dn, USER_PASSWORD).await,
        BindCheck::Refused,
        "{kind:?}"
    );
    portal.stop().await;
}

#[tokio::test]
async fn openldap_refuses_an_earlier_burnt_password_replaced_through_the_link() {
    an_earlier_burnt_password_is_refused(Kind::OpenLdap, Replaced::ThroughTheLink).await;
}

#[tokio::test]
async fn openldap_refuses_an_earlier_burnt_password_replaced_in_the_directory() {
    an_earlier_burnt_password_is_refused(Kind::OpenLdap, Replaced::InTheDirectory).await;
}

#[tokio::test]
async fn ds389_refuses_an_earlier_burnt_password_replaced_through_the_link() {
    an_earlier_burnt_password_is_refused(Kind::Ds389, Replaced::ThroughTheLink).await;
}

#[tokio::test]
async fn ds389_refuses_an_earlier_burnt_password_replaced_in_the_directory() {
    an_earlier_burnt_password_is_refused(Kind::Ds389, Replaced::InTheDirectory).await;
}

/// `check-config` says when the service account may not read the accounts' `pwdHistory` (here
/// bound as an ordinary user, whom the test slapd's ACLs deny it), with the ACL that fixes it;
/// nothing as the service account, which may read it.
#[tokio::test]
async fn check_config_says_when_the_history_is_not_readable() {
    let f = common::Fixture::new("histacl", &[User::new("ha1"), User::new("ha2")]).await;
    let quiet = common::text(&f.run(&["check-config"]));
    assert!(!quiet.contains("pwdHistory"), "{quiet}");

    // Outside the run's artifacts: the file holds a password.
    let secrets = tempfile::tempdir().unwrap();
    let password_file = secrets.path().join("password");
    std::fs::write(&password_file, USER_PASSWORD).unwrap();
    let user = f.dn("ha1");
    let toml = std::fs::read_to_string(&f.config).unwrap();
    let toml: Vec<String> = toml
        .lines()
        .map(|l| match l {
            l if l.starts_with("bind_dn =") => format!("bind_dn = \"{user}\""),
            l if l.starts_with("bind_password_file =") => {
                format!("bind_password_file = \"{}\"", password_file.display())
            }
            l => l.to_owned(),
        })
        .collect();
    std::fs::write(&f.config, toml.join("\n")).unwrap();
    let out = common::text(&f.run(&["check-config"]));
    assert!(out.contains("may not read pwdHistory"), "{out}");
    let fix = format!("access to attrs=pwdHistory by dn.exact=\"{user}\" read");
    assert!(out.contains(&fix), "{out}");
}
