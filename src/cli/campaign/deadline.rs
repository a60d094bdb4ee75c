//! `pwresetd campaign deadline` (who would be locked now; locking them now), with the checks that
//! make a lock safe to ask for (also for `campaign start` and `campaign set`): the flavour's
//! lock must take effect in the scope (exit 69 and the fix otherwise), and the guard on the
//! share of the scope one run may lock.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use chrono::Utc;

use super::super::output::{json, progress_bar};
use super::super::{EX_UNAVAILABLE, EX_USAGE, Failure, actor, directory, open_store};
use super::{EnforcementArgs, Take, confirm, find, lease, settings};
use crate::campaign::deadline::{AtDeadline, Enforcement, Guard};
use crate::daemon::config::Config;
use crate::directory::{Directory, Impact};
use crate::engine::deadline::{self, DeadlinePlan, Protected, Run, When};
use crate::engine::plan;
use crate::engine::runner;

/// The enforcement the arguments ask for, on top of `base` (the campaign's, or the default).
pub(super) fn enforcement(args: &EnforcementArgs, base: Enforcement) -> Result<Enforcement, Failure> {
    let at_deadline = match &args.at_deadline {
        Some(a) => AtDeadline::parse(a)
            .ok_or_else(|| Failure::new(EX_USAGE, anyhow!("--at-deadline {a:?}: write none, lock or disable")))?,
        None => base.at_deadline,
    };
    let grace = match &args.grace {
        Some(g) => humantime::parse_duration(g).map_err(|e| {
            Failure::new(
                EX_USAGE,
                anyhow!("--grace {g:?} is not a duration ({e}); write e.g. 2h or 0s"),
            )
        })?,
        None => base.grace,
    };
    Ok(Enforcement { at_deadline, grace })
}

/// Refuses (exit 69, with the fix) an action whose lock would not take effect in the scope.
pub(super) async fn lock_preflight(dir: &Arc<dyn Directory>, action: AtDeadline) -> Result<(), Failure> {
    if !action.acts() {
        return Ok(());
    }
    let plan = plan::plan(dir.clone()).await.map_err(anyhow::Error::new)?;
    let warnings = dir
        .lock_warnings(&plan.policies, action)
        .await
        .map_err(anyhow::Error::new)?;
    let blocking: Vec<String> = warnings
        .into_iter()
        .filter(|w| w.impact == Impact::Blocking)
        .map(|w| w.message)
        .collect();
    if blocking.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        EX_UNAVAILABLE,
        anyhow!(
            "--at-deadline {} would not take effect: {}",
            action.as_str(),
            blocking.join("; ")
        ),
    ))
}

/// Who is never locked, from the configuration.
pub(super) fn protected(config: &Config) -> Protected {
    Protected {
        service_dn: config.directory.bind_dn.clone(),
        operator_group: config.helpdesk.operator_group.clone(),
    }
}

fn guard(config: &Config) -> Guard {
    Guard {
        max_fraction: config.campaign.max_lock_fraction,
    }
}

pub(super) async fn deadline(
    config: &Config,
    name: &str,
    plan: bool,
    as_json: bool,
    now: bool,
    yes: bool,
) -> Result<ExitCode, Failure> {
    let store = open_store(config).await?;
    let campaign = find(&store, name).await?;
    let dir = directory(config, Some(&store))?;
    let when = if now { When::Now } else { When::Due(Utc::now()) };
    if plan || !now {
        let p = deadline::plan(dir.as_ref(), &store, &campaign, when, &protected(config), guard(config))
            .await
            .map_err(anyhow::Error::new)?;
        if as_json {
            json(&p)?;
        } else {
            print_plan(&p);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !campaign.enforcement.at_deadline.acts() {
        return Err(Failure::new(
            EX_USAGE,
            anyhow!(
                "campaign {name} does nothing at its deadline; `pwresetd campaign set {name} --at-deadline lock` first"
            ),
        ));
    }
    lock_preflight(&dir, campaign.enforcement.at_deadline).await?;
    if !yes {
        confirm(&format!(
            "{} every account of campaign {name} still marked, now?",
            capitalised(campaign.enforcement.at_deadline)
        ))?;
    }
    // The campaign writes below are fenced: refused should the lease pass on meanwhile.
    let (_held, store) = lease(&store, &campaign, config, Take::FromTheService).await?;
    let bar = progress_bar("locking");
    let progress: Arc<dyn runner::Progress> = bar.clone();
    let who = format!("{} (deadline --now)", actor());
    let (settings, protected) = (settings(config), protected(config));
    let run = Run {
        dir,
        store: &store,
        settings: &settings,
        protected: &protected,
        progress: &progress,
        actor: &who,
    };
    let result = deadline::apply(&run, &campaign, when, guard(config)).await;
    bar.finish();
    let summary = result.map_err(anyhow::Error::new)?;
    println!(
        "Campaign {name}: {} accounts {} now, {} left alone, {} failed.",
        summary.done,
        past(campaign.enforcement.at_deadline),
        summary.unchanged,
        summary.failed
    );
    Ok(if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn capitalised(action: AtDeadline) -> &'static str {
    match action {
        AtDeadline::Disable => "Disable",
        _ => "Lock",
    }
}

fn past(action: AtDeadline) -> &'static str {
    match action {
        AtDeadline::Disable => "disabled",
        _ => "locked",
    }
}

fn print_plan(p: &DeadlinePlan) {
    let grace = humantime::format_duration(Duration::from_secs(p.grace_secs));
    println!(
        "Campaign {} at deadline + {grace}: {}",
        p.campaign,
        p.at_deadline.as_str()
    );
    println!(
        "  would be {:<9} {:>8} of {} in scope",
        past(p.at_deadline),
        p.would_lock,
        p.in_scope
    );
    for c in p.accounts.iter().take(50) {
        let login = c.login.as_deref().unwrap_or("-");
        let mark = if c.will_lock { "lock" } else { "skip" };
        println!("  {mark}  {login:<20} {}  ({})", c.dn, c.reason);
    }
    if p.accounts.len() > 50 {
        println!("  … and {} more (--json lists them all)", p.accounts.len() - 50);
    }
    if let Some(why) = &p.refused {
        println!("REFUSED: {why}");
    }
    println!("Nothing was written (dry run).");
}
