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

mod print;
use crate::helpdesk::tokens;
use crate::secret::Secret;
use print::{print_account, print_done, print_mail_check, print_search};

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
    /// Find accounts by any part (3 characters or more) of a login, display name or mail
    /// address, in the campaigns and the directory; one page at a time.
    Search {
        query: String,
        /// Skip this many accounts (the next page starts where the previous one said).
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Accounts per page (1 to 100).
        #[arg(long, default_value_t = 25)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Is this mail ours? Give the mail's Message-ID, its link or the reference code from its
    /// footer (as an argument, or on standard input with `-` or nothing, which keeps a link's
    /// token out of the process list). Exit 0: pwresetd sent it; 1: it did not.
    CheckMail {
        text: Option<String>,
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
        HelpdeskCommand::Search {
            query,
            offset,
            limit,
            json,
        } => {
            let q = percent_encoding::utf8_percent_encode(&query, percent_encoding::NON_ALPHANUMERIC);
            (
                send(client.get(&format!("/api/v1/accounts?query={q}&offset={offset}&limit={limit}")))?,
                json,
                print_search,
            )
        }
        HelpdeskCommand::CheckMail { text, json } => {
            let text = match text.filter(|t| t != "-") {
                Some(t) => t,
                None => std::io::read_to_string(std::io::stdin())
                    .map_err(|e| Failure::new(EX_USAGE, anyhow!("reading the mail's text from standard input: {e}")))?,
            };
            let body = json!({ "text": text.trim() });
            (
                send(client.post_json("/api/v1/mails/check", &body))?,
                json,
                print_mail_check,
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
    // A mail check's negative answer: "not ours".
    if body["ours"] == Value::Bool(false) {
        return Ok(ExitCode::from(1));
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
