//! Build, then serve: everything the service needs, loaded and validated from a [`Config`]
//! before the directory is first contacted and before any port is bound.
//!
//! [`Services::build`] opens the store, compiles the mail templates, builds the mailer, loads
//! the password policy (word lists, breached-password index), reads the portal's TLS files and
//! the helpdesk's token file. `pwresetd serve` runs what it built; `pwresetd check-config`
//! builds the same and stops there, so that `serve` never fails on something `check-config`
//! passed. A failure here is the operator's to fix ([`BuildError`]; the CLI exits 64, or 73 for
//! a store that cannot be opened).

use std::sync::{Arc, RwLock};

use thiserror::Error;

use super::MailGlue;
use super::config::Config;
use super::instrumented::Instrumented;
use super::metrics::Metrics;
use crate::directory::{self, Directory, DirectoryError};
use crate::helpdesk::{HelpdeskParts, HelpdeskState};
use crate::notify::pass::Mail;
use crate::notify::{Mailer, MailerError, TemplateError, Templates};
use crate::policy::{Policy, PolicyLoadError};
use crate::portal::{PortalParts, PortalState};
use crate::store::{Store, StoreError, off_runtime};
use crate::web::budget::Budget;

/// Why the service cannot be built; each message names the key or file to fix.
#[derive(Debug, Error)]
pub enum BuildError {
    // The inner errors are shown in the message, not chained: each is named once.
    #[error("{0}")]
    Store(StoreError),
    #[error("directory: {0}")]
    Directory(DirectoryError),
    #[error("mail templates: {0}")]
    Templates(TemplateError),
    #[error("mail transport: {0}")]
    Mailer(MailerError),
    #[error("password policy: {0}")]
    Policy(PolicyLoadError),
    #[error("portal: {0}")]
    Portal(crate::portal::SetupError),
    #[error("helpdesk: {0}")]
    Helpdesk(crate::helpdesk::SetupError),
}

/// What `serve` runs. The directory client is built but has not connected yet.
pub struct Services {
    pub config: Config,
    pub metrics: Arc<Metrics>,
    pub store: Store,
    pub directory: Arc<dyn Directory>,
    pub mail: Arc<MailGlue>,
    pub portal: PortalState,
    pub helpdesk: HelpdeskState,
}

impl Services {
    /// Loads and validates everything fallible; touches neither the directory nor a port.
    pub async fn build(config: Config) -> Result<Services, BuildError> {
        let metrics = Arc::new(Metrics::new());
        let store = open_store(&config).await?;
        // The DONT_EXPIRE_PASSWORD ledger lives in the store, so every instance restores what any cleared.
        let ledger: Arc<dyn directory::LedgerStore> = Arc::new(store.clone());
        let raw = directory::connect_with_ledger(&config.directory, Some(ledger)).map_err(BuildError::Directory)?;
        let directory: Arc<dyn Directory> = Arc::new(Instrumented::new(raw, metrics.clone()));
        let loaded = load_mail(&config)?;
        metrics.watch_mail(loaded.mailer.health().clone());
        let mail = Arc::new(MailGlue {
            mail: RwLock::new(loaded),
            store: store.clone(),
            links: RwLock::new(config.portal.links()),
            metrics: metrics.clone(),
            backoff: Default::default(),
        });
        let policy = Arc::new(Policy::load(&config.policy).map_err(BuildError::Policy)?);
        // One budget of failed password binds per account, whichever front end binds.
        let budget = Arc::new(Budget::new(store.clone()));
        let portal = PortalState::new(PortalParts {
            config: config.portal.clone(),
            directory: directory.clone(),
            store: store.clone(),
            policy,
            notifier: mail.clone(),
            budget: budget.clone(),
            helpdesk: config.mail.helpdesk.clone(),
        })
        .map_err(BuildError::Portal)?;
        let helpdesk = HelpdeskState::new(HelpdeskParts {
            config: config.helpdesk.clone(),
            directory: directory.clone(),
            store: store.clone(),
            resender: mail.clone(),
            admin_listen: config.daemon.admin_listen,
            budget,
            portal_url: config.portal.public_url.clone(),
        })
        .map_err(BuildError::Helpdesk)?;
        Ok(Services {
            config,
            metrics,
            store,
            directory,
            mail,
            portal,
            helpdesk,
        })
    }
}

/// The mail templates and transport of `config` (also what SIGHUP reloads).
pub fn load_mail(config: &Config) -> Result<Mail, BuildError> {
    let templates = Templates::load(&config.mail).map_err(BuildError::Templates)?;
    let mailer = Mailer::new(&config.mail).map_err(BuildError::Mailer)?;
    Ok(Mail {
        settings: Arc::new(config.mail.clone()),
        templates: Arc::new(templates),
        mailer: Arc::new(mailer),
    })
}

async fn open_store(config: &Config) -> Result<Store, BuildError> {
    let store = config.store.clone();
    tokio::task::spawn_blocking(move || off_runtime::blocking(|| Store::open_config(&store)))
        .await
        .map_err(|e| StoreError::Worker(e.to_string()))
        .and_then(|r| r)
        .map_err(BuildError::Store)
}
