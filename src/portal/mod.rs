//! The self-service portal: users set a new password through a one-time link or with their
//! current password. Only this module and the helpdesk know HTTP; the plumbing they share (CSRF,
//! rate limits, client address, form reading, cookies, security headers, page responses) is
//! [`crate::web`]'s, and this module must not import the helpdesk.
//!
//! # API
//! ```text
//! PortalState::new(PortalParts { config, directory, store, policy, notifier }) -> Result<_, SetupError>
//!     compiles the pages, reads the TLS files, draws the CSRF key: call before binding
//! router(state) -> axum::Router       every route, with the security headers and limits
//! serve(state, listener, shutdown)    HTTP or HTTPS (portal.tls_*) until `shutdown` resolves,
//!                                     then drains for up to 10 s
//! serve_with(state, wrap, …)          the same with `wrap` around the router (the daemon's
//!                                     request metrics)
//! ChangeNotifier                      what the daemon implements with the mailer
//! RecordingNotifier, LogNotifier      test double, stand-in
//! ```
//!
//! # Routes
//! `GET /` (landing page), `GET|POST /reset/{token}` and `POST /resend` (link flows),
//! `GET|POST /change` (current-password flow), `GET /static/portal.css`, `GET /healthz`.
//! `portal.auth` decides which forms exist (`/resend`, `/change`); a closed one answers 404.
//! The link's page is open in every mode: `/change` answers a burnt current password with a
//! mailed link (see [`change`]).
//!
//! Every page is in the request's language (see [`lang`]): English or French as built in.
//! Every response carries the security headers of [`crate::web::headers`] (HSTS when
//! `public_url` is https). CSRF: see [`crate::web::csrf`]. Rate limits: see
//! [`crate::web::limits`]. Flows and their guarantees: see [`change`].

mod answers;
mod binds;
pub mod change;
mod commit;
pub mod config;
pub mod form;
mod form_view;
mod handlers;
mod in_flight;
pub mod lang;
mod links;
mod new_link;
pub mod notifier;
mod outcome;
pub mod pages;
mod refusals;
mod resend;
mod state;
pub mod tls;
mod unconfirmed;
pub mod wording;

use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};

pub use config::{Auth, PortalConfig};
pub use notifier::{Call, ChangeNotifier, LogNotifier, RecordingNotifier};
pub use state::{PortalParts, PortalState, SetupError};

use crate::web::headers;
use crate::web::listener::Bounds;

/// A request (headers, body, flow) must finish within this; the change itself runs detached
/// and is not cut short (see `handlers::detached`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed to send the request headers (slow-loris clients are dropped); also how long an
/// idle connection is kept.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed to send the request body once the portal reads it (right after the headers, bar
/// a rate-limit check). A portal form is well under 1 KB (16 KB at most): even a phone on a bad
/// 2G link (a few KB/s) sends it in a second or two, and 10 s leave room for a few TCP
/// retransmissions on a lossy link; a client slower than that is either broken or holding the
/// connection on purpose (see `crate::web::deadline`).
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `serve` lets open requests finish after `shutdown`.
const DRAIN: Duration = Duration::from_secs(10);

/// Every route of the portal, with the security headers on every response.
pub fn router(state: PortalState) -> Router {
    let auth = state.config().auth;
    let scheme = state.config().scheme();
    let mut routes = Router::new()
        .route("/", get(handlers::index))
        .route("/healthz", get(handlers::healthz))
        .route("/static/portal.css", get(handlers::css));
    // Every mode serves the links pwresetd mails (in `current_password` too: `/change` answers a
    // burnt current password with one).
    routes = routes.route("/reset/{token}", get(handlers::reset_form).post(handlers::reset_submit));
    if auth.link_open() {
        routes = routes.route("/resend", post(resend::resend));
    }
    if auth.change_open() {
        routes = routes.route("/change", get(handlers::change_form).post(handlers::change_submit));
    }
    let routes = routes
        .fallback(handlers::not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn(lang::middleware));
    headers::layers(routes, scheme, REQUEST_TIMEOUT)
}

/// Serves the portal on `listener` (HTTPS when the state holds a TLS configuration) until
/// `shutdown` resolves, then lets open requests finish for up to 10 s.
pub async fn serve(
    state: PortalState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(state, std::convert::identity, listener, shutdown).await
}

/// [`serve`] with `wrap` applied to the router: the daemon counts requests with it.
pub async fn serve_with(
    state: PortalState,
    wrap: impl FnOnce(Router) -> Router,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let bounds = Bounds {
        name: "portal",
        max_connections: state.config().max_connections,
        max_connections_per_client: state.config().max_connections_per_client,
        trusted_proxies: state.config().trusted_proxies.clone(),
        header_timeout: HEADER_TIMEOUT,
        body_timeout: BODY_TIMEOUT,
        drain: DRAIN,
    };
    let tls = state.tls();
    crate::web::listener::serve(wrap(router(state)), listener, bounds, tls, shutdown).await
}
