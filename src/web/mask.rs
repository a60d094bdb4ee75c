//! Naming what somebody typed into a login field in logs and the audit trail without writing it
//! down: people sometimes type their password there. A typed login that matches no account is
//! shown as its first three characters and a keyed hash (HMAC-SHA256 under a key drawn at
//! start-up), so that repeated attempts with the same text can be told apart and grouped within
//! a run, but the text cannot be recovered from the record. Never logs anything itself.

use hmac::{Hmac, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::Sha256;

/// Characters of a typed value shown as they are.
pub const SHOWN: usize = 3;

pub struct Masker {
    key: [u8; 32],
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Masker([redacted])")
    }
}

impl Masker {
    /// A masker with a fresh random key.
    pub fn new() -> std::io::Result<Masker> {
        let mut key = [0u8; 32];
        OsRng.try_fill_bytes(&mut key).map_err(std::io::Error::other)?;
        Ok(Masker { key })
    }

    /// `abc…#0123456789ab`: at most [`SHOWN`] characters of `typed` (control characters
    /// replaced), then 12 hex digits of its keyed hash.
    pub fn mask(&self, typed: &str) -> String {
        // HMAC accepts keys of any length: new_from_slice cannot fail here.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(typed.as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let shown: String = typed
            .chars()
            .take(SHOWN)
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        format!("{shown}…#{hex}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_three_characters_and_a_stable_keyed_hash() {
        let m = Masker::new().unwrap();
        let masked = m.mask("Hunter2-Secret!");
        assert!(masked.starts_with("Hun…#"), "{masked}");
        assert_eq!(masked.chars().count(), 3 + 2 + 12);
        assert!(!masked.contains("ter2"));
        assert_eq!(m.mask("Hunter2-Secret!"), masked, "the same text, the same mask");
        assert_ne!(m.mask("Hunter2-Secret?"), masked);
        assert_ne!(Masker::new().unwrap().mask("Hunter2-Secret!"), masked, "keyed per run");
        assert!(m.mask("a\u{0}").starts_with("a?…#"));
        assert!(m.mask("").starts_with("…#"));
    }
}
