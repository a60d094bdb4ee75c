//! Active Directory passwords: binds explained by their `data` code, the user's change done over
//! the service account's connection (a must-change user cannot bind: data 773), the
//! administrative set, and AD's refusals in plain words.

use std::collections::HashSet;

use ldap3::Mod;

use super::super::conn::{Endpoint, Pool};
use super::super::error::describe_rc;
use super::super::{BindCheck, DirectoryError, PasswordError, Refusal, controls, ops};
use crate::secret::Secret;

const UNICODE_PWD: &str = "unicodePwd";

/// Why AD refused a simple bind, from `… AcceptSecurityContext error, data 773, v1db1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BindRefusal {
    WrongPassword,
    PasswordExpired,
    Disabled,
    AccountExpired,
    MustChange,
    LockedOut,
    Other,
}

impl BindRefusal {
    fn of(text: &str) -> Self {
        let code = text
            .split_once("data ")
            .map(|(_, rest)| rest.split([',', ' ']).next().unwrap_or_default().to_ascii_lowercase());
        match code.as_deref() {
            Some("52e") => BindRefusal::WrongPassword,
            Some("532") => BindRefusal::PasswordExpired,
            Some("533") => BindRefusal::Disabled,
            Some("701") => BindRefusal::AccountExpired,
            Some("773") => BindRefusal::MustChange,
            Some("775") => BindRefusal::LockedOut,
            _ => BindRefusal::Other,
        }
    }
}

/// Binds as `dn`. AD only reports "must change" (773, or 532 for an expired password) to a bind
/// with the right password, and reports disabled, expired and locked accounts before it.
pub(super) async fn check(endpoint: &Endpoint, dn: &str, password: &Secret) -> Result<BindCheck, DirectoryError> {
    let bound = ops::bind(endpoint, dn, password, Vec::new()).await?;
    let (rc, text) = (bound.answer.rc, bound.answer.text.clone());
    bound.close().await;
    match rc {
        0 => Ok(BindCheck::Unrestricted),
        49 => Ok(match BindRefusal::of(&text) {
            BindRefusal::MustChange | BindRefusal::PasswordExpired => BindCheck::MustChange,
            refusal => {
                tracing::debug!(dn, ?refusal, "bind refused");
                BindCheck::Refused
            }
        }),
        rc => Err(DirectoryError::Bind {
            url: endpoint.url.clone(),
            dn: dn.to_owned(),
            rc,
            text,
        }),
    }
}

/// The user's own change, proved by the old password: one modify deleting the old `unicodePwd`
/// value and adding the new one. AD applies history, length and complexity and clears the flag;
/// a wrong old value counts as a bad password on the account (lockout applies).
pub(super) async fn change_as_user(pool: &Pool, dn: &str, old: &Secret, new: &Secret) -> Result<(), PasswordError> {
    let attr = || UNICODE_PWD.as_bytes().to_vec();
    let mods = vec![
        Mod::Delete(attr(), HashSet::from([unicode_pwd(old.expose())])),
        Mod::Add(attr(), HashSet::from([unicode_pwd(new.expose())])),
    ];
    let answer = ops::modify(pool, dn, "password change", mods, Vec::new()).await?;
    refusal(dn, "password change", answer)
}

/// An administrative set: `replace: unicodePwd` with the policy-hints control, so that real AD
/// also applies history and minimum age (Samba ignores the control: length and complexity only).
pub(super) async fn set_as_admin(pool: &Pool, dn: &str, new: &Secret) -> Result<(), PasswordError> {
    let mods = vec![Mod::Replace(
        UNICODE_PWD.as_bytes().to_vec(),
        HashSet::from([unicode_pwd(new.expose())]),
    )];
    let answer = ops::modify(pool, dn, "password set", mods, vec![controls::policy_hints()]).await?;
    refusal(dn, "password set", answer)
}

/// A `unicodePwd` value: the password in double quotes, UTF-16LE.
fn unicode_pwd(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// Success, a wrong old password, a refusal and its reason, or the directory's error.
fn refusal(dn: &str, op: &'static str, answer: ops::Answer) -> Result<(), PasswordError> {
    let text = answer.text.as_str();
    if answer.rc == 0 {
        return Ok(());
    }
    if matches!(answer.rc, 19 | 53) && text.starts_with("00000056") {
        return Err(PasswordError::WrongCurrentPassword);
    }
    match plain_words(answer.rc, text) {
        Some(reason) => Err(PasswordError::Refused {
            reason,
            detail: describe_rc(answer.rc, text),
        }),
        None => Err(PasswordError::Directory(answer.into_error(op, dn))),
    }
}

/// Why AD refused a password (`0000052D`). Samba says why; real AD does not, hence
/// [`Refusal::DomainRules`].
fn plain_words(rc: u32, text: &str) -> Option<Refusal> {
    if !matches!(rc, 19 | 53) || !text.starts_with("0000052D") {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let reason = if lower.contains("too short") {
        let min = lower
            .split("longer than ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse::<u32>().ok());
        Refusal::TooShort { min }
    } else if lower.contains("complexity") {
        Refusal::NotComplex
    } else if lower.contains("history") || lower.contains("already used") || lower.contains("previous password") {
        Refusal::UsedBefore
    } else if lower.contains("too young") {
        Refusal::TooRecent
    } else {
        Refusal::DomainRules
    };
    Some(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_data_codes() {
        let text = |code| {
            format!("80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data {code}, v1db1")
        };
        let cases = [
            ("52e", BindRefusal::WrongPassword),
            ("532", BindRefusal::PasswordExpired),
            ("533", BindRefusal::Disabled),
            ("701", BindRefusal::AccountExpired),
            ("773", BindRefusal::MustChange),
            ("775", BindRefusal::LockedOut),
            ("525", BindRefusal::Other),
        ];
        for (code, want) in cases {
            assert_eq!(BindRefusal::of(&text(code)), want, "{code}");
        }
        assert_eq!(BindRefusal::of("invalid credentials"), BindRefusal::Other);
    }

    #[test]
    fn unicode_pwd_is_quoted_utf16le() {
        assert_eq!(unicode_pwd("é1"), vec![b'"', 0, 0xe9, 0, b'1', 0, b'"', 0]);
    }

    #[test]
    fn refusals_in_plain_words() {
        let samba = |why: &str| format!("0000052D: Constraint violation - check_password_restrictions: {why}");
        let cases = [
            (
                19,
                samba("the password is too short. It should be equal or longer than 7 characters!"),
                Some(Refusal::TooShort { min: Some(7) }),
            ),
            (19, samba("the password does not meet the complexity criteria!"), Some(Refusal::NotComplex)),
            (19, samba("the password was already used (in history)!"), Some(Refusal::UsedBefore)),
            (19, samba("the password was already used (previous password)!"), Some(Refusal::UsedBefore)),
            (19, samba("the password is too young to change!"), Some(Refusal::TooRecent)),
            // Real AD gives no reason.
            (
                19,
                "0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)".into(),
                Some(Refusal::DomainRules),
            ),
            (53, "0000052D: SvcErr: DSID-031A1254, problem 5003 (WILL_NOT_PERFORM), data 0".into(), Some(Refusal::DomainRules)),
            (50, "00002098: Object has no write property access".into(), None),
        ];
        for (rc, text, want) in cases {
            assert_eq!(plain_words(rc, &text), want, "{text}");
        }
        let wrong = ops::Answer {
            rc: 19,
            text: "00000056: Constraint violation - check_password_restrictions: The old password specified doesn't match!".into(),
            ctrls: Vec::new(),
        };
        assert!(matches!(
            refusal("cn=x", "password change", wrong),
            Err(PasswordError::WrongCurrentPassword)
        ));
    }
}
