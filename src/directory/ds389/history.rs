//! 389-DS's `passwordHistory`: the account's earlier password hashes, kept while the applying
//! policy has `passwordHistory: on` (the last `passwordInHistory`). The server adds the replaced
//! `userPassword` value on every change, the service account's `replace: userPassword` and Password
//! Modify included (measured on 389-DS 2.3), but compares with it only on the user's own change;
//! [`earlier`](crate::directory::earlier) verifies the candidate against each hash (389's default
//! `{PBKDF2-SHA512}` included). This file knows only the attribute and its values' format. Reads
//! only. The service account needs read access to the attribute (an ACI's `targetattr`).

use crate::directory::earlier::History;

/// The account's `passwordHistory`.
pub(super) const HISTORY: History = History {
    attr: "passwordHistory",
    server: "389-DS",
    hash_of: stored_hash,
    grant,
};

/// The 389-DS ACI that lets the service account read `passwordHistory`.
fn grant(bind_dn: &str) -> String {
    format!(
        "add an ACI on the accounts' subtree: (targetattr=\"passwordHistory\")(version 3.0; acl \
         \"pwresetd reads earlier passwords\"; allow (read, search, compare) userdn=\"ldap:///{bind_dn}\";)"
    )
}

/// The stored hash in one `passwordHistory` value: the time it was replaced
/// (`YYYYMMDDHHMMSSZ`), then the hash as `userPassword` held it.
fn stored_hash(value: &str) -> Option<&str> {
    let (time, hash) = (value.get(..15)?, value.get(15..)?);
    let well_formed = time.ends_with('Z') && time[..14].bytes().all(|b| b.is_ascii_digit());
    (well_formed && !hash.is_empty()).then_some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_of_a_history_value() {
        // As 389-DS 2.3 wrote one on the test server (shortened).
        let table = [
            (
                "20261201083606Z{PBKDF2-SHA512}10000$n7dD$GiMG",
                Some("{PBKDF2-SHA512}10000$n7dD$GiMG"),
            ),
            ("20261201083606Z{SSHA512}abc", Some("{SSHA512}abc")),
            ("20261201083606Z", None),
            ("2026120108360xZ{SSHA}abc", None),
            ("{SSHA}abcdefghijklmnop", None),
            ("short", None),
            ("20261201083606Zé", Some("é")),
        ];
        for (value, expected) in table {
            assert_eq!(stored_hash(value), expected, "{value}");
        }
    }
}
