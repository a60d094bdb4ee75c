//! `pwresetd helpdesk …`: the helpdesk API from an operator's workstation (no configuration
//! file needed), and `helpdesk token create` to make an API token.
//!
//! Exit codes: 0 done; 1 refused or not found (the server's message is printed); 64 usage or a
//! request the server could not read; 69 the helpdesk, the directory, the store or the mail
//! server is unavailable; 77 not allowed (401/403: bad token, not an operator); 70 other.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{EX_SOFTWARE, EX_UNAVAILABLE, EX_USAGE, Failure};
use crate::helpdesk::client::{Client, Reply, segment};
use crate::helpdesk::tokens;
use crate::secret::Secret;

/// An answer, whether `--json` was asked, and how to print it otherwise.
type Answer = (Reply, bool, fn(&Value));

/// sysexits EX_NOPERM.
pub const EX_NOPERM: u8 = 77;

#[derive(Debug, Args)]
pub struct HelpdeskArgs {
    /// The helpdesk's base URL: the admin listener (http://host:9187) or the proxy in front of it.
    #[arg(long, global = true, env = "PWRESETD_HELPDESK_URL")]
    url: Option<String>,
    /// A file holding the API token (NAME.SECRET) on its first line.
    #[arg(long, global = true, env = "PWRESETD_HELPDESK_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// CA certificates (PEM) to trust for an https URL, instead of the system's.
    #[arg(long, global = true)]
    ca_file: Option<PathBuf>,
    #[command(subcommand)]
    command: HelpdeskCommand,
}

#[derive(Debug, Args)]
pub struct Target {
    /// The account's login.
    login: String,
    /// The campaign (needed only when the account is in several open campaigns).
    #[arg(long)]
    campaign: Option<String>,
    /// Print the server's JSON answer.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum HelpdeskCommand {
    /// Show everything about one account (directory, campaigns, mails, history, audit).
    Account {
        login: String,
        #[arg(long)]
        json: bool,
    },
    /// Find accounts by login, display name or mail address.
    Search {
        query: String,
        #[arg(long)]
        json: bool,
    },
    /// Send the account a new one-time link now.
    Resend {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Take the account out of the campaign (clears its flag unless it was set before).
    Exempt {
        #[command(flatten)]
        target: Target,
        /// Why (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Give the account a later deadline (RFC 3339, e.g. 2027-01-15T17:00:00Z).
    Extend {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        deadline: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Put the account back in the campaign and set its flag.
    Mark {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Unlock an account the campaign's deadline locked (the lock state from before comes back)
    /// and mail it a new link; do it once you have checked who is asking.
    Unlock {
        #[command(flatten)]
        target: Target,
        /// Why, e.g. how the person was verified (recorded in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a new token: prints it once, and the line to add to helpdesk.api_tokens_file.
    Create {
        /// A name for the token's user (letters, digits, '-', '_'); audit records say token:NAME.
        #[arg(long)]
        name: String,
    },
}

pub async fn run(args: HelpdeskArgs) -> Result<ExitCode, Failure> {
    if let HelpdeskCommand::Token(TokenCommand::Create { name }) = &args.command {
        return create_token(name);
    }
    let client = client(&args)?;
    // The client blocks: run it off the async thread.
    tokio::task::spawn_blocking(move || remote(&client, args.command))
        .await
        .map_err(|e| Failure::new(EX_SOFTWARE, anyhow!("helpdesk client: {e}")))?
}

fn create_token(name: &str) -> Result<ExitCode, Failure> {
    let created = tokens::create(name).map_err(|e| match e {
        tokens::TokenError::Name(_) => Failure::new(EX_USAGE, e),
        other => Failure::new(EX_SOFTWARE, other),
    })?;
    println!("Token (shown only now; keep it in a file readable only by its user):");
    println!("  {}", created.token.expose());
    println!();
    println!("Add this line to the file named by helpdesk.api_tokens_file (the daemon notices within seconds):");
    println!("  {}", created.line);
    Ok(ExitCode::SUCCESS)
}

fn client(args: &HelpdeskArgs) -> Result<Client, Failure> {
    let url = args
        .url
        .as_deref()
        .ok_or_else(|| Failure::new(EX_USAGE, anyhow!("--url is required (or PWRESETD_HELPDESK_URL)")))?;
    let file = args.token_file.as_deref().ok_or_else(|| {
        Failure::new(
            EX_USAGE,
            anyhow!("--token-file is required (or PWRESETD_HELPDESK_TOKEN_FILE)"),
        )
    })?;
    let token = read_token(file)?;
    Client::new(url, token, args.ca_file.as_deref()).map_err(|e| Failure::new(EX_USAGE, e))
}

fn read_token(path: &Path) -> Result<Secret, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(EX_USAGE, anyhow!("--token-file {}: {e}", path.display())))?;
    let token = text.lines().next().unwrap_or_default().trim().to_owned();
    if token.is_empty() {
        return Err(Failure::new(
            EX_USAGE,
            anyhow!("--token-file {} is empty", path.display()),
        ));
    }
    Ok(Secret::new(token))
}

fn remote(client: &Client, command: HelpdeskCommand) -> Result<ExitCode, Failure> {
    let (reply, json_out, show): Answer = match command {
        HelpdeskCommand::Account { login, json } => (
            send(client.get(&format!("/api/v1/accounts/{}", segment(&login))))?,
            json,
            print_account,
        ),
        HelpdeskCommand::Search { query, json } => {
            let q = percent_encoding::utf8_percent_encode(&query, percent_encoding::NON_ALPHANUMERIC);
            (
                send(client.get(&format!("/api/v1/accounts?query={q}")))?,
                json,
                print_search,
            )
        }
        HelpdeskCommand::Resend { target, reason } => action(client, "resend", target, json!({ "reason": reason }))?,
        HelpdeskCommand::Exempt { target, reason } => action(client, "exempt", target, json!({ "reason": reason }))?,
        HelpdeskCommand::Extend {
            target,
            deadline,
            reason,
        } => action(
            client,
            "extend",
            target,
            json!({ "reason": reason, "deadline": deadline }),
        )?,
        HelpdeskCommand::Mark { target, reason } => action(client, "mark", target, json!({ "reason": reason }))?,
        HelpdeskCommand::Unlock { target, reason } => action(client, "unlock", target, json!({ "reason": reason }))?,
        HelpdeskCommand::Token(_) => return Err(Failure::new(EX_USAGE, anyhow!("token create runs locally"))),
    };
    let body = reply.json().unwrap_or(Value::Null);
    if reply.status != 200 {
        let code = body["code"].as_str().unwrap_or("error");
        let message = body["message"]
            .as_str()
            .map_or_else(|| String::from_utf8_lossy(&reply.body).into_owned(), str::to_owned);
        let exit = match reply.status {
            401 | 403 => EX_NOPERM,
            400 | 413 | 415 => EX_USAGE,
            404 | 409 => 1,
            429 | 502 | 503 => EX_UNAVAILABLE,
            _ => EX_SOFTWARE,
        };
        return Err(Failure::new(exit, anyhow!("{} {code}: {message}", reply.status)));
    }
    if json_out {
        super::output::json(&body)?;
    } else {
        show(&body);
    }
    Ok(ExitCode::SUCCESS)
}

fn send(r: Result<Reply, crate::helpdesk::client::ClientError>) -> Result<Reply, Failure> {
    r.map_err(|e| match e {
        crate::helpdesk::client::ClientError::Url(_) => Failure::new(EX_USAGE, e),
        other => Failure::new(EX_UNAVAILABLE, other),
    })
}

fn action(client: &Client, name: &str, target: Target, mut body: Value) -> Result<Answer, Failure> {
    if let (Some(c), Some(obj)) = (&target.campaign, body.as_object_mut()) {
        obj.insert("campaign".into(), Value::String(c.clone()));
    }
    if let Some(obj) = body.as_object_mut() {
        obj.retain(|_, v| !v.is_null());
    }
    let path = format!("/api/v1/accounts/{}/{name}", segment(&target.login));
    Ok((send(client.post_json(&path, &body))?, target.json, print_done))
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn print_done(v: &Value) {
    println!("{}", s(&v["message"]));
    println!(
        "  {} in {}: {}, deadline {}",
        s(&v["login"]),
        s(&v["campaign"]),
        s(&v["state"]),
        s(&v["deadline"])
    );
}

fn print_search(v: &Value) {
    let results = v["results"].as_array().cloned().unwrap_or_default();
    if results.is_empty() {
        println!("No account matches {}.", s(&v["query"]));
    }
    for r in results {
        let campaigns: Vec<String> = r["campaigns"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| format!("{}:{}", s(&c["campaign"]), s(&c["state"])))
                    .collect()
            })
            .unwrap_or_default();
        println!(
            "{:<20} {:<28} {:<32} {}",
            s(&r["login"]),
            s(&r["display_name"]),
            r["mail"]
                .as_array()
                .map(|m| m.iter().map(s).collect::<Vec<_>>().join(","))
                .unwrap_or_default(),
            campaigns.join(" ")
        );
    }
    if v["truncated"] == Value::Bool(true) {
        println!("(more match: be more precise)");
    }
}

fn print_account(v: &Value) {
    println!("Account {}", s(&v["login"]));
    if let Some(e) = v["directory_error"].as_str() {
        println!("  directory          unavailable: {e}");
    }
    let d = &v["directory"];
    if d.is_null() {
        println!("  directory          not found");
    } else {
        println!("  DN                 {}", s(&d["dn"]));
        println!("  display name       {}", s(&d["display_name"]));
        let mail: Vec<String> = d["mail"]
            .as_array()
            .map(|m| m.iter().map(s).collect())
            .unwrap_or_default();
        println!(
            "  mail               {}",
            if mail.is_empty() { "-".into() } else { mail.join(", ") }
        );
        println!(
            "  must change flag   {}",
            if d["flagged"] == Value::Bool(true) {
                "SET"
            } else {
                "not set"
            }
        );
        println!("  password changed   {}", s(&d["password_changed_at"]));
        println!(
            "  locked             {}",
            if d["locked"] == Value::Bool(true) {
                s(&d["locked_at"])
            } else {
                "no".into()
            }
        );
        println!("  failed binds       {}", s(&d["failure_count"]));
    }
    for c in v["campaigns"].as_array().cloned().unwrap_or_default() {
        println!("Campaign {} ({})", s(&c["campaign"]), s(&c["campaign_state"]));
        println!("  state              {}", s(&c["state"]));
        println!(
            "  deadline           {}{}",
            s(&c["deadline"]),
            if c["deadline_extended"] == Value::Bool(true) {
                " (extended)"
            } else {
                ""
            }
        );
        println!("  live link expires  {}", s(&c["live_link_expires_at"]));
        if !c["last_error"].is_null() {
            println!("  last error         {}", s(&c["last_error"]));
        }
        if c["lock"].is_object() {
            println!("  at the deadline    {}", lock_line(&c["lock"]));
        }
        let actions: Vec<String> = c["actions"]
            .as_array()
            .map(|a| a.iter().map(s).collect())
            .unwrap_or_default();
        println!(
            "  actions            {}",
            if actions.is_empty() {
                "none".into()
            } else {
                actions.join(", ")
            }
        );
        for h in c["history"].as_array().cloned().unwrap_or_default() {
            println!(
                "  {}  {}  {}",
                s(&h["at"]),
                s(&h["what"]),
                h["detail"].as_str().unwrap_or("")
            );
        }
    }
}

/// The deadline's lock in words: its state, what set it, who undid it.
fn lock_line(lock: &Value) -> String {
    let what = if lock["set_by"] == "prior_lock" {
        "locked before the deadline, left as it was".to_owned()
    } else {
        format!(
            "{} by the campaign's deadline {}",
            s(&lock["action"]),
            s(&lock["locked_at"])
        )
    };
    match lock["state"].as_str() {
        Some("unlocked") => format!(
            "unlocked {} by {} ({what})",
            s(&lock["unlocked_at"]),
            s(&lock["unlocked_by"])
        ),
        state => format!("{} ({what})", state.unwrap_or("-").to_uppercase()),
    }
}
