//! The helpdesk's lookups against the real daemon, slapd and the SMTP capture server: the
//! account search by any part of a login, name or mail over the store and the directory (paged,
//! case-insensitive, 3 characters at least, `*()\` taken literally), and "is this mail ours?"
//! by a captured mail's Message-ID, link and footer code — through the API, the pages and the
//! CLI — with one neutral answer for anything forged.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use common::helpdesk::{Auth, Setup};
use common::{USER_PASSWORD, User};
use serde_json::{Value, json};

fn encode(q: &str) -> String {
    percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Accounts added after the campaign's scan: only the directory knows them. One has every
/// character an LDAP filter gives a meaning to in its name.
async fn add_latecomers(s: &Setup) {
    let ldap = common::admin().await;
    let late = [
        User {
            cn: "Quentin Latecomer".into(),
            mail: vec!["q.late@corp.example".into()],
            ..User::new("qlate")
        },
        User {
            cn: r"Star* (Paren) \Back".into(),
            mail: vec![],
            ..User::new("odd1")
        },
    ];
    common::add_users(&ldap, &s.f.ou, &late).await;
}

async fn find(s: &Setup, query: &str, offset: usize, limit: usize) -> (u16, Value) {
    let url = format!("/api/v1/accounts?query={}&offset={offset}&limit={limit}", encode(query));
    s.api("GET", &url, None).await
}

fn logins(body: &Value) -> Vec<String> {
    body["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|r| r["login"].as_str().unwrap_or("-").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_search_finds_any_part_over_store_and_directory_page_by_page() {
    let s = Setup::start("hdlookup").await;
    add_latecomers(&s).await;
    the_search_finds_by_part_of_login_name_and_mail(&s).await;
    pages_cover_every_match_once_in_order(&s).await;
    short_queries_are_refused_and_filter_syntax_is_literal(&s).await;
    the_page_and_the_cli_search_too(&s).await;
}

async fn the_search_finds_by_part_of_login_name_and_mail(s: &Setup) {
    for (query, expected) in [
        ("arl", "carl"),
        ("ser car", "carl"),
        ("USER CARL", "carl"),
        ("bob@exam", "bob"),
        ("latecomer", "qlate"),
        ("Q.LATE@corp", "qlate"),
        ("qlat", "qlate"),
    ] {
        let (status, body) = find(s, query, 0, 25).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(logins(&body), [expected], "{query}: {body}");
    }
    // carl is in the campaign (from the store); qlate only in the directory.
    let (_, body) = find(s, "arl", 0, 25).await;
    assert_eq!(body["results"][0]["campaigns"][0]["state"], "marked", "{body}");
    let (_, body) = find(s, "latecomer", 0, 25).await;
    assert_eq!(body["results"][0]["campaigns"], json!([]), "{body}");
    assert_eq!(body["results"][0]["dn"], s.f.dn("qlate"));
    assert_eq!(body["directory_truncated"], false);
}

/// `example.org` matches every account with a mail address there; two at a time, following
/// `next_offset`, the pages hold exactly what one large page holds, in the same order.
async fn pages_cover_every_match_once_in_order(s: &Setup) {
    let (_, all) = find(s, "example.org", 0, 100).await;
    let all = logins(&all);
    // The operators are excluded from the campaign (recorded by login only): the directory
    // finds them by mail.
    assert_eq!(all.len(), 7, "{all:?}");
    for who in ["ann", "bob", "carl", "prior", "o*neil", "op1", "nobody"] {
        assert!(all.contains(&who.to_owned()), "{who} in {all:?}");
    }
    let (mut paged, mut offset, mut pages) = (Vec::new(), Some(0_u64), 0);
    while let Some(at) = offset {
        let (status, body) = find(s, "example.org", at as usize, 2).await;
        assert_eq!(status, 200, "{body}");
        let page = logins(&body);
        assert!(page.len() <= 2 && !page.is_empty(), "{body}");
        let previous = (at > 0).then(|| at.saturating_sub(2));
        assert_eq!(body["previous_offset"].as_u64(), previous, "{body}");
        paged.extend(page);
        offset = body["next_offset"].as_u64();
        assert_eq!(body["truncated"], offset.is_some());
        pages += 1;
    }
    assert_eq!(paged, all, "the pages, joined, are the one large page");
    assert_eq!(pages, all.len().div_ceil(2));
    let (status, body) = find(s, "example.org", 0, 0).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_page")));
}

async fn short_queries_are_refused_and_filter_syntax_is_literal(s: &Setup) {
    for short in ["", "a", "an", "  an  ", "*", "**"] {
        let (status, body) = find(s, short, 0, 25).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("query_too_short")),
            "{short:?}"
        );
        assert!(
            body["message"].as_str().unwrap().contains("at least 3 characters"),
            "{body}"
        );
    }
    for (query, expected) in [
        // Unescaped, `***` would be `(uid=*****)`: everybody.
        ("***", vec![]),
        ("o*n", vec!["o*neil"]),
        ("(100%)", vec!["o*neil"]),
        ("*)(uid=*", vec![]),
        ("\\2a", vec![]),
        // Known only to the directory: only the escaped filter finds these.
        ("Star* (Paren)", vec!["odd1"]),
        (") \\Back", vec!["odd1"]),
        ("r* (", vec!["odd1"]),
    ] {
        let (status, body) = find(s, query, 0, 25).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(logins(&body), expected, "{query}: {body}");
    }
}

async fn the_page_and_the_cli_search_too(s: &Setup) {
    let cookie = s.sign_in("op1", USER_PASSWORD).await.unwrap();
    let page = async |q: &str| {
        let r = s
            .request(
                "GET",
                &format!("/helpdesk/?q={}&limit=2", encode(q)),
                Auth::Cookie(&cookie),
                None,
            )
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let (status, html) = page("example.org").await;
    assert_eq!(status, 200);
    assert!(html.contains("Accounts 1 to 2"), "{html}");
    assert!(
        html.contains("rel=\"next\" href=\"/helpdesk/?q=example.org&amp;offset=2&amp;limit=2\""),
        "{html}"
    );
    assert!(!html.contains("rel=\"prev\""));
    let (status, html) = page("an").await;
    assert_eq!(status, 400);
    assert!(html.contains("type at least 3 characters"), "{html}");
    let (status, html) = page("latecomer").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("qlate") && html.contains("none (directory only)"),
        "{html}"
    );

    let token_file = s.token_file.display().to_string();
    let cli = |args: &[&str]| helpdesk_cli(s, &token_file, args).output().unwrap();
    let out = cli(&["search", "example.org", "--limit", "2"]);
    assert!(out.status.success(), "{}", common::text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("the next page is --offset 2"),
        "{}",
        common::text(&out)
    );
    let out = cli(&["search", "an"]);
    assert_eq!(out.status.code(), Some(64), "{}", common::text(&out));
    assert!(common::text(&out).contains("at least 3 characters"));
}

fn helpdesk_cli(s: &Setup, token_file: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pwresetd"));
    cmd.args(["helpdesk", "--url", &s.base, "--token-file", token_file])
        .args(args)
        .env("PWRESETD_CONFIG", "/nonexistent/pwresetd.toml");
    cmd
}

/// ann's notice as captured: its Message-ID, its link, and the reference code in its footer
/// (the same in the text and the HTML part).
fn anns_notice(s: &Setup) -> (String, String, String) {
    let m = s
        .smtp
        .messages()
        .into_iter()
        .find(|m| m.rcpt_tos().iter().any(|r| r == "ann@example.org"))
        .unwrap()
        .parse();
    let id = m.header("Message-ID").unwrap().trim().to_owned();
    let text = m.part("text/plain").body.clone();
    let marker = "Reference of this message: ";
    let at = text.find(marker).unwrap_or_else(|| panic!("no reference in {text}")) + marker.len();
    let code: String = text[at..].chars().take(14).collect();
    assert!(
        m.part("text/html").body.contains(&code),
        "the HTML footer has the code too"
    );
    let link = s.links_for("ann@example.org").remove(0);
    (id, link, code)
}

async fn check(s: &Setup, text: &str) -> Value {
    let (status, body) = s
        .api("POST", "/api/v1/mails/check", Some(json!({ "text": text })))
        .await;
    assert_eq!(status, 200, "{text}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_we_sent_is_recognised_by_each_label_and_a_forgery_by_none() {
    let s = Setup::start("hdmailcheck").await;
    let (id, link, code) = anns_notice(&s);
    let bare_id = id.trim_start_matches('<').trim_end_matches('>').to_owned();
    for pasted in [
        id.clone(),
        format!("Message-ID: {id}"),
        bare_id.clone(),
        link.clone(),
        code.clone(),
        code.to_lowercase().replace('-', " "),
    ] {
        let body = check(&s, &pasted).await;
        assert_eq!(body["ours"], true, "{pasted}: {body}");
        let m = &body["mail"];
        assert_eq!(m["recipient"], "ann@example.org", "{body}");
        assert_eq!((m["login"].as_str(), m["kind"].as_str()), (Some("ann"), Some("notice")));
        assert_eq!(
            (m["link"].as_str(), m["reference"].as_str()),
            (Some("live"), Some(code.as_str()))
        );
        assert_eq!(m["message_id"], id.as_str());
    }
    forgeries_get_one_neutral_answer(&s, &id, &link, &code).await;
    a_replaced_link_is_no_longer_live(&s, &link).await;
    the_page_and_the_cli_answer_too(&s, &code, &link).await;
    lookups_are_audited_without_the_text_and_rate_limited(&s).await;
}

/// Each label altered by one character, nonsense, and a real token in a foreign link's shape:
/// all answer exactly what nonsense answers.
async fn forgeries_get_one_neutral_answer(s: &Setup, id: &str, link: &str, code: &str) {
    let neutral = check(s, "nothing like a mail").await;
    assert_eq!(neutral["ours"], false);
    assert_eq!(neutral["mail"], Value::Null);
    let flip = |text: &str, at: usize| {
        let mut chars: Vec<char> = text.chars().collect();
        chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    let token_at = link.rfind('/').unwrap() + 5;
    for forged in [
        flip(id, 12),
        id.replace("@example.org", "@example.com"),
        flip(link, token_at),
        format!("{link}x"),
        flip(code, 0),
        flip(code, 13),
        "0000-0000-0000".to_owned(),
        "<pwresetd.00000000000000000000000000000000@example.org>".to_owned(),
    ] {
        assert_eq!(check(s, &forged).await, neutral, "{forged}");
    }
}

/// A new link replaces the old one: the old mail is still ours, its link no longer live.
async fn a_replaced_link_is_no_longer_live(s: &Setup, old_link: &str) {
    let (status, body) = s.api("POST", "/api/v1/accounts/ann/resend", Some(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    let body = check(s, old_link).await;
    assert_eq!(
        (body["ours"].as_bool(), body["mail"]["link"].as_str()),
        (Some(true), Some("revoked"))
    );
    let new_link = s.links_for("ann@example.org").pop().unwrap();
    let body = check(s, &new_link).await;
    assert_eq!(
        (body["mail"]["kind"].as_str(), body["mail"]["link"].as_str()),
        (Some("resend"), Some("live"))
    );
}

async fn the_page_and_the_cli_answer_too(s: &Setup, code: &str, link: &str) {
    let cookie = s.sign_in("op1", USER_PASSWORD).await.unwrap();
    let http = Setup::http();
    let form = http
        .get(format!("{}/helpdesk/mails", s.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let csrf = common::hidden(&form.text().await.unwrap(), "csrf");
    let post = async |text: &str| {
        let r = http
            .post(format!("{}/helpdesk/mails", s.base))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str()), ("text", text)])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    let (status, html) = post(code).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Sent by pwresetd") && html.contains("ann@example.org"),
        "{html}"
    );
    let (status, html) = post("ABCD-EFGH-JKMN").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Not sent by pwresetd") && !html.contains("ann@"),
        "{html}"
    );
    let (status, html) = post(link).await;
    assert!(status == 200 && html.contains("Sent by pwresetd"), "{html}");
    let token = link.rsplit('/').next().unwrap();
    assert!(!html.contains(token), "the page never shows the pasted token");

    let token_file = s.token_file.display().to_string();
    let out = helpdesk_cli(s, &token_file, &["check-mail", code]).output().unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("ann@example.org") && printed.contains("notice"),
        "{printed}"
    );
    let out = helpdesk_cli(s, &token_file, &["check-mail", "ABCD-EFGH-JKMN"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    // A link on standard input (kept out of the process list).
    let mut child = helpdesk_cli(s, &token_file, &["check-mail", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(link.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", common::text(&out));
    assert_eq!(common::json(&out)["mail"]["recipient"], "ann@example.org");
}

async fn lookups_are_audited_without_the_text_and_rate_limited(s: &Setup) {
    let (_, audit) = s.api("GET", "/api/v1/audit?limit=500", None).await;
    let entries = audit["entries"].as_array().unwrap();
    let checks: Vec<&Value> = entries
        .iter()
        .filter(|e| e["action"] == "helpdesk.mail_check")
        .collect();
    assert!(checks.iter().any(|e| e["actor"] == "token:ci" && e["account"] == "ann"));
    assert!(
        checks
            .iter()
            .any(|e| e["actor"] == "helpdesk:op1" && e["detail"] == "not ours")
    );
    let link = s.links_for("ann@example.org").remove(0);
    let token = link.rsplit('/').next().unwrap();
    assert!(!audit.to_string().contains(token), "no token in the audit trail");
    // The token's budget of lookups runs out; the refusal is audited once.
    let mut refused = None;
    for n in 0..80 {
        let (status, body) = s
            .api("POST", "/api/v1/mails/check", Some(json!({"text": "0000-0000-0000"})))
            .await;
        if status == 429 {
            assert_eq!(body["code"], "rate_limited");
            refused = Some(n);
            break;
        }
    }
    assert!(refused.is_some(), "60 lookups at once, then refused");
    let (_, audit) = s.api("GET", "/api/v1/audit?limit=500", None).await;
    let limited = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "helpdesk.mail_check_limited")
        .count();
    assert_eq!(limited, 1);
}
