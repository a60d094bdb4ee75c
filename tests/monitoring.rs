//! The monitoring files against the real tools and the real binary:
//! - `deploy/prometheus/pwresetd-alerts.yml` passes `promtool check rules`, and its unit tests
//!   (`tests/prometheus/pwresetd-alerts.test.yml`: series that fire and series that do not)
//!   pass `promtool test rules`;
//! - `deploy/grafana/pwresetd.json` is valid JSON whose every query promtool parses;
//! - `/metrics` of a live `pwresetd serve` passes `promtool check metrics`, reports readiness
//!   without anyone polling `/readyz`, and exports every metric name that the rules and the
//!   dashboard use.
//!
//! promtool comes with Debian's `prometheus` package (scripts/install-deps installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use common::daemon::{Daemon, get};
use common::{Fixture, User, free_port, text};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs promtool; (success, stdout + stderr).
fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("promtool cannot run ({e}): install Debian's prometheus package (scripts/install-deps does)")
        });
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default().as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (out.status.success(), text(&out))
}

/// Every `pwresetd_…` metric name in a text (rule expressions, dashboard queries).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("pwresetd_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        // "pwresetd_" inside a longer word (e.g. a path) is not a metric.
        let before = rest[..at].chars().next_back();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/' || c == '-') {
            names.insert(tail[..end].to_owned());
        }
        rest = &tail[end.max(1)..];
    }
    names
}

#[test]
fn alert_rules_pass_promtool_and_their_unit_tests() {
    let rules = repo("deploy/prometheus/pwresetd-alerts.yml");
    let (ok, out) = promtool(&["check", "rules", rules.to_str().unwrap()], None);
    assert!(ok, "{out}");
    assert!(out.contains("SUCCESS: 7 rules found"), "{out}");
    let tests = repo("tests/prometheus/pwresetd-alerts.test.yml");
    let (ok, out) = promtool(&["test", "rules", tests.to_str().unwrap()], None);
    assert!(ok, "{out}");
    // The folder holds the one rules file the package ships.
    let files: Vec<_> = std::fs::read_dir(repo("deploy/prometheus"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files, ["pwresetd-alerts.yml"]);
}

/// The dashboard's queries, each with its panel's title.
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("deploy/grafana/pwresetd.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "pwresetd");
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut queries = Vec::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap().to_owned();
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "duplicate id in {title}");
        let grid = &panel["gridPos"];
        let right = grid["x"].as_u64().unwrap() + grid["w"].as_u64().unwrap();
        assert!(right <= 24, "{title} is wider than the dashboard");
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title} has no query");
        for t in targets {
            queries.push((title.clone(), t["expr"].as_str().unwrap().to_owned()));
        }
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(q) = var["query"]["query"].as_str() {
            queries.push((format!("variable {}", var["name"]), q.to_owned()));
        }
    }
    assert!(queries.len() >= 15, "{queries:?}");
    queries
}

#[test]
fn dashboard_is_valid_json_whose_queries_promtool_parses() {
    // Each query as a recording rule: `promtool check rules` parses its PromQL. The template
    // variables become "match anything"; a variable's label_values() is Grafana's, not PromQL.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (title, expr)) in dashboard_queries().iter().enumerate() {
        if expr.starts_with("label_values(") {
            continue;
        }
        let expr = expr.replace("$instance", ".*").replace("$campaign", ".*");
        assert!(!expr.contains('$'), "{title}: unknown variable in {expr}");
        // A JSON string is a YAML double-quoted scalar.
        let quoted = serde_json::to_string(&expr).unwrap();
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-queries.yml");
    std::fs::write(&file, &rules).unwrap();
    let (ok, out) = promtool(&["check", "rules", file.to_str().unwrap()], None);
    assert!(ok, "{out}\n{rules}");
}

fn sections(f: &Fixture, admin: u16, portal: u16) -> String {
    format!(
        r#"
[portal]
listen = "127.0.0.1:{portal}"
public_url = "http://127.0.0.1:{portal}"

[daemon]
admin_listen = "127.0.0.1:{admin}"
notify_interval = "1s"
reconcile_interval = "1s"

[mail]
transport = "file"
spool_dir = "{spool}"
from = "IT Security <it-security@example.org>"
"#,
        spool = f.dir.path().join("spool").display()
    )
}

/// Names in an exposition: each family's (HELP lines) and each sample's.
fn exported(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter_map(|l| match l.strip_prefix("# HELP ") {
            Some(help) => help.split(' ').next(),
            None if l.starts_with('#') => None,
            None => l.split(['{', ' ']).next(),
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn live_metrics_pass_promtool_and_export_what_rules_and_dashboard_use() {
    let f = Fixture::new("monitoring", &[User::new("mon1"), User::new("mon2")]).await;
    let (admin, portal) = (free_port(), free_port());
    f.append_config(&sections(&f, admin, portal));
    let deadline = (Utc::now() + chrono::Duration::hours(2)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let out = f.run(&[
        "campaign",
        "start",
        "--name",
        "mon",
        "--reason",
        "Drill",
        "--deadline",
        &deadline,
        "--yes",
    ]);
    assert!(out.status.success(), "{}", text(&out));

    let mut d = Daemon::start(&f.config, admin, portal);
    assert!(
        d.wait_notification("READY=1", Duration::from_secs(30)).is_some(),
        "{}",
        d.log_text()
    );
    // The worker has published the campaign's counts once STATUS names it.
    assert!(
        d.wait_notification("STATUS=mon: ", Duration::from_secs(30)).is_some(),
        "{}",
        d.log_text()
    );
    let (status, _) = get(&format!("http://127.0.0.1:{portal}/reset/not-a-token")).await;
    assert!(status >= 400, "{status}");

    // Nothing has asked /readyz: the scrape itself says whether the instance is ready.
    let (status, metrics) = d.admin_get("/metrics").await;
    assert_eq!(status, 200, "{metrics}");
    assert!(metrics.contains("\npwresetd_ready 1\n"), "{metrics}");
    assert!(
        metrics.contains(&format!(
            "pwresetd_campaign_deadline_timestamp_seconds{{campaign=\"mon\"}} {}",
            chrono::DateTime::parse_from_rfc3339(&deadline).unwrap().timestamp()
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("pwresetd_accounts{campaign=\"mon\",state=\"marked\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("pwresetd_http_requests_total{listener=\"portal\""),
        "{metrics}"
    );

    let (ok, out) = promtool(&["check", "metrics"], Some(&metrics));
    assert!(ok && out.trim().is_empty(), "promtool check metrics:\n{out}\n{metrics}");

    let names = exported(&metrics);
    let rules = std::fs::read_to_string(repo("deploy/prometheus/pwresetd-alerts.yml")).unwrap();
    let dashboard = std::fs::read_to_string(repo("deploy/grafana/pwresetd.json")).unwrap();
    let used: BTreeSet<String> = metric_names(&rules)
        .into_iter()
        .chain(metric_names(&dashboard))
        .collect();
    assert!(used.len() >= 9, "{used:?}");
    for name in &used {
        assert!(
            names.contains(name),
            "{name} is used but not exported; exported: {names:?}"
        );
    }
}

#[test]
fn metric_names_are_found_in_queries_and_not_in_paths() {
    let found = metric_names(
        "sum by (le) (rate(pwresetd_directory_operation_seconds_bucket{x=\"1\"}[5m])) \
         /usr/share/doc/pwresetd/examples/pwresetd-alerts.yml absent(pwresetd_ready == 1)",
    );
    let found: Vec<&str> = found.iter().map(String::as_str).collect();
    assert_eq!(found, ["pwresetd_directory_operation_seconds_bucket", "pwresetd_ready"]);
}
