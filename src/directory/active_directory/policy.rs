//! Active Directory password policies: the domain's (attributes of the domain root) and
//! fine-grained ones (the password settings object a user's `msDS-ResultantPSO` names), read as
//! the policy engine's [`DirectoryRules`] and as [`Lockout`] rules.
//!
//! Complexity (`pwdProperties` DOMAIN_PASSWORD_COMPLEX, or a PSO's
//! `msDS-PasswordComplexityEnabled`) is three of the AD character categories and no part of the
//! account name ([`CategoryScheme::ActiveDirectory`], [`NameRule::ActiveDirectory`]).

use std::time::Duration;

use ldap3::Scope;

use super::super::conn::Pool;
use super::super::search::{self, Entry};
use super::super::{DirectoryError, Lockout, Threshold, filetime};
use crate::policy::{Categories, CategoryScheme, DirectoryRules, NameRule};

/// `pwdProperties` DOMAIN_PASSWORD_COMPLEX.
const DOMAIN_PASSWORD_COMPLEX: u32 = 0x1;
/// How many categories complexity asks for (fixed in AD).
const COMPLEX_CATEGORIES: u8 = 3;

const DOMAIN_ATTRS: [&str; 4] = ["minPwdLength", "pwdHistoryLength", "pwdProperties", "minPwdAge"];
const PSO_ATTRS: [&str; 4] = [
    "msDS-MinimumPasswordLength",
    "msDS-PasswordHistoryLength",
    "msDS-PasswordComplexityEnabled",
    "msDS-MinimumPasswordAge",
];

/// The entry at `dn` with `attrs`; `None` when it is missing or not readable (AD answers an
/// unreadable entry with no attributes, or not at all).
async fn read(pool: &Pool, dn: &str, attrs: &[&str]) -> Result<Option<Entry>, DirectoryError> {
    match search::read(pool, dn, Scope::Base, "(objectClass=*)", attrs).await {
        Ok(entries) => Ok(entries.into_iter().next()),
        Err(DirectoryError::Operation { rc: 50, .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The domain policy, from a base search on the domain root; `None` when not readable.
pub(super) async fn domain_rules(pool: &Pool, domain: &str) -> Result<Option<DirectoryRules>, DirectoryError> {
    Ok(read(pool, domain, &DOMAIN_ATTRS).await?.and_then(|e| from_domain(&e)))
}

/// A password settings object (fine-grained policy); `None` when not readable (by default only
/// domain administrators may read PSOs).
pub(super) async fn pso_rules(pool: &Pool, pso: &str) -> Result<Option<DirectoryRules>, DirectoryError> {
    Ok(read(pool, pso, &PSO_ATTRS).await?.and_then(|e| from_pso(&e)))
}

fn num(e: &Entry, attr: &str) -> Option<u32> {
    e.first(attr).and_then(|v| v.trim().parse().ok())
}

fn from_domain(e: &Entry) -> Option<DirectoryRules> {
    let min_length = num(e, "minPwdLength")?;
    let complex = num(e, "pwdProperties").unwrap_or(0) & DOMAIN_PASSWORD_COMPLEX != 0;
    Some(rules(
        format!("the AD domain policy of {}", e.dn),
        min_length,
        complex,
        num(e, "pwdHistoryLength").unwrap_or(0),
        e.first("minPwdAge").and_then(filetime::duration_secs).unwrap_or(0),
    ))
}

fn from_pso(e: &Entry) -> Option<DirectoryRules> {
    let min_length = num(e, "msDS-MinimumPasswordLength")?;
    let complex = e
        .first("msDS-PasswordComplexityEnabled")
        .is_some_and(|v| v.eq_ignore_ascii_case("TRUE"));
    Some(rules(
        format!("the AD password settings object {}", e.dn),
        min_length,
        complex,
        num(e, "msDS-PasswordHistoryLength").unwrap_or(0),
        e.first("msDS-MinimumPasswordAge")
            .and_then(filetime::duration_secs)
            .unwrap_or(0),
    ))
}

fn rules(source: String, min_length: u32, complex: bool, history: u32, min_age_secs: u64) -> DirectoryRules {
    DirectoryRules {
        source,
        min_length,
        categories: complex.then_some(Categories {
            min: COMPLEX_CATEGORIES,
            scheme: CategoryScheme::ActiveDirectory,
        }),
        names: complex.then_some(NameRule::ActiveDirectory),
        history,
        min_age_secs,
        unchecked: Vec::new(),
    }
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

    const ROOT: &str = "DC=example,DC=org";

    #[test]
    fn domain_policy_table() {
        // A stock domain: complexity, 7, 24, one day.
        let stock = Entry::from_pairs(
            ROOT,
            &[
                ("minPwdLength", "7"),
                ("pwdHistoryLength", "24"),
                ("pwdProperties", "1"),
                ("minPwdAge", "-864000000000"),
            ],
        );
        let r = from_domain(&stock).unwrap();
        assert_eq!(r.source, "the AD domain policy of DC=example,DC=org");
        assert_eq!((r.min_length, r.history, r.min_age_secs), (7, 24, 86_400));
        assert_eq!(
            r.categories,
            Some(Categories {
                min: 3,
                scheme: CategoryScheme::ActiveDirectory
            })
        );
        assert_eq!(r.names, Some(NameRule::ActiveDirectory));
        // Complexity off (other pwdProperties bits set), no minimum age.
        let relaxed = Entry::from_pairs(
            ROOT,
            &[("minPwdLength", "0"), ("pwdProperties", "16"), ("minPwdAge", "0")],
        );
        let r = from_domain(&relaxed).unwrap();
        assert_eq!(
            (r.min_length, r.categories, r.names, r.min_age_secs),
            (0, None, None, 0)
        );
        // Not readable: no attributes at all.
        assert_eq!(from_domain(&Entry::from_pairs(ROOT, &[])), None);
    }

    #[test]
    fn pso_table() {
        let dn = "CN=Staff,CN=Password Settings Container,CN=System,DC=example,DC=org";
        let pso = Entry::from_pairs(
            dn,
            &[
                ("msDS-MinimumPasswordLength", "12"),
                ("msDS-PasswordHistoryLength", "10"),
                ("msDS-PasswordComplexityEnabled", "TRUE"),
                ("msDS-MinimumPasswordAge", "-36000000000"),
            ],
        );
        let r = from_pso(&pso).unwrap();
        assert_eq!(r.source, format!("the AD password settings object {dn}"));
        assert_eq!((r.min_length, r.history, r.min_age_secs), (12, 10, 3_600));
        assert!(r.categories.is_some() && r.names.is_some());
        let off = Entry::from_pairs(
            dn,
            &[
                ("msDS-MinimumPasswordLength", "4"),
                ("msDS-PasswordComplexityEnabled", "FALSE"),
            ],
        );
        assert_eq!(from_pso(&off).map(|r| r.categories), Some(None));
        assert_eq!(from_pso(&Entry::from_pairs(dn, &[])), None);
    }

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
