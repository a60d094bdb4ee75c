//! The helpdesk against the real daemon, slapd and the SMTP capture server: who may do what
//! (401/403/200), each action's effect on the directory, the store, the audit trail and the
//! mailbox, repeats, hostile search text, campaign views, and the CLI client.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use common::USER_PASSWORD;
use common::eventually;
use common::helpdesk::{Auth, CAMPAIGN, Setup};
use serde_json::{Value, json};

fn path(login: &str, action: &str) -> String {
    format!(
        "/api/v1/accounts/{}/{action}",
        pwresetd::helpdesk::client::segment(login)
    )
}

const ACCOUNT: &str = "/api/v1/accounts/ann";

#[tokio::test(flavor = "multi_thread")]
async fn who_may_do_what() {
    let s = Setup::start("hdauth").await;
    no_or_bad_credentials_get_401_with_a_stable_code(&s).await;
    // The token: 200.
    let (status, body) = s.api("GET", ACCOUNT, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["login"], "ann");
    let op = an_operator_in_a_nested_group_gets_the_api_and_the_pages(&s).await;
    a_signed_in_non_operator_gets_403(&s).await;
    // Wrong passwords and unknown logins: the same 401 page.
    assert_eq!(s.sign_in("op1", "wrong password").await, Err(401));
    assert_eq!(s.sign_in("ghost", USER_PASSWORD).await, Err(401));
    assert_eq!(s.sign_in("*", USER_PASSWORD).await, Err(401));
    signing_out_ends_the_session_on_the_server(&s, &op).await;
    sign_ins_are_rate_limited_per_login_and_audited(&s).await;
}

/// No credentials, a bad token, a malformed header, a bad or stale cookie.
async fn no_or_bad_credentials_get_401_with_a_stable_code(s: &Setup) {
    let (status, body) = s.call("GET", ACCOUNT, Auth::None, None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthenticated")));
    let raw = Setup::http().get(format!("{}{ACCOUNT}", s.base)).send().await.unwrap();
    assert_eq!(
        raw.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"pwresetd helpdesk\""
    );
    let forged = format!("Bearer ci.{}", "A".repeat(43));
    for header in [
        forged.as_str(),
        "Bearer ghost.x",
        "Bearer ",
        "Basic b3AxOnB3",
        "Bearer ci",
    ] {
        let (status, body) = s.call("GET", ACCOUNT, Auth::Header(header), None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_token")),
            "{header}"
        );
    }
    let (status, body) = s
        .call("GET", ACCOUNT, Auth::Cookie("pwresetd-helpdesk=AAAA"), None)
        .await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthenticated")));
    let stale = format!("pwresetd-helpdesk={}", "B".repeat(43));
    let (status, body) = s.call("GET", ACCOUNT, Auth::Cookie(&stale), None).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("session_expired")));
}

/// 200 on the API and the pages (with their security headers); a cross-site POST with the
/// cookie is refused even with a JSON body. The operator's session cookie.
async fn an_operator_in_a_nested_group_gets_the_api_and_the_pages(s: &Setup) -> String {
    let op = s.sign_in("op1", USER_PASSWORD).await.expect("op1 signs in");
    let (status, body) = s.call("GET", ACCOUNT, Auth::Cookie(&op), None).await;
    assert_eq!(status, 200, "{body}");
    let page = Setup::http()
        .get(format!("{}/helpdesk/accounts/ann", s.base))
        .header("cookie", &op)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    for (h, v) in [
        ("content-security-policy", "default-src 'self'"),
        ("cache-control", "no-store"),
        ("x-frame-options", "DENY"),
    ] {
        let got = page.headers()[h].to_str().unwrap();
        assert!(got.starts_with(v), "{h}: {got}");
    }
    // A cross-site POST with the cookie is refused even with a JSON body.
    let r = Setup::http()
        .post(format!("{}{}", s.base, path("ann", "mark")))
        .header("cookie", &op)
        .header("sec-fetch-site", "cross-site")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    op
}

/// Somebody whose password is right but who is not an operator.
async fn a_signed_in_non_operator_gets_403(s: &Setup) {
    let nobody = s
        .sign_in("nobody", USER_PASSWORD)
        .await
        .expect("nobody's password is right");
    let (status, body) = s.call("GET", ACCOUNT, Auth::Cookie(&nobody), None).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("not_an_operator")));
    let (status, _) = s
        .call("POST", &path("ann", "resend"), Auth::Cookie(&nobody), Some(json!({})))
        .await;
    assert_eq!(status, 403);
    let page = Setup::http()
        .get(format!("{}/helpdesk/", s.base))
        .header("cookie", &nobody)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 403);
}

async fn signing_out_ends_the_session_on_the_server(s: &Setup, op: &str) {
    let http = Setup::http();
    let home = http
        .get(format!("{}/helpdesk/", s.base))
        .header("cookie", op)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = common::hidden(&home, "csrf");
    let out = http
        .post(format!("{}/helpdesk/logout", s.base))
        .header("cookie", op)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 303);
    let (status, _) = s.call("GET", ACCOUNT, Auth::Cookie(op), None).await;
    assert_eq!(status, 401);
}

/// 5 per window by default; the audit trail has operators' and non-operators' sign-ins.
async fn sign_ins_are_rate_limited_per_login_and_audited(s: &Setup) {
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(s.sign_in("carl", "wrong").await.unwrap_err());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let audit = s.api("GET", "/api/v1/audit?limit=50", None).await.1;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"helpdesk.sign_in"), "{actions:?}");
    assert!(actions.contains(&"helpdesk.sign_in_not_operator"), "{actions:?}");
}

fn flag_of(flagged: &std::collections::HashSet<String>, s: &Setup, uid: &str) -> bool {
    flagged.contains(&s.f.dn(uid))
}

async fn state_of(s: &Setup, login: &str) -> Value {
    let (status, body) = s
        .api(
            "GET",
            &format!("/api/v1/accounts/{}", pwresetd::helpdesk::client::segment(login)),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["campaigns"][0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn actions_change_directory_store_and_mailbox_and_are_safe_to_repeat() {
    let s = Setup::start("hdact").await;
    let live = resend_sends_a_new_link_that_replaces_the_older_one(&s).await;
    exempt_needs_a_reason_clears_the_flag_and_kills_the_link(&s, &live).await;
    exempt_keeps_a_flag_set_before_the_campaign(&s).await;
    // A refused action says why.
    let (status, body) = s.api("POST", &path("ann", "resend"), Some(json!({}))).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("not_applicable")));
    assert!(body["message"].as_str().unwrap().contains("exempted"), "{body}");
    mark_sets_the_flag_again_and_a_repeat_keeps_it(&s).await;
    extend_moves_the_stored_deadline_and_refuses_bad_dates(&s).await;
    malformed_or_misdirected_actions_get_stable_codes(&s).await;
    the_audit_trail_names_operator_time_action_account_and_reason(&s).await;
    campaign_views_give_the_same_counts_as_the_cli(&s).await;
}

/// A new link that works and replaces the older one; repeating is safe; no address: refused,
/// saying why. The live link.
async fn resend_sends_a_new_link_that_replaces_the_older_one(s: &Setup) -> String {
    let first = s.links_for("ann@example.org");
    assert_eq!(first.len(), 1);
    assert_eq!(Setup::portal_status(&first[0]).await, 200);
    let (status, done) = s
        .api(
            "POST",
            &path("ann", "resend"),
            Some(json!({"reason": "caller says no mail"})),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["mail"]["recipient"], "ann@example.org");
    assert!(done["mail"]["link_expires_at"].is_string());
    let links = s.links_for("ann@example.org");
    assert_eq!(links.len(), 2, "a new mail");
    assert_ne!(links[0], links[1]);
    assert_eq!(Setup::portal_status(&links[1]).await, 200, "the new link works");
    assert_eq!(Setup::portal_status(&links[0]).await, 410, "the old link is replaced");
    // Repeating is safe: one more link, the previous one replaced.
    let (status, _) = s.api("POST", &path("ann", "resend"), Some(json!({}))).await;
    assert_eq!(status, 200);
    let links = s.links_for("ann@example.org");
    assert_eq!(links.len(), 3);
    assert_eq!(Setup::portal_status(&links[2]).await, 200);
    assert_eq!(Setup::portal_status(&links[1]).await, 410);
    let view = state_of(s, "ann").await;
    assert!(view["live_link_expires_at"].is_string());
    let kinds: Vec<&str> = view["mails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["notice", "resend", "resend"]);
    // No address: refused, and says why.
    let (status, body) = s.api("POST", &path("nomail", "resend"), Some(json!({}))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("no_mail_address")),
        "{body}"
    );
    links[2].clone()
}

/// Reason required; flag cleared; links revoked; a repeat is a no-op.
async fn exempt_needs_a_reason_clears_the_flag_and_kills_the_link(s: &Setup, live: &str) {
    let (status, body) = s.api("POST", &path("ann", "exempt"), Some(json!({}))).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("reason_required")));
    assert!(flag_of(&s.f.flagged().await, s, "ann"));
    let (status, done) = s
        .api(
            "POST",
            &path("ann", "exempt"),
            Some(json!({"reason": "on leave until January"})),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["state"].as_str(), done["changed"].as_bool()),
        (Some("exempted"), Some(true))
    );
    assert!(!flag_of(&s.f.flagged().await, s, "ann"), "flag cleared");
    assert_eq!(
        Setup::portal_status(live).await,
        410,
        "an exempted account's link is dead"
    );
    let view = state_of(s, "ann").await;
    assert_eq!(view["state"], "exempted");
    assert!(view["live_link_expires_at"].is_null());
    assert_eq!(view["actions"], json!(["mark"]));
    let (status, again) = s
        .api(
            "POST",
            &path("ann", "exempt"),
            Some(json!({"reason": "on leave until January"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["changed"], false);
    assert!(!flag_of(&s.f.flagged().await, s, "ann"));
}

async fn exempt_keeps_a_flag_set_before_the_campaign(s: &Setup) {
    let (status, done) = s
        .api(
            "POST",
            &path("prior", "exempt"),
            Some(json!({"reason": "service desk test"})),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert!(done["message"].as_str().unwrap().contains("flag kept"), "{done}");
    assert!(
        flag_of(&s.f.flagged().await, s, "prior"),
        "the flag it had before stays"
    );
}

async fn mark_sets_the_flag_again_and_a_repeat_keeps_it(s: &Setup) {
    let (status, done) = s
        .api("POST", &path("ann", "mark"), Some(json!({"reason": "back from leave"})))
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["state"].as_str(), done["changed"].as_bool()),
        (Some("marked"), Some(true))
    );
    assert!(flag_of(&s.f.flagged().await, s, "ann"), "flag set");
    let (status, again) = s.api("POST", &path("ann", "mark"), Some(json!({}))).await;
    assert_eq!((status, again["changed"].as_bool()), (200, Some(false)));
    assert!(flag_of(&s.f.flagged().await, s, "ann"));
}

/// The store's deadline; a repeat is a no-op; shortening and bad dates are refused.
async fn extend_moves_the_stored_deadline_and_refuses_bad_dates(s: &Setup) {
    let campaign_deadline: DateTime<Utc> = state_of(s, "bob").await["deadline"].as_str().unwrap().parse().unwrap();
    let later = campaign_deadline + chrono::Duration::days(30);
    let later_s = later.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let body = json!({"deadline": later_s, "reason": "on leave until January"});
    let (status, done) = s.api("POST", &path("bob", "extend"), Some(body.clone())).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["changed"], true);
    // Released before the answer went out: the operator's next action must not be "busy".
    let claimed: i64 = s
        .store()
        .query_row("SELECT COUNT(*) FROM claims WHERE key LIKE 'helpdesk:%'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(claimed, 0, "the account is still claimed after the answer");
    let stored: String = s
        .store()
        .query_row("SELECT deadline FROM accounts WHERE login = 'bob'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored.parse::<DateTime<Utc>>().unwrap(), later);
    let view = state_of(s, "bob").await;
    assert_eq!(view["deadline_extended"], true);
    let (status, again) = s.api("POST", &path("bob", "extend"), Some(body)).await;
    assert_eq!((status, again["changed"].as_bool()), (200, Some(false)));
    let earlier = (campaign_deadline - chrono::Duration::days(1)).to_rfc3339();
    for (b, code) in [
        (json!({"deadline": earlier}), "invalid_deadline"),
        (json!({"deadline": "next week"}), "invalid_deadline"),
        (json!({}), "invalid_deadline"),
        (json!({"deadline": later_s, "colour": "blue"}), "invalid_body"),
    ] {
        let (status, body) = s.api("POST", &path("bob", "extend"), Some(b.clone())).await;
        assert_eq!((status, body["code"].as_str()), (400, Some(code)), "{b}");
    }
}

/// Not JSON: 415; an unknown account or one outside the named campaign: 404.
async fn malformed_or_misdirected_actions_get_stable_codes(s: &Setup) {
    let r = Setup::http()
        .post(format!("{}{}", s.base, path("bob", "mark")))
        .bearer_auth(&s.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let (status, body) = s.api("POST", &path("ghost", "mark"), Some(json!({}))).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("account_not_found")));
    let (status, body) = s
        .api("POST", &path("bob", "mark"), Some(json!({"campaign": "other"})))
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_in_campaign")));
}

/// Operator, time, action, account and reason, refused actions too (issue 13, 9); the
/// account's history shows it too.
async fn the_audit_trail_names_operator_time_action_account_and_reason(s: &Setup) {
    let (status, audit) = s.api("GET", "/api/v1/audit?account=ann", None).await;
    assert_eq!(status, 200);
    let entries = audit["entries"].as_array().unwrap();
    let helpdesk: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("helpdesk."))
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        helpdesk,
        [
            ("helpdesk.resend", "token:ci"),
            ("helpdesk.resend", "token:ci"),
            ("helpdesk.refused", "token:ci"),
            ("helpdesk.exempt", "token:ci"),
            ("helpdesk.exempt", "token:ci"),
            ("helpdesk.refused", "token:ci"),
            ("helpdesk.mark", "token:ci"),
            ("helpdesk.mark", "token:ci"),
        ]
    );
    let refused: Vec<&str> = entries
        .iter()
        .filter(|e| e["action"] == "helpdesk.refused")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert!(
        refused
            .iter()
            .any(|d| d.starts_with("exempt refused (reason_required)")),
        "{refused:?}"
    );
    let exempt = entries.iter().find(|e| e["action"] == "helpdesk.exempt").unwrap();
    assert_eq!(exempt["campaign"], CAMPAIGN);
    assert_eq!(exempt["account"], "ann");
    assert!(exempt["at"].is_string());
    let detail = exempt["detail"].as_str().unwrap();
    assert!(
        detail.contains("marked → exempted") && detail.contains("flag cleared"),
        "{detail}"
    );
    assert!(detail.contains("reason: on leave until January"), "{detail}");
    // The history shows it too, with the operator.
    let history = state_of(s, "ann").await["history"].clone();
    assert!(
        history
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["what"] == "helpdesk.exempt" && h["actor"] == "token:ci"),
        "{history}"
    );
}

/// The same counts as `campaign status --json`; progress by OU; the lists, CSV included.
async fn campaign_views_give_the_same_counts_as_the_cli(s: &Setup) {
    let (status, api) = s.api("GET", &format!("/api/v1/campaigns/{CAMPAIGN}"), None).await;
    assert_eq!(status, 200);
    let cli = common::json(&s.f.run(&["campaign", "status", CAMPAIGN, "--json"]));
    for key in [
        "in_scope",
        "pending",
        "marked",
        "failed",
        "completed",
        "exempted",
        "excluded",
        "state",
    ] {
        assert_eq!(api[key], cli[key], "{key}");
    }
    assert_eq!(api["exempted"], 1);
    let (_, progress) = s
        .api("GET", &format!("/api/v1/campaigns/{CAMPAIGN}/progress"), None)
        .await;
    assert_eq!(
        progress["by_ou"][0]["ou"],
        pwresetd::helpdesk::progress::DIRECTLY_UNDER_BASE
    );
    assert_eq!(progress["by_ou"][0]["in_scope"], api["in_scope"]);
    let csv = Setup::http()
        .get(format!(
            "{}/api/v1/campaigns/{CAMPAIGN}/lists/no_mail?format=csv",
            s.base
        ))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with("nomail,"), "{csv}");
    let (_, pending) = s
        .api("GET", &format!("/api/v1/campaigns/{CAMPAIGN}/lists/pending"), None)
        .await;
    let logins: Vec<&str> = pending["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["login"].as_str())
        .collect();
    assert!(logins.contains(&"ann") && !logins.contains(&"prior"), "{logins:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn search_text_is_literal_and_the_cli_works_remotely() {
    let s = Setup::start("hdsearch").await;
    search_text_is_literal(&s).await;
    the_cli_works_from_a_workstation_with_a_url_and_a_token_file(&s).await;
    the_cli_exits_77_on_a_bad_token_and_69_when_nothing_listens(&s).await;
    // The audit trail names the token for the CLI's actions.
    let (_, audit) = s.api("GET", "/api/v1/audit?account=carl", None).await;
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "helpdesk.exempt" && e["actor"] == "token:ci")
    );
    // Revoking a token: delete its line; refused within seconds, without a restart.
    let tokens = s.f.dir.path().join("helpdesk-tokens");
    std::fs::write(&tokens, "# no tokens\n").unwrap();
    eventually("the revocation", Duration::from_secs(10), async || {
        (s.api("GET", "/api/v1/campaigns", None).await.0 == 401).then_some(())
    })
    .await;
}

/// `*`, `%`, `\`, `)(` and `_` are characters, not filter syntax or wildcards; logins known
/// only to the directory are found; an empty query is refused (tests/helpdesk_lookup.rs has the
/// rest of the search).
async fn search_text_is_literal(s: &Setup) {
    let find = async |q: &str| {
        let url = format!(
            "/api/v1/accounts?query={}",
            percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC)
        );
        let (status, body) = s.api("GET", &url, None).await;
        assert_eq!(status, 200, "{q}: {body}");
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["login"].as_str().unwrap_or("-").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(find("o*n").await, ["o*neil"], "'*' is a character, not a wildcard");
    assert_eq!(find("o*neil").await, ["o*neil"]);
    assert_eq!(find("100%").await, ["o*neil"], "display name, '%' literal");
    assert!(find("*)(").await.is_empty());
    assert!(find("*)(uid=*").await.is_empty());
    assert!(find("\\2a").await.is_empty());
    assert!(find("\\5c").await.is_empty());
    assert!(find("a_b").await.is_empty());
    assert_eq!(find("bob@example").await, ["bob"]);
    // An exact login known only to the directory (an operator, excluded from the campaign by
    // its filter, is still found).
    let (_, body) = s.api("GET", "/api/v1/accounts?query=nobody", None).await;
    assert_eq!(body["results"][0]["login"], "nobody");
    let (status, body) = s.api("GET", "/api/v1/accounts?query=", None).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("query_too_short")));
    let (status, body) = s.api("GET", "/api/v1/accounts/o%2Aneil", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["directory"]["dn"], s.f.dn("o*neil"));
    let (status, _) = s.api("GET", "/api/v1/accounts/%2A", None).await;
    assert_eq!(status, 404);
}

/// `pwresetd helpdesk --url URL --token-file FILE ARGS…`.
fn helpdesk_cli(url: &str, token_file: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pwresetd"));
    cmd.args(["helpdesk", "--url", url, "--token-file", token_file])
        .args(args);
    cmd
}

/// The CLI from an operator's workstation (no config file, the URL and a token file): account,
/// exempt and its repeat, a refused resend, mark, a deadline in the past, search.
async fn the_cli_works_from_a_workstation_with_a_url_and_a_token_file(s: &Setup) {
    let token_file = s.token_file.display().to_string();
    let cli = |args: &[&str]| {
        let out = helpdesk_cli(&s.base, &token_file, args)
            .env("PWRESETD_CONFIG", "/nonexistent/pwresetd.toml")
            .output()
            .unwrap();
        common::artifacts::keep_output(args, &out);
        out
    };
    let out = cli(&["account", "carl"]);
    assert!(out.status.success(), "{}", common::text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("Campaign {CAMPAIGN}")) && text.contains("state              marked"),
        "{text}"
    );
    let out = cli(&["exempt", "carl", "--reason", "left the company"]);
    assert!(out.status.success(), "{}", common::text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Exempted"));
    assert!(!s.f.flagged().await.contains(&s.f.dn("carl")));
    let out = cli(&["exempt", "carl", "--reason", "left the company", "--json"]);
    assert_eq!(common::json(&out)["changed"], false);
    let out = cli(&["resend", "carl"]);
    assert_eq!(out.status.code(), Some(1), "refused: {}", common::text(&out));
    assert!(common::text(&out).contains("not_applicable"));
    let out = cli(&["mark", "carl"]);
    assert!(out.status.success(), "{}", common::text(&out));
    assert!(s.f.flagged().await.contains(&s.f.dn("carl")));
    let out = cli(&["extend", "carl", "--deadline", "2020-01-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(64), "{}", common::text(&out));
    let out = cli(&["search", "o*n"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("o*neil"),
        "{}",
        common::text(&out)
    );
}

/// A bad token: exit 77; nothing listening: exit 69.
async fn the_cli_exits_77_on_a_bad_token_and_69_when_nothing_listens(s: &Setup) {
    let bad = s.f.dir.path().join("bad-token");
    std::fs::write(&bad, "ci.nope\n").unwrap();
    let out = helpdesk_cli(&s.base, bad.to_str().unwrap(), &["account", "carl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(77), "{}", common::text(&out));
    let dead = format!("http://127.0.0.1:{}", common::free_port());
    let token_file = s.token_file.display().to_string();
    let out = helpdesk_cli(&dead, &token_file, &["account", "carl"]).output().unwrap();
    assert_eq!(out.status.code(), Some(69), "{}", common::text(&out));
}

// ---------------------------------------------------------------------------------------------
// Issue 13: an attacker holding old passwords or a list of logins gains nothing.

/// Sets or removes `pwdReset` on a fixture account as the directory's administrator.
async fn set_pwd_reset(s: &Setup, uid: &str, on: bool) {
    use std::collections::HashSet;
    let mut admin = common::admin().await;
    let m = if on {
        ldap3::Mod::Replace("pwdReset", HashSet::from(["TRUE"]))
    } else {
        ldap3::Mod::Delete("pwdReset", HashSet::new())
    };
    let res = admin.modify(&s.f.dn(uid), vec![m]).await.unwrap();
    assert!(matches!(res.rc, 0 | 16), "{res:?}");
    let _ = admin.unbind().await;
}

/// Makes `uid` a member of the operator group.
async fn make_operator(s: &Setup, uid: &str) {
    use std::collections::HashSet;
    let mut admin = common::admin().await;
    let dn = s.f.dn(uid);
    let res = admin
        .modify(&s.group, vec![ldap3::Mod::Add("member", HashSet::from([dn.as_str()]))])
        .await
        .unwrap();
    assert_eq!(res.rc, 0, "{res:?}");
    let _ = admin.unbind().await;
}

async fn audit_actions(s: &Setup) -> Vec<Value> {
    let (status, audit) = s.api("GET", "/api/v1/audit?limit=500", None).await;
    assert_eq!(status, 200, "{audit}");
    audit["entries"].as_array().unwrap().clone()
}

fn has(entries: &[Value], action: &str, check: impl Fn(&Value) -> bool) -> bool {
    entries.iter().any(|e| e["action"] == action && check(e))
}

/// A password the directory flags (op1) or a campaign still expects to change (ann, also an
/// operator) opens no session; a session ends when its password gets flagged; nobody acts on
/// their own account.
#[tokio::test(flavor = "multi_thread")]
async fn operators_whose_password_must_change_are_refused_and_never_act_on_themselves() {
    let s = Setup::start("hdstand").await;
    make_operator(&s, "ann").await;
    a_directory_flag_refuses_the_sign_in_and_ends_the_session(&s).await;
    let op1 = s.sign_in("op1", USER_PASSWORD).await.expect("op1, no longer flagged");
    // op1 on his own account (excluded from the campaign, but his): refused.
    let (status, body) = s
        .call(
            "POST",
            &path("op1", "exempt"),
            Auth::Cookie(&op1),
            Some(json!({"reason": "me"})),
        )
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("own_account")), "{body}");
    a_campaign_refuses_the_sign_in_and_ends_the_session(&s, &op1).await;
    let audit = audit_actions(&s).await;
    for action in [
        "helpdesk.sign_in_refused",
        "helpdesk.session_ended",
        "helpdesk.token_added",
        "helpdesk.token_used",
    ] {
        assert!(has(&audit, action, |_| true), "{action} in {audit:?}");
    }
    assert!(has(&audit, "helpdesk.refused", |e| e["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("own_account")));
}

/// op1 signs in, then his password is flagged: the session ends (the directory is read every
/// few seconds) and signing in again says "change your password first", with the portal.
async fn a_directory_flag_refuses_the_sign_in_and_ends_the_session(s: &Setup) {
    let op1 = s.sign_in("op1", USER_PASSWORD).await.expect("op1 signs in");
    set_pwd_reset(s, "op1", true).await;
    let ended = eventually("op1's session to end", Duration::from_secs(20), async || {
        let (status, body) = s.call("GET", "/api/v1/campaigns", Auth::Cookie(&op1), None).await;
        (status == 401).then_some(body)
    })
    .await;
    assert_eq!(ended["code"], "password_must_change", "{ended}");
    let (status, cookie, page) = common::helpdesk::sign_in_page(&s.base, "op1", USER_PASSWORD).await;
    assert_eq!((status, cookie), (403, None), "{page}");
    assert!(page.contains("Change your password first"), "{page}");
    assert!(
        page.contains(&s.portal.replace('/', "&#x2f;")),
        "the portal's address: {page}"
    );
    set_pwd_reset(s, "op1", false).await;
}

/// ann, marked by the campaign, cannot sign in; exempted (by another operator), she can, but
/// not act on herself; marked again by op1, her session ends at once; with the flag removed
/// behind pwresetd's back, the campaign alone still refuses her.
async fn a_campaign_refuses_the_sign_in_and_ends_the_session(s: &Setup, op1: &str) {
    assert_eq!(s.sign_in("ann", USER_PASSWORD).await, Err(403));
    let (status, body) = s
        .api("POST", &path("ann", "exempt"), Some(json!({"reason": "an operator"})))
        .await;
    assert_eq!(status, 200, "{body}");
    let ann = s.sign_in("ann", USER_PASSWORD).await.expect("ann, exempted");
    let (status, body) = s
        .call("POST", &path("ann", "mark"), Auth::Cookie(&ann), Some(json!({})))
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("own_account")), "{body}");
    let (status, body) = s
        .call("POST", &path("ann", "mark"), Auth::Cookie(op1), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s.call("GET", "/api/v1/campaigns", Auth::Cookie(&ann), None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("password_must_change")),
        "{body}"
    );
    set_pwd_reset(s, "ann", false).await;
    assert_eq!(s.sign_in("ann", USER_PASSWORD).await, Err(403), "the campaign alone");
}

/// Issue 13, 6: refused API tokens are counted per address apart from sign-ins, and a token of
/// a listed name is checked before that count: junk from an address locks out neither the
/// valid token nor a sign-in from it.
#[tokio::test(flavor = "multi_thread")]
async fn junk_tokens_lock_out_neither_a_valid_token_nor_a_sign_in() {
    let s = Setup::start("hdjunk").await;
    let junk = format!("Bearer ghost.{}", "A".repeat(43));
    let mut statuses = Vec::new();
    for _ in 0..25 {
        statuses.push(s.call("GET", ACCOUNT, Auth::Header(&junk), None).await.0);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let (status, body) = s.api("GET", ACCOUNT, None).await;
    assert_eq!(status, 200, "the valid token still works: {body}");
    s.sign_in("op1", USER_PASSWORD).await.expect("so does a sign-in");
}

/// Issue 13, 8: a typed login that matches no account (here somebody's password) is never
/// logged as typed: at most 3 characters and a keyed hash.
#[tokio::test(flavor = "multi_thread")]
async fn a_typed_login_of_no_account_is_never_logged_as_typed() {
    let s = Setup::start("hdmask").await;
    assert_eq!(s.sign_in("Hunter2-Secret!", "whatever").await, Err(401));
    let log = eventually("the refusal in the log", Duration::from_secs(10), async || {
        let log = s.daemon.log_text();
        log.contains("sign-in refused").then_some(log)
    })
    .await;
    assert!(!log.contains("Hunter2"), "{log}");
    assert!(log.contains("Hun…#"), "{log}");
}

/// Issue 13, 9: what an investigation needs is in the audit trail: failed sign-ins (a typed
/// login of no account masked), refused tokens, refused actions, the portal's per-account
/// rate-limit trips (never a password).
#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_audited() {
    use common::portal::{STRONG, client, form_csrf, submit};
    let s = Setup::start_with("hdaudit", "auth = \"any\"").await;
    assert_eq!(s.sign_in("Hunter2-Secret!", "whatever").await, Err(401));
    assert_eq!(s.sign_in("carl", "wrong").await, Err(401));
    let junk = format!("Bearer ghost.{}", "A".repeat(43));
    assert_eq!(s.call("GET", ACCOUNT, Auth::Header(&junk), None).await.0, 401);
    let (status, _) = s.api("POST", &path("ghost", "mark"), Some(json!({}))).await;
    assert_eq!(status, 404);
    let c = client();
    let change = format!("{}/change", s.portal);
    let token = form_csrf(&c, &change).await;
    let mut portal = Vec::new();
    for _ in 0..6 {
        let fields = [
            ("csrf", token.as_str()),
            ("login", "bob"),
            ("current_password", "Wrong-guess-1"),
            ("new_password", STRONG),
            ("confirm_password", STRONG),
        ];
        portal.push(submit(&c, &change, &fields).await.0);
    }
    assert_eq!(portal.last(), Some(&429), "{portal:?}");
    let audit = eventually("the trip in the audit", Duration::from_secs(10), async || {
        let audit = audit_actions(&s).await;
        has(&audit, "portal.rate_limited", |e| e["account"] == "bob").then_some(audit)
    })
    .await;
    let text = serde_json::to_string(&audit).unwrap();
    assert!(!text.contains("Hunter2") && !text.contains("Wrong-guess"), "{text}");
    assert!(has(&audit, "helpdesk.sign_in_failed", |e| {
        e["actor"].as_str().unwrap().starts_with("helpdesk:Hun…#") && e["account"].is_null()
    }));
    assert!(has(&audit, "helpdesk.sign_in_failed", |e| e["account"] == "carl"));
    assert!(has(&audit, "helpdesk.token_refused", |e| e["actor"] == "token:ghost"));
    assert!(has(&audit, "helpdesk.refused", |e| e["account"] == "ghost"));
}

/// Issue 13, 10: no plugins (`object-src 'none'`) on both front ends; /metrics wants its token.
#[tokio::test(flavor = "multi_thread")]
async fn plugins_are_forbidden_and_metrics_want_their_token() {
    let s = Setup::start("hdheaders").await;
    for url in [format!("{}/helpdesk/login", s.base), format!("{}/", s.portal)] {
        let r = Setup::http().get(&url).send().await.unwrap();
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("object-src 'none'"), "{url}: {csp}");
    }
    let metrics = format!("{}/metrics", s.base);
    let r = Setup::http().get(&metrics).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = Setup::http()
        .get(&metrics)
        .bearer_auth(common::helpdesk::METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("pwresetd_ready"));
}

/// Sends raw request bytes to the admin listener; the status line of the answer, or `None`
/// when none came within `limit`.
async fn raw_status(s: &Setup, request: String, limit: Duration) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = s.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 512];
    let n = tokio::time::timeout(limit, stream.read(&mut buf)).await.ok()?.ok()?;
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.lines().next().map(str::to_owned)
}

/// Issue 13, 5: API POSTs are JSON only (even empty) and same-site, like the forms; a signed-in
/// operator's cookie keeps working from the site itself.
#[tokio::test(flavor = "multi_thread")]
async fn api_posts_are_json_and_same_site() {
    let s = Setup::start("hdposts").await;
    let op = s.sign_in("op1", USER_PASSWORD).await.unwrap();
    let url = format!("{}{}", s.base, path("carl", "mark"));
    let post = || Setup::http().post(&url).header("cookie", &op);
    let r = post().send().await.unwrap();
    assert_eq!(r.status().as_u16(), 415, "an empty body without a JSON type");
    for origin in ["http://evil.example", "null-ish"] {
        let r = post().header("origin", origin).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403, "{origin}");
    }
    let r = post().header("origin", &s.base).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "the site's own origin");
    let r = Setup::http()
        .post(&url)
        .bearer_auth(&s.token)
        .header("origin", "http://evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "a token from a foreign page too");
}

/// Issue 13, 7: the admin listener reads a body only once the caller is known, refuses a large
/// one from its declared length, and does not wait long for a sign-in form.
#[tokio::test(flavor = "multi_thread")]
async fn bodies_wait_for_authentication_and_large_ones_are_refused_at_once() {
    let s = Setup::start("hdbodies").await;
    let host = s.base.trim_start_matches("http://");
    let action = path("carl", "mark");
    let huge = format!(
        "POST {action} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
        s.token
    );
    let status = raw_status(&s, huge, Duration::from_secs(5)).await;
    assert!(status.as_deref().is_some_and(|l| l.contains(" 413 ")), "{status:?}");
    let slow = format!(
        "POST {action} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    let status = raw_status(&s, slow, Duration::from_secs(5)).await;
    assert!(status.as_deref().is_some_and(|l| l.contains(" 401 ")), "{status:?}");
    let login = format!(
        "POST /helpdesk/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\nlogin="
    );
    let status = raw_status(&s, login, Duration::from_secs(20)).await;
    assert!(status.as_deref().is_some_and(|l| l.contains(" 408 ")), "{status:?}");
}

/// Issue 13, 2: failed current-password checks through the portal and failed sign-ins at the
/// helpdesk share one budget below the directory's lockout (slapd: pwdMaxFailure 5): the
/// account never locks, and an unknown login is counted alike.
#[tokio::test(flavor = "multi_thread")]
async fn the_lockout_budget_is_shared_by_the_portal_and_the_helpdesk() {
    use common::portal::{STRONG, client, form_csrf, submit};
    let s = Setup::start_with("hdlock", "auth = \"any\"").await;
    let c = client();
    let change = format!("{}/change", s.portal);
    let token = form_csrf(&c, &change).await;
    let attempt = async |login: &str| {
        let fields = [
            ("csrf", token.as_str()),
            ("login", login),
            ("current_password", "Wrong-guess-1"),
            ("new_password", STRONG),
            ("confirm_password", STRONG),
        ];
        submit(&c, &change, &fields).await.0
    };
    let mut portal = Vec::new();
    for _ in 0..5 {
        portal.push(attempt("bob").await);
    }
    let mut helpdesk = Vec::new();
    for _ in 0..5 {
        helpdesk.push(s.sign_in("bob", "Wrong-guess-2").await.unwrap_err());
    }
    assert!(
        common::bind(&s.f.dn("bob"), USER_PASSWORD).await.is_ok(),
        "bob's right password still binds: not locked ({portal:?}, {helpdesk:?})"
    );
    assert_eq!(portal, [401, 401, 401, 429, 429], "the budget: pwdMaxFailure 5 - 2");
    assert_eq!(helpdesk, [429; 5], "spent by the portal's failures");
    let mut unknown = Vec::new();
    for _ in 0..6 {
        unknown.push(attempt("nosuch").await);
    }
    assert_eq!(
        unknown,
        [401, 401, 401, 429, 429, 429],
        "its budget, then its rate limit"
    );
    let audit = eventually("the trips in the audit", Duration::from_secs(10), async || {
        let audit = audit_actions(&s).await;
        has(&audit, "portal.lockout_budget_spent", |e| e["account"] == "bob").then_some(audit)
    })
    .await;
    assert!(has(&audit, "helpdesk.sign_in_limited", |e| e["account"] == "bob"));
}

/// Issue 13, 11: ann asks for a new link on the portal: the older one stays valid until either
/// is used.
#[tokio::test(flavor = "multi_thread")]
async fn a_requested_link_leaves_the_older_one_valid() {
    use common::portal::{STRONG, client, form_csrf, submit};
    let s = Setup::start("hdrequest").await;
    let first = s.links_for("ann@example.org");
    assert_eq!(first.len(), 1);
    let c = client();
    let token = form_csrf(&c, &format!("{}/", s.portal)).await;
    let (status, _) = submit(
        &c,
        &format!("{}/resend", s.portal),
        &[("csrf", &token), ("login", "ann")],
    )
    .await;
    assert_eq!(status, 200);
    let links = eventually("the new link", Duration::from_secs(20), async || {
        let links = s.links_for("ann@example.org");
        (links.len() == 2).then_some(links)
    })
    .await;
    assert_eq!(Setup::portal_status(&links[1]).await, 200, "the new link works");
    assert_eq!(Setup::portal_status(&links[0]).await, 200, "and so does the older one");
    let csrf = form_csrf(&c, &links[1]).await;
    let fields = [
        ("csrf", csrf.as_str()),
        ("new_password", STRONG),
        ("confirm_password", STRONG),
    ];
    let (status, page) = submit(&c, &links[1], &fields).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        Setup::portal_status(&links[0]).await,
        410,
        "one was used: the other goes"
    );
}
