//! Who is asking: an API token (`Authorization: Bearer NAME.SECRET`) or the session cookie of a
//! signed-in operator; and signing in. 401 when nobody is recognised, 403 when a signed-in
//! person is not in the operator group. Never logs a password, a token or a session id.

use std::net::IpAddr;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};

use super::HelpdeskState;
use super::error::ApiError;
use super::session::Session;
use crate::secret::Secret;
use crate::store::AuditEntry;

/// The client address (peer, or `X-Forwarded-For` from a trusted proxy): the shared extractor,
/// named here for the handlers, whose "who is asking" starts with it.
pub use crate::web::client::Client;

/// Failed sign-ins are answered no sooner than this after the request arrived, so that an
/// unknown login and a wrong password look alike.
pub const SIGN_IN_FAILURE_FLOOR: Duration = Duration::from_millis(400);

/// How the operator proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Token,
    /// The session id (to leave messages in it, or end it).
    Session(String),
}

/// A recognised operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The operator's login, or the token's name.
    pub name: String,
    pub credential: Credential,
}

impl Operator {
    /// The actor recorded in the audit trail: `helpdesk:LOGIN` or `token:NAME`.
    pub fn actor(&self) -> String {
        match self.credential {
            Credential::Token => format!("token:{}", self.name),
            Credential::Session(_) => format!("helpdesk:{}", self.name),
        }
    }
}

/// Recognises the operator behind a request.
pub async fn operator(state: &HelpdeskState, headers: &HeaderMap, client: IpAddr) -> Result<Operator, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let presented = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "invalid_token",
                    "use the header Authorization: Bearer NAME.SECRET with a token from `pwresetd helpdesk token create`",
                )
            })?;
        return token(state, presented, client).await;
    }
    let Some(id) = state.sessions().id_from(headers) else {
        return Err(ApiError::unauthenticated(
            "unauthenticated",
            "sign in at /helpdesk/login, or send Authorization: Bearer NAME.SECRET",
        ));
    };
    let Some(session) = state.sessions().get(&id) else {
        return Err(ApiError::unauthenticated(
            "session_expired",
            "the session has ended; sign in again at /helpdesk/login",
        ));
    };
    let session = if session.recheck {
        recheck(state, &id, session).await?
    } else {
        session
    };
    if !session.operator {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_an_operator",
            format!("{} is not a member of the helpdesk operator group", session.login),
        ));
    }
    Ok(Operator {
        name: session.login,
        credential: Credential::Session(id),
    })
}

async fn token(state: &HelpdeskState, presented: &str, client: IpAddr) -> Result<Operator, ApiError> {
    // Uncached checks cost an argon2 verification: they count against the address's limit.
    if !state.tokens().is_cached(presented) {
        if let Err(l) = state.limiter().address(client) {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many authentication attempts from this address; wait and try again",
            );
            e.retry_after = Some(l.retry_after.as_secs().max(1));
            return Err(e);
        }
    }
    match state.tokens().verify(presented).await {
        Some(name) => Ok(Operator {
            name,
            credential: Credential::Token,
        }),
        None => {
            tracing::info!(%client, "helpdesk: an API token was refused");
            Err(ApiError::unauthenticated(
                "invalid_token",
                "this token is not valid (unknown, revoked or mistyped)",
            ))
        }
    }
}

/// Checks the session's group membership again (`helpdesk.membership_recheck`).
async fn recheck(state: &HelpdeskState, id: &str, mut session: Session) -> Result<Session, ApiError> {
    let operator = is_operator(state, &session.dn).await?;
    state.sessions().checked(id, operator);
    if session.operator && !operator {
        tracing::info!(login = %session.login, "helpdesk: no longer in the operator group");
    }
    session.operator = operator;
    Ok(session)
}

/// Whether `dn` is in `helpdesk.operator_group` (false when no group is configured).
pub async fn is_operator(state: &HelpdeskState, dn: &str) -> Result<bool, ApiError> {
    let Some(group) = &state.config().operator_group else {
        return Ok(false);
    };
    state
        .directory()
        .is_member(dn, group)
        .await
        .map_err(|e| ApiError::directory(&e))
}

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
}

/// Checks `login`/`password` against the directory under `helpdesk.operator_base_dn` and
/// starts a session. Rate limits are the caller's (per address and per login).
pub async fn sign_in(
    state: &HelpdeskState,
    login: &str,
    password: &Secret,
    client: IpAddr,
) -> Result<SignIn, ApiError> {
    let base = &state.config().operator_base_dn;
    let dn = match state.directory().authenticate(login, password, base).await {
        Ok(Some(dn)) => dn,
        Ok(None) => {
            tracing::info!(login, %client, "helpdesk: sign-in refused");
            return Ok(SignIn::WrongCredentials);
        }
        Err(e) => return Err(ApiError::directory(&e)),
    };
    let operator = is_operator(state, &dn).await?;
    let session = Session {
        login: login.to_owned(),
        dn,
        operator,
        recheck: false,
    };
    let (_, cookie) = state
        .sessions()
        .create(session)
        .map_err(|e| ApiError::internal(&format!("no randomness for a session id: {e}")))?;
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
        account: None,
        detail: Some(format!("address={client}")),
    };
    state
        .store()
        .run(move |s| s.audit(&audit))
        .await
        .map_err(|e| ApiError::store(&e))?;
    tracing::info!(login, operator, %client, "helpdesk: signed in");
    Ok(SignIn::Started {
        cookie,
        login: login.to_owned(),
        operator,
    })
}
