//! `pwresetd serve`: the daemon under systemd (or in a terminal).

use std::path::Path;
use std::process::ExitCode;

use super::{Failure, LogControl, load_config};
use crate::daemon::Services;

pub async fn run(path: &Path, log: LogControl) -> Result<ExitCode, Failure> {
    // Invalid configuration, templates, policy files, TLS files or tokens: exit 64 (73 for the
    // store) before the directory is contacted or any port is bound.
    let config = load_config(path)?;
    let services = Services::build(config).await.map_err(anyhow::Error::new)?;
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
    crate::daemon::run(path, services, log.setter(), shutdown).await?;
    Ok(ExitCode::SUCCESS)
}
