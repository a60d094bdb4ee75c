//! `pwresetd serve` as systemd runs it: readiness, status, mails, SIGHUP, enforcement, SIGTERM,
//! and a directory outage.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use common::daemon::Daemon;
use common::{Fixture, USER_PASSWORD, User, eventually, free_port, json, text};
use ldap3::Mod;

fn sections(f: &Fixture, admin: u16, portal: u16, extra_mail: &str) -> String {
    let spool = f.dir.path().join("spool");
    format!(
        r#"
[campaign]
reminders = ["59m45s"]

[portal]
listen = "127.0.0.1:{portal}"
public_url = "http://127.0.0.1:{portal}"

[daemon]
admin_listen = "127.0.0.1:{admin}"
reconcile_interval = "1s"
notify_interval = "1s"
shutdown_grace = "5s"

[mail]
transport = "file"
spool_dir = "{spool}"
from = "IT Security <it-security@example.org>"
{extra_mail}
"#,
        spool = spool.display()
    )
}

fn mails(dir: &Path) -> Vec<String> {
    let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .map(|e| (e.path(), std::fs::read_to_string(e.path()).unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.into_iter().map(|(_, t)| t).collect()
}

/// The served daemon: its fixture, the process, its portal port, templates directory and spool.
struct Served {
    f: Fixture,
    d: Daemon,
    portal: u16,
    tpl: PathBuf,
    spool: PathBuf,
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_notifies_reloads_enforces_and_stops_cleanly() {
    let mut s = ready_and_healthy_after_a_campaign_start().await;
    let notices = notices_carry_one_time_links_to_this_portal(&s).await;
    the_flag_and_the_password_are_enforced(&mut s).await;
    let good = a_broken_reload_keeps_the_running_configuration(&s).await;
    a_reload_brings_a_new_template_and_a_stricter_policy(&s, &notices, &good).await;
    let metrics = s.d.admin_get("/metrics").await.1;
    for needle in [
        "pwresetd_mails_total{result=\"sent\"} 3",
        "pwresetd_marks_total 1",
        "pwresetd_accounts{campaign=\"dmn\",state=\"completed\"} 1",
    ] {
        assert!(metrics.contains(needle), "missing {needle} in\n{metrics}");
    }
    sigterm_stops_cleanly_leaving_nothing_half_done(&mut s).await;
}

/// d1, d2 and nomail (no address), a campaign started from the CLI, then `serve`: READY=1,
/// /healthz and /readyz, a STATUS with progress.
async fn ready_and_healthy_after_a_campaign_start() -> Served {
    let users = [
        User::new("d1"),
        User::new("d2"),
        User {
            mail: vec![],
            ..User::new("nomail")
        },
    ];
    let f = Fixture::new("daemon", &users).await;
    let (admin, portal) = (free_port(), free_port());
    let tpl = f.dir.path().join("templates");
    f.append_config(&sections(
        &f,
        admin,
        portal,
        &format!("templates_dir = \"{}\"", tpl.display()),
    ));
    std::fs::create_dir_all(tpl.join("en")).unwrap();
    let deadline = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    let out = f.run(&[
        "campaign",
        "start",
        "--name",
        "dmn",
        "--reason",
        "Intrusion",
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
    assert_eq!(d.admin_get("/healthz").await.0, 200);
    assert_eq!(d.admin_get("/readyz").await, (200, "ready\n".into()));
    let status = d
        .wait_notification("STATUS=dmn: ", Duration::from_secs(15))
        .expect("a STATUS with progress");
    assert_eq!(status, "STATUS=dmn: 0/3 changed");
    let spool = f.dir.path().join("spool");
    Served {
        f,
        d,
        portal,
        tpl,
        spool,
    }
}

/// One per account with an address, with a one-time link to this portal; the account without
/// one is marked all the same. The notices.
async fn notices_carry_one_time_links_to_this_portal(s: &Served) -> Vec<String> {
    let notices = eventually("two notices", Duration::from_secs(20), async || {
        let m = mails(&s.spool);
        (m.len() >= 2).then_some(m)
    })
    .await;
    assert_eq!(notices.len(), 2);
    assert!(
        notices
            .iter()
            .all(|m| m.contains(&format!("http://127.0.0.1:{}/reset/", s.portal)))
    );
    let account = json(&s.f.run(&["account", "nomail", "--json"]));
    assert_eq!(account["campaigns"][0]["state"], "marked");
    notices
}

/// A flag removed behind pwresetd's back comes back; a password changed in the directory
/// completes the account, and STATUS says so.
async fn the_flag_and_the_password_are_enforced(s: &mut Served) {
    let f = &s.f;
    let mut admin_ldap = common::admin().await;
    let res = admin_ldap
        .modify(&f.dn("d1"), vec![Mod::Delete("pwdReset", HashSet::<&str>::new())])
        .await
        .unwrap();
    assert_eq!(res.rc, 0);
    let mut user = common::bind(&f.dn("d2"), USER_PASSWORD).await.unwrap();
    let exop = ldap3::exop::PasswordModify {
        user_id: None,
        old_pass: Some(USER_PASSWORD),
        new_pass: Some("another long passphrase 9"),
    };
    assert_eq!(user.extended(exop).await.unwrap().1.rc, 0);
    eventually("reconciliation", Duration::from_secs(20), async || {
        let s = json(&f.run(&["campaign", "status", "dmn", "--json"]));
        (s["completed"] == 1 && f.flagged().await.contains(&f.dn("d1"))).then_some(())
    })
    .await;
    s.d.wait_notification("STATUS=dmn: 1/3 changed", Duration::from_secs(15))
        .expect("progress in STATUS");
}

/// SIGHUP with a broken configuration: logged, the running one kept. The good configuration.
async fn a_broken_reload_keeps_the_running_configuration(s: &Served) -> String {
    let good = std::fs::read_to_string(&s.f.config).unwrap();
    std::fs::write(&s.f.config, "[directory\nbroken").unwrap();
    s.d.signal("HUP");
    eventually("the refusal in the log", Duration::from_secs(10), async || {
        s.d.log_text()
            .contains("invalid new configuration, keeping the running one")
            .then_some(())
    })
    .await;
    assert_eq!(
        s.d.admin_get("/readyz").await.0,
        200,
        "still serving after a bad reload"
    );
    good
}

/// The 43-character token of the first reset link to `portal` in a mail.
fn reset_token(mail: &str, portal: u16) -> String {
    mail.split(&format!("http://127.0.0.1:{portal}/reset/")).nth(1).unwrap()[..43].to_owned()
}

/// SIGHUP with a changed template: the next mail (d1's reminder, due 15 s after the start)
/// uses it. d2 completed: no reminder for it. The same reload brings a stricter policy to the
/// portal's forms.
async fn a_reload_brings_a_new_template_and_a_stricter_policy(s: &Served, notices: &[String], good: &str) {
    let portal = s.portal;
    let d1_notice = notices.iter().find(|m| m.contains("d1@example.org")).unwrap();
    let link = reset_token(d1_notice, portal);
    let form = format!("http://127.0.0.1:{portal}/reset/{link}");
    assert!(common::daemon::get(&form).await.1.contains("At least 15 characters"));
    std::fs::write(&s.f.config, format!("{good}\n[policy]\nmin_length = 20\n")).unwrap();
    std::fs::write(
        s.tpl.join("en/reminder.txt"),
        "Subject: RELOADED reminder\n\nHello {{ display_name }},\n{{ link }}\n",
    )
    .unwrap();
    s.d.signal("HUP");
    eventually("the reload", Duration::from_secs(10), async || {
        s.d.log_text().contains("configuration reloaded").then_some(())
    })
    .await;
    let reminder = eventually("the reminder", Duration::from_secs(40), async || {
        mails(&s.spool)
            .into_iter()
            .find(|m| m.contains("Subject:") && m.contains("RELOADED"))
    })
    .await;
    assert!(reminder.contains("d1@example.org"), "{reminder}");
    // The reminder's link replaced the notice's: its form shows the reloaded rules.
    let fresh = reset_token(&reminder, portal);
    let page = common::daemon::get(&format!("http://127.0.0.1:{portal}/reset/{fresh}")).await;
    assert_eq!(page.0, 200, "{}", page.1);
    assert!(page.1.contains("At least 20 characters"), "policy reloaded: {}", page.1);
    assert_eq!(
        common::daemon::get(&form).await.0,
        410,
        "the notice's link was replaced"
    );
}

/// SIGTERM: STOPPING, clean exit, nothing left half-done in the store.
async fn sigterm_stops_cleanly_leaving_nothing_half_done(s: &mut Served) {
    let d = &mut s.d;
    d.signal("TERM");
    assert!(
        d.wait_notification("STOPPING=1", Duration::from_secs(10)).is_some(),
        "{}",
        d.log_text()
    );
    assert_eq!(d.wait_exit(Duration::from_secs(15)), Some(0), "{}", d.log_text());
    assert!(d.log_text().contains("stopped cleanly"), "{}", d.log_text());
    let conn = rusqlite::Connection::open(s.f.store_path()).unwrap();
    let unfinished: i64 = conn
        .query_row("SELECT COUNT(*) FROM notifications WHERE state = 'sending'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(unfinished, 0);
    let no_address: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM notifications WHERE state = 'no_address'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(no_address, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn not_ready_before_the_first_bind() {
    let f = Fixture::new("notready", &[]).await;
    let (admin, portal) = (free_port(), free_port());
    let dead = free_port();
    let toml = std::fs::read_to_string(&f.config)
        .unwrap()
        .replace(common::slapd().url(), &format!("ldap://127.0.0.1:{dead}"));
    std::fs::write(&f.config, toml).unwrap();
    f.append_config(&sections(&f, admin, portal, ""));
    let mut d = Daemon::start(&f.config, admin, portal);
    let status = d.wait_notification("STATUS=waiting for the directory", Duration::from_secs(15));
    assert!(status.is_some(), "{:?} {}", d.notifications, d.log_text());
    assert!(!d.notifications.iter().any(|n| n == "READY=1"));
    assert!(d.wait_notification("READY=1", Duration::from_secs(3)).is_none());
    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(10)), Some(0), "{}", d.log_text());
}

/// A slapd of this test's own, on fixed ports so that it can be stopped and started again.
struct PrivateSlapd {
    dir: tempfile::TempDir,
    ports: (u16, u16),
    env: HashMap<String, String>,
}

impl PrivateSlapd {
    fn script(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts").join(name)
    }

    fn start(users: usize) -> PrivateSlapd {
        let dir = common::artifacts::tempdir();
        let ports = (free_port(), free_port());
        let mut s = PrivateSlapd {
            dir,
            ports,
            env: HashMap::new(),
        };
        s.run(&["--users", &users.to_string()]);
        s.env = common::read_env(&s.path().join("env"));
        s
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("slapd")
    }

    fn run(&self, args: &[&str]) {
        let out = Command::new(Self::script("slapd-start"))
            .arg(self.path())
            .args(args)
            .env("LDAP_PORT", self.ports.0.to_string())
            .env("LDAPS_PORT", self.ports.1.to_string())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    /// Stops slapd, keeping its data.
    fn stop(&self) {
        let pid = std::fs::read_to_string(&self.env["SLAPD_PID_FILE"]).unwrap();
        Command::new("kill").arg(pid.trim()).status().unwrap();
        let started = Instant::now();
        while Path::new(&format!("/proc/{}", pid.trim())).exists() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PrivateSlapd {
    fn drop(&mut self) {
        let _ = Command::new(Self::script("slapd-stop")).arg(self.path()).output();
    }
}

/// The config for a private slapd with 60 users, marked 4 a second, mails to a spool.
fn outage_config(slapd: &PrivateSlapd, work: &Path, admin: u16, portal: u16) -> PathBuf {
    let e = &slapd.env;
    let config = work.join("pwresetd.toml");
    std::fs::write(
        &config,
        format!(
            r#"[directory]
url = "{url}"
ca_file = "{ca}"
bind_dn = "{bind_dn}"
bind_password_file = "{pw}"
base_dn = "{people}"
user_filter = "(&(objectClass=inetOrgPerson)(uid=user*))"
default_policy_dn = "{policy}"
max_ops_per_second = 4

[store]
path = "{store}"

[portal]
listen = "127.0.0.1:{portal}"

[daemon]
admin_listen = "127.0.0.1:{admin}"

[mail]
transport = "file"
spool_dir = "{spool}"
from = "it@example.org"
"#,
            url = e["LDAP_URL"],
            ca = e["LDAP_CA_FILE"],
            bind_dn = e["LDAP_BIND_DN"],
            pw = e["LDAP_BIND_PASSWORD_FILE"],
            people = e["LDAP_PEOPLE_DN"],
            policy = e["LDAP_POLICY_DN"],
            store = work.join("state.db").display(),
            spool = work.join("spool").display(),
        ),
    )
    .unwrap();
    config
}

/// Starts marking from the CLI, slowly, and kills it: the daemon must pick the campaign up.
fn start_a_slow_campaign_and_kill_it(config: &Path) {
    let mut cli = Command::new(env!("CARGO_BIN_EXE_pwresetd"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "campaign",
            "start",
            "--name",
            "out",
            "--reason",
            "r",
        ])
        .args(["--deadline", "2099-01-01T00:00:00Z", "--yes"])
        .stdout(std::process::Stdio::null())
        .stderr(common::artifacts::stderr_file("campaign-start"))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    cli.kill().unwrap();
    cli.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn directory_outage_makes_it_unready_then_it_recovers_and_finishes_marking() {
    let slapd = PrivateSlapd::start(60);
    let work = common::artifacts::tempdir();
    let (admin, portal) = (free_port(), free_port());
    let config = outage_config(&slapd, work.path(), admin, portal);
    start_a_slow_campaign_and_kill_it(&config);

    let mut d = Daemon::start(&config, admin, portal);
    assert!(
        d.wait_notification("READY=1", Duration::from_secs(30)).is_some(),
        "{}",
        d.log_text()
    );
    assert_eq!(d.admin_get("/readyz").await.0, 200);

    slapd.stop();
    let down = Instant::now();
    eventually("/readyz to fail", Duration::from_secs(20), async || {
        (d.admin_get("/readyz").await.0 == 503).then_some(())
    })
    .await;
    while down.elapsed() < Duration::from_secs(30) {
        assert!(
            d.child.try_wait().unwrap().is_none(),
            "the daemon died: {}",
            d.log_text()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    slapd.run(&["--start-only"]);
    eventually("/readyz to recover", Duration::from_secs(30), async || {
        (d.admin_get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    let status = eventually("marking to finish", Duration::from_secs(60), async || {
        let out = common::pwresetd(&config, &["campaign", "status", "out", "--json"]);
        let s = json(&out);
        (s["state"] == "active").then_some(s)
    })
    .await;
    assert_eq!(status["marked"], 60, "{status}");
    assert_eq!(status["failed"], 0, "{status}");
    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(15)), Some(0), "{}", d.log_text());
}
