//! The file transport's spool directory: each message written atomically as one `.eml` file,
//! and the probe that checks the directory can be written. Must not decide anything about
//! retries or the server's health: [`super::Mailer`] does.

use std::path::{Path, PathBuf};

/// Writes `<spool_dir>/<UTC timestamp>-<message id>.eml` atomically (temp file, fsync, rename).
pub(super) async fn write_spool(spool_dir: &Path, message_id: &str, bytes: Vec<u8>) -> std::io::Result<PathBuf> {
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

/// Creates and removes a file in the spool directory.
pub(super) async fn probe_spool(spool_dir: &Path) -> std::io::Result<()> {
    let path = spool_dir.join(format!(".probe-{}.tmp", std::process::id()));
    tokio::task::spawn_blocking(move || {
        std::fs::OpenOptions::new().write(true).create_new(true).open(&path)?;
        std::fs::remove_file(&path)
    })
    .await
    .map_err(std::io::Error::other)?
}
