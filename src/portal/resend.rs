//! "Send me a new link" (`POST /resend`): anyone who knows a login may ask, so the answer is
//! the same page at once whatever the login, and the lookup, the audit and the mail run in the
//! background. Counted per client address and per typed login at the form (`handlers`), and
//! per account (DN) before a mail goes out, so that spellings of one login do not multiply the
//! mails (`new_link`, which `/change` uses too). A new link leaves the older ones valid (the
//! person may be using one).

use std::net::IpAddr;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::PortalState;
use super::handlers::admitted_login;
use super::new_link::{Asked, new_link};
use crate::web::client::Client;
use crate::web::form;

pub async fn resend(
    State(state): State<PortalState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let login = match admitted_login(&state, client, &headers, body).await {
        Ok((_, login)) => login,
        Err(response) => return response,
    };
    if form::check_value(&login).is_ok() {
        // In the background: the answer and its timing must not depend on the account.
        tokio::spawn(request_link(state.clone(), login, client));
    }
    state.pages().resent().into_response()
}

/// Looks `login` up and, when it names an account, [`new_link`] for it.
async fn request_link(state: PortalState, login: String, client: IpAddr) {
    match state.directory().find_by_login(&login).await {
        Ok(Some(details)) => new_link(&state, &details, client, Asked::Resend).await,
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "portal: new-link request: login lookup failed"),
    }
}
