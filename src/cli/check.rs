//! `pwresetd check-config`: validate, bind, open the store.

use std::path::Path;
use std::process::ExitCode;

use super::{Failure, directory, load_config, open_store};

pub async fn run(path: &Path) -> Result<ExitCode, Failure> {
    let config = load_config(path)?;
    println!("configuration {}: valid", path.display());
    let dir = directory(&config)?;
    let warnings = dir.check().await.map_err(|e| Failure::from(anyhow::Error::new(e)))?;
    println!(
        "directory {} ({:?}): bound as {}",
        config.directory.url, config.directory.transport, config.directory.bind_dn
    );
    for w in &warnings {
        println!("WARNING: {}", w.message);
    }
    open_store(&config).await?;
    println!("store {}: open", config.store.path.display());
    Ok(ExitCode::SUCCESS)
}
