//! Whether a candidate is one of an account's earlier passwords, told from the history the
//! directory keeps on the entry (OpenLDAP ppolicy's `pwdHistory`, 389-DS's `passwordHistory`).
//! Both servers add the replaced hash to it on every change, the service account's
//! administrative set included, but compare a new password with it only on the user's own
//! change (measured on slapd 2.5 and 389-DS 2.3: ARCHITECTURE.md, "Earlier passwords"). The
//! link flow's write is administrative, so without this check a password an earlier campaign
//! burnt (by now only in that history) could be set again.
//!
//! Owns reading the attribute and verifying the hashes off the runtime's threads; each flavour
//! names the attribute and says how to take the hash out of one of its values. Reads only. A
//! history the ACLs hide looks empty (the server leaves the attribute out): nothing can be told.

use super::shared::Shared;
use super::{DirectoryError, Warning, userpassword};
use crate::secret::Secret;

/// Where a flavour keeps an account's earlier passwords.
pub(crate) struct History {
    /// The entry's attribute.
    pub attr: &'static str,
    /// The server, as the warning names it.
    pub server: &'static str,
    /// The stored hash in one of the attribute's values.
    pub hash_of: fn(&str) -> Option<&str>,
    /// What lets the service account (its DN given) read the attribute.
    pub grant: fn(&str) -> String,
}

impl History {
    /// Whether `candidate` is one of the account's earlier passwords ([`is_earlier`]).
    pub async fn is_earlier(&self, s: &Shared, dn: &str, candidate: &Secret) -> Result<Option<bool>, DirectoryError> {
        is_earlier(s, dn, self.attr, self.hash_of, candidate).await
    }

    /// Why the link flow cannot tell earlier passwords for `dn` (an account in scope), if the
    /// service account may not read its history, with what fixes it.
    pub async fn warning(&self, s: &Shared, dn: &str) -> Result<Option<Warning>, DirectoryError> {
        if readable(s, dn, self.attr).await? {
            return Ok(None);
        }
        Ok(Some(Warning::advisory(format!(
            "the service account may not read {attr} of {dn}, so the link flow cannot refuse the \
             earlier passwords {server} keeps (an earlier campaign's burnt password among them): \
             its administrative set skips the server's own history check; {grant}",
            attr = self.attr,
            server = self.server,
            grant = (self.grant)(&s.config.bind_dn),
        ))))
    }
}

/// Whether `candidate` is one of the hashes in the entry's `attr` values, each taken out with
/// `hash_of`; `None` when there is no readable history, or none matches and one value cannot
/// be read or verified (e.g. `{CRYPT}`).
async fn is_earlier(
    s: &Shared,
    dn: &str,
    attr: &str,
    hash_of: fn(&str) -> Option<&str>,
    candidate: &Secret,
) -> Result<Option<bool>, DirectoryError> {
    let Some(entry) = s.entry(dn, &[attr]).await? else {
        return Ok(None);
    };
    let values = entry.all(attr);
    let hashes: Vec<String> = values.iter().filter_map(|v| hash_of(v)).map(str::to_owned).collect();
    if hashes.is_empty() {
        return Ok(None);
    }
    // A value whose hash cannot be taken out counts as one that cannot be verified.
    let unreadable = hashes.len() < values.len();
    // One verification per value, argon2 and PBKDF2 ones included (milliseconds to tens of
    // milliseconds each): off the runtime's threads.
    let candidate = candidate.clone();
    let verified = tokio::task::spawn_blocking(move || {
        userpassword::matches_any(hashes.iter().map(|h| h.as_bytes()), candidate.expose())
    })
    .await;
    let verdict = match verified {
        Ok(verdict) => verdict,
        // Only a panic in the hashing code gets here: "cannot tell", said in the log.
        Err(e) => {
            tracing::error!(error = %e, attr, "verifying an earlier password's hash failed");
            None
        }
    };
    Ok(match verdict {
        Some(false) if unreadable => None,
        other => other,
    })
}

/// Whether the service account may read `attr` on `dn`, for `check-config`: told by a Compare
/// with a value no history holds. slapd and 389-DS answer 50 (insufficientAccess) without
/// compare access, whether the entry has the attribute or not, and 5 (false) or 16
/// (noSuchAttribute) with it (measured). Read access includes compare on slapd; a 389 ACI that
/// grants `read` should grant `compare` with it. Nothing is written, no user bound.
async fn readable(s: &Shared, dn: &str, attr: &str) -> Result<bool, DirectoryError> {
    let endpoint = s.pool.endpoint();
    let mut ldap = s.pool.get().await?;
    let answer = ldap
        .with_timeout(endpoint.timeout)
        .compare(dn, attr, "pwresetd: may the service account read this?")
        .await
        .map_err(|e| DirectoryError::from_op(&endpoint.url, "compare", dn, e, endpoint.timeout_secs()))?;
    Ok(answer.0.rc != 50)
}
