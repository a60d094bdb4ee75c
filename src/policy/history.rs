//! Password history: [`hash_for_history`] (argon2id PHC strings the store keeps) and the
//! "was this used before" test.
//!
//! Parameters: argon2id v0x13, m = 12 MiB, t = 1, p = 1 ([`HISTORY_PARAMS`]). Measured on the
//! project's 2-core machine (release build, while another build was running), one
//! computation takes 6–11 ms (`scripts/bench-policy` prints the current figure). For
//! comparison, 8 MiB with t = 2 measured 11–15 ms and OWASP's login-hash minimum (19 MiB,
//! t = 2) ~30 ms (16 ms measured at t = 1). t = 1 is the RFC 9106 choice for argon2id (memory,
//! not passes, is what slows a GPU down). Verification reads the parameters from each stored
//! string, so changing them later affects new entries only.
//!
//! **One computation per check.** An account's entries share one salt, the *account salt*:
//! [`hash_for_history`] reuses the salt of the account's newest entry when that entry has the
//! current parameters, and draws a fresh one otherwise (first entry, or parameters changed).
//! [`is_reused`] hashes the candidate once per distinct (parameters, salt) among the entries it
//! looks at, and compares that output with each entry's in constant time (`Output`'s
//! `PartialEq` is `subtle`'s `ct_eq`). So the check costs one argon2id computation whatever the
//! history length, and the portal hands that same hash to the store as the new entry
//! ([`super::Policy::check_with_entry`]): one computation per submit. Entries written before
//! this scheme each have their own salt and still cost one computation each until they age
//! out of the window. The security trade-off is argued in ARCHITECTURE.md ("Password history").
//!
//! The fresh salt comes from the operating system's CSPRNG (`rand::rngs::OsRng`): the only
//! I/O in this file.

use argon2::password_hash::{self, Output, PasswordHash, PasswordHasher, SaltString};
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

/// The PHC prefix of an entry made now, up to and including the `$` before the salt.
fn current_prefix() -> String {
    let (m, t, p) = HISTORY_PARAMS;
    format!("$argon2id$v=19$m={m},t={t},p={p}$")
}

/// The account salt: the salt of the newest entry (`history` is newest first) when it was made
/// with the current parameters.
fn account_salt(history: &[String]) -> Option<SaltString> {
    let newest = history.first()?;
    let encoded = newest.strip_prefix(&current_prefix())?.split('$').next()?;
    SaltString::from_b64(encoded).ok()
}

/// The argon2id PHC string the store keeps for a password pwresetd has just set, with the
/// account salt of `history` (the account's entries, newest first) or a fresh salt when there
/// is none. The password is NFKC-normalised first, like every comparison.
pub fn hash_for_history(password: &Password, history: &[String]) -> Result<String, HistoryError> {
    let salt = match account_salt(history) {
        Some(salt) => salt,
        None => fresh_salt()?,
    };
    hash_with_salt_string(password, &salt)
}

/// Whether `password` is the one `phc` (a [`hash_for_history`] string) was made from: one
/// argon2id computation, compared in constant time. For a single stored hash outside the
/// history (the portal's unconfirmed writes).
pub fn matches_hash(password: &Password, phc: &str) -> Result<bool, HistoryError> {
    is_reused(
        &normalise(password.expose()),
        std::slice::from_ref(&phc.to_owned()),
        1,
        None,
    )
}

fn fresh_salt() -> Result<SaltString, HistoryError> {
    use rand::TryRngCore;
    let mut salt = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut salt)
        .map_err(|e| HistoryError::Randomness(std::io::Error::other(e)))?;
    SaltString::encode_b64(&salt).map_err(HistoryError::Hashing)
}

/// [`hash_for_history`] with a given salt, for deterministic tests.
#[cfg(test)]
pub(crate) fn hash_with_salt(password: &Password, salt: &[u8; 16]) -> Result<String, HistoryError> {
    hash_with_salt_string(password, &SaltString::encode_b64(salt).map_err(HistoryError::Hashing)?)
}

fn hash_with_salt_string(password: &Password, salt: &SaltString) -> Result<String, HistoryError> {
    let normalised = normalise(password.expose());
    #[cfg(test)]
    counter::add();
    let hash = hasher()?
        .hash_password(normalised.as_bytes(), salt)
        .map_err(HistoryError::Hashing)?;
    Ok(hash.to_string())
}

/// What identifies one argon2id computation: the PHC string up to the last `$` (algorithm,
/// version, parameters, salt). Two spellings of the same parameters only cost an extra
/// computation.
fn computation_key(phc: &str) -> &str {
    phc.rsplit_once('$').map_or(phc, |(key, _)| key)
}

/// The candidate hashed like `entry`.
fn compute(normalised: &str, entry: &PasswordHash<'_>) -> Result<Output, password_hash::Error> {
    let salt = entry.salt.ok_or(password_hash::Error::SaltInvalid(
        password_hash::errors::InvalidValue::Malformed,
    ))?;
    #[cfg(test)]
    counter::add();
    let params = Params::try_from(entry)?;
    Argon2::default()
        .hash_password_customized(
            normalised.as_bytes(),
            Some(entry.algorithm),
            entry.version,
            params,
            salt,
        )?
        .hash
        .ok_or(password_hash::Error::Crypto)
}

/// Whether `normalised` matches one of the first `limit` entries of `hashes` (most recent
/// first). `known`, when given, is the candidate already hashed by [`hash_for_history`]; it
/// saves the computation for its salt. A malformed entry is an error, not a silent non-match:
/// failing closed makes a corrupted store visible instead of letting reuse through.
pub fn is_reused(normalised: &str, hashes: &[String], limit: usize, known: Option<&str>) -> Result<bool, HistoryError> {
    // One output per distinct computation key; a history has a handful at most.
    let mut computed: Vec<(&str, Output)> = Vec::new();
    if let Some(phc) = known {
        let parsed = PasswordHash::new(phc).map_err(HistoryError::Hashing)?;
        if let Some(output) = parsed.hash {
            computed.push((computation_key(phc), output));
        }
    }
    for (index, phc) in hashes.iter().take(limit).enumerate() {
        let malformed = |reason| HistoryError::MalformedHash { index, reason };
        let parsed = PasswordHash::new(phc).map_err(malformed)?;
        let stored = parsed
            .hash
            .ok_or_else(|| malformed(password_hash::Error::PhcStringField))?;
        let key = computation_key(phc);
        let candidate = match computed.iter().find(|(k, _)| *k == key) {
            Some((_, output)) => *output,
            None => {
                let output = compute(normalised, &parsed).map_err(malformed)?;
                computed.push((key, output));
                output
            }
        };
        if candidate == stored {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Counts argon2id computations on this thread, so tests can state the cost of a check.
#[cfg(test)]
pub(crate) mod counter {
    use std::cell::Cell;

    thread_local!(static COMPUTATIONS: Cell<usize> = const { Cell::new(0) });

    pub fn add() {
        COMPUTATIONS.with(|c| c.set(c.get() + 1));
    }

    /// Computations on this thread since the last call.
    pub fn take() -> usize {
        COMPUTATIONS.with(|c| c.replace(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries as written before the account salt: one salt each.
    fn legacy(passwords: &[&str]) -> Vec<String> {
        passwords
            .iter()
            .enumerate()
            .map(|(i, p)| hash_with_salt(&Password::new(*p), &[i as u8; 16]).unwrap())
            .collect()
    }

    /// Entries as [`hash_for_history`] writes them: the oldest first, each new one on top.
    fn shared(passwords: &[&str]) -> Vec<String> {
        let mut history: Vec<String> = Vec::new();
        for p in passwords.iter().rev() {
            let entry = hash_for_history(&Password::new(*p), &history).unwrap();
            history.insert(0, entry);
        }
        history
    }

    fn check(candidate: &str, history: &[&str], limit: usize, expected: bool) {
        for (scheme, hashes) in [("legacy", legacy(history)), ("shared", shared(history))] {
            let got = is_reused(&normalise(candidate), &hashes, limit, None).unwrap();
            assert_eq!(
                got, expected,
                "{candidate:?} in {history:?} (limit {limit}, {scheme} salts)"
            );
            let known = hash_for_history(&Password::new(candidate), &hashes).unwrap();
            let got = is_reused(&normalise(candidate), &hashes, limit, Some(&known)).unwrap();
            assert_eq!(
                got, expected,
                "{candidate:?} in {history:?} (limit {limit}, {scheme}, known)"
            );
        }
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
    fn matches_hash_is_true_for_its_own_password_only() {
        let phc = hash_for_history(&Password::new("correct horse"), &[]).unwrap();
        assert!(matches_hash(&Password::new("correct horse"), &phc).unwrap());
        assert!(!matches_hash(&Password::new("correct horsE"), &phc).unwrap());
        assert!(matches_hash(&Password::new("x"), "not a phc").is_err());
    }

    #[test]
    fn hash_is_argon2id_phc_with_documented_params() {
        let phc = hash_for_history(&Password::new("x"), &[]).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=12288,t=1,p=1$"), "{phc}");
        let other = hash_for_history(&Password::new("x"), &[]).unwrap();
        assert_ne!(phc, other, "a first entry gets a fresh salt");
    }

    fn salt(phc: &str) -> &str {
        phc.split('$').nth(4).unwrap()
    }

    #[test]
    fn new_entries_take_the_newest_entrys_salt_when_its_parameters_are_current() {
        let first = hash_for_history(&Password::new("one"), &[]).unwrap();
        let second = hash_for_history(&Password::new("two"), std::slice::from_ref(&first)).unwrap();
        assert_eq!(salt(&first), salt(&second));
        // A legacy history: the newest entry's salt becomes the account's.
        let old = legacy(&["a", "b"]);
        let next = hash_for_history(&Password::new("c"), &old).unwrap();
        assert_eq!(salt(&next), salt(&old[0]));
        // Other parameters (e.g. raised later): a fresh salt, not one tied to old parameters.
        let params = Params::new(8 * 1024, 1, 1, None).unwrap();
        let salt_string = SaltString::encode_b64(&[9; 16]).unwrap();
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"d", &salt_string)
            .unwrap()
            .to_string();
        let fresh = hash_for_history(&Password::new("e"), std::slice::from_ref(&other)).unwrap();
        assert_ne!(salt(&fresh), salt(&other));
    }

    /// The point of the account salt: the cost of a check does not grow with the history.
    #[test]
    fn a_check_costs_one_computation_per_distinct_salt() {
        let five = shared(&["a", "b", "c", "d", "e"]);
        counter::take();
        assert!(!is_reused("z", &five, 5, None).unwrap());
        assert_eq!(counter::take(), 1, "five entries sharing the account salt");
        let known = hash_for_history(&Password::new("z"), &five).unwrap();
        assert_eq!(counter::take(), 1);
        assert!(!is_reused("z", &five, 5, Some(&known)).unwrap());
        assert_eq!(counter::take(), 0, "the portal's new entry serves the check");
        assert!(is_reused("e", &five, 5, None).unwrap());
        counter::take();

        let old = legacy(&["a", "b", "c", "d", "e"]);
        counter::take();
        assert!(!is_reused("z", &old, 5, None).unwrap());
        assert_eq!(counter::take(), 5, "legacy entries cost one each until they age out");
        let mut mixed = old.clone();
        mixed.insert(0, hash_for_history(&Password::new("f"), &old).unwrap());
        counter::take();
        assert!(!is_reused("z", &mixed, 5, None).unwrap());
        assert_eq!(
            counter::take(),
            4,
            "the new entry shares the newest legacy entry's salt"
        );
    }

    #[test]
    fn malformed_entry_is_an_error_naming_its_index() {
        let mut h = legacy(&["a"]);
        h.push("not a phc string".into());
        let err = is_reused("zzz", &h, 5, None).unwrap_err().to_string();
        assert!(err.starts_with("history entry 1 is not a PHC string"), "{err}");
    }
}
