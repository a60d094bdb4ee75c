//! Whether the service account may do, on an account in scope, what Active Directory needs for a
//! campaign — told without writing anything:
//!
//! - marking writes `pwdLastSet` (and `userAccountControl` with the DONT_EXPIRE clear-and-restore):
//!   the server lists the attributes the bound account may write in the constructed attribute
//!   `allowedAttributesEffective`;
//! - the link flow's password set writes `unicodePwd`, which takes the "Reset Password" extended
//!   right (a control access right, which `allowedAttributesEffective` does not show): read from
//!   the account's DACL (`nTSecurityDescriptor` with the SD flags control asking for the DACL
//!   only) against the SIDs of the service account's token (the root DSE's `tokenGroups`).
//!
//! The DACL is walked in order, as Windows does for one right: the first ACE for a SID of the
//! token that allows or denies control access (for every extended right, or for Reset Password)
//! decides; none means denied. Inherit-only ACEs do not apply to the entry itself.

use ldap3::{Scope, SearchEntry};

use super::super::conn::Pool;
use super::super::{DirectoryError, Warning, controls};

/// User-Force-Change-Password, "Reset Password", as stored (the first three fields little-endian).
const RESET_PASSWORD: [u8; 16] = guid_bytes(
    0x0029_9570,
    0x246d,
    0x11d0,
    [0xa7, 0x68, 0x00, 0xaa, 0x00, 0x6e, 0x05, 0x29],
);
const CONTROL_ACCESS: u32 = 0x100;
const GENERIC_ALL: u32 = 0x1000_0000;
const INHERIT_ONLY: u8 = 0x08;
const SE_DACL_PRESENT: u16 = 0x0004;
/// Everyone and Authenticated Users: in every bound token, whether or not `tokenGroups` says so.
const WELL_KNOWN: [&[u8]; 2] = [
    &[1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
    &[1, 1, 0, 0, 0, 0, 0, 5, 11, 0, 0, 0],
];

const fn guid_bytes(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_le_bytes();
    let b = b.to_le_bytes();
    let c = c.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7],
    ]
}

/// What stops the service account from marking `dn` or setting its password; `attrs` are the
/// attributes marking writes.
pub(super) async fn check(
    pool: &Pool,
    bind_dn: &str,
    dn: &str,
    attrs: &[&str],
) -> Result<Vec<Warning>, DirectoryError> {
    let entry = read(pool, dn, &["allowedAttributesEffective", "nTSecurityDescriptor"]).await?;
    let Some(entry) = entry else {
        return Ok(vec![Warning::advisory(format!(
            "{dn} is not readable by the service account: pwresetd cannot tell whether it may mark \
             accounts and reset their passwords"
        ))]);
    };
    let writable: Vec<String> = values(&entry, "allowedAttributesEffective")
        .into_iter()
        .map(|v| String::from_utf8_lossy(&v).to_ascii_lowercase())
        .collect();
    let mut warnings: Vec<Warning> = attrs
        .iter()
        .filter(|a| !writable.contains(&a.to_ascii_lowercase()))
        .map(|a| {
            Warning::blocking(format!(
                "the service account may not write {a} on {dn} (the server's allowedAttributesEffective \
                 does not list it), so marking fails; delegate \"Write {a}\" on the user objects in scope"
            ))
        })
        .collect();
    let sd = values(&entry, "nTSecurityDescriptor").into_iter().next();
    let token = token(pool, bind_dn).await?;
    match sd.and_then(|sd| grants(&sd, &token, &RESET_PASSWORD)) {
        Some(true) => {}
        Some(false) => warnings.push(Warning::blocking(format!(
            "the service account lacks the Reset Password extended right on {dn}, so the link flow \
             cannot set a new password (unicodePwd); delegate \"Reset password\" on the user objects in scope"
        ))),
        None => warnings.push(Warning::advisory(format!(
            "the security descriptor of {dn} is not readable by the service account: pwresetd cannot \
             tell whether it may reset passwords (unicodePwd)"
        ))),
    }
    Ok(warnings)
}

/// The SIDs of the service account's token: the root DSE's `tokenGroups`, its own `objectSid`
/// (when the bind name is a DN), Everyone and Authenticated Users.
async fn token(pool: &Pool, bind_dn: &str) -> Result<Vec<Vec<u8>>, DirectoryError> {
    let mut sids: Vec<Vec<u8>> = WELL_KNOWN.iter().map(|s| s.to_vec()).collect();
    if let Some(root) = read(pool, "", &["tokenGroups"]).await? {
        sids.extend(values(&root, "tokenGroups"));
    }
    if bind_dn.contains('=') {
        if let Some(own) = read(pool, bind_dn, &["objectSid"]).await? {
            sids.extend(values(&own, "objectSid"));
        }
    }
    Ok(sids)
}

/// A base read asking for the DACL only of security descriptors (non-critical: a server that
/// does not know the control sends what it would anyway). `None` when not there or not readable.
async fn read(pool: &Pool, dn: &str, attrs: &[&str]) -> Result<Option<SearchEntry>, DirectoryError> {
    let endpoint = pool.endpoint();
    let mut ldap = pool.get().await?;
    let res = ldap
        .with_controls(controls::sd_flags_dacl())
        .with_timeout(endpoint.timeout)
        .search(dn, Scope::Base, "(objectClass=*)", attrs.to_vec())
        .await
        .map_err(|e| DirectoryError::from_op(&endpoint.url, "search", dn, e, endpoint.timeout_secs()))?;
    Ok(match res.1.rc {
        0 => res
            .0
            .into_iter()
            .find(|e| !e.is_ref() && !e.is_intermediate())
            .map(SearchEntry::construct),
        32 | 50 => None,
        rc => {
            return Err(DirectoryError::Operation {
                op: "search",
                dn: dn.to_owned(),
                rc,
                text: res.1.text,
            });
        }
    })
}

/// Every value of `attr` as bytes (ldap3 keeps an attribute as text when all its values are
/// UTF-8, which a SID may be).
fn values(e: &SearchEntry, attr: &str) -> Vec<Vec<u8>> {
    let text = e.attrs.iter().filter(|(k, _)| k.eq_ignore_ascii_case(attr));
    let binary = e.bin_attrs.iter().filter(|(k, _)| k.eq_ignore_ascii_case(attr));
    text.flat_map(|(_, v)| v.iter().map(|s| s.as_bytes().to_vec()))
        .chain(binary.flat_map(|(_, v)| v.iter().cloned()))
        .collect()
}

/// Whether the self-relative security descriptor `sd` grants control access `right` to `token`;
/// `None` when `sd` cannot be parsed.
fn grants(sd: &[u8], token: &[Vec<u8>], right: &[u8; 16]) -> Option<bool> {
    let control = u16::from_le_bytes(sd.get(2..4)?.try_into().ok()?);
    let offset = u32_at(sd, 16)? as usize;
    if control & SE_DACL_PRESENT == 0 || offset == 0 {
        // No DACL: everyone may do everything.
        return Some(true);
    }
    let acl = sd.get(offset..)?;
    let count = u16::from_le_bytes(acl.get(4..6)?.try_into().ok()?);
    let mut at = 8;
    for _ in 0..count {
        let ace = acl.get(at..)?;
        let size = usize::from(u16::from_le_bytes(ace.get(2..4)?.try_into().ok()?));
        let ace = ace.get(..size)?;
        if let Some(allow) = decides(ace, token, right)? {
            return Some(allow);
        }
        at += size.max(4);
    }
    Some(false)
}

/// What one ACE says about control access `right` for `token`: `Some(true)` allowed,
/// `Some(false)` denied, `None` nothing (outer `None`: malformed).
fn decides(ace: &[u8], token: &[Vec<u8>], right: &[u8; 16]) -> Option<Option<bool>> {
    let (kind, flags) = (*ace.first()?, *ace.get(1)?);
    let (allow, object) = match kind {
        0x00 => (true, false),
        0x01 => (false, false),
        0x05 => (true, true),
        0x06 => (false, true),
        _ => return Some(None),
    };
    let mask = u32_at(ace, 4)?;
    let (object_type, sid_at) = if object {
        let present = u32_at(ace, 8)?;
        let object_type = (present & 1 != 0).then(|| ace.get(12..28)).flatten();
        let sid_at = 12 + if present & 1 != 0 { 16 } else { 0 } + if present & 2 != 0 { 16 } else { 0 };
        (object_type, sid_at)
    } else {
        (None, 8)
    };
    let sid = ace.get(sid_at..)?;
    let sid = sid.get(..8 + 4 * usize::from(*sid.get(1)?))?;
    let applies = flags & INHERIT_ONLY == 0
        && mask & (CONTROL_ACCESS | GENERIC_ALL) != 0
        && object_type.is_none_or(|t| t == right)
        && token.iter().any(|s| s == sid);
    Some(applies.then_some(allow))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 5, 0x44, 0x04, 0, 0];
    const OTHER: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 5, 0x45, 0x04, 0, 0];
    const SOME_RIGHT: [u8; 16] = [9; 16];

    fn ace(kind: u8, flags: u8, mask: u32, object_type: Option<[u8; 16]>, sid: &[u8]) -> Vec<u8> {
        let mut body = mask.to_le_bytes().to_vec();
        if kind >= 5 {
            body.extend(u32::from(object_type.is_some()).to_le_bytes());
            body.extend(object_type.into_iter().flatten());
        }
        body.extend(sid);
        let size = u16::try_from(4 + body.len()).unwrap();
        let mut out = vec![kind, flags];
        out.extend(size.to_le_bytes());
        out.extend(body);
        out
    }

    fn sd(aces: &[Vec<u8>]) -> Vec<u8> {
        let mut out = vec![1, 0];
        out.extend((SE_DACL_PRESENT | 0x8000).to_le_bytes());
        out.extend([0u8; 12]);
        out.extend(20u32.to_le_bytes());
        let body: Vec<u8> = aces.concat();
        out.extend([4, 0]);
        out.extend(u16::try_from(8 + body.len()).unwrap().to_le_bytes());
        out.extend(u16::try_from(aces.len()).unwrap().to_le_bytes());
        out.extend([0, 0]);
        out.extend(body);
        out
    }

    #[test]
    fn the_first_deciding_ace_wins() {
        let token = vec![ME.to_vec()];
        let allow_reset = ace(5, 0, CONTROL_ACCESS, Some(RESET_PASSWORD), &ME);
        let table: [(Vec<Vec<u8>>, Option<bool>); 8] = [
            (vec![allow_reset.clone()], Some(true)),
            // Every extended right.
            (vec![ace(0, 0, 0xf01ff, None, &ME)], Some(true)),
            (vec![ace(5, 0, CONTROL_ACCESS, None, &ME)], Some(true)),
            // Another right, another SID, inherit-only, write property only: nothing.
            (vec![ace(5, 0, CONTROL_ACCESS, Some(SOME_RIGHT), &ME)], Some(false)),
            (
                vec![ace(5, 0, CONTROL_ACCESS, Some(RESET_PASSWORD), &OTHER)],
                Some(false),
            ),
            (
                vec![ace(5, INHERIT_ONLY, CONTROL_ACCESS, Some(RESET_PASSWORD), &ME)],
                Some(false),
            ),
            // A deny before the allow wins; after it, the allow does.
            (
                vec![
                    ace(6, 0, CONTROL_ACCESS, Some(RESET_PASSWORD), &ME),
                    allow_reset.clone(),
                ],
                Some(false),
            ),
            (
                vec![allow_reset.clone(), ace(1, 0, CONTROL_ACCESS, None, &ME)],
                Some(true),
            ),
        ];
        for (aces, want) in table {
            assert_eq!(grants(&sd(&aces), &token, &RESET_PASSWORD), want, "{aces:02x?}");
        }
        assert_eq!(grants(&[1, 0], &token, &RESET_PASSWORD), None);
        let mut truncated = sd(&[allow_reset]);
        truncated.truncate(truncated.len() - 3);
        assert_eq!(grants(&truncated, &token, &RESET_PASSWORD), None);
    }

    #[test]
    fn reset_password_guid_as_stored() {
        assert_eq!(
            RESET_PASSWORD,
            [
                0x70, 0x95, 0x29, 0x00, 0x6d, 0x24, 0xd0, 0x11, 0xa7, 0x68, 0x00, 0xaa, 0x00, 0x6e, 0x05, 0x29
            ]
        );
    }
}
