//! `pwresetd serve`: the daemon under systemd (or in a terminal).

use std::path::Path;
use std::process::ExitCode;

use super::{Failure, LogControl, load_config};

pub async fn run(path: &Path, log: LogControl) -> Result<ExitCode, Failure> {
    // Invalid configuration: exit 64 before any port is bound.
    let config = load_config(path)?;
    let shutdown = async {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = int.recv() => tracing::info!("SIGINT received"),
                }
            }
            _ => {
                tracing::error!("cannot install signal handlers; stop with SIGKILL");
                std::future::pending::<()>().await;
            }
        }
    };
    crate::daemon::run(path.to_owned(), config, log.setter(), shutdown).await?;
    Ok(ExitCode::SUCCESS)
}
