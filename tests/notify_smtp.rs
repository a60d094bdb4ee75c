//! Sending through SMTP against the capture server (scripts/smtp-start): message format as
//! another parser reads it, STARTTLS + AUTH with our CA, implicit TLS, retries and their limits.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::free_port;
use common::smtp::SmtpServer;
use pwresetd::notify::{
    Built, Destination, Kind, MailConfig, MailSettings, Mailer, Recipient, SendError, Templates, Vars, message,
};

/// Settings for the capture server at `url`; `edit` adds TLS, AUTH, limits…
fn settings(dir: &Path, url: &str, edit: impl FnOnce(&mut MailConfig)) -> MailSettings {
    let mut cfg = MailConfig {
        transport: "smtp".into(),
        smtp_url: Some(url.into()),
        from: Some("IT Security <it-security@example.org>".into()),
        reply_to: Some("helpdesk@example.org".into()),
        timezone: "Europe/Paris".into(),
        retry_initial: "100ms".into(),
        timeout: "5s".into(),
        ..MailConfig::default()
    };
    if url.starts_with("smtp://") {
        cfg.starttls = Some(false);
        cfg.allow_insecure = true;
    }
    edit(&mut cfg);
    cfg.validate(dir, None).unwrap_or_else(|e| panic!("{e}"))
}

fn notice(settings: &MailSettings, name: &str, addresses: &[&str]) -> Built {
    let templates = Templates::load(settings).unwrap();
    // Friday 27 November 2026: the deadline, a week later, is in "décembre" (non-ASCII subject).
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-27T09:00:00Z")
        .unwrap()
        .to_utc();
    let rendered = templates
        .render(Kind::Notice, Some("fr-FR"), &Vars::sample(now))
        .unwrap();
    let addresses: Vec<String> = addresses.iter().map(|a| a.to_string()).collect();
    message::build(
        &rendered,
        &Recipient {
            display_name: name,
            addresses: &addresses,
        },
        settings,
    )
    .unwrap()
}

fn tempdir() -> tempfile::TempDir {
    common::artifacts::tempdir()
}

#[tokio::test]
async fn captured_message_is_well_formed() {
    let server = SmtpServer::start(&[]);
    let dir = tempdir();
    let s = settings(dir.path(), server.url(), |_| {});
    let built = notice(&s, "Zoë Ångström", &["zoe@example.org", "zoe.private@example.net"]);
    let mailer = Mailer::new(&s).unwrap();
    let delivery = mailer.send(&built.message).await.unwrap();
    assert_eq!(delivery.attempts, 1);
    assert_eq!(delivery.message_id, built.message_id);
    match &delivery.destination {
        Destination::Smtp { url, reply } => {
            assert_eq!(url, server.url());
            assert!(reply.starts_with("250 2.0.0 OK queued as"), "{reply}");
        }
        other => panic!("{other:?}"),
    }

    let captured = server.messages();
    assert_eq!(captured.len(), 1);
    // Only the first mail value receives the link.
    assert_eq!(captured[0].rcpt_tos(), ["zoe@example.org"]);
    assert_eq!(captured[0].envelope["mail_from"], "it-security@example.org");
    let mail = captured[0].parse();
    assert!(mail.defects.is_empty(), "{:?}", mail.defects);
    assert_eq!(mail.header("Message-ID"), Some(built.message_id.as_str()));
    assert!(built.message_id.ends_with("@example.org>"), "{}", built.message_id);
    assert!(mail.header("Date").is_some());
    assert_eq!(mail.header("Auto-Submitted"), Some("auto-generated"));
    assert_eq!(mail.header("X-Auto-Response-Suppress"), Some("All"));
    assert_eq!(mail.header("MIME-Version"), Some("1.0"));
    assert_eq!(mail.header("Content-Language"), Some("fr"));
    assert_eq!(mail.header("From"), Some("IT Security <it-security@example.org>"));
    assert_eq!(mail.header("Reply-To"), Some("helpdesk@example.org"));
    assert_eq!(mail.header("To"), Some("Zoë Ångström <zoe@example.org>"));
    let raw_to = mail.raw_header("To").unwrap();
    assert!(
        raw_to.is_ascii() && raw_to.contains("=?utf-8?"),
        "To is not RFC 2047-encoded: {raw_to}"
    );
    assert_eq!(
        mail.header("Subject"),
        Some("Action requise : changez votre mot de passe avant le vendredi 4 décembre 2026")
    );
    assert!(mail.raw_header("Subject").unwrap().contains("=?utf-8?"));
    assert!(mail.raw_header("Subject").unwrap().is_ascii());
    assert_eq!(mail.content_type, "multipart/alternative");
    let types: Vec<&str> = mail.parts.iter().map(|p| p.content_type.as_str()).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    for part in &mail.parts {
        assert_eq!(part.charset.as_deref(), Some("utf-8"), "{}", part.content_type);
        assert!(
            part.body.contains(pwresetd::notify::templates::SAMPLE_LINK),
            "{}",
            part.content_type
        );
    }
    assert!(mail.part("text/plain").body.starts_with("Bonjour Camille Martin,"));
    assert!(mail.part("text/html").body.contains("Choisir mon nouveau mot de passe"));
}

#[tokio::test]
async fn starttls_and_auth_with_our_ca() {
    let server = SmtpServer::start(&["--tls", "--require-starttls", "--auth", "pwresetd:{dir}/smtp-password"]);
    let dir = tempdir();
    let url = server.url().replace("127.0.0.1", "localhost");
    let s = settings(dir.path(), &url, |c| {
        c.starttls = None;
        c.ca_file = Some(server.ca_file());
        c.username = Some(server.user().into());
        c.password_file = Some(server.password_file());
    });
    let mailer = Mailer::new(&s).unwrap();
    let delivery = mailer
        .send(&notice(&s, "Bob", &["bob@example.org"]).message)
        .await
        .unwrap();
    assert_eq!(delivery.attempts, 1);
    let captured = server.messages();
    assert_eq!(captured.len(), 1);
    assert_eq!(captured[0].envelope["tls"], true);
    assert_eq!(captured[0].envelope["auth_user"], "pwresetd");
}

#[tokio::test]
async fn wrong_ca_is_a_tls_error_without_retries() {
    let server = SmtpServer::start(&["--tls", "--require-starttls"]);
    let dir = tempdir();
    let s = settings(dir.path(), &server.url().replace("127.0.0.1", "localhost"), |c| {
        c.starttls = None;
        c.ca_file = Some(server.other_ca_file());
        c.retry_initial = "2s".into();
    });
    let mailer = Mailer::new(&s).unwrap();
    let start = Instant::now();
    let err = mailer
        .send(&notice(&s, "Bob", &["bob@example.org"]).message)
        .await
        .unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "retried: {:?}",
        start.elapsed()
    );
    match &err {
        SendError::Unusable { reason } => {
            assert!(reason.starts_with("TLS with localhost:"), "{reason}");
            assert!(
                reason.ends_with(": invalid peer certificate: UnknownIssuer"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn wrong_password_is_unusable_not_permanent() {
    let server = SmtpServer::start(&["--tls", "--require-starttls", "--auth", "pwresetd:{dir}/smtp-password"]);
    let dir = tempdir();
    std::fs::write(dir.path().join("wrong-password"), "not-the-password\n").unwrap();
    let s = settings(dir.path(), &server.url().replace("127.0.0.1", "localhost"), |c| {
        c.starttls = None;
        c.ca_file = Some(server.ca_file());
        c.username = Some("pwresetd".into());
        c.password_file = Some("wrong-password".into());
    });
    let mailer = Mailer::new(&s).unwrap();
    let err = mailer
        .send(&notice(&s, "Bob", &["bob@example.org"]).message)
        .await
        .unwrap_err();
    match &err {
        SendError::Unusable { reason } => {
            assert!(
                reason.ends_with(": authentication refused: 535 5.7.8 Authentication credentials invalid"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn implicit_tls() {
    let server = SmtpServer::start(&["--tls", "--implicit-tls"]);
    assert!(server.url().starts_with("smtps://"), "{}", server.url());
    let dir = tempdir();
    let s = settings(dir.path(), server.url(), |c| c.ca_file = Some(server.ca_file()));
    let mailer = Mailer::new(&s).unwrap();
    mailer
        .send(&notice(&s, "Bob", &["bob@example.org"]).message)
        .await
        .unwrap();
    let captured = server.messages();
    assert_eq!(captured.len(), 1);
    assert_eq!(captured[0].envelope["tls"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_down_then_up_is_retried_until_delivered() {
    let port = free_port();
    let dir = tempdir();
    let s = settings(dir.path(), &format!("smtp://127.0.0.1:{port}"), |c| {
        c.retry_initial = "300ms".into();
        c.max_attempts = 8;
        // One message alone: its own retries decide, not an outage declared after 3 failures.
        c.server_failures = 8;
    });
    let mailer = std::sync::Arc::new(Mailer::new(&s).unwrap());
    let built = notice(&s, "Bob", &["bob@example.org"]);
    let sending = tokio::spawn({
        let mailer = mailer.clone();
        async move { mailer.send(&built.message).await }
    });
    // The first attempt is refused at once; the server comes up during the backoff.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let port_flag = port.to_string();
    let server = tokio::task::spawn_blocking(move || SmtpServer::start(&["--port", &port_flag]))
        .await
        .unwrap();
    let delivery = sending.await.unwrap().unwrap();
    assert!(delivery.attempts >= 2, "{delivery:?}");
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_failures_in_a_row_end_every_send_without_its_back_off() {
    let port = free_port();
    let dir = tempdir();
    // The stock retries (5 attempts from 2 s): each message alone would wait 30 s to give up.
    let s = settings(dir.path(), &format!("smtp://127.0.0.1:{port}"), |c| {
        c.retry_initial = "2s".into()
    });
    assert_eq!((s.server_failures, s.max_connections), (3, 4));
    let mailer = std::sync::Arc::new(Mailer::new(&s).unwrap());
    let sends: Vec<_> = (0..4)
        .map(|i| {
            let (mailer, built) = (mailer.clone(), notice(&s, "Bob", &[&format!("bob{i}@example.org")]));
            tokio::spawn(async move { mailer.send(&built.message).await })
        })
        .collect();
    for send in sends {
        match send.await.unwrap() {
            Err(SendError::ServerDown { server, failures, last }) => {
                assert_eq!(server, format!("127.0.0.1:{port}"));
                assert!(failures >= 3, "{failures}");
                assert!(last.starts_with("Connection refused"), "{last}");
            }
            other => panic!("{other:?}"),
        }
    }
    let health = mailer.health().snapshot();
    assert!(
        health.down_since.is_some() && health.last_delivery.is_none(),
        "{health:?}"
    );

    // The server is back: the next send goes through at once and the server is up again.
    let port_flag = port.to_string();
    let server = tokio::task::spawn_blocking(move || SmtpServer::start(&["--port", &port_flag]))
        .await
        .unwrap();
    let built = notice(&s, "Bob", &["bob@example.org"]);
    assert_eq!(mailer.send(&built.message).await.unwrap().attempts, 1);
    let health = mailer.health().snapshot();
    assert!(
        health.down_since.is_none() && health.last_delivery.is_some(),
        "{health:?}"
    );
    assert_eq!(health.failures_in_a_row, 0);
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn tempfail_twice_then_delivered_on_the_third_attempt() {
    let server = SmtpServer::start(&["--tempfail-first", "2"]);
    let dir = tempdir();
    let s = settings(dir.path(), server.url(), |_| {});
    let mailer = Mailer::new(&s).unwrap();
    let delivery = mailer
        .send(&notice(&s, "Bob", &["bob@example.org"]).message)
        .await
        .unwrap();
    assert_eq!(delivery.attempts, 3);
    assert_eq!(server.messages().len(), 1);
    assert_eq!(server.log().matches("tempfailed (451)").count(), 2);
}

#[tokio::test]
async fn gives_up_after_max_attempts_with_the_last_reply() {
    let server = SmtpServer::start(&["--tempfail-first", "10"]);
    let dir = tempdir();
    let s = settings(dir.path(), server.url(), |c| c.max_attempts = 3);
    let mailer = Mailer::new(&s).unwrap();
    let err = mailer
        .send(&notice(&s, "Bob", &["bob@example.org"]).message)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SendError::Transient {
            attempts: 3,
            last: "451 4.3.0 try again later".into()
        }
    );
    assert_eq!(server.log().matches("tempfailed (451)").count(), 3);
    // Replies about one message prove the server answers: it is not down.
    assert!(mailer.health().snapshot().down_since.is_none());
}

#[tokio::test]
async fn rejected_recipient_is_permanent_with_the_reply_and_not_retried() {
    let server = SmtpServer::start(&["--reject-rcpt", "gone"]);
    let dir = tempdir();
    let s = settings(dir.path(), server.url(), |c| c.retry_initial = "2s".into());
    let mailer = Mailer::new(&s).unwrap();
    let start = Instant::now();
    let err = mailer
        .send(&notice(&s, "Gone", &["gone@example.org"]).message)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SendError::Permanent {
            reply: "550 5.1.1 mailbox unavailable".into()
        }
    );
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "retried: {:?}",
        start.elapsed()
    );
    assert_eq!(server.log().matches("rejected (550)").count(), 1, "{}", server.log());
    // The pool dropped the aborted session: the next message goes through.
    mailer
        .send(&notice(&s, "Bob", &["bob@example.org"]).message)
        .await
        .unwrap();
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_share_at_most_max_connections_sessions() {
    let server = SmtpServer::start(&[]);
    let dir = tempdir();
    let s = settings(dir.path(), server.url(), |c| c.max_connections = 2);
    let mailer = std::sync::Arc::new(Mailer::new(&s).unwrap());
    let built: Vec<Built> = (0..20)
        .map(|i| notice(&s, "Bob", &[&format!("bob{i}@example.org")]))
        .collect();
    let tasks: Vec<_> = built
        .into_iter()
        .map(|b| {
            let mailer = mailer.clone();
            tokio::spawn(async move { mailer.send(&b.message).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let captured = server.messages();
    assert_eq!(captured.len(), 20);
    let peers: std::collections::HashSet<String> = captured.iter().map(|c| c.envelope["peer"].to_string()).collect();
    assert!(peers.len() <= 2, "{} sessions: {peers:?}", peers.len());
    let ids: std::collections::HashSet<String> = captured
        .iter()
        .map(|c| c.parse().header("Message-ID").unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 20, "Message-IDs are not unique");
}

#[tokio::test]
async fn max_messages_per_second_paces_sends() {
    let server = SmtpServer::start(&[]);
    let dir = tempdir();
    let s = settings(dir.path(), server.url(), |c| c.max_messages_per_second = 20);
    let mailer = Mailer::new(&s).unwrap();
    let built = notice(&s, "Bob", &["bob@example.org"]);
    let start = Instant::now();
    for _ in 0..6 {
        mailer.send(&built.message).await.unwrap();
    }
    // Six sends at 20/s: the last one starts 5 × 50 ms after the first.
    assert!(start.elapsed() >= Duration::from_millis(250), "{:?}", start.elapsed());
}

#[tokio::test]
async fn starttls_is_required_not_opportunistic() {
    let server = SmtpServer::start(&[]);
    let dir = tempdir();
    let s = settings(dir.path(), server.url(), |c| {
        c.starttls = None;
        c.allow_insecure = false;
    });
    let mailer = Mailer::new(&s).unwrap();
    let err = mailer
        .send(&notice(&s, "Bob", &["bob@example.org"]).message)
        .await
        .unwrap_err();
    match &err {
        SendError::Unusable { reason } => {
            assert!(reason.ends_with("STARTTLS is not supported on this server"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn server_wanting_authentication_is_unusable() {
    let server = SmtpServer::start(&["--tls", "--auth", "pwresetd:{dir}/smtp-password"]);
    let dir = tempdir();
    let s = settings(dir.path(), &server.url().replace("127.0.0.1", "localhost"), |c| {
        c.starttls = None;
        c.ca_file = Some(server.ca_file());
    });
    let mailer = Mailer::new(&s).unwrap();
    let err = mailer
        .send(&notice(&s, "Bob", &["bob@example.org"]).message)
        .await
        .unwrap_err();
    match &err {
        SendError::Unusable { reason } => assert!(reason.starts_with("authentication required: 530"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_idle_session_is_replaced_without_costing_an_attempt() {
    let server = SmtpServer::start(&[]);
    let port = server.port().to_string();
    let dir = tempdir();
    let s = settings(dir.path(), server.url(), |c| c.retry_initial = "5s".into());
    let mailer = Mailer::new(&s).unwrap();
    let built = notice(&s, "Bob", &["bob@example.org"]);
    assert_eq!(mailer.send(&built.message).await.unwrap().attempts, 1);
    // The server restarts: the pooled session is dead, which the mailer finds out on reuse.
    drop(server);
    let server = tokio::task::spawn_blocking(move || SmtpServer::start(&["--port", &port]))
        .await
        .unwrap();
    let start = Instant::now();
    assert_eq!(mailer.send(&built.message).await.unwrap().attempts, 1);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "waited for a retry: {:?}",
        start.elapsed()
    );
    assert_eq!(server.messages().len(), 1, "{}", server.log());
}
