//! `pwresetd campaign start`: record the campaign, then mark its scope.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::anyhow;
use chrono::{DateTime, Utc};

use super::super::output::{self, progress_bar};
use super::super::{EX_USAGE, Failure, actor, directory, open_store};
use super::deadline::{enforcement, lock_preflight};
use super::show::print_status;
use super::{StartArgs, Take, audit, confirm, lease, read_status, settings};
use crate::campaign::deadline::Enforcement;
use crate::campaign::state::CampaignState;
use crate::daemon::config::Config;
use crate::directory::Directory;
use crate::engine::plan;
use crate::engine::runner;
use crate::store::{Campaign, CampaignSpec, Opened, Scope, Store};

pub(super) fn parse_deadline(s: &str) -> Result<DateTime<Utc>, Failure> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            Failure::new(
                EX_USAGE,
                anyhow!("--deadline {s:?} is not an RFC 3339 time ({e}); write e.g. 2026-12-04T17:00:00Z"),
            )
        })
}

pub(super) fn scope(config: &Config) -> Scope {
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
pub(super) fn spec(args: &StartArgs, config: &Config, existing: Option<&Campaign>) -> Result<CampaignSpec, Failure> {
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

pub(super) async fn start(config: &Config, args: StartArgs) -> Result<ExitCode, Failure> {
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
    let enforcement = start_enforcement(&args, existing.as_ref())?;
    let dir = directory(config, Some(&store))?;
    let warnings = dir.check().await.map_err(anyhow::Error::new)?;
    for w in &warnings {
        eprintln!("WARNING: {}", w.message);
    }
    if existing.is_none() {
        lock_preflight(&dir, enforcement.at_deadline).await?;
    }
    if !args.yes {
        confirm(&question(config, &dir, existing.as_ref()).await?)?;
    }
    let actor = actor();
    let (campaign, opened) = {
        let (spec, actor) = (spec.clone(), actor.clone());
        store
            .run(move |s| s.create_or_resume_with(&spec, enforcement, &actor))
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
        Some(format!(
            "reason: {}; at deadline + {}s: {}",
            campaign.reason,
            campaign.enforcement.grace.as_secs(),
            campaign.enforcement.at_deadline.as_str()
        )),
    )
    .await?;
    // The campaign writes below are fenced: refused should the lease pass on meanwhile.
    let (_held, store) = lease(&store, &campaign, config, Take::Now).await?;
    let bar = progress_bar("marking");
    let progress: Arc<dyn runner::Progress> = bar.clone();
    let result = runner::mark(dir, &store, &campaign, &settings(config), &progress).await;
    bar.finish();
    let summary = result.map_err(anyhow::Error::new)?;
    activate_when_marked(&store, &campaign).await?;
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

/// The enforcement a new campaign records; a resumed one keeps its own (changing it is
/// `campaign set`, audited as such).
fn start_enforcement(args: &StartArgs, existing: Option<&Campaign>) -> Result<Enforcement, Failure> {
    let Some(c) = existing else {
        return enforcement(&args.enforcement, Enforcement::default());
    };
    let asked = enforcement(&args.enforcement, c.enforcement)?;
    if asked != c.enforcement {
        return Err(Failure::new(
            EX_USAGE,
            anyhow!(
                "campaign {} already exists with --at-deadline {} --grace {}s; change it with `pwresetd campaign set {} --at-deadline …`",
                c.name,
                c.enforcement.at_deadline.as_str(),
                c.enforcement.grace.as_secs(),
                c.name
            ),
        ));
    }
    Ok(asked)
}

pub(super) async fn print_failures(store: &Store, id: i64) -> Result<(), Failure> {
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

/// What `campaign start` asks before writing anything.
async fn question(config: &Config, dir: &Arc<dyn Directory>, existing: Option<&Campaign>) -> Result<String, Failure> {
    Ok(match existing {
        Some(c) => format!("Resume campaign {} (marking the accounts not marked yet)?", c.name),
        None => {
            let plan = plan::plan(dir.clone()).await.map_err(anyhow::Error::new)?;
            format!(
                "Mark {} accounts under {} as must-change ({} already flagged, {} excluded)?",
                plan.in_scope, config.directory.base_dn, plan.already_flagged, plan.excluded
            )
        }
    })
}

/// Marking is over when nothing is pending or failed and the scan finished: the campaign is
/// active from then on.
async fn activate_when_marked(store: &Store, campaign: &Campaign) -> Result<(), Failure> {
    let status = read_status(store, &campaign.name).await?;
    if status.pending == 0 && status.failed == 0 && status.scan_complete && status.state == CampaignState::Marking {
        let id = campaign.id;
        store
            .run(move |s| s.set_campaign_state(id, CampaignState::Active))
            .await
            .map_err(anyhow::Error::new)?;
    }
    Ok(())
}
