//! Bad input and unavailable servers: clear messages and the documented exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

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
    assert_exit(&out, 0, &["valid", "bound as cn=pwadmin", "store"]);
    assert!(!text(&out).contains("WARNING"), "{}", text(&out));
    set(&f, "url", &format!("\"{}\"", common::slapd().ldaps_url()));
    assert_exit(&f.run(&["check-config"]), 0, &["Ldaps"]);
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

/// A file `serve` loads at start-up (here a broken mail template) stops `check-config` and
/// `serve` alike with exit 64 and the same message naming the file and line — before the
/// directory is contacted (it is unreachable here) and before any port is bound.
#[tokio::test]
async fn a_broken_start_up_file_exits_64_for_serve_and_check_config() {
    let f = Fixture::new("startup", &[]).await;
    let templates = f.dir.path().join("templates");
    std::fs::create_dir_all(templates.join("en")).unwrap();
    std::fs::write(
        templates.join("en/notice.txt"),
        "Subject: hi\n\n{{ link }\nline three\n",
    )
    .unwrap();
    f.append_config(&format!(
        "[mail]\ntransport = \"file\"\nspool_dir = \"{}\"\nfrom = \"pwresetd <pwresetd@example.org>\"\ntemplates_dir = \"{}\"\n",
        f.dir.path().join("spool").display(),
        templates.display()
    ));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    set(&f, "url", &format!("\"ldap://127.0.0.1:{port}\""));
    let check = f.run(&["check-config"]);
    assert_exit(&check, 64, &["mail templates", "notice.txt", "line"]);
    let started = std::time::Instant::now();
    let serve = f.run(&["serve"]);
    assert_exit(&serve, 64, &["mail templates", "notice.txt", "line"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "serve waited for the directory"
    );
    let error_line = |out: &std::process::Output| {
        text(out)
            .lines()
            .find(|l| l.starts_with("error:"))
            .map(str::to_owned)
            .unwrap()
    };
    assert_eq!(error_line(&check), error_line(&serve));
}
