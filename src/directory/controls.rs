//! The LDAP controls the flavours send and read, with the little BER they need (ldap3 passes
//! unknown controls through as raw bytes).
//!
//! - Password policy (draft-behera-ldap-password-policy, 1.3.6.1.4.1.42.2.27.8.5.1): request
//!   without a value; the response says why a bind or a password change was refused.
//! - Netscape PasswordExpired (2.16.840.1.113730.3.4.4): 389-DS attaches it to the bind answer
//!   of an account that must change its password.
//! - Active Directory policy hints (1.2.840.113556.1.4.2239): makes an administrative password
//!   set honour history and minimum age as a user's change does.
//! - Active Directory SD flags (1.2.840.113556.1.4.801): which parts of `nTSecurityDescriptor`
//!   a read returns (the DACL alone needs no more than read-control rights).

use ldap3::controls::{Control, RawControl};

const PPOLICY_OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
const PASSWORD_EXPIRED_OID: &str = "2.16.840.1.113730.3.4.4";
const POLICY_HINTS_OID: &str = "1.2.840.113556.1.4.2239";
const SD_FLAGS_OID: &str = "1.2.840.113556.1.4.801";

/// The password policy request control (no value, not critical).
pub(crate) fn ppolicy_request() -> RawControl {
    RawControl {
        ctype: PPOLICY_OID.into(),
        crit: false,
        val: None,
    }
}

/// AD's policy hints control, `SEQUENCE { flags INTEGER 1 }`. Not critical: Samba does not know
/// it (critical would fail with rc 12) and ignores it.
pub(crate) fn policy_hints() -> RawControl {
    RawControl {
        ctype: POLICY_HINTS_OID.into(),
        crit: false,
        val: Some(vec![0x30, 0x03, 0x02, 0x01, 0x01]),
    }
}

/// AD's SD flags control asking for the DACL only, `SEQUENCE { flags INTEGER 4 }`. Not critical.
pub(crate) fn sd_flags_dacl() -> RawControl {
    RawControl {
        ctype: SD_FLAGS_OID.into(),
        crit: false,
        val: Some(vec![0x30, 0x03, 0x02, 0x01, 0x04]),
    }
}

/// The error of a password policy response control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PpolicyError {
    PasswordExpired,
    AccountLocked,
    ChangeAfterReset,
    PasswordModNotAllowed,
    MustSupplyOldPassword,
    InsufficientPasswordQuality,
    PasswordTooShort,
    PasswordTooYoung,
    PasswordInHistory,
    Other(u32),
}

impl PpolicyError {
    fn from_code(code: u32) -> Self {
        match code {
            0 => PpolicyError::PasswordExpired,
            1 => PpolicyError::AccountLocked,
            2 => PpolicyError::ChangeAfterReset,
            3 => PpolicyError::PasswordModNotAllowed,
            4 => PpolicyError::MustSupplyOldPassword,
            5 => PpolicyError::InsufficientPasswordQuality,
            6 => PpolicyError::PasswordTooShort,
            7 => PpolicyError::PasswordTooYoung,
            8 => PpolicyError::PasswordInHistory,
            n => PpolicyError::Other(n),
        }
    }
}

/// The error carried by a password policy response control among `ctrls`, if any.
pub(crate) fn ppolicy_error(ctrls: &[Control]) -> Option<PpolicyError> {
    let value = ctrls
        .iter()
        .find(|c| c.1.ctype == PPOLICY_OID)
        .and_then(|c| c.1.val.as_deref())?;
    parse_ppolicy_error(value)
}

/// Whether the server attached the PasswordExpired control (389-DS: must change now).
pub(crate) fn password_expired(ctrls: &[Control]) -> bool {
    ctrls.iter().any(|c| c.1.ctype == PASSWORD_EXPIRED_OID)
}

/// `PasswordPolicyResponseValue ::= SEQUENCE { warning [0] … OPTIONAL, error [1] ENUMERATED
/// OPTIONAL }`: the error's code, `None` when absent or malformed.
fn parse_ppolicy_error(value: &[u8]) -> Option<PpolicyError> {
    let (tag, content, _) = tlv(value)?;
    if tag != 0x30 {
        return None;
    }
    let mut rest = content;
    while !rest.is_empty() {
        let (tag, content, after) = tlv(rest)?;
        if tag == 0x81 {
            if content.is_empty() || content.len() > 4 {
                return None;
            }
            let code = content.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b));
            return Some(PpolicyError::from_code(code));
        }
        rest = after;
    }
    None
}

/// One BER tag-length-value (single-byte tags, definite lengths): (tag, content, rest).
fn tlv(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, data) = data.split_first()?;
    let (&first, mut data) = data.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || data.len() < n {
            return None;
        }
        let len = data[..n].iter().fold(0usize, |l, b| (l << 8) | usize::from(*b));
        data = &data[n..];
        len
    };
    (data.len() >= len).then(|| (tag, &data[..len], &data[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppolicy_response_values() {
        let cases: [(&[u8], Option<PpolicyError>); 7] = [
            // 389-DS, long-form length: error=5.
            (
                &[0x30, 0x84, 0, 0, 0, 3, 0x81, 1, 5],
                Some(PpolicyError::InsufficientPasswordQuality),
            ),
            (&[0x30, 3, 0x81, 1, 2], Some(PpolicyError::ChangeAfterReset)),
            (&[0x30, 3, 0x81, 1, 8], Some(PpolicyError::PasswordInHistory)),
            // A warning (timeBeforeExpiration 100) then error=0.
            (
                &[0x30, 9, 0xa0, 4, 0x80, 2, 0, 100, 0x81, 1, 0],
                Some(PpolicyError::PasswordExpired),
            ),
            // Only a warning.
            (&[0x30, 6, 0xa0, 4, 0x81, 2, 0, 3], None),
            (&[0x30, 5, 0x81, 1], None),
            (&[], None),
        ];
        for (value, want) in cases {
            assert_eq!(parse_ppolicy_error(value), want, "{value:02x?}");
        }
    }
}
