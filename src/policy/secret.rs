//! Secret inputs: the [`Password`] newtype and a constant-time comparison.
//!
//! Owns the rule that a password never reaches a message, a log line, an error or `Debug`
//! output: `Password` has no `Display`, its `Debug` prints `[redacted]`, and the only way to
//! the text is the explicit [`Password::expose`]. Must not do I/O.

use std::fmt;

use zeroize::Zeroizing;

/// A password (new, current, or any other secret typed by a person).
///
/// `Debug` prints `[redacted]`; there is deliberately no `Display`, `Serialize` or `PartialEq`
/// (use [`constant_time_eq`] on normalised text instead). The memory is zeroised on drop, and so
/// is the normalised copy a check makes; the folded pieces the personal-data rule compares and
/// the copies libraries make (zxcvbn, argon2) are not.
#[derive(Clone, Default)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a secret.
    pub fn new(text: impl Into<String>) -> Self {
        Self(Zeroizing::new(text.into()))
    }

    /// The secret text. Call sites are greppable: every use is a place the secret leaves the box.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Password {
    fn from(text: String) -> Self {
        Self(Zeroizing::new(text))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Compares two byte strings in time that depends only on their lengths, never on where they
/// first differ. Lengths are not secret here (the user typed both).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let p = Password::new("hunter2-correct-horse");
        let shown = format!("{p:?} {:?}", Some(&p));
        assert_eq!(shown, "[redacted] Some([redacted])");
        assert!(!shown.contains("hunter2"));
    }

    fn check(a: &str, b: &str, expected: bool) {
        assert_eq!(constant_time_eq(a.as_bytes(), b.as_bytes()), expected, "{a:?} vs {b:?}");
    }

    #[test]
    fn constant_time_eq_table() {
        check("", "", true);
        check("abc", "abc", true);
        check("abc", "abd", false);
        check("abc", "ab", false);
        check("é", "é", true);
        check("Abc", "abc", false);
    }
}
