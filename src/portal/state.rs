//! [`PortalState`]: everything a request needs, built once before the port is bound and shared
//! by every request (cheap to clone). Also owns the two bounds on concurrent work: CPU-heavy
//! policy work (argon2, zxcvbn) runs on the blocking pool, at most one job per core, and at most
//! one password change per account is in flight.

use std::sync::Arc;

use tokio::sync::Semaphore;

use super::PortalConfig;
use super::notifier::ChangeNotifier;
use super::pages::Pages;
use super::pages::PagesError;
use super::tls::{self, TlsError};
use crate::directory::Directory;
use crate::policy::Policy;
use crate::store::{Store, StoreError};
use crate::web::budget::Budget;
use crate::web::claims::{self, Claim};
use crate::web::client::{Cidr, TrustedProxies};
use crate::web::csrf::Csrf;
use crate::web::limits::Limiter;
use crate::web::mask::Masker;

/// The portal could not be set up (before any port is bound).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Templates(#[from] PagesError),
    #[error("drawing or reading the CSRF key: {0}")]
    Randomness(#[from] std::io::Error),
}

/// What the portal is built from; the daemon owns each part.
pub struct PortalParts {
    pub config: PortalConfig,
    pub directory: Arc<dyn Directory>,
    pub store: Store,
    pub policy: Arc<Policy>,
    pub notifier: Arc<dyn ChangeNotifier>,
    /// The failed password binds per account, shared with the helpdesk's sign-in.
    pub budget: Arc<Budget>,
    /// How to reach the helpdesk (`mail.helpdesk`), shown on the "locked" and "gone" pages.
    pub helpdesk: String,
}

#[derive(Clone)]
pub struct PortalState {
    inner: Arc<Inner>,
}

struct Inner {
    config: PortalConfig,
    directory: Arc<dyn Directory>,
    store: Store,
    /// Swapped on SIGHUP (word lists, rules); a request uses the policy current when it starts.
    policy: std::sync::RwLock<Arc<Policy>>,
    notifier: Arc<dyn ChangeNotifier>,
    pages: Pages,
    csrf: Csrf,
    /// Form posts per client address and per typed login.
    limiter: Limiter,
    /// Link posts per link (never per login: the link is the proof).
    links: Limiter,
    budget: Arc<Budget>,
    masker: Masker,
    cpu: Semaphore,
    tls: Option<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for PortalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl TrustedProxies for PortalState {
    fn trusted_proxies(&self) -> &[Cidr] {
        &self.inner.config.trusted_proxies
    }
}

impl PortalState {
    /// Compiles the pages, draws the CSRF key and reads the TLS certificate and key.
    pub fn new(parts: PortalParts) -> Result<PortalState, SetupError> {
        let config = parts.config;
        let tls = match &config.tls {
            Some((cert, key)) => Some(tls::server_config(cert, key)?),
            None => None,
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(PortalState {
            inner: Arc::new(Inner {
                csrf: Csrf::shared(&parts.store, "csrf.portal", config.scheme(), config.origin())?,
                limiter: Limiter::new(&config.rate_limit, parts.store.clone(), "portal"),
                links: Limiter::new(&config.rate_limit, parts.store.clone(), "portal.link"),
                budget: parts.budget,
                masker: Masker::new()?,
                pages: Pages::new(&parts.helpdesk, config.auth.new_link())?,
                cpu: Semaphore::new(cores),
                tls,
                config,
                directory: parts.directory,
                store: parts.store,
                policy: std::sync::RwLock::new(parts.policy),
                notifier: parts.notifier,
            }),
        })
    }

    pub fn config(&self) -> &PortalConfig {
        &self.inner.config
    }
    pub fn directory(&self) -> &dyn Directory {
        self.inner.directory.as_ref()
    }
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    pub fn policy(&self) -> Arc<Policy> {
        self.inner.policy.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Uses `policy` for the requests that start from now on (SIGHUP).
    pub fn set_policy(&self, policy: Arc<Policy>) {
        *self.inner.policy.write().unwrap_or_else(|p| p.into_inner()) = policy;
    }
    pub fn notifier(&self) -> Arc<dyn ChangeNotifier> {
        self.inner.notifier.clone()
    }
    pub(super) fn pages(&self) -> &Pages {
        &self.inner.pages
    }
    pub(super) fn csrf(&self) -> &Csrf {
        &self.inner.csrf
    }
    pub(super) fn limiter(&self) -> &Limiter {
        &self.inner.limiter
    }
    pub(super) fn links(&self) -> &Limiter {
        &self.inner.links
    }
    pub(super) fn budget(&self) -> &Arc<Budget> {
        &self.inner.budget
    }
    pub(super) fn masker(&self) -> &Masker {
        &self.inner.masker
    }
    pub(super) fn tls(&self) -> Option<Arc<rustls::ServerConfig>> {
        self.inner.tls.clone()
    }

    /// Claims the account `dn` for one change (on every instance); `None` when a change for it
    /// is in flight.
    pub(super) async fn claim(&self, dn: &str) -> Result<Option<Claim>, StoreError> {
        claims::claim(&self.inner.store, format!("portal:{}", dn.to_lowercase())).await
    }

    /// Runs CPU-heavy `work` on the blocking pool, at most one job per core at a time, so the
    /// async workers keep answering under load. `None` if the job panicked.
    pub(super) async fn cpu<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
        // The semaphore is never closed: acquire cannot fail.
        let _permit = self.inner.cpu.acquire().await.ok()?;
        tokio::task::spawn_blocking(work).await.ok()
    }

    /// Awaits `work`, which runs CPU-heavy work on the blocking pool itself (a directory call
    /// verifying stored hashes: 389-DS's PBKDF2 takes milliseconds each), under one of
    /// [`Self::cpu`]'s per-core permits, so that it is bounded the same way.
    pub(super) async fn cpu_bound<F: Future>(&self, work: F) -> Option<F::Output> {
        let _permit = self.inner.cpu.acquire().await.ok()?;
        Some(work.await)
    }
}
