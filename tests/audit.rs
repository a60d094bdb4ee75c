//! The tamper-evident audit trail through the real binary: campaigns against the real slapd
//! write it, `audit export` writes it as JSON lines, and `audit verify` refuses an export with
//! a changed, added, removed or reordered record, naming the line; `verify --store` checks the
//! store itself.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::path::Path;

use common::{Fixture, User, text};

const DEADLINE: &str = "2099-12-04T17:00:00Z";

fn ok(f: &Fixture, args: &[&str]) -> String {
    let out = f.run(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

fn start(f: &Fixture, name: &str) {
    ok(
        f,
        &[
            "campaign",
            "start",
            "--name",
            name,
            "--reason",
            "Incident",
            "--deadline",
            DEADLINE,
            "--yes",
        ],
    );
}

/// `audit verify FILE` on `lines`: the exit code and stdout + stderr.
fn verify(f: &Fixture, lines: &[String], name: &str) -> (Option<i32>, String) {
    let path = f.dir.path().join(name);
    std::fs::write(&path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let out = f.run(&["audit", "verify", path.to_str().unwrap()]);
    (out.status.code(), text(&out))
}

fn refused_at(f: &Fixture, lines: &[String], name: &str, line: usize) {
    let (code, out) = verify(f, lines, name);
    assert_eq!(code, Some(1), "{name}: {out}");
    assert!(
        out.contains(&format!(": line {line}: ")),
        "{name}: expected line {line}: {out}"
    );
}

#[tokio::test]
async fn exports_verify_and_every_kind_of_tampering_is_named_by_its_line() {
    let f = Fixture::new("audit", &[User::new("a1"), User::new("a2")]).await;
    // 1 one.start, 2 two.start, 3 one.resume, 4 two.revert, 5 one.resume, 6 one.resume
    start(&f, "one");
    start(&f, "two");
    ok(&f, &["campaign", "start", "--name", "one", "--yes"]);
    ok(&f, &["campaign", "revert", "two", "--yes"]);
    ok(&f, &["campaign", "start", "--name", "one", "--yes"]);
    ok(&f, &["campaign", "start", "--name", "one", "--yes"]);

    let all: Vec<String> = ok(&f, &["audit", "export", "--format", "jsonl"])
        .lines()
        .map(str::to_owned)
        .collect();
    let actions: Vec<String> = all
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        actions,
        [
            "campaign.start",
            "campaign.start",
            "campaign.resume",
            "campaign.revert",
            "campaign.resume",
            "campaign.resume"
        ]
    );
    let (code, out) = verify(&f, &all, "all.jsonl");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("6 records verify, in 2 chains"), "{out}");
    let one = ok(&f, &["audit", "export", "--campaign", "one", "--format", "jsonl"]);
    assert_eq!(one.lines().count(), 4);
    let (code, out) = verify(&f, &one.lines().map(str::to_owned).collect::<Vec<_>>(), "one.jsonl");
    assert_eq!(code, Some(0), "a campaign's export is a chain of its own: {out}");

    let mut changed = all.clone();
    changed[2] = changed[2].replace("\"actor\":\"cli:", "\"actor\":\"cli:x");
    assert_ne!(changed[2], all[2]);
    refused_at(&f, &changed, "changed.jsonl", 3);

    let mut added = all.clone();
    added.insert(4, all[1].clone());
    refused_at(&f, &added, "added.jsonl", 5);

    let mut removed = all.clone();
    removed.remove(2); // one.resume: the next record of chain "one" (now line 4) is unlinked
    refused_at(&f, &removed, "removed.jsonl", 4);

    let mut reordered = all.clone();
    reordered.swap(4, 5);
    refused_at(&f, &reordered, "reordered.jsonl", 5);

    the_store_itself_is_verified(&f);
}

fn the_store_itself_is_verified(f: &Fixture) {
    let out = ok(f, &["audit", "verify", "--store"]);
    assert!(out.contains("6 records verify"), "{out}");
    tamper(&f.store_path());
    let out = f.run(&["audit", "verify", "--store"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(": line 2: record 2's content"), "{}", text(&out));
}

/// What someone with write access to the database file might do: drop the guard, edit a row.
fn tamper(store: &Path) {
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.execute_batch("DROP TRIGGER audit_no_update; UPDATE audit SET detail = 'reason: nothing' WHERE id = 2")
        .unwrap();
}
