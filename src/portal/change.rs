//! Changing a password: the link flow and the current-password flow, from a validated form to
//! the directory write, its verification, the store's completion and the notification. No HTTP
//! here: each flow ends in an [`Outcome`], which `handlers` turns into a page.
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

use chrono::Utc;

use super::PortalState;
use crate::campaign::state::{AccountState, CampaignState, Via};
use crate::directory::{AccountDetails, BindCheck, Directory, PasswordError};
use crate::policy::{CheckInput, Password, RuleId, Subject, Violation, hash_for_history};
use crate::secret::Secret;
use crate::store::{AccountRecord, AuditEntry, Completion, StoreError, TokenRecord};
use crate::token;

/// How a change attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// Written, verified and recorded (or written and verified, and the record failed: logged).
    Changed { login: String },
    /// The portal's policy refused the password: every violation.
    Violations(Vec<Violation>),
    /// The directory's own rules refused it; the message is in plain words.
    DirectoryRefused { message: String },
    /// Unknown login or wrong current password: one answer for both.
    WrongCredentials,
    /// The link is unknown, spent, expired, revoked, or its account is no longer expected to change.
    LinkGone,
    /// The current password is right but the account has nothing to do in any open campaign.
    NothingToDo,
    /// Another change for the same account is in flight.
    Busy,
    /// The directory, the store or a policy resource is unavailable: try again later.
    Unavailable,
    /// Written, but the verification bind did not show an unrestricted account: not recorded.
    NotConfirmed,
}

/// Which flow a change came through (recorded in the audit trail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Link,
    LinkAndCurrentPassword,
    CurrentPassword,
}

impl Flow {
    pub fn as_str(self) -> &'static str {
        match self {
            Flow::Link => "link",
            Flow::LinkAndCurrentPassword => "link_and_current_password",
            Flow::CurrentPassword => "current_password",
        }
    }
}

/// A usable link: its record and the account it belongs to.
#[derive(Debug, Clone)]
pub struct LinkTarget {
    pub hash: String,
    pub token: TokenRecord,
    pub account: AccountRecord,
}

impl LinkTarget {
    /// The login shown on the page and used as the rate-limit key.
    pub fn login(&self) -> String {
        self.token.login.clone().unwrap_or_else(|| self.token.dn.clone())
    }
}

fn open_state(state: AccountState) -> bool {
    matches!(state, AccountState::Pending | AccountState::Marked | AccountState::Failed)
}

/// Looks a link up: `None` unless it is well formed, known, unused, unrevoked, unexpired, and
/// its account is pending/marked/failed in a campaign that is marking or active.
pub async fn open_link(state: &PortalState, link: &str) -> Result<Option<LinkTarget>, StoreError> {
    if !token::well_formed(link) {
        return Ok(None);
    }
    let hash = token::hash(link);
    state
        .store()
        .run(move |s| {
            let Some(token) = s.token(&hash)? else { return Ok(None) };
            if token.used_at.is_some() || token.revoked_at.is_some() || token.expires_at <= Utc::now() {
                return Ok(None);
            }
            let Some(account) = s.account(token.account_id)? else { return Ok(None) };
            let campaign_open = s
                .campaign(&account.campaign)?
                .is_some_and(|c| matches!(c.state, CampaignState::Marking | CampaignState::Active));
            Ok((open_state(account.state) && campaign_open).then_some(LinkTarget { hash, token, account }))
        })
        .await
}

/// What the person typed, checked for shape (non-empty, no control characters, confirmed).
pub struct Typed {
    pub current: Option<Password>,
    pub new: Password,
}

/// The link flow (with the current password when `portal.auth = "link_and_current_password"`).
pub async fn via_link(state: PortalState, link: String, typed: Typed, client: IpAddr) -> Outcome {
    let first = match open_link(&state, &link).await {
        Ok(Some(t)) => t,
        Ok(None) => return Outcome::LinkGone,
        Err(e) => return store_down(&e),
    };
    let Some(_claim) = state.claim(&first.token.dn) else { return Outcome::Busy };
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
    let Some(current) = typed.current.clone() else { return Outcome::WrongCredentials };
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
    let Some(_claim) = state.claim(&dn) else { return Outcome::Busy };
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

fn subject(details: &AccountDetails) -> Subject {
    let a = &details.account;
    Subject {
        login: a.login.clone(),
        given_name: a.given_name.clone(),
        surname: a.surname.clone(),
        display_name: a.display_name.clone(),
        mail: a.mail.clone(),
    }
}

fn directory_down(e: &crate::directory::DirectoryError) -> Outcome {
    tracing::error!(error = %e, "portal: directory operation failed");
    Outcome::Unavailable
}

fn store_down(e: &StoreError) -> Outcome {
    tracing::error!(error = %e, "portal: store operation failed");
    Outcome::Unavailable
}

/// One authenticated change in progress.
struct Change<'a> {
    state: &'a PortalState,
    flow: Flow,
    client: IpAddr,
    details: AccountDetails,
    /// Open records for the account; the first is the link's when there is one.
    records: Vec<AccountRecord>,
    token_hash: Option<String>,
}

impl Change<'_> {
    fn dn(&self) -> &str {
        &self.details.account.dn
    }

    async fn run(self, typed: Typed) -> Outcome {
        if let Err(outcome) = self.check(&typed).await {
            return outcome;
        }
        let keep = self.state.policy().config().history;
        let new = typed.new.clone();
        let hash = async {
            if keep == 0 {
                return None;
            }
            match self.state.cpu(move || hash_for_history(&new)).await {
                Some(Ok(phc)) => Some(phc),
                Some(Err(e)) => {
                    tracing::error!(error = %e, "portal: cannot hash the new password for the history");
                    None
                }
                None => None,
            }
        };
        let (written, phc) = tokio::join!(self.write(&typed), hash);
        if let Err(outcome) = written {
            return outcome;
        }
        if let Err(outcome) = self.verify(&typed.new).await {
            return outcome;
        }
        self.record(phc, keep).await;
        Outcome::Changed {
            login: self.details.account.login.clone(),
        }
    }

    /// The portal's policy, then "not the current password" where only the directory can tell.
    async fn check(&self, typed: &Typed) -> Result<(), Outcome> {
        let policy = self.state.policy().clone();
        let dn = self.dn().to_owned();
        let n = policy.config().history;
        let history = if n == 0 {
            Vec::new()
        } else {
            self.state
                .store()
                .run(move |s| s.password_history(&dn, n))
                .await
                .map_err(|e| store_down(&e))?
        };
        let (new, current, subject) = (typed.new.clone(), typed.current.clone(), subject(&self.details));
        let verdict = self
            .state
            .cpu(move || {
                policy.check(&CheckInput {
                    password: &new,
                    current: current.as_ref(),
                    history: &history,
                    subject: &subject,
                })
            })
            .await
            .ok_or(Outcome::Unavailable)?
            .map_err(|e| {
                tracing::error!(error = %e, "portal: the password policy check could not run");
                Outcome::Unavailable
            })?;
        let mut violations = verdict.violations().to_vec();
        if typed.current.is_none() && self.state.policy().config().differs_from_current {
            let secret = Secret::new(typed.new.expose());
            match self.state.directory().is_current_password(self.dn(), &secret).await {
                Ok(Some(true)) => violations.push(Violation {
                    rule: RuleId::SameAsCurrent,
                    message: "This is your current password. Choose a new one.".into(),
                }),
                Ok(Some(false)) => {}
                Ok(None) => tracing::info!(
                    dn = %self.dn(),
                    "cannot tell whether the new password is the current one (unknown hash scheme)"
                ),
                Err(e) => return Err(directory_down(&e)),
            }
        }
        if violations.is_empty() {
            Ok(())
        } else {
            tracing::info!(dn = %self.dn(), rules = ?violations.iter().map(|v| v.rule).collect::<Vec<_>>(), "portal: policy refused a new password");
            Err(Outcome::Violations(violations))
        }
    }

    async fn write(&self, typed: &Typed) -> Result<(), Outcome> {
        let new = Secret::new(typed.new.expose());
        let directory = self.state.directory();
        let result = match &typed.current {
            Some(current) => {
                directory
                    .change_password_as_user(self.dn(), &Secret::new(current.expose()), &new)
                    .await
            }
            None => directory.set_password_as_admin(self.dn(), &new).await,
        };
        match result {
            Ok(()) => Ok(()),
            Err(PasswordError::WrongCurrentPassword) => Err(Outcome::WrongCredentials),
            Err(PasswordError::Refused { message, detail }) => {
                tracing::info!(dn = %self.dn(), detail, "portal: the directory refused a new password");
                Err(Outcome::DirectoryRefused { message })
            }
            Err(PasswordError::Directory(e)) => Err(directory_down(&e)),
        }
    }

    /// The new password must bind, and the account must no longer be restricted.
    async fn verify(&self, new: &Password) -> Result<(), Outcome> {
        match self.state.directory().check_password(self.dn(), &Secret::new(new.expose())).await {
            Ok(BindCheck::Unrestricted) => Ok(()),
            Ok(other) => {
                tracing::error!(dn = %self.dn(), bind = ?other, "portal: password written but the verification bind is not unrestricted; not recorded as completed");
                Err(Outcome::NotConfirmed)
            }
            Err(e) => {
                tracing::error!(dn = %self.dn(), error = %e, "portal: password written but could not be verified; not recorded as completed");
                Err(Outcome::NotConfirmed)
            }
        }
    }

    /// Completes every open record of the account, then notifies in the background.
    async fn record(&self, phc: Option<String>, keep: u32) {
        let records = self.records.clone();
        let token_hash = self.token_hash.clone();
        let detail = format!("flow={} address={}", self.flow.as_str(), self.client);
        let dn = self.dn().to_owned();
        let done = self
            .state
            .store()
            .run(move |s| {
                let mut first = None;
                for record in &records {
                    let completion = Completion {
                        account_id: record.id,
                        via: Via::Portal,
                        token_hash: if first.is_none() { token_hash.as_deref() } else { None },
                        history: if first.is_none() { phc.as_deref().map(|p| (p, keep)) } else { None },
                        audit: AuditEntry {
                            at: Utc::now(),
                            actor: "portal".into(),
                            action: "password.changed".into(),
                            campaign: Some(record.campaign.clone()),
                            account: Some(record.login.clone().unwrap_or_else(|| dn.clone())),
                            detail: Some(detail.clone()),
                        },
                    };
                    match s.complete(&completion)? {
                        Ok(()) if first.is_none() => first = s.account(record.id)?,
                        Ok(()) => {}
                        Err(refused) => tracing::warn!(account = record.id, refused, "portal: completion refused"),
                    }
                }
                Ok(first)
            })
            .await;
        match done {
            Ok(Some(record)) => {
                let (notifier, details) = (self.state.notifier(), self.details.clone());
                tokio::spawn(async move { notifier.password_changed(&record, &details).await });
            }
            Ok(None) => tracing::warn!(dn = %self.dn(), "portal: password changed but no open record to complete"),
            Err(e) => tracing::error!(dn = %self.dn(), error = %e, "portal: password changed in the directory but the store could not record it; reconciliation will see it"),
        }
    }
}
