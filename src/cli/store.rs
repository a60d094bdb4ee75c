//! `pwresetd store migrate`: moves a SQLite store into an empty PostgreSQL database (stop the
//! service, migrate, point `[store] url` at it, start). The target is named on the command
//! line, its password read from a file, TLS verified as `[store]` does (`ca_file`,
//! `allow_insecure`); the configuration file is not read.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};

use super::{EX_USAGE, Failure};
use crate::secret::Secret;
use crate::store::config::PgConfig;
use crate::store::{CopyError, Store, off_runtime};

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy a SQLite store into an empty PostgreSQL database, then compare every table's row
    /// count (exit 1 naming the table that differs; a non-empty target is refused).
    Migrate(MigrateArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The SQLite store (`[store] path`); stop the service first.
    #[arg(long)]
    from: PathBuf,
    /// The PostgreSQL database, as `[store] url` (no password in it).
    #[arg(long)]
    to: String,
    /// The file holding the database password (as `[store] password_file`).
    #[arg(long)]
    password_file: PathBuf,
    /// The CA that signed the database server's certificate (as `[store] ca_file`).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// Allow `sslmode=disable`/`prefer` in the URL (test databases only).
    #[arg(long)]
    allow_insecure: bool,
}

pub async fn run(cmd: StoreCommand) -> Result<ExitCode, Failure> {
    let StoreCommand::Migrate(args) = cmd;
    if !args.from.is_file() {
        return Err(Failure::new(
            EX_USAGE,
            anyhow!("--from {}: no such file", args.from.display()),
        ));
    }
    let password = Secret::from_file(&args.password_file)
        .with_context(|| format!("--password-file {}", args.password_file.display()))
        .map_err(|e| Failure::new(EX_USAGE, e))?;
    let pg =
        PgConfig::new(&args.to, password, args.ca_file, args.allow_insecure).map_err(|e| Failure::new(EX_USAGE, e))?;
    let from = args.from;
    let copied = tokio::task::spawn_blocking(move || -> Result<_, anyhow::Error> {
        off_runtime::blocking(|| {
            let source = Store::open(&from)?;
            let target = Store::open_postgres(&pg)?;
            Ok(source.copy_into(&target))
        })
    })
    .await
    .context("store worker")??;
    match copied {
        Ok(counts) => {
            for (table, rows) in counts {
                println!("{table}: {rows} rows");
            }
            println!("ok: every table's row count matches");
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (CopyError::NotEmpty { .. } | CopyError::CountMismatch { .. })) => Err(Failure::new(1, e)),
        Err(e) => Err(Failure::from(anyhow::Error::new(e))),
    }
}
