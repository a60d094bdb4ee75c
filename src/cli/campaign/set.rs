//! `pwresetd campaign set`: move a campaign's deadline, change what happens at it; audited, under
//! the campaign's lease (the service hands it over).
//!
//! Must not lock or mail anyone: the service's next pass reads the new settings (a later deadline
//! re-arms the reminders, `campaign::schedule`).

use std::process::ExitCode;

use anyhow::anyhow;
use chrono::{DateTime, Utc};

use super::super::output;
use super::super::{EX_USAGE, Failure, actor, directory, open_store};
use super::deadline::{enforcement, lock_preflight};
use super::start::parse_deadline;
use super::{EnforcementArgs, Take, find, lease};
use crate::daemon::config::Config;
use crate::store::{Campaign, DeadlineMove, Store};

pub(super) async fn set(
    config: &Config,
    name: &str,
    deadline: Option<&str>,
    args: &EnforcementArgs,
) -> Result<ExitCode, Failure> {
    let enforces = args.at_deadline.is_some() || args.grace.is_some();
    if deadline.is_none() && !enforces {
        return Err(Failure::new(
            EX_USAGE,
            anyhow!("give --deadline, --at-deadline and/or --grace"),
        ));
    }
    let deadline = deadline.map(|d| future_deadline(d, name)).transpose()?;
    let store = open_store(config).await?;
    let campaign = find(&store, name).await?;
    campaign
        .state
        .can_mark()
        .map_err(|r| Failure::new(EX_USAGE, anyhow!("campaign {name}: {}", r.0)))?;
    let wanted = enforcement(args, campaign.enforcement)?;
    if wanted.at_deadline.acts() && wanted.at_deadline != campaign.enforcement.at_deadline {
        lock_preflight(&directory(config, Some(&store))?, wanted.at_deadline).await?;
    }
    // Held while writing, so that a pass of the service never acts on a half-read change: the
    // service's next pass reads the new deadline and enforcement.
    // The campaign writes below are fenced: refused should the lease pass on meanwhile.
    let (_held, store) = lease(&store, &campaign, config, Take::FromTheService).await?;
    if let Some(deadline) = deadline {
        move_deadline(&store, &campaign, deadline).await?;
    }
    if enforces {
        let (id, who) = (campaign.id, actor());
        store
            .run(move |s| s.set_enforcement(id, wanted, &who, "campaign.set"))
            .await
            .map_err(anyhow::Error::new)?;
        println!(
            "Campaign {name}: at deadline + {}: {}.",
            humantime::format_duration(wanted.grace),
            wanted.at_deadline.as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `--deadline`, refused (with the fix) when it is not in the future.
fn future_deadline(arg: &str, name: &str) -> Result<DateTime<Utc>, Failure> {
    let deadline = parse_deadline(arg)?;
    if deadline <= Utc::now() {
        return Err(Failure::new(
            EX_USAGE,
            anyhow!(
                "--deadline {} is in the past; give a later time (to lock the accounts still marked now: `pwresetd campaign deadline {name} --now`)",
                output::time(Some(deadline))
            ),
        ));
    }
    Ok(deadline)
}

/// Moves the deadline; refused once the deadline's action has locked accounts (moving it then
/// would leave them locked against a deadline that has not come: they are unlocked one by one).
async fn move_deadline(store: &Store, campaign: &Campaign, deadline: DateTime<Utc>) -> Result<(), Failure> {
    let (id, who) = (campaign.id, actor());
    let moved = store
        .run(move |s| s.move_deadline(id, deadline, &who, "campaign.set"))
        .await
        .map_err(anyhow::Error::new)?;
    let name = &campaign.name;
    let (old, kept, absorbed) = match moved {
        DeadlineMove::Moved { old, kept, absorbed } => (old, kept, absorbed),
        DeadlineMove::Locked { accounts } => {
            return Err(Failure::new(
                EX_USAGE,
                anyhow!(
                    "campaign {name}: the deadline's action already locked {accounts} accounts, so the deadline no longer moves; nothing was changed. Unlock people one by one (`pwresetd helpdesk … unlock LOGIN`, README \"After the lock\") and give them more time with `helpdesk … extend`, or undo the whole campaign with `campaign revert`"
                ),
            ));
        }
        DeadlineMove::Missing => {
            return Err(Failure::new(1, anyhow!("campaign {name} is gone from the store")));
        }
    };
    println!(
        "Campaign {name}: deadline {} → {}.",
        output::time(Some(old)),
        output::time(Some(deadline))
    );
    if kept > 0 {
        println!("  {kept} accounts keep their own, later deadline (helpdesk extend).");
    }
    if absorbed > 0 {
        println!("  {absorbed} accounts' own deadlines were not later than it: the campaign's applies to them now.");
    }
    if deadline < old {
        eprintln!(
            "Note: the deadline is earlier; reminders whose time has already passed are not sent, and none is sent twice."
        );
        let e = campaign.enforcement;
        if e.at_deadline.acts() {
            let at = chrono::Duration::from_std(e.grace)
                .ok()
                .and_then(|g| deadline.checked_add_signed(g));
            eprintln!(
                "Note: the deadline's action ({}) now runs at {}; `pwresetd campaign deadline {name} --plan` shows whom it would lock.",
                e.at_deadline.as_str(),
                output::time(at)
            );
        }
    }
    Ok(())
}
