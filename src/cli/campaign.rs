//! `pwresetd campaign plan|start|status|list|revert`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;

use super::output::{self, json, progress_bar};
use super::{EX_TEMPFAIL, EX_USAGE, Failure, actor, directory, load_config, open_store};
use crate::campaign::state::CampaignState;
use crate::daemon::config::Config;
use crate::engine::Status;
use crate::engine::lease::LeaseGuard;
use crate::engine::plan::{self, Plan};
use crate::engine::runner::{self, Settings};
use crate::store::{AuditEntry, Campaign, CampaignSpec, Opened, Scope, Store};

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
    }
}

fn settings(config: &Config) -> Settings {
    Settings {
        concurrency: config.directory.max_concurrency,
        ops_per_second: config.directory.max_ops_per_second,
        batch: 256,
        stop: None,
    }
}

async fn plan_cmd(config: &Config, as_json: bool) -> Result<ExitCode, Failure> {
    let dir = directory(config)?;
    let plan = plan::plan(dir)
        .await
        .map_err(|e| Failure::from(anyhow::Error::new(e)))?;
    if as_json {
        json(&plan)?;
    } else {
        print_plan(config, &plan);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_plan(config: &Config, plan: &Plan) {
    println!("Scope: {} {}", config.directory.base_dn, config.directory.user_filter);
    println!("  in scope          {:>8}", plan.in_scope);
    println!(
        "    already flagged {:>8}  (they stay in the campaign and count as marked)",
        plan.already_flagged
    );
    println!(
        "    without mail    {:>8}  (cannot be notified by email)",
        plan.without_mail
    );
    println!("  excluded          {:>8}", plan.excluded);
    for (reason, n) in &plan.excluded_by_reason {
        let why = crate::directory::ExclusionReason::parse(reason).map_or(reason.as_str(), |r| r.describe());
        println!("    {n:>8}  {why}");
    }
    if !plan.sample.is_empty() {
        println!("Sample:");
        for a in &plan.sample {
            println!(
                "  {:<20} {}{}",
                a.login,
                a.dn,
                if a.flagged { "  (already flagged)" } else { "" }
            );
        }
    }
    for w in &plan.warnings {
        println!("WARNING: {}", w.message);
    }
    println!("Nothing was written (dry run).");
}

fn parse_deadline(s: &str) -> Result<DateTime<Utc>, Failure> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            Failure::new(
                EX_USAGE,
                anyhow!("--deadline {s:?} is not an RFC 3339 time ({e}); write e.g. 2026-12-04T17:00:00Z"),
            )
        })
}

fn scope(config: &Config) -> Scope {
    let d = &config.directory;
    Scope {
        flavor: format!("{:?}", d.flavor).to_lowercase(),
        base_dn: d.base_dn.clone(),
        user_filter: d.user_filter.clone(),
        exclude_filter: d.exclude_filter.clone(),
        login_attribute: d.login_attribute.clone(),
    }
}

/// Builds the campaign spec: the arguments given, or those stored for an existing campaign.
fn spec(args: &StartArgs, config: &Config, existing: Option<&Campaign>) -> Result<CampaignSpec, Failure> {
    let reason = match (&args.reason, existing) {
        (Some(r), _) if r.trim().is_empty() => {
            return Err(Failure::new(EX_USAGE, anyhow!("--reason must not be empty")));
        }
        (Some(r), _) => r.trim().to_owned(),
        (None, Some(c)) => c.reason.clone(),
        (None, None) => {
            return Err(Failure::new(
                EX_USAGE,
                anyhow!("--reason is required to start a new campaign"),
            ));
        }
    };
    let deadline = match (&args.deadline, existing) {
        (Some(d), _) => parse_deadline(d)?,
        (None, Some(c)) => c.deadline,
        (None, None) => {
            return Err(Failure::new(
                EX_USAGE,
                anyhow!("--deadline is required to start a new campaign"),
            ));
        }
    };
    if existing.is_none() && deadline <= Utc::now() {
        return Err(Failure::new(
            EX_USAGE,
            anyhow!("--deadline {} is in the past", output::time(Some(deadline))),
        ));
    }
    let name = args.name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return Err(Failure::new(
            EX_USAGE,
            anyhow!("--name must be 1 to 100 printable characters"),
        ));
    }
    Ok(CampaignSpec {
        name: name.to_owned(),
        reason,
        deadline,
        scope: scope(config),
    })
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

async fn start(config: &Config, args: StartArgs) -> Result<ExitCode, Failure> {
    let store = open_store(config).await?;
    let name = args.name.clone();
    let existing = store
        .run(move |s| s.campaign(&name))
        .await
        .map_err(anyhow::Error::new)?;
    let spec = spec(&args, config, existing.as_ref())?;
    if let Some(c) = &existing {
        c.state
            .can_mark()
            .map_err(|r| Failure::new(EX_USAGE, anyhow!("campaign {}: {}", c.name, r.0)))?;
    }
    let dir = directory(config)?;
    let warnings = dir.check().await.map_err(anyhow::Error::new)?;
    for w in &warnings {
        eprintln!("WARNING: {}", w.message);
    }
    if !args.yes {
        let question = match &existing {
            Some(c) => format!("Resume campaign {} (marking the accounts not marked yet)?", c.name),
            None => {
                let plan = plan::plan(dir.clone()).await.map_err(anyhow::Error::new)?;
                format!(
                    "Mark {} accounts under {} as must-change ({} already flagged, {} excluded)?",
                    plan.in_scope, config.directory.base_dn, plan.already_flagged, plan.excluded
                )
            }
        };
        confirm(&question)?;
    }
    let actor = actor();
    let (campaign, opened) = {
        let (spec, actor) = (spec.clone(), actor.clone());
        store
            .run(move |s| s.create_or_resume(&spec, &actor))
            .await
            .map_err(anyhow::Error::new)?
    };
    let action = match opened {
        Opened::Created => "campaign.start",
        Opened::Resumed => "campaign.resume",
    };
    audit(
        &store,
        &actor,
        action,
        &campaign.name,
        Some(format!("reason: {}", campaign.reason)),
    )
    .await?;
    let _lease = lease(&store, &campaign).await?;
    let bar = progress_bar("marking");
    let progress: Arc<dyn runner::Progress> = bar.clone();
    let result = runner::mark(dir, &store, &campaign, &settings(config), &progress).await;
    bar.finish();
    let summary = result.map_err(anyhow::Error::new)?;
    let status = read_status(&store, &campaign.name).await?;
    if status.pending == 0 && status.failed == 0 && status.scan_complete && status.state == CampaignState::Marking {
        let id = campaign.id;
        store
            .run(move |s| s.set_campaign_state(id, CampaignState::Active))
            .await
            .map_err(anyhow::Error::new)?;
    }
    println!(
        "{} campaign {}: {} accounts marked in this run, {} failed.",
        if opened == Opened::Created {
            "Started"
        } else {
            "Resumed"
        },
        campaign.name,
        summary.done,
        summary.failed
    );
    let status = read_status(&store, &campaign.name).await?;
    print_status(&status);
    if status.failed > 0 {
        print_failures(&store, campaign.id).await?;
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Takes the campaign's lease for this command, or explains who holds it (exit 75).
async fn lease(store: &Store, campaign: &Campaign) -> Result<LeaseGuard, Failure> {
    let holder = crate::store::holder_name("cli");
    match LeaseGuard::acquire(store, campaign.id, &holder)
        .await
        .map_err(anyhow::Error::new)?
    {
        Ok(guard) => Ok(guard),
        Err(other) => Err(Failure::new(
            EX_TEMPFAIL,
            anyhow!(
                "campaign {} is being worked on by {other}; try again when it is done (leases expire after a minute)",
                campaign.name
            ),
        )),
    }
}

async fn print_failures(store: &Store, id: i64) -> Result<(), Failure> {
    use crate::campaign::state::AccountState;
    let failed = store
        .run(move |s| s.accounts_in_state(id, AccountState::Failed, 1000))
        .await
        .map_err(anyhow::Error::new)?;
    eprintln!("Accounts that could not be marked (run the same command again to retry):");
    for a in failed {
        eprintln!("  {}: {}", a.dn, a.last_error.unwrap_or_default());
    }
    Ok(())
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

fn print_status(s: &Status) {
    println!("Campaign {} ({})", s.name, s.state.as_str());
    println!("  reason     {}", s.reason);
    println!("  deadline   {}", output::time(Some(s.deadline)));
    println!("  started    {} by {}", output::time(Some(s.created_at)), s.created_by);
    println!(
        "  in scope   {:>8}{}",
        s.in_scope,
        if s.scan_complete { "" } else { "  (scan not finished)" }
    );
    for (label, n) in [
        ("pending", s.pending),
        ("marked", s.marked),
        ("failed", s.failed),
        ("completed", s.completed),
        ("exempted", s.exempted),
        ("reverted", s.reverted),
        ("excluded", s.excluded),
    ] {
        println!("  {label:<10} {n:>8}");
    }
    for (reason, n) in &s.excluded_by_reason {
        println!("    {n:>8}  {reason}");
    }
}

async fn status(config: &Config, name: &str, as_json: bool) -> Result<ExitCode, Failure> {
    let store = open_store(config).await?;
    let status = read_status(&store, name).await?;
    if as_json {
        json(&status)?
    } else {
        print_status(&status)
    }
    Ok(ExitCode::SUCCESS)
}

async fn list(config: &Config, as_json: bool) -> Result<ExitCode, Failure> {
    let store = open_store(config).await?;
    let statuses = store
        .run(|s| {
            s.campaigns()?
                .iter()
                .map(|c| Status::read(s, c))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(anyhow::Error::new)?;
    if as_json {
        json(&statuses)?;
    } else if statuses.is_empty() {
        println!("No campaigns.");
    } else {
        for s in &statuses {
            println!(
                "{:<30} {:<10} deadline {}  in scope {}, completed {}",
                s.name,
                s.state.as_str(),
                output::time(Some(s.deadline)),
                s.in_scope,
                s.completed
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn revert(config: &Config, name: &str, yes: bool) -> Result<ExitCode, Failure> {
    let store = open_store(config).await?;
    let campaign = find(&store, name).await?;
    if !yes {
        confirm(&format!(
            "Revert campaign {name}: clear the flag on the accounts it marked?"
        ))?;
    }
    let dir = directory(config)?;
    dir.check().await.map_err(anyhow::Error::new)?;
    let id = campaign.id;
    store
        .run(move |s| s.set_campaign_state(id, CampaignState::Reverting))
        .await
        .map_err(anyhow::Error::new)?;
    audit(&store, &actor(), "campaign.revert", name, None).await?;
    let _lease = lease(&store, &campaign).await?;
    let bar = progress_bar("reverting");
    let progress: Arc<dyn runner::Progress> = bar.clone();
    let result = runner::revert(dir, &store, &campaign, &settings(config), &progress).await;
    bar.finish();
    let summary = result.map_err(anyhow::Error::new)?;
    let status = read_status(&store, name).await?;
    let remaining = status.pending + status.marked + status.failed;
    if remaining == 0 {
        store
            .run(move |s| s.set_campaign_state(id, CampaignState::Reverted))
            .await
            .map_err(anyhow::Error::new)?;
    }
    println!(
        "Reverted {} accounts in this run; {} could not be reverted.",
        summary.done, summary.failed
    );
    print_status(&read_status(&store, name).await?);
    Ok(if remaining == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn notify(config: &Config, name: &str) -> Result<ExitCode, Failure> {
    use crate::notify::pass::{self, Mail, PassError};
    let store = open_store(config).await?;
    let campaign = find(&store, name).await?;
    if !matches!(campaign.state, CampaignState::Marking | CampaignState::Active) {
        return Err(Failure::new(
            1,
            anyhow!("campaign {name} is {}: nothing is sent", campaign.state.as_str()),
        ));
    }
    let templates = crate::notify::Templates::load(&config.mail).map_err(|e| Failure::new(EX_USAGE, e))?;
    let mailer = crate::notify::Mailer::new(&config.mail).map_err(|e| Failure::new(EX_USAGE, e))?;
    let mail = Mail {
        settings: std::sync::Arc::new(config.mail.clone()),
        templates: std::sync::Arc::new(templates),
        mailer: std::sync::Arc::new(mailer),
    };
    let _lease = lease(&store, &campaign).await?;
    // SIGTERM/SIGINT: start no new mail, let those in flight finish and be recorded.
    let stop = CancellationToken::new();
    let watcher = {
        use tokio::signal::unix::{SignalKind, signal};
        let stop = stop.clone();
        // Installed now, before the first mail, not when the task first runs.
        let signals = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()));
        tokio::spawn(async move {
            if let (Ok(mut term), Ok(mut int)) = signals {
                tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
                eprintln!("stopping: finishing the mails in flight");
                stop.cancel();
            }
        })
    };
    let reminders = &config.campaign.reminders;
    let result = pass::run(&mail, &store, &campaign, reminders, &config.portal.links(), Some(&stop)).await;
    watcher.abort();
    mail.mailer.shutdown().await;
    let summary = match result {
        Ok(s) => s,
        Err(PassError::Unusable(why)) => return Err(Failure::new(super::EX_UNAVAILABLE, anyhow!("{why}"))),
        Err(e) => return Err(Failure::from(anyhow::Error::new(e))),
    };
    println!(
        "Campaign {name}: {} sent, {} refused by the mail server, {} to retry, {} without a mail address ({}).",
        summary.sent,
        summary.failed,
        summary.retry,
        summary.no_address,
        mail.mailer.describe()
    );
    Ok(ExitCode::SUCCESS)
}
