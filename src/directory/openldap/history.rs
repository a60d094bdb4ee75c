//! ppolicy's `pwdHistory`: the account's earlier password hashes. slapd 2.5 adds the replaced
//! `userPassword` value to it on every change while the applying policy has `pwdInHistory` > 0,
//! the service account's administrative write included (measured: a `replace: userPassword` and
//! a Password Modify by the service account each added one), but compares a new password with
//! it only on the user's own change; [`earlier`] verifies the candidate against each hash. This
//! file knows only the attribute and its values' format. Reads only.

use crate::directory::shared::Shared;
use crate::directory::{DirectoryError, Warning, earlier};
use crate::secret::Secret;

const ATTR: &str = "pwdHistory";

/// Whether `candidate` is one of the earlier passwords in the account's `pwdHistory`; `None`
/// when there is no readable history or a hash pwresetd cannot verify (e.g. `{CRYPT}`).
pub(super) async fn is_earlier(s: &Shared, dn: &str, candidate: &Secret) -> Result<Option<bool>, DirectoryError> {
    earlier::is_earlier(s, dn, ATTR, stored_hash, candidate).await
}

/// Why the link flow cannot tell earlier passwords for `dn` (an account in scope), if the
/// service account may not read its `pwdHistory`, with the ACL that fixes it.
pub(super) async fn warning(s: &Shared, dn: &str) -> Result<Option<Warning>, DirectoryError> {
    if earlier::readable(s, dn, ATTR).await? {
        return Ok(None);
    }
    Ok(Some(Warning::advisory(format!(
        "the service account may not read pwdHistory of {dn}, so the link flow cannot refuse the \
         earlier passwords slapd keeps (an earlier campaign's burnt password among them): its \
         administrative set skips slapd's own history check; grant read access in a rule before \
         any that denies it: access to attrs=pwdHistory by dn.exact=\"{}\" read",
        s.config.bind_dn
    ))))
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
