//! Checking a candidate password against a stored `userPassword` value (RFC 2307 style
//! `{SCHEME}` prefixes), so that the link flow can refuse "new = current" (and an earlier
//! password the directory keeps, [`Stored::Earlier`]) without a bind (a failed bind would count
//! against the account's lockout). Pure code; comparisons are in constant time.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::Hmac;
use hmac::digest::{FixedOutput, KeyInit};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use subtle::ConstantTimeEq;

/// Which of an account's stored passwords a candidate is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stored {
    /// The current one (`userPassword`).
    Current,
    /// The earlier ones the directory keeps (OpenLDAP ppolicy's `pwdHistory`).
    Earlier,
}

/// Whether `candidate` is any of the passwords stored as `values`: `Some(true)` when one
/// matches, `Some(false)` when every one could be verified and none matches, `None` when there
/// are none or one could not be verified. Every value is verified (no early exit), so the time
/// taken does not tell which one matched.
pub fn matches_any<'a>(values: impl IntoIterator<Item = &'a [u8]>, candidate: &str) -> Option<bool> {
    let results: Vec<Option<bool>> = values.into_iter().map(|v| matches(v, candidate)).collect();
    if results.contains(&Some(true)) {
        Some(true)
    } else if !results.is_empty() && results.iter().all(Option::is_some) {
        Some(false)
    } else {
        None
    }
}

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
        "PBKDF2-SHA512" => pbkdf2::<Hmac<Sha512>>(rest, pw),
        "PBKDF2-SHA256" => pbkdf2::<Hmac<Sha256>>(rest, pw),
        "PBKDF2-SHA1" => pbkdf2::<Hmac<Sha1>>(rest, pw),
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

/// Most PBKDF2 rounds verified: a value asking for more is not one 389-DS made (10,000), and
/// would hold a thread for seconds.
const MAX_PBKDF2_ROUNDS: u32 = 1_000_000;

/// 389-DS's `{PBKDF2-SHA512}` (and -SHA256, -SHA1: its `pwdchan` plugin) values,
/// `ROUNDS$SALT$HASH` in base64 (passlib's `.` for `+` and no padding are accepted too); the
/// hash is PBKDF2-HMAC of the password with the salt, as long as the stored one.
fn pbkdf2<M: KeyInit + hmac::digest::Update + FixedOutput + Clone + Sync>(rest: &str, pw: &[u8]) -> Option<bool> {
    let mut parts = rest.trim().split('$');
    let rounds: u32 = parts.next()?.parse().ok()?;
    let salt = lenient_b64(parts.next()?)?;
    let stored = lenient_b64(parts.next()?)?;
    if rounds == 0 || rounds > MAX_PBKDF2_ROUNDS || stored.is_empty() || parts.next().is_some() {
        return None;
    }
    let mut derived = vec![0; stored.len()];
    pbkdf2::pbkdf2::<M>(pw, &salt, rounds, &mut derived).ok()?;
    Some(derived.ct_eq(&stored).into())
}

fn lenient_b64(text: &str) -> Option<Vec<u8>> {
    let standard = text.replace('.', "+");
    STANDARD_NO_PAD.decode(standard.trim_end_matches('=')).ok()
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

    #[test]
    fn pbkdf2_values_as_389_ds_stores_them() {
        // A passwordHistory value 389-DS 2.3 wrote (its default scheme) for "Admin-Set-P1-xyz";
        // the others made by Python's hashlib.pbkdf2_hmac (an independent implementation).
        let ds = concat!(
            "{PBKDF2-SHA512}10000$YS+HDkzVPxMjMrDO669VX9FAmlZUF2HY$",
            "Fre8/Zk4KNrSJGlkdRp9Jb/TVZ9hhOyn7GeEmZ06xYVOgwlF1uuzW2AIfd+eB0sAygTuxUvs2rc0GBcW9wHgVQ=="
        );
        let salt = "MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u";
        let sha256 = format!("{{PBKDF2-SHA256}}1000${salt}$Kn9edA+i+xxXQOLtJLW4t6gJaqTt9KWH780usSgRpmI=");
        let sha1 = format!("{{PBKDF2-SHA1}}1000${salt}$NgRC82CltOq/tTvTS82SB6OnVf0=");
        // 40 bytes: two PBKDF2 blocks of SHA-1.
        let two = format!("{{PBKDF2-SHA1}}1000${salt}$NgRC82CltOq/tTvTS82SB6OnVf0MKjnPCs6huQv0Fw0c8lwHj0dLAA==");
        // passlib's spelling: `.` for `+`, no padding.
        let passlib = ds.replace('+', ".").trim_end_matches('=').to_owned();
        let cases: Vec<(&str, &str, Option<bool>)> = vec![
            (ds, "Admin-Set-P1-xyz", Some(true)),
            (ds, "Admin-Set-P1-xyZ", Some(false)),
            (&passlib, "Admin-Set-P1-xyz", Some(true)),
            (&sha256, "Quiet7-Harbor", Some(true)),
            (&sha256, "Quiet7-Harbour", Some(false)),
            (&sha1, "Quiet7-Harbor", Some(true)),
            (&two, "Quiet7-Harbor", Some(true)),
            (&two, "quiet7-Harbor", Some(false)),
            ("{PBKDF2-SHA512}0$AAAA$AAAA", "x", None),
            ("{PBKDF2-SHA512}99999999$AAAA$AAAA", "x", None),
            ("{PBKDF2-SHA512}10$AAAA", "x", None),
            ("{PBKDF2-SHA512}ten$AAAA$AAAA", "x", None),
            ("{PBKDF2-SHA512}10$AAAA$", "x", None),
            // 389's C plugin's own format (one base64 blob): not verified.
            ("{PBKDF2_SHA256}AAAnEA==", "x", None),
        ];
        for (stored, candidate, expected) in cases {
            assert_eq!(
                matches(stored.as_bytes(), candidate),
                expected,
                "{stored} vs {candidate}"
            );
        }
    }

    #[test]
    fn any_of_several() {
        let (a, b) = (ssha("first", b"salt1234"), ssha("second", b"salt5678"));
        let cases: Vec<(Vec<&str>, &str, Option<bool>)> = vec![
            (vec![&a, &b], "second", Some(true)),
            (vec![&a, &b], "third", Some(false)),
            (vec![&a, "{CRYPT}$6$x$y"], "first", Some(true)),
            (vec![&a, "{CRYPT}$6$x$y"], "third", None),
            (vec![], "first", None),
        ];
        for (values, candidate, expected) in cases {
            let values = values.iter().map(|v| v.as_bytes());
            assert_eq!(matches_any(values, candidate), expected, "{candidate}");
        }
    }
}
