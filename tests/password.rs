//! Password operations of the OpenLDAP flavour against the real slapd (ppolicy, argon2 module).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use common::{Fixture, USER_PASSWORD, User};
use ldap3::Scope;
use pwresetd::directory::{self, BindCheck, Directory, PasswordError, Refusal};
use pwresetd::secret::Secret;

async fn dir(f: &Fixture) -> std::sync::Arc<dyn Directory> {
    let config = pwresetd::daemon::config::load(&f.config).unwrap();
    directory::connect(&config.directory).unwrap()
}

async fn user_password(f: &Fixture, uid: &str) -> String {
    let mut ldap = common::admin().await;
    let (entries, _) = ldap
        .search(&f.dn(uid), Scope::Base, "(objectClass=*)", vec!["userPassword"])
        .await
        .unwrap()
        .success()
        .unwrap();
    let e = ldap3::SearchEntry::construct(entries.into_iter().next().unwrap());
    e.attrs.get("userPassword").map(|v| v[0].clone()).unwrap_or_default()
}

const NEW: &str = common::artifacts::PASSWORD_NEW;

#[tokio::test]
async fn user_change_under_pwdreset_restriction_clears_the_flag() {
    let f = Fixture::new(
        "pwuser",
        &[User {
            flagged: true,
            ..User::new("marked")
        }],
    )
    .await;
    let d = dir(&f).await;
    let dn = f.dn("marked");
    let old = Secret::new(USER_PASSWORD);
    assert_eq!(d.check_password(&dn, &old).await.unwrap(), BindCheck::MustChange);
    assert_eq!(
        d.check_password(&dn, &Secret::new("wrong")).await.unwrap(),
        BindCheck::Refused
    );

    let wrong = d
        .change_password_as_user(&dn, &Secret::new("wrong"), &Secret::new(NEW))
        .await;
    assert!(matches!(wrong, Err(PasswordError::WrongCurrentPassword)), "{wrong:?}");
    // The server's own quality rule (pwdMinLength 8) refuses, in plain words.
    match d.change_password_as_user(&dn, &old, &Secret::new("short")).await {
        Err(PasswordError::Refused { reason, detail }) => {
            assert!(
                matches!(reason, Refusal::TooShort { .. } | Refusal::TooWeak),
                "{reason:?} / {detail}"
            );
            assert!(detail.contains("constraintViolation (19)"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        d.check_password(&dn, &old).await.unwrap(),
        BindCheck::MustChange,
        "nothing changed"
    );

    d.change_password_as_user(&dn, &old, &Secret::new(NEW)).await.unwrap();
    assert_eq!(
        d.check_password(&dn, &Secret::new(NEW)).await.unwrap(),
        BindCheck::Unrestricted
    );
    assert!(
        f.flagged().await.is_empty(),
        "pwdReset cleared by the user's own change"
    );
    // The server keeps history: going back to the old password is refused.
    match d.change_password_as_user(&dn, &Secret::new(NEW), &old).await {
        Err(PasswordError::Refused { reason, .. }) => assert_eq!(reason, Refusal::UsedBefore),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn admin_set_clears_the_flag_and_current_password_is_detected() {
    let users = [
        User {
            flagged: true,
            ..User::new("adm1")
        },
        User {
            flagged: true,
            ..User::new("adm2")
        },
    ];
    let f = Fixture::new("pwadmin", &users).await;
    let d = dir(&f).await;
    let dn = f.dn("adm1");
    assert_eq!(
        d.is_current_password(&dn, &Secret::new(USER_PASSWORD)).await.unwrap(),
        Some(true)
    );
    assert_eq!(
        d.is_current_password(&dn, &Secret::new(NEW)).await.unwrap(),
        Some(false)
    );
    d.set_password_as_admin(&dn, &Secret::new(NEW)).await.unwrap();
    assert_eq!(
        d.check_password(&dn, &Secret::new(NEW)).await.unwrap(),
        BindCheck::Unrestricted
    );
    assert_eq!(
        d.check_password(&dn, &Secret::new(USER_PASSWORD)).await.unwrap(),
        BindCheck::Refused
    );
    assert_eq!(d.is_current_password(&dn, &Secret::new(NEW)).await.unwrap(), Some(true));
    assert_eq!(f.flagged().await, [f.dn("adm2")].into_iter().collect());

    // With password_hash = "argon2" the value is an {ARGON2} argon2id hash slapd verifies.
    f.rewrite_config("password_hash = \"argon2\"");
    let d = dir(&f).await;
    let dn2 = f.dn("adm2");
    d.set_password_as_admin(&dn2, &Secret::new(NEW)).await.unwrap();
    assert!(user_password(&f, "adm2").await.starts_with("{ARGON2}$argon2id$"));
    assert_eq!(
        d.check_password(&dn2, &Secret::new(NEW)).await.unwrap(),
        BindCheck::Unrestricted
    );
    assert_eq!(
        d.is_current_password(&dn2, &Secret::new(NEW)).await.unwrap(),
        Some(true)
    );
    assert!(f.flagged().await.is_empty());
}

#[tokio::test]
async fn operators_sign_in_and_nested_groups_are_followed() {
    let users = [User::new("op1"), User::new("op2"), User::new("nobody")];
    let f = Fixture::new("groups", &users).await;
    let mut admin = common::admin().await;
    let tier1 = format!("cn=tier1,{}", f.ou);
    let helpdesk = format!("cn=helpdesk,{}", f.ou);
    for (dn, cn, members) in [
        (&tier1, "tier1", vec![f.dn("op1")]),
        (&helpdesk, "helpdesk", vec![tier1.clone(), f.dn("op2")]),
    ] {
        let members: std::collections::HashSet<&str> = members.iter().map(String::as_str).collect();
        let attrs = vec![
            ("objectClass", std::collections::HashSet::from(["groupOfNames"])),
            ("cn", std::collections::HashSet::from([cn])),
            ("member", members),
        ];
        assert_eq!(admin.add(dn, attrs).await.unwrap().rc, 0);
    }
    let d = dir(&f).await;
    for (uid, member) in [("op1", true), ("op2", true), ("nobody", false)] {
        assert_eq!(d.is_member(&f.dn(uid), &helpdesk).await.unwrap(), member, "{uid}");
    }
    assert!(!d.is_member(&f.dn("op1"), &format!("cn=absent,{}", f.ou)).await.unwrap());

    let right = Secret::new(USER_PASSWORD);
    let op1 = d.find_operator("op1", &f.ou).await.unwrap().expect("op1 is found");
    assert_eq!(op1.account.dn, f.dn("op1"));
    assert_eq!(
        d.check_password(&op1.account.dn, &right).await.unwrap(),
        BindCheck::Unrestricted
    );
    assert_eq!(
        d.check_password(&op1.account.dn, &Secret::new("wrong")).await.unwrap(),
        BindCheck::Refused
    );
    assert!(d.find_operator("ghost", &f.ou).await.unwrap().is_none());
    assert!(d.find_operator("*", &f.ou).await.unwrap().is_none());
    assert!(d.find_operator("", &f.ou).await.unwrap().is_none());
    assert!(
        !matches!(
            d.check_password(&op1.account.dn, &Secret::new("")).await,
            Ok(BindCheck::Unrestricted | BindCheck::MustChange)
        ),
        "no unauthenticated bind"
    );
}
