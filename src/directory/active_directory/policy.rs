//! Active Directory password policies: the domain's (attributes of the domain root) and
//! fine-grained ones (a user's `msDS-ResultantPSO`), read as [`DirectoryRules`].

use ldap3::Scope;

use super::super::conn::Pool;
use super::super::rules::DirectoryRules;
use super::super::{DirectoryError, search};

/// `pwdProperties` DOMAIN_PASSWORD_COMPLEX: three of the four character classes, and no part of
/// the account or display name.
const DOMAIN_PASSWORD_COMPLEX: u32 = 0x1;
const COMPLEXITY_NOTE: &str = " and no part of the account name";

/// The domain policy, from a base search on the domain root; `None` when not readable.
pub(super) async fn domain_rules(pool: &Pool, domain: &str) -> Result<Option<DirectoryRules>, DirectoryError> {
    let attrs = ["minPwdLength", "pwdHistoryLength", "pwdProperties"];
    let entries = search::read(pool, domain, Scope::Base, "(objectClass=*)", &attrs).await?;
    let Some(e) = entries.first() else { return Ok(None) };
    let num = |a| e.first(a).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    Ok(Some(DirectoryRules {
        source: format!("the domain password policy of {domain}"),
        min_length: num("minPwdLength"),
        min_character_classes: if num("pwdProperties") & DOMAIN_PASSWORD_COMPLEX != 0 {
            3
        } else {
            0
        },
        history: num("pwdHistoryLength"),
        class_note: COMPLEXITY_NOTE,
    }))
}

/// A password settings object (fine-grained policy); `None` when not readable.
pub(super) async fn pso_rules(pool: &Pool, pso: &str) -> Result<Option<DirectoryRules>, DirectoryError> {
    let attrs = [
        "msDS-MinimumPasswordLength",
        "msDS-PasswordHistoryLength",
        "msDS-PasswordComplexityEnabled",
    ];
    let entries = search::read(pool, pso, Scope::Base, "(objectClass=*)", &attrs).await?;
    let Some(e) = entries.first() else { return Ok(None) };
    let num = |a| e.first(a).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    let complex = e
        .first("msDS-PasswordComplexityEnabled")
        .is_some_and(|v| v.eq_ignore_ascii_case("TRUE"));
    Ok(Some(DirectoryRules {
        source: format!("the password settings object {pso}"),
        min_length: num("msDS-MinimumPasswordLength"),
        min_character_classes: if complex { 3 } else { 0 },
        history: num("msDS-PasswordHistoryLength"),
        class_note: COMPLEXITY_NOTE,
    }))
}
