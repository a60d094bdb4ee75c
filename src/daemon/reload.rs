//! SIGHUP: read the configuration again and apply what can change without a restart
//! (mail templates, link settings, the password policy, reminders and intervals, the log
//! filter), and forget the directory's policies read earlier (an operator who changed one and
//! reloads expects the form pages to list it). An invalid new configuration is logged and the
//! running one kept.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch;

use super::config::{self, Config};
use super::{MailGlue, SetLogFilter, systemd};
use crate::notify::Templates;
use crate::policy::Policy;
use crate::portal::PortalState;

/// What a reload swaps in the running service.
pub struct Reloadable {
    pub config: watch::Sender<Arc<Config>>,
    pub mail: Arc<MailGlue>,
    pub portal: PortalState,
}

impl Reloadable {
    pub fn reload(&self, path: &Path, set_log_filter: &SetLogFilter) {
        systemd::reloading();
        match load(path) {
            Ok((new, templates, policy)) => {
                warn_restart_only(&self.config.borrow(), &new);
                if let Err(e) = set_log_filter(&new.daemon.log_level) {
                    tracing::warn!(error = %e, "daemon.log_level");
                }
                self.mail.reload(templates, new.portal.links());
                self.portal.set_policy(Arc::new(policy));
                self.portal.directory().forget_policies();
                let _ = self.config.send(Arc::new(new));
                tracing::info!(config = %path.display(), "configuration reloaded");
            }
            Err(e) => {
                tracing::error!(config = %path.display(), "invalid new configuration, keeping the running one: {e}")
            }
        }
        systemd::ready();
    }
}

fn load(path: &Path) -> Result<(Config, Templates, Policy), String> {
    let new = config::load(path).map_err(|e| e.to_string())?;
    let templates = Templates::load(&new.mail).map_err(|e| format!("mail templates: {e}"))?;
    let policy = Policy::load(&new.policy).map_err(|e| format!("password policy: {e}"))?;
    Ok((new, templates, policy))
}

/// Keys read once at start-up: changing them needs a restart, which the operator must hear.
fn warn_restart_only(old: &Config, new: &Config) {
    for (key, changed) in [
        (
            "directory",
            format!("{:?}", old.directory) != format!("{:?}", new.directory),
        ),
        ("store", old.store.describe() != new.store.describe()),
        ("portal.listen", old.portal.listen != new.portal.listen),
        (
            "daemon.admin_listen",
            old.daemon.admin_listen != new.daemon.admin_listen,
        ),
    ] {
        if changed {
            tracing::warn!(key, "changed in the configuration: takes effect at the next restart");
        }
    }
}
