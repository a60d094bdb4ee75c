//! Campaign commands while `pwresetd serve` works the campaign (issue 15): `campaign revert`,
//! `notify`, `set` and `deadline --now` ask the service for the campaign, wait for it to hand
//! the lease over (bounded) and then do what they do without the service; two foreground
//! commands still refuse each other (exit 75). And the reminders an extended deadline (one
//! person's, or the campaign's) re-arms, as the SMTP capture server receives them. Real slapd, the real binary, real SMTP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use common::daemon::Daemon;
use common::smtp::SmtpServer;
use common::{Fixture, User, eventually, free_port, json, text};

/// What the fixture's CLI config and the service's config share: `[campaign]`, `[portal]`,
/// `[daemon]`, `[mail]` (SMTP capture) and `[helpdesk]`, with `campaign` lines first.
fn sections(smtp: &SmtpServer, (admin, portal): (u16, u16), campaign: &str, helpdesk: &str) -> String {
    format!(
        r#"
[campaign]
max_lock_fraction = 1.0
{campaign}

[portal]
listen = "127.0.0.1:{portal}"
public_url = "http://127.0.0.1:{portal}"

[daemon]
admin_listen = "127.0.0.1:{admin}"
reconcile_interval = "1s"
notify_interval = "1s"
shutdown_grace = "5s"

[mail]
transport = "smtp"
smtp_url = "{smtp}"
starttls = false
allow_insecure = true
from = "IT Security <it-security@example.org>"
retry_initial = "100ms"
timeout = "5s"
{helpdesk}
"#,
        smtp = smtp.url()
    )
}

/// Whether the service serves the helpdesk API (with the token `common::helpdesk` makes).
enum Api {
    Without,
    With,
}

/// The fixture, its capture server, the ports and a second config for the service that works
/// slowly (`max_ops_per_second`), so that a pass over the campaign takes many seconds while
/// the CLI (the fixture's own config) works at full speed.
struct Bed {
    f: Fixture,
    smtp: SmtpServer,
    ports: (u16, u16),
    slow: PathBuf,
}

impl Bed {
    async fn new(name: &str, people: usize, ops_per_second: u32, campaign: &str) -> Bed {
        let users: Vec<User> = (0..people).map(|i| User::new(&format!("p{i:02}"))).collect();
        Self::with_users(name, &users, ops_per_second, campaign, Api::Without).await
    }

    async fn with_users(name: &str, users: &[User], ops: u32, campaign: &str, api: Api) -> Bed {
        let f = Fixture::new(name, users).await;
        let smtp = SmtpServer::start(&[]);
        let ports = (free_port(), free_port());
        let helpdesk = match api {
            Api::Without => String::new(),
            Api::With => {
                let (_, _, tokens) = common::helpdesk::create_token(&f);
                format!(
                    "\n[helpdesk]\noperator_group = \"cn=helpdesk,{}\"\napi_tokens_file = \"{}\"\n",
                    f.ou,
                    tokens.display()
                )
            }
        };
        let shared = sections(&smtp, ports, campaign, &helpdesk);
        f.append_config(&shared);
        let slow = f.dir.path().join("serve.toml");
        let directory = common::config_toml(&f.ou, f.dir.path(), &format!("max_ops_per_second = {ops}"));
        std::fs::write(&slow, format!("{directory}\n{shared}")).unwrap();
        Bed { f, smtp, ports, slow }
    }

    fn start(&self, name: &str, extra: &[&str]) {
        let deadline = (Utc::now() + chrono::Duration::days(7)).to_rfc3339_opts(SecondsFormat::Secs, true);
        self.start_until(name, &deadline, extra);
    }

    fn start_until(&self, name: &str, deadline: &str, extra: &[&str]) {
        let mut args = vec!["campaign", "start", "--name", name, "--reason", "Intrusion"];
        args.extend(["--deadline", deadline, "--yes"]);
        args.extend(extra);
        let out = self.f.run(&args);
        assert!(out.status.success(), "{}", text(&out));
    }

    /// `serve` with the slow config, once READY=1.
    fn serve(&self) -> Daemon {
        let mut d = Daemon::start(&self.slow, self.ports.0, self.ports.1);
        assert!(
            d.wait_notification("READY=1", Duration::from_secs(30)).is_some(),
            "{}",
            d.log_text()
        );
        d
    }

    /// Waits until the lease on the (only) campaign is held by a holder named `role@…`.
    async fn held_by(&self, role: &str) {
        let what = format!("a lease held by {role}");
        eventually(&what, Duration::from_secs(30), async || {
            lease_holder(&self.f.store_path())
                .filter(|h| h.starts_with(&format!("{role}@")))
                .map(drop)
        })
        .await;
    }

    fn status(&self, name: &str) -> serde_json::Value {
        json(&self.f.run(&["campaign", "status", name, "--json"]))
    }

    /// How many messages each recipient received.
    fn received(&self) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for m in self.smtp.messages() {
            for to in m.rcpt_tos() {
                *out.entry(to).or_default() += 1;
            }
        }
        out
    }

    fn stop(&self, mut d: Daemon) {
        d.signal("TERM");
        // Reading the notifications empties the socket's queue (STATUS every tick fills it
        // within a minute), so that the daemon's STOPPING=1 does not wait for room.
        d.wait_notification("STOPPING=1", Duration::from_secs(10));
        assert_eq!(d.wait_exit(Duration::from_secs(20)), Some(0), "{}", d.log_text());
    }
}

/// The holder of a lease still valid, if any (the store holds one campaign in these tests).
fn lease_holder(store: &Path) -> Option<String> {
    let conn = rusqlite::Connection::open_with_flags(store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    conn.query_row("SELECT holder FROM leases WHERE expires_at >= ?1", [now], |r| r.get(0))
        .ok()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A command that met the service's lease says it waits, for how long (`wait`), and then
/// succeeds: within the wait, which is shorter than the service's pass, so only a hand-over
/// mid-pass lets it succeed.
fn waited_and_succeeded(out: &Output, wait: &str) {
    assert!(out.status.success(), "{}", text(out));
    let said = stderr(out);
    assert!(
        said.contains("is being worked on by the service (daemon@") && said.contains(&format!("waiting up to {wait} ")),
        "{}",
        text(out)
    );
}

/// `serve` marks a campaign slowly (the CLI that started it was killed); `campaign revert`
/// asks for it, the service stops its pass and hands the lease over, the revert clears every
/// flag the campaign set, and the service, working on, marks nothing again.
#[tokio::test(flavor = "multi_thread")]
async fn revert_while_serve_marks_clears_every_flag_and_serve_does_not_mark_again() {
    // 60 accounts at 2 a second: the service's pass lasts half a minute, the wait 8 s.
    let bed = Bed::new("ctl-revert", 60, 2, "service_wait = \"8s\"").await;
    let mut cli = Command::new(env!("CARGO_BIN_EXE_pwresetd"))
        .args([
            "--config",
            bed.slow.to_str().unwrap(),
            "campaign",
            "start",
            "--name",
            "rv",
        ])
        .args(["--reason", "r", "--deadline", "2099-01-01T00:00:00Z", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    bed.held_by("cli").await;
    cli.kill().unwrap();
    cli.wait().unwrap();
    let d = bed.serve();
    bed.held_by("daemon").await;
    eventually("the service marking", Duration::from_secs(30), async || {
        (common::marked_in_store(&bed.f.store_path()) >= 4).then_some(())
    })
    .await;
    assert_eq!(bed.status("rv")["state"], "marking", "mid-pass");

    let out = bed.f.run(&["campaign", "revert", "rv", "--yes"]);
    waited_and_succeeded(&out, "8s");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Reverted "),
        "{}",
        text(&out)
    );
    assert!(bed.f.flagged().await.is_empty(), "every flag cleared");
    let status = bed.status("rv");
    assert_eq!(status["state"], "reverted", "{status}");
    assert_eq!(status["marked"], 0, "{status}");
    // Two of the service's ticks (5 s apart) later, still nothing is marked.
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert!(bed.f.flagged().await.is_empty(), "{}", d.log_text());
    assert_eq!(bed.status("rv")["state"], "reverted");
    assert!(d.log_text().contains("lease handed over"), "{}", d.log_text());
    bed.stop(d);
}

/// While `serve` reconciles a campaign slowly (its lease held most of the time): `campaign
/// notify` waits for the hand-over and sends each notice once in all (no duplicate from the
/// service's passes); `campaign set` changes the deadline's action; `deadline --now` locks
/// every account still marked. Each says that it waited, and answers as without the service.
#[tokio::test(flavor = "multi_thread")]
async fn notify_set_and_deadline_now_while_serve_works_the_campaign() {
    // 24 accounts at 2 a second: a reconciliation pass lasts 12 s, the wait 5 s.
    let people = 24;
    let bed = Bed::new("ctl-cmds", people, 2, "service_wait = \"5s\"").await;
    bed.start("cm", &["--at-deadline", "lock", "--grace", "1h"]);
    let d = bed.serve();

    bed.held_by("daemon").await;
    let out = bed.f.run(&["campaign", "notify", "cm"]);
    waited_and_succeeded(&out, "5s");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Campaign cm: "),
        "{}",
        text(&out)
    );
    let all = bed.smtp.wait_for_messages(people, Duration::from_secs(30));
    assert_eq!(all.len(), people, "one notice each");

    bed.held_by("daemon").await;
    let out = bed.f.run(&["campaign", "set", "cm", "--grace", "2h"]);
    waited_and_succeeded(&out, "5s");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Campaign cm: at deadline + 2h: lock."),
        "{}",
        text(&out)
    );

    bed.held_by("daemon").await;
    let out = bed.f.run(&["campaign", "deadline", "cm", "--now", "--yes"]);
    waited_and_succeeded(&out, "5s");
    let line = format!("Campaign cm: {people} accounts locked now, 0 left alone, 0 failed.");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&line), "{}", text(&out));
    let status = bed.status("cm");
    assert_eq!(status["locked"], people, "{status}");
    assert_eq!(status["enforcement"]["grace"], 7200, "{status}");

    // Some passes of the service later: still one notice (the mail with a link) each, from
    // whoever sent it; the lock brought each the `locked` mail (no link).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut links: HashMap<String, usize> = HashMap::new();
    for m in bed.smtp.messages() {
        let body = m.parse().part("text/plain").body.clone();
        for to in m.rcpt_tos() {
            *links.entry(to).or_default() += usize::from(body.contains("/reset/"));
        }
    }
    assert_eq!(links.len(), people, "{links:?}");
    assert!(links.values().all(|n| *n == 1), "a duplicate: {links:?}");
    let received = bed.received();
    assert!(received.values().all(|n| *n == 2), "notice + locked: {received:?}");

    // Once the deadline's action has locked accounts, the deadline no longer moves.
    let later = (Utc::now() + chrono::Duration::days(30)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let out = bed.f.run(&["campaign", "set", "cm", "--deadline", &later]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let said = stderr(&out);
    assert!(
        said.contains(&format!("already locked {people} accounts")) && said.contains("unlock LOGIN"),
        "{said}"
    );
    bed.stop(d);
}

/// Two foreground commands: the second is refused at once (75) naming the first, whether the
/// first holds the campaign or waits for the service; a service that does not hand over within
/// `campaign.service_wait` gets a 75 with the hint to run the command again, nothing changed.
#[tokio::test(flavor = "multi_thread")]
async fn foreground_commands_refuse_each_other_and_the_wait_is_bounded() {
    let bed = Bed::new("ctl-fg", 30, 2, "service_wait = \"2s\"").await;
    let mut slow_start = spawn(&bed.slow, &["campaign", "start", "--name", "fg", "--reason", "r"]);
    bed.held_by("cli").await;
    for args in [
        &["campaign", "revert", "fg", "--yes"][..],
        &["campaign", "notify", "fg"],
        &["campaign", "set", "fg", "--grace", "1h"],
    ] {
        let out = bed.f.run(args);
        assert_eq!(out.status.code(), Some(75), "{args:?}: {}", text(&out));
        assert!(stderr(&out).contains("is being worked on by cli@"), "{}", text(&out));
        assert!(!stderr(&out).contains("waiting"), "{}", text(&out));
    }
    slow_start.kill().unwrap();
    slow_start.wait().unwrap();
    let out = bed.f.run(&["campaign", "start", "--name", "fg", "--yes"]);
    assert!(out.status.success(), "the start finishes: {}", text(&out));

    // A service (of another host) that holds the lease and never hands it over.
    let store = rusqlite::Connection::open(bed.f.store_path()).unwrap();
    let later = (Utc::now() + chrono::Duration::minutes(10)).to_rfc3339_opts(SecondsFormat::Millis, true);
    store
        .execute(
            // The row stays after a release (expired, keeping its fencing epoch).
            "INSERT INTO leases (campaign_id, holder, expires_at) SELECT id, 'daemon@elsewhere:1:0', ?1 FROM campaigns
             WHERE true ON CONFLICT (campaign_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at",
            [&later],
        )
        .unwrap();
    let started = Instant::now();
    let out = bed.f.run(&["campaign", "revert", "fg", "--yes"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(started.elapsed() >= Duration::from_secs(2));
    let said = stderr(&out);
    assert!(said.contains("waiting up to 2s"), "{said}");
    assert!(
        said.contains("did not hand campaign fg over within 2s") && said.contains("run the same command again"),
        "{said}"
    );
    assert_eq!(bed.status("fg")["state"], "active", "nothing changed");
    assert_eq!(bed.f.flagged().await.len(), 30, "nothing reverted");

    // Another command already waits for that service: refused at once, naming it.
    store
        .execute(
            "UPDATE leases SET wanted_by = 'cli@elsewhere:2:0', wanted_until = ?1",
            [&later],
        )
        .unwrap();
    let out = bed.f.run(&["campaign", "notify", "fg"]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(
        stderr(&out).contains("is already waited for by cli@elsewhere:2:0"),
        "{}",
        text(&out)
    );
    assert!(bed.smtp.messages().is_empty(), "nothing sent");
}

fn spawn(config: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pwresetd"))
        .arg("--config")
        .arg(config)
        .args(args)
        .args(["--deadline", "2099-01-01T00:00:00Z", "--yes"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Reminders 20 s and 10 s before a deadline 35 s away: each of two people gets the notice and
/// both reminders. Then the helpdesk extends one person's deadline by 30 s (after the last
/// reminder): nothing goes out at once, and each reminder point of the new deadline (10 s and
/// 20 s after the old one) sends once more, to that person only.
#[tokio::test(flavor = "multi_thread")]
async fn an_extension_after_the_last_reminder_re_arms_the_reminders() {
    let users = [User::new("ext"), User::new("kept")];
    let bed = Bed::with_users("ctl-remind", &users, 100, "reminders = [\"20s\", \"10s\"]", Api::With).await;
    let deadline = Utc::now() + chrono::Duration::seconds(35);
    let deadline_s = deadline.to_rfc3339_opts(SecondsFormat::Secs, true);
    let deadline: chrono::DateTime<Utc> = deadline_s.parse().unwrap();
    bed.start_until("rm", &deadline_s, &[]);
    let d = bed.serve();
    let count = |login: &str| {
        bed.received()
            .get(&format!("{login}@example.org"))
            .copied()
            .unwrap_or(0)
    };
    eventually("notice and two reminders each", Duration::from_secs(40), async || {
        (count("ext") == 3 && count("kept") == 3).then_some(())
    })
    .await;

    let extended = (deadline + chrono::Duration::seconds(30)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let token = std::fs::read_to_string(bed.f.dir.path().join("my-token")).unwrap();
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/api/v1/accounts/ext/extend", bed.ports.0))
        .bearer_auth(token.trim())
        .json(&serde_json::json!({"deadline": extended, "reason": "on leave"}))
        .send()
        .await
        .unwrap();
    let (status, body) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!(status, 200, "{body}");

    let at = |secs: i64| {
        let wait = (deadline + chrono::Duration::seconds(secs) - Utc::now())
            .to_std()
            .unwrap_or_default();
        tokio::time::sleep(wait)
    };
    at(5).await;
    assert_eq!(count("ext"), 3, "nothing at once, nothing before the new points");
    at(15).await;
    assert_eq!(count("ext"), 4, "the first new point: {}", d.log_text());
    at(25).await;
    assert_eq!((count("ext"), count("kept")), (5, 3), "{}", d.log_text());
    let store = rusqlite::Connection::open(bed.f.store_path()).unwrap();
    let mut q = store
        .prepare(
            "SELECT n.kind, n.step FROM notifications n JOIN accounts a ON a.id = n.account_id
             WHERE a.login = 'ext' AND n.state = 'sent' ORDER BY n.id",
        )
        .unwrap();
    let rows: Vec<(String, u32)> = q
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected = [
        ("notice", 0),
        ("reminder", 1),
        ("reminder", 2),
        ("reminder", 3),
        ("reminder", 4),
    ];
    let expected: Vec<(String, u32)> = expected.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    assert_eq!(rows, expected);
    bed.stop(d);
}

/// A reminder 10 s before a deadline 25 s away: each of two people gets the notice and the
/// reminder. The helpdesk gives one of them a deadline of their own, a minute later; then
/// `campaign set --deadline` (audited as the Unix user, while the service works) moves the
/// campaign's 15 s later: the other's reminder point of the new deadline sends once more, the
/// extension is kept (no mail for it yet). A deadline in the past is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_moved_campaign_deadline_re_arms_the_reminders_and_keeps_a_later_extension() {
    let users = [User::new("moved"), User::new("own")];
    let bed = Bed::with_users("ctl-move", &users, 100, "reminders = [\"10s\"]", Api::With).await;
    let secs = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let deadline: chrono::DateTime<Utc> = secs(Utc::now() + chrono::Duration::seconds(25)).parse().unwrap();
    bed.start_until("mv", &secs(deadline), &[]);
    let d = bed.serve();
    let count = |login: &str| {
        bed.received()
            .get(&format!("{login}@example.org"))
            .copied()
            .unwrap_or(0)
    };
    eventually("notice and reminder each", Duration::from_secs(30), async || {
        (count("moved") == 2 && count("own") == 2).then_some(())
    })
    .await;
    let token = std::fs::read_to_string(bed.f.dir.path().join("my-token")).unwrap();
    let api = |path: &str| {
        let url = format!("http://127.0.0.1:{}/api/v1/{path}", bed.ports.0);
        (reqwest::Client::new(), url, token.trim().to_owned())
    };
    let (client, url, bearer) = api("accounts/own/extend");
    let own = secs(deadline + chrono::Duration::seconds(60));
    let r = client
        .post(url)
        .bearer_auth(&bearer)
        .json(&serde_json::json!({"deadline": own, "reason": "on leave"}))
        .send()
        .await
        .unwrap();
    let (code, body) = (r.status().as_u16(), r.text().await.unwrap());
    assert_eq!(code, 200, "{body}");

    let past = bed
        .f
        .run(&["campaign", "set", "mv", "--deadline", "2020-01-01T00:00:00Z"]);
    assert_eq!(past.status.code(), Some(64), "{}", text(&past));
    assert!(
        stderr(&past).contains("in the past; give a later time"),
        "{}",
        text(&past)
    );
    let moved = deadline + chrono::Duration::seconds(15);
    let out = bed.f.run(&["campaign", "set", "mv", "--deadline", &secs(moved)]);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("1 accounts keep their own, later deadline"), "{said}");
    let (client, url, bearer) = api("campaigns/mv");
    let status: serde_json::Value = client
        .get(url)
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown: chrono::DateTime<Utc> = status["deadline"].as_str().unwrap().parse().unwrap();
    assert_eq!(shown, moved, "{status}");
    let audited =
        "SELECT COUNT(*) FROM audit WHERE action = 'campaign.set' AND actor LIKE 'cli:%' AND detail LIKE 'deadline %'";
    assert_eq!(bed.f.store_count(audited), Some(1));

    let at = |secs: i64| {
        let wait = (deadline + chrono::Duration::seconds(secs) - Utc::now())
            .to_std()
            .unwrap_or_default();
        tokio::time::sleep(wait)
    };
    at(1).await;
    assert_eq!(count("moved"), 2, "nothing before the new point");
    at(9).await;
    assert_eq!((count("moved"), count("own")), (3, 2), "{}", d.log_text());
    bed.stop(d);
}
