//! `pwresetd campaign revert`: clear the flags the campaign set.

use std::process::ExitCode;
use std::sync::Arc;

use super::super::output::progress_bar;
use super::super::{Failure, actor, directory, open_store};
use super::show::print_status;
use super::{Take, audit, confirm, find, lease, read_status, settings};
use crate::campaign::state::CampaignState;
use crate::daemon::config::Config;
use crate::engine::runner;

pub(super) async fn revert(config: &Config, name: &str, yes: bool) -> Result<ExitCode, Failure> {
    let store = open_store(config).await?;
    let campaign = find(&store, name).await?;
    if !yes {
        confirm(&format!(
            "Revert campaign {name}: clear the flag on the accounts it marked?"
        ))?;
    }
    let dir = directory(config, Some(&store))?;
    dir.check().await.map_err(anyhow::Error::new)?;
    // The lease first (waiting for the service when it works the campaign): a command that
    // gives up has changed nothing, and the service never sees the campaign reverting
    // halfway through one of its passes.
    // The campaign writes below are fenced: refused should the lease pass on meanwhile.
    let (_held, store) = lease(&store, &campaign, config, Take::FromTheService).await?;
    let id = campaign.id;
    store
        .run(move |s| s.set_campaign_state(id, CampaignState::Reverting))
        .await
        .map_err(anyhow::Error::new)?;
    audit(&store, &actor(), "campaign.revert", name, None).await?;
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
