//! Active Directory password policies: the domain's (attributes of the domain root) and
//! fine-grained ones (a user's `msDS-ResultantPSO`), read as [`DirectoryRules`] and as
//! [`Lockout`] rules.

use std::time::Duration;

use ldap3::Scope;

use super::super::conn::Pool;
use super::super::rules::DirectoryRules;
use super::super::{DirectoryError, Lockout, Threshold, search};

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

/// The domain's lockout rules (`lockoutThreshold`, `lockOutObservationWindow`).
pub(super) async fn domain_lockout(pool: &Pool, domain: &str) -> Result<Lockout, DirectoryError> {
    lockout(
        pool,
        domain,
        ["lockoutThreshold", "lockOutObservationWindow"],
        "the domain policy",
    )
    .await
}

/// A password settings object's lockout rules.
pub(super) async fn pso_lockout(pool: &Pool, pso: &str) -> Result<Lockout, DirectoryError> {
    let attrs = ["msDS-LockoutThreshold", "msDS-LockoutObservationWindow"];
    lockout(pool, pso, attrs, "the password settings object").await
}

async fn lockout(pool: &Pool, dn: &str, attrs: [&str; 2], what: &str) -> Result<Lockout, DirectoryError> {
    let entries = search::read(pool, dn, Scope::Base, "(objectClass=*)", &attrs).await?;
    let [threshold, window] = attrs;
    let Some(e) = entries.first().filter(|e| e.first(threshold).is_some()) else {
        return Ok(Lockout::unknown(format!(
            "{threshold} of {what} {dn} is not readable by the service account"
        )));
    };
    Ok(lockout_of(
        e.first(threshold),
        e.first(window),
        format!("{threshold} of {what} {dn}"),
    ))
}

/// Lockout rules from a threshold (0: never) and an observation window, an AD interval:
/// negative 100-nanosecond ticks.
fn lockout_of(threshold: Option<&str>, window: Option<&str>, source: String) -> Lockout {
    let n = threshold.and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(0);
    let ticks = window.and_then(|v| v.trim().parse::<i64>().ok()).unwrap_or(0);
    let secs = ticks.unsigned_abs() / 10_000_000;
    Lockout {
        threshold: if n == 0 { Threshold::Never } else { Threshold::After(n) },
        window: (secs > 0).then(|| Duration::from_secs(secs)),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_rules_from_threshold_and_interval() {
        let table = [
            ((Some("5"), Some("-18000000000")), (Threshold::After(5), Some(1800))),
            ((Some("3"), Some("-9000000000")), (Threshold::After(3), Some(900))),
            ((Some("0"), Some("-18000000000")), (Threshold::Never, Some(1800))),
            ((None, None), (Threshold::Never, None)),
            ((Some("10"), Some("0")), (Threshold::After(10), None)),
        ];
        for ((t, w), (threshold, window)) in table {
            let l = lockout_of(t, w, "x".into());
            assert_eq!(
                (l.threshold, l.window),
                (threshold, window.map(Duration::from_secs)),
                "{t:?} {w:?}"
            );
        }
    }
}
