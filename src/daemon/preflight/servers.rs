//! The server stage of the preflight, run only on a valid configuration: the directory (bind,
//! TLS, the whole scope, the policies that decide whether the mark (and a campaign's deadline
//! lock) takes effect, the effective password policy under each of them, the lockout budget the
//! default policy's threshold leaves, write rights where the flavour can tell) and the mail
//! server or spool folder. Reads only: nothing is marked, nothing sent, no user's bind made.

use std::collections::BTreeSet;

use super::Check;
use crate::campaign::state::CampaignState;
use crate::daemon::Services;
use crate::directory::config::{DirectoryConfig, Transport};
use crate::directory::{AtDeadline, Directory, DirectoryError, Impact, Threshold, Warning};
use crate::engine::plan::{self, Plan};
use crate::notify::ProbeError;
use crate::notify::config::TransportSettings;

/// The directory's checks, in order; each needs the one before it.
pub(super) async fn directory(services: &Services) -> Vec<Check> {
    let dir = &services.directory;
    let c = &services.config.directory;
    let default_policy = match dir.check().await {
        Ok(warnings) => warnings,
        Err(e) => return vec![directory_failure("directory", &e)],
    };
    let mut checks = vec![bound(c)];
    // The whole scope, paged, as a campaign reads it; with the policies its accounts name.
    let plan = match plan::plan(dir.clone()).await {
        Ok(plan) => plan,
        Err(e) => {
            checks.push(directory_failure("scope", &e));
            return checks;
        }
    };
    checks.extend(scope(&plan, c));
    let lock_checks = deadline_lock(services, &plan).await;
    checks.extend(policies(
        default_policy.into_iter().chain(plan.warnings.iter().cloned()),
    ));
    checks.extend(effective(services, &plan).await);
    checks.extend(lock_checks);
    checks.push(lockout_budget(dir.as_ref()).await);
    if let Some(sample) = plan.sample.first() {
        match dir.write_warnings(&sample.dn).await {
            Ok(None) => {}
            Ok(Some(warnings)) if warnings.is_empty() => checks.push(Check::ok(
                "write rights",
                format!(
                    "the service account may mark {} and set its password (told by the directory; nothing written)",
                    sample.dn
                ),
            )),
            Ok(Some(warnings)) => checks.extend(warnings.into_iter().map(|w| from_warning("write rights", w))),
            Err(e) => checks.push(directory_failure("write rights", &e)),
        }
    }
    checks
}

/// When a campaign in the store locks at its deadline: whether the flavour's lock takes effect
/// under every policy of the scope (OpenLDAP: `pwdLockout: TRUE`).
async fn deadline_lock(services: &Services, plan: &Plan) -> Vec<Check> {
    let campaigns = match services.store.run(|s| s.campaigns()).await {
        Ok(c) => c,
        Err(e) => return vec![Check::fail("deadline lock", e.to_string(), "check store.path")],
    };
    let actions: BTreeSet<&'static str> = campaigns
        .iter()
        .filter(|c| c.state != CampaignState::Reverted && c.enforcement.at_deadline.acts())
        .map(|c| c.enforcement.at_deadline.as_str())
        .collect();
    let mut checks = Vec::new();
    for action in actions.into_iter().filter_map(AtDeadline::parse) {
        match services.directory.lock_warnings(&plan.policies, action).await {
            Ok(w) if w.is_empty() => checks.push(Check::ok(
                "deadline lock",
                format!(
                    "--at-deadline {} takes effect under every policy of the scope",
                    action.as_str()
                ),
            )),
            Ok(w) => checks.extend(w.into_iter().map(|w| from_warning("deadline lock", w))),
            Err(e) => checks.push(directory_failure("deadline lock", &e)),
        }
    }
    checks
}

fn bound(c: &DirectoryConfig) -> Check {
    let over = match c.transport {
        Transport::Ldaps => "ldaps",
        Transport::StartTls => "StartTLS",
        Transport::Plain => {
            return Check::warn(
                "directory",
                format!(
                    "bound as {} to {} in clear (directory.allow_insecure)",
                    c.bind_dn, c.url
                ),
                "use ldaps:// or StartTLS: the service account's and users' passwords cross the network",
            );
        }
    };
    Check::ok("directory", format!("bound as {} to {} over {over}", c.bind_dn, c.url))
}

fn scope(plan: &Plan, c: &DirectoryConfig) -> Vec<Check> {
    let mut excluded = format!("{} excluded", plan.excluded);
    if !plan.excluded_by_reason.is_empty() {
        let reasons: Vec<String> = plan
            .excluded_by_reason
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        excluded.push_str(&format!(" ({})", reasons.join(", ")));
    }
    let message = format!(
        "{} in scope under {}, read whole in pages of {}; {excluded}; {} already flagged",
        accounts(plan.in_scope),
        c.base_dn,
        c.page_size,
        plan.already_flagged
    );
    if plan.in_scope == 0 {
        return vec![Check::warn(
            "scope",
            message,
            "check directory.base_dn, user_filter and exclude_filter: a campaign would cover nobody",
        )];
    }
    let mut checks = vec![Check::ok("scope", message)];
    if plan.without_mail > 0 {
        checks.push(Check::warn(
            "mail addresses",
            format!(
                "{} in scope without a {} value: they get no notice",
                accounts(plan.without_mail),
                c.mail_attribute
            ),
            "add their mail addresses, or tell these people another way",
        ));
    }
    checks
}

fn accounts(n: u64) -> String {
    match n {
        1 => "1 account".to_owned(),
        n => format!("{n} accounts"),
    }
}

/// What the directory says about the policies that apply to the scope: whether the mark takes
/// effect under each, and how their rules compare with `[policy]` (the effective policy lines
/// belong here).
fn policies(warnings: impl Iterator<Item = Warning>) -> Vec<Check> {
    let mut seen = BTreeSet::new();
    let checks: Vec<Check> = warnings
        .filter(|w| seen.insert(w.message.clone()))
        .map(|w| from_warning("directory policy", w))
        .collect();
    if checks.is_empty() {
        return vec![Check::ok(
            "directory policy",
            "the mark takes effect under every policy that applies to the scope",
        )];
    }
    checks
}

/// The budget of failed password binds pwresetd keeps per account under the default policy,
/// and why: the lockout threshold that policy sets, read as the service account (a policy
/// named by an account is read when that account binds, with the same rule).
async fn lockout_budget(dir: &dyn Directory) -> Check {
    const CHECK: &str = "lockout budget";
    let lockout = match dir.lockout(None).await {
        Ok(lockout) => lockout,
        // The portal's current-password checks and the helpdesk sign-in read it too.
        Err(e) => return directory_failure(CHECK, &e),
    };
    let line = lockout.budget_line();
    if lockout.margin_too_small() {
        return Check::warn(
            CHECK,
            line,
            "raise the directory's lockout threshold to 3 or more: below that, a person's own typing error \
             after one failure through pwresetd locks the account",
        );
    }
    match lockout.threshold {
        Threshold::Unknown => Check::warn(
            CHECK,
            line,
            "give the service account read access to the password policy's lockout attributes: until then \
             pwresetd counts as strictly as it can (one failed bind per account until a successful one), \
             which may turn away a person's second typing error for a day",
        ),
        Threshold::After(_) | Threshold::Never => Check::ok(CHECK, line),
    }
}

/// The effective password policy (`[policy]` with the directory's own rules as a floor) under
/// each policy that applies to the scope, one check each, every rule with where it comes from.
/// Read for one account under each policy, as the portal reads it for the account it serves.
async fn effective(services: &Services, plan: &Plan) -> Vec<Check> {
    let policy = services.portal.policy();
    let mut accounts: Vec<Option<&str>> = plan.policy_accounts.values().map(|dn| Some(dn.as_str())).collect();
    if accounts.is_empty() {
        accounts.push(None);
    }
    let mut checks = Vec::new();
    for dn in accounts {
        let rules = match services.directory.password_rules(dn).await {
            Ok(rules) => rules,
            Err(e) => {
                checks.push(directory_failure("effective policy", &e));
                continue;
            }
        };
        let under = match (&rules, dn) {
            (Some(r), _) => format!("under {}", r.source),
            // Not readable: `directory policy` above says so and how to fix it.
            (None, Some(dn)) => {
                format!("for accounts such as {dn}, [policy] alone (the directory's own rules are unknown)")
            }
            (None, None) => "[policy] alone (the directory's own rules are unknown)".to_owned(),
        };
        let say = |r: &_| crate::portal::wording::requirement(crate::portal::lang::FALLBACK, r);
        let lines = policy.effective(rules.as_ref()).report(say);
        checks.push(Check::ok(
            "effective policy",
            format!("{under}:\n      {}", lines.join("\n      ")),
        ));
    }
    checks
}

fn from_warning(check: &'static str, w: Warning) -> Check {
    match w.impact {
        Impact::Blocking => Check::fail(
            check,
            w.message,
            "change the directory as the message says: until then a campaign cannot do its work",
        ),
        Impact::Advisory => Check::warn(check, w.message, "as the message says; campaigns work meanwhile"),
    }
}

/// A directory error as a failed check, with its fix: the one place the preflight reads a
/// [`DirectoryError`] (a limit the server stopped the scope's search at gets its fix here).
fn directory_failure(check: &'static str, e: &DirectoryError) -> Check {
    let fix = match e {
        DirectoryError::TlsSettings(_) => "make directory.ca_file a readable PEM file holding the directory's CA",
        DirectoryError::Connect { .. } => "start the directory server, or correct directory.url",
        DirectoryError::Tls { .. } => {
            "give directory.ca_file the CA that signed the server's certificate, and use a host name the certificate names in directory.url"
        }
        DirectoryError::Bind { .. } => "correct directory.bind_dn, or the password in directory.bind_password_file",
        DirectoryError::Timeout { .. } => "check the network path to the directory, or raise directory.timeout",
        DirectoryError::ConnectionLost { .. } => "read the directory server's log, then run check-config again",
        DirectoryError::Operation { rc: 3 | 4 | 11, .. } => {
            "raise the directory's size and time limits for the service account above the whole scope (README: What the service account needs); a campaign reads the scope whole"
        }
        DirectoryError::Operation { rc: 32, .. } => "correct directory.base_dn: the entry does not exist",
        DirectoryError::Operation { rc: 50, .. } => {
            "give the service account read access to the scope and to the password policy entries"
        }
        DirectoryError::Operation { .. } => "correct what the directory's answer names, then run check-config again",
        DirectoryError::Ledger { .. } => "check that the store ([store]) answers and accepts writes",
        DirectoryError::LedgerFile { .. } => {
            "make directory.dont_expire_ledger (an earlier version's file, imported once) readable and its folder writable by the service user"
        }
        // The flavour's own words: the setting and the service account to lift the limit for.
        DirectoryError::Limit { fix, .. } => return Check::fail(check, e.without_fix(), fix.as_str()),
    };
    Check::fail(check, e.to_string(), fix)
}

/// The mail server answers (a session opened and closed, nothing sent), or the spool folder
/// takes files.
pub(super) async fn mail(services: &Services) -> Check {
    let check = match services.config.mail.transport {
        TransportSettings::Smtp(_) => "mail server",
        TransportSettings::File { .. } => "mail spool",
    };
    let e = match services.mail.current_mailer().probe().await {
        Ok(message) => return Check::ok(check, message),
        Err(e) => e,
    };
    let fix = match &e {
        ProbeError::Unreachable(_) => "start the mail server, or correct mail.smtp_url (host and port)",
        ProbeError::Tls(_) => {
            "give mail.ca_file the CA that signed the mail server's certificate; with smtp://, the server must offer STARTTLS"
        }
        ProbeError::Auth(_) => {
            "correct mail.username, or the password in mail.password_file (or the smtp-password credential)"
        }
        ProbeError::Refused(_) => "ask the mail server's administrator to accept sessions from this host",
        ProbeError::Spool(_) => "create mail.spool_dir writable by the service user, or point it at a folder that is",
    };
    Check::fail(check, e.to_string(), fix)
}
