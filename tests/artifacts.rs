//! No password in any artifact: after the suite, `scripts/test` runs this (it is not part of a
//! plain `cargo test`: `test = false` in Cargo.toml) over everything the run left under
//! `$PWRESETD_TEST_ARTIFACTS` — stores (SQLite files and their WAL, read as bytes), daemon
//! logs, the CLI's saved output, mail spools and captured mail, configs — looking for every
//! password the tests used (`common::artifacts::PASSWORDS`, and the test servers' own from
//! their env files) as UTF-8, UTF-16LE (AD's `unicodePwd`) and form-encoded text. A hit fails,
//! naming the file and the password's name, never the password. Files the tests wrote as secret
//! inputs (named `*password*`) are skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on any surprise

mod common;

use std::path::{Path, PathBuf};

use common::artifacts::{PASSWORDS, ROOT_VAR};

/// (name, password) pairs: the registry and every `*_PASSWORD_FILE` of the servers' env files.
fn passwords() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = PASSWORDS
        .iter()
        .map(|(n, p)| ((*n).to_owned(), (*p).to_owned()))
        .collect();
    for var in [
        "PWRESETD_TEST_SLAPD_ENV",
        "PWRESETD_TEST_AD_ENV",
        "PWRESETD_TEST_DS389_ENV",
    ] {
        let Some(env) = std::env::var_os(var) else { continue };
        for (key, file) in common::read_env(Path::new(&env)) {
            if key.ends_with("_PASSWORD_FILE") {
                let value = std::fs::read_to_string(&file).unwrap();
                out.push((key, value.trim_end_matches(['\r', '\n']).to_owned()));
            }
        }
    }
    out
}

/// The byte strings a password may appear as.
fn forms(password: &str) -> Vec<(&'static str, Vec<u8>)> {
    let utf16: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let form: String = url::form_urlencoded::byte_serialize(password.as_bytes()).collect();
    let mut out = vec![("UTF-8", password.as_bytes().to_vec()), ("UTF-16LE", utf16)];
    if form != password {
        out.push(("form-encoded", form.into_bytes()));
    }
    out
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_password_in_any_log_mail_or_store_the_run_left() {
    let root = std::env::var_os(ROOT_VAR).unwrap_or_else(|| {
        panic!("{ROOT_VAR} is not set: scripts/test sets it for the suite and runs this check after it")
    });
    let mut all = Vec::new();
    files(Path::new(&root), &mut all);
    let (inputs, scanned): (Vec<PathBuf>, Vec<PathBuf>) = all
        .into_iter()
        .partition(|p| p.file_name().is_some_and(|n| n.to_string_lossy().contains("password")));
    let passwords = passwords();
    let mut hits = Vec::new();
    for path in &scanned {
        let bytes = std::fs::read(path).unwrap();
        for (name, password) in &passwords {
            for (encoding, needle) in forms(password) {
                if contains(&bytes, &needle) {
                    hits.push(format!("{}: {name} ({encoding})", path.display()));
                }
            }
        }
    }
    eprintln!(
        "artifacts: {} files scanned for {} passwords ({} secret input files skipped)",
        scanned.len(),
        passwords.len(),
        inputs.len()
    );
    if std::env::var_os("PWRESETD_TEST_ARTIFACTS_EXPECTED").is_some() {
        assert!(
            !scanned.is_empty(),
            "no artifacts under {}: are the tests keeping them?",
            Path::new(&root).display()
        );
    }
    assert!(
        hits.is_empty(),
        "passwords found in the run's artifacts:\n{}",
        hits.join("\n")
    );
}
