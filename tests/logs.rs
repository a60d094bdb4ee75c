//! What `pwresetd serve` writes on stderr: colours on a terminal only, never with `NO_COLOR` set
//! (any value), and so never an escape code in a log file (`serve 2>log`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::daemon::Daemon;
use common::{Fixture, User, free_port};

const ESC: char = '\x1b';

/// The listeners and a file transport: all `serve` needs besides the directory.
fn serve_sections(f: &Fixture, admin: u16, portal: u16) -> String {
    format!(
        r#"
[portal]
listen = "127.0.0.1:{portal}"
public_url = "http://127.0.0.1:{portal}"

[daemon]
admin_listen = "127.0.0.1:{admin}"

[mail]
transport = "file"
spool_dir = "{spool}"
from = "IT Security <it-security@example.org>"
"#,
        spool = f.dir.path().join("spool").display()
    )
}

async fn served(name: &str) -> (Fixture, u16, u16) {
    let f = Fixture::new(name, &[User::new("g1")]).await;
    let (admin, portal) = (free_port(), free_port());
    f.append_config(&serve_sections(&f, admin, portal));
    (f, admin, portal)
}

#[tokio::test]
async fn serve_into_a_log_file_writes_no_escape_codes() {
    let (f, admin, portal) = served("logfile").await;
    // stderr is a file here, as with `pwresetd serve 2>log`; NO_COLOR is not set.
    let mut d = Daemon::start(&f.config, admin, portal);
    assert!(
        d.wait_notification("READY=1", Duration::from_secs(30)).is_some(),
        "{}",
        d.log_text()
    );
    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(30)), Some(0), "{}", d.log_text());
    let log = d.log_text();
    assert!(log.contains("ready") && log.contains("SIGTERM received"), "{log}");
    assert!(!log.contains(ESC), "escape codes in the log file:\n{log:?}");
}

/// Runs `serve` with stderr on a pseudo-terminal (util-linux `script`), until it logged that it is
/// ready; stops it with SIGTERM; what the terminal showed.
fn serve_on_a_terminal(config: &Path, no_color: Option<&str>) -> String {
    let dir = common::artifacts::tempdir();
    let (shown, pid) = (dir.path().join("terminal"), dir.path().join("pid"));
    let inner = format!(
        "{bin} --config {config} serve & echo $! > {pid}; wait",
        bin = env!("CARGO_BIN_EXE_pwresetd"),
        config = config.display(),
        pid = pid.display()
    );
    let mut script = Command::new("script");
    script
        .args(["--quiet", "--return", "--flush", "--command", &inner, "/dev/null"])
        .env("PWRESETD_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("JOURNAL_STREAM")
        .env_remove("PWRESETD_CONFIG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&shown).unwrap())
        .stderr(Stdio::null());
    if let Some(value) = no_color {
        script.env("NO_COLOR", value);
    }
    let mut child = script.spawn().expect("util-linux script (Debian: bsdutils)");
    let read = || std::fs::read_to_string(&shown).unwrap_or_default();
    let started = Instant::now();
    while !read().contains("ready") {
        assert!(child.try_wait().unwrap().is_none(), "serve ended early:\n{}", read());
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve not ready:\n{}",
            read()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pid = std::fs::read_to_string(&pid).unwrap();
    let killed = Command::new("kill").args(["-TERM", pid.trim()]).status().unwrap();
    assert!(killed.success());
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "serve did not stop:\n{}",
            read()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    read()
}

#[tokio::test]
async fn colours_on_a_terminal_unless_no_color_is_set() {
    let (f, _, _) = served("tty").await;
    // The control: on a terminal, with NO_COLOR unset, the levels are coloured.
    let coloured = serve_on_a_terminal(&f.config, None);
    assert!(coloured.contains(ESC), "no colour on a terminal:\n{coloured:?}");
    for value in ["1", ""] {
        let plain = serve_on_a_terminal(&f.config, Some(value));
        assert!(plain.contains("ready"), "{plain}");
        assert!(!plain.contains(ESC), "NO_COLOR={value:?} ignored:\n{plain:?}");
    }
}
