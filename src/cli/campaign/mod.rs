//! `pwresetd campaign plan|start|status|list|notify|revert|set|deadline`: the arguments, and what the
//! commands share (settings, confirmation, the lease, the audit line, finding a campaign).
//! Each command group is in its own file.

mod deadline;
mod notify;
mod revert;
mod set;
mod show;
mod start;

use deadline::deadline;
use notify::notify;
use revert::revert;
use set::set;
use show::{list, plan_cmd, status};
use start::start;

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use chrono::Utc;
use clap::{Args, Subcommand};

use super::{EX_TEMPFAIL, EX_USAGE, Failure, load_config};
use crate::daemon::config::Config;
use crate::engine::Status;
use crate::engine::lease::{LeaseGuard, Refused};
use crate::engine::runner::Settings;
use crate::store::{AuditEntry, Campaign, Store};

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Dry run: count and sample the accounts in scope; writes nothing anywhere.
    Plan {
        #[arg(long)]
        json: bool,
    },
    /// Record a campaign and mark every account in scope (resumes a campaign of the same name).
    Start(StartArgs),
    /// Counts per account state.
    Status {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Send the notices and reminders due now, then exit (the daemon does this on its own;
    /// this suits a timer or a one-off run).
    Notify { name: String },
    /// All campaigns in the store.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Clear the flag on accounts this campaign marked (not those flagged before it, nor those
    /// that completed). Resumable.
    Revert {
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Move the campaign's deadline, change what happens at it (audited).
    Set {
        name: String,
        /// The new deadline, RFC 3339 (e.g. 2026-12-11T17:00:00Z); in the future. Accounts whose
        /// own (extended) deadline is later keep it.
        #[arg(long)]
        deadline: Option<String>,
        #[command(flatten)]
        enforcement: EnforcementArgs,
    },
    /// The deadline's action: `--plan` lists who it would lock now and why (writes nothing;
    /// with `--now`, who `--now` would lock); `--now` applies it to every account still marked,
    /// before the deadline (e.g. evidence of active misuse).
    Deadline {
        name: String,
        #[arg(long)]
        plan: bool,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        now: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// What happens at the deadline (`campaign start`, `campaign set`).
#[derive(Debug, Args)]
pub struct EnforcementArgs {
    /// At deadline + grace: none (the default), lock or disable every account still marked.
    #[arg(long, value_parser = ["none", "lock", "disable"])]
    at_deadline: Option<String>,
    /// How long after the deadline the action waits (e.g. 2h; 0s applies it at the deadline).
    #[arg(long)]
    grace: Option<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    #[arg(long)]
    name: String,
    /// Why users must change their password (shown in notices). Required for a new campaign.
    #[arg(long)]
    reason: Option<String>,
    /// When every account must have changed, RFC 3339 (e.g. 2026-12-04T17:00:00Z).
    #[arg(long)]
    deadline: Option<String>,
    #[command(flatten)]
    enforcement: EnforcementArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
}

pub async fn run(path: &Path, cmd: CampaignCommand) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    match cmd {
        CampaignCommand::Plan { json } => plan_cmd(&config, json).await,
        CampaignCommand::Start(args) => start(&config, args).await,
        CampaignCommand::Status { name, json } => status(&config, &name, json).await,
        CampaignCommand::List { json } => list(&config, json).await,
        CampaignCommand::Notify { name } => notify(&config, &name).await,
        CampaignCommand::Revert { name, yes } => revert(&config, &name, yes).await,
        CampaignCommand::Set {
            name,
            deadline,
            enforcement,
        } => set(&config, &name, deadline.as_deref(), &enforcement).await,
        CampaignCommand::Deadline {
            name,
            plan,
            json,
            now,
            yes,
        } => deadline(&config, &name, plan, json, now, yes).await,
    }
}

fn settings(config: &Config) -> Settings {
    Settings {
        concurrency: config.directory.max_concurrency,
        ops_per_second: config.directory.max_ops_per_second,
        batch: 256,
        outage_wait: config.directory.outage_wait,
        stop: None,
    }
}

/// Asks on the terminal; refuses when stdin is not one.
fn confirm(question: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            EX_USAGE,
            anyhow!("refusing to write to the directory without --yes when not run from a terminal"),
        ));
    }
    print!("{question} Type yes to proceed: ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::new(EX_USAGE, e))?;
    if line.trim() == "yes" {
        Ok(())
    } else {
        Err(Failure::new(1, anyhow!("not confirmed; nothing was written")))
    }
}

/// How a command takes a campaign's lease.
#[derive(Clone, Copy)]
enum Take {
    /// Now or never: refused when anybody holds it (`campaign start`).
    Now,
    /// When the running service holds it, ask for it and wait up to `campaign.service_wait`,
    /// saying so on stderr.
    FromTheService,
}

/// Takes the campaign's lease for this command: the guard (keep it for as long as the command
/// works the campaign) and the store handle to work it through, whose campaign writes are
/// fenced (refused should the lease pass on meanwhile). Exit 75 naming the other process when
/// another command holds the lease (or already waits for it), or when the wait runs out.
async fn lease(
    store: &Store,
    campaign: &Campaign,
    config: &Config,
    take: Take,
) -> Result<(LeaseGuard, Store), Failure> {
    let holder = crate::store::holder_name("cli");
    let (name, ttl) = (&campaign.name, config.daemon.lease_ttl);
    let taken = match take {
        Take::Now => LeaseGuard::acquire(store, campaign.id, &holder, ttl)
            .await
            .map_err(anyhow::Error::new)?
            .map_err(|holder| Refused::Held { holder }),
        Take::FromTheService => {
            let wait = config.campaign.service_wait;
            let waiting = |service: &str| {
                eprintln!(
                    "campaign {name} is being worked on by the service ({service}); waiting up to {} for it to hand the campaign over (campaign.service_wait)",
                    humantime::format_duration(wait)
                );
            };
            LeaseGuard::wait_for(store, campaign.id, (&holder, ttl), wait, waiting)
                .await
                .map_err(anyhow::Error::new)?
        }
    };
    let guard = taken.map_err(|why| refused(name, why))?;
    let fenced = guard.store();
    Ok((guard, fenced))
}

fn refused(name: &str, why: Refused) -> Failure {
    let why = match why {
        Refused::Held { holder } => format!(
            "campaign {name} is being worked on by {holder}; try again when it is done (a lease left by a stopped process runs out after daemon.lease_ttl)"
        ),
        Refused::Waiting { waiter } => {
            format!("campaign {name} is already waited for by {waiter}; try again when it is done")
        }
        Refused::TimedOut { holder, waited } => format!(
            "the service ({holder}) did not hand campaign {name} over within {}; nothing was changed: run the same command again (or raise campaign.service_wait)",
            humantime::format_duration(Duration::from_secs(waited.as_secs()))
        ),
    };
    Failure::new(EX_TEMPFAIL, anyhow!("{why}"))
}

async fn audit(
    store: &Store,
    actor: &str,
    action: &str,
    campaign: &str,
    detail: Option<String>,
) -> Result<(), Failure> {
    let entry = AuditEntry {
        at: Utc::now(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        campaign: Some(campaign.to_owned()),
        account: None,
        detail,
    };
    store
        .run(move |s| s.audit(&entry))
        .await
        .map_err(|e| Failure::from(anyhow::Error::new(e)))
}

async fn find(store: &Store, name: &str) -> Result<Campaign, Failure> {
    let n = name.to_owned();
    store
        .run(move |s| s.campaign(&n))
        .await
        .map_err(anyhow::Error::new)?
        .ok_or_else(|| {
            Failure::new(
                1,
                anyhow!("no campaign named {name:?}; `pwresetd campaign list` shows them"),
            )
        })
}

async fn read_status(store: &Store, name: &str) -> Result<Status, Failure> {
    let campaign = find(store, name).await?;
    store
        .run(move |s| Status::read(s, &campaign))
        .await
        .map_err(|e| Failure::from(anyhow::Error::new(e)))
}
