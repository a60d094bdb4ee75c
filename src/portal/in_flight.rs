//! The portal's administrative password writes, remembered in the store (`store/portal_writes.rs`)
//! from just before each is sent until the account's change is recorded.
//!
//! Why: the link flow's write is an administrative set, which the directory may follow with
//! a mark the portal then takes off in a second operation (OpenLDAP's ppolicy raises `pwdReset`;
//! 389-DS marks the expiry). A `serve` killed between the two leaves the new password *and* the
//! flag, and wrote no note (`unconfirmed.rs` notes a failure it lived to see). The row tells:
//! - reconciliation (`campaign::reconcile`), that a change after marking with the flag still set
//!   is the portal's own interrupted write when it falls within the row's attempt: the flag is
//!   cleared and the account completed, instead of completed with the flag left (an
//!   administrator's reset, outside that attempt, keeps its flag as before);
//! - a retry of the link, that the current password it is about to refuse as "your current
//!   password" is the one this attempt wrote (its argon2id hash matches), not the old one.
//!
//! A row is taken over by the account's next attempt and deleted with the change's record.
//! The hash is the history entry the change computes anyway when `policy.history` is on (no
//! extra cost on the common path), else one argon2id computation with a fresh salt. A store that
//! cannot record the row refuses the change before anything is written. Never logs the password
//! or its hash.

use chrono::Utc;

use super::PortalState;
use super::outcome::{Outcome, store_down};
use crate::campaign::reconcile::WRITE_WINDOW;
use crate::policy::{Password, hash_for_history, matches_hash};
use crate::store::holder_name;

/// How long a row vouches for its password on a retry, as an unconfirmed write's note does.
const VOUCHES_MS: i64 = 3600 * 1000;

/// One attempt's row, from [`begin`] until the attempt is over.
pub(super) struct InFlight {
    dn: String,
    holder: String,
}

/// Records that the portal is about to write `password` for `dn`; `phc` is its history entry
/// when the change made one. Refuses the change (nothing written) when the store cannot.
pub(super) async fn begin(
    state: &PortalState,
    dn: &str,
    password: &Password,
    phc: Option<&str>,
) -> Result<InFlight, Outcome> {
    let phc = match phc {
        Some(phc) => phc.to_owned(),
        None => {
            let new = password.clone();
            match state.cpu(move || hash_for_history(&new, &[])).await {
                Some(Ok(phc)) => phc,
                Some(Err(e)) => {
                    tracing::error!(error = %e, "portal: cannot hash the new password; nothing written");
                    return Err(Outcome::Unavailable);
                }
                None => return Err(Outcome::Unavailable),
            }
        }
    };
    let written = InFlight {
        dn: dn.to_owned(),
        holder: holder_name("portal"),
    };
    let (d, h, now) = (
        written.dn.clone(),
        written.holder.clone(),
        Utc::now().timestamp_millis(),
    );
    // An earlier attempt's write that may have landed stays covered (`begin_portal_write`).
    let carried_from = now - WRITE_WINDOW.num_milliseconds();
    state
        .store()
        .run(move |s| s.begin_portal_write(&d, &h, &phc, now, carried_from))
        .await
        .map_err(|e| store_down(&e))?;
    Ok(written)
}

impl InFlight {
    /// The holder name, for the completion's own transaction to forget the row.
    pub(super) fn holder(&self) -> &str {
        &self.holder
    }

    /// The attempt is over without a confirmed change: refused (nothing written), or the write
    /// may have landed unconfirmed. Reconciliation may then finish a change the row covers
    /// (clear the flag) if the directory has one; the row stays (a refused attempt's row still
    /// covers an earlier interrupted one it took over; its hash matches nothing the directory
    /// holds).
    pub(super) async fn ended(self, state: &PortalState) {
        let Self { dn, holder } = self;
        let now = Utc::now().timestamp_millis();
        if let Err(e) = state.store().run(move |s| s.end_portal_write(&dn, &holder, now)).await {
            tracing::warn!(error = %e, "portal: cannot record the end of an unconfirmed write; reconciliation waits out its window");
        }
    }
}

/// Whether `password`, which the directory holds as `dn`'s current one, is the one a portal
/// write remembered for `dn` sent in the last hour (on any instance, by a process alive or not).
/// A hash that cannot be checked counts as "no" (fail closed: refused as the current one).
pub(super) async fn written(state: &PortalState, dn: &str, password: &Password) -> Result<bool, Outcome> {
    let d = dn.to_owned();
    let row = state
        .store()
        .run(move |s| s.portal_write(&d))
        .await
        .map_err(|e| store_down(&e))?;
    let Some(row) = row.filter(|r| Utc::now().timestamp_millis() - r.started_at < VOUCHES_MS) else {
        return Ok(false);
    };
    let candidate = password.clone();
    match state.cpu(move || matches_hash(&candidate, &row.phc)).await {
        Some(Ok(matches)) => Ok(matches),
        Some(Err(e)) => {
            tracing::error!(error = %e, "portal: a remembered write's hash cannot be checked; treating it as absent");
            Ok(false)
        }
        None => Err(Outcome::Unavailable),
    }
}
