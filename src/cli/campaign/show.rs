//! `pwresetd campaign plan|status|list`: what a campaign would cover, and where campaigns stand.

use std::process::ExitCode;

use super::super::output::{self, json};
use super::super::{Failure, directory, open_store};
use super::read_status;
use crate::daemon::config::Config;
use crate::engine::Status;
use crate::engine::plan::{self, Plan};

pub(super) async fn plan_cmd(config: &Config, as_json: bool) -> Result<ExitCode, Failure> {
    let dir = directory(config, None)?;
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

pub(super) fn print_plan(config: &Config, plan: &Plan) {
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

pub(super) fn print_status(s: &Status) {
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
    if s.enforcement.at_deadline.acts() || s.locked > 0 {
        println!(
            "  locked     {:>8}  (at deadline + {}s: {})",
            s.locked,
            s.enforcement.grace.as_secs(),
            s.enforcement.at_deadline.as_str()
        );
    }
    for (reason, n) in &s.excluded_by_reason {
        println!("    {n:>8}  {reason}");
    }
    if let Some(lease) = s.lease.as_ref().filter(|l| l.current) {
        println!("  worked by  {}", lease.holder);
    }
}

pub(super) async fn status(config: &Config, name: &str, as_json: bool) -> Result<ExitCode, Failure> {
    let store = open_store(config).await?;
    let status = read_status(&store, name).await?;
    if as_json {
        json(&status)?
    } else {
        print_status(&status)
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn list(config: &Config, as_json: bool) -> Result<ExitCode, Failure> {
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
