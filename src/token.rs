//! One-time link tokens: 256 random bits, URL-safe base64 in the link, only the SHA-256 stored.
//! And mail reference codes: the short random code printed in each mail's footer, by which the
//! helpdesk tells a mail pwresetd sent from a lookalike.
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

/// The alphabet of reference codes: Crockford's base32, without I, L, O and U (no lookalikes).
const REFERENCE_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of a reference code: 60 random bits, shown in groups of four (`7K3M-Q9TX-2HDP`).
/// Not a secret (it is printed in the mail), but not guessable either: it only identifies a
/// mail, and only to a signed-in operator.
pub const REFERENCE_LEN: usize = 12;

/// A new reference code from the operating system's CSPRNG, in its stored form (no hyphens).
pub fn reference() -> Result<String, std::io::Error> {
    let mut bytes = [0u8; REFERENCE_LEN];
    OsRng.try_fill_bytes(&mut bytes).map_err(std::io::Error::other)?;
    Ok(bytes
        .iter()
        .map(|b| char::from(REFERENCE_ALPHABET[usize::from(b & 31)]))
        .collect())
}

/// A stored reference code as a person reads it: `7K3M-Q9TX-2HDP`.
pub fn show_reference(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// What somebody typed or pasted as a reference code, in its stored form: hyphens and spaces
/// dropped, upper case, lookalikes read as Crockford does (O → 0, I and L → 1). `None` when it
/// cannot be one.
pub fn parse_reference(text: &str) -> Option<String> {
    let code: String = text
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    (code.len() == REFERENCE_LEN && code.bytes().all(|b| REFERENCE_ALPHABET.contains(&b))).then_some(code)
}

/// The token in a pasted one-time link (`…/reset/TOKEN`, with or without what follows) or a
/// bare token; `None` when there is none.
pub fn token_in(text: &str) -> Option<&str> {
    let text = text.trim();
    let candidate = match text.rfind("/reset/") {
        Some(at) => {
            let rest = &text[at + "/reset/".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        }
        None => text,
    };
    well_formed(candidate).then_some(candidate)
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
    fn reference_codes_are_random_readable_and_parsed_forgivingly() {
        let a = reference().unwrap();
        assert_eq!(a.len(), REFERENCE_LEN);
        assert_ne!(a, reference().unwrap());
        let shown = show_reference(&a);
        assert_eq!(shown.len(), REFERENCE_LEN + 2);
        assert_eq!(parse_reference(&shown).as_deref(), Some(a.as_str()));
        assert_eq!(parse_reference(" 7k3m-q9tx-2hdp ").as_deref(), Some("7K3MQ9TX2HDP"));
        assert_eq!(parse_reference("OIL0-0000-0000").as_deref(), Some("011000000000"));
        for bad in ["7K3M-Q9TX-2HD", "7K3M-Q9TX-2HDPX", "7K3M-Q9TX-2HDU", "", "<a@b>"] {
            assert_eq!(parse_reference(bad), None, "{bad}");
        }
        let t = issue().unwrap();
        let token = t.token.expose();
        for pasted in [
            format!("https://pw.example.org/reset/{token}"),
            format!("<https://pw.example.org/reset/{token}>"),
            format!("  https://pw.example.org/reset/{token}?x=1 "),
            token.to_owned(),
        ] {
            assert_eq!(token_in(&pasted), Some(token), "{pasted}");
        }
        assert_eq!(token_in("https://pw.example.org/reset/short"), None);
        assert_eq!(token_in("hello"), None);
    }

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
