//! A 5,000-account campaign killed with SIGKILL in the middle resumes to completion, nothing lost.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::time::{Duration, Instant};

use common::{Fixture, User, json, marked_in_store, text};

const ACCOUNTS: usize = 5000;

#[tokio::test]
async fn killed_campaign_resumes_with_every_account_marked_once() {
    let users: Vec<User> = (0..ACCOUNTS).map(|i| User::new(&format!("r{i:05}"))).collect();
    // Slow marking down so that the kill lands in the middle.
    let f = Fixture::with_config("resume", &users, "max_ops_per_second = 1500").await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pwresetd"))
        .args(["--config", f.config.to_str().unwrap()])
        .args([
            "campaign",
            "start",
            "--name",
            "big",
            "--reason",
            "Intrusion",
            "--deadline",
            "2099-01-01T00:00:00Z",
            "--yes",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(common::artifacts::stderr_file("campaign-start"))
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let marked = marked_in_store(&f.store_path());
        if marked >= 1000 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "marking did not progress ({marked} marked)"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill: raise ACCOUNTS or lower the rate"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = marked_in_store(&f.store_path());
    assert!(at_kill < ACCOUNTS as i64, "the kill came too late: {at_kill} marked");

    f.rewrite_config("");
    let out = f.run(&["campaign", "start", "--name", "big", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Resumed campaign big"), "{}", text(&out));
    let status = json(&f.run(&["campaign", "status", "big", "--json"]));
    assert_eq!(status["in_scope"], ACCOUNTS as u64, "{status}");
    assert_eq!(status["marked"], ACCOUNTS as u64, "{status}");
    assert_eq!(status["pending"], 0);
    assert_eq!(status["failed"], 0);
    assert_eq!(status["state"], "active");
    assert_eq!(f.flagged().await.len(), ACCOUNTS);
    let list = json(&f.run(&["campaign", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 1, "one campaign record: {list}");
}
