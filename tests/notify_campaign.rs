//! `campaign notify` end to end against the real slapd: one notice per marked account with an
//! address, each carrying a working one-time link; a SIGTERM mid-pass duplicates nothing; a
//! SIGKILL mid-pass duplicates at most the mails in flight.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, User, json, text};

const ACCOUNTS: usize = 40;

fn recipients(spool: &Path) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(spool).into_iter().flatten().flatten() {
        if entry.path().extension().is_some_and(|x| x == "eml") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            let to = text.lines().find(|l| l.starts_with("To: ")).unwrap().to_owned();
            *out.entry(to).or_default() += 1;
        }
    }
    out
}

async fn fixture(name: &str, connections: u32) -> Fixture {
    let mut users: Vec<User> = (0..ACCOUNTS).map(|i| User::new(&format!("n{i:02}"))).collect();
    users.push(User {
        mail: vec![],
        ..User::new("nomail")
    });
    let f = Fixture::new(name, &users).await;
    f.append_config(&format!(
        "[mail]\ntransport = \"file\"\nspool_dir = \"{}\"\nfrom = \"it@example.org\"\nmax_messages_per_second = 20\nmax_connections = {connections}\n[portal]\npublic_url = \"https://pw.example.org\"\n",
        f.dir.path().join("spool").display()
    ));
    let out = f.run(&[
        "campaign",
        "start",
        "--name",
        "n",
        "--reason",
        "Intrusion",
        "--deadline",
        "2099-01-01T00:00:00Z",
        "--yes",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    f
}

/// Starts `campaign notify n`, signals it once `at_least` mails are out, returns its exit code.
fn interrupted(f: &Fixture, signal: &str, at_least: usize) -> Option<i32> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pwresetd"))
        .args(["--config", f.config.to_str().unwrap(), "campaign", "notify", "n"])
        .stdout(Stdio::null())
        .stderr(common::artifacts::stderr_file("campaign-notify"))
        .spawn()
        .unwrap();
    let spool = f.dir.path().join("spool");
    let started = Instant::now();
    while recipients(&spool).values().sum::<usize>() < at_least {
        assert!(started.elapsed() < Duration::from_secs(30), "no progress");
        assert!(child.try_wait().unwrap().is_none(), "finished before the signal");
        std::thread::sleep(Duration::from_millis(20));
    }
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap().code()
}

#[tokio::test]
async fn notices_go_out_once_with_working_links() {
    let f = fixture("notify", 4).await;
    let out = f.run(&["campaign", "notify", "n"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{ACCOUNTS} sent")) && text(&out).contains("1 without a mail address"),
        "{}",
        text(&out)
    );
    let spool = f.dir.path().join("spool");
    let sent = recipients(&spool);
    assert_eq!(sent.len(), ACCOUNTS);
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");
    // A second pass sends nothing: the notice went out and no reminder is due.
    let again = f.run(&["campaign", "notify", "n"]);
    assert!(text(&again).contains("0 sent"), "{}", text(&again));
    assert_eq!(recipients(&spool).values().sum::<usize>(), ACCOUNTS);

    // Each mail's link names a live token for its own account, and only its hash is stored.
    let store = pwresetd::store::Store::open(&f.store_path()).unwrap();
    let mail = std::fs::read_dir(&spool)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .find(|t| t.contains("n07@example.org"))
        .unwrap();
    let token = mail.split("https://pw.example.org/reset/").nth(1).unwrap()[..pwresetd::token::TOKEN_LEN].to_owned();
    assert!(pwresetd::token::well_formed(&token));
    let record = store
        .run_blocking(|s| s.token(&pwresetd::token::hash(&token)))
        .unwrap()
        .expect("token stored by hash");
    assert_eq!(record.login.as_deref(), Some("n07"));
    assert!(record.revoked_at.is_none() && record.used_at.is_none());
    let db = std::fs::read(f.store_path()).unwrap();
    assert!(
        !db.windows(token.len()).any(|w| w == token.as_bytes()),
        "the token itself is not in the store"
    );
    let account = json(&f.run(&["account", "nomail", "--json"]));
    assert_eq!(account["campaigns"][0]["state"], "marked");
}

#[tokio::test]
async fn sigterm_mid_pass_duplicates_nothing() {
    let f = fixture("notifyterm", 2).await;
    assert_eq!(interrupted(&f, "TERM", 10), Some(0));
    let before = recipients(&f.dir.path().join("spool")).values().sum::<usize>();
    assert!(before < ACCOUNTS, "the signal came too late ({before} sent)");
    let out = f.run(&["campaign", "notify", "n"]);
    assert!(out.status.success(), "{}", text(&out));
    let sent = recipients(&f.dir.path().join("spool"));
    assert_eq!(sent.len(), ACCOUNTS);
    assert!(
        sent.values().all(|n| *n == 1),
        "duplicates after a clean stop: {sent:?}"
    );
}

#[tokio::test]
async fn sigkill_mid_pass_repeats_at_most_the_mails_in_flight() {
    let connections = 2;
    let f = fixture("notifykill", connections).await;
    interrupted(&f, "KILL", 10);
    let out = f.run(&["campaign", "notify", "n"]);
    assert!(out.status.success(), "{}", text(&out));
    let sent = recipients(&f.dir.path().join("spool"));
    assert_eq!(sent.len(), ACCOUNTS, "everyone got a notice");
    let duplicates: usize = sent.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= connections as usize,
        "{duplicates} duplicates > {connections} in flight: {sent:?}"
    );
}
