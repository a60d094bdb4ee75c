//! Passwords the portal sent to the directory without confirming them: the write's answer was
//! lost, or the verification bind failed (the directory went away between the two). The store
//! does not record such a change as completed, so the person retries with the same link — and
//! most people type the same password again. The directory now holds it, so the link flow's
//! "not the current password" rule would refuse it as if it were the old, compromised one.
//! A note tells the two apart: a current password that the portal itself wrote for the account,
//! for someone who held a valid link or the current password, is not the old one.
//!
//! The notes are in the store (`store/unconfirmed.rs`), so a retry that a load balancer sends
//! to another `serve` instance, or that comes after a restart, finds them. Only an argon2id
//! hash with a fresh salt is kept (the history's hasher), never a fast or keyed hash: the store
//! is a database others may read, and a key kept beside the hashes would protect nothing. The
//! hash costs one argon2id computation when a write goes unconfirmed, and one more when the
//! candidate is the account's current password: both rare. A note is written after the failure
//! (not before every write: the common path stays free of it); a process killed between the
//! write and its answer leaves no note: the link flow's administrative write is also remembered
//! from before it is sent (`in_flight.rs`), which lets reconciliation finish it and a retry reuse
//! its password. A note lasts [`LIFETIME_SECS`] and is deleted when the account's change is
//! recorded. Never logs the password or its hash.

use chrono::Utc;

use super::PortalState;
use super::outcome::{Outcome, store_down};
use crate::policy::{Password, hash_for_history, matches_hash};

/// How long a note vouches for its password: a retry comes within minutes; an hour leaves
/// room for a directory outage, and the link's own lifetime still bounds the retry.
const LIFETIME_SECS: i64 = 3600;

/// The note's key: DNs compare case-insensitively.
pub(super) fn key(dn: &str) -> String {
    dn.to_lowercase()
}

/// Notes that `password` was sent to `dn` without confirmation. A failure is logged, not
/// returned: the person then has to choose another password on the retry, as before.
pub(super) async fn note(state: &PortalState, dn: &str, password: &Password) {
    let new = password.clone();
    let phc = match state.cpu(move || hash_for_history(&new, &[])).await {
        Some(Ok(phc)) => phc,
        Some(Err(e)) => {
            tracing::error!(error = %e, "portal: cannot hash an unconfirmed password; a retry must choose another one");
            return;
        }
        None => return,
    };
    let (key, now) = (key(dn), Utc::now().timestamp());
    let noted = state
        .store()
        .run(move |s| s.note_unconfirmed(&key, &phc, now, now + LIFETIME_SECS))
        .await;
    if let Err(e) = noted {
        tracing::error!(error = %e, "portal: cannot note an unconfirmed password; a retry must choose another one");
    }
}

/// Whether `password`, which the directory holds as `dn`'s current one, is the one an
/// unconfirmed attempt wrote (on any instance). A hash that cannot be checked counts as "no"
/// (the password is then refused as the current one: fail closed).
pub(super) async fn written(state: &PortalState, dn: &str, password: &Password) -> Result<bool, Outcome> {
    let (key, now) = (key(dn), Utc::now().timestamp());
    let phc = state
        .store()
        .run(move |s| s.unconfirmed_password(&key, now))
        .await
        .map_err(|e| store_down(&e))?;
    let Some(phc) = phc else { return Ok(false) };
    let candidate = password.clone();
    match state.cpu(move || matches_hash(&candidate, &phc)).await {
        Some(Ok(matches)) => Ok(matches),
        Some(Err(e)) => {
            tracing::error!(error = %e, "portal: an unconfirmed password's note cannot be checked; treating it as absent");
            Ok(false)
        }
        None => Err(Outcome::Unavailable),
    }
}
