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
    let (status, body) = s.api("POST", &path("ann", "resend"), None).await;
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
    let (status, _) = s.api("POST", &path("ann", "resend"), None).await;
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
    let (status, body) = s.api("POST", &path("nomail", "resend"), None).await;
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
    let (status, again) = s.api("POST", &path("ann", "mark"), None).await;
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
    let (status, body) = s.api("POST", &path("ghost", "mark"), None).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("account_not_found")));
    let (status, body) = s
        .api("POST", &path("bob", "mark"), Some(json!({"campaign": "other"})))
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_in_campaign")));
}

/// Operator, time, action, account and reason; the account's history shows it too.
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
            ("helpdesk.exempt", "token:ci"),
            ("helpdesk.exempt", "token:ci"),
            ("helpdesk.mark", "token:ci"),
            ("helpdesk.mark", "token:ci"),
        ]
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

/// `*`, `%`, `\`, `)(` and `_` are characters, not filter syntax or wildcards; exact logins
/// known only to the directory are found; an empty query is refused.
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
    assert_eq!(find("*").await, ["o*neil"], "'*' is a character, not a wildcard");
    assert_eq!(find("o*neil").await, ["o*neil"]);
    assert_eq!(find("100%").await, ["o*neil"], "display name, '%' literal");
    assert!(find(")(").await.is_empty());
    assert!(find("*)(uid=*").await.is_empty());
    assert!(find("\\").await.is_empty());
    assert!(find("\\2a").await.is_empty());
    assert!(find("_").await.is_empty());
    assert_eq!(find("bob@example").await, ["bob"]);
    // An exact login known only to the directory (an operator, excluded from the campaign by
    // its filter, is still found).
    let (_, body) = s.api("GET", "/api/v1/accounts?query=nobody", None).await;
    assert_eq!(body["results"][0]["login"], "nobody");
    let (status, body) = s.api("GET", "/api/v1/accounts?query=", None).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_query")));
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
