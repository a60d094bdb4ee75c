//! ppolicy password policy entries read as the policy engine's [`DirectoryRules`].
//!
//! What slapd 2.5's ppolicy checks on a change: `pwdMinLength` (in bytes of UTF-8, so never
//! fewer than the code points pwresetd counts) only when `pwdCheckQuality` is 1 or 2;
//! `pwdInHistory`; `pwdMinAge` (skipped while `pwdReset` is TRUE, i.e. for a marked account).
//! A `pwdCheckModule` and `pwdMaxLength` are listed as not checked by pwresetd.

use super::super::search::Entry;
use crate::policy::DirectoryRules;

/// The attributes read from a policy entry.
pub(super) const ATTRS: [&str; 8] = [
    "pwdAttribute",
    "pwdMinLength",
    "pwdCheckQuality",
    "pwdInHistory",
    "pwdMinAge",
    "pwdMaxLength",
    "pwdCheckModule",
    "pwdUseCheckModule",
];

/// The rules of a ppolicy entry; `None` when it is not a readable policy (no `pwdAttribute`,
/// which every `pwdPolicy` has). `governs` says how it applies ("the default policy").
pub(super) fn rules(e: &Entry, governs: &str) -> Option<DirectoryRules> {
    e.first("pwdAttribute")?;
    let num = |attr| e.first(attr).and_then(|v| v.trim().parse::<u32>().ok()).unwrap_or(0);
    let quality = num("pwdCheckQuality") > 0;
    let mut unchecked = Vec::new();
    if quality && num("pwdMaxLength") > 0 {
        unchecked.push(format!("pwdMaxLength {}", num("pwdMaxLength")));
    }
    let module_on = e
        .first("pwdUseCheckModule")
        .is_none_or(|v| v.eq_ignore_ascii_case("TRUE"));
    if let Some(module) = e.first("pwdCheckModule").filter(|_| quality && module_on) {
        unchecked.push(format!("pwdCheckModule {module} (its own quality checks)"));
    }
    Some(DirectoryRules {
        source: format!("the ppolicy entry {} ({governs})", e.dn),
        min_length: if quality { num("pwdMinLength") } else { 0 },
        categories: None,
        names: None,
        history: num("pwdInHistory"),
        min_age_secs: u64::from(num("pwdMinAge")),
        unchecked,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DN: &str = "cn=default,ou=policies,dc=example,dc=org";

    fn check(pairs: &[(&str, &str)], expected: Option<(u32, u32, u64, &[&str])>) {
        let got = rules(&Entry::from_pairs(DN, pairs), "the default policy");
        let got = got.map(|r| (r.min_length, r.history, r.min_age_secs, r.unchecked));
        let expected = expected.map(|(l, h, a, u)| (l, h, a, u.iter().map(|s| s.to_string()).collect()));
        assert_eq!(got, expected, "{pairs:?}");
    }

    #[test]
    fn ppolicy_table() {
        let base = ("pwdAttribute", "userPassword");
        check(
            &[base, ("pwdMinLength", "8"), ("pwdCheckQuality", "2")],
            Some((8, 0, 0, &[])),
        );
        check(
            &[base, ("pwdMinLength", "8"), ("pwdCheckQuality", "1")],
            Some((8, 0, 0, &[])),
        );
        // Without quality checking, slapd ignores pwdMinLength.
        check(
            &[base, ("pwdMinLength", "8"), ("pwdCheckQuality", "0")],
            Some((0, 0, 0, &[])),
        );
        check(&[base, ("pwdMinLength", "8")], Some((0, 0, 0, &[])));
        check(
            &[base, ("pwdInHistory", "5"), ("pwdMinAge", "86400")],
            Some((0, 5, 86_400, &[])),
        );
        check(
            &[
                base,
                ("pwdCheckQuality", "2"),
                ("pwdMinLength", "10"),
                ("pwdMaxLength", "64"),
                ("pwdCheckModule", "ppm.so"),
            ],
            Some((
                10,
                0,
                0,
                &["pwdMaxLength 64", "pwdCheckModule ppm.so (its own quality checks)"],
            )),
        );
        check(
            &[
                base,
                ("pwdCheckQuality", "2"),
                ("pwdCheckModule", "ppm.so"),
                ("pwdUseCheckModule", "FALSE"),
            ],
            Some((0, 0, 0, &[])),
        );
        // Not readable (or not a policy).
        check(&[("pwdMinLength", "8")], None);
        let r = rules(&Entry::from_pairs(DN, &[base]), "the default policy").unwrap();
        assert_eq!(r.source, format!("the ppolicy entry {DN} (the default policy)"));
    }
}
