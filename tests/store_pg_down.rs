//! `pwresetd serve` on a PostgreSQL store that goes down: `/readyz` fails within a few seconds,
//! the portal answers a plain 503 page (no hang), and both recover when the database is back on
//! the same port. The database is a private one (`common::pg::PrivatePg`) so that stopping it
//! disturbs no other test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::time::{Duration, Instant};

use common::daemon::{Daemon, get};
use common::pg::PrivatePg;
use common::{Fixture, User, eventually, free_port};

/// The fixture's config with `[store]` on `pg`, and the daemon's own sections.
fn configure(f: &Fixture, pg: &PrivatePg, admin: u16, portal: u16) {
    let sqlite = format!("[store]\npath = \"{}\"\n", f.store_path().display());
    let toml = std::fs::read_to_string(&f.config).unwrap();
    assert!(toml.contains(&sqlite), "{toml}");
    std::fs::write(&f.config, toml.replace(&sqlite, &pg.store_section())).unwrap();
    f.append_config(&format!(
        r#"
[portal]
listen = "127.0.0.1:{portal}"
public_url = "http://127.0.0.1:{portal}"

[daemon]
admin_listen = "127.0.0.1:{admin}"
shutdown_grace = "5s"

[mail]
transport = "file"
spool_dir = "{spool}"
from = "it@example.org"
"#,
        spool = f.dir.path().join("spool").display()
    ));
}

/// One GET, timed.
async fn timed_get(url: &str) -> (Duration, u16, String) {
    let started = Instant::now();
    let (status, body) = get(url).await;
    (started.elapsed(), status, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn readyz_fails_fast_and_the_portal_answers_503_while_the_database_is_down() {
    let Some(pg) = PrivatePg::start() else { return };
    let f = Fixture::new("pgdown", &[User::new("p1")]).await;
    let (admin, portal) = (free_port(), free_port());
    configure(&f, &pg, admin, portal);
    let mut d = Daemon::start(&f.config, admin, portal);
    assert!(
        d.wait_notification("READY=1", Duration::from_secs(30)).is_some(),
        "{}",
        d.log_text()
    );
    assert_eq!(d.admin_get("/readyz").await, (200, "ready\n".into()));
    // A link the store does not know: the portal must ask the store to say so.
    let link = format!("http://127.0.0.1:{portal}/reset/{}", "A".repeat(43));
    let (_, before, _) = timed_get(&link).await;
    assert_ne!(before, 503, "{}", d.log_text());

    pg.script("pg-stop", &["--keep"]);
    let readyz = format!("http://127.0.0.1:{admin}/readyz");
    let (took, status, body) = timed_get(&readyz).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("not ready: store"), "{body}");
    assert!(took < Duration::from_secs(8), "/readyz took {took:?}");
    let (took, status, body) = timed_get(&link).await;
    assert_eq!(status, 503, "{body}");
    assert!(took < Duration::from_secs(8), "the portal took {took:?}");
    assert!(
        body.contains("<html") || body.contains("<!DOCTYPE"),
        "not a page: {body}"
    );
    assert!(
        d.child.try_wait().unwrap().is_none(),
        "the daemon died: {}",
        d.log_text()
    );

    pg.script("pg-start", &["--start-only"]);
    eventually("/readyz to recover", Duration::from_secs(30), async || {
        (d.admin_get("/readyz").await.0 == 200).then_some(())
    })
    .await;
    let (_, after, _) = timed_get(&link).await;
    assert_eq!(after, before, "{}", d.log_text());
    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(15)), Some(0), "{}", d.log_text());
}
