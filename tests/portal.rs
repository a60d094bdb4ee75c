//! The portal over real HTTP, in-process, against the real slapd (ppolicy), a real store and the
//! real policy: both flows, refusals, links, CSRF, rate limits, hostile input, headers, modes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::time::Duration;

use chrono::Utc;
use common::USER_PASSWORD;
use common::portal::{Options, Portal, STRONG, STRONG2, client, csrf, form_csrf, get, post, submit, unescape};
use ldap3::Scope;
use pwresetd::campaign::state::AccountState;
use pwresetd::directory::BindCheck;
use pwresetd::policy::{CheckInput, Password, PolicyConfig, Subject};
use pwresetd::portal::{Auth, Call};
use pwresetd::secret::Secret;

const HOUR: chrono::Duration = chrono::Duration::hours(1);

async fn bind_check(p: &Portal, uid: &str, password: &str) -> BindCheck {
    p.directory
        .check_password(&p.fixture.dn(uid), &Secret::new(password))
        .await
        .unwrap()
}

/// Binds as the user and reads its own entry: what a restricted account cannot do.
async fn can_search(p: &Portal, uid: &str, password: &str) -> bool {
    let dn = p.fixture.dn(uid);
    let Ok(mut ldap) = common::bind(&dn, password).await else {
        return false;
    };
    let res = ldap
        .search(&dn, Scope::Base, "(objectClass=*)", vec!["uid"])
        .await
        .unwrap();
    let ok = res.1.rc == 0 && res.0.len() == 1;
    let _ = ldap.unbind().await;
    ok
}

/// One user's link in a portal, a browser-like client, and the CSRF field of the link's form.
struct LinkFlow {
    p: Portal,
    c: reqwest::Client,
    link: String,
    url: String,
    token: String,
}

#[tokio::test]
async fn link_flow_weak_then_strong_then_reuse() {
    let p = Portal::start("plink", &["weakling", "bystander"], Options::default()).await;
    let flow = the_form_shows_the_login_and_every_rule_before_typing(p).await;
    a_weak_password_lists_every_violation_and_writes_nothing(&flow).await;
    a_mismatched_confirmation_writes_nothing(&flow).await;
    a_strong_password_changes_it_and_clears_only_that_flag(&flow).await;
    the_store_records_one_completion_via_the_portal(&flow);
    // The notifier was told once.
    let calls = flow.p.notifier.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(matches!(&calls[0], Call::PasswordChanged { login: Some(l), .. } if l == "weakling"));
    the_spent_link_is_gone_with_a_way_to_get_a_new_one(&flow).await;
    flow.p.stop().await;
}

async fn the_form_shows_the_login_and_every_rule_before_typing(p: Portal) -> LinkFlow {
    let link = p.link("weakling", HOUR, 0);
    let url = p.reset_url(&link);
    let c = client();
    let (status, page) = get(&c, &url).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("weakling"), "the login is shown");
    for rule in p.policy.rules() {
        let text = pwresetd::portal::wording::requirement("en", &rule.requirement);
        assert!(
            unescape(&page).contains(&text),
            "rule {:?} listed before typing",
            rule.rule
        );
    }
    assert!(
        !page.contains("current_password"),
        "link-only mode asks no current password"
    );
    let token = csrf(&page);
    LinkFlow { p, c, link, url, token }
}

/// Every violation listed, the form kept, nothing echoed, nothing written.
async fn a_weak_password_lists_every_violation_and_writes_nothing(flow: &LinkFlow) {
    let LinkFlow { p, c, url, token, .. } = flow;
    let weak = "weakling1";
    let (status, body) = submit(
        c,
        url,
        &[("csrf", token), ("new_password", weak), ("confirm_password", weak)],
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let details = p.directory.find_by_login("weakling").await.unwrap().unwrap();
    let subject = Subject {
        login: "weakling".into(),
        given_name: details.account.given_name.clone(),
        surname: details.account.surname.clone(),
        display_name: details.account.display_name.clone(),
        mail: details.account.mail.clone(),
    };
    let expected = p
        .policy
        .check(&CheckInput {
            password: &Password::new(weak),
            current: None,
            history: &[],
            subject: &subject,
        })
        .unwrap();
    assert!(expected.violations().len() >= 3, "{expected:?}");
    let shown = unescape(&body);
    for v in expected.violations() {
        let message = pwresetd::portal::wording::english(&v.reason);
        assert!(shown.contains(&message), "violation {:?} listed:\n{shown}", v.rule);
    }
    assert!(shown.contains(&format!("Please fix these {} things", expected.violations().len())));
    assert!(!body.contains(weak), "the password is never echoed back");
    assert!(body.contains("name=\"new_password\""), "the form is kept");
    assert_eq!(bind_check(p, "weakling", USER_PASSWORD).await, BindCheck::MustChange);
}

/// 422, nothing written.
async fn a_mismatched_confirmation_writes_nothing(flow: &LinkFlow) {
    let LinkFlow { c, url, token, .. } = flow;
    let (status, body) = submit(
        c,
        url,
        &[("csrf", token), ("new_password", STRONG), ("confirm_password", STRONG2)],
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("not the same") && !body.contains(STRONG) && !body.contains(STRONG2));
}

/// Changed, flag gone for this user only; the user can bind and search.
async fn a_strong_password_changes_it_and_clears_only_that_flag(flow: &LinkFlow) {
    let LinkFlow { p, c, url, token, .. } = flow;
    let (status, body) = submit(
        c,
        url,
        &[("csrf", token), ("new_password", STRONG), ("confirm_password", STRONG)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("has been changed") && body.contains("confirmation email"));
    assert!(!body.contains(STRONG));
    assert_eq!(
        p.fixture.flagged().await,
        [p.fixture.dn("bystander")].into_iter().collect(),
        "pwdReset cleared for weakling only"
    );
    assert_eq!(bind_check(p, "weakling", STRONG).await, BindCheck::Unrestricted);
    assert!(can_search(p, "weakling", STRONG).await);
    assert_eq!(bind_check(p, "weakling", USER_PASSWORD).await, BindCheck::Refused);
}

/// Completed via the portal, link spent, one history hash, one audit record without the password.
fn the_store_records_one_completion_via_the_portal(flow: &LinkFlow) {
    let LinkFlow { p, link, .. } = flow;
    let record = p.record("weakling");
    assert_eq!(record.state, AccountState::Completed);
    assert_eq!(record.completed_via.as_deref(), Some("portal"));
    let tok = p
        .store
        .run_blocking(|s| s.token(&pwresetd::token::hash(link)))
        .unwrap()
        .unwrap();
    assert!(tok.used_at.is_some());
    let history = p.store.run_blocking(|s| s.password_history(&record.dn, 10)).unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].starts_with("$argon2id$"));
    let audit = p.store.run_blocking(|s| s.audit_trail(None, Some("weakling"))).unwrap();
    let changed: Vec<_> = audit.iter().filter(|a| a.action == "password.changed").collect();
    assert_eq!(changed.len(), 1, "{audit:?}");
    assert_eq!(changed[0].actor, "portal");
    let detail = changed[0].detail.clone().unwrap_or_default();
    assert!(detail.contains("flow=link"), "{detail}");
    assert!(!detail.contains(STRONG) && !format!("{audit:?}").contains(STRONG));
}

/// 410 with a way to get a new one; a late POST changes nothing and notifies nobody.
async fn the_spent_link_is_gone_with_a_way_to_get_a_new_one(flow: &LinkFlow) {
    let LinkFlow { p, c, url, token, .. } = flow;
    let (status, page) = get(c, url).await;
    assert_eq!(status, 410);
    assert!(page.contains("action=\"/resend\""));
    let (status, _) = submit(
        c,
        url,
        &[
            ("csrf", token),
            ("new_password", STRONG2),
            ("confirm_password", STRONG2),
        ],
    )
    .await;
    assert_eq!(status, 410);
    assert_eq!(bind_check(p, "weakling", STRONG).await, BindCheck::Unrestricted);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(p.notifier.calls().len(), 1, "still one call");
}

#[tokio::test]
async fn expired_revoked_and_malformed_links_are_gone() {
    let p = Portal::start("pexp", &["late", "newer"], Options::default()).await;
    let c = client();
    let expired = p.link("late", -HOUR, 0);
    let (status, page) = get(&c, &p.reset_url(&expired)).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("Send me a new link"));
    let token = csrf(&page);
    let (status, _) = submit(
        &c,
        &p.reset_url(&expired),
        &[("csrf", &token), ("new_password", STRONG), ("confirm_password", STRONG)],
    )
    .await;
    assert_eq!(status, 410);
    // A newer link revokes the older one.
    let old = p.link("newer", HOUR, 0);
    let _new = p.link("newer", HOUR, 1);
    assert_eq!(get(&c, &p.reset_url(&old)).await.0, 410);
    for bad in ["x", "%00", &"A".repeat(43), &"A".repeat(5000), "..%2F..%2Fetc%2Fpasswd"] {
        let (status, _) = get(&c, &format!("{}/reset/{bad}", p.url)).await;
        assert!(status == 410 || status == 404, "{bad}: {status}");
    }
    assert_eq!(bind_check(&p, "late", USER_PASSWORD).await, BindCheck::MustChange);
    p.stop().await;
}

/// An account locked at the deadline: its live link stops working (the helpdesk unlocks it).
#[tokio::test]
async fn a_link_of_an_account_locked_at_the_deadline_is_gone() {
    let p = Portal::start("plock", &["locked"], Options::default()).await;
    let c = client();
    let link = p.link("locked", HOUR, 0);
    assert_eq!(get(&c, &p.reset_url(&link)).await.0, 200, "live before the lock");
    let id = p.record("locked").id;
    assert!(p.store.run_blocking(|s| s.record_lock_prior(id, false)).unwrap());
    assert!(
        p.store
            .run_blocking(|s| s.record_locked(id, "deadline", "at the deadline (lock)"))
            .unwrap()
    );
    let (status, page) = get(&c, &p.reset_url(&link)).await;
    assert_eq!(status, 410, "{page}");
    p.stop().await;
}

/// `/change` with the current password of a marked account: that password is the one the
/// campaign burnt, so it chooses nothing; a new link is asked for instead (audited), and the page
/// says so without the address. Once the account completed (through the link), `/change` has
/// nothing to do, as before.
#[tokio::test]
async fn a_burnt_current_password_gets_a_link_and_changes_nothing() {
    let p = Portal::start("pcur", &["restricted"], Options::default()).await;
    assert_eq!(bind_check(&p, "restricted", USER_PASSWORD).await, BindCheck::MustChange);
    let c = client();
    let url = format!("{}/change", p.url);
    let token = form_csrf(&c, &url).await;
    a_wrong_password_and_an_unknown_login_get_one_answer(&c, &url, &token).await;
    let fields = |current| {
        [
            ("csrf", token.as_str()),
            ("login", "RESTRICTED"),
            ("current_password", current),
            ("new_password", STRONG),
            ("confirm_password", STRONG),
        ]
    };
    let (status, body) = submit(&c, &url, &fields(USER_PASSWORD)).await;
    assert_eq!(status, 200, "{body}");
    assert!(unescape(&body).contains("cannot be used to choose a new one"), "{body}");
    assert!(!body.contains("example.org"), "no address: {body}");
    assert_eq!(
        bind_check(&p, "restricted", USER_PASSWORD).await,
        BindCheck::MustChange,
        "nothing written, still marked"
    );
    assert_eq!(p.record("restricted").state, AccountState::Marked);
    let calls = p.notifier.wait_for(2, Duration::from_secs(2)).await;
    assert_eq!(
        calls,
        [Call::LinkRequested {
            login: "restricted".into()
        }],
        "one new link, none for the wrong password"
    );
    let audit = p
        .store
        .run_blocking(|s| s.audit_trail(None, Some("restricted")))
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "link.requested" && a.detail.as_deref().unwrap_or("").contains("via=/change")),
        "{audit:?}"
    );

    let link = p.reset_url(&p.link("restricted", HOUR, 0));
    let csrf = form_csrf(&c, &link).await;
    let typed = [
        ("csrf", csrf.as_str()),
        ("new_password", STRONG),
        ("confirm_password", STRONG),
    ];
    assert_eq!(submit(&c, &link, &typed).await.0, 200);
    let (status, body) = submit(&c, &url, &fields(STRONG)).await;
    assert_eq!(status, 409, "completed: nothing to do: {body}");
    assert_eq!(bind_check(&p, "restricted", STRONG).await, BindCheck::Unrestricted);
    p.stop().await;
}

/// An account in scope that is not marked yet (its record pending): its current password is the
/// one the campaign burns all the same, so `/change` mails a link and changes nothing there too.
#[tokio::test]
async fn a_pending_account_s_current_password_chooses_nothing_either() {
    let options = Options {
        unflagged: vec!["notyet"],
        ..Options::default()
    };
    let p = Portal::start("ppend", &["notyet"], options).await;
    assert_eq!(p.record("notyet").state, AccountState::Pending);
    let c = client();
    let url = format!("{}/change", p.url);
    let token = form_csrf(&c, &url).await;
    let fields = [
        ("csrf", token.as_str()),
        ("login", "notyet"),
        ("current_password", USER_PASSWORD),
        ("new_password", STRONG),
        ("confirm_password", STRONG),
    ];
    let (status, body) = submit(&c, &url, &fields).await;
    assert_eq!(status, 200, "{body}");
    assert!(unescape(&body).contains("cannot be used to choose a new one"), "{body}");
    assert_eq!(bind_check(&p, "notyet", USER_PASSWORD).await, BindCheck::Unrestricted);
    assert_eq!(p.record("notyet").state, AccountState::Pending);
    let calls = p.notifier.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(calls, [Call::LinkRequested { login: "notyet".into() }]);
    p.stop().await;
}

async fn a_wrong_password_and_an_unknown_login_get_one_answer(c: &reqwest::Client, url: &str, token: &str) {
    let (s1, wrong) = submit(
        c,
        url,
        &[
            ("csrf", token),
            ("login", "restricted"),
            ("current_password", common::artifacts::NOT_THE_PASSWORD),
            ("new_password", STRONG),
            ("confirm_password", STRONG),
        ],
    )
    .await;
    let (s2, unknown) = submit(
        c,
        url,
        &[
            ("csrf", token),
            ("login", "nobody-such"),
            ("current_password", common::artifacts::NOT_THE_PASSWORD),
            ("new_password", STRONG),
            ("confirm_password", STRONG),
        ],
    )
    .await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(
        wrong.replace("restricted", "LOGIN"),
        unknown.replace("nobody-such", "LOGIN"),
        "same page for an unknown login and a wrong password"
    );
    assert!(wrong.contains("username or the current password is not right"));
}

#[tokio::test]
async fn same_as_current_is_refused_through_the_link() {
    let lenient = PolicyConfig {
        min_length: 8,
        min_strength: 0,
        forbid_personal_data: false,
        ..PolicyConfig::default()
    };
    let p = Portal::start(
        "psame",
        &["samelink", "samecur"],
        Options {
            policy: lenient,
            ..Options::default()
        },
    )
    .await;
    let c = client();
    let url = p.reset_url(&p.link("samelink", HOUR, 0));
    let token = form_csrf(&c, &url).await;
    let fields = [
        ("csrf", token.as_str()),
        ("new_password", USER_PASSWORD),
        ("confirm_password", USER_PASSWORD),
    ];
    let (status, body) = submit(&c, &url, &fields).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("This is your current password"), "{body}");
    assert_eq!(p.fixture.flagged().await.len(), 2, "nothing changed");
    p.stop().await;
}

#[tokio::test]
async fn directory_refusal_is_shown_in_plain_words_and_nothing_is_recorded() {
    // [policy] lets a 6-character password through; slapd's pwdMinLength 8 (with
    // pwdCheckQuality 2) is the floor, so the portal refuses it before writing. The current
    // password, which [policy] is told not to check here, only slapd refuses (its pwdInHistory):
    // after the write was tried, in plain words.
    let lax = PolicyConfig {
        min_length: 4,
        min_strength: 0,
        forbid_personal_data: false,
        differs_from_current: false,
        ..PolicyConfig::default()
    };
    let p = Portal::start(
        "prefuse",
        &["shorty"],
        Options {
            // The user's own Password Modify, which slapd checks against its history.
            auth: Auth::LinkAndCurrentPassword,
            policy: lax,
            ..Options::default()
        },
    )
    .await;
    let c = client();
    let url = p.reset_url(&p.link("shorty", HOUR, 0));
    for (new, refusal) in [
        ("Zq7#pk", "Use at least 8 characters."),
        (USER_PASSWORD, "This is your current password. Choose a new one."),
    ] {
        let token = form_csrf(&c, &url).await;
        let (status, body) = submit(
            &c,
            &url,
            &[
                ("csrf", &token),
                ("current_password", USER_PASSWORD),
                ("new_password", new),
                ("confirm_password", new),
            ],
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert!(body.contains(refusal), "{refusal:?} not in {body}");
        assert!(!body.contains("Zq7#pk") && !body.contains("constraintViolation"));
        assert_eq!(p.record("shorty").state, AccountState::Marked, "nothing recorded");
        assert_eq!(bind_check(&p, "shorty", USER_PASSWORD).await, BindCheck::MustChange);
    }
    assert!(p.notifier.calls().is_empty());
    p.stop().await;
}

#[tokio::test]
async fn history_of_portal_changes_is_enforced() {
    let p = Portal::start("phist", &["again"], Options::default()).await;
    let c = client();
    let first = p.reset_url(&p.link("again", HOUR, 0));
    let token = form_csrf(&c, &first).await;
    let ok = [
        ("csrf", token.as_str()),
        ("new_password", STRONG),
        ("confirm_password", STRONG),
    ];
    assert_eq!(submit(&c, &first, &ok).await.0, 200);
    // A second campaign asks again; the same password is refused from the portal's history.
    let spec = pwresetd::store::CampaignSpec {
        name: "second".into(),
        reason: "again".into(),
        deadline: Utc::now() + chrono::Duration::days(3),
        scope: pwresetd::store::Scope {
            flavor: "openldap".into(),
            base_dn: p.fixture.ou.clone(),
            user_filter: "(objectClass=inetOrgPerson)".into(),
            exclude_filter: None,
            login_attribute: "uid".into(),
        },
    };
    let (second, _) = p.store.run_blocking(|s| s.create_or_resume(&spec, "test")).unwrap();
    let details = p.directory.find_by_login("again").await.unwrap().unwrap();
    p.store
        .run_blocking(|s| s.insert_scanned(second.id, &[pwresetd::directory::ScanItem::InScope(details.account)]))
        .unwrap();
    let open = p.store.run_blocking(|s| s.open_accounts_for_login("again")).unwrap();
    assert_eq!(open.len(), 1);
    let issued = pwresetd::token::issue().unwrap();
    let id = p
        .store
        .run_blocking(|s| {
            s.begin_mail(
                open[0].id,
                "notice",
                0,
                "again@example.org",
                Some((&issued.hash, Utc::now() + HOUR)),
            )
        })
        .unwrap();
    p.store
        .run_blocking(|s| {
            s.finish_mail(
                id,
                &pwresetd::store::MailOutcome::Sent {
                    message_id: "<x>".into(),
                },
                Some(&issued.hash),
            )
        })
        .unwrap();
    let url = p.reset_url(issued.token.expose());
    let (status, body) = submit(&c, &url, &ok).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("used this password before"), "{body}");
    // Another password goes through; its history entry takes the account's salt (the first
    // entry's), so the next check costs one argon2id computation for both.
    let other = "walrus orchid kettle 4417 saffron";
    let fresh = [
        ("csrf", token.as_str()),
        ("new_password", other),
        ("confirm_password", other),
    ];
    let (status, body) = submit(&c, &url, &fresh).await;
    assert_eq!(status, 200, "{body}");
    let history = p.store.run_blocking(|s| s.password_history(&open[0].dn, 10)).unwrap();
    assert_eq!(history.len(), 2);
    let salt = |phc: &str| phc.split('$').nth(4).map(str::to_owned);
    assert_eq!(salt(&history[0]), salt(&history[1]), "one salt per account");
    p.stop().await;
}

#[tokio::test]
async fn csrf_missing_wrong_or_cross_site_is_403() {
    let p = Portal::start("pcsrf", &["victim"], Options::default()).await;
    let url = p.reset_url(&p.link("victim", HOUR, 0));
    let c = client();
    let token = form_csrf(&c, &url).await;
    let good = |t: &str| {
        vec![
            ("csrf".to_string(), t.to_string()),
            ("new_password".into(), STRONG.into()),
            ("confirm_password".into(), STRONG.into()),
        ]
    };
    // No field, a wrong field, a field from another browser session.
    let other = client();
    let other_token = form_csrf(&other, &url).await;
    for fields in [
        good("")[1..].to_vec(),
        good("AAAA"),
        good(&other_token),
        good(&token[1..]),
    ] {
        let r = c.post(&url).form(&fields).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403, "{fields:?}");
        assert!(r.text().await.unwrap().contains("reload the page"));
    }
    // No cookie (a fresh client posting a valid-looking field).
    let r = client().post(&url).form(&good(&token)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // Cross-site, by fetch metadata or by origin.
    let r = c
        .post(&url)
        .header("sec-fetch-site", "cross-site")
        .form(&good(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = c
        .post(&url)
        .header("origin", "https://evil.example")
        .form(&good(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(bind_check(&p, "victim", USER_PASSWORD).await, BindCheck::MustChange);
    // And the right one, with `Origin: null` as Chromium sends under no-referrer, works.
    let r = c
        .post(&url)
        .header("origin", "null")
        .form(&good(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    p.stop().await;
}

#[tokio::test]
async fn hostile_logins_are_harmless() {
    let p = Portal::start("pinj", &["target", "other"], Options::default()).await;
    let c = client();
    let url = format!("{}/change", p.url);
    let token = form_csrf(&c, &url).await;
    let long = "a".repeat(5000);
    let logins = [
        "*",
        ")(uid=*",
        "*)(|(uid=*",
        "target)(uid=*",
        "target\0",
        "\0",
        "target*",
        "t*",
        "(uid=target)",
        "\\2a",
        long.as_str(),
        "cn=admin,dc=example,dc=org",
    ];
    for login in logins {
        for current in [USER_PASSWORD, "*"] {
            let (status, body) = submit(
                &c,
                &url,
                &[
                    ("csrf", &token),
                    ("login", login),
                    ("current_password", current),
                    ("new_password", STRONG),
                    ("confirm_password", STRONG),
                ],
            )
            .await;
            assert!(status == 401 || status == 413, "{login:?}: {status} {body}");
            assert!(!body.contains(STRONG));
        }
    }
    assert_eq!(p.fixture.flagged().await.len(), 2, "nothing changed");
    assert_eq!(bind_check(&p, "target", USER_PASSWORD).await, BindCheck::MustChange);
    // Resend answers the same for hostile logins and creates nothing.
    for login in ["*", ")(uid=*", "target\0"] {
        let (status, body) = submit(&c, &format!("{}/resend", p.url), &[("csrf", &token), ("login", login)]).await;
        assert_eq!(status, 200, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(p.notifier.calls().is_empty(), "{:?}", p.notifier.calls());
    p.stop().await;
}

#[tokio::test]
async fn hostile_form_posts_get_clear_4xx_pages() {
    let p = Portal::start("phostile", &["poked"], Options::default()).await;
    let url = p.reset_url(&p.link("poked", HOUR, 0));
    let c = client();
    let token = form_csrf(&c, &url).await;
    let form = "application/x-www-form-urlencoded";
    let huge = format!("csrf={token}&new_password={}&confirm_password=x", "a".repeat(20_000));
    let big_field = format!("csrf={token}&new_password={0}&confirm_password={0}", "a".repeat(5000));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (form, huge.into_bytes(), 413),
        (
            form,
            format!("csrf={token}&new_password=%FF%FE&confirm_password=x").into_bytes(),
            400,
        ),
        (
            form,
            format!("csrf={token}&new_password=a&new_password=b&confirm_password=b").into_bytes(),
            400,
        ),
        (form, format!("csrf={token}&confirm_password=b").into_bytes(), 400),
        (form, format!("csrf={token}").into_bytes(), 400),
        (
            form,
            format!("csrf={token}&new_password=ab%00cd&confirm_password=ab%00cd").into_bytes(),
            422,
        ),
        (
            form,
            format!("csrf={token}&new_password=&confirm_password=").into_bytes(),
            422,
        ),
        (form, big_field.into_bytes(), 422),
        (form, b"\xff\xfe\x00garbage".to_vec(), 400),
        (form, format!("csrf={token}&csrf={token}").into_bytes(), 400),
        (
            "application/json",
            format!("{{\"csrf\":\"{token}\"}}").into_bytes(),
            400,
        ),
        ("multipart/form-data; boundary=x", b"--x--".to_vec(), 400),
        (form, vec![b'&'; 10_000], 403),
    ];
    for (content_type, body, expected) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        let r = c
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(status, expected, "{content_type} {shown:?}: {text}");
        assert!(text.starts_with("<!DOCTYPE html>"), "a clear page for {shown:?}");
    }
    // The server is still fine and nothing was changed.
    assert_eq!(get(&c, &url).await.0, 200);
    assert_eq!(bind_check(&p, "poked", USER_PASSWORD).await, BindCheck::MustChange);
    p.stop().await;
}

#[tokio::test]
async fn rate_limits_per_account_and_per_address() {
    let p = Portal::start(
        "prate",
        &["hammered"],
        Options {
            per_account: 3,
            per_address: 6,
            ..Options::default()
        },
    )
    .await;
    let c = client();
    let url = format!("{}/change", p.url);
    let token = form_csrf(&c, &url).await;
    let attempt = |login: &'static str| {
        let (c, url, token) = (c.clone(), url.clone(), token.clone());
        async move {
            let r = post(
                &c,
                &url,
                &[
                    ("csrf", token.as_str()),
                    ("login", login),
                    ("current_password", "wrong-guess"),
                    ("new_password", STRONG),
                    ("confirm_password", STRONG),
                ],
            )
            .await;
            let retry = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), retry)
        }
    };
    for _ in 0..3 {
        assert_eq!(attempt("hammered").await.0, 401);
    }
    let (status, retry) = attempt("HAMMERED").await;
    assert_eq!(status, 429, "the 4th attempt on one account, whatever the case");
    assert!(retry.unwrap().parse::<u64>().unwrap() >= 1);
    // Other accounts from the same address, until the address's own limit (6 POSTs).
    assert_eq!(attempt("someone-else").await.0, 401);
    assert_eq!(attempt("another-one").await.0, 401);
    assert_eq!(attempt("third-one").await.0, 429);
    // GETs still answer.
    assert_eq!(get(&c, &format!("{}/healthz", p.url)).await.0, 200);
    p.stop().await;
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let p = Portal::start("phead", &["hdr"], Options::default()).await;
    let c = client();
    let link = p.link("hdr", HOUR, 0);
    let urls = [
        "/",
        "/change",
        &format!("/reset/{link}"),
        "/reset/expired-or-bogus",
        "/static/portal.css",
        "/healthz",
        "/no/such/page",
    ];
    let mut responses = Vec::new();
    for u in urls {
        responses.push((u.to_string(), c.get(format!("{}{u}", p.url)).send().await.unwrap()));
    }
    responses.push((
        "POST /resend".into(),
        c.post(format!("{}/resend", p.url))
            .form(&[("login", "x")])
            .send()
            .await
            .unwrap(),
    ));
    responses.push((
        "POST huge".into(),
        c.post(format!("{}/change", p.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b'a'; 100_000])
            .send()
            .await
            .unwrap(),
    ));
    responses.push(("PUT /".into(), c.put(format!("{}/", p.url)).send().await.unwrap()));
    for (what, r) in responses {
        let h = r.headers();
        let get = |k: &str| h.get(k).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
        assert!(
            get("content-security-policy").starts_with("default-src 'self'"),
            "{what}: {h:?}"
        );
        assert_eq!(get("x-frame-options"), "DENY", "{what}");
        assert_eq!(get("cache-control"), "no-store", "{what}");
        assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
        assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
        assert_eq!(get("strict-transport-security"), "", "{what}: plain HTTP has no HSTS");
    }
    // The form page's cookie: HttpOnly, SameSite=Strict, not Secure over plain HTTP.
    let r = client().get(format!("{}/change", p.url)).send().await.unwrap();
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"),
        "{cookie}"
    );
    let css = c.get(format!("{}/static/portal.css", p.url)).send().await.unwrap();
    assert!(css.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    p.stop().await;
}

#[tokio::test]
async fn https_portal_uses_secure_host_cookies_and_hsts() {
    let tls_dir = std::path::Path::new(common::slapd().get("LDAP_CA_FILE"))
        .parent()
        .unwrap()
        .to_owned();
    let p = Portal::start(
        "ptls",
        &["secure"],
        Options {
            tls: Some((tls_dir.join("server.pem"), tls_dir.join("server.key"))),
            ..Options::default()
        },
    )
    .await;
    let ca = reqwest::Certificate::from_pem(&std::fs::read(tls_dir.join("ca.pem")).unwrap()).unwrap();
    let c = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(ca)
        .cookie_store(true)
        .build()
        .unwrap();
    let url = p.reset_url(&p.link("secure", HOUR, 0));
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("__Host-pwresetd-csrf=") && cookie.contains("; Secure"),
        "{cookie}"
    );
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let token = csrf(&r.text().await.unwrap());
    let (status, body) = submit(
        &c,
        &url,
        &[("csrf", &token), ("new_password", STRONG), ("confirm_password", STRONG)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    p.stop().await;
}

/// Each `[portal] auth` mode closes the flow it does not offer.
mod auth_modes_close_the_other_flow {
    use super::*;

    /// `link`: no /change.
    #[tokio::test]
    async fn link_has_no_change_form() {
        let p = Portal::start(
            "pmode1",
            &["m1"],
            Options {
                auth: Auth::Link,
                ..Options::default()
            },
        )
        .await;
        let c = client();
        assert_eq!(get(&c, &format!("{}/change", p.url)).await.0, 404);
        let token = form_csrf(&c, &format!("{}/", p.url)).await;
        let (status, _) = submit(
            &c,
            &format!("{}/change", p.url),
            &[
                ("csrf", &token),
                ("login", "m1"),
                ("current_password", USER_PASSWORD),
                ("new_password", STRONG),
                ("confirm_password", STRONG),
            ],
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(get(&c, &p.reset_url(&p.link("m1", HOUR, 0))).await.0, 200);
        assert_eq!(bind_check(&p, "m1", USER_PASSWORD).await, BindCheck::MustChange);
        p.stop().await;
    }

    /// `current_password`: no "send me a new link"; the links pwresetd mails still work (the
    /// ones `/change` sends when the current password is the burnt one, too).
    #[tokio::test]
    async fn current_password_has_no_resend_and_its_links_work() {
        let p = Portal::start(
            "pmode2",
            &["m2"],
            Options {
                auth: Auth::CurrentPassword,
                ..Options::default()
            },
        )
        .await;
        let c = client();
        let link = p.link("m2", HOUR, 0);
        let (status, page) = get(&c, &p.reset_url(&link)).await;
        assert_eq!(status, 200);
        assert!(!page.contains("action=\"/resend\""), "{page}");
        let token = form_csrf(&c, &format!("{}/change", p.url)).await;
        assert_eq!(
            submit(&c, &format!("{}/resend", p.url), &[("csrf", &token), ("login", "m2")])
                .await
                .0,
            404
        );
        let (status, body) = submit(
            &c,
            &p.reset_url(&link),
            &[("csrf", &token), ("new_password", STRONG), ("confirm_password", STRONG)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(bind_check(&p, "m2", STRONG).await, BindCheck::Unrestricted);
        // A link that cannot be used sends the person to /change for a new one.
        let (status, page) = get(&c, &p.reset_url(&link)).await;
        assert_eq!(status, 410, "{page}");
        assert!(page.contains("href=\"/change"), "{page}");
        assert!(!page.contains("/resend"), "{page}");
        p.stop().await;
    }

    /// `link_and_current_password`: the link page asks for the current password too.
    #[tokio::test]
    async fn link_and_current_password_asks_for_both_on_the_link_page() {
        let p = Portal::start(
            "pmode3",
            &["m3"],
            Options {
                auth: Auth::LinkAndCurrentPassword,
                ..Options::default()
            },
        )
        .await;
        let c = client();
        assert_eq!(get(&c, &format!("{}/change", p.url)).await.0, 404);
        let url = p.reset_url(&p.link("m3", HOUR, 0));
        let (status, page) = get(&c, &url).await;
        assert_eq!(status, 200);
        assert!(page.contains("name=\"current_password\""));
        let token = csrf(&page);
        let (status, _) = submit(
            &c,
            &url,
            &[("csrf", &token), ("new_password", STRONG), ("confirm_password", STRONG)],
        )
        .await;
        assert_eq!(status, 400, "the current password is required");
        let (status, body) = submit(
            &c,
            &url,
            &[
                ("csrf", &token),
                ("current_password", "wrong"),
                ("new_password", STRONG),
                ("confirm_password", STRONG),
            ],
        )
        .await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("current password is not right"));
        let (status, body) = submit(
            &c,
            &url,
            &[
                ("csrf", &token),
                ("current_password", USER_PASSWORD),
                ("new_password", STRONG),
                ("confirm_password", STRONG),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(p.fixture.flagged().await.is_empty());
        assert_eq!(bind_check(&p, "m3", STRONG).await, BindCheck::Unrestricted);
        let audit = p.store.run_blocking(|s| s.audit_trail(None, Some("m3"))).unwrap();
        assert!(audit.iter().any(|a| {
            a.detail
                .as_deref()
                .unwrap_or("")
                .contains("flow=link_and_current_password")
        }));
        assert_eq!(get(&c, &url).await.0, 410, "the link is spent");
        p.stop().await;
    }
}

#[tokio::test]
async fn resend_answers_alike_and_notifies_only_open_accounts() {
    let p = Portal::start("presend", &["lostlink"], Options::default()).await;
    let c = client();
    let token = form_csrf(&c, &format!("{}/", p.url)).await;
    let url = format!("{}/resend", p.url);
    let (s1, known) = submit(&c, &url, &[("csrf", &token), ("login", "LostLink")]).await;
    let (s2, unknown) = submit(&c, &url, &[("csrf", &token), ("login", "no-such-user")]).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(known, unknown, "the same answer whether or not the account exists");
    let calls = p.notifier.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        calls,
        vec![Call::LinkRequested {
            login: "lostlink".into()
        }]
    );
    let audit = p.store.run_blocking(|s| s.audit_trail(None, Some("lostlink"))).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "link.requested" && a.actor == "portal"),
        "{audit:?}"
    );
    p.stop().await;
}

/// A stranger who fails `/change` for a login from an address, until both the login's and the
/// address's posts are used up, does not block that person's own link from the same address;
/// a link's posts are counted per link.
#[tokio::test]
async fn a_link_is_never_blocked_by_other_flows_and_is_limited_per_link() {
    let options = Options {
        per_account: 3,
        per_address: 4,
        ..Options::default()
    };
    let p = Portal::start("plinkblock", &["victim", "other"], options).await;
    let c = client();
    let change = format!("{}/change", p.url);
    let token = form_csrf(&c, &change).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let fields = [
            ("csrf", token.as_str()),
            ("login", "victim"),
            ("current_password", "wrong-guess"),
            ("new_password", STRONG),
            ("confirm_password", STRONG),
        ];
        statuses.push(submit(&c, &change, &fields).await.0);
    }
    assert_eq!(
        statuses,
        [401, 401, 401, 429, 429],
        "the login's, then the address's limit"
    );
    let post = async |link: &str, confirm: &str| {
        let url = p.reset_url(link);
        let csrf = form_csrf(&c, &url).await;
        let fields = [
            ("csrf", csrf.as_str()),
            ("new_password", STRONG),
            ("confirm_password", confirm),
        ];
        submit(&c, &url, &fields).await.0
    };
    let victim = p.link("victim", HOUR, 0);
    assert_eq!(post(&victim, "typo").await, 422);
    assert_eq!(post(&victim, STRONG).await, 200, "the victim's own link works");
    // Another link: its own count (3 posts), then refused; a link that does not work costs
    // its address (already spent here).
    let other = p.link("other", HOUR, 0);
    let posts = [
        post(&other, "a").await,
        post(&other, "b").await,
        post(&other, "c").await,
    ];
    assert_eq!(posts, [422, 422, 422]);
    assert_eq!(post(&other, STRONG).await, 429, "per link");
    let bogus = format!("{}/reset/{}", p.url, "B".repeat(43));
    let (status, _) = submit(&c, &bogus, &[("csrf", token.as_str())]).await;
    assert_eq!(status, 429, "a dead link is counted against the address");
    p.stop().await;
}

/// Concurrent posts for an existing login answer exactly as for an unknown one: the same
/// statuses (never "a change is in progress" to whoever did not prove the password), every
/// refusal of the password after the same delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_for_a_login_answer_as_for_an_unknown_one() {
    let p = Portal::start("prace", &["racer"], Options::default()).await;
    let c = client();
    let change = format!("{}/change", p.url);
    let token = form_csrf(&c, &change).await;
    let burst = async |login: &str| {
        let one = || {
            let (c, change, token, login) = (c.clone(), change.clone(), token.clone(), login.to_owned());
            async move {
                let started = std::time::Instant::now();
                let fields = [
                    ("csrf", token.as_str()),
                    ("login", login.as_str()),
                    ("current_password", "wrong-guess"),
                    ("new_password", STRONG),
                    ("confirm_password", STRONG),
                ];
                let status = submit(&c, &change, &fields).await.0;
                (status, started.elapsed())
            }
        };
        let answers = futures_util::future::join_all((0..6).map(|_| one())).await;
        for (status, took) in &answers {
            if *status == 401 {
                assert!(*took >= Duration::from_millis(400), "{login}: {status} after {took:?}");
            }
        }
        let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
        statuses.sort_unstable();
        statuses
    };
    let known = burst("racer").await;
    let unknown = burst("nobody-here").await;
    assert!(!known.contains(&409), "{known:?}");
    assert_eq!(known, unknown);
    assert_eq!(
        bind_check(&p, "racer", USER_PASSWORD).await,
        BindCheck::MustChange,
        "not locked"
    );
    p.stop().await;
}
