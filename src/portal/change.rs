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
pub use super::links::{Link, LinkTarget, look_up, open_link};
pub use super::outcome::{Flow, Outcome, Typed};
use super::outcome::{directory_down, store_down};
use super::refusals::{self, About};
use crate::directory::{AccountDetails, BindCheck, Directory};
use crate::policy::Password;
use crate::secret::Secret;
use crate::store::{AccountRecord, StoreError};
use crate::web::budget::{self, Allowance, Attempt};

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
/// the same steps; see the module doc.
pub async fn via_current_password(state: PortalState, login: String, typed: Typed, client: IpAddr) -> Outcome {
    let Some(current) = typed.current.clone() else {
        return Outcome::WrongCredentials;
    };
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
    let dn = details.account.dn.clone();
    if let Err(outcome) = authenticate(state.directory(), &dn, &current, attempt).await {
        return outcome;
    }
    let _claim = match state.claim(&dn).await {
        Ok(Some(c)) => c,
        Ok(None) => return Outcome::Busy,
        Err(e) => return store_down(&e),
    };
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

/// What the person proved besides the password they are about to type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proof {
    None,
    /// A valid one-time link.
    Link,
}

/// Reserves one bind against the budget of the account (`details`), or of the typed `login`
/// when no account has it; a spent budget is answered (and recorded) without a bind.
async fn reserve(
    state: &PortalState,
    details: Option<&AccountDetails>,
    login: &str,
    proof: Proof,
    client: IpAddr,
) -> Result<Attempt, Outcome> {
    let policy = details.and_then(|d| d.effective_policy.as_deref());
    let lockout = state
        .directory()
        .lockout(policy)
        .await
        .map_err(|e| directory_down(&e))?;
    let failures = match proof {
        Proof::None => lockout.budget(),
        Proof::Link => lockout.budget_with_proof(),
    };
    let allowance = failures.map(|failures| Allowance {
        failures,
        window: lockout.counting_window(),
    });
    let (key, about) = match details {
        Some(d) => (
            budget::account_key(&d.account.dn),
            About::Account(d.account.login.clone()),
        ),
        None => (budget::login_key(login), About::Typed(login.to_owned())),
    };
    state.budget().reserve(&key, allowance).await.map_err(|limited| {
        tracing::info!("portal: an account's budget of failed password binds is spent");
        refusals::record(state, about, "portal.lockout_budget_spent", limited, client);
        Outcome::Limited(limited)
    })
}

/// Proves the current password with a bind (which works under `pwdReset`: it is the later
/// operations that are restricted), settling the budget's reservation.
async fn authenticate(
    directory: &dyn Directory,
    dn: &str,
    current: &Password,
    attempt: Attempt,
) -> Result<(), Outcome> {
    match directory.check_password(dn, &Secret::new(current.expose())).await {
        Ok(BindCheck::Refused) => {
            attempt.failed().await;
            Err(Outcome::WrongCredentials)
        }
        Ok(BindCheck::Unrestricted | BindCheck::MustChange) => {
            attempt.succeeded().await;
            Ok(())
        }
        // Unsettled: counted as a failure, the bind may have reached the directory.
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
