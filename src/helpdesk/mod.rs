//! The helpdesk: what operators use while people call during a campaign. One account's whole
//! state in one place, one action to fix it, every action in the audit trail. Served on the
//! admin listener (`daemon.admin_listen`) next to `/metrics`. Only this module and the portal
//! know HTTP; the plumbing they share is [`crate::web`]'s, and this module must not import the
//! portal. The rules about what an action may do live in `campaign::state`.
//!
//! # Interfaces
//! ```text
//! /api/v1/…               JSON API (see openapi.json, served at /api/openapi.json)
//! /helpdesk/…             server-rendered pages (no JavaScript), the shared security headers
//! pwresetd helpdesk …     the CLI client (client.rs) for operators' workstations
//! ```
//!
//! # Auth
//! `Authorization: Bearer NAME.SECRET` (tokens, [`tokens`]) or the session cookie of a signed-in
//! operator ([`session`]); operators sign in with their directory password and must be in
//! `helpdesk.operator_group`. 401: no or bad credentials; 403: signed in but not an operator.
//! Sign-ins and uncached token checks are rate-limited per client address, sign-ins also per
//! login. Forms carry a CSRF field ([`crate::web::csrf`]); API POSTs must be
//! `application/json` (which a cross-site form cannot send) and, with a cookie, must not be
//! cross-site by `Sec-Fetch-Site`.
//!
//! Module map: [`config`] the section; [`auth`] who is asking; [`view`] what an operator sees;
//! [`actions`] what they can do; [`progress`] campaign views, chart and CSV; [`api`] and [`web`]
//! the two front ends; [`client`] the CLI's HTTP client.

pub mod actions;
pub mod api;
pub mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod pages;
pub mod payload;
pub mod progress;
pub mod session;
pub mod tokens;
pub mod view;
pub mod web;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;

pub use config::HelpdeskConfig;

use crate::directory::Directory;
use crate::store::{AccountRecord, Store};
use crate::web::client::{Cidr, TrustedProxies};
use crate::web::csrf::Csrf;
use crate::web::headers;
use crate::web::limits::Limiter;
use crate::web::pages::TemplateError;

/// How a new link's mail ended (the daemon implements [`Resender`] with the mailer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resent {
    Sent {
        message_id: String,
    },
    /// Refused for good by the mail server (its reply).
    Refused {
        reply: String,
    },
    /// Not delivered now (transient failure, or the mail server cannot be used).
    NotNow {
        error: String,
    },
    NoAddress,
}

/// Sends an account a new one-time link now. The new link replaces the older ones once it has
/// been delivered.
#[async_trait]
pub trait Resender: Send + Sync {
    async fn resend(&self, account: &AccountRecord) -> Result<Resent, String>;

    /// Since when the mail server is down (the campaign page says so); `None` while it answers.
    fn mail_server_down_since(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        None
    }
}

/// A [`Resender`] for a helpdesk without a mailer (tests, tools): every resend is "not now".
#[derive(Debug, Default)]
pub struct NoMailer;

#[async_trait]
impl Resender for NoMailer {
    async fn resend(&self, _account: &AccountRecord) -> Result<Resent, String> {
        Ok(Resent::NotNow {
            error: "no mailer is configured".into(),
        })
    }
}

/// What the helpdesk is built from; the daemon owns each part.
pub struct HelpdeskParts {
    pub config: HelpdeskConfig,
    pub directory: Arc<dyn Directory>,
    pub store: Store,
    pub resender: Arc<dyn Resender>,
    /// The admin listener's address (the default origin when `helpdesk.public_url` is unset).
    pub admin_listen: SocketAddr,
}

/// The helpdesk could not be set up (before any port is bound).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Tokens(#[from] tokens::TokenError),
    #[error(transparent)]
    Templates(#[from] TemplateError),
    #[error("reading random bytes for the CSRF key: {0}")]
    Randomness(#[from] std::io::Error),
}

#[derive(Clone)]
pub struct HelpdeskState {
    inner: Arc<Inner>,
}

struct Inner {
    config: HelpdeskConfig,
    directory: Arc<dyn Directory>,
    store: Store,
    resender: Arc<dyn Resender>,
    tokens: tokens::Tokens,
    sessions: session::Sessions,
    csrf: Csrf,
    limiter: Limiter,
    pages: pages::Pages,
    in_flight: Mutex<HashSet<i64>>,
}

impl std::fmt::Debug for HelpdeskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelpdeskState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Held while an action on one account row is in flight; frees it when dropped.
pub struct Claim {
    state: HelpdeskState,
    id: i64,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.state.in_flight().remove(&self.id);
    }
}

impl TrustedProxies for HelpdeskState {
    fn trusted_proxies(&self) -> &[Cidr] {
        &self.inner.config.trusted_proxies
    }
}

impl HelpdeskState {
    /// Reads the tokens file, compiles the pages and draws the CSRF key.
    pub fn new(parts: HelpdeskParts) -> Result<HelpdeskState, SetupError> {
        let config = parts.config;
        let origin = match &config.public_url {
            Some(u) => u.origin().ascii_serialization(),
            None => format!("http://{}", parts.admin_listen),
        };
        let scheme = config.scheme();
        Ok(HelpdeskState {
            inner: Arc::new(Inner {
                tokens: tokens::Tokens::load(config.api_tokens_file.as_deref())?,
                sessions: session::Sessions::new(
                    config.session_idle,
                    config.session_max,
                    config.membership_recheck,
                    scheme,
                ),
                csrf: Csrf::new(scheme, origin)?,
                limiter: Limiter::new(&config.login_rate_limit),
                pages: pages::Pages::new()?,
                in_flight: Mutex::new(HashSet::new()),
                config,
                directory: parts.directory,
                store: parts.store,
                resender: parts.resender,
            }),
        })
    }

    pub fn config(&self) -> &HelpdeskConfig {
        &self.inner.config
    }
    pub fn directory(&self) -> &dyn Directory {
        self.inner.directory.as_ref()
    }
    pub fn store(&self) -> &Store {
        &self.inner.store
    }
    pub fn resender(&self) -> &dyn Resender {
        self.inner.resender.as_ref()
    }
    pub(crate) fn tokens(&self) -> &tokens::Tokens {
        &self.inner.tokens
    }
    pub(crate) fn sessions(&self) -> &session::Sessions {
        &self.inner.sessions
    }
    pub(crate) fn csrf(&self) -> &Csrf {
        &self.inner.csrf
    }
    pub(crate) fn limiter(&self) -> &Limiter {
        &self.inner.limiter
    }
    pub(crate) fn pages(&self) -> &pages::Pages {
        &self.inner.pages
    }

    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.inner.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims account row `id` for one action; `None` when another action on it is in flight.
    pub(crate) fn claim(&self, id: i64) -> Option<Claim> {
        self.in_flight().insert(id).then(|| Claim {
            state: self.clone(),
            id,
        })
    }
}

/// A request must finish within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The API and the pages, with the shared security headers on every response. The daemon
/// merges this into the admin listener's router.
pub fn router(state: HelpdeskState) -> Router {
    let scheme = state.config().scheme();
    let routes = api::routes().merge(web::routes()).with_state(state);
    headers::layers(routes, scheme, REQUEST_TIMEOUT)
}
