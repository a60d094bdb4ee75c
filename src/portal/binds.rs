//! Every bind the portal makes with a password a person typed (the current password they prove,
//! or a new one tried as the account's current one): reserved first against the account's
//! budget of failed binds ([`crate::web::budget`], shared with the helpdesk sign-in, kept below
//! the directory's lockout threshold), then settled by the bind's answer. A spent budget is
//! answered (and audited) without a bind. Must not bind without a reservation, nor log a password.

use std::net::IpAddr;

use super::PortalState;
use super::outcome::{Outcome, directory_down};
use super::refusals::{self, About};
use crate::directory::{AccountDetails, BindCheck, Directory};
use crate::secret::Secret;
use crate::web::budget::{self, Allowance, Attempt};

/// What the person proved besides the password they are about to type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    None,
    /// A valid one-time link.
    Link,
}

/// Reserves one bind against the budget of the account (`details`), or of the typed `login`
/// when no account has it; a spent budget is answered (and recorded) without a bind.
pub async fn reserve(
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

/// Binds as `dn` with `password` (which works under a must-change mark: it is the later
/// operations that are restricted), settling `attempt`: whether the password opens the account.
pub async fn opens(directory: &dyn Directory, dn: &str, password: &Secret, attempt: Attempt) -> Result<bool, Outcome> {
    match directory.check_password(dn, password).await {
        Ok(BindCheck::Refused) => {
            attempt.failed().await;
            Ok(false)
        }
        Ok(BindCheck::Unrestricted | BindCheck::MustChange) => {
            attempt.succeeded().await;
            Ok(true)
        }
        // Unsettled: counted as a failure, the bind may have reached the directory.
        Err(e) => Err(directory_down(&e)),
    }
}
