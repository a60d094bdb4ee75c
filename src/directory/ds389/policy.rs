//! 389-DS password policies (`cn=config`, or a local policy named by `pwdpolicysubentry`):
//! whether the mark restricts anything there, whether reconciliation can see changes, and how
//! the rules compare with [policy].

use ldap3::Scope;

use super::super::conn::Pool;
use super::super::rules::DirectoryRules;
use super::super::{DirectoryError, Warning, search};
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
