//! A new one-time link asked for an account: by "send me a new link" (`resend`, anyone who
//! knows a login) or by `/change` for a current password the campaign burnt (`change`). Counted
//! per account (DN) before anything is mailed, so that spellings of one login do not multiply
//! the mails; audited once (`link.requested`, with the client's address and who asked); the
//! mail itself is the notifier's. Must not answer the client: both callers answer alike
//! whatever happens here.

use std::net::IpAddr;

use super::PortalState;
use crate::directory::AccountDetails;
use crate::store::AuditEntry;

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
