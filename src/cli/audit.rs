//! `pwresetd audit export|verify`: the store's hash-chained audit trail as JSON lines, and the
//! check of a chain. `verify FILE` needs neither the configuration nor the store, so a reviewer
//! runs it on a machine of their own; `verify --store` checks the store in place.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand, ValueEnum};

use super::{Failure, load_config, open_store};
use crate::store::chain::{Broken, Verified, Verifier};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write the audit records, oldest first, one JSON object a line, to stdout.
    Export(ExportArgs),
    /// Check a chain: an exported FILE ("-": stdin), or the store itself with --store.
    /// Exit 1 names the 1-based line of the first record that does not verify.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only this campaign's records (its own chain); all records without it.
    #[arg(long)]
    campaign: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// One JSON object a line.
    Jsonl,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// An export (`pwresetd audit export`), or "-" for stdin.
    #[arg(required_unless_present = "store", conflicts_with = "store")]
    file: Option<PathBuf>,
    /// Check the store named by the configuration instead of a file.
    #[arg(long)]
    store: bool,
}

pub async fn run(path: &Path, cmd: AuditCommand) -> Result<ExitCode, Failure> {
    match cmd {
        AuditCommand::Export(args) => export(path, args).await,
        AuditCommand::Verify(VerifyArgs { file: Some(file), .. }) => verify_file(&file),
        AuditCommand::Verify(VerifyArgs { file: None, .. }) => verify_store(path).await,
    }
}

async fn export(path: &Path, args: ExportArgs) -> Result<ExitCode, Failure> {
    let Format::Jsonl = args.format;
    let config = load_config(path)?;
    let store = open_store(&config).await?;
    let campaign = args.campaign.clone();
    let records = store
        .run(move |s| s.audit_records(campaign.as_deref()))
        .await
        .map_err(anyhow::Error::new)?;
    if let (Some(name), true) = (&args.campaign, records.is_empty()) {
        return Err(Failure::new(1, anyhow!("no audit records for campaign {name:?}")));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for record in &records {
        serde_json::to_writer(&mut out, record).context("writing the export")?;
        out.write_all(b"\n").context("writing the export")?;
    }
    out.flush().context("writing the export")?;
    Ok(ExitCode::SUCCESS)
}

fn verify_file(file: &Path) -> Result<ExitCode, Failure> {
    let reader: Box<dyn BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        Box::new(std::io::BufReader::new(f))
    };
    let mut verifier = Verifier::default();
    for line in reader.split(b'\n') {
        let line = line.with_context(|| format!("reading {}", file.display()))?;
        let result = match std::str::from_utf8(&line) {
            Ok(text) => verifier.push_line(text),
            Err(_) => Err(verifier.malformed("not UTF-8".into())),
        };
        result.map_err(|broken| refused(&file.display().to_string(), &broken))?;
    }
    report(&verifier.finish());
    Ok(ExitCode::SUCCESS)
}

async fn verify_store(path: &Path) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    let store = open_store(&config).await?;
    let records = store.run(|s| s.audit_records(None)).await.map_err(anyhow::Error::new)?;
    let mut verifier = Verifier::default();
    for record in &records {
        verifier
            .push(record)
            .map_err(|broken| refused("the store (lines as `audit export` writes them)", &broken))?;
    }
    report(&verifier.finish());
    Ok(ExitCode::SUCCESS)
}

fn refused(what: &str, broken: &Broken) -> Failure {
    Failure::new(1, anyhow!("the audit trail in {what} does not verify: {broken}"))
}

fn report(verified: &Verified) {
    println!(
        "ok: {} records verify, in {} chains; their newest hashes:",
        verified.records,
        verified.chains.len()
    );
    for (campaign, head, n) in &verified.chains {
        let name = campaign
            .as_deref()
            .map_or_else(|| "(no campaign)".to_owned(), |c| format!("campaign {c:?}"));
        println!("  {name}: {n} records, head {head}");
    }
}
