//! Mail server outages against the real slapd and the SMTP capture server: `campaign notify`
//! with the SMTP port closed stops within a minute (exit 69) leaving every notice due, then
//! delivers each exactly once when the server is back.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::HashMap;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use common::smtp::SmtpServer;
use common::{Fixture, User, free_port, text};

/// `people` accounts, and one without an address.
async fn fixture(name: &str, people: usize) -> Fixture {
    let mut users: Vec<User> = (0..people).map(|i| User::new(&format!("m{i:02}"))).collect();
    users.push(User {
        mail: vec![],
        ..User::new("nomail")
    });
    Fixture::new(name, &users).await
}

/// Appends `sections` to the configuration and starts campaign `out`.
fn start_campaign(f: &Fixture, sections: &str) {
    f.append_config(sections);
    let deadline = (Utc::now() + chrono::Duration::days(7)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let out = f.run(&[
        "campaign",
        "start",
        "--name",
        "out",
        "--reason",
        "Intrusion",
        "--deadline",
        &deadline,
        "--yes",
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

/// Recipient → how many messages the server captured for it.
fn delivered(server: &SmtpServer) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for m in server.messages() {
        for to in m.rcpt_tos() {
            *out.entry(to).or_default() += 1;
        }
    }
    out
}

/// Notification rows by state, read from the store as it is on disk.
fn rows_by_state(f: &Fixture) -> HashMap<String, i64> {
    let conn = rusqlite::Connection::open(f.store_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT state, COUNT(*) FROM notifications GROUP BY state")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// `campaign notify out`, killed (and failed) if it runs for more than `limit`.
fn notify_within(f: &Fixture, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pwresetd"))
        .args(["--config", f.config.to_str().unwrap(), "campaign", "notify", "out"])
        .env_remove("PWRESETD_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("campaign notify still running after {limit:?}: {}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

const PEOPLE: usize = 40;

#[tokio::test]
async fn notify_with_the_port_closed_exits_69_leaving_every_notice_due_then_delivers_each_once() {
    let port = free_port();
    // The stock retry settings (5 attempts from 2 s): one message's own back-off alone is 30 s.
    let f = fixture("mailout", PEOPLE).await;
    start_campaign(
        &f,
        &format!(
            "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nstarttls = false\n\
             allow_insecure = true\nfrom = \"IT Security <it-security@example.org>\"\n"
        ),
    );

    let (out, took) = notify_within(&f, Duration::from_secs(60));
    let said = text(&out);
    assert_eq!(out.status.code(), Some(69), "{said}");
    assert!(took < Duration::from_secs(60), "{took:?}");
    for needle in [
        "Campaign out: 0 sent, 0 refused by the mail server".to_owned(),
        format!("error: mail server 127.0.0.1:{port}: no answer, "),
        "failures in a row; last: Connection refused".to_owned(),
        format!("{PEOPLE} mail(s) still due (none lost)"),
    ] {
        assert!(said.contains(&needle), "missing {needle:?} in\n{said}");
    }
    // Nothing was sent, nothing is left `sending`: the mails tried are due again, the others
    // were never recorded.
    let rows = rows_by_state(&f);
    assert!(!rows.contains_key("sent") && !rows.contains_key("sending"), "{rows:?}");
    assert!(rows.get("retry").copied().unwrap_or(0) <= 4, "{rows:?}");
    let account = common::json(&f.run(&["account", "m07", "--json"]));
    assert_eq!(account["campaigns"][0]["state"], "marked", "{account}");

    let server = SmtpServer::start(&["--port", &port.to_string()]);
    let (out, _) = notify_within(&f, Duration::from_secs(120));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("Campaign out: {PEOPLE} sent")),
        "{}",
        text(&out)
    );
    let got = delivered(&server);
    assert_eq!(got.len(), PEOPLE, "{got:?}");
    assert!(got.values().all(|n| *n == 1), "duplicates: {got:?}");
    let (again, _) = notify_within(&f, Duration::from_secs(60));
    assert!(text(&again).contains("Campaign out: 0 sent"), "{}", text(&again));
    assert_eq!(server.messages().len(), PEOPLE);
}

#[tokio::test]
async fn notify_with_a_refused_password_exits_69_at_once_leaving_every_notice_due() {
    let server = SmtpServer::start(&["--tls", "--require-starttls", "--auth", "pwresetd:{dir}/smtp-password"]);
    let f = fixture("mailauth", 6).await;
    std::fs::write(f.dir.path().join("wrong"), "not-the-password\n").unwrap();
    let url = server.url().replace("127.0.0.1", "localhost");
    start_campaign(
        &f,
        &format!(
            "[mail]\ntransport = \"smtp\"\nsmtp_url = \"{url}\"\nca_file = \"{ca}\"\nusername = \"pwresetd\"\n\
             password_file = \"wrong\"\nfrom = \"it-security@example.org\"\n",
            ca = server.ca_file().display()
        ),
    );
    let (out, _) = notify_within(&f, Duration::from_secs(60));
    let said = text(&out);
    assert_eq!(out.status.code(), Some(69), "{said}");
    assert!(said.contains("error: the mail server cannot be used: "), "{said}");
    assert!(said.contains(": authentication refused: 535 5.7.8"), "{said}");
    assert!(said.contains("6 mail(s) still due (none lost)"), "{said}");
    let rows = rows_by_state(&f);
    assert!(!rows.contains_key("sent") && !rows.contains_key("sending"), "{rows:?}");
    assert!(server.messages().is_empty());
}
