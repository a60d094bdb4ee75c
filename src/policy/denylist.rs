//! The denylist: extra forbidden passwords from `policy.denylist_file`, compared after NFKC and
//! lowercasing (so "Summer2025!" also refuses "SUMMER2025!").
//!
//! Owns reading that file (once, at load) and the membership test. Lines are taken as they
//! are, except for the line ending: no trimming (a password may start or end with a space) and
//! no comments (a password may start with `#`). Empty lines are skipped. Lines that are not
//! UTF-8 (common in leaked lists such as rockyou) cannot equal a Rust string and are skipped
//! and counted.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::normalise;

/// A loaded denylist.
#[derive(Clone, Debug, Default)]
pub struct Denylist {
    entries: HashSet<String>,
    skipped_non_utf8: usize,
}

/// The denylist file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading the denylist {}: {source}", path.display())]
pub struct DenylistError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The comparison key of a denylist entry or candidate.
pub fn key(text: &str) -> String {
    normalise(text).to_lowercase()
}

impl Denylist {
    /// Reads `path`, one password a line (LF or CRLF).
    pub fn load(path: &Path) -> Result<Self, DenylistError> {
        let wrap = |source| DenylistError {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(wrap)?;
        Self::from_reader(BufReader::new(file)).map_err(wrap)
    }

    /// Reads a denylist from any buffered reader.
    pub fn from_reader(mut reader: impl BufRead) -> std::io::Result<Self> {
        let mut list = Self::default();
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line)? > 0 {
            let bytes = line.strip_suffix(b"\n").unwrap_or(&line);
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            match std::str::from_utf8(bytes) {
                Ok("") => {}
                Ok(text) => {
                    list.entries.insert(key(text));
                }
                Err(_) => list.skipped_non_utf8 += 1,
            }
            line.clear();
        }
        Ok(list)
    }

    /// Whether the candidate (already NFKC-normalised) is listed.
    pub fn contains(&self, normalised: &str) -> bool {
        self.entries.contains(&normalised.to_lowercase())
    }

    /// Number of distinct entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Lines skipped because they were not UTF-8.
    pub fn skipped_non_utf8(&self) -> usize {
        self.skipped_non_utf8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &[u8] = b"Summer2025!\r\nwinter is coming\n\n  spaced  \n#hashtag\ncaf\xc3\xa9\n\xff\xfe broken\nSTRASSE\nlast-no-newline";

    fn check(candidate: &str, expected: bool) {
        let list = Denylist::from_reader(FILE).unwrap();
        assert_eq!(list.contains(&normalise(candidate)), expected, "{candidate:?}");
    }

    #[test]
    fn denylist_table() {
        check("Summer2025!", true);
        check("summer2025!", true);
        check("SUMMER2025!", true);
        check("Summer2025", false);
        check("winter is coming", true);
        check("Winter Is Coming", true);
        check("  spaced  ", true);
        check("spaced", false);
        check("#hashtag", true);
        check("CAFÉ", true);
        check("cafe\u{301}", true); // decomposed é normalises to the listed form
        check("strasse", true);
        check("last-no-newline", true);
        check("", false);
        check("\u{fffd}\u{fffd} broken", false);
    }

    #[test]
    fn counts() {
        let list = Denylist::from_reader(FILE).unwrap();
        assert_eq!((list.len(), list.skipped_non_utf8()), (7, 1));
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Denylist::load(Path::new("/nonexistent/deny.txt"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("reading the denylist /nonexistent/deny.txt: "), "{err}");
    }
}
