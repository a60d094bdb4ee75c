//! `pwresetd policy check|show` and `pwresetd breach-index build`: the command-line face of
//! [`crate::policy`]. With a directory configured, both apply the effective policy: `[policy]`
//! with the directory's own rules as a floor (for `--login`, the account's own policy).
//!
//! Owns argument parsing, reading the candidate from standard input (never from argv, where
//! `ps` and shell history would see it), printing verdicts as text or JSON, exit codes and the
//! build progress bar (printing: [`print`]). Must not hold policy logic. Exit codes: 0 accepted / built, 1 refused;
//! operational errors are returned as `Err`, which the binary turns into exit 2 (or 64 for an
//! invalid config, per the house style).

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::policy::breach::{self, BuildOptions, BuildProgress};
use crate::policy::{CheckInput, DirectoryRules, Password, Policy, PolicyConfig, Subject, Verdict};

mod print;
pub use print::{Format, print_verdict, show};

/// `pwresetd policy ...`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a password, read from the first line of standard input, against the policy.
    Check(CheckArgs),
    /// Show the rules in force, as a form would before the user types.
    Show(ShowArgs),
}

/// `pwresetd policy check`
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The account's login (also looked up in the directory when one is configured).
    #[arg(long)]
    pub login: String,
    /// Given name; overrides the directory's.
    #[arg(long)]
    pub given_name: Option<String>,
    /// Surname; overrides the directory's.
    #[arg(long)]
    pub surname: Option<String>,
    /// Display name; overrides the directory's.
    #[arg(long)]
    pub display_name: Option<String>,
    /// Mail address (repeatable); replaces the directory's.
    #[arg(long)]
    pub mail: Vec<String>,
    /// Read the current password from the second line of standard input and refuse it.
    #[arg(long)]
    pub with_current: bool,
    /// Print the verdict as JSON: {"accepted": bool, "violations": [{"rule", "message"}]}.
    #[arg(long)]
    pub json: bool,
}

/// `pwresetd policy show`
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Show the rules for this account (its own directory policy, when one applies) instead of
    /// the directory's default policy.
    #[arg(long)]
    pub login: Option<String>,
    /// Print the rules as JSON: [{"rule", "text", "source"}].
    #[arg(long)]
    pub json: bool,
}

/// `pwresetd breach-index ...`
#[derive(Debug, Subcommand)]
pub enum BreachIndexCommand {
    /// Build an index from a Pwned Passwords SHA-1 file (`HASH:COUNT` lines, any order).
    Build(BuildArgs),
}

/// `pwresetd breach-index build`
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The Pwned Passwords SHA-1 file.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the index (replaced atomically; temporary files go beside it).
    #[arg(long)]
    pub output: PathBuf,
    /// Hashes per in-memory sorted run (24 bytes each); lower it on small machines.
    #[arg(long, default_value_t = BuildOptions::default().run_entries)]
    pub run_entries: usize,
}

/// Finds a person's data and the directory's own password rules, for `policy check|show` when a
/// directory is configured.
#[async_trait::async_trait]
pub trait PersonLookup: Send + Sync {
    /// The account with this login, or `None` when there is none.
    async fn find(&self, login: &str) -> Result<Option<Subject>, crate::directory::DirectoryError>;

    /// The directory's own rules for the account with this login (`None`: the default
    /// policy's); `None` when there are none or they are not readable.
    async fn rules(&self, login: Option<&str>) -> Result<Option<DirectoryRules>, crate::directory::DirectoryError>;
}

/// Runs `pwresetd policy ...`.
pub async fn run_policy(
    cmd: PolicyCommand,
    policy_cfg: &PolicyConfig,
    lookup: Option<&dyn PersonLookup>,
) -> anyhow::Result<ExitCode> {
    let policy = Policy::load(policy_cfg).context("loading the password policy")?;
    match cmd {
        PolicyCommand::Show(args) => {
            let floor = match lookup {
                Some(directory) => floor_for(directory, args.login.as_deref()).await?,
                None => Floor::NoDirectory,
            };
            show(
                &policy,
                &floor,
                Format::from_flag(args.json),
                &mut std::io::stdout().lock(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Check(args) => {
            let subject = subject_for(&args, lookup).await?;
            let floor = match lookup {
                Some(directory) => floor_for(directory, Some(&args.login)).await?,
                None => Floor::NoDirectory,
            };
            if floor == Floor::Unknown {
                eprintln!("note: the directory's own rules are unknown (see `pwresetd check-config`): [policy] alone");
            }
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("Type the password and press Enter (it will show on screen; pipe it in to avoid that):");
            }
            let current = if args.with_current {
                CurrentPassword::OnSecondLine
            } else {
                CurrentPassword::NotGiven
            };
            let secrets = read_secrets(&mut stdin.lock(), current)?;
            let verdict = check(&policy, floor.rules(), &subject, &secrets)?;
            print_verdict(&verdict, Format::from_flag(args.json), &mut std::io::stdout().lock())?;
            Ok(if verdict.is_accepted() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

/// What the directory adds to `[policy]`, as far as the command could tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Floor {
    /// No configuration: `[policy]`'s defaults alone.
    NoDirectory,
    /// The directory has no rules, or they are not readable by the service account.
    Unknown,
    Rules(DirectoryRules),
}

impl Floor {
    pub fn rules(&self) -> Option<&DirectoryRules> {
        match self {
            Floor::Rules(r) => Some(r),
            Floor::NoDirectory | Floor::Unknown => None,
        }
    }
}

/// The directory's rules for `login`'s account (`None`: the default policy's). An unknown
/// login is an error; an unreachable directory too (the rules in force cannot be told).
pub async fn floor_for(directory: &dyn PersonLookup, login: Option<&str>) -> anyhow::Result<Floor> {
    if let Some(login) = login {
        directory
            .find(login)
            .await
            .with_context(|| format!("looking up {login:?} in the directory"))?
            .with_context(|| format!("no account with login {login:?} in the directory"))?;
    }
    let rules = directory
        .rules(login)
        .await
        .context("reading the directory's own password rules")?;
    Ok(rules.map_or(Floor::Unknown, Floor::Rules))
}

/// The subject from the directory (when there is one) with the flags laid over it.
pub async fn subject_for(args: &CheckArgs, lookup: Option<&dyn PersonLookup>) -> anyhow::Result<Subject> {
    let mut subject = match lookup {
        Some(directory) => directory
            .find(&args.login)
            .await
            .with_context(|| format!("looking up {:?} in the directory", args.login))?
            .with_context(|| format!("no account with login {:?} in the directory", args.login))?,
        None => Subject {
            login: args.login.clone(),
            ..Subject::default()
        },
    };
    let overlay = |flag: &Option<String>, field: &mut Option<String>| {
        if flag.is_some() {
            field.clone_from(flag);
        }
    };
    overlay(&args.given_name, &mut subject.given_name);
    overlay(&args.surname, &mut subject.surname);
    overlay(&args.display_name, &mut subject.display_name);
    if !args.mail.is_empty() {
        subject.mail.clone_from(&args.mail);
    }
    Ok(subject)
}

/// The new password and, when asked for, the current one.
#[derive(Debug)]
pub struct Secrets {
    pub new: Password,
    pub current: Option<Password>,
}

fn read_line(input: &mut dyn BufRead, what: &str) -> anyhow::Result<Password> {
    let mut line = String::new();
    let n = input
        .read_line(&mut line)
        .with_context(|| format!("reading the {what} from standard input (must be UTF-8)"))?;
    anyhow::ensure!(n > 0, "no {what} on standard input");
    let end = line
        .strip_suffix('\n')
        .map_or(line.len(), |s| s.strip_suffix('\r').unwrap_or(s).len());
    line.truncate(end);
    Ok(Password::from(line))
}

/// Whether standard input also carries the current password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CurrentPassword {
    /// One line: the new password.
    NotGiven,
    /// Two lines: the new password, then the current one.
    OnSecondLine,
}

/// Reads the new password (first line) and, when asked, the current one (second line).
pub fn read_secrets(input: &mut dyn BufRead, current: CurrentPassword) -> anyhow::Result<Secrets> {
    let new = read_line(input, "new password")?;
    let current = match current {
        CurrentPassword::NotGiven => None,
        CurrentPassword::OnSecondLine => Some(read_line(input, "current password")?),
    };
    Ok(Secrets { new, current })
}

/// Checks with the directory's rules `floor` (when known), without history: the CLI has no
/// access to the store's password history.
pub fn check(
    policy: &Policy,
    floor: Option<&DirectoryRules>,
    subject: &Subject,
    secrets: &Secrets,
) -> anyhow::Result<Verdict> {
    let input = CheckInput {
        password: &secrets.new,
        current: secrets.current.as_ref(),
        history: &[],
        subject,
    };
    policy
        .effective(floor)
        .check(&input)
        .context("checking the password (nothing was decided)")
}

/// Runs `pwresetd breach-index ...`.
pub fn run_breach_index(cmd: BreachIndexCommand) -> anyhow::Result<ExitCode> {
    let BreachIndexCommand::Build(args) = cmd;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    let reading = ProgressStyle::with_template(
        "reading  [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} (eta {eta})",
    )?;
    let writing = ProgressStyle::with_template(
        "writing  [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} hashes (eta {eta})",
    )?;
    let mut phase = None;
    let started = std::time::Instant::now();
    let options = BuildOptions {
        run_entries: args.run_entries,
    };
    let stats = breach::build_with(&args.input, &args.output, &options, &mut |p| {
        let (style, position, total) = match p {
            BuildProgress::Reading { bytes, total } => (&reading, bytes, total),
            BuildProgress::Writing { entries, total } => (&writing, entries, total),
        };
        let now = std::mem::discriminant(&p);
        if phase != Some(now) {
            phase = Some(now);
            bar.set_style(style.clone());
            bar.reset();
        }
        bar.set_length(total);
        bar.set_position(position);
    });
    bar.finish_and_clear();
    let stats = stats.context("building the breached-password index")?;
    println!(
        "Wrote {}: {} hashes from {} lines ({} duplicates merged, {} sorted runs spilled) in {}.",
        args.output.display(),
        stats.entries,
        stats.lines,
        stats.duplicates,
        stats.spilled_runs,
        humantime::format_duration(std::time::Duration::from_secs(started.elapsed().as_secs())),
    );
    Ok(ExitCode::SUCCESS)
}
