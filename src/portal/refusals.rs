//! Recording the portal's refusals that matter to an investigation: an account's rate limit
//! tripped, its budget of failed password binds spent. One audit record per trip, in the
//! background (the answer and its timing must not wait for it, nor depend on the account). The
//! account is named as the store knows it; a typed login that matches no account in any
//! campaign is recorded masked (people type passwords into login fields). Never a password.

use std::net::IpAddr;

use super::PortalState;
use crate::store::AuditEntry;
use crate::web::limits::Limited;

/// Who a refusal was about.
pub(super) enum About {
    /// An account the directory returned: its login.
    Account(String),
    /// What was typed into the login field.
    Typed(String),
}

/// Records `action` (e.g. `portal.rate_limited`) about `about`, once per trip.
pub(super) fn record(state: &PortalState, about: About, action: &'static str, limited: Limited, client: IpAddr) {
    if !limited.first {
        return;
    }
    let masked = match &about {
        About::Typed(t) => state.masker().mask(t),
        About::Account(_) => String::new(),
    };
    let store = state.store().clone();
    let wait = limited.retry_after.as_secs().max(1);
    tokio::spawn(async move {
        let written = store
            .run(move |s| {
                let account = match about {
                    About::Account(login) => login,
                    About::Typed(typed) => match s.accounts_for(typed.trim(), None)?.into_iter().next() {
                        Some(r) => r.login.unwrap_or(masked),
                        None => masked,
                    },
                };
                s.audit(&AuditEntry {
                    at: chrono::Utc::now(),
                    actor: "portal".into(),
                    action: action.into(),
                    campaign: None,
                    account: Some(account),
                    detail: Some(format!("refused for {wait}s; address={client}")),
                })
            })
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, action, "portal: audit record not written");
        }
    });
}
