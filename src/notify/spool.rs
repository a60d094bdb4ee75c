//! The file transport's spool folder: whether messages can be written there, found without
//! leaving anything behind, and writing each message there atomically. The folder itself is
//! created at the first message, not when the mailer is built, so that `check-config` beside a
//! live service changes nothing.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Where the spool stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpoolState {
    /// The folder exists and takes new files.
    Writable,
    /// The folder does not exist yet; `parent`, the nearest existing folder above it, takes new
    /// folders, so the first message creates it.
    Creatable { parent: PathBuf },
}

/// Checks that `dir` takes new files, or that it can be created: a probe file (or folder, in
/// the nearest existing parent) is made and removed at once. What the permission bits say is
/// not enough: root ignores them, and a read-only file system does not show in them.
pub fn check(dir: &Path) -> Result<SpoolState, String> {
    let mut at = dir.to_path_buf();
    loop {
        match std::fs::metadata(&at) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => return Err(format!("{} is not a folder", at.display())),
            // Not there, or a file on the way: look further up.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                at = match at.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                    _ => PathBuf::from("."),
                };
            }
            Err(e) => return Err(format!("{}: {e}", at.display())),
        }
    }
    let probe = at.join(format!(".pwresetd-check-{}-{}", std::process::id(), nanos()));
    if at == dir {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .map_err(|e| format!("cannot write in {}: {e}", at.display()))?;
        let _ = std::fs::remove_file(&probe);
        Ok(SpoolState::Writable)
    } else {
        std::fs::create_dir(&probe)
            .map_err(|e| format!("does not exist and cannot be created in {}: {e}", at.display()))?;
        let _ = std::fs::remove_dir(&probe);
        Ok(SpoolState::Creatable { parent: at })
    }
}

/// Writes `<spool_dir>/<UTC timestamp>-<message id>.eml` atomically (temp file, fsync, rename).
pub(super) async fn write(spool_dir: &Path, message_id: &str, bytes: Vec<u8>) -> std::io::Result<PathBuf> {
    let id: String = message_id
        .trim_matches(['<', '>'])
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = format!("{}-{id}.eml", chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ"));
    let dir = spool_dir.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".{name}.tmp"));
        let path = dir.join(&name);
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let written = file.write_all(&bytes).and_then(|()| file.sync_all());
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        std::fs::File::open(&dir)?.sync_all()?;
        Ok(path)
    })
    .await
    .map_err(std::io::Error::other)?
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_missing_and_impossible_folders() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(check(tmp.path()), Ok(SpoolState::Writable));
        let deep = tmp.path().join("a/b/spool");
        assert_eq!(
            check(&deep),
            Ok(SpoolState::Creatable {
                parent: tmp.path().to_path_buf()
            })
        );
        assert!(!tmp.path().join("a").exists(), "the check created a folder");
        let file = tmp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let under_file = check(&file.join("spool")).unwrap_err();
        assert!(under_file.contains("is not a folder"), "{under_file}");
        // sysfs refuses new entries, to root as well.
        let sys = check(Path::new("/sys/pwresetd-spool")).unwrap_err();
        assert!(sys.contains("cannot be created in /sys"), "{sys}");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "probe left behind");
    }
}
