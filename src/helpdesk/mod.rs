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
//! operator ([`session`]); operators sign in with their directory password ([`sign_in`]) and
//! must be in `helpdesk.operator_group`, with a password in good standing ([`standing`]: not
//! flagged by the directory nor by an open campaign, checked again on every request). 401: no
//! or bad credentials; 403: signed in but not an operator. Nobody acts on their own account.
//! Sign-ins are rate-limited per client address and per login, and their failed binds count
//! against the account's lockout budget ([`crate::web::budget`]) shared with the portal; wrong
//! API tokens have their own per-address counter. Forms carry a CSRF field
//! ([`crate::web::csrf`]); API POSTs must be `application/json` (which a cross-site form cannot
//! send) and pass the same fetch-metadata and `Origin` checks. Bodies are read only once the
//! operator is known; a declared body over [`MAX_BODY`] is refused at once. Sign-ins (failed
//! ones too), token use, refused tokens and refused actions are in the audit trail; a typed
//! login that matches no account is recorded masked ([`crate::web::mask`]).
//!
//! Module map: [`config`] the section; [`auth`] who is asking; [`sign_in`] signing in;
//! [`standing`] whose password must change first; [`view`] what an operator sees; [`search`]
//! finding accounts; [`mail_check`] whether a mail is ours; [`actions`]
//! what they can do; [`progress`] campaign views, chart and CSV; [`api`] and [`web`] the two
//! front ends; [`client`] the CLI's HTTP client.

pub mod actions;
pub mod api;
pub mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod mail_check;
pub mod pages;
pub mod payload;
pub mod progress;
pub mod search;
pub mod session;
pub mod sign_in;
pub mod standing;
pub mod tokens;
pub mod view;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;

pub use config::HelpdeskConfig;

use crate::directory::Directory;
use crate::store::{AccountRecord, AuditEntry, Store, StoreError};
use crate::web::budget::Budget;
use crate::web::claims::{self, Claim};
use crate::web::client::{Cidr, TrustedProxies};
use crate::web::csrf::Csrf;
use crate::web::headers;
use crate::web::limits::Limiter;
use crate::web::mask::Masker;
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
    /// The failed password binds per account, shared with the portal.
    pub budget: Arc<Budget>,
    /// The portal, where an operator whose password must change is sent.
    pub portal_url: url::Url,
}

/// The helpdesk could not be set up (before any port is bound).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Tokens(#[from] tokens::TokenError),
    #[error(transparent)]
    Templates(#[from] TemplateError),
    #[error("drawing or reading the CSRF key: {0}")]
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
    /// Sign-ins, per address and per login.
    limiter: Limiter,
    /// Refused API tokens, per address (apart from sign-ins: junk tokens must not lock a
    /// person's sign-in out, nor failed sign-ins a script's token).
    token_limiter: Limiter,
    /// "Is this mail ours?" lookups, per operator.
    lookups: Limiter,
    budget: Arc<Budget>,
    masker: Masker,
    portal_url: url::Url,
    pages: pages::Pages,
}

impl std::fmt::Debug for HelpdeskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelpdeskState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
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
                token_limiter: Limiter::new(&config.login_rate_limit, parts.store.clone(), "helpdesk.token"),
                lookups: Limiter::new(&mail_check::LOOKUPS, parts.store.clone(), "helpdesk.lookup"),
                budget: parts.budget,
                masker: Masker::new()?,
                portal_url: parts.portal_url,
                sessions: session::Sessions::new(
                    parts.store.clone(),
                    config.session_idle,
                    config.session_max,
                    config.membership_recheck,
                    scheme,
                ),
                csrf: Csrf::shared(&parts.store, "csrf.helpdesk", scheme, origin)?,
                limiter: Limiter::new(&config.login_rate_limit, parts.store.clone(), "helpdesk.sign_in"),
                pages: pages::Pages::new()?,
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
    pub(crate) fn token_limiter(&self) -> &Limiter {
        &self.inner.token_limiter
    }
    pub(crate) fn lookups(&self) -> &Limiter {
        &self.inner.lookups
    }
    pub(crate) fn budget(&self) -> &Arc<Budget> {
        &self.inner.budget
    }
    pub(crate) fn masker(&self) -> &Masker {
        &self.inner.masker
    }
    pub fn portal_url(&self) -> &url::Url {
        &self.inner.portal_url
    }
    pub(crate) fn pages(&self) -> &pages::Pages {
        &self.inner.pages
    }

    /// Adds a record to the audit trail for something refused or noticed: a failure to write
    /// it is logged and does not change the answer.
    pub(crate) async fn audit(&self, actor: String, action: &str, account: Option<String>, detail: String) {
        let entry = AuditEntry {
            at: chrono::Utc::now(),
            actor,
            action: action.to_owned(),
            campaign: None,
            account,
            detail: Some(detail),
        };
        if let Err(e) = self.store().run(move |s| s.audit(&entry)).await {
            tracing::error!(error = %e, action, "helpdesk: audit record not written");
        }
    }

    /// Audits the names that came into or went out of the tokens file since the last call.
    pub(crate) async fn audit_token_changes(&self) {
        let changes = self.tokens().take_changes();
        for (names, action) in [
            (changes.added, "helpdesk.token_added"),
            (changes.removed, "helpdesk.token_removed"),
        ] {
            for name in names {
                let detail = format!("helpdesk.api_tokens_file lists token:{name}");
                let detail = if action == "helpdesk.token_added" {
                    detail
                } else {
                    format!("token:{name} is no longer in helpdesk.api_tokens_file")
                };
                self.audit(format!("token:{name}"), action, None, detail).await;
            }
        }
    }

    /// Claims account row `id` for one action (on every instance); `None` when another action
    /// on it is in flight.
    pub(crate) async fn claim(&self, id: i64) -> Result<Option<Claim>, StoreError> {
        claims::claim(&self.inner.store, format!("helpdesk:{id}")).await
    }
}

/// A request must finish within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest request body of the helpdesk (its forms and JSON bodies are small). A larger
/// declared `Content-Length` is answered 413 at once, before the operator is even recognised;
/// a body that grows past it while being read fails the read.
pub const MAX_BODY: usize = 16 * 1024;

/// The API and the pages, with the shared security headers on every response. The daemon
/// merges this into the admin listener's router.
pub fn router(state: HelpdeskState) -> Router {
    let scheme = state.config().scheme();
    let routes = api::routes()
        .merge(web::routes())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_BODY))
        .with_state(state);
    headers::layers(routes, scheme, REQUEST_TIMEOUT)
}
