//! 389-DS password policies (`cn=config`, or a local policy named by `pwdpolicysubentry`):
//! whether the mark restricts anything there, whether reconciliation can see changes, their
//! rules as the policy engine's [`DirectoryRules`], and when an account locks.
//!
//! The rules (389-ds-base 2.3, `pw.c`): with `passwordCheckSyntax: on`, `passwordMinLength`
//! (code points), `passwordMinCategories` of five ([`CategoryScheme::Ds389`]) and
//! `passwordMinTokenLength` (no whole login, name or mail value longer than it); with
//! `passwordHistory: on`, `passwordInHistory`; `passwordMinAge`. An attribute a local policy
//! leaves out takes the server's default, as 389 does. The per-kind minimums and the dictionary,
//! sequence and palindrome checks are listed as not checked by pwresetd.

use std::time::Duration;

use ldap3::Scope;

use super::super::conn::Pool;
use super::super::search::{self, Entry};
use super::super::{DirectoryError, Lockout, Threshold, Warning};
use super::MARK;
use crate::policy::{Categories, CategoryScheme, DirectoryRules, NameRule};

/// The mark-related attributes, then the rules'.
const ATTRS: [&str; 24] = [
    "passwordMustChange",
    "passwordChange",
    "passwordTrackUpdateTime",
    "passwordCheckSyntax",
    "passwordMinLength",
    "passwordMinCategories",
    "passwordMinTokenLength",
    "passwordHistory",
    "passwordInHistory",
    "passwordMinAge",
    "passwordMinDigits",
    "passwordMinAlphas",
    "passwordMinUppers",
    "passwordMinLowers",
    "passwordMinSpecials",
    "passwordMin8Bit",
    "passwordMaxRepeats",
    "passwordMaxSequence",
    "passwordMaxSeqSets",
    "passwordMaxClassChars",
    "passwordDictCheck",
    "passwordPalindrome",
    "passwordBadWords",
    "passwordUserAttributes",
];

/// The rules' numbers that, set above 0, pwresetd does not check.
const UNCHECKED_NUMBERS: [&str; 10] = [
    "passwordMinDigits",
    "passwordMinAlphas",
    "passwordMinUppers",
    "passwordMinLowers",
    "passwordMinSpecials",
    "passwordMin8Bit",
    "passwordMaxRepeats",
    "passwordMaxSequence",
    "passwordMaxSeqSets",
    "passwordMaxClassChars",
];
const UNCHECKED_SWITCHES: [&str; 2] = ["passwordDictCheck", "passwordPalindrome"];
const UNCHECKED_LISTS: [&str; 2] = ["passwordBadWords", "passwordUserAttributes"];

/// 389-DS's defaults for what a policy entry leaves out.
const DEFAULT_MIN_LENGTH: u32 = 8;
const DEFAULT_MIN_CATEGORIES: u32 = 3;
const DEFAULT_MIN_TOKEN_LENGTH: u32 = 3;
const DEFAULT_IN_HISTORY: u32 = 6;

/// The policy entry at `dn`; `None` when it does not exist or none of its attributes is
/// readable.
pub(super) async fn read(pool: &Pool, dn: &str) -> Result<Option<Entry>, DirectoryError> {
    let entries = match search::read(pool, dn, Scope::Base, "(objectClass=*)", &ATTRS).await {
        Ok(e) => e,
        Err(DirectoryError::Operation { rc: 50, .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(entries
        .into_iter()
        .next()
        .filter(|e| ATTRS.iter().any(|a| e.first(a).is_some())))
}

fn on(e: &Entry, attr: &str) -> bool {
    e.first(attr).is_some_and(|v| v.eq_ignore_ascii_case("on"))
}

fn num(e: &Entry, attr: &str, default: u32) -> u32 {
    e.first(attr).and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

/// Warnings about one policy entry (`cn=config` or a local policy), `None` when not readable.
pub(super) fn warnings(entry: Option<&Entry>, dn: &str, governs: &str) -> Vec<Warning> {
    let Some(e) = entry.filter(|e| e.first("passwordMustChange").is_some()) else {
        // Read rights missing: a check that could not be made, not a failure.
        return vec![Warning::advisory(format!(
            "the password policy {dn} ({governs}) is not readable by the service account, so pwresetd \
             cannot check that passwordMustChange is on (without it the mark restricts NOTHING) nor \
             adopt its rules; check it by hand, or let the service account read it"
        ))];
    };
    let mut blocking = Vec::new();
    if !on(e, "passwordMustChange") {
        blocking.push(Warning::blocking(format!(
            "the password policy {dn} ({governs}) has passwordMustChange off, so the mark \
             (passwordExpirationTime {MARK}) restricts NOTHING: users can keep the old password; set \
             passwordMustChange: on"
        )));
    }
    let mut warnings = Vec::new();
    if !on(e, "passwordChange") {
        warnings.push(format!(
            "the password policy {dn} ({governs}) has passwordChange off: users cannot change their \
             own password, so the current-password flow fails; set passwordChange: on"
        ));
    }
    if !on(e, "passwordTrackUpdateTime") && !on(e, "passwordHistory") {
        warnings.push(format!(
            "the password policy {dn} ({governs}) keeps neither pwdUpdateTime (passwordTrackUpdateTime) \
             nor a password history, so reconciliation cannot see a password changed outside pwresetd \
             and marks such an account again; set passwordTrackUpdateTime: on"
        ));
    }
    blocking.extend(warnings.into_iter().map(Warning::advisory));
    blocking
}

/// The rules of a readable policy entry. `governs` says how it applies ("the global policy").
pub(super) fn rules(e: &Entry, governs: &str) -> DirectoryRules {
    let syntax = on(e, "passwordCheckSyntax");
    let categories = num(e, "passwordMinCategories", DEFAULT_MIN_CATEGORIES).min(5);
    let mut unchecked: Vec<String> = Vec::new();
    if syntax {
        for attr in UNCHECKED_NUMBERS {
            unchecked.extend((num(e, attr, 0) > 0).then(|| format!("{attr} {}", num(e, attr, 0))));
        }
        unchecked.extend(
            UNCHECKED_SWITCHES
                .into_iter()
                .filter(|a| on(e, a))
                .map(|a| format!("{a} on")),
        );
        for attr in UNCHECKED_LISTS {
            unchecked.extend(e.first(attr).map(|v| format!("{attr} {v}")));
        }
    }
    DirectoryRules {
        source: format!("the 389-DS policy {} ({governs})", e.dn),
        min_length: if syntax {
            num(e, "passwordMinLength", DEFAULT_MIN_LENGTH)
        } else {
            0
        },
        categories: (syntax && categories > 1).then(|| Categories {
            min: u8::try_from(categories).unwrap_or(5),
            scheme: CategoryScheme::Ds389,
        }),
        names: syntax.then(|| NameRule::Ds389 {
            min_token: num(e, "passwordMinTokenLength", DEFAULT_MIN_TOKEN_LENGTH),
        }),
        history: if on(e, "passwordHistory") {
            num(e, "passwordInHistory", DEFAULT_IN_HISTORY)
        } else {
            0
        },
        min_age_secs: u64::from(num(e, "passwordMinAge", 0)),
        unchecked,
    }
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

    const LOCAL: &str = "cn=nsPwPolicyEntry_user,ou=people,dc=example,dc=org";

    #[test]
    fn rules_table() {
        // The test server's cn=config: syntax on, length 8, categories and tokens by default.
        let global = Entry::from_pairs(
            "cn=config",
            &[
                ("passwordMustChange", "on"),
                ("passwordCheckSyntax", "on"),
                ("passwordMinLength", "8"),
                ("passwordMinCategories", "3"),
                ("passwordMinTokenLength", "3"),
                ("passwordHistory", "on"),
                ("passwordInHistory", "3"),
                ("passwordMinAge", "0"),
                ("passwordMinDigits", "0"),
            ],
        );
        let r = rules(&global, "the global policy");
        assert_eq!(r.source, "the 389-DS policy cn=config (the global policy)");
        assert_eq!((r.min_length, r.history, r.min_age_secs), (8, 3, 0));
        assert_eq!(
            r.categories,
            Some(Categories {
                min: 3,
                scheme: CategoryScheme::Ds389
            })
        );
        assert_eq!(r.names, Some(NameRule::Ds389 { min_token: 3 }));
        assert!(r.unchecked.is_empty(), "{:?}", r.unchecked);
        // A local policy leaving most out: 389's defaults apply.
        let local = Entry::from_pairs(
            LOCAL,
            &[
                ("passwordCheckSyntax", "on"),
                ("passwordMinLength", "20"),
                ("passwordMinDigits", "2"),
                ("passwordDictCheck", "on"),
                ("passwordMinAge", "86400"),
            ],
        );
        let r = rules(&local, "named by pwdpolicysubentry");
        assert_eq!((r.min_length, r.history, r.min_age_secs), (20, 0, 86_400));
        assert_eq!(r.categories.map(|c| c.min), Some(3));
        assert_eq!(r.unchecked, ["passwordMinDigits 2", "passwordDictCheck on"]);
        // Syntax checking off: no composition rules at all, whatever the numbers say.
        let off = Entry::from_pairs(
            LOCAL,
            &[
                ("passwordCheckSyntax", "off"),
                ("passwordMinLength", "20"),
                ("passwordMinDigits", "2"),
            ],
        );
        let r = rules(&off, "x");
        assert_eq!((r.min_length, r.categories, r.names), (0, None, None));
        assert!(r.unchecked.is_empty());
        // One category asks nothing.
        let one = Entry::from_pairs(LOCAL, &[("passwordCheckSyntax", "on"), ("passwordMinCategories", "1")]);
        assert_eq!(rules(&one, "x").categories, None);
    }

    #[test]
    fn warnings_table() {
        let unreadable = warnings(None, "cn=config", "the global policy");
        assert!(unreadable[0].message.contains("not readable"), "{unreadable:?}");
        let lax = Entry::from_pairs("cn=config", &[("passwordMustChange", "off")]);
        let all: Vec<String> = warnings(Some(&lax), "cn=config", "g")
            .into_iter()
            .map(|w| w.message)
            .collect();
        assert_eq!(all.len(), 3, "{all:?}");
        assert!(all[0].contains("restricts NOTHING"));
        let good = Entry::from_pairs(
            "cn=config",
            &[
                ("passwordMustChange", "on"),
                ("passwordChange", "on"),
                ("passwordHistory", "on"),
            ],
        );
        assert_eq!(warnings(Some(&good), "cn=config", "g"), []);
    }

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
