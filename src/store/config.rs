//! The `[store]` section: where the embedded database lives.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Origin;

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub path: PathBuf,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    path: Option<PathBuf>,
}

impl RawStore {
    /// `path`, else `state.db` in systemd's `$STATE_DIRECTORY`, else under /var/lib/pwresetd.
    pub fn validate(self, origin: Origin<'_>, state_dir: Option<&Path>) -> StoreConfig {
        let path = match (self.path, state_dir) {
            (Some(p), _) => origin.resolve(&p),
            (None, Some(dir)) => dir.join("state.db"),
            (None, None) => PathBuf::from("/var/lib/pwresetd/state.db"),
        };
        StoreConfig { path }
    }
}
