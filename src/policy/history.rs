//! Password history: [`hash_for_history`] (argon2id PHC strings the store keeps) and the
//! "was this used before" test.
//!
//! Parameters: argon2id v0x13, m = 12 MiB, t = 1, p = 1 ([`HISTORY_PARAMS`]). Measured on the
//! project's 2-core machine (release build, while another build was running), one
//! verification takes 8–11 ms, so the default history of 5 costs 40–55 ms per check, about
//! half the 100 ms budget, leaving room for concurrent checks (`scripts/bench-policy` prints
//! the current figure). For comparison, 8 MiB with t = 2 measured 11–15 ms and OWASP's
//! login-hash minimum (19 MiB, t = 2) ~30 ms (16 ms measured at t = 1), so N = 5 would cost
//! ~150 ms. t = 1 is
//! the RFC 9106 choice for argon2id (memory, not passes, is what slows a GPU down). These
//! hashes are of retired passwords and are verified N at a time, which is why the budget is
//! per check rather than per hash. Verification reads the parameters from each stored string,
//! so changing them later affects new entries only. The comparison inside argon2's
//! `verify_password` is constant-time.
//!
//! The salt comes from the operating system's CSPRNG (`rand::rngs::OsRng`): the only I/O in
//! this file.

use argon2::password_hash::{self, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use super::normalise;
use super::secret::Password;

/// argon2id memory cost in KiB, iterations, lanes (see the module doc for why).
pub const HISTORY_PARAMS: (u32, u32, u32) = (12 * 1024, 1, 1);

/// Why a history hash could not be made or checked. Never carries the password or the hash.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("reading 16 random bytes for a salt from the operating system")]
    Randomness(#[source] std::io::Error),
    #[error("argon2 refused the history parameters or salt: {0}")]
    Hashing(password_hash::Error),
    #[error("history entry {index} is not a PHC string argon2 can verify: {reason}")]
    MalformedHash { index: usize, reason: password_hash::Error },
}

fn hasher() -> Result<Argon2<'static>, HistoryError> {
    let (m, t, p) = HISTORY_PARAMS;
    let params = Params::new(m, t, p, None).map_err(|e| HistoryError::Hashing(e.into()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The argon2id PHC string the store keeps for a password pwresetd has just set. The password
/// is NFKC-normalised first, like every comparison.
pub fn hash_for_history(password: &Password) -> Result<String, HistoryError> {
    use rand::TryRngCore;
    let mut salt = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| HistoryError::Randomness(std::io::Error::other(e)))?;
    hash_with_salt(password, &salt)
}

/// [`hash_for_history`] with a given salt, for deterministic tests.
pub(crate) fn hash_with_salt(password: &Password, salt: &[u8; 16]) -> Result<String, HistoryError> {
    let salt = SaltString::encode_b64(salt).map_err(HistoryError::Hashing)?;
    let normalised = normalise(password.expose());
    let hash = hasher()?
        .hash_password(normalised.as_bytes(), &salt)
        .map_err(HistoryError::Hashing)?;
    Ok(hash.to_string())
}

/// Whether `normalised` matches one of the first `limit` entries of `hashes` (most recent
/// first). Stops at the first match. A malformed entry is an error, not a silent non-match:
/// failing closed makes a corrupted store visible instead of letting reuse through.
pub fn is_reused(normalised: &str, hashes: &[String], limit: usize) -> Result<bool, HistoryError> {
    let verifier = Argon2::default(); // parameters come from each PHC string
    for (index, phc) in hashes.iter().take(limit).enumerate() {
        let parsed = PasswordHash::new(phc).map_err(|reason| HistoryError::MalformedHash { index, reason })?;
        match verifier.verify_password(normalised.as_bytes(), &parsed) {
            Ok(()) => return Ok(true),
            Err(password_hash::Error::Password) => {}
            Err(reason) => return Err(HistoryError::MalformedHash { index, reason }),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(passwords: &[&str]) -> Vec<String> {
        passwords
            .iter()
            .enumerate()
            .map(|(i, p)| hash_with_salt(&Password::new(*p), &[i as u8; 16]).unwrap())
            .collect()
    }

    fn check(candidate: &str, history: &[&str], limit: usize, expected: bool) {
        let got = is_reused(&normalise(candidate), &hashes(history), limit).unwrap();
        assert_eq!(got, expected, "{candidate:?} in {history:?} (limit {limit})");
    }

    #[test]
    fn reuse_table() {
        check("first password here", &[], 5, false);
        check("first password here", &["first password here"], 5, true);
        check("First password here", &["first password here"], 5, false); // exact, case matters
        check("caf\u{e9} au lait mornings", &["cafe\u{301} au lait mornings"], 5, true); // NFKC
        check("ﬁsh and chips forever", &["fish and chips forever"], 5, true); // ligature, NFKC
        check("old one", &["a", "b", "old one"], 2, false); // beyond the limit
        check("old one", &["a", "b", "old one"], 3, true);
        check("", &[""], 1, true);
    }

    #[test]
    fn hash_is_argon2id_phc_with_documented_params() {
        let phc = hash_for_history(&Password::new("x")).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=12288,t=1,p=1$"), "{phc}");
        let other = hash_for_history(&Password::new("x")).unwrap();
        assert_ne!(phc, other, "salts must differ");
    }

    #[test]
    fn malformed_entry_is_an_error_naming_its_index() {
        let mut h = hashes(&["a"]);
        h.push("not a phc string".into());
        let err = is_reused("zzz", &h, 5).unwrap_err().to_string();
        assert!(err.starts_with("history entry 1 is not a PHC string"), "{err}");
    }
}
