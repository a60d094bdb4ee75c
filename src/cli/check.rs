//! `pwresetd check-config`: build everything `serve` builds (store, templates, mailer, policy,
//! TLS files, tokens), then bind to the directory. Binds no listening port, so it runs beside
//! a live service.

use std::path::Path;
use std::process::ExitCode;

use super::{Failure, load_config};
use crate::daemon::Services;

pub async fn run(path: &Path) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    println!("configuration {}: valid", path.display());
    let services = Services::build(config).await.map_err(anyhow::Error::new)?;
    let config = &services.config;
    println!(
        "store {}: open; mail templates, mail transport, password policy, portal and helpdesk: loaded",
        config.store.path.display()
    );
    let warnings = services
        .directory
        .check()
        .await
        .map_err(|e| Failure::from(anyhow::Error::new(e)))?;
    println!(
        "directory {} ({:?}): bound as {}",
        config.directory.url, config.directory.transport, config.directory.bind_dn
    );
    for w in &warnings {
        println!("WARNING: {}", w.message);
    }
    Ok(ExitCode::SUCCESS)
}
