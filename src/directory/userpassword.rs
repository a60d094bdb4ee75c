//! Checking a candidate password against a stored `userPassword` value (RFC 2307 style
//! `{SCHEME}` prefixes), so that the link flow can refuse "new = current" without a bind (a
//! failed bind would count against the account's lockout). Pure code; comparisons are in
//! constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

/// Whether `candidate` is the password stored as `stored`; `None` when the scheme is one pwresetd
/// cannot verify (e.g. `{CRYPT}`, `{SASL}`).
pub fn matches(stored: &[u8], candidate: &str) -> Option<bool> {
    let text = std::str::from_utf8(stored).ok();
    let Some((scheme, rest)) = text.and_then(split_scheme) else {
        // No scheme: a cleartext value.
        return Some(stored.ct_eq(candidate.as_bytes()).into());
    };
    let pw = candidate.as_bytes();
    match scheme.to_ascii_uppercase().as_str() {
        "SSHA" => salted::<Sha1>(rest, pw),
        "SSHA256" => salted::<Sha256>(rest, pw),
        "SSHA384" => salted::<Sha384>(rest, pw),
        "SSHA512" => salted::<Sha512>(rest, pw),
        "SHA" => unsalted::<Sha1>(rest, pw),
        "SHA256" => unsalted::<Sha256>(rest, pw),
        "SHA512" => unsalted::<Sha512>(rest, pw),
        "CLEARTEXT" => Some(rest.as_bytes().ct_eq(pw).into()),
        "ARGON2" => argon2(rest, candidate),
        _ => None,
    }
}

fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix('{')?;
    let end = rest.find('}')?;
    Some((&rest[..end], &rest[end + 1..]))
}

fn salted<D: Digest>(b64: &str, pw: &[u8]) -> Option<bool> {
    let raw = STANDARD.decode(b64.trim()).ok()?;
    let n = <D as Digest>::output_size();
    if raw.len() <= n {
        return None;
    }
    let (digest, salt) = raw.split_at(n);
    let mut h = D::new();
    h.update(pw);
    h.update(salt);
    Some(h.finalize().as_slice().ct_eq(digest).into())
}

fn unsalted<D: Digest>(b64: &str, pw: &[u8]) -> Option<bool> {
    let raw = STANDARD.decode(b64.trim()).ok()?;
    Some(D::digest(pw).as_slice().ct_eq(&raw).into())
}

fn argon2(phc: &str, candidate: &str) -> Option<bool> {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let hash = PasswordHash::new(phc).ok()?;
    Some(
        argon2::Argon2::default()
            .verify_password(candidate.as_bytes(), &hash)
            .is_ok(),
    )
}

/// An `{ARGON2}` userPassword value for `password` (argon2id, random salt), as OpenLDAP's argon2
/// module verifies it.
pub fn argon2_value(password: &str) -> Result<String, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use rand::TryRngCore;
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| format!("{{ARGON2}}{h}"))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssha(pw: &str, salt: &[u8]) -> String {
        let mut h = Sha1::new();
        h.update(pw.as_bytes());
        h.update(salt);
        let mut raw = h.finalize().to_vec();
        raw.extend_from_slice(salt);
        format!("{{SSHA}}{}", STANDARD.encode(raw))
    }

    #[test]
    fn schemes() {
        let salted = ssha("Correct horse", b"saltsalt");
        let argon = argon2_value("Zoë-pässwörd").unwrap();
        let sha = format!("{{SHA}}{}", STANDARD.encode(Sha1::digest(b"abc")));
        let cases: Vec<(&str, &str, Option<bool>)> = vec![
            (&salted, "Correct horse", Some(true)),
            (&salted, "correct horse", Some(false)),
            (&argon, "Zoë-pässwörd", Some(true)),
            (&argon, "Zoe-passworD", Some(false)),
            (&sha, "abc", Some(true)),
            (&sha, "abd", Some(false)),
            ("plain", "plain", Some(true)),
            ("plain", "plainx", Some(false)),
            ("{CLEARTEXT}x", "x", Some(true)),
            ("{CRYPT}$6$abc$def", "x", None),
            ("{SSHA}not base64!", "x", None),
            ("{SSHA}AAAA", "x", None),
        ];
        for (stored, candidate, expected) in cases {
            assert_eq!(
                matches(stored.as_bytes(), candidate),
                expected,
                "{stored} vs {candidate}"
            );
        }
        assert!(argon.starts_with("{ARGON2}$argon2id$v=19$"));
    }
}
