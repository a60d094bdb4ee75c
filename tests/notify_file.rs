//! The file transport: each message lands in the spool directory as a complete, parseable .eml,
//! written under a temporary name and renamed, so a reader never sees half a message.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::path::{Path, PathBuf};

use common::smtp::parse_eml;
use pwresetd::notify::{Destination, Kind, MailConfig, MailSettings, Mailer, Recipient, Templates, Vars, message};

fn settings(dir: &Path) -> MailSettings {
    MailConfig {
        spool_dir: "spool".into(),
        from: Some("IT Security <it-security@example.org>".into()),
        ..MailConfig::default()
    }
    .validate(dir, None)
    .unwrap()
}

fn spool_entries(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    entries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_transport_writes_complete_parseable_messages() {
    let dir = common::artifacts::tempdir();
    let s = settings(dir.path());
    let templates = Templates::load(&s).unwrap();
    let mailer = std::sync::Arc::new(Mailer::new(&s).unwrap());
    let spool = dir.path().join("spool");
    // Checked, not created, by Mailer::new (check-config builds one beside a live service).
    assert!(!spool.exists(), "Mailer::new created the spool directory");
    assert_eq!(mailer.describe(), format!("file {}", spool.display()));

    let mut tasks = Vec::new();
    for i in 0..10 {
        let rendered = templates
            .render(Kind::Reminder, Some("en"), &Vars::sample(chrono::Utc::now()))
            .unwrap();
        let addresses = [format!("user{i}@example.org")];
        let recipient = Recipient {
            display_name: "Zoë Ångström",
            addresses: &addresses,
        };
        let built = message::build(&rendered, &recipient, &s).unwrap();
        let mailer = mailer.clone();
        tasks.push(tokio::spawn(async move {
            let delivery = mailer.send(&built.message).await.unwrap();
            (built.message_id, delivery)
        }));
    }
    let mut paths = Vec::new();
    for task in tasks {
        let (message_id, delivery) = task.await.unwrap();
        assert_eq!(delivery.message_id, message_id);
        assert_eq!(delivery.attempts, 1);
        let Destination::File { path } = delivery.destination else {
            panic!("{delivery:?}")
        };
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(path.parent(), Some(spool.as_path()));
        assert!(name.ends_with(".eml"), "{name}");
        assert!(
            name.contains(message_id.trim_matches(['<', '>'])),
            "{name} lacks {message_id}"
        );
        let mail = parse_eml(&path);
        assert!(mail.defects.is_empty(), "{:?}", mail.defects);
        assert_eq!(mail.header("Message-ID"), Some(message_id.as_str()));
        assert_eq!(
            mail.header("To"),
            Some(format!("Zoë Ångström <{}>", recipient_of(&mail)).as_str())
        );
        assert_eq!(mail.content_type, "multipart/alternative");
        assert!(mail.part("text/plain").body.starts_with("Hello Camille Martin,"));
        paths.push(path);
    }
    paths.sort();
    assert!(spool.is_dir(), "the first message creates the spool directory");
    // Exactly the ten messages: no temporary file left behind.
    assert_eq!(spool_entries(&spool), paths);
}

fn recipient_of(mail: &common::smtp::ParsedMail) -> String {
    let to = mail.header("To").unwrap_or_default();
    to[to.find('<').unwrap() + 1..to.len() - 1].to_owned()
}

#[tokio::test]
async fn unwritable_spool_is_a_transient_failure() {
    let dir = common::artifacts::tempdir();
    let mut cfg = MailConfig {
        spool_dir: "spool".into(),
        max_attempts: 2,
        retry_initial: "10ms".into(),
        ..MailConfig::default()
    };
    let s = cfg.validate(dir.path(), None).unwrap();
    let mailer = Mailer::new(&s).unwrap();
    // A file where the directory should be: every write fails.
    std::fs::write(dir.path().join("spool"), "not a directory").unwrap();
    let templates = Templates::load(&s).unwrap();
    let rendered = templates
        .render(Kind::Changed, None, &Vars::sample(chrono::Utc::now()))
        .unwrap();
    let addresses = ["a@example.org".to_owned()];
    let built = message::build(
        &rendered,
        &Recipient {
            display_name: "",
            addresses: &addresses,
        },
        &s,
    )
    .unwrap();
    let err = mailer.send(&built.message).await.unwrap_err();
    assert!(
        matches!(&err, pwresetd::notify::SendError::Transient { attempts: 2, last } if last.starts_with("writing to ")),
        "{err:?}"
    );
    cfg.spool_dir = "spool/sub".into();
    let err = Mailer::new(&cfg.validate(dir.path(), None).unwrap()).unwrap_err();
    assert!(err.to_string().starts_with("mail.spool_dir "), "{err}");
}
