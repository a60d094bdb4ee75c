//! "Send me a new link" (`POST /resend`): anyone who knows a login may ask, so the answer is
//! the same page at once whatever the login, and the lookup, the audit and the mail run in the
//! background. Counted per client address and per typed login at the form (`handlers`), and
//! per account (DN) before a mail goes out, so that spellings of one login do not multiply the
//! mails. A new link leaves the older ones valid (the person may be using one). `/change` sends
//! through [`new_link`] too, for a current password the campaign burnt (see `change`).

use std::net::IpAddr;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::PortalState;
use super::handlers::admitted_login;
use crate::directory::AccountDetails;
use crate::store::AuditEntry;
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

/// Who asked for a new link (the audit says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Asked {
    /// "Send me a new link" (anyone who knows the login).
    Resend,
    /// `/change`, with the current password, which the campaign burnt (see `change`).
    BurntCurrentPassword,
}

/// Asks the notifier for a new link for the account of `details` when it has an open campaign,
/// within the per-account limit; audits the request.
pub(super) async fn new_link(state: &PortalState, details: &AccountDetails, client: IpAddr, asked: Asked) {
    let (canonical, dn) = (details.account.login.clone(), details.account.dn.clone());
    // The form counted the login as typed; spellings the directory takes for one account (a
    // UPN and a sAMAccountName, ...) are counted once here, by DN, so that nobody fills a
    // mailbox by varying the login. Unseen by the client: the answer was the same already.
    if state.limiter().account(&format!("dn:{dn}")).await.is_err() {
        tracing::info!(dn = %dn, "portal: new-link request: the account had its new links for this window; none sent");
        return;
    }
    let detail = match asked {
        Asked::Resend => format!("address={client}"),
        Asked::BurntCurrentPassword => format!("address={client} via=/change: the current password is the burnt one"),
    };
    let key = canonical.clone();
    let recorded = state
        .store()
        .run(move |s| {
            let open: Vec<_> = s
                .open_accounts_for_login(&key)?
                .into_iter()
                .filter(|r| r.dn.eq_ignore_ascii_case(&dn))
                .collect();
            for record in &open {
                s.audit(&AuditEntry {
                    at: chrono::Utc::now(),
                    actor: "portal".into(),
                    action: "link.requested".into(),
                    campaign: Some(record.campaign.clone()),
                    account: Some(key.clone()),
                    detail: Some(detail.clone()),
                })?;
            }
            Ok(!open.is_empty())
        })
        .await;
    match recorded {
        Ok(true) => state.notifier().link_requested(&canonical).await,
        Ok(false) => {}
        Err(e) => tracing::error!(error = %e, "portal: new-link request: store failed"),
    }
}
