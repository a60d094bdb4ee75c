//! A directory that stops the scope search at one of its limits: `check-config`, `campaign plan`
//! and `campaign start` exit 69 naming the limit and the flavour's fix, and no account is flagged. Once the
//! limit is lifted, the same `campaign start` resumes and marks the whole scope.
//!
//! OpenLDAP: the shared slapd's `cn=pwadmin-stock` has the rights of `cn=pwadmin` but no `limits`
//! line, so slapd's stock size limit (500 entries, paged or not) applies to it. 389-DS: a service
//! account of the test's own whose entry carries small `nsSizeLimit` / `nsLookThroughLimit`
//! values, with ACIs on the test's OU only (the shared instance's settings stay untouched).
//! Active Directory's limits (MaxPageSize and the rest) are not enforced by Samba: its fix text is
//! unit-tested only.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::flavor::{self, Case, Kind, Person};
use common::{Fixture, User, json, marked_in_store, text};
use ldap3::Mod;

const DEADLINE: &str = "2099-12-04T17:00:00Z";

/// Points `config` at another service account (the rest of the file stays).
fn bind_as(config: &Path, dn: &str, password_file: &Path) {
    let toml = std::fs::read_to_string(config).unwrap();
    let lines: Vec<String> = toml
        .lines()
        .map(|l| {
            if l.starts_with("bind_dn =") {
                format!("bind_dn = \"{dn}\"")
            } else if l.starts_with("bind_password_file =") {
                format!("bind_password_file = \"{}\"", password_file.display())
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(config, lines.join("\n")).unwrap();
}

fn start_args(name: &str) -> Vec<&str> {
    vec![
        "campaign",
        "start",
        "--name",
        name,
        "--reason",
        "Targeted intrusion",
        "--deadline",
        DEADLINE,
        "--yes",
    ]
}

/// Exit 69, and the whole of `needles` in what the command printed.
fn stopped_at_limit(out: &Output, needles: &[&str]) {
    let all = text(out);
    assert_eq!(out.status.code(), Some(69), "{all}");
    for n in needles {
        assert!(all.contains(n), "{n:?} missing from:\n{all}");
    }
}

/// `check-config`'s preflight: exit 69, the scope's line failed with the limit and the fix.
fn scope_check_fails(out: &Output, needles: &[&str]) {
    stopped_at_limit(out, needles);
    let all = text(out);
    let scope = all.lines().find(|l| l.contains("scope")).unwrap_or_default();
    assert!(scope.contains('✗') && scope.contains("limit"), "{all}");
}

fn nothing_flagged(flagged: HashSet<String>) {
    let some: Vec<&String> = flagged.iter().take(3).collect();
    assert!(
        flagged.is_empty(),
        "{} accounts flagged in the directory, e.g. {some:?}",
        flagged.len()
    );
}

#[tokio::test]
async fn openldap_stock_size_limit_stops_plan_and_start_before_any_mark() {
    const PEOPLE: usize = 700; // more than slapd's stock 500
    let users: Vec<User> = (0..PEOPLE).map(|i| User::new(&format!("l{i:03}"))).collect();
    let f = Fixture::new("limit", &users).await;
    let s = common::slapd();
    let stock = s.get("LDAP_STOCK_BIND_DN");
    bind_as(&f.config, stock, Path::new(s.get("LDAP_STOCK_BIND_PASSWORD_FILE")));
    let line = format!("dn.exact=\"{stock}\" size=unlimited time=unlimited");
    let expected = [
        "size limit",
        "sizeLimitExceeded (4)",
        &format!("limits {line}"),
        &format!("olcLimits: {line}"),
    ];

    let plan = f.run(&["campaign", "plan"]);
    stopped_at_limit(&plan, &expected);
    scope_check_fails(&f.run(&["check-config"]), &expected);
    let start = f.run(&start_args("lim"));
    stopped_at_limit(&start, &expected);
    assert!(text(&start).contains("No account was marked"), "{}", text(&start));
    nothing_flagged(f.flagged().await);
    assert_eq!(marked_in_store(&f.store_path()), 0);
    let status = json(&f.run(&["campaign", "status", "lim", "--json"]));
    assert_eq!(status["scan_complete"], false, "{status}");
    assert_eq!(status["marked"], 0, "{status}");

    // The service account tests use everywhere else has the `limits` line: the same command
    // resumes, scans the whole scope and marks it.
    f.rewrite_config("");
    let resumed = f.run(&["campaign", "start", "--name", "lim", "--yes"]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert!(text(&resumed).contains("Resumed campaign lim"), "{}", text(&resumed));
    let status = json(&f.run(&["campaign", "status", "lim", "--json"]));
    assert_eq!(status["marked"], PEOPLE as u64, "{status}");
    assert_eq!(status["state"], "active", "{status}");
    assert_eq!(f.flagged().await.len(), PEOPLE);
}

/// Sets `attrs` (or deletes them, for an empty value) on `dn`, as Directory Manager.
async fn ds389_set(dn: &str, attrs: &[(&str, &str)]) {
    let mut ldap = flavor::admin(Kind::Ds389).await;
    let mods = attrs
        .iter()
        .map(|(a, v)| match *v {
            "" => Mod::Delete(*a, HashSet::new()),
            v => Mod::Replace(*a, HashSet::from([v])),
        })
        .collect();
    let res = ldap.modify(dn, mods).await.unwrap();
    assert!(matches!(res.rc, 0 | 16), "modify {dn}: {res:?}");
    let _ = ldap.unbind().await;
}

/// A service account of this case only, with pwresetd's rights on the case's OU (read the
/// people, write `passwordExpirationTime`) and `limits` on its own entry. Its DN and password file.
async fn ds389_service_account(case: &Case, limits: &[(&str, &str)]) -> (String, PathBuf) {
    let env = flavor::ds389();
    let uid = format!("svc-{}", case.login("limited"));
    let dn = format!("uid={uid},ou=Services,{}", env.get("DS_BASE_DN"));
    let password = format!("Svc-{}-Passw0rd", case.login("x"));
    let password_file = case.dir.path().join("limited-password");
    std::fs::write(&password_file, &password).unwrap();
    let mut ldap = flavor::admin(Kind::Ds389).await;
    let res = ldap
        .add(
            &dn,
            vec![
                ("objectClass", HashSet::from(["top", "account", "simpleSecurityObject"])),
                ("uid", HashSet::from([uid.as_str()])),
                ("userPassword", HashSet::from([password.as_str()])),
            ],
        )
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "add {dn}: {res:?}");
    let who = format!("userdn=\"ldap:///{dn}\"");
    let acis = [
        format!(
            "(targetattr!=\"userPassword || aci\")(version 3.0; acl \"limits test: read\"; allow (read, search, compare) {who};)"
        ),
        format!(
            "(targetattr=\"passwordExpirationTime\")(version 3.0; acl \"limits test: mark\"; allow (write) {who};)"
        ),
    ];
    let acis: HashSet<&str> = acis.iter().map(String::as_str).collect();
    let res = ldap.modify(&case.ou, vec![Mod::Add("aci", acis)]).await.unwrap();
    assert_eq!(res.rc, 0, "aci on {}: {res:?}", case.ou);
    let _ = ldap.unbind().await;
    // Directory Manager's add under passwordMustChange expires the new password: not for this one.
    ds389_set(&dn, &[("passwordExpirationTime", "")]).await;
    ds389_set(&dn, limits).await;
    (dn, password_file)
}

#[tokio::test]
async fn ds389_size_and_look_through_limits_stop_plan_and_start_before_any_mark() {
    const PEOPLE: usize = 60;
    let people: Vec<Person> = (0..PEOPLE)
        .map(|i| {
            let login: &'static str = Box::leak(format!("l{i:02}").into_boxed_str());
            Person::new(login, login)
        })
        .collect();
    let case = Case::new(Kind::Ds389, "limit", &people, "").await;
    // 389-DS counts the size limit per page of a paged search: 50 is below pwresetd's 500.
    let (account, password_file) = ds389_service_account(&case, &[("nsSizeLimit", "50")]).await;
    bind_as(&case.config, &account, &password_file);

    let size = [
        "size limit",
        "sizeLimitExceeded (4)",
        &format!("dn: {account}"),
        "nsSizeLimit: -1",
        "nsPagedSizeLimit: -1",
    ];
    stopped_at_limit(&case.run(&["campaign", "plan"]), &size);
    scope_check_fails(&case.run(&["check-config"]), &size);
    let start = case.run(&start_args("lim"));
    stopped_at_limit(&start, &size);
    assert!(text(&start).contains("No account was marked"), "{}", text(&start));
    nothing_flagged(case.flagged().await);
    assert_eq!(marked_in_store(&case.store_path()), 0);

    // The fix as printed, then the next limit: how many entries one search may look through.
    ds389_set(
        &account,
        &[
            ("nsSizeLimit", "-1"),
            ("nsPagedSizeLimit", "-1"),
            ("nsLookThroughLimit", "50"),
        ],
    )
    .await;
    let look_through = [
        "administrative limit",
        "adminLimitExceeded (11)",
        "nsLookThroughLimit: -1",
        "nsPagedLookThroughLimit: -1",
    ];
    stopped_at_limit(&case.run(&["campaign", "plan"]), &look_through);
    stopped_at_limit(
        &case.run(&["campaign", "start", "--name", "lim", "--yes"]),
        &look_through,
    );
    nothing_flagged(case.flagged().await);

    ds389_set(
        &account,
        &[("nsLookThroughLimit", "-1"), ("nsPagedLookThroughLimit", "-1")],
    )
    .await;
    let resumed = case.run(&["campaign", "start", "--name", "lim", "--yes"]);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let status = json(&case.run(&["campaign", "status", "lim", "--json"]));
    assert_eq!(status["marked"], PEOPLE as u64, "{status}");
    assert_eq!(status["state"], "active", "{status}");
    assert_eq!(case.flagged().await.len(), PEOPLE);
}
