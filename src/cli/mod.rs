//! The command line: parsing, logging set-up, exit codes. Commands live in sibling files.
//!
//! Exit codes follow sysexits: 0 success, 1 the command's answer is negative (unknown login,
//! accounts that could not be marked), 64 invalid configuration or usage, 69 directory
//! unavailable (unreachable, TLS, bind refused) or the scope not readable whole (a server limit
//! stopped the search), 73 store cannot be opened, 75 the campaign is being worked on by another
//! process (lease), 70 anything else.

mod account;
mod audit;
mod campaign;
mod check;
mod daemon;
mod helpdesk;
mod mail;
mod output;
pub mod policy;
mod store;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::ConfigError;
use crate::daemon::config::{self, Config};
use crate::daemon::services::BuildError;
use crate::directory::{self, Directory, DirectoryError};
use crate::store::{Store, StoreError, off_runtime};

/// `pwresetd --version`: the release and the commit it was built from (build.rs; "unknown"
/// outside a git checkout).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("PWRESETD_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "pwresetd",
    version = VERSION,
    about = "Organisation-wide forced password change campaigns"
)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "PWRESETD_CONFIG", default_value = config::DEFAULT_PATH)]
    config: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum MailCommand {
    /// Render one template with sample values and send it.
    Test(mail::MailTestArgs),
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Preflight: check the configuration, the files `serve` loads, the directory (bind, the
    /// whole scope, policies) and the mail server; one line per check, or `--json`.
    CheckConfig(check::CheckArgs),
    /// Run the service: campaign worker, mails, portal, metrics (under systemd: Type=notify).
    Serve,
    /// Plan, start, inspect and revert campaigns.
    #[command(subcommand)]
    Campaign(campaign::CampaignCommand),
    /// Show what the directory and the store say about one account.
    Account(account::AccountArgs),
    /// Send a sample mail to check the mail settings and the templates.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Check a candidate password against the policy (read from stdin), or show the rules.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// The helpdesk API from an operator's workstation; `helpdesk token create` for API tokens.
    Helpdesk(helpdesk::HelpdeskArgs),
    /// Export the hash-chained audit trail, or verify a chain (an export, or the store).
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Build the breached-password index from a Have I Been Pwned SHA-1 file.
    #[command(subcommand, name = "breach-index")]
    BreachIndex(policy::BreachIndexCommand),
    /// Move a SQLite store into PostgreSQL (`store migrate`).
    #[command(subcommand)]
    Store(store::StoreCommand),
}

/// A failure with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code,
            error: error.into(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure {
            code: exit_code(&error),
            error,
        }
    }
}

pub const EX_USAGE: u8 = 64;
pub const EX_UNAVAILABLE: u8 = 69;
pub const EX_SOFTWARE: u8 = 70;
pub const EX_CANTCREAT: u8 = 73;
pub const EX_TEMPFAIL: u8 = 75;

/// The exit code for an error, from the first domain error in its chain.
fn exit_code(error: &anyhow::Error) -> u8 {
    use crate::engine::runner::RunError;
    for cause in error.chain() {
        if cause.downcast_ref::<ConfigError>().is_some() {
            return EX_USAGE;
        }
        if let Some(e) = cause.downcast_ref::<BuildError>() {
            return match e {
                BuildError::Store(e) => store_code(e),
                BuildError::Directory(e) => directory_code(e),
                _ => EX_USAGE,
            };
        }
        if let Some(e) = cause.downcast_ref::<DirectoryError>() {
            return directory_code(e);
        }
        if let Some(e) = cause.downcast_ref::<RunError>() {
            return match e {
                RunError::Unavailable(_) | RunError::Scan(_) => EX_UNAVAILABLE,
                RunError::Store(_) => EX_SOFTWARE,
                RunError::TooMany(_) | RunError::Account(_) => 1,
            };
        }
        if let Some(e) = cause.downcast_ref::<StoreError>() {
            return store_code(e);
        }
    }
    EX_SOFTWARE
}

fn directory_code(e: &DirectoryError) -> u8 {
    match e {
        DirectoryError::TlsSettings(_) => EX_USAGE,
        // Not a refusal about one account: nothing can be done until the limit is raised.
        DirectoryError::Limit { .. } => EX_UNAVAILABLE,
        e if e.is_unavailable() => EX_UNAVAILABLE,
        _ => 1,
    }
}

fn store_code(e: &StoreError) -> u8 {
    match e {
        StoreError::Open { .. } | StoreError::TooNew { .. } => EX_CANTCREAT,
        StoreError::CampaignMismatch { .. } => EX_USAGE,
        _ => EX_SOFTWARE,
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    forbid_core_dumps();
    let cli = Cli::parse();
    let log = init_logging(cli.log_format);
    // The CLI commands run on one thread (less contention with a local directory server);
    // the daemon on all cores.
    let runtime = match cli.command {
        Command::Serve => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EX_SOFTWARE);
        }
    };
    match runtime.block_on(run(cli, log)) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(failure.code)
        }
    }
}

/// Marks the process non-dumpable before any secret is read: no core file, and other non-root
/// processes of the same user cannot ptrace it or read its memory through /proc. (The unit also
/// sets `LimitCORE=0`.) A refusal is reported, not fatal: the secrets are still zeroised on drop.
fn forbid_core_dumps() {
    use rustix::process::{DumpableBehavior, set_dumpable_behavior};
    if let Err(e) = set_dumpable_behavior(DumpableBehavior::NotDumpable) {
        eprintln!("warning: cannot mark the process non-dumpable ({e}): a core dump could hold secrets");
    }
}

type FilterHandle = tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

/// Control over the log filter after start-up.
pub struct LogControl {
    handle: FilterHandle,
    /// `PWRESETD_LOG` was set: it wins over the configuration.
    pinned: bool,
}

impl LogControl {
    fn setter(self) -> crate::daemon::SetLogFilter {
        Box::new(move |filter: &str| {
            if self.pinned {
                return Ok(());
            }
            let f = tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
            self.handle.reload(f).map_err(|e| e.to_string())
        })
    }
}

/// Logs to journald when systemd connected stderr to the journal, else text or JSON on stderr.
/// The filter is `PWRESETD_LOG`, else `warn` (the daemon then applies `daemon.log_level`).
/// Text has colours only on a terminal, and never with `NO_COLOR` set: a log file or a pipe gets
/// no escape codes.
fn init_logging(format: LogFormat) -> LogControl {
    use tracing_subscriber::prelude::*;
    let from_env = std::env::var("PWRESETD_LOG").ok();
    let filter = from_env
        .as_deref()
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("warn"));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let journald = std::env::var_os("JOURNAL_STREAM").and_then(|_| tracing_journald::layer().ok());
    match (journald, format) {
        (Some(journal), _) => registry.with(journal).init(),
        (None, LogFormat::Text) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(colour(
                        std::io::stderr().is_terminal(),
                        std::env::var_os("NO_COLOR").is_some(),
                    ))
                    .with_writer(std::io::stderr),
            )
            .init(),
        (None, LogFormat::Json) => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_ansi(false)
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
    LogControl {
        handle,
        pinned: from_env.is_some(),
    }
}

/// Whether text logs are coloured: on a terminal, unless `NO_COLOR` is set to any value, even
/// empty (whoever set it asked for no colour; tracing's own default ignores an empty one).
fn colour(stderr_is_terminal: bool, no_color: bool) -> bool {
    stderr_is_terminal && !no_color
}

async fn run(cli: Cli, log: LogControl) -> Result<ExitCode, Failure> {
    match cli.command {
        Command::CheckConfig(args) => check::run(&cli.config, args).await,
        Command::Serve => daemon::run(&cli.config, log).await,
        Command::Campaign(cmd) => campaign::run(&cli.config, cmd).await,
        Command::Account(args) => account::run(&cli.config, args).await,
        Command::Policy(cmd) => run_policy(&cli.config, cmd).await,
        Command::Mail(MailCommand::Test(args)) => {
            let config = load_config(&cli.config)?;
            Ok(mail::run_mail_test(args, &config.mail).await?)
        }
        Command::BreachIndex(cmd) => Ok(policy::run_breach_index(cmd)?),
        Command::Helpdesk(args) => helpdesk::run(args).await,
        Command::Audit(cmd) => audit::run(&cli.config, cmd).await,
        Command::Store(cmd) => store::run(cmd).await,
    }
}

/// `policy check|show`: with the configuration's `[policy]` and directory when the file exists,
/// with the default rules and no directory otherwise.
async fn run_policy(path: &std::path::Path, cmd: policy::PolicyCommand) -> Result<ExitCode, Failure> {
    if !path.exists() {
        eprintln!("note: {} not found: default rules, no directory lookup", path.display());
        return Ok(policy::run_policy(cmd, &crate::policy::PolicyConfig::default(), None).await?);
    }
    let config = load_config(path)?;
    let lookup = DirectoryLookup(directory(&config, None)?);
    Ok(policy::run_policy(cmd, &config.policy, Some(&lookup)).await?)
}

/// The policy CLI's view of the directory: an account's personal data and password rules by
/// login.
struct DirectoryLookup(Arc<dyn Directory>);

#[async_trait::async_trait]
impl policy::PersonLookup for DirectoryLookup {
    async fn find(&self, login: &str) -> Result<Option<crate::policy::Subject>, DirectoryError> {
        let details = self.0.find_by_login(login).await?;
        Ok(details.map(|d| crate::policy::Subject {
            login: d.account.login,
            given_name: d.account.given_name,
            surname: d.account.surname,
            display_name: d.account.display_name,
            mail: d.account.mail,
        }))
    }

    async fn rules(&self, login: Option<&str>) -> Result<Option<crate::policy::DirectoryRules>, DirectoryError> {
        let dn = match login {
            None => None,
            // An unknown login has been refused by `floor_for` already.
            Some(login) => self.0.find_by_login(login).await?.map(|d| d.account.dn),
        };
        self.0.password_rules(dn.as_deref()).await
    }
}

/// Loads the configuration (exit 64 on error).
fn load_config(path: &std::path::Path) -> Result<Config, Failure> {
    config::load(path).map_err(|e| Failure::new(EX_USAGE, e))
}

/// Builds the directory client (no connection yet); with `store`, Active Directory's
/// DONT_EXPIRE_PASSWORD ledger is kept there (a command that clears or restores the bit must
/// give it).
fn directory(config: &Config, store: Option<&Store>) -> Result<Arc<dyn Directory>, Failure> {
    let ledger = store.map(|s| Arc::new(s.clone()) as Arc<dyn directory::LedgerStore>);
    directory::connect_with_ledger(&config.directory, ledger).map_err(|e| Failure::from(anyhow::Error::new(e)))
}

async fn open_store(config: &Config) -> Result<Store, Failure> {
    let store = config.store.clone();
    tokio::task::spawn_blocking(move || off_runtime::blocking(|| Store::open_config(&store)))
        .await
        .context("store worker")?
        .map_err(|e| Failure::from(anyhow::Error::new(e)))
}

/// Who is acting, for the audit trail: the invoking user (through sudo too).
fn actor() -> String {
    let from_env = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    let user = from_env.unwrap_or_else(user_from_uid);
    format!("cli:{user}")
}

/// The name of this process's user from /etc/passwd, or `uid:N`. (Not from /proc/self: a
/// non-dumpable process's /proc entries belong to root.)
fn user_from_uid() -> String {
    let uid = rustix::process::getuid().as_raw();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == uid.to_string())
        .map_or_else(|| format!("uid:{uid}"), |f| f[0].to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_makes_itself_non_dumpable() {
        use rustix::process::{DumpableBehavior, dumpable_behavior};
        super::forbid_core_dumps();
        assert_eq!(dumpable_behavior().unwrap(), DumpableBehavior::NotDumpable);
    }
}
