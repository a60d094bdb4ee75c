//! `pwresetd check-config`: prints the preflight's checks (`daemon::preflight`), one line each
//! with the fix under a failure or warning, or as a JSON array; the exit code says which stage
//! failed. Binds no listening port, so it runs beside a live service.

use std::path::Path;
use std::process::ExitCode;

use super::{EX_UNAVAILABLE, EX_USAGE, Failure, exit_code};
use crate::daemon::preflight::{self, Check, Status, Stopped};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Print the checks as a JSON array of {check, status, message, fix}.
    #[arg(long)]
    json: bool,
}

/// Exit 0 when nothing failed (warnings allowed); 64 when the configuration or a file `serve`
/// loads at start-up is wrong (73 for a store that cannot be opened, as for `serve`); 69 when
/// a server check failed.
pub async fn run(path: &Path, args: CheckArgs) -> Result<ExitCode, Failure> {
    let report = preflight::run(path).await;
    if args.json {
        let json = serde_json::to_string_pretty(&report.checks).map_err(anyhow::Error::new)?;
        println!("{json}");
    } else {
        for check in &report.checks {
            println!("{}", line(check));
        }
        println!("{}", summary(&report.checks));
    }
    let failed = report.servers_failed();
    let code = match report.stopped {
        Some(Stopped::Config(_)) => EX_USAGE,
        // The code `serve` exits with on the same error.
        Some(Stopped::Build(e)) => exit_code(&anyhow::Error::new(e)),
        None if failed => EX_UNAVAILABLE,
        None => 0,
    };
    Ok(ExitCode::from(code))
}

/// `✓ scope: 120 accounts …`, or `✗ …` / `! …` with the fix on the next line.
fn line(c: &Check) -> String {
    let mark = match c.status {
        Status::Ok => '✓',
        Status::Warn => '!',
        Status::Fail => '✗',
    };
    let mut line = format!("{mark} {}: {}", c.check, c.message);
    if let Some(fix) = &c.fix {
        line.push_str(&format!("\n    fix: {fix}"));
    }
    line
}

fn summary(checks: &[Check]) -> String {
    let count = |s| checks.iter().filter(|c| c.status == s).count();
    match (count(Status::Fail), count(Status::Warn)) {
        (0, 0) => format!("check-config: all {} checks passed", checks.len()),
        (0, w) => format!("check-config: no failure, {w} warning(s)"),
        (f, w) => format!("check-config: {f} failed, {w} warning(s)"),
    }
}
