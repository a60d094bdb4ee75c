//! One-time link tokens: 256 random bits, URL-safe base64 in the link, only the SHA-256 stored.
//!
//! The token itself exists only in the email that carries it. Lookups go by hash (an indexed
//! equality on a SHA-256 of a 256-bit secret: timing reveals nothing usable about the token).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// Length of a token in the link: 32 bytes as unpadded base64url.
pub const TOKEN_LEN: usize = 43;

/// A new token and the hash to store for it.
pub struct Issued {
    pub token: Secret,
    pub hash: String,
}

/// Generates a token from the operating system's CSPRNG.
pub fn issue() -> Result<Issued, std::io::Error> {
    // The raw bytes are as secret as the token: zeroised once encoded.
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    OsRng.try_fill_bytes(bytes.as_mut()).map_err(std::io::Error::other)?;
    let token = Secret::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()));
    let hash = hash(token.expose());
    Ok(Issued { token, hash })
}

/// The stored form of a token: lowercase hex SHA-256 of its text.
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `candidate` has the shape of a token (checked before any lookup).
pub fn well_formed(candidate: &str) -> bool {
    candidate.len() == TOKEN_LEN
        && candidate
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The portal's address of the one-time link for `token`: `PUBLIC_URL/reset/TOKEN`. Mails carry
/// it; the portal serves that route.
pub fn reset_link(public_url: &url::Url, token: &str) -> String {
    format!("{}/reset/{token}", public_url.as_str().trim_end_matches('/'))
}

/// What a mailed link needs: where the portal is, and how long a link lives.
#[derive(Debug, Clone)]
pub struct Links {
    pub public_url: url::Url,
    pub ttl: std::time::Duration,
}

impl Links {
    pub fn url(&self, token: &str) -> String {
        reset_link(&self.public_url, token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_are_unique_well_formed_and_hashed() {
        let a = issue().unwrap();
        let b = issue().unwrap();
        assert_ne!(a.token.expose(), b.token.expose());
        assert!(well_formed(a.token.expose()));
        assert_eq!(a.hash, hash(a.token.expose()));
        assert_eq!(a.hash.len(), 64);
        assert_ne!(a.hash, a.token.expose());
    }

    #[test]
    fn shape_check() {
        for (s, ok) in [
            ("A".repeat(43), true),
            ("A".repeat(42), false),
            (format!("{}=", "A".repeat(42)), false),
            (format!("{}/", "A".repeat(42)), false),
            (format!("{}-_", "a".repeat(41)), true),
            (String::new(), false),
        ] {
            assert_eq!(well_formed(&s), ok, "{s}");
        }
    }
}
