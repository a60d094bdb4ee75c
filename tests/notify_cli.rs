//! `pwresetd mail test` end to end: the real binary, a config file, the capture server.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::path::{Path, PathBuf};

use common::smtp::SmtpServer;
use common::{pwresetd, text};

/// A config whose [directory] validates without a server (mail test never binds) plus `mail`.
fn config(dir: &Path, mail: &str) -> PathBuf {
    std::fs::write(dir.join("bind-password"), "unused\n").unwrap();
    let path = dir.join("pwresetd.toml");
    std::fs::write(
        &path,
        format!(
            "[directory]\nurl = \"ldap://127.0.0.1:9\"\nbind_dn = \"cn=x,dc=example,dc=org\"\n\
             bind_password_file = \"bind-password\"\nbase_dn = \"dc=example,dc=org\"\n\n\
             [store]\npath = \"state.db\"\n\n[mail]\n{mail}\n"
        ),
    )
    .unwrap();
    path
}

fn smtp_mail(server: &SmtpServer) -> String {
    format!(
        "transport = \"smtp\"\nsmtp_url = \"{}\"\nstarttls = false\nallow_insecure = true\n\
         from = \"IT Security <it-security@example.org>\"\nretry_initial = \"50ms\"\nmax_attempts = 2\n\
         timezone = \"Europe/Paris\"",
        server.url()
    )
}

#[test]
fn mail_test_sends_the_sample_and_prints_the_message_id() {
    let server = SmtpServer::start(&[]);
    let dir = common::artifacts::tempdir();
    let cfg = config(dir.path(), &smtp_mail(&server));
    let out = pwresetd(
        &cfg,
        &[
            "mail",
            "test",
            "--to",
            "me@example.org",
            "--template",
            "reminder",
            "--language",
            "fr-CA",
        ],
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    let captured = server.messages();
    assert_eq!(captured.len(), 1, "{said}");
    let mail = captured[0].parse();
    let id = mail.header("Message-ID").unwrap();
    assert!(said.contains(&format!("Message-ID: {id}")), "{said}");
    assert!(
        said.contains(&format!("accepted by {} after 1 attempt(s): 250", server.url())),
        "{said}"
    );
    assert!(said.contains("reminder mail in fr"), "{said}");
    assert_eq!(captured[0].rcpt_tos(), ["me@example.org"]);
    assert!(
        mail.header("Subject").unwrap().starts_with("Rappel : plus que 7 jours"),
        "{:?}",
        mail.header("Subject")
    );
    assert!(
        mail.part("text/plain")
            .body
            .contains(pwresetd::notify::templates::SAMPLE_LINK)
    );
}

#[test]
fn mail_test_to_the_spool_prints_the_file() {
    let dir = common::artifacts::tempdir();
    let cfg = config(dir.path(), "spool_dir = \"outbox\"");
    let out = pwresetd(&cfg, &["mail", "test", "--to", "me@example.org"]);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox")).unwrap().collect();
    assert_eq!(files.len(), 1);
    let path = files[0].as_ref().unwrap().path();
    assert!(said.contains(&format!("written to {}", path.display())), "{said}");
    assert!(said.contains("notice mail in en"), "{said}");
}

#[test]
fn mail_test_exit_codes() {
    let server = SmtpServer::start(&["--reject-rcpt", "gone"]);
    let dir = common::artifacts::tempdir();
    let cfg = config(dir.path(), &smtp_mail(&server));
    let out = pwresetd(&cfg, &["mail", "test", "--to", "gone@example.org"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("error: refused by the mail server: 550 5.1.1 mailbox unavailable"),
        "{}",
        text(&out)
    );

    let out = pwresetd(&cfg, &["mail", "test", "--to", "not an address"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(
        text(&out).contains("error: --to: none of the account's mail values"),
        "{}",
        text(&out)
    );

    let url = server.url().to_owned();
    drop(server);
    let cfg = config(dir.path(), &smtp_mail_at(&url));
    let out = pwresetd(&cfg, &["mail", "test", "--to", "me@example.org"]);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
    assert!(
        text(&out).contains("error: not delivered after 2 attempts"),
        "{}",
        text(&out)
    );

    std::fs::create_dir_all(dir.path().join("tpl/en")).unwrap();
    std::fs::write(dir.path().join("tpl/en/notice.txt"), "Subject: x\n\n{% if %}\n").unwrap();
    let cfg = config(dir.path(), "templates_dir = \"tpl\"");
    let out = pwresetd(&cfg, &["mail", "test", "--to", "me@example.org"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(
        text(&out).contains("tpl/en/notice.txt line 3: syntax error"),
        "{}",
        text(&out)
    );
}

fn smtp_mail_at(url: &str) -> String {
    format!(
        "transport = \"smtp\"\nsmtp_url = \"{url}\"\nstarttls = false\nallow_insecure = true\n\
         from = \"it-security@example.org\"\nretry_initial = \"50ms\"\nmax_attempts = 2"
    )
}
