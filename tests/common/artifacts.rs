//! What a test run leaves behind for the password check (`tests/artifacts.rs`, which
//! `scripts/test` runs after the suite): every directory a test gives pwresetd (config, store,
//! mail spool, daemon log) lives under `$PWRESETD_TEST_ARTIFACTS` and is kept instead of
//! removed, the CLI's output is saved there too, and [`PASSWORDS`] names every password the
//! tests type, set or configure. Without the variable (a plain `cargo test`), directories are
//! ordinary temp dirs removed on drop and nothing is saved.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The directory `scripts/test` creates for the run's artifacts.
pub const ROOT_VAR: &str = "PWRESETD_TEST_ARTIFACTS";

/// The user's new password in the flavour tests (shares no three letters with their names).
pub const FLAVOR_NEW: &str = "Zebra-Yak-7-Quasar";
pub const FLAVOR_NEW2: &str = "Quiet7-Harbor-Lynx-42";
/// A wrong current password the flavour tests type.
pub const FLAVOR_WRONG: &str = "Wrong-9-Pass";
/// The new password of the slapd password-operation tests.
pub const PASSWORD_NEW: &str = "correct horse battery staple 42";
/// A wrong current password typed into the portal (and a wrong bind password in a file).
pub const NOT_THE_PASSWORD: &str = "not-the-password";
/// A password the policy refuses, typed in the browser.
pub const TYPED_WEAK: &str = "jane12345";

/// Every password the tests use, by name. A hit prints the name, never the value. Inputs of
/// fewer than 8 characters ("wrong", "short", "Ab1-x") are left out: ordinary text holds them.
/// The test servers' own passwords (bind, admin, AD/389 users) come from their env files.
pub const PASSWORDS: &[(&str, &str)] = &[
    ("USER_PASSWORD", super::USER_PASSWORD),
    ("portal::STRONG", super::portal::STRONG),
    ("portal::STRONG2", super::portal::STRONG2),
    ("FLAVOR_NEW", FLAVOR_NEW),
    ("FLAVOR_NEW2", FLAVOR_NEW2),
    ("FLAVOR_WRONG", FLAVOR_WRONG),
    ("PASSWORD_NEW", PASSWORD_NEW),
    ("NOT_THE_PASSWORD", NOT_THE_PASSWORD),
    ("TYPED_WEAK", TYPED_WEAK),
];

pub fn root() -> Option<PathBuf> {
    std::env::var_os(ROOT_VAR).map(PathBuf::from)
}

/// A directory for what a test and the pwresetd it runs write: kept under the artifacts root
/// when `scripts/test` runs the suite, an ordinary temp dir otherwise.
pub fn tempdir() -> tempfile::TempDir {
    match root() {
        Some(root) => {
            let mut dir = tempfile::Builder::new()
                .prefix("t-")
                .tempdir_in(&root)
                .unwrap_or_else(|e| panic!("temp dir in {}: {e}", root.display()));
            dir.disable_cleanup(true);
            dir
        }
        None => tempfile::tempdir().unwrap(),
    }
}

fn next_name(what: &str) -> Option<PathBuf> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = root()?.join("output");
    std::fs::create_dir_all(&dir).unwrap();
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    Some(dir.join(format!("{}-{n:04}-{what}.log", std::process::id())))
}

/// Saves what a run of the binary printed (stdout and stderr), when artifacts are kept.
pub fn keep_output(args: &[&str], out: &Output) {
    if let Some(path) = next_name(args.first().copied().unwrap_or("run")) {
        let mut text = format!("$ pwresetd {}\n", args.join(" ")).into_bytes();
        text.extend_from_slice(&out.stdout);
        text.extend_from_slice(&out.stderr);
        std::fs::write(path, text).unwrap();
    }
}

/// Where a spawned binary's stderr goes: a file under the artifacts root, or nowhere.
pub fn stderr_file(what: &str) -> Stdio {
    next_name(what).map_or_else(Stdio::null, |path| std::fs::File::create(path).unwrap().into())
}

/// Copies `dir`'s mail (`.eml` and envelopes) into the artifacts root before its owner removes it.
pub fn keep_mail(dir: &std::path::Path, what: &str) {
    let Some(root) = root() else { return };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let target = tempfile::Builder::new().prefix(what).tempdir_in(root).unwrap().keep();
    for entry in entries.flatten() {
        let _ = std::fs::copy(entry.path(), target.join(entry.file_name()));
    }
}
