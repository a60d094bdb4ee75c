//! Enforcement against the real slapd: changes made behind pwresetd's back are noticed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::HashSet;

use common::{Fixture, USER_PASSWORD, User, json, text};
use ldap3::Mod;
use pwresetd::engine::runner::{self, Settings};
use pwresetd::store::Store;

#[tokio::test]
async fn reconcile_completes_restores_and_records_gone() {
    let users = [
        User::new("keep"),
        User::new("cleared"),
        User::new("changed"),
        User::new("deleted"),
    ];
    let f = Fixture::new("reconcile", &users).await;
    let out = f.run(&[
        "campaign",
        "start",
        "--name",
        "rc",
        "--reason",
        "r",
        "--deadline",
        "2099-01-01T00:00:00Z",
        "--yes",
    ]);
    assert!(out.status.success(), "{}", text(&out));

    // Behind pwresetd's back: an admin deletes one flag, a user changes their own password with
    // Password Modify (as ldappasswd does), an entry is deleted.
    let mut admin = common::admin().await;
    let res = admin
        .modify(&f.dn("cleared"), vec![Mod::Delete("pwdReset", HashSet::<&str>::new())])
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let mut user = common::bind(&f.dn("changed"), USER_PASSWORD).await.unwrap();
    let exop = ldap3::exop::PasswordModify {
        user_id: None,
        old_pass: Some(USER_PASSWORD),
        new_pass: Some("a brand new passphrase 7"),
    };
    let res = user.extended(exop).await.unwrap();
    assert_eq!(res.1.rc, 0, "{:?}", res.1);
    assert_eq!(admin.delete(&f.dn("deleted")).await.unwrap().rc, 0);

    let config = pwresetd::daemon::config::load(&f.config).unwrap();
    let dir = pwresetd::directory::connect(&config.directory).unwrap();
    let store = Store::open(config.store.sqlite_path().unwrap()).unwrap();
    let campaign = store.run_blocking(|s| s.campaign("rc")).unwrap().unwrap();
    let settings = Settings {
        concurrency: 4,
        ops_per_second: 0,
        batch: 64,
        outage_wait: std::time::Duration::from_secs(4),
        stop: None,
    };
    let summary = runner::reconcile(dir.clone(), &store, &campaign, &settings, &runner::silent())
        .await
        .unwrap();
    assert_eq!(
        (summary.done, summary.failed, summary.unchanged),
        (3, 0, 1),
        "{summary:?}"
    );

    assert_eq!(f.flagged().await, HashSet::from([f.dn("keep"), f.dn("cleared")]));
    let status = json(&f.run(&["campaign", "status", "rc", "--json"]));
    assert_eq!(status["marked"], 2, "{status}");
    assert_eq!(status["completed"], 1);
    assert_eq!(status["gone"], 1);
    let changed = json(&f.run(&["account", "changed", "--json"]));
    assert_eq!(changed["campaigns"][0]["completed_via"], "directory", "{changed}");
    let trail = store
        .run_blocking(|s| s.audit_trail(Some("rc"), Some("cleared")))
        .unwrap();
    assert!(trail.iter().any(|a| a.action == "flag.restored"), "{trail:?}");

    // A second pass changes nothing.
    let again = runner::reconcile(dir, &store, &campaign, &settings, &runner::silent())
        .await
        .unwrap();
    assert_eq!((again.done, again.unchanged), (0, 2), "{again:?}");
}
