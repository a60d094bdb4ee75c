//! Campaigns against the real slapd (ppolicy): plan, start, resume, revert, account view.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::HashSet;

use common::{Fixture, USER_PASSWORD, User, json, text};
use ldap3::Scope;
use pwresetd::directory::dn;

const DEADLINE: &str = "2099-12-04T17:00:00Z";

/// 12 ordinary users, 2 service accounts (excluded), 1 without uid (excluded), 1 already
/// flagged, one with an escaped comma in its DN, one with non-ASCII names and two mails.
fn population() -> Vec<User> {
    let mut users: Vec<User> = (0..12).map(|i| User::new(&format!("u{i:02}"))).collect();
    for svc in ["svc-backup", "svc-web"] {
        users.push(User {
            employee_type: Some("service"),
            ..User::new(svc)
        });
    }
    users.push(User {
        rdn: "No Login".into(),
        rdn_attr: "cn",
        uid: None,
        mail: vec![],
        ..User::new("nologin")
    });
    users.push(User {
        flagged: true,
        ..User::new("already")
    });
    users.push(User {
        rdn: "Doe, John".into(),
        rdn_attr: "cn",
        cn: "Doe, John".into(),
        ..User::new("jdoe")
    });
    users.push(User {
        cn: "Zoë Ångström".into(),
        mail: vec!["zoe@example.org".into(), "zoe.angstrom@example.org".into()],
        ..User::new("zoë")
    });
    users
}

const IN_SCOPE: u64 = 15; // 12 + already + jdoe + zoë

#[tokio::test]
async fn plan_counts_and_writes_nothing() {
    let f = Fixture::new("plan", &population()).await;
    let out = f.run(&["campaign", "plan", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let plan = json(&out);
    assert_eq!(plan["in_scope"], IN_SCOPE, "{plan}");
    assert_eq!(plan["already_flagged"], 1);
    assert_eq!(plan["excluded"], 3);
    assert_eq!(plan["excluded_by_reason"]["exclude_filter"], 2);
    assert_eq!(plan["excluded_by_reason"]["missing_login"], 1);
    assert_eq!(plan["sample"].as_array().unwrap().len(), 10);
    assert_eq!(plan["warnings"].as_array().unwrap().len(), 0, "{plan}");
    let human = f.run(&["campaign", "plan"]);
    assert!(text(&human).contains("Nothing was written"), "{}", text(&human));
    // Only the account flagged beforehand carries the flag; no store was created.
    assert_eq!(f.flagged().await, HashSet::from([f.dn("already")]));
    assert!(!f.store_path().exists());
}

#[tokio::test]
async fn start_marks_exactly_the_scope_then_resumes_and_reverts() {
    let f = Fixture::new("start", &population()).await;
    start_flags_exactly_the_scope(&f).await;
    a_marked_user_binds_but_is_restricted_to_changing_the_password(&f).await;
    let status = json(&f.run(&["campaign", "status", "inc-1", "--json"]));
    assert_eq!(status["name"], "inc-1");
    assert_eq!(status["in_scope"], IN_SCOPE);
    assert_eq!(status["marked"], IN_SCOPE);
    assert_eq!(status["failed"], 0);
    assert_eq!(status["completed"], 0);
    assert_eq!(status["excluded"], 3);
    assert_eq!(status["state"], "active");
    the_account_view_shows_escaped_dns_non_ascii_and_two_mails(&f);
    the_same_name_resumes_and_other_parameters_are_refused(&f);
    revert_clears_every_flag_but_the_one_set_before(&f).await;
}

async fn start_flags_exactly_the_scope(f: &Fixture) {
    let out = f.run(&[
        "campaign",
        "start",
        "--name",
        "inc-1",
        "--reason",
        "Targeted intrusion",
        "--deadline",
        DEADLINE,
        "--yes",
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let expected: HashSet<String> = (0..12)
        .map(|i| f.dn(&format!("u{i:02}")))
        .chain([f.dn("already"), f.dn("zoë"), format!("cn=Doe\\, John,{}", f.ou)])
        .collect();
    let flagged = f.flagged().await;
    assert_eq!(flagged.len(), expected.len(), "{flagged:?}");
    for dn in &expected {
        assert!(
            flagged.iter().any(|f| dn::equal(f, dn)),
            "{dn} not flagged: {flagged:?}"
        );
    }
}

async fn a_marked_user_binds_but_is_restricted_to_changing_the_password(f: &Fixture) {
    let mut user = common::bind(&f.dn("u03"), USER_PASSWORD)
        .await
        .expect("bind as marked user");
    let res = user
        .search(&f.dn("u03"), Scope::Base, "(objectClass=*)", vec!["cn"])
        .await
        .unwrap();
    assert_eq!(
        res.1.rc, 50,
        "search as a marked user should be restricted: {:?}",
        res.1
    );
}

/// The helpdesk view: escaped DN, non-ASCII, two mails; an unknown login is an error.
fn the_account_view_shows_escaped_dns_non_ascii_and_two_mails(f: &Fixture) {
    let zoe = json(&f.run(&["account", "zoë", "--json"]));
    assert_eq!(zoe["directory"]["display_name"], "Zoë Ångström");
    assert_eq!(zoe["directory"]["mail"].as_array().unwrap().len(), 2);
    assert_eq!(zoe["directory"]["flagged"], true);
    assert_eq!(zoe["campaigns"][0]["state"], "marked");
    assert_eq!(zoe["campaigns"][0]["prior_flagged"], false);
    let jdoe = f.run(&["account", "jdoe"]);
    assert!(jdoe.status.success(), "{}", text(&jdoe));
    let jdoe_dn = text(&jdoe)
        .lines()
        .find(|l| l.trim_start().starts_with("DN"))
        .unwrap()
        .trim()[2..]
        .trim()
        .to_owned();
    assert!(
        dn::equal(&jdoe_dn, &format!("cn=Doe\\, John,{}", f.ou)),
        "{}",
        text(&jdoe)
    );
    let unknown = f.run(&["account", "nobody*)(uid=*"]);
    assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown));
    assert!(text(&unknown).contains("no account with uid="), "{}", text(&unknown));
}

/// Same name, same parameters: resumed, nothing new. Different parameters: refused.
fn the_same_name_resumes_and_other_parameters_are_refused(f: &Fixture) {
    let again = f.run(&["campaign", "start", "--name", "inc-1", "--yes"]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("Resumed campaign inc-1: 0 accounts marked"),
        "{}",
        text(&again)
    );
    let list = json(&f.run(&["campaign", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1);
    let other = f.run(&["campaign", "start", "--name", "inc-1", "--reason", "Other", "--yes"]);
    assert_eq!(other.status.code(), Some(64), "{}", text(&other));
    assert!(text(&other).contains("different parameters"), "{}", text(&other));
}

/// Flags cleared except the one set before the campaign; reverting again is harmless;
/// starting a reverted campaign is refused.
async fn revert_clears_every_flag_but_the_one_set_before(f: &Fixture) {
    let out = f.run(&["campaign", "revert", "inc-1", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(f.flagged().await, HashSet::from([f.dn("already")]));
    let status = json(&f.run(&["campaign", "status", "inc-1", "--json"]));
    assert_eq!(status["state"], "reverted");
    assert_eq!(status["reverted"], IN_SCOPE);
    // Reverting again is harmless; starting a reverted campaign is refused.
    assert!(f.run(&["campaign", "revert", "inc-1", "--yes"]).status.success());
    let restart = f.run(&["campaign", "start", "--name", "inc-1", "--yes"]);
    assert_eq!(restart.status.code(), Some(64), "{}", text(&restart));
}

#[tokio::test]
async fn start_without_yes_refuses_off_a_terminal() {
    let f = Fixture::new("noyes", &[User::new("a1")]).await;
    let out = f.run(&[
        "campaign",
        "start",
        "--name",
        "x",
        "--reason",
        "r",
        "--deadline",
        DEADLINE,
    ]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(text(&out).contains("without --yes"), "{}", text(&out));
    assert!(f.flagged().await.is_empty());
}

#[tokio::test]
async fn policy_without_must_change_is_warned_about() {
    let nomust = common::slapd()
        .get("LDAP_POLICY_DN")
        .replace("cn=default", "cn=no-mustchange");
    let users = [
        User::new("p1"),
        User {
            policy: Some(nomust.clone()),
            ..User::new("p2")
        },
    ];
    let f = Fixture::new("nomust", &users).await;
    let plan = json(&f.run(&["campaign", "plan", "--json"]));
    let warnings = plan["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{plan}");
    let message = warnings[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&nomust) && message.contains("restricts NOTHING"),
        "{message}"
    );
}
