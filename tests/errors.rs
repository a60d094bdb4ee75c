//! Bad input and unavailable servers: clear messages and the documented exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use common::smtp::SmtpServer;
use common::{Fixture, User, text};

fn assert_exit(out: &std::process::Output, code: i32, fragments: &[&str]) {
    let t = text(out);
    assert_eq!(out.status.code(), Some(code), "{t}");
    for f in fragments {
        assert!(t.contains(f), "missing {f:?} in:\n{t}");
    }
}

#[tokio::test]
async fn check_config_succeeds_over_starttls_and_ldaps() {
    let f = Fixture::new("check", &[User::new("c1")]).await;
    let out = f.run(&["check-config"]);
    assert_exit(
        &out,
        0,
        &[
            "✓ configuration:",
            "valid",
            "✓ store schema: version",
            "bound as cn=pwadmin",
            "over StartTLS",
            "✓ scope: 1 account in scope",
            "✓ directory policy: the mark takes effect",
            // cn=default: pwdLockout TRUE, pwdMaxFailure 5, pwdFailureCountInterval 300.
            "✓ lockout budget: 3 failed password bind(s) per account within 5m",
            "the directory locks on failure 5 (pwdLockout/pwdMaxFailure of",
            "✓ mail spool:",
            "check-config: all",
        ],
    );
    let flagged: Vec<&str> = std::str::from_utf8(&out.stdout)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('!') || l.starts_with('✗'))
        .collect();
    assert!(flagged.is_empty(), "{}", text(&out));
    // The default spool folder does not exist yet: it can be created, and was not.
    assert!(text(&out).contains("not there yet"), "{}", text(&out));
    assert!(
        !f.dir.path().join("mail-spool").exists(),
        "check-config created the spool folder"
    );
    // It binds no listening port: it runs beside a live service holding both.
    let portal = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let admin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    f.append_config(&format!(
        "[portal]\nlisten = \"{}\"\n\n[daemon]\nadmin_listen = \"{}\"\n",
        portal.local_addr().unwrap(),
        admin.local_addr().unwrap()
    ));
    let beside = f.run(&["check-config"]);
    assert_exit(
        &beside,
        0,
        &[&format!("plain HTTP on {}", portal.local_addr().unwrap())],
    );
    set(&f, "url", &format!("\"{}\"", common::slapd().ldaps_url()));
    assert_exit(&f.run(&["check-config"]), 0, &["over ldaps"]);
}

/// `--json`: one object per check, `{check, status, message, fix}`, with a fix exactly where
/// something is wrong; printed on failures too.
#[tokio::test]
async fn check_config_json_lists_every_check() {
    let f = Fixture::new("checkjson", &[User::new("j1")]).await;
    let fields = |v: &serde_json::Value| {
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        keys == ["check", "fix", "message", "status"]
    };
    let out = f.run(&["check-config", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let checks = common::json(&out);
    let checks = checks.as_array().unwrap();
    assert!(checks.iter().all(fields), "{checks:?}");
    assert!(
        checks.iter().all(|c| c["status"] == "ok" && c["fix"].is_null()),
        "{checks:?}"
    );
    let names: Vec<&str> = checks.iter().map(|c| c["check"].as_str().unwrap()).collect();
    for name in [
        "configuration",
        "store",
        "mail templates",
        "directory",
        "scope",
        "directory policy",
        "lockout budget",
        "mail spool",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let scope = checks.iter().find(|c| c["check"] == "scope").unwrap();
    assert!(
        scope["message"].as_str().unwrap().starts_with("1 account in scope"),
        "{scope}"
    );

    f.append_config(&format!(
        "[policy]\ndenylist_file = \"{}\"\n",
        f.dir.path().join("missing-words.txt").display()
    ));
    let out = f.run(&["check-config", "--json"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    let checks = common::json(&out);
    let last = checks.as_array().unwrap().last().unwrap().clone();
    assert!(fields(&last), "{last}");
    assert_eq!(last["status"], "fail", "{last}");
    assert_eq!(last["check"], "password policy", "{last}");
    assert!(
        last["message"].as_str().unwrap().contains("missing-words.txt"),
        "{last}"
    );
    assert!(last["fix"].as_str().unwrap().contains("policy.denylist_file"), "{last}");
}

/// Replaces one `key = value` line of the fixture's config.
fn set(f: &Fixture, key: &str, value: &str) {
    let toml = std::fs::read_to_string(&f.config).unwrap();
    let mut out: Vec<String> = toml
        .lines()
        .filter(|l| !l.starts_with(&format!("{key} =")))
        .map(str::to_owned)
        .collect();
    let at = out.iter().position(|l| l == "[directory]").unwrap() + 1;
    out.insert(at, format!("{key} = {value}"));
    std::fs::write(&f.config, out.join("\n")).unwrap();
}

#[tokio::test]
async fn unavailable_directory_exits_69_naming_url_and_answer() {
    let f = Fixture::new("unavail", &[]).await;
    let s = common::slapd();

    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    set(&f, "url", &format!("\"ldap://127.0.0.1:{port}\""));
    assert_exit(
        &f.run(&["check-config"]),
        69,
        &[&format!("ldap://127.0.0.1:{port}"), "cannot connect"],
    );

    // Wrong CA: the handshake fails, for StartTLS and for ldaps.
    set(&f, "url", &format!("\"{}\"", s.url()));
    set(&f, "ca_file", &format!("\"{}\"", s.get("LDAP_OTHER_CA_FILE")));
    assert_exit(
        &f.run(&["check-config"]),
        69,
        &["TLS handshake", s.url(), "directory.ca_file"],
    );
    set(&f, "url", &format!("\"{}\"", s.ldaps_url()));
    assert_exit(&f.run(&["check-config"]), 69, &["TLS handshake", s.ldaps_url()]);

    // Bad bind password.
    set(&f, "url", &format!("\"{}\"", s.url()));
    set(&f, "ca_file", &format!("\"{}\"", s.get("LDAP_CA_FILE")));
    let wrong = f.dir.path().join("wrong-password");
    std::fs::write(&wrong, format!("{}\n", common::artifacts::NOT_THE_PASSWORD)).unwrap();
    set(&f, "bind_password_file", &format!("\"{}\"", wrong.display()));
    assert_exit(
        &f.run(&["check-config"]),
        69,
        &["bind as cn=pwadmin", "invalidCredentials (49)", s.url()],
    );
    // And a campaign cannot start: nothing recorded.
    let out = f.run(&[
        "campaign",
        "start",
        "--name",
        "x",
        "--reason",
        "r",
        "--deadline",
        "2099-01-01T00:00:00Z",
        "--yes",
    ]);
    assert_exit(&out, 69, &["invalidCredentials"]);
    let list = f.run(&["campaign", "list"]);
    assert_exit(&list, 0, &["No campaigns."]);
}

#[tokio::test]
async fn invalid_configuration_exits_64_naming_the_key() {
    let f = Fixture::new("badcfg", &[]).await;
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "user_filter",
            "\"(objectClass=inetOrgPerson\"",
            &["directory.user_filter", "malformed LDAP filter"],
        ),
        (
            "base_dn",
            "\"ou=people,,dc=example\"",
            &["directory.base_dn", "malformed DN"],
        ),
        ("starttls", "false", &["directory.url", "in clear", "allow_insecure"]),
        ("bind_password", "\"secret\"", &["directory.bind_password", "refused"]),
        ("flavor", "\"novell\"", &["directory.flavor", "unknown flavor"]),
    ];
    for (key, value, fragments) in cases {
        let original = std::fs::read_to_string(&f.config).unwrap();
        set(&f, key, value);
        assert_exit(&f.run(&["check-config"]), 64, fragments);
        assert_exit(&f.run(&["campaign", "plan"]), 64, fragments);
        std::fs::write(&f.config, original).unwrap();
    }
    let missing = common::pwresetd(std::path::Path::new("/nonexistent/pwresetd.toml"), &["check-config"]);
    assert_exit(&missing, 64, &["/nonexistent/pwresetd.toml"]);
}

/// Each file `serve` loads at start-up (a broken mail template, a missing word list, a file that
/// is no breached-password index, a TLS key that is no key, a broken API tokens file, a spool
/// folder that cannot be created) stops `check-config` and `serve` alike with exit 64 and the
/// same message naming the file — before the directory is contacted (it is unreachable here)
/// and before any port is bound. `check-config` adds the fix.
#[tokio::test]
async fn a_broken_start_up_file_exits_64_for_serve_and_check_config() {
    let f = Fixture::new("startup", &[]).await;
    let dir = f.dir.path();
    let templates = dir.join("templates");
    std::fs::create_dir_all(templates.join("en")).unwrap();
    std::fs::write(
        templates.join("en/notice.txt"),
        "Subject: hi\n\n{{ link }\nline three\n",
    )
    .unwrap();
    std::fs::write(dir.join("not-an-index"), "0123456789").unwrap();
    std::fs::write(dir.join("key.pem"), "-----BEGIN NOTHING-----\n").unwrap();
    std::fs::write(dir.join("tokens"), "not a token line\n").unwrap();
    let mail =
        |extra: &str| format!("[mail]\ntransport = \"file\"\nfrom = \"pwresetd <pwresetd@example.org>\"\n{extra}\n");
    let cases: Vec<(String, &str, &[&str])> = vec![
        (
            mail(&format!(
                "spool_dir = \"{}\"\ntemplates_dir = \"{}\"",
                dir.join("spool").display(),
                templates.display()
            )),
            "mail templates",
            &["notice.txt", "line"],
        ),
        (
            format!(
                "[policy]\ndenylist_file = \"{}\"\n",
                dir.join("missing-words.txt").display()
            ),
            "password policy",
            &["missing-words.txt", "No such file"],
        ),
        (
            format!(
                "[policy]\nbreached_index = \"{}\"\n",
                dir.join("not-an-index").display()
            ),
            "password policy",
            &["not-an-index", "is not a breached-password index"],
        ),
        (
            format!(
                "[portal]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
                common::slapd().get("LDAP_CA_FILE"),
                dir.join("key.pem").display()
            ),
            "portal",
            &["portal.tls_key", "key.pem"],
        ),
        (
            format!("[helpdesk]\napi_tokens_file = \"{}\"\n", dir.join("tokens").display()),
            "helpdesk",
            &["helpdesk.api_tokens_file", "line 1"],
        ),
        // sysfs takes no new folder, even from root.
        (
            mail("spool_dir = \"/sys/pwresetd-spool\""),
            "mail transport",
            &["mail.spool_dir", "/sys/pwresetd-spool"],
        ),
    ];
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    set(&f, "url", &format!("\"ldap://127.0.0.1:{port}\""));
    let original = std::fs::read_to_string(&f.config).unwrap();
    for (section, check_name, fragments) in cases {
        std::fs::write(&f.config, format!("{original}\n{section}")).unwrap();
        let check = f.run(&["check-config"]);
        let failed = format!("✗ {check_name}:");
        let mut want = fragments.to_vec();
        want.extend([failed.as_str(), "fix: "]);
        assert_exit(&check, 64, &want);
        assert!(
            !text(&check).contains("bound as"),
            "the directory was contacted: {}",
            text(&check)
        );
        let started = std::time::Instant::now();
        let serve = f.run(&["serve"]);
        assert_exit(&serve, 64, fragments);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "serve waited for the directory"
        );
        // The same message: `error: <check>: <message>` for serve, `✗ <check>: <message>` here.
        let serve_error = text(&serve)
            .lines()
            .find_map(|l| l.strip_prefix("error: ").map(str::to_owned))
            .unwrap();
        let check_line = text(&check)
            .lines()
            .find_map(|l| l.strip_prefix("✗ ").map(str::to_owned))
            .unwrap();
        assert_eq!(serve_error, check_line);
    }
    assert!(!dir.join("spool").exists(), "a spool folder was created");
}

/// The mail server is checked as a send opens it (TCP, STARTTLS, AUTH), then left with QUIT:
/// nothing is sent. A closed port and refused credentials are server failures (exit 69), each
/// with its fix; the directory's checks run all the same.
#[tokio::test]
async fn check_config_opens_a_mail_session_and_sends_nothing() {
    let f = Fixture::new("checkmail", &[User::new("m1")]).await;
    let original = std::fs::read_to_string(&f.config).unwrap();
    let server = SmtpServer::start(&["--tls", "--require-starttls", "--auth", "pwresetd:{dir}/smtp-password"]);
    let wrong = f.dir.path().join("wrong-smtp-password");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let with_mail = |url: &str, password: &std::path::Path| {
        let mail = format!(
            "[mail]\ntransport = \"smtp\"\nsmtp_url = \"{url}\"\nca_file = \"{}\"\nusername = \"pwresetd\"\n\
             password_file = \"{}\"\nfrom = \"IT <it@example.org>\"\ntimeout = \"10s\"\n",
            server.ca_file().display(),
            password.display()
        );
        std::fs::write(&f.config, format!("{original}\n{mail}")).unwrap();
    };

    with_mail(server.url(), &server.password_file());
    let out = f.run(&["check-config"]);
    assert_exit(&out, 0, &["✓ mail server:", "STARTTLS, AUTH", "QUIT; nothing sent"]);
    assert!(server.messages().is_empty(), "check-config sent a message");

    with_mail(server.url(), &wrong);
    let out = f.run(&["check-config"]);
    assert_exit(
        &out,
        69,
        &[
            "✗ mail server:",
            "authentication refused",
            "535",
            "fix: correct mail.username",
            "✓ scope:",
        ],
    );

    let closed = common::free_port();
    with_mail(&format!("smtp://127.0.0.1:{closed}"), &server.password_file());
    let out = f.run(&["check-config"]);
    assert_exit(
        &out,
        69,
        &[
            &format!("✗ mail server: 127.0.0.1:{closed}"),
            "Connection refused",
            "fix: start the mail server",
        ],
    );
    assert!(server.messages().is_empty(), "check-config sent a message");
}
