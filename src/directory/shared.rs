//! What every flavour's code works through: the service connections and the `[directory]`
//! settings, and the one read all of them need. Holds no state of its own beyond that (what is
//! remembered about policies is `remembered`'s).

use ldap3::Scope;

use super::DirectoryError;
use super::conn::Pool;
use super::search::{self, Entry};
use crate::directory::config::DirectoryConfig;

/// What every flavour works through: connections bound as the service account, and the settings.
pub(crate) struct Shared {
    pub pool: Pool,
    pub config: DirectoryConfig,
}

impl Shared {
    /// Reads `attrs` of the entry at `dn`; `None` when it does not exist.
    pub async fn entry(&self, dn: &str, attrs: &[&str]) -> Result<Option<Entry>, DirectoryError> {
        let entries = search::read(&self.pool, dn, Scope::Base, "(objectClass=*)", attrs).await?;
        Ok(entries.into_iter().next())
    }
}
