//! Changing a password: the link flow and the current-password flow, from a validated form to
//! the directory write, its verification, the store's completion and the notification. No HTTP
//! here: each flow ends in an [`Outcome`], which `answers` turns into a page. This file holds
//! the two entry points and authentication; `commit` the common end; `links` the link lookup.
//!
//! The current-password flow (`/change`) changes no password. While an account is in an open
//! campaign (a record neither completed nor exempted), its current password is the one the
//! campaign burnt: whoever holds the old passwords holds it, so it cannot prove who chooses the
//! new one. Once it binds, the account is mailed a new one-time link instead, as "send me a
//! new link" does (`resend`: the per-account limit, the audit), and the page says so without
//! the address. An account in no open campaign has nothing to do (409), as before. What
//! precedes the bind (the budget's reservation, the bind, the delay of a refusal) is unchanged,
//! so a wrong password learns nothing new.
//!
//! Order, for the link flow: authenticate (link valid, and the current password binds in
//! `link_and_current_password`) → claim the account
//! (one change in flight per account) → policy check with the account's personal data, its
//! history and, when known, the current password → refuse new = current → write → verify with a
//! bind that must be unrestricted → only then record the completion (state, spent link, history
//! hash, audit, in one transaction) → notify in the background. Authentication comes first so
//! that nobody learns anything about an account's rules, names or history without proving who
//! they are (the history rule would otherwise be an oracle on old passwords).
//!
//! Lockout and enumeration: a bind with the current password is first reserved against the
//! account's budget of failed binds ([`crate::web::budget`], shared with the helpdesk sign-in,
//! kept below the directory's lockout threshold). A typed login that matches no account gets the
//! same: its own budget, a failure, the same answer after the same delay. Whatever tells that an
//! account exists (a change in progress, nothing to do) is said only to whoever proved its
//! current password. The link flow asks for the current password only in
//! `link_and_current_password`; the valid link counts as proof, so it may use one failure more
//! than strangers can ([`crate::directory::Lockout::budget_with_proof`]), never reaching the threshold.
//!
//! "Differs from the current password":
//! - `link_and_current_password`: the current password is known, the
//!   policy's `differs_from_current` rule compares exactly (after NFKC), and the directory's own
//!   Password Modify refuses it too (ppolicy history).
//! - link flow: the current password is unknown, and it is the one the campaign burnt (the
//!   service account's write skips the server's history, so nothing else would refuse it).
//!   [`Directory::is_current_password`] checks the new one against the stored hash without a
//!   bind; `Some(true)` refuses with the `same_as_current` rule. Where the directory cannot tell
//!   (`None`: 389-DS and Active Directory keep no readable hash, or an unknown scheme), a new
//!   password every other rule accepts is tried with a bind reserved against the budget with
//!   the link as proof ([`binds`]): a bind that opens the account refuses it the same way.

use std::net::IpAddr;

use super::PortalState;
use super::binds::{self, Proof, reserve};
use super::commit::Change;
pub use super::links::{Link, LinkTarget, look_up, open_link};
use super::new_link::{Asked, new_link};
pub use super::outcome::{Flow, Outcome, Typed};
use super::outcome::{directory_down, store_down};
use crate::directory::{AccountDetails, Directory};
use crate::policy::Password;
use crate::secret::Secret;
use crate::store::{AccountRecord, StoreError};
use crate::web::budget::Attempt;

/// The link flow (with the current password when `portal.auth = "link_and_current_password"`).
pub async fn via_link(state: PortalState, link: String, typed: Typed, client: IpAddr) -> Outcome {
    let first = match open_link(&state, &link).await {
        Ok(Some(t)) => t,
        Ok(None) => return Outcome::LinkGone,
        Err(e) => return store_down(&e),
    };
    let _claim = match state.claim(&first.token.dn).await {
        Ok(Some(c)) => c,
        Ok(None) => return Outcome::Busy,
        Err(e) => return store_down(&e),
    };
    // Again under the claim: a parallel request may have spent the link meanwhile.
    let target = match open_link(&state, &link).await {
        Ok(Some(t)) => t,
        Ok(None) => return Outcome::LinkGone,
        Err(e) => return store_down(&e),
    };
    let dn = target.token.dn.clone();
    let details = match state.directory().read(&dn).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            tracing::warn!(dn = %dn, "a valid link's account is no longer in the directory");
            return Outcome::LinkGone;
        }
        Err(e) => return directory_down(&e),
    };
    let flow = match &typed.current {
        Some(current) => {
            let attempt = match reserve(&state, Some(&details), "", Proof::Link, client).await {
                Ok(a) => a,
                Err(outcome) => return outcome,
            };
            if let Err(outcome) = authenticate(state.directory(), &dn, current, attempt).await {
                return outcome;
            }
            Flow::LinkAndCurrentPassword
        }
        None => Flow::Link,
    };
    let records = match other_records(&state, &details, target.account.clone()).await {
        Ok(r) => r,
        Err(e) => return store_down(&e),
    };
    let change = Change {
        state: &state,
        flow,
        client,
        details,
        records,
        token_hash: Some(target.hash),
    };
    change.run(typed).await
}

/// The current-password flow: login + current password. Known and unknown logins go through
/// the same steps; see the module doc. It never changes a password: an account in an open
/// campaign gets a new link mailed instead, any other has nothing to do.
pub async fn via_current_password(state: PortalState, login: String, current: Password, client: IpAddr) -> Outcome {
    let found = match state.directory().find_by_login(&login).await {
        Ok(found) => found,
        Err(e) if e.is_unavailable() => return directory_down(&e),
        Err(e) => {
            // E.g. an ambiguous login: no one can use it; answer as for an unknown login.
            tracing::warn!(error = %e, "login lookup failed");
            None
        }
    };
    let attempt = match reserve(&state, found.as_ref(), &login, Proof::None, client).await {
        Ok(a) => a,
        Err(outcome) => return outcome,
    };
    let Some(details) = found else {
        attempt.failed().await;
        return Outcome::WrongCredentials;
    };
    if let Err(outcome) = authenticate(state.directory(), &details.account.dn, &current, attempt).await {
        return outcome;
    }
    match open_records(&state, &details).await {
        Ok(records) if records.is_empty() => Outcome::NothingToDo,
        Ok(_) => {
            // The password that opened the account is the one the campaign burnt: it proves
            // nothing, so it chooses nothing. The mailbox gets a link, as "send me a new link"
            // would send (same limits, same audit), in the background like there.
            tokio::spawn(async move { new_link(&state, &details, client, Asked::BurntCurrentPassword).await });
            Outcome::BurntLinkSent
        }
        Err(e) => store_down(&e),
    }
}

/// Proves the current password with a bind, settling the budget's reservation.
async fn authenticate(
    directory: &dyn Directory,
    dn: &str,
    current: &Password,
    attempt: Attempt,
) -> Result<(), Outcome> {
    match binds::opens(directory, dn, &Secret::new(current.expose()), attempt).await? {
        true => Ok(()),
        false => Err(Outcome::WrongCredentials),
    }
}

/// The account's open records (every campaign expecting a change from it).
async fn open_records(state: &PortalState, details: &AccountDetails) -> Result<Vec<AccountRecord>, StoreError> {
    let (login, dn) = (details.account.login.clone(), details.account.dn.clone());
    state
        .store()
        .run(move |s| {
            let mut records = s.open_accounts_for_login(&login)?;
            records.retain(|r| r.dn.eq_ignore_ascii_case(&dn));
            Ok(records)
        })
        .await
}

/// `first` (the link's record), then the account's other open records.
async fn other_records(
    state: &PortalState,
    details: &AccountDetails,
    first: AccountRecord,
) -> Result<Vec<AccountRecord>, StoreError> {
    let mut records = open_records(state, details).await?;
    records.retain(|r| r.id != first.id);
    records.insert(0, first);
    Ok(records)
}
