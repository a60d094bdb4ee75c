//! One campaign scenario, run on every directory flavour against its real server: OpenLDAP
//! (the shared slapd), Active Directory (Samba AD DC) and 389-DS, as `scripts/test` starts them.
//!
//! Each scenario is written once, parameterised by [`Kind`]; `flavour_tests!` instantiates it per
//! flavour so a failure names the flavour. What differs between flavours (which accounts a scope
//! leaves out and why, how the server restricts a marked user, which rules the directory itself
//! applies) is stated in the `expect_*` functions, next to each other.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use common::daemon::Daemon;
use common::flavor::{Case, Kind, Person, Restriction, Role};
use common::helpdesk::{InProcess, Setup, serve_sections, sign_in_page};
use common::smtp::SmtpServer;
use common::{USER_PASSWORD, eventually, json, marked_in_store, text};
use ldap3::Mod;
use pwresetd::campaign::state::Via;
use pwresetd::directory::{BindCheck, Directory, PasswordError, Refusal, Threshold};
use pwresetd::engine::runner::{self, Settings};
use pwresetd::secret::Secret;
use pwresetd::store::{AuditEntry, Completion, Store};

/// Instantiates `scenario(kind)` once per flavour, in a module named after the scenario.
macro_rules! flavour_tests {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn openldap() {
                super::$scenario(Kind::OpenLdap).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn active_directory() {
                super::$scenario(Kind::ActiveDirectory).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ds389() {
                super::$scenario(Kind::Ds389).await
            }
        }
    )*};
}

flavour_tests!(
    campaign_lifecycle,
    killed_campaign_resumes,
    killed_deadline_run_resumes,
    password_flows,
    flagged_operators_cannot_use_the_helpdesk,
    lockout_rules_are_read,
    check_config_tells_whether_the_mark_can_take_effect,
    helpdesk_operators_are_never_locked
);

const DEADLINE: &str = "2099-12-04T17:00:00Z";
/// Shares no three letters in a row with the test users' names (389-DS refuses those).
const NEW: &str = common::artifacts::FLAVOR_NEW;
const NEW2: &str = common::artifacts::FLAVOR_NEW2;
/// Too short for every test server's own rules (AD 7, 389 8, slapd 8).
const WEAK: &str = "Ab1-x";

/// Why the flavour leaves a person out of the scope, if it does.
fn expect_excluded(kind: Kind, role: Role) -> Option<&'static str> {
    match (kind, role) {
        (_, Role::Service) => Some("exclude_filter"),
        (Kind::ActiveDirectory | Kind::Ds389, Role::Disabled) => Some("disabled"),
        (Kind::ActiveDirectory, Role::NeverExpires) => Some("password_never_expires"),
        _ => None,
    }
}

/// What the server does to a marked user's bind with the right password.
fn expect_marked_restriction(kind: Kind) -> Restriction {
    match kind {
        // ppolicy: "Operations are restricted to bind/unbind/abandon/StartTLS/modify password".
        Kind::OpenLdap => Restriction::Restricted(50),
        // The bind itself is refused: data 773, must change password.
        Kind::ActiveDirectory => Restriction::BindRefused("773".into()),
        // The bind succeeds (with the PasswordExpired control); everything else is rc 53.
        Kind::Ds389 => Restriction::Restricted(53),
    }
}

/// A fragment of the warning `campaign plan` must show for the test server's policy.
fn expect_plan_warning(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::OpenLdap => None,
        // The domain policy is readable: its rules join [policy]'s (tests/directory_rules.rs).
        Kind::ActiveDirectory => None,
        // The service account cannot read cn=config.
        Kind::Ds389 => Some("cannot check that passwordMustChange is on"),
    }
}

const POPULATION: [Person; 8] = [
    Person::new("u1", "User One"),
    Person::new("u2", "User Two"),
    Person::new("u3", "User Three"),
    Person::new("zoe", "Zoë Ångström"),
    Person::new("pre", "Already Flagged").flagged(),
    Person::new("svc", "Backup Service").role(Role::Service),
    Person::new("dis", "Disabled Person").role(Role::Disabled),
    Person::new("nox", "Never Expires").role(Role::NeverExpires),
];

/// What `check-config` says about the mark on the test server as it is set up (exit 0), then
/// the lines after the scenario breaks it (exit 69).
fn expect_preflight(kind: Kind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        Kind::OpenLdap => (
            &[
                "✓ directory policy: the mark takes effect",
                "✓ lockout budget: 3 failed password bind(s) per account",
            ],
            &[
                "✗ directory policy: password policy cn=no-mustchange",
                "pwdMustChange: TRUE",
            ],
        ),
        // The rights are read from the server; its stricter rules join the effective policy.
        Kind::ActiveDirectory => (
            &[
                "✓ write rights: the service account may mark",
                "✓ directory policy: the mark takes effect",
                "✓ effective policy: under the AD domain policy of",
                "(too_few_character_categories) — the AD domain policy of",
                "✓ lockout budget: none needed, the directory does not lock accounts",
            ],
            &[
                "✗ write rights: the service account may not write pwdLastSet",
                "✗ write rights: the service account lacks the Reset Password extended right",
            ],
        ),
        // The service account may not read cn=config: a warning, not a failure.
        Kind::Ds389 => (
            &[
                "! directory policy: the password policy cn=config",
                "not readable",
                "! lockout budget: unknown",
            ],
            &[
                "✗ directory policy: the password policy cn=nomust",
                "passwordMustChange off",
            ],
        ),
    }
}

/// `check-config` reads the whole scope and tells whether the flavour's mark can take effect
/// there (the policies the accounts fall under; on Active Directory, the service account's
/// rights), then fails once the scenario takes that away: OpenLDAP and 389-DS give one account
/// a policy without must-change, Active Directory binds as an ordinary user. Nothing is marked.
async fn check_config_tells_whether_the_mark_can_take_effect(kind: Kind) {
    let people = [Person::new("p1", "Pre Flight"), Person::new("p2", "Second Flight")];
    let case = Case::new(kind, "pre", &people, "").await;
    let (works, broken) = expect_preflight(kind);
    let out = case.run(&["check-config"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{kind:?}: {t}");
    for fragment in ["✓ directory: bound as", "✓ scope: 2 accounts in scope"]
        .iter()
        .chain(works)
    {
        assert!(t.contains(fragment), "{kind:?}: {fragment:?} missing from\n{t}");
    }
    match kind {
        Kind::OpenLdap => {
            let policy = common::slapd().get("LDAP_NO_MUSTCHANGE_POLICY_DN").as_bytes().to_vec();
            let mods = vec![Mod::Replace(b"pwdPolicySubentry".to_vec(), HashSet::from([policy]))];
            case.admin_modify("p2", mods).await;
        }
        Kind::Ds389 => {
            let policy = format!("cn=nomust,{}", case.ou);
            let mut ldap = case.admin().await;
            let attrs = vec![
                ("objectClass", HashSet::from(["top", "ldapsubentry", "passwordpolicy"])),
                ("cn", HashSet::from(["nomust"])),
                ("passwordMustChange", HashSet::from(["off"])),
                ("passwordChange", HashSet::from(["on"])),
            ];
            let res = ldap.add(&policy, attrs).await.unwrap();
            assert_eq!(res.rc, 0, "{res:?}");
            let mods = vec![Mod::Replace(
                b"pwdpolicysubentry".to_vec(),
                HashSet::from([policy.into_bytes()]),
            )];
            case.admin_modify("p2", mods).await;
        }
        Kind::ActiveDirectory => {
            let env = common::flavor::ad();
            let password = case.dir.path().join("p1-password");
            std::fs::write(&password, USER_PASSWORD).unwrap();
            let config = std::fs::read_to_string(&case.config).unwrap().replace(
                &format!(
                    "bind_dn = \"{}\"\nbind_password_file = \"{}\"",
                    env.get("AD_BIND_DN"),
                    env.get("AD_BIND_PASSWORD_FILE")
                ),
                &format!(
                    "bind_dn = \"{}\"\nbind_password_file = \"{}\"",
                    case.dn("p1"),
                    password.display()
                ),
            );
            std::fs::write(&case.config, config).unwrap();
        }
    }
    let out = case.run(&["check-config"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(69), "{kind:?}: {t}");
    for fragment in broken {
        assert!(t.contains(fragment), "{kind:?}: {fragment:?} missing from\n{t}");
    }
    assert_eq!(case.flagged().await, HashSet::new(), "check-config marks nothing");
}

/// Plan, start (marks exactly the scope), a marked user restricted, the account view, notices,
/// revert (the prior state comes back).
async fn campaign_lifecycle(kind: Kind) {
    let case = Case::new(kind, "life", &POPULATION, "").await;
    let in_scope: Vec<&str> = POPULATION
        .iter()
        .filter(|p| expect_excluded(kind, p.role).is_none())
        .map(|p| p.login)
        .collect();
    plan_counts_the_scope_and_its_exclusions_and_writes_nothing(kind, &case, &in_scope).await;
    start_marks_exactly_the_scope_and_the_server_restricts_it(kind, &case, &in_scope).await;
    the_account_view_shows_non_ascii_names_and_exclusions(kind, &case);
    notices_through_the_file_transport_link_to_the_portal(&case, &in_scope);
    the_deadline_locks_exactly_the_unchanged_accounts(kind, &case, &in_scope).await;
    the_helpdesk_unlocks_and_a_new_link_follows(kind, &case, &in_scope).await;

    let out = case.run(&["campaign", "revert", "life", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(case.flagged().await, case.dn_set(&["pre"]), "the prior state is back");
    assert_eq!(case.restriction("u2", USER_PASSWORD).await, Restriction::Free);
    assert_eq!(
        case.restriction("u3", USER_PASSWORD).await,
        expect_locked(kind),
        "locked before the deadline: stays locked"
    );
    let status = json(&case.run(&["campaign", "status", "life", "--json"]));
    assert_eq!(status["state"], "reverted", "{status}");
    assert_eq!(status["locked"], 0, "{status}");
}

/// What the server answers a locked (or disabled) account's bind with the right password.
fn expect_locked(kind: Kind) -> Restriction {
    match kind {
        // ppolicy: pwdAccountLockedTime under a policy with pwdLockout: TRUE.
        Kind::OpenLdap => Restriction::Refused(49),
        // ACCOUNTDISABLE: data 533 (it beats 773, must change).
        Kind::ActiveDirectory => Restriction::BindRefused("533".into()),
        // nsAccountLock: "account inactivated".
        Kind::Ds389 => Restriction::Refused(53),
    }
}

/// Locks `login` as the directory's administrator would, outside pwresetd.
async fn lock_by_hand(case: &Case, login: &str) {
    let (attr, value) = match case.kind {
        Kind::OpenLdap => ("pwdAccountLockedTime", "000001010000Z".to_owned()),
        Kind::ActiveDirectory => {
            let uac: u32 = case.attr(login, "userAccountControl").await.unwrap().parse().unwrap();
            ("userAccountControl", (uac | 2).to_string())
        }
        Kind::Ds389 => ("nsAccountLock", "TRUE".to_owned()),
    };
    let mods = vec![Mod::Replace(
        attr.as_bytes().to_vec(),
        HashSet::from([value.into_bytes()]),
    )];
    case.admin_modify(login, mods).await;
}

/// At the deadline (applied early with `--now`): the guard refuses to lock most of the scope;
/// allowed, exactly the accounts still marked are locked (not the one that changed its
/// password), the server refuses their binds, and one locked beforehand is recorded as such.
async fn the_deadline_locks_exactly_the_unchanged_accounts(kind: Kind, case: &Case, in_scope: &[&str]) {
    let out = case.run(&["campaign", "set", "life", "--at-deadline", "lock", "--grace", "0s"]);
    assert!(out.status.success(), "{}", text(&out));
    let dir = case.directory();
    dir.set_password_as_admin(&case.dn("u1"), &Secret::new(NEW))
        .await
        .unwrap();
    complete(&Store::open(&case.store_path()).unwrap(), "life", &case.login("u1"));
    lock_by_hand(case, "u3").await;
    let unchanged: Vec<&str> = in_scope.iter().copied().filter(|l| *l != "u1").collect();

    let plan = json(&case.run(&["campaign", "deadline", "life", "--plan", "--now", "--json"]));
    assert_eq!(plan["would_lock"], unchanged.len(), "{plan}");
    assert!(
        plan["refused"].as_str().unwrap().contains("max_lock_fraction"),
        "{plan}"
    );
    let out = case.run(&["campaign", "deadline", "life", "--now", "--yes"]);
    assert_eq!(out.status.code(), Some(1), "the guard trips: {}", text(&out));
    assert!(text(&out).contains("nothing was locked"), "{}", text(&out));
    assert_eq!(
        case.restriction("u2", USER_PASSWORD).await,
        expect_marked_restriction(kind)
    );

    case.append_config("\n[campaign]\nmax_lock_fraction = 1.0\n");
    let out = case.run(&["campaign", "deadline", "life", "--now", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    for login in &unchanged {
        assert_eq!(
            case.restriction(login, USER_PASSWORD).await,
            expect_locked(kind),
            "{login}"
        );
    }
    assert_eq!(
        case.restriction("u1", NEW).await,
        Restriction::Free,
        "changed: not locked"
    );
    let status = json(&case.run(&["campaign", "status", "life", "--json"]));
    assert_eq!(status["locked"], unchanged.len(), "{status}");
    let store = Store::open(&case.store_path()).unwrap();
    let trail = store.run_blocking(|s| s.audit_trail(Some("life"), None)).unwrap();
    let locks: Vec<&AuditEntry> = trail.iter().filter(|e| e.action == "account.locked").collect();
    assert_eq!(locks.len(), unchanged.len(), "{locks:?}");
    let pre_locked = case.login("u3");
    let u3 = locks
        .iter()
        .find(|e| e.account.as_deref() == Some(&pre_locked))
        .unwrap();
    assert!(
        u3.detail.as_deref().unwrap().contains("already locked before"),
        "{u3:?}"
    );
    assert!(
        trail.iter().any(|e| e.action == "campaign.set"),
        "campaign set is audited"
    );
}

/// The service as the helpdesk and the people meet it after the lock (`pwresetd serve` over
/// SMTP): one `locked` mail per lock the deadline set; a locked account's link opens the
/// "locked" page, which has the status and shape of the page a made-up token gets; the helpdesk
/// API's unlock (reason required) lets the person bind again (still flagged) and mails a link
/// that works; a repeat changes nothing; an account locked before stays locked; an exemption
/// undoes the lock too.
async fn the_helpdesk_unlocks_and_a_new_link_follows(kind: Kind, case: &Case, in_scope: &[&str]) {
    let deadline_locked: Vec<&str> = in_scope.iter().copied().filter(|l| !["u1", "u3"].contains(l)).collect();
    let links = spooled_links(case);
    let smtp = SmtpServer::start(&[]);
    let (admin_port, portal_port) = (common::free_port(), common::free_port());
    let (token, tokens) = token_for(case);
    let metrics = case.dir.path().join("metrics-token");
    std::fs::write(&metrics, "metrics-0123456789abcdef\n").unwrap();
    case.restore_config();
    let sections = serve_sections((admin_port, portal_port), &smtp, "", (&tokens, &metrics), "");
    case.append_config(&sections.replace("operator_group = \"\"\n", ""));
    let mut daemon = Daemon::start(&case.config, admin_port, portal_port);
    assert!(
        daemon.wait_notification("READY=1", Duration::from_secs(30)).is_some(),
        "{}",
        daemon.log_text()
    );

    // The locked mails: one per account the deadline locked, none to the one locked before.
    let got = smtp.wait_for_messages(deadline_locked.len(), Duration::from_secs(30));
    let mut to: Vec<String> = got.iter().flat_map(|m| m.rcpt_tos()).collect();
    to.sort();
    let mut want: Vec<String> = deadline_locked
        .iter()
        .map(|l| format!("{}@example.org", case.login(l)))
        .collect();
    want.sort();
    assert_eq!(to, want, "{kind:?}: {}", daemon.log_text());
    let text_part = got[0].parse().part("text/plain").body.clone();
    assert!(text_part.contains("was locked at the deadline"), "{text_part}");
    assert!(
        !text_part.contains("/reset/"),
        "no link in the locked mail: {text_part}"
    );

    // The locked page for a locked account's link; the gone page for a made-up token: same
    // status, same shape.
    let portal = format!("http://127.0.0.1:{portal_port}");
    let u2_link = &links[&case.login("u2")];
    let (locked_status, locked_page) = common::daemon::get(&format!("{portal}/reset/{u2_link}")).await;
    let made_up: String = u2_link.chars().rev().collect();
    let (gone_status, gone_page) = common::daemon::get(&format!("{portal}/reset/{made_up}")).await;
    assert_eq!((locked_status, gone_status), (410, 410));
    assert!(locked_page.contains("locked at the deadline"), "{locked_page}");
    assert!(!gone_page.contains("locked"), "{gone_page}");
    assert_eq!(tags(&locked_page), tags(&gone_page), "same shape");

    let unlock = async |login: &str, body: serde_json::Value| {
        let url = format!(
            "http://127.0.0.1:{admin_port}/api/v1/accounts/{}/unlock",
            case.login(login)
        );
        let r = Setup::http()
            .post(url)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
    };
    let (status, body) = unlock("u2", serde_json::json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("reason_required")),
        "{body}"
    );
    let (status, body) = unlock("u2", serde_json::json!({"reason": "called back"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], true, "{body}");
    assert_eq!(
        case.restriction("u2", USER_PASSWORD).await,
        expect_marked_restriction(kind),
        "{kind:?}: unlocked, still to change its password"
    );
    let u2_mail = format!("{}@example.org", case.login("u2"));
    let got = smtp.wait_for_messages(deadline_locked.len() + 1, Duration::from_secs(30));
    let fresh = got
        .iter()
        .filter(|m| m.rcpt_tos().contains(&u2_mail))
        .find_map(|m| {
            let body = m.parse().part("text/plain").body.clone();
            let start = body.find(&format!("{portal}/reset/"))?;
            Some(
                body[start..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect::<String>(),
            )
        })
        .expect("a new link mailed after the unlock");
    assert_eq!(common::daemon::get(&fresh).await.0, 200, "the new link works");
    let (status, body) = unlock("u2", serde_json::json!({"reason": "again"})).await;
    assert_eq!((status, body["changed"].as_bool()), (200, Some(false)), "{body}");

    // Locked before the deadline: recorded as unlocked, the server still refuses it.
    let (status, body) = unlock("u3", serde_json::json!({"reason": "called back"})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["message"].as_str().unwrap().contains("stays locked"), "{body}");
    assert_eq!(case.restriction("u3", USER_PASSWORD).await, expect_locked(kind));

    // An exemption undoes the lock (and clears the flag).
    let url = format!(
        "http://127.0.0.1:{admin_port}/api/v1/accounts/{}/exempt",
        case.login("zoe")
    );
    let r = Setup::http()
        .post(url)
        .bearer_auth(&token)
        .json(&serde_json::json!({"reason": "on leave"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    assert_eq!(case.restriction("zoe", USER_PASSWORD).await, Restriction::Free);
    let status = json(&case.run(&["campaign", "status", "life", "--json"]));
    assert_eq!(status["locked"], deadline_locked.len() - 2, "{status}");

    daemon.signal("TERM");
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(20)),
        Some(0),
        "{}",
        daemon.log_text()
    );
    case.restore_config();
}

/// Each account's one-time link token from the notices in the file transport's spool.
fn spooled_links(case: &Case) -> std::collections::HashMap<String, String> {
    let mut links = std::collections::HashMap::new();
    for entry in std::fs::read_dir(case.dir.path().join("spool")).unwrap() {
        let mail = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let Some(start) = mail.find("https://pw.example.org/reset/") else {
            continue;
        };
        let token: String = mail[start + "https://pw.example.org/reset/".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let to = mail.lines().find_map(|l| l.strip_prefix("To: ")).unwrap();
        let login = to.rsplit('<').next().unwrap().split('@').next().unwrap().to_owned();
        links.insert(login, token);
    }
    links
}

/// A helpdesk API token made with the real CLI: (the token, the server's tokens file).
fn token_for(case: &Case) -> (String, std::path::PathBuf) {
    let out = case.run(&["helpdesk", "token", "create", "--name", "ci"]);
    assert!(out.status.success(), "{}", text(&out));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = printed.lines().map(str::trim).collect();
    let token = lines.iter().find(|l| l.starts_with("ci.")).unwrap().to_string();
    let line = lines.iter().find(|l| l.starts_with("ci:$argon2id$")).unwrap();
    let tokens = case.dir.path().join("helpdesk-tokens");
    std::fs::write(&tokens, format!("{line}\n")).unwrap();
    (token, tokens)
}

/// The tags of a page, without its words: what "the same shape" means.
fn tags(html: &str) -> Vec<String> {
    html.split('<')
        .skip(1)
        .map(|t| t.split([' ', '>']).next().unwrap_or_default().to_owned())
        .collect()
}

/// Members of `helpdesk.operator_group` (nested) are never locked at the deadline, whatever
/// their campaign state; the others are.
async fn helpdesk_operators_are_never_locked(kind: Kind) {
    let people = [Person::new("opa", "Operator Able"), Person::new("usa", "User Able")];
    let case = Case::new(kind, "oplock", &people, "").await;
    let group = add_operator_group(&case, "opa").await;
    case.append_config(&format!(
        "[helpdesk]\noperator_group = \"{group}\"\n\n[campaign]\nmax_lock_fraction = 1.0\n"
    ));
    let out = case.run(&[
        "campaign",
        "start",
        "--name",
        "oplock",
        "--reason",
        "test",
        "--deadline",
        DEADLINE,
        "--at-deadline",
        "lock",
        "--grace",
        "0s",
        "--yes",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let plan = json(&case.run(&["campaign", "deadline", "oplock", "--plan", "--now", "--json"]));
    let opa = plan["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["dn"].as_str().unwrap().eq_ignore_ascii_case(&case.dn("opa")))
        .unwrap()
        .clone();
    assert_eq!(opa["will_lock"], false, "{plan}");
    assert!(opa["reason"].as_str().unwrap().contains("operator"), "{plan}");
    let out = case.run(&["campaign", "deadline", "oplock", "--now", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(case.restriction("usa", USER_PASSWORD).await, expect_locked(kind));
    assert_eq!(
        case.restriction("opa", USER_PASSWORD).await,
        expect_marked_restriction(kind),
        "{kind:?}: the operator is marked, never locked"
    );
    let out = case.run(&["campaign", "revert", "oplock", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
}

/// A group with `login` in it, inside a group that is the operator group (nested membership);
/// the outer group's DN.
async fn add_operator_group(case: &Case, login: &str) -> String {
    let (inner, outer) = match case.kind {
        Kind::ActiveDirectory => (
            format!("CN=tier-{},{}", case.login(""), case.ou),
            format!("CN=hd-{},{}", case.login(""), case.ou),
        ),
        _ => (format!("cn=tier,{}", case.ou), format!("cn=hd,{}", case.ou)),
    };
    let mut admin = case.admin().await;
    for (dn, member) in [(&inner, case.dn(login)), (&outer, inner.clone())] {
        let cn = dn.split([',', '=']).nth(1).unwrap().to_owned();
        let mut attrs: Vec<(&str, HashSet<&str>)> = vec![
            ("cn", HashSet::from([cn.as_str()])),
            ("member", HashSet::from([member.as_str()])),
        ];
        match case.kind {
            Kind::ActiveDirectory => {
                attrs.push(("objectClass", HashSet::from(["group"])));
                attrs.push(("sAMAccountName", HashSet::from([cn.as_str()])));
            }
            _ => attrs.push(("objectClass", HashSet::from(["groupOfNames"]))),
        }
        let res = admin.add(dn, attrs).await.unwrap();
        assert_eq!(res.rc, 0, "add {dn}: {res:?}");
    }
    let _ = admin.unbind().await;
    outer
}

/// `campaign deadline --now` killed with SIGKILL in the middle resumes: every account locked,
/// none twice (one audit record each), none missed.
async fn killed_deadline_run_resumes(kind: Kind) {
    const LOGINS: [&str; RESUME_USERS] = [
        "d01", "d02", "d03", "d04", "d05", "d06", "d07", "d08", "d09", "d10", "d11", "d12",
    ];
    let people: Vec<Person> = LOGINS.iter().map(|l| Person::new(l, l)).collect();
    // Four operations a second: the kill lands after the third lock.
    let case = Case::new(kind, "dlkill", &people, "max_ops_per_second = 4").await;
    case.append_config("\n[campaign]\nmax_lock_fraction = 1.0\n");
    let out = case.run(&[
        "campaign",
        "start",
        "--name",
        "big",
        "--reason",
        "Intrusion",
        "--deadline",
        DEADLINE,
        "--at-deadline",
        "lock",
        "--grace",
        "0s",
        "--yes",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pwresetd"))
        .args(["--config", case.config.to_str().unwrap()])
        .args(["campaign", "deadline", "big", "--now", "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let store = Store::open(&case.store_path()).unwrap();
    let id = store.run_blocking(|s| s.campaign("big")).unwrap().unwrap().id;
    let started = Instant::now();
    while store.run_blocking(|s| s.count_locked(id)).unwrap() < 3 {
        assert!(started.elapsed() < Duration::from_secs(30), "locking did not progress");
        assert!(child.try_wait().unwrap().is_none(), "finished before the kill");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = store.run_blocking(|s| s.count_locked(id)).unwrap();
    assert!(
        at_kill < RESUME_USERS as u64,
        "the kill came too late: {at_kill} locked"
    );

    let out = case.run(&["campaign", "deadline", "big", "--now", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(store.run_blocking(|s| s.count_locked(id)).unwrap(), RESUME_USERS as u64);
    let trail = store.run_blocking(|s| s.audit_trail(Some("big"), None)).unwrap();
    let mut locked: Vec<String> = trail
        .iter()
        .filter(|e| e.action == "account.locked")
        .map(|e| e.account.clone().unwrap())
        .collect();
    locked.sort();
    let mut want: Vec<String> = LOGINS.iter().map(|l| case.login(l)).collect();
    want.sort();
    assert_eq!(locked, want, "each account locked once");
    for login in LOGINS {
        assert_eq!(
            case.restriction(login, USER_PASSWORD).await,
            expect_locked(kind),
            "{login}"
        );
    }
    assert!(
        store
            .run_blocking(|s| s.audit_trail(Some("big"), None))
            .unwrap()
            .iter()
            .all(|e| e.detail.as_deref().is_none_or(|d| !d.contains("already locked"))),
        "the resumed run did not take its own lock for a prior one"
    );
}

/// The counts, the reasons for each exclusion and the flavour's warning.
async fn plan_counts_the_scope_and_its_exclusions_and_writes_nothing(kind: Kind, case: &Case, in_scope: &[&str]) {
    let plan = json(&case.run(&["campaign", "plan", "--json"]));
    assert_eq!(plan["in_scope"], in_scope.len(), "{plan}");
    assert_eq!(plan["already_flagged"], 1, "{plan}");
    let mut reasons = std::collections::BTreeMap::<&str, u64>::new();
    for p in &POPULATION {
        if let Some(r) = expect_excluded(kind, p.role) {
            *reasons.entry(r).or_default() += 1;
        }
    }
    assert_eq!(plan["excluded"], reasons.values().sum::<u64>(), "{plan}");
    for (reason, n) in &reasons {
        assert_eq!(plan["excluded_by_reason"][reason], *n, "{reason}: {plan}");
    }
    let warnings = plan["warnings"].to_string();
    match expect_plan_warning(kind) {
        None => assert_eq!(plan["warnings"].as_array().unwrap().len(), 0, "{plan}"),
        Some(fragment) => assert!(warnings.contains(fragment), "{kind:?}: {warnings}"),
    }
    let human = case.run(&["campaign", "plan"]);
    if kind == Kind::ActiveDirectory {
        assert!(text(&human).contains("password never expires"), "{}", text(&human));
    }
    assert_eq!(case.flagged().await, case.dn_set(&["pre"]), "plan writes nothing");
}

async fn start_marks_exactly_the_scope_and_the_server_restricts_it(kind: Kind, case: &Case, in_scope: &[&str]) {
    case.start_campaign("life");
    assert_eq!(
        case.flagged().await,
        case.dn_set(in_scope),
        "exactly the scope is marked"
    );
    assert_eq!(
        case.restriction("u2", USER_PASSWORD).await,
        expect_marked_restriction(kind)
    );
    if kind != Kind::OpenLdap {
        // Left out: still free.
        assert_eq!(case.restriction("svc", USER_PASSWORD).await, Restriction::Free);
    }
    let status = json(&case.run(&["campaign", "status", "life", "--json"]));
    assert_eq!(status["marked"], in_scope.len(), "{status}");
    assert_eq!(status["failed"], 0, "{status}");
}

/// The helpdesk view, non-ASCII names included; an excluded account says why.
fn the_account_view_shows_non_ascii_names_and_exclusions(kind: Kind, case: &Case) {
    let zoe = json(&case.run(&["account", &case.login("zoe"), "--json"]));
    assert_eq!(zoe["directory"]["display_name"], "Zoë Ångström", "{zoe}");
    assert_eq!(zoe["directory"]["flagged"], true, "{zoe}");
    assert!(zoe["directory"]["effective_policy"].is_string(), "{zoe}");
    assert_eq!(zoe["campaigns"][0]["state"], "marked", "{zoe}");
    assert_eq!(zoe["campaigns"][0]["prior_flagged"], false, "{zoe}");
    if let Some(reason) = expect_excluded(kind, Role::Disabled) {
        let dis = json(&case.run(&["account", &case.login("dis"), "--json"]));
        assert_eq!(dis["campaigns"][0]["state"], "excluded", "{dis}");
        assert_eq!(dis["campaigns"][0]["excluded_reason"], reason, "{dis}");
    }
}

/// One per marked account, links to the portal.
fn notices_through_the_file_transport_link_to_the_portal(case: &Case, in_scope: &[&str]) {
    let spool = case.dir.path().join("spool");
    case.append_config(&format!(
        "[portal]\npublic_url = \"https://pw.example.org\"\n\n[mail]\ntransport = \"file\"\nspool_dir = \"{}\"\nfrom = \"IT Security <it-security@example.org>\"\n",
        spool.display()
    ));
    let out = case.run(&["campaign", "notify", "life"]);
    assert!(out.status.success(), "{}", text(&out));
    let mails: Vec<String> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(mails.len(), in_scope.len(), "{}", text(&out));
    assert!(mails.iter().all(|m| m.contains("https://pw.example.org/reset/")));
    let zoe_mail = format!("{}@example.org", case.login("zoe"));
    assert!(mails.iter().any(|m| m.contains(&zoe_mail)), "no notice to {zoe_mail}");
}

const RESUME_USERS: usize = 12;

/// A small campaign killed with SIGKILL in the middle resumes and marks every account once.
async fn killed_campaign_resumes(kind: Kind) {
    const LOGINS: [&str; RESUME_USERS] = [
        "r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08", "r09", "r10", "r11", "r12",
    ];
    let people: Vec<Person> = LOGINS.iter().map(|l| Person::new(l, l)).collect();
    // Four marks a second: the kill lands after the third.
    let case = Case::new(kind, "resume", &people, "max_ops_per_second = 4").await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pwresetd"))
        .args(["--config", case.config.to_str().unwrap()])
        .args([
            "campaign",
            "start",
            "--name",
            "big",
            "--reason",
            "Intrusion",
            "--deadline",
            DEADLINE,
            "--yes",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(common::artifacts::stderr_file("campaign-start"))
        .spawn()
        .unwrap();
    let started = Instant::now();
    while marked_in_store(&case.store_path()) < 3 {
        assert!(started.elapsed() < Duration::from_secs(30), "marking did not progress");
        assert!(child.try_wait().unwrap().is_none(), "finished before the kill");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = marked_in_store(&case.store_path());
    assert!(
        at_kill < RESUME_USERS as i64,
        "the kill came too late: {at_kill} marked"
    );
    assert!(case.flagged().await.len() < RESUME_USERS);

    case.write_config("");
    let out = case.run(&["campaign", "start", "--name", "big", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Resumed campaign big"), "{}", text(&out));
    let status = json(&case.run(&["campaign", "status", "big", "--json"]));
    assert_eq!(status["in_scope"], RESUME_USERS, "{status}");
    assert_eq!(status["marked"], RESUME_USERS, "{status}");
    assert_eq!(status["pending"], 0, "{status}");
    assert_eq!(case.flagged().await, case.dn_set(&LOGINS));
}

/// Whether the directory applies its own quality rules to the link flow's administrative set.
fn expect_admin_set_checked(kind: Kind) -> bool {
    match kind {
        // An administrative unicodePwd replace is checked for length and complexity.
        Kind::ActiveDirectory => true,
        // rootdn / passwordAdminDN member: the server skips its checks ([policy] is the guard).
        Kind::OpenLdap | Kind::Ds389 => false,
    }
}

/// Completes `login`'s record in `campaign` as the portal does after a change.
fn complete(store: &Store, campaign: &str, login: &str) {
    let record = store
        .run_blocking(|s| s.accounts_for(login, None))
        .unwrap()
        .into_iter()
        .find(|r| r.campaign == campaign)
        .unwrap();
    let audit = AuditEntry {
        at: Utc::now(),
        actor: "portal".into(),
        action: "password.changed".into(),
        campaign: Some(campaign.into()),
        account: Some(login.into()),
        detail: None,
    };
    let done = store
        .run_blocking(|s| {
            s.complete(&Completion {
                account_id: record.id,
                via: Via::Portal,
                token_hash: None,
                history: None,
                audit,
            })
        })
        .unwrap();
    assert_eq!(done, Ok(()));
}

/// The portal's two flows through the `Directory` trait: the current-password flow (with a wrong
/// old password, the directory's own refusal in plain words, history) and the link flow.
async fn password_flows(kind: Kind) {
    let people = [
        Person::new("cur", "Current Flow"),
        Person::new("lnk", "Link Flow"),
        Person::new("adm", "Admin Weak"),
    ];
    let case = Case::new(kind, "pw", &people, "").await;
    case.start_campaign("pw");
    let d = case.directory();
    let store = Store::open(&case.store_path()).unwrap();
    the_current_password_flow_refuses_in_plain_words_and_keeps_history(&case, &*d, &store).await;
    the_link_flow_sets_the_password_as_the_service_account(kind, &case, &*d, &store).await;

    // Whether the directory's own rules guard the link flow.
    let weak = d.set_password_as_admin(&case.dn("adm"), &Secret::new(WEAK)).await;
    if expect_admin_set_checked(kind) {
        assert!(
            matches!(
                &weak,
                Err(PasswordError::Refused {
                    reason: Refusal::TooShort { min: Some(7) },
                    ..
                })
            ),
            "{weak:?}"
        );
    } else {
        assert!(weak.is_ok(), "{weak:?}");
    }

    let status = json(&case.run(&["campaign", "status", "pw", "--json"]));
    assert_eq!(status["completed"], 2, "{status}");
    let view = json(&case.run(&["account", &case.login("cur"), "--json"]));
    assert_eq!(view["directory"]["flagged"], false, "{view}");
    assert_eq!(view["campaigns"][0]["state"], "completed", "{view}");
    let changed = view["directory"]["password_changed_at"].as_str().unwrap_or_default();
    assert!(changed.starts_with(&Utc::now().format("%Y-").to_string()), "{view}");
}

/// A wrong old password, the directory's own refusal in plain words (nothing changed), the
/// change, then the directory's history refusing the previous password.
async fn the_current_password_flow_refuses_in_plain_words_and_keeps_history(
    case: &Case,
    d: &dyn Directory,
    store: &Store,
) {
    let (old, new) = (Secret::new(USER_PASSWORD), Secret::new(NEW));
    let dn = case.dn("cur");
    assert_eq!(d.check_password(&dn, &old).await.unwrap(), BindCheck::MustChange);
    assert_eq!(
        d.check_password(&dn, &Secret::new(common::artifacts::FLAVOR_WRONG))
            .await
            .unwrap(),
        BindCheck::Refused
    );
    let wrong = d
        .change_password_as_user(&dn, &Secret::new(common::artifacts::FLAVOR_WRONG), &new)
        .await;
    assert!(matches!(wrong, Err(PasswordError::WrongCurrentPassword)), "{wrong:?}");
    match d.change_password_as_user(&dn, &old, &Secret::new(WEAK)).await {
        Err(PasswordError::Refused { reason, detail }) => {
            assert!(
                matches!(
                    reason,
                    Refusal::TooShort { .. } | Refusal::TooWeak | Refusal::InsufficientQuality | Refusal::WeakOrRecent
                ),
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
    d.change_password_as_user(&dn, &old, &new).await.unwrap();
    assert_eq!(d.check_password(&dn, &new).await.unwrap(), BindCheck::Unrestricted);
    assert_eq!(d.check_password(&dn, &old).await.unwrap(), BindCheck::Refused);
    complete(store, "pw", &case.login("cur"));
    // The directory's history refuses the previous password.
    match d.change_password_as_user(&dn, &new, &old).await {
        Err(PasswordError::Refused { reason, .. }) => assert_eq!(reason, Refusal::UsedBefore),
        other => panic!("{other:?}"),
    }
}

/// The service account sets the password and clears the mark; what each flavour can tell of
/// the current password.
async fn the_link_flow_sets_the_password_as_the_service_account(
    kind: Kind,
    case: &Case,
    d: &dyn Directory,
    store: &Store,
) {
    let old = Secret::new(USER_PASSWORD);
    let dn = case.dn("lnk");
    let current = d.is_current_password(&dn, &old).await.unwrap();
    assert_eq!(
        current,
        (kind == Kind::OpenLdap).then_some(true),
        "what each flavour can tell"
    );
    d.set_password_as_admin(&dn, &Secret::new(NEW2)).await.unwrap();
    assert_eq!(
        d.check_password(&dn, &Secret::new(NEW2)).await.unwrap(),
        BindCheck::Unrestricted
    );
    assert_eq!(d.check_password(&dn, &old).await.unwrap(), BindCheck::Refused);
    complete(store, "pw", &case.login("lnk"));
    assert_eq!(case.flagged().await, case.dn_set(&["adm"]));
}

/// Sets the flavour's "must change" mark on `login`, as its administrator would.
async fn flag(case: &Case, login: &str) {
    let (attr, value) = match case.kind {
        Kind::OpenLdap => ("pwdReset", "TRUE"),
        Kind::ActiveDirectory => ("pwdLastSet", "0"),
        Kind::Ds389 => ("passwordExpirationTime", "19700101000000Z"),
    };
    let values = HashSet::from([value.as_bytes().to_vec()]);
    case.admin_modify(login, vec![Mod::Replace(attr.as_bytes().to_vec(), values)])
        .await;
}

/// A password the directory says must change opens no helpdesk session: the sign-in says
/// "change your password first" with the portal's address (only to whoever typed the right
/// password), and a session whose password gets flagged later ends at its next request.
async fn flagged_operators_cannot_use_the_helpdesk(kind: Kind) {
    let people = [
        Person::new("opf", "Flagged Operator").flagged(),
        Person::new("opl", "Later Operator"),
    ];
    let case = Case::new(kind, "hdflag", &people, "").await;
    case.append_config("[portal]\npublic_url = \"https://pw.example.org\"\n");
    let hd = InProcess::start(&case.config).await;
    let (status, cookie, page) = sign_in_page(&hd.base, &case.login("opf"), USER_PASSWORD).await;
    assert_eq!((status, cookie), (403, None), "{kind:?}: {page}");
    assert!(page.contains("Change your password first"), "{kind:?}: {page}");
    assert!(page.contains("pw.example.org"), "the portal's address: {page}");
    let (status, _, page) = sign_in_page(&hd.base, &case.login("opf"), "Wrong-9-Pass").await;
    assert_eq!(status, 401, "a wrong password tells nothing about the flag: {page}");
    assert!(!page.contains("Change your password first"));

    let (status, cookie, page) = sign_in_page(&hd.base, &case.login("opl"), USER_PASSWORD).await;
    assert_eq!(status, 303, "{kind:?}: {page}");
    let cookie = cookie.unwrap();
    flag(&case, "opl").await;
    let url = format!("{}/api/v1/campaigns", hd.base);
    let ended = eventually("the session to end", Duration::from_secs(20), async || {
        let r = Setup::http().get(&url).header("cookie", &cookie).send().await.unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = r.json().await.unwrap();
        (status == 401).then_some(body)
    })
    .await;
    assert_eq!(ended["code"], "password_must_change", "{ended}");
    let (status, _, _) = sign_in_page(&hd.base, &case.login("opl"), USER_PASSWORD).await;
    assert_eq!(status, 403, "{kind:?}: flagged now");
}

/// What each test server's default policy says about lockout, read as the service account.
async fn lockout_rules_are_read(kind: Kind) {
    let case = Case::new(kind, "lockout", &[], "").await;
    let lockout = case.directory().lockout(None).await.unwrap();
    let line = pwresetd::directory::lockout::budget_line(&*case.directory())
        .await
        .unwrap();
    match kind {
        // cn=default: pwdLockout TRUE, pwdMaxFailure 5, pwdFailureCountInterval 300.
        Kind::OpenLdap => {
            assert_eq!(lockout.threshold, Threshold::After(5), "{lockout:?}");
            assert_eq!(lockout.window, Some(Duration::from_secs(300)));
            assert!(
                line.contains("3 failed password bind(s) per account within 5m"),
                "{line}"
            );
        }
        // The test domain: lockoutThreshold 0.
        Kind::ActiveDirectory => {
            assert_eq!(lockout.threshold, Threshold::Never, "{lockout:?}");
            assert!(line.contains("does not lock"), "{line}");
        }
        // The service account cannot read cn=config.
        Kind::Ds389 => {
            assert_eq!(lockout.threshold, Threshold::Unknown, "{lockout:?}");
            assert!(line.contains("not readable"), "{line}");
        }
    }
}

/// Active Directory, `dont_expire_accounts = "clear-and-restore"`: the bit is cleared to mark,
/// and comes back on revert (with the prior `pwdLastSet: 0`), after the user's own change, and
/// when reconciliation sees the password changed behind pwresetd's back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_directory_dont_expire_clear_and_restore() {
    let people = [
        Person::new("nx1", "Never One").role(Role::NeverExpires),
        Person::new("nx2", "Never Two").role(Role::NeverExpires).flagged(),
        Person::new("ord", "Ordinary One"),
    ];
    let case = Case::new(
        Kind::ActiveDirectory,
        "nox",
        &people,
        "dont_expire_accounts = \"clear-and-restore\"",
    )
    .await;
    let uac = |v: Option<String>| v.unwrap().parse::<u32>().unwrap();
    let never = async |login| uac(case.attr(login, "userAccountControl").await) & 0x1_0000 != 0;

    let plan = json(&case.run(&["campaign", "plan", "--json"]));
    assert_eq!(plan["in_scope"], 3, "{plan}");
    assert_eq!(plan["excluded"], 0, "{plan}");
    // nx2's pwdLastSet 0 does nothing while the bit is set: not "already flagged".
    assert_eq!(plan["already_flagged"], 0, "{plan}");

    case.start_campaign("c1");
    assert!(!never("nx1").await && !never("nx2").await, "bits cleared to mark");
    assert_eq!(case.flagged().await, case.dn_set(&["nx1", "nx2", "ord"]));
    assert_eq!(
        case.restriction("nx1", USER_PASSWORD).await,
        Restriction::BindRefused("773".into())
    );
    // The ledger is in the store (every instance shares it), not in a file beside it.
    let store = Store::open(&case.store_path()).unwrap();
    let entry = |login: &str| {
        store
            .run_blocking(|s| s.ledger_entry(&pwresetd::directory::ledger_key(&case.dn(login))))
            .unwrap()
    };
    assert_eq!(entry("nx1"), Some(false), "nx1 in the store's ledger");
    assert_eq!(entry("nx2"), Some(true), "nx2's prior pwdLastSet 0 kept");
    assert_eq!(entry("ord"), None);
    assert!(!case.dir.path().join("dont-expire-restore.db").exists());

    let out = case.run(&["campaign", "revert", "c1", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(never("nx1").await && never("nx2").await, "bits restored");
    assert_eq!(
        case.flagged().await,
        case.dn_set(&["nx2"]),
        "nx2's prior pwdLastSet 0 restored"
    );
    assert_eq!(case.restriction("nx1", USER_PASSWORD).await, Restriction::Free);
    assert_eq!(
        (entry("nx1"), entry("nx2")),
        (None, None),
        "off the ledger once restored"
    );
    a_second_campaign_gets_the_bits_back_after_each_kind_of_change(&case).await;
}

/// Second campaign: nx1 completes through the portal's user change on another host (its own
/// ledger path, which holds nothing: the entry the CLI made is found in the shared store), nx2
/// changes elsewhere (and reconciliation sees it).
async fn a_second_campaign_gets_the_bits_back_after_each_kind_of_change(case: &Case) {
    let uac = |v: Option<String>| v.unwrap().parse::<u32>().unwrap();
    let never = async |login| uac(case.attr(login, "userAccountControl").await) & 0x1_0000 != 0;
    case.start_campaign("c2");
    assert!(!never("nx1").await && !never("nx2").await);
    let mut host_b = pwresetd::daemon::config::load(&case.config).unwrap().directory;
    host_b.dont_expire = pwresetd::directory::config::DontExpire::ClearAndRestore {
        ledger: case.dir.path().join("host-b").join("dont-expire-restore.db"),
    };
    let d = case.directory_with(&host_b);
    d.change_password_as_user(&case.dn("nx1"), &Secret::new(USER_PASSWORD), &Secret::new(NEW))
        .await
        .unwrap();
    assert!(never("nx1").await, "bit back after the user's change");
    case.admin_modify(
        "nx2",
        vec![Mod::Replace(
            b"unicodePwd".to_vec(),
            HashSet::from([common::flavor::unicode_pwd(NEW2)]),
        )],
    )
    .await;
    let config = pwresetd::daemon::config::load(&case.config).unwrap();
    let store = Store::open(config.store.sqlite_path().unwrap()).unwrap();
    let campaign = store.run_blocking(|s| s.campaign("c2")).unwrap().unwrap();
    let settings = Settings {
        concurrency: 2,
        ops_per_second: 0,
        batch: 16,
        outage_wait: Duration::from_secs(4),
        stop: None,
    };
    runner::reconcile(d, &store, &campaign, &settings, &runner::silent())
        .await
        .unwrap();
    assert!(never("nx2").await, "bit back once reconciliation saw the change");
    let nx2 = json(&case.run(&["account", &case.login("nx2"), "--json"]));
    let c2 = nx2["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["campaign"] == "c2")
        .unwrap();
    assert_eq!(c2["state"], "completed", "{nx2}");
    assert_eq!(c2["completed_via"], "directory", "{nx2}");
}

/// 389-DS: `check()` reads cn=config when allowed (here as Directory Manager) and compares its
/// rules with [policy]; a service account that cannot read it gets a warning saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ds389_check_reads_the_global_policy_when_allowed() {
    let case = Case::new(Kind::Ds389, "check", &[Person::new("c1", "Check One")], "").await;
    // cn=config is not readable by the service account: no rules, [policy] alone.
    assert_eq!(case.directory().password_rules(None).await.unwrap(), None);
    let warnings = case.directory().check().await.unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.message.contains("cn=config") && w.message.contains("not readable")),
        "{warnings:?}"
    );
    let env = common::flavor::ds389();
    let text = std::fs::read_to_string(&case.config).unwrap().replace(
        &format!(
            "bind_dn = \"{}\"\nbind_password_file = \"{}\"",
            env.get("DS_BIND_DN"),
            env.get("DS_BIND_PASSWORD_FILE")
        ),
        &format!(
            "bind_dn = \"{}\"\nbind_password_file = \"{}\"",
            env.get("DS_ADMIN_DN"),
            env.get("DS_ADMIN_PASSWORD_FILE")
        ),
    );
    std::fs::write(&case.config, text).unwrap();
    let warnings: Vec<String> = case
        .directory()
        .check()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.message)
        .collect();
    assert!(
        !warnings
            .iter()
            .any(|w| w.contains("not readable") || w.contains("NOTHING")),
        "{warnings:?}"
    );
    // Readable now: its rules (passwordMinCategories 3) are the floor under [policy].
    let rules = case.directory().password_rules(None).await.unwrap().unwrap();
    assert!(rules.source.contains("cn=config (the global policy)"), "{rules:?}");
    assert_eq!(rules.categories.map(|c| c.min), Some(3), "{rules:?}");
    assert_eq!(case.flagged().await, HashSet::new());
}

/// Operators sign in and are found in nested groups (the fixtures' operator1 in Helpdesk Tier1
/// in Helpdesk), on the flavours whose fixtures have them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_sign_in_and_nested_groups() {
    for kind in [Kind::ActiveDirectory, Kind::Ds389] {
        let case = Case::new(kind, "ops", &[], "").await;
        let (env, prefix) = match kind {
            Kind::ActiveDirectory => (common::flavor::ad(), "AD"),
            _ => (common::flavor::ds389(), "DS"),
        };
        let base = env.get(&format!("{prefix}_BASE_DN"));
        let group = env.get(&format!("{prefix}_HELPDESK_GROUP_DN"));
        let password = std::fs::read_to_string(env.get(&format!("{prefix}_USER_PASSWORD_FILE"))).unwrap();
        let password = Secret::new(password.trim_end_matches('\n'));
        let d = case.directory();
        let signs_in = async |login: &str, password: &Secret| {
            let found = d.find_operator(login, base).await.unwrap()?;
            let bind = d.check_password(&found.account.dn, password).await.unwrap();
            (bind == BindCheck::Unrestricted).then_some(found.account.dn)
        };
        let dn = signs_in("operator1", &password).await.expect("operator1 signs in");
        assert!(d.is_member(&dn, group).await.unwrap(), "{kind:?}: nested membership");
        let zoe = signs_in("zoe", &password).await.expect("zoe signs in");
        assert!(!d.is_member(&zoe, group).await.unwrap(), "{kind:?}");
        assert_eq!(
            signs_in("operator1", &Secret::new(common::artifacts::FLAVOR_WRONG)).await,
            None
        );
        assert_eq!(signs_in("nobody*", &password).await, None);
    }
}

/// Active Directory from the domain root: the subtree searches meet continuation references
/// (ignored), and the UPN is accepted where a login is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_directory_domain_root_and_upn() {
    let case = Case::new(Kind::ActiveDirectory, "root", &[], "").await;
    let root = common::flavor::ad().get("AD_BASE_DN");
    let toml = std::fs::read_to_string(&case.config)
        .unwrap()
        .replace(&format!("base_dn = \"{}\"", case.ou), &format!("base_dn = \"{root}\""))
        .replace(
            "[directory]\n",
            "[directory]\nuser_filter = \"(&(objectCategory=person)(sAMAccountName=operator1))\"\n",
        );
    std::fs::write(&case.config, toml).unwrap();
    let plan = json(&case.run(&["campaign", "plan", "--json"]));
    assert_eq!(plan["in_scope"], 1, "{plan}");
    let by_upn = json(&case.run(&["account", "operator1@example.org", "--json"]));
    assert_eq!(by_upn["directory"]["login"], "operator1", "{by_upn}");
    assert_eq!(case.flagged().await, HashSet::new());
}

/// OpenLDAP: `pwdAccountLockedTime` locks nothing under a policy without `pwdLockout: TRUE`.
/// `campaign start --at-deadline lock` refuses (exit 69, the fix, nothing marked) when an account
/// in scope falls under such a policy, and `check-config` fails once a locking campaign's scope
/// has one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openldap_deadline_lock_needs_pwdlockout() {
    let people = [Person::new("l1", "Lock One"), Person::new("l2", "Lock Two")];
    let case = Case::new(Kind::OpenLdap, "lockpol", &people, "").await;
    let start_locking = |name: &str| {
        case.run(&[
            "campaign",
            "start",
            "--name",
            name,
            "--reason",
            "Intrusion",
            "--deadline",
            DEADLINE,
            "--at-deadline",
            "lock",
            "--yes",
        ])
    };
    let out = start_locking("ok");
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&case.run(&["check-config"]));
    assert!(t.contains("✓ deadline lock: --at-deadline lock takes effect"), "{t}");

    let no_lockout = common::slapd()
        .get("LDAP_NO_MUSTCHANGE_POLICY_DN")
        .replace("cn=no-mustchange", "cn=no-lockout");
    let mods = vec![Mod::Replace(
        b"pwdPolicySubentry".to_vec(),
        HashSet::from([no_lockout.clone().into_bytes()]),
    )];
    case.admin_modify("l2", mods).await;
    let out = case.run(&["check-config"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(69), "{t}");
    assert!(
        t.contains("✗ deadline lock: password policy") && t.contains("pwdLockout: TRUE"),
        "{t}"
    );

    let out = case.run(&["campaign", "revert", "ok", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = start_locking("refused");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(69), "{t}");
    assert!(t.contains(&no_lockout) && t.contains("set pwdLockout: TRUE"), "{t}");
    assert!(case.flagged().await.is_empty(), "nothing marked");
    let out = case.run(&["campaign", "status", "refused"]);
    assert_eq!(out.status.code(), Some(1), "not recorded: {}", text(&out));
}
