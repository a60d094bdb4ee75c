//! Changing a password: the link flow and the current-password flow, from a validated form to
//! the directory write, its verification, the store's completion and the notification. No HTTP
//! here: each flow ends in an [`Outcome`], which `answers` turns into a page. This file holds
//! the two entry points and authentication; `commit` the common end; `links` the link lookup.
//!
//! Order, for both flows: authenticate (link valid / current password binds) → claim the account
//! (one change in flight per account) → policy check with the account's personal data, its
//! history and, when known, the current password → refuse new = current → write → verify with a
//! bind that must be unrestricted → only then record the completion (state, spent link, history
//! hash, audit, in one transaction) → notify in the background. Authentication comes first so
//! that nobody learns anything about an account's rules, names or history without proving who
//! they are (the history rule would otherwise be an oracle on old passwords).
//!
//! "Differs from the current password":
//! - current-password flow and `link_and_current_password`: the current password is known, the
//!   policy's `differs_from_current` rule compares exactly (after NFKC), and the directory's own
//!   Password Modify refuses it too (ppolicy history).
//! - link flow: the current password is unknown; [`Directory::is_current_password`] checks the
//!   new one against the stored hash without a bind. `Some(true)` refuses with the
//!   `same_as_current` rule; `None` (a hash scheme pwresetd cannot verify) means the check could
//!   not be made and the change goes ahead (logged): the admin write skips the server's history.

use std::net::IpAddr;

use super::PortalState;
use super::commit::Change;
pub use super::links::{LinkTarget, open_link};
pub use super::outcome::{Flow, Outcome, Typed};
use super::outcome::{directory_down, store_down};
use crate::directory::{AccountDetails, BindCheck, Directory, DirectoryError};
use crate::policy::{DirectoryRules, Password};
use crate::secret::Secret;
use crate::store::{AccountRecord, StoreError};

/// The link flow (with the current password when `portal.auth = "link_and_current_password"`).
pub async fn via_link(state: PortalState, link: String, typed: Typed, client: IpAddr) -> Outcome {
    let first = match open_link(&state, &link).await {
        Ok(Some(t)) => t,
        Ok(None) => return Outcome::LinkGone,
        Err(e) => return store_down(&e),
    };
    let Some(_claim) = state.claim(&first.token.dn) else {
        return Outcome::Busy;
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
            if let Err(outcome) = authenticate(state.directory(), &dn, current).await {
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

/// The current-password flow: login + current password.
pub async fn via_current_password(state: PortalState, login: String, typed: Typed, client: IpAddr) -> Outcome {
    let Some(current) = typed.current.clone() else {
        return Outcome::WrongCredentials;
    };
    let details = match state.directory().find_by_login(&login).await {
        Ok(Some(d)) => d,
        Ok(None) => return Outcome::WrongCredentials,
        Err(e) if e.is_unavailable() => return directory_down(&e),
        Err(e) => {
            // E.g. an ambiguous login: no one can use it; answer as for an unknown login.
            tracing::warn!(error = %e, "login lookup failed");
            return Outcome::WrongCredentials;
        }
    };
    let dn = details.account.dn.clone();
    let Some(_claim) = state.claim(&dn) else {
        return Outcome::Busy;
    };
    if let Err(outcome) = authenticate(state.directory(), &dn, &current).await {
        return outcome;
    }
    let records = match open_records(&state, &details).await {
        Ok(r) if r.is_empty() => return Outcome::NothingToDo,
        Ok(r) => r,
        Err(e) => return store_down(&e),
    };
    let change = Change {
        state: &state,
        flow: Flow::CurrentPassword,
        client,
        details,
        records,
        token_hash: None,
    };
    change.run(typed).await
}

/// The directory's own password rules for the account at `dn` (`None`: the default policy's),
/// the floor under `[policy]`. A directory that cannot be reached is an error (no change could
/// be made anyway); rules that cannot be read for another reason leave `[policy]` alone, as
/// the flavour's warnings (`check-config`, `campaign plan`) say.
pub(super) async fn directory_rules(
    state: &PortalState,
    dn: Option<&str>,
) -> Result<Option<DirectoryRules>, DirectoryError> {
    match state.directory().password_rules(dn).await {
        Ok(rules) => Ok(rules),
        Err(e) if e.is_unavailable() => Err(e),
        Err(e) => {
            tracing::warn!(error = %e, "portal: the directory's password rules could not be read; [policy] alone applies");
            Ok(None)
        }
    }
}

/// Proves the current password with a bind (which works under `pwdReset`: it is the later
/// operations that are restricted).
async fn authenticate(directory: &dyn Directory, dn: &str, current: &Password) -> Result<(), Outcome> {
    match directory.check_password(dn, &Secret::new(current.expose())).await {
        Ok(BindCheck::Refused) => Err(Outcome::WrongCredentials),
        Ok(BindCheck::Unrestricted | BindCheck::MustChange) => Ok(()),
        Err(e) => Err(directory_down(&e)),
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
