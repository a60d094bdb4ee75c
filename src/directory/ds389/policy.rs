//! 389-DS password policies (`cn=config`, or a local policy named by `pwdpolicysubentry`):
//! whether the mark restricts anything there, whether reconciliation can see changes, how
//! the rules compare with [policy], and when an account locks.

use std::time::Duration;

use ldap3::Scope;

use super::super::conn::Pool;
use super::super::rules::DirectoryRules;
use super::super::{DirectoryError, Lockout, Threshold, Warning, search};
use super::MARK;
use crate::directory::config::PolicyFloor;

/// Warnings about one policy entry (`cn=config` or a local policy).
pub(super) async fn check(
    pool: &Pool,
    floor: &PolicyFloor,
    dn: &str,
    governs: &str,
) -> Result<Vec<Warning>, DirectoryError> {
    let attrs = [
        "passwordMustChange",
        "passwordChange",
        "passwordCheckSyntax",
        "passwordMinLength",
        "passwordMinCategories",
        "passwordHistory",
        "passwordInHistory",
        "passwordTrackUpdateTime",
    ];
    let entries = match search::read(pool, dn, Scope::Base, "(objectClass=*)", &attrs).await {
        Ok(e) => e,
        Err(DirectoryError::Operation { rc: 50, .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    let Some(e) = entries.first().filter(|e| e.first("passwordMustChange").is_some()) else {
        // Read rights missing: a check that could not be made, not a failure.
        return Ok(vec![Warning::advisory(format!(
            "the password policy {dn} ({governs}) is not readable by the service account, so pwresetd \
             cannot check that passwordMustChange is on (without it the mark restricts NOTHING) nor \
             compare its rules with [policy]; check it by hand, or let the service account read it"
        ))]);
    };
    let on = |a| e.first(a).is_some_and(|v| v.eq_ignore_ascii_case("on"));
    let mut messages = Vec::new();
    if !on("passwordMustChange") {
        messages.push(Warning::blocking(format!(
            "the password policy {dn} ({governs}) has passwordMustChange off, so the mark \
             (passwordExpirationTime {MARK}) restricts NOTHING: users can keep the old password; set \
             passwordMustChange: on"
        )));
    }
    let mut warnings = Vec::new();
    if !on("passwordChange") {
        warnings.push(format!(
            "the password policy {dn} ({governs}) has passwordChange off: users cannot change their \
             own password, so the current-password flow fails; set passwordChange: on"
        ));
    }
    if !on("passwordTrackUpdateTime") && !on("passwordHistory") {
        warnings.push(format!(
            "the password policy {dn} ({governs}) keeps neither pwdUpdateTime (passwordTrackUpdateTime) \
             nor a password history, so reconciliation cannot see a password changed outside pwresetd \
             and marks such an account again; set passwordTrackUpdateTime: on"
        ));
    }
    messages.extend(warnings.into_iter().map(Warning::advisory));
    if on("passwordCheckSyntax") {
        let num = |a| e.first(a).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
        let rules = DirectoryRules {
            source: format!("the password policy {dn} ({governs})"),
            min_length: num("passwordMinLength"),
            min_character_classes: u8::try_from(num("passwordMinCategories").min(4)).unwrap_or(4),
            history: if on("passwordHistory") {
                num("passwordInHistory")
            } else {
                0
            },
            class_note: "",
        };
        messages.extend(rules.stricter_than(floor));
    }
    Ok(messages)
}

/// The lockout rules of the policy entry `dn` (`cn=config` or a local policy).
pub(super) async fn lockout(pool: &Pool, dn: &str) -> Result<Lockout, DirectoryError> {
    let attrs = ["passwordLockout", "passwordMaxFailure", "passwordResetFailureCount"];
    let entries = match search::read(pool, dn, Scope::Base, "(objectClass=*)", &attrs).await {
        Ok(e) => e,
        Err(DirectoryError::Operation { rc: 50, .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    let [on, max, reset] = attrs;
    let Some(e) = entries.first().filter(|e| e.first(on).is_some()) else {
        return Ok(Lockout::unknown(format!(
            "the password policy {dn} is not readable by the service account (passwordLockout, passwordMaxFailure)"
        )));
    };
    Ok(lockout_of(dn, e.first(on), e.first(max), e.first(reset)))
}

/// Lockout rules from `passwordLockout` (on/off), `passwordMaxFailure` and
/// `passwordResetFailureCount` (seconds).
fn lockout_of(dn: &str, on: Option<&str>, max: Option<&str>, reset: Option<&str>) -> Lockout {
    let num = |v: Option<&str>| v.and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(0);
    let locks = on.is_some_and(|v| v.eq_ignore_ascii_case("on"));
    Lockout {
        threshold: match num(max) {
            n if locks && n > 0 => Threshold::After(n),
            _ => Threshold::Never,
        },
        window: match num(reset) {
            0 => None,
            secs => Some(Duration::from_secs(u64::from(secs))),
        },
        source: format!("passwordLockout/passwordMaxFailure of {dn}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_rules_from_the_policy() {
        let table = [
            ((Some("on"), Some("3"), Some("600")), (Threshold::After(3), Some(600))),
            ((Some("off"), Some("3"), Some("600")), (Threshold::Never, Some(600))),
            ((Some("on"), Some("0"), None), (Threshold::Never, None)),
        ];
        for ((on, max, reset), (threshold, window)) in table {
            let l = lockout_of("cn=config", on, max, reset);
            assert_eq!(
                (l.threshold, l.window),
                (threshold, window.map(Duration::from_secs)),
                "{on:?}"
            );
        }
    }
}
