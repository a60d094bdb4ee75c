//! Build script: records the git commit the binary is built from, for `pwresetd --version`, and
//! lists the portal's language catalogues (`templates/portal/lang/*.toml`) for `portal::lang`, so
//! that a language is a new file and no code.
//!
//! Outside a git checkout of this project (a source tarball, a distribution's build) the commit
//! is "unknown", unless the `PWRESETD_COMMIT` environment variable names it. It only asks git and
//! lists one directory; it must not depend on the library (that would rebuild on every change).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    // Without any rerun-if line cargo would rerun this script on every change to the package.
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PWRESETD_COMMIT");
    let commit = std::env::var("PWRESETD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=PWRESETD_COMMIT={commit}");
    portal_catalogues();
}

/// Writes `$OUT_DIR/portal_catalogues.rs`: `const CATALOGUES: &[(&str, &str)]`, each language
/// tag (the file's stem) with the file's text, in the order of the tags.
fn portal_catalogues() {
    // The run's CARGO_MANIFEST_DIR, not the one compiled into this script (`env!`): one
    // target dir shared by two work trees reuses the script, and the other tree's folder may
    // be gone, which silently compiled in no language at all.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let dir = Path::new(&manifest).join("templates/portal/lang");
    // A directory: cargo reruns this script when any file in it changes, or one is added.
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    if files.is_empty() {
        // A build script reports by failing: a portal without its English catalogue would
        // only fail at start-up.
        panic!("no language catalogue (*.toml) in {}", dir.display());
    }
    let mut code = String::from("const CATALOGUES: &[(&str, &str)] = &[\n");
    for file in &files {
        let tag = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        code.push_str(&format!(
            "    ({tag:?}, include_str!({:?})),\n",
            file.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("portal_catalogues.rs");
    if let Err(e) = std::fs::write(&out, code) {
        // A build script reports by failing: cargo shows this line.
        panic!("writing {}: {e}", out.display());
    }
}

/// The checked-out commit, when this package is the top of a git work tree (not a tarball
/// unpacked inside some other repository).
fn git_commit() -> Option<String> {
    let here = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let top = git(&["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != Path::new(&here).canonicalize().ok()? {
        return None;
    }
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Run again when HEAD moves: a checkout changes HEAD, a commit the branch's ref (loose, or
    // packed). Refs live in the common directory, HEAD in the work tree's own.
    let git_dir = PathBuf::from(git(&["rev-parse", "--git-dir"])?);
    let common = git(&["rev-parse", "--git-common-dir"]).map_or_else(|| git_dir.clone(), PathBuf::from);
    watch(&git_dir.join("HEAD"));
    watch(&common.join("packed-refs"));
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(&common.join(branch));
    }
    Some(commit)
}

/// Asks cargo to rerun this script when `path` changes, if it exists: cargo takes a missing
/// file as changed, so a repository without `packed-refs` (a fresh worktree, a young clone)
/// would rebuild the package on every cargo command. A ref that is packed later moves HEAD's
/// loose ref or HEAD itself first, which are watched.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
