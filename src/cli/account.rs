//! `pwresetd account LOGIN`: the directory's and the store's view of one account.

use std::path::Path;
use std::process::ExitCode;

use anyhow::anyhow;
use clap::Args;
use serde::Serialize;

use super::output::{self, json};
use super::{Failure, directory, load_config, open_store};
use crate::directory::AccountDetails;
use crate::helpdesk::payload::{AccountRow, rows};

#[derive(Debug, Args)]
pub struct AccountArgs {
    /// The account's login (value of directory.login_attribute).
    login: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct View<'a> {
    login: String,
    directory: Option<AccountDetails>,
    campaigns: Vec<AccountRow<'a>>,
}

pub async fn run(path: &Path, args: AccountArgs) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    let store = open_store(&config).await?;
    let dir = directory(&config, Some(&store))?;
    let details = dir.find_by_login(&args.login).await.map_err(anyhow::Error::new)?;
    let (login, dn) = (args.login.clone(), details.as_ref().map(|d| d.account.dn.clone()));
    let campaigns = store
        .run(move |s| s.accounts_for(&login, dn.as_deref()))
        .await
        .map_err(anyhow::Error::new)?;
    if details.is_none() && campaigns.is_empty() {
        return Err(Failure::new(
            1,
            anyhow!(
                "no account with {}={:?} under {} (nor in any campaign)",
                config.directory.login_attribute,
                args.login,
                config.directory.base_dn
            ),
        ));
    }
    let view = View {
        login: args.login,
        directory: details,
        campaigns: rows(&campaigns),
    };
    if args.json {
        json(&view)?
    } else {
        print(&view)
    }
    Ok(ExitCode::SUCCESS)
}

fn print(v: &View) {
    println!("Account {}", v.login);
    match &v.directory {
        None => println!("  directory          not found (deleted or moved out of scope)"),
        Some(d) => {
            let a = &d.account;
            println!("  DN                 {}", a.dn);
            println!("  display name       {}", a.display_name.as_deref().unwrap_or("-"));
            println!(
                "  mail               {}",
                if a.mail.is_empty() {
                    "-".into()
                } else {
                    a.mail.join(", ")
                }
            );
            println!("  must change flag   {}", if a.flagged { "SET" } else { "not set" });
            println!("  password changed   {}", output::time(d.password_changed_at));
            match d.locked_at {
                Some(t) => println!("  locked             yes, since {}", output::time(Some(t))),
                None => println!("  locked             no"),
            }
            println!("  failed binds       {}", d.failure_count);
            let policy = match (&a.policy, &d.effective_policy) {
                (Some(p), _) => p.clone(),
                (None, Some(p)) => format!("{p} (default)"),
                (None, None) => "directory default".into(),
            };
            println!("  password policy    {policy}");
        }
    }
    if v.campaigns.is_empty() {
        println!("  campaigns          none");
    }
    for c in &v.campaigns {
        println!("Campaign {}", c.campaign);
        println!("  state              {}", c.state.as_str());
        println!("  flagged before     {}", if c.prior_flagged { "yes" } else { "no" });
        println!("  marked             {}", output::time(c.marked_at));
        if let Some(r) = &c.excluded_reason {
            println!("  excluded because   {r}");
        }
        if let Some(e) = &c.last_error {
            println!("  last error         {e}");
        }
        if c.completed_at.is_some() {
            println!(
                "  completed          {} via {}",
                output::time(c.completed_at),
                c.completed_via.unwrap_or("-")
            );
        }
        println!("  updated            {}", output::time(Some(c.updated_at)));
    }
}
