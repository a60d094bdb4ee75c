//! Build script: records the git commit the binary is built from, for `pwresetd --version`.
//!
//! Outside a git checkout of this project (a source tarball, a distribution's build) the commit
//! is "unknown", unless the `PWRESETD_COMMIT` environment variable names it. It only asks git;
//! it must not generate code or depend on the library (that would rebuild on every change).

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
    println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
    println!("cargo:rerun-if-changed={}", common.join("packed-refs").display());
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        println!("cargo:rerun-if-changed={}", common.join(branch).display());
    }
    Some(commit)
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
