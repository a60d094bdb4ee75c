//! The web plumbing both HTTP front ends share, the users' portal and the operators' helpdesk:
//! CSRF ([`csrf`]), rate limits ([`limits`]), the budget of failed password binds per account
//! ([`budget`]), one change per account at a time ([`claims`]), who is asking ([`client`]), typed logins in records ([`mask`]), strict form reading
//! ([`form`]), cookies ([`cookies`]), the security headers every response carries
//! ([`headers`]), the page response with its template environment ([`pages`]) and serving a
//! router with header and body timeouts ([`deadline`]) and a bound on concurrent connections
//! ([`listener`], whose slots and idle connections are [`slots`]).
//!
//! Sits below `portal` and `helpdesk` and must import neither: what a page says, which fields a
//! form has and which routes exist belong to them. Knows HTTP but no domain (no directory or
//! policy); from the rest of the crate it uses only `config` (errors, durations), `token`, and
//! `store` for the state every instance on one store shares (rate limits, the budget, claims,
//! CSRF keys).

pub mod budget;
pub mod claims;
pub mod client;
pub mod cookies;
pub mod csrf;
pub mod deadline;
pub mod form;
pub mod headers;
pub mod limits;
pub mod listener;
pub mod mask;
pub mod pages;
pub mod slots;

/// How browsers reach a front end, from its public URL: over HTTPS, cookies get `Secure` and the
/// `__Host-` prefix, and responses carry HSTS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn of(url: &url::Url) -> Scheme {
        if url.scheme() == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        }
    }

    /// The `__Host-`-prefixed cookie name over HTTPS (so a sibling subdomain cannot plant one),
    /// the plain one otherwise.
    pub fn cookie_name(self, plain: &'static str, host_prefixed: &'static str) -> &'static str {
        match self {
            Scheme::Http => plain,
            Scheme::Https => host_prefixed,
        }
    }
}
