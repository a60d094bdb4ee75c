//! ppolicy's `pwdHistory`: the account's earlier password hashes. slapd 2.5 adds the replaced
//! `userPassword` value to it on every change while the applying policy has `pwdInHistory` > 0, the
//! service account's administrative write included (measured: a `replace: userPassword` and a
//! Password Modify by the service account each added one), but compares a new password with it only
//! on the user's own change; [`earlier`](crate::directory::earlier) verifies the candidate against
//! each hash. This file knows only the attribute and its values' format. Reads only.

use crate::directory::earlier::History;

/// The account's `pwdHistory`.
pub(super) const HISTORY: History = History {
    attr: "pwdHistory",
    server: "slapd",
    hash_of: stored_hash,
    grant,
};

/// The slapd ACL that lets the service account read `pwdHistory`.
fn grant(bind_dn: &str) -> String {
    format!(
        "grant read access in a rule before any that denies it: access to attrs=pwdHistory by \
         dn.exact=\"{bind_dn}\" read"
    )
}

/// The stored hash in one `pwdHistory` value, `time#syntaxOID#length#value` (ppolicy's format:
/// the change's time, the password attribute's syntax, the value's length in bytes, the value);
/// `None` when the value is not in that form or its length does not match.
fn stored_hash(value: &str) -> Option<&str> {
    let mut parts = value.splitn(4, '#');
    let (_time, _syntax) = (parts.next()?, parts.next()?);
    let len: usize = parts.next()?.trim().parse().ok()?;
    let hash = parts.next()?;
    (hash.len() == len).then_some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, expected: Option<&str>) {
        assert_eq!(stored_hash(value), expected, "{value}");
    }

    #[test]
    fn the_hash_of_a_history_value() {
        // As slapd 2.5 wrote them on the test server.
        let ssha = "{SSHA}/R5/4RHdmzkomhZ8h4Aa0h2OCUGVitHM";
        check(
            &format!("20261201083234Z#1.3.6.1.4.1.1466.115.121.1.40#38#{ssha}"),
            Some(ssha),
        );
        // A `#` inside the value stays the value's.
        check("20261201083234Z#1.3.6.1.4.1.1466.115.121.1.40#5#ab#cd", Some("ab#cd"));
        check("20261201083234Z#1.3.6.1.4.1.1466.115.121.1.40#0#", Some(""));
        // Length that does not match, not a number, too few parts.
        check("20261201083234Z#1.3.6.1.4.1.1466.115.121.1.40#37#{SSHA}abc", None);
        check("20261201083234Z#1.3.6.1.4.1.1466.115.121.1.40#x#{SSHA}abc", None);
        check("20261201083234Z#{SSHA}abc", None);
        check("{SSHA}abc", None);
    }
}
