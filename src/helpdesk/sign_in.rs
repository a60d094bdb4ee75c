//! Signing in: the operator's entry found by login under `helpdesk.operator_base_dn`, the
//! password checked by a bind that is reserved against the account's lockout budget (shared
//! with the portal, [`crate::web::budget`]), the password's standing ([`super::standing`]: a
//! password the directory or an open campaign says must change is refused, with the way to the
//! portal), then a session. Every outcome is audited; a typed login that matches no account is
//! only ever recorded masked ([`crate::web::mask`]). Rate limits per address and per login are
//! the caller's. Never logs or keeps a password.

use std::net::IpAddr;
use std::time::Duration;

use super::HelpdeskState;
use super::auth::is_operator;
use super::error::ApiError;
use super::session::{Session, SessionError};
use super::standing::{self, MustChange, Observed};
use crate::directory::{AccountDetails, BindCheck};
use crate::secret::Secret;
use crate::store::AuditEntry;
use crate::web::budget::{self, Allowance};
use crate::web::limits::Limited;

/// Failed sign-ins are answered no sooner than this after the request arrived, so that an
/// unknown login and a wrong password look alike.
pub const SIGN_IN_FAILURE_FLOOR: Duration = Duration::from_millis(400);

/// The outcome of a sign-in attempt.
#[derive(Debug)]
pub enum SignIn {
    /// A new session (its `Set-Cookie`); `operator` says whether it may do anything.
    Started {
        cookie: axum::http::HeaderValue,
        login: String,
        operator: bool,
    },
    WrongCredentials,
    /// The password is right, but it must be changed first.
    MustChange(MustChange),
    /// The account's budget of failed binds is spent: no bind was made.
    Limited(Limited),
}

/// Checks `login`/`password` and starts a session.
pub async fn sign_in(
    state: &HelpdeskState,
    login: &str,
    password: &Secret,
    client: IpAddr,
) -> Result<SignIn, ApiError> {
    let dir = state.directory();
    let found = match password.expose().is_empty() {
        // An empty password would be an anonymous bind, which some servers accept.
        true => None,
        false => dir
            .find_operator(login, &state.config().operator_base_dn)
            .await
            .map_err(|e| ApiError::directory_before_sign_in(&e))?,
    };
    let policy = found.as_ref().and_then(|d| d.effective_policy.as_deref());
    let lockout = dir
        .lockout(policy)
        .await
        .map_err(|e| ApiError::directory_before_sign_in(&e))?;
    let key = match &found {
        Some(d) => budget::account_key(&d.account.dn),
        None => budget::login_key(login),
    };
    let allowance = lockout.budget().map(|failures| Allowance {
        failures,
        window: lockout.counting_window(),
    });
    let attempt = match state.budget().reserve(&key, allowance).await {
        Ok(a) => a,
        Err(limited) => {
            refused(state, found.as_ref(), login, client, "helpdesk.sign_in_limited").await;
            return Ok(SignIn::Limited(limited));
        }
    };
    let Some(details) = found else {
        attempt.failed().await;
        refused(state, None, login, client, "helpdesk.sign_in_failed").await;
        return Ok(SignIn::WrongCredentials);
    };
    // An error leaves the attempt unsettled: counted as a failure (the bind may have happened).
    let bind = dir
        .check_password(&details.account.dn, password)
        .await
        .map_err(|e| ApiError::directory_before_sign_in(&e))?;
    if bind == BindCheck::Refused {
        attempt.failed().await;
        refused(state, Some(&details), login, client, "helpdesk.sign_in_failed").await;
        return Ok(SignIn::WrongCredentials);
    }
    attempt.succeeded().await;
    let observed = Observed {
        flagged: details.account.flagged || bind == BindCheck::MustChange,
        password_changed_at: details.password_changed_at,
    };
    let name = canonical_login(&details, login);
    let records = standing::records(state, &name, &details.account.dn).await?;
    if let Some(why) = standing::decide(observed, &records) {
        tracing::info!(login = %name, %client, reason = %why.reason(), "helpdesk: sign-in refused: the password must change first");
        let detail = format!("refused: {}; address={client}", why.reason());
        let actor = format!("helpdesk:{name}");
        state.audit(actor, "helpdesk.sign_in_refused", Some(name), detail).await;
        return Ok(SignIn::MustChange(why));
    }
    start(state, name, details.account.dn, observed, client).await
}

/// The directory's spelling of the login (the typed one may be a UPN, or differ in case).
fn canonical_login(details: &AccountDetails, typed: &str) -> String {
    match details.account.login.as_str() {
        "" => typed.to_owned(),
        login => login.to_owned(),
    }
}

/// Logs and audits a refused sign-in. The login is written as typed only when it is an
/// account's; otherwise masked (people type passwords into login fields).
async fn refused(state: &HelpdeskState, found: Option<&AccountDetails>, typed: &str, client: IpAddr, action: &str) {
    let (login, account) = match found {
        Some(d) => {
            let login = canonical_login(d, typed);
            (login.clone(), Some(login))
        }
        None => (state.masker().mask(typed), None),
    };
    tracing::info!(login = %login, known = account.is_some(), %client, action, "helpdesk: sign-in refused");
    let detail = match action {
        "helpdesk.sign_in_limited" => format!(
            "the account's budget of failed sign-ins is spent (kept below the directory's lockout); address={client}"
        ),
        _ => format!("wrong login or password; address={client}"),
    };
    state.audit(format!("helpdesk:{login}"), action, account, detail).await;
}

/// Starts the session of a person whose password was right and in good standing.
async fn start(
    state: &HelpdeskState,
    login: String,
    dn: String,
    observed: Observed,
    client: IpAddr,
) -> Result<SignIn, ApiError> {
    let operator = is_operator(state, &dn).await?;
    let session = Session {
        login: login.clone(),
        dn,
        operator,
        recheck: false,
        observed,
        standing_due: false,
    };
    let (_, cookie) = state.sessions().create(session).await.map_err(|e| match e {
        SessionError::Store(e) => ApiError::store(&e),
        other => ApiError::internal(&other.to_string()),
    })?;
    let audit = AuditEntry {
        at: chrono::Utc::now(),
        actor: format!("helpdesk:{login}"),
        action: if operator {
            "helpdesk.sign_in"
        } else {
            "helpdesk.sign_in_not_operator"
        }
        .into(),
        campaign: None,
        account: Some(login.clone()),
        detail: Some(format!("address={client}")),
    };
    state
        .store()
        .run(move |s| s.audit(&audit))
        .await
        .map_err(|e| ApiError::store(&e))?;
    tracing::info!(login = %login, operator, %client, "helpdesk: signed in");
    Ok(SignIn::Started {
        cookie,
        login,
        operator,
    })
}
