//! `pwresetd campaign notify`: one pass over the notices and reminders due now, with a progress
//! bar on a terminal and a summary always. When the mail server is down, the pass stops, leaves
//! every unsent mail due and the command exits 69 naming the server, its last answer and how
//! many mails stay due.

use std::process::ExitCode;

use anyhow::anyhow;
use tokio_util::sync::CancellationToken;

use super::super::output::progress_bar;
use super::super::{EX_UNAVAILABLE, EX_USAGE, Failure, open_store};
use super::{Take, find, lease};
use crate::campaign::state::CampaignState;
use crate::daemon::config::Config;

pub(super) async fn notify(config: &Config, name: &str) -> Result<ExitCode, Failure> {
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
    // The campaign writes below are fenced: refused should the lease pass on meanwhile.
    let (_held, store) = lease(&store, &campaign, config, Take::FromTheService).await?;
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
    let bar = progress_bar("sending");
    let links = config.portal.links();
    let result = pass::run(&mail, &store, &campaign, reminders, &links, Some(&stop), &*bar).await;
    bar.finish();
    watcher.abort();
    mail.mailer.shutdown().await;
    let (summary, stopped) = match result {
        Ok(s) => (s, None),
        Err(PassError::Server { last, summary, due, .. }) => {
            let why = format!(
                "{last}; sending stopped, {due} mail(s) still due (none lost): run the same command \
                 again once the server takes mail"
            );
            (summary, Some(why))
        }
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
    match stopped {
        None => Ok(ExitCode::SUCCESS),
        Some(why) => Err(Failure::new(EX_UNAVAILABLE, anyhow!("{why}"))),
    }
}
