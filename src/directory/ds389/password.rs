//! 389-DS passwords: binds recognised as "must change" by their response controls, the user's
//! own change (Password Modify with the old password, over TLS), the service account's set, and
//! the server's refusals in plain words (from the password policy response control, or the text
//! a plain `userPassword` write gets).

use std::collections::HashSet;

use ldap3::Mod;

use super::super::conn::{Endpoint, Pool};
use super::super::controls::{self, PpolicyError};
use super::super::{BindCheck, DirectoryError, PasswordError, Refusal, ops};
use crate::secret::Secret;

/// Binds as `dn` with the password policy control. A marked account's bind succeeds with the
/// PasswordExpired control (or changeAfterReset in the policy control): that, not the rc 53 of
/// the next operation, says "must change".
pub(super) async fn check(endpoint: &Endpoint, dn: &str, password: &Secret) -> Result<BindCheck, DirectoryError> {
    let bound = ops::bind(endpoint, dn, password, vec![controls::ppolicy_request()]).await?;
    let must_change = controls::password_expired(&bound.answer.ctrls)
        || matches!(
            controls::ppolicy_error(&bound.answer.ctrls),
            Some(PpolicyError::ChangeAfterReset | PpolicyError::PasswordExpired)
        );
    let (rc, text) = (bound.answer.rc, bound.answer.text.clone());
    bound.close().await;
    match rc {
        0 if must_change => Ok(BindCheck::MustChange),
        0 => Ok(BindCheck::Unrestricted),
        // 49 wrong password; 53 inactivated (nsAccountLock); 19 locked out by the policy.
        49 | 53 | 19 => Ok(BindCheck::Refused),
        rc => Err(DirectoryError::Bind {
            url: endpoint.url.clone(),
            dn: dn.to_owned(),
            rc,
            text,
        }),
    }
}

/// The user's own change: bind with the old password (a marked user's bind succeeds), then
/// Password Modify with old and new, with the password policy control so a refusal says why.
pub(super) async fn change_as_user(
    endpoint: &Endpoint,
    dn: &str,
    old: &Secret,
    new: &Secret,
) -> Result<(), PasswordError> {
    let mut bound = ops::bind(endpoint, dn, old, Vec::new()).await?;
    if bound.answer.rc != 0 {
        let rc = bound.answer.rc;
        bound.close().await;
        return match rc {
            49 | 53 | 19 => Err(PasswordError::WrongCurrentPassword),
            rc => Err(PasswordError::Directory(DirectoryError::Bind {
                url: endpoint.url.clone(),
                dn: dn.to_owned(),
                rc,
                text: String::new(),
            })),
        };
    }
    let exop = ldap3::exop::PasswordModify {
        user_id: None,
        old_pass: Some(old.expose()),
        new_pass: Some(new.expose()),
    };
    let res = bound
        .ldap
        .with_controls(controls::ppolicy_request())
        .with_timeout(endpoint.timeout)
        .extended(exop)
        .await
        .map_err(|e| DirectoryError::from_op(&endpoint.url, "password change", dn, e, endpoint.timeout_secs()));
    bound.close().await;
    let result = res?.1;
    let answer = ops::Answer {
        rc: result.rc,
        text: result.text,
        ctrls: result.ctrls,
    };
    refusal(dn, "password change", answer)
}

/// The service account's set: `replace: userPassword` (a plain write gets the server's reason
/// in its text when it checks). A `passwordAdminDN` member skips the server's checks and marks
/// the account; a non-member's set is checked like a user's. `drop_expiry`: a
/// `passwordExpirationTime` value deleted in the same operation (see `reset.rs`); when it is no
/// longer there the server answers rc 16 and nothing changed: `Ok(false)`.
pub(super) async fn set_as_admin(
    pool: &Pool,
    dn: &str,
    new: &Secret,
    drop_expiry: Option<&str>,
) -> Result<bool, PasswordError> {
    let mut mods = vec![Mod::Replace("userPassword", HashSet::from([new.expose()]))];
    if let Some(value) = drop_expiry {
        mods.push(Mod::Delete("passwordExpirationTime", HashSet::from([value])));
    }
    let answer = ops::modify(pool, dn, "password set", mods, vec![controls::ppolicy_request()]).await?;
    if answer.rc == 16 && drop_expiry.is_some() {
        return Ok(false);
    }
    refusal(dn, "password set", answer).map(|()| true)
}

/// Success, or why 389 refused the password: the password policy response control's error when
/// the server sent one, else its diagnostic text (given on a plain `userPassword` write).
fn refusal(dn: &str, op: &'static str, answer: ops::Answer) -> Result<(), PasswordError> {
    if answer.rc == 0 {
        return Ok(());
    }
    let lower = answer.text.to_ascii_lowercase();
    let reason = match (answer.rc, controls::ppolicy_error(&answer.ctrls)) {
        (19, Some(PpolicyError::PasswordInHistory)) => Refusal::UsedBefore,
        (19, Some(PpolicyError::PasswordTooYoung)) => Refusal::TooRecent,
        (19, Some(PpolicyError::PasswordTooShort)) => Refusal::TooShort { min: None },
        (19, Some(PpolicyError::InsufficientPasswordQuality)) => Refusal::InsufficientQuality,
        (19, _) if lower.contains("at least") && lower.contains("characters") => {
            let min = lower
                .split("at least ")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse::<u32>().ok());
            Refusal::TooShort { min }
        }
        (19, _) if lower.contains("history") => Refusal::UsedBefore,
        (19, _) => Refusal::WeakOrRecent,
        _ => return Err(PasswordError::Directory(answer.into_error(op, dn))),
    };
    Err(PasswordError::Refused {
        reason,
        detail: super::super::error::describe_rc(answer.rc, &answer.text),
    })
}
