//! The configuration loader (`daemon::config::load_with_env`) on any TOML and environment
//! overrides: a `Config` or a `ConfigError` naming a key — never a panic; and what it accepts
//! does not make the computations that use it panic (the reminder schedule's date arithmetic).
//!
//! Input: the TOML file, optionally followed by a line `#ENV` and `KEY=value` lines (the
//! environment). Paths in it resolve against a scratch directory holding a `bind-password`
//! and a `smtp-password` file, so the seeds get past the secret files into the validation.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pwresetd::campaign::schedule::{Sent, due};
use pwresetd::daemon::config::load_with_env;

struct Scratch {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

fn scratch() -> &'static Scratch {
    static SCRATCH: OnceLock<Scratch> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["bind-password", "smtp-password"] {
            std::fs::write(dir.path().join(name), "fuzz-secret\n").expect("write a secret file");
        }
        let config = dir.path().join("pwresetd.toml");
        Scratch { _dir: dir, config }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (toml, env) = text.split_once("\n#ENV\n").unwrap_or((text, ""));
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let s = scratch();
    std::fs::write(&s.config, toml).expect("write the config");
    match load_with_env(&s.config, env) {
        Ok(config) => {
            let _ = format!("{config:?}");
            let now = chrono::Utc::now();
            let sent = Sent {
                notice_at: Some(now - chrono::Duration::days(1)),
                last_reminder: 0,
                last_point: None,
            };
            let _ = due(now, now + chrono::Duration::days(30), &config.campaign.reminders, sent);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
