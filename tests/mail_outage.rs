//! Mail server outages against the real slapd and the SMTP capture server: `campaign notify`
//! with the SMTP port closed stops within a minute (exit 69) leaving every notice due, then
//! delivers each exactly once when the server is back; the daemon, whose server stops for half a
//! minute in the middle of a pass, backs off, says so (log, `/metrics`, STATUS, helpdesk page)
//! and delivers each notice exactly once when it answers again.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::HashMap;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use common::daemon::Daemon;
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
    std::fs::write(f.dir.path().join("wrong-password"), "not-the-password\n").unwrap();
    let url = server.url().replace("127.0.0.1", "localhost");
    start_campaign(
        &f,
        &format!(
            "[mail]\ntransport = \"smtp\"\nsmtp_url = \"{url}\"\nca_file = \"{ca}\"\nusername = \"pwresetd\"\n\
             password_file = \"wrong-password\"\nfrom = \"it-security@example.org\"\n",
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

/// The value of `pwresetd_mail_server_up` at `/metrics` (None while unreadable).
async fn server_up(d: &Daemon) -> Option<i64> {
    let (status, body) = d.admin_get("/metrics").await;
    if status != 200 {
        return None;
    }
    body.lines()
        .find_map(|l| l.strip_prefix("pwresetd_mail_server_up "))
        .and_then(|v| v.trim().parse().ok())
}

/// The values of `pwresetd_mail_server_up` seen so far, each change once.
#[derive(Default)]
struct Seen(Vec<i64>);

impl Seen {
    async fn sample(&mut self, d: &Daemon) -> Option<i64> {
        let up = server_up(d).await?;
        if self.0.last() != Some(&up) {
            self.0.push(up);
        }
        Some(up)
    }

    /// Samples until `wanted` is seen (or `limit` passes, failing).
    async fn until(&mut self, d: &mut Daemon, wanted: i64, limit: Duration) {
        let started = Instant::now();
        while self.sample(d).await != Some(wanted) {
            assert!(
                started.elapsed() < limit,
                "no pwresetd_mail_server_up {wanted}: {}",
                d.log_text()
            );
            // Keep reading notifications (STATUS lines) meanwhile.
            d.wait_notification("\u{0}", Duration::from_millis(100));
        }
    }
}

fn daemon_sections(smtp: &SmtpServer, admin: u16, portal: u16, tokens: &std::path::Path) -> String {
    format!(
        r#"
[portal]
listen = "127.0.0.1:{portal}"
public_url = "http://127.0.0.1:{portal}"

[daemon]
admin_listen = "127.0.0.1:{admin}"
reconcile_interval = "1h"
notify_interval = "1s"
mail_backoff = "1s"
mail_backoff_max = "4s"
shutdown_grace = "5s"

[mail]
transport = "smtp"
smtp_url = "{url}"
starttls = false
allow_insecure = true
from = "IT Security <it-security@example.org>"
max_connections = 2
max_messages_per_second = 8
retry_initial = "200ms"
timeout = "5s"

[helpdesk]
api_tokens_file = "{tokens}"
"#,
        url = smtp.url(),
        tokens = tokens.display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_backs_off_while_the_server_is_down_and_delivers_each_notice_once_after() {
    let people = 60;
    let mut smtp = SmtpServer::start(&[]);
    let (admin, portal) = (free_port(), free_port());
    let f = fixture("mailoutd", people).await;
    let (token, _, tokens) = common::helpdesk::create_token(&f);
    start_campaign(&f, &daemon_sections(&smtp, admin, portal, &tokens));
    let mut d = Daemon::start(&f.config, admin, portal);
    assert!(
        d.wait_notification("READY=1", Duration::from_secs(30)).is_some(),
        "{}",
        d.log_text()
    );
    let mut seen = Seen::default();
    seen.until(&mut d, 1, Duration::from_secs(10)).await;

    // Mid-pass (8 mails a second), the server goes away for half a minute.
    let before = smtp.wait_for_messages(10, Duration::from_secs(30)).len();
    smtp.stop_for_now();
    let stopped_at = Instant::now();
    assert!(before < people, "the pass ended before the outage ({before} sent)");
    seen.until(&mut d, 0, Duration::from_secs(30)).await;
    let status = eventually_status(&mut d, Duration::from_secs(15), |l| {
        l.contains("; mail server down since ")
    });
    assert!(status.starts_with("STATUS=out: 0/"), "{status}");
    let page = helpdesk_page(admin, &token).await;
    assert!(page.contains("Mail server down since "), "{page}");
    while stopped_at.elapsed() < Duration::from_secs(30) {
        assert_eq!(seen.sample(&d).await, Some(0), "up while the server is stopped");
        d.wait_notification("\u{0}", Duration::from_millis(500));
    }
    let due_during_outage = delivered(&smtp).len();
    assert!(due_during_outage < people, "{due_during_outage} delivered");

    smtp.restart();
    seen.until(&mut d, 1, Duration::from_secs(30)).await;
    let all = smtp.wait_for_messages(people, Duration::from_secs(60));
    assert_eq!(all.len(), people, "{}", d.log_text());
    let got = delivered(&smtp);
    assert_eq!(got.len(), people, "{got:?}");
    assert!(got.values().all(|n| *n == 1), "duplicates: {got:?}");
    assert_eq!(seen.0, [1, 0, 1], "pwresetd_mail_server_up over time");
    let metrics = d.admin_get("/metrics").await.1;
    let last: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("pwresetd_mail_last_delivery_timestamp_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the last delivery's time in /metrics");
    assert!((Utc::now().timestamp() - last).abs() < 120, "{last}");
    eventually_status(&mut d, Duration::from_secs(15), |l| !l.contains("mail server down"));
    assert!(!helpdesk_page(admin, &token).await.contains("Mail server down"));

    // Logged once when it went down and once when it came back, not per message or per retry.
    let log = d.log_text();
    assert_eq!(log.matches("mail server down:").count(), 1, "{log}");
    assert_eq!(log.matches("mail server answers again").count(), 1, "{log}");
    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(15)), Some(0));
    let rows = rows_by_state(&f);
    assert_eq!(rows.get("sent").copied(), Some(people as i64), "{rows:?}");
    assert!(!rows.contains_key("sending") && !rows.contains_key("retry"), "{rows:?}");
}

/// Reads notifications until the latest STATUS line satisfies `wanted`; that line.
fn eventually_status(d: &mut Daemon, limit: Duration, wanted: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let latest = d.notifications.iter().rev().find(|l| l.starts_with("STATUS="));
        if let Some(line) = latest.filter(|l| wanted(l)) {
            return line.clone();
        }
        assert!(started.elapsed() < limit, "no such STATUS: {:?}", d.notifications);
        d.wait_notification("\u{0}", Duration::from_millis(300));
    }
}

/// The helpdesk's campaign page, as an API token sees it.
async fn helpdesk_page(admin: u16, token: &str) -> String {
    let r = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{admin}/helpdesk/campaigns/out"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.text().await.unwrap()
}
