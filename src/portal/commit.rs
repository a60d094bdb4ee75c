//! The common end of both flows, once the person is authenticated and the account claimed:
//! the account's effective policy (`[policy]` with the directory's own rules as a floor, read
//! for this account: a fine-grained policy may apply) and its check, refusing the current password
//! and the directory's earlier ones, the write, its verification, the completion
//! record and the notification (see `change` for the order and why).

use std::net::IpAddr;

use chrono::Utc;

use super::PortalState;
use super::binds::{self, Proof, reserve};
use super::in_flight::{self, InFlight};
use super::outcome::{Flow, Outcome, Typed, directory_down, store_down};
use super::unconfirmed;
use crate::campaign::state::Via;
use crate::directory::{AccountDetails, BindCheck, DirectoryError, PasswordError};
use crate::policy::{CheckInput, DirectoryRules, Password, Reason, RuleId, Subject, Violation, hash_for_history};
use crate::secret::Secret;
use crate::store::{AccountRecord, AuditEntry, Completion};

/// Whether the "not the current password" check may bind with the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Bind,
    Skip,
}

/// One authenticated change in progress.
pub(super) struct Change<'a> {
    pub state: &'a PortalState,
    pub flow: Flow,
    pub client: IpAddr,
    pub details: AccountDetails,
    /// Open records for the account; the first is the link's when there is one.
    pub records: Vec<AccountRecord>,
    pub token_hash: Option<String>,
}

impl Change<'_> {
    fn dn(&self) -> &str {
        &self.details.account.dn
    }

    #[tracing::instrument(name = "change", skip_all, fields(dn = %self.details.account.dn, flow = self.flow.as_str(), campaign = self.records.first().map(|r| r.campaign.as_str())))]
    pub async fn run(self, typed: Typed) -> Outcome {
        // Both flows read the account by base search (`Directory::read`): the policy attribute
        // it names came with it, even constructed (AD); no second read.
        let floor = floor(
            self.state
                .directory()
                .policy_rules(self.details.account.policy.as_deref())
                .await,
        );
        let floor = match floor {
            Ok(rules) => rules,
            Err(e) => return directory_down(&e),
        };
        let keep = self.state.policy().effective(floor.as_ref()).history();
        let phc = match self.check(&typed, floor, keep).await {
            Ok(phc) => phc,
            Err(outcome) => return outcome,
        };
        let written = match self.write(&typed, phc.as_deref()).await {
            Ok(written) => written,
            Err(outcome) => return outcome,
        };
        if let Err(outcome) = self.verify(&typed.new).await {
            if let Some(written) = written {
                written.ended(self.state).await;
            }
            return outcome;
        }
        self.record(phc, keep, written.as_ref()).await;
        Outcome::Changed {
            login: self.details.account.login.clone(),
        }
    }

    /// The effective policy (`[policy]` with the directory's rules `floor`, keeping `keep`
    /// earlier passwords), then "not the current password" where only the directory can tell.
    /// Returns the new password's history entry (None when the history is off or the hash
    /// failed, which is logged): hashed once with the account's history salt, it serves both
    /// the reuse rule and the store.
    async fn check(&self, typed: &Typed, floor: Option<DirectoryRules>, keep: u32) -> Result<Option<String>, Outcome> {
        let policy = self.state.policy();
        let dn = self.dn().to_owned();
        let history = if keep == 0 {
            Vec::new()
        } else {
            self.state
                .store()
                .run(move |s| s.password_history(&dn, keep))
                .await
                .map_err(|e| store_down(&e))?
        };
        let (new, current, subject) = (typed.new.clone(), typed.current.clone(), subject(&self.details));
        let (checked, directory) = (policy.clone(), floor.clone());
        let (verdict, phc) = self
            .state
            .cpu(move || {
                let phc = (keep > 0).then(|| history_entry(&new, &history)).flatten();
                let input = CheckInput {
                    password: &new,
                    current: current.as_ref(),
                    history: &history,
                    subject: &subject,
                };
                (
                    checked
                        .effective(directory.as_ref())
                        .check_with_entry(&input, phc.as_deref()),
                    phc,
                )
            })
            .await
            .ok_or(Outcome::Unavailable)?;
        let verdict = verdict.map_err(|e| {
            tracing::error!(error = %e, "portal: the password policy check could not run");
            Outcome::Unavailable
        })?;
        let mut violations = verdict.violations().to_vec();
        // The administrative write skips the directory's history: compare with it here (the
        // store's history holds only what pwresetd set; an earlier campaign's burnt password
        // is in the directory's).
        let reused = violations.iter().any(|v| v.rule == RuleId::Reused);
        if typed.current.is_none() && keep > 0 && !reused && self.is_earlier(&typed.new).await? {
            violations.push(Violation::from(Reason::Reused));
        }
        if typed.current.is_none() && policy.config().differs_from_current {
            // A bind costs a failure when it fails: only for a password nothing else refuses.
            let probe = if violations.is_empty() {
                Probe::Bind
            } else {
                Probe::Skip
            };
            if self.is_current(&typed.new, probe).await? {
                violations.push(Violation::from(Reason::SameAsCurrent));
            }
        }
        if violations.is_empty() {
            return Ok(phc);
        }
        tracing::info!(rules = ?violations.iter().map(|v| v.rule).collect::<Vec<_>>(), "portal: policy refused a new password");
        let effective = policy.effective(floor.as_ref());
        Err(Outcome::Violations {
            violations,
            rules: effective.rules(),
            advice: effective.advice(),
        })
    }

    /// Whether `new` is the account's current password, where the flow does not know the
    /// current one (the link flow). That password is the one the campaign burnt: written back,
    /// the old password would open the account again. The directory answers from the stored
    /// hash where it can (OpenLDAP); where it cannot (389-DS, Active Directory: no readable
    /// hash), `new` is tried with a bind (`probe`), and a bind that opens the account means it
    /// is the current one. A password an unconfirmed or interrupted attempt wrote is not the old
    /// one.
    async fn is_current(&self, new: &Password, probe: Probe) -> Result<bool, Outcome> {
        let secret = Secret::new(new.expose());
        let current = match self.state.directory().is_current_password(self.dn(), &secret).await {
            Ok(Some(known)) => known,
            Ok(None) if probe == Probe::Bind => self.opens_account(&secret).await?,
            // Another rule refuses it anyway; the probe runs once that is fixed.
            Ok(None) => false,
            Err(e) => return Err(directory_down(&e)),
        };
        if current && unconfirmed::written(self.state, self.dn(), new).await? {
            tracing::info!("portal: the current password is the one an unconfirmed attempt wrote; retrying");
            return Ok(false);
        }
        // A retry after a write whose process died before it could finish or note it.
        if current && in_flight::written(self.state, self.dn(), new).await? {
            tracing::info!("portal: the current password is the one an interrupted attempt wrote; retrying");
            return Ok(false);
        }
        Ok(current)
    }

    /// Whether `new` is one of the earlier passwords the directory keeps for the account
    /// (OpenLDAP's `pwdHistory`, 389-DS's `passwordHistory`); false where it cannot tell.
    async fn is_earlier(&self, new: &Password) -> Result<bool, Outcome> {
        let secret = Secret::new(new.expose());
        let earlier = self.state.directory().is_earlier_password(self.dn(), &secret);
        match self.state.cpu_bound(earlier).await {
            Some(Ok(known)) => Ok(known == Some(true)),
            Some(Err(e)) => Err(directory_down(&e)),
            None => Err(Outcome::Unavailable),
        }
    }

    /// Binds with `candidate`, reserved against the account's budget of failed binds with the
    /// link as proof (strangers' failures cannot spend it all, and it stays below the lockout
    /// threshold); a spent budget is answered 429 rather than skipping the check.
    async fn opens_account(&self, candidate: &Secret) -> Result<bool, Outcome> {
        let attempt = reserve(self.state, Some(&self.details), "", Proof::Link, self.client).await?;
        binds::opens(self.state.directory(), self.dn(), candidate, attempt).await
    }

    /// Writes the new password; an administrative set (the link flow) is remembered in the
    /// store before it is sent (`in_flight`), and the returned row stays until the change is
    /// recorded or the attempt ends unconfirmed. `phc`: the password's history entry, if made.
    async fn write(&self, typed: &Typed, phc: Option<&str>) -> Result<Option<InFlight>, Outcome> {
        let new = Secret::new(typed.new.expose());
        let directory = self.state.directory();
        let (result, written) = match &typed.current {
            // A user's own change is one operation: nothing to finish after it.
            Some(current) => {
                let old = Secret::new(current.expose());
                (directory.change_password_as_user(self.dn(), &old, &new).await, None)
            }
            None => {
                let written = in_flight::begin(self.state, self.dn(), &typed.new, phc).await?;
                (directory.set_password_as_admin(self.dn(), &new).await, Some(written))
            }
        };
        let refused = match result {
            Ok(()) => return Ok(written),
            Err(PasswordError::WrongCurrentPassword) => Outcome::WrongCredentials,
            Err(PasswordError::Refused { reason, detail }) => {
                tracing::info!(detail, ?reason, "portal: the directory refused a new password");
                Outcome::DirectoryRefused { reason }
            }
            // The write may have been applied before its answer was lost: not "nothing was
            // changed". The note lets a retry with the same password go through.
            Err(PasswordError::Directory(e)) => {
                tracing::error!(error = %e, "portal: the password write failed; it may have been applied; not recorded as completed");
                unconfirmed::note(self.state, self.dn(), &typed.new).await;
                if let Some(written) = written {
                    written.ended(self.state).await;
                }
                return Err(Outcome::NotConfirmed);
            }
        };
        if let Some(written) = written {
            written.ended(self.state).await;
        }
        Err(refused)
    }

    /// The new password must bind, and the account must no longer be restricted.
    async fn verify(&self, new: &Password) -> Result<(), Outcome> {
        match self
            .state
            .directory()
            .check_password(self.dn(), &Secret::new(new.expose()))
            .await
        {
            Ok(BindCheck::Unrestricted) => Ok(()),
            Ok(other) => {
                tracing::error!(bind = ?other, "portal: password written but the verification bind is not unrestricted; not recorded as completed");
                unconfirmed::note(self.state, self.dn(), new).await;
                Err(Outcome::NotConfirmed)
            }
            Err(e) => {
                tracing::error!(error = %e, "portal: password written but could not be verified; not recorded as completed");
                unconfirmed::note(self.state, self.dn(), new).await;
                Err(Outcome::NotConfirmed)
            }
        }
    }

    /// Completes every open record of the account (and forgets the attempt's `written` row in
    /// the same call), then notifies in the background.
    async fn record(&self, phc: Option<String>, keep: u32, written: Option<&InFlight>) {
        let holder = written.map(|w| w.holder().to_owned());
        let records = self.records.clone();
        let token_hash = self.token_hash.clone();
        let detail = format!("flow={} address={}", self.flow.as_str(), self.client);
        let dn = self.dn().to_owned();
        let noted = unconfirmed::key(&dn);
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
                        history: if first.is_none() {
                            phc.as_deref().map(|p| (p, keep))
                        } else {
                            None
                        },
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
                // Recorded: a note of an earlier unconfirmed attempt vouches for nothing now
                // (expired notes of other accounts go with it).
                if let Err(e) = s.forget_unconfirmed(&noted, Utc::now().timestamp()) {
                    tracing::warn!(error = %e, "portal: cannot delete an unconfirmed password's note; it expires on its own");
                }
                if let Some(holder) = &holder
                    && let Err(e) = s.forget_portal_write(&dn, holder)
                {
                    tracing::warn!(error = %e, "portal: cannot forget a recorded write; it ages out on its own");
                }
                Ok(first)
            })
            .await;
        match done {
            Ok(Some(record)) => {
                let (notifier, details) = (self.state.notifier(), self.details.clone());
                tokio::spawn(async move { notifier.password_changed(&record, &details).await });
            }
            Ok(None) => tracing::warn!("portal: password changed but no open record to complete"),
            Err(e) => {
                tracing::error!(error = %e, "portal: password changed in the directory but the store could not record it; reconciliation will see it")
            }
        }
    }
}

/// The directory's own password rules for the account at `dn` (`None`: the default policy's),
/// the floor under `[policy]`, for a form page, which only lists them: as read at most
/// `directory.rules_cache` ago (during a burst the directory is busy with the changes). The
/// change itself reads them again. A directory that cannot be reached is an error; rules that
/// cannot be read for another reason leave `[policy]` alone, as the flavour's warnings
/// (`check-config`, `campaign plan`) say.
pub(super) async fn shown_directory_rules(
    state: &PortalState,
    dn: Option<&str>,
) -> Result<Option<DirectoryRules>, DirectoryError> {
    floor(state.directory().remembered_password_rules(dn).await)
}

fn floor(read: Result<Option<DirectoryRules>, DirectoryError>) -> Result<Option<DirectoryRules>, DirectoryError> {
    match read {
        Ok(rules) => Ok(rules),
        Err(e) if e.is_unavailable() => Err(e),
        Err(e) => {
            tracing::warn!(error = %e, "portal: the directory's password rules could not be read; [policy] alone applies");
            Ok(None)
        }
    }
}

/// The new password hashed for the store with the account's history salt; None (logged) when
/// it cannot be made: the change goes ahead without a history entry, as a reuse check that
/// cannot run would be refused instead (fail closed there, not here).
fn history_entry(new: &Password, history: &[String]) -> Option<String> {
    hash_for_history(new, history)
        .map_err(|e| tracing::error!(error = %e, "portal: cannot hash the new password for the history"))
        .ok()
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
