//! Secret values (bind passwords, SMTP passwords, user passwords in flight).
//!
//! A [`Secret`] never shows its content through `Debug` or `Display`, so it cannot end up in a log
//! line or an error message by accident. Reading the value is explicit: [`Secret::expose`]. Its
//! memory is overwritten with zeros when it is dropped, so a freed secret does not linger in the
//! heap for a core dump or a later bug to find (copies a library makes of it are out of reach).

use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

/// A secret string with a redacted `Debug`, zeroised on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret itself; call it only where the value is sent to its one consumer.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret file: one value, a trailing newline (LF or CRLF) removed.
    pub fn from_file(path: &Path) -> std::io::Result<Secret> {
        let raw = Zeroizing::new(std::fs::read_to_string(path)?);
        let trimmed = raw
            .strip_suffix("\r\n")
            .or_else(|| raw.strip_suffix('\n'))
            .unwrap_or(&raw);
        Ok(Secret::new(trimmed))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret([redacted])");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn file_trailing_newline_removed_once() {
        let dir = tempfile::tempdir().unwrap();
        for (content, expected) in [
            ("pw\n", "pw"),
            ("pw\r\n", "pw"),
            ("pw", "pw"),
            ("pw\n\n", "pw\n"),
            (" pw ", " pw "),
        ] {
            let p = dir.path().join("s");
            std::fs::write(&p, content).unwrap();
            assert_eq!(Secret::from_file(&p).unwrap().expose(), expected, "{content:?}");
        }
    }
}
