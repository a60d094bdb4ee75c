//! Who is asking: an API token (`Authorization: Bearer NAME.SECRET`) or the session cookie of a
//! signed-in operator, whose group membership and own password's standing are checked again as
//! the session goes on. 401 when nobody is recognised (or the session's password must change),
//! 403 when a signed-in person is not in the operator group. Never logs a password, a token or a
//! session id.

use std::net::IpAddr;

use axum::http::{HeaderMap, StatusCode, header};

use super::HelpdeskState;
use super::error::ApiError;
use super::session::Session;
use super::standing::{self, MustChange, Observed};
use super::tokens::valid_name;

/// The client address (peer, or `X-Forwarded-For` from a trusted proxy): the shared extractor,
/// named here for the handlers, whose "who is asking" starts with it.
pub use crate::web::client::Client;

/// The code of the 401 that ends a session whose password must change.
pub const MUST_CHANGE: &str = "password_must_change";

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
    /// A signed-in operator's own entry (a token is nobody's account).
    pub dn: Option<String>,
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
    let Some(session) = state.sessions().get(&id).await.map_err(|e| ApiError::store(&e))? else {
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
    in_good_standing(state, &id, &session, client).await?;
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
        dn: Some(session.dn),
    })
}

fn too_many_tokens(retry_after: std::time::Duration) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many refused API tokens from this address; wait and try again",
    );
    e.retry_after = Some(retry_after.as_secs().max(1));
    e
}

/// A bearer token. Refused tokens count against the address's own token limit (not the
/// sign-ins'). A token of the right shape naming a listed token is checked before that limit,
/// so junk sent from the same address cannot lock a valid token out; anything else is counted
/// first, and refused unchecked once the address is over its limit.
async fn token(state: &HelpdeskState, presented: &str, client: IpAddr) -> Result<Operator, ApiError> {
    let tokens = state.tokens();
    let cached = tokens.is_cached(presented);
    let checked_first = cached || tokens.is_plausible(presented);
    if !checked_first {
        state
            .token_limiter()
            .address(client)
            .await
            .map_err(|l| too_many_tokens(l.retry_after))?;
    }
    let verified = tokens.verify(presented).await;
    state.audit_token_changes().await;
    let name = presented.split_once('.').map_or("", |(n, _)| n);
    let actor = format!("token:{}", if valid_name(name) { name } else { "?" });
    let detail = format!("address={client}");
    let Some(name) = verified else {
        tracing::info!(%client, token = %actor, "helpdesk: an API token was refused");
        if checked_first {
            state
                .token_limiter()
                .address(client)
                .await
                .map_err(|l| too_many_tokens(l.retry_after))?;
        }
        state.audit(actor, "helpdesk.token_refused", None, detail).await;
        return Err(ApiError::unauthenticated(
            "invalid_token",
            "this token is not valid (unknown, revoked or mistyped)",
        ));
    };
    if !cached {
        // Verified afresh (at most once a minute per token while in use): its use is recorded.
        state.audit(actor, "helpdesk.token_used", None, detail).await;
    }
    Ok(Operator {
        name,
        credential: Credential::Token,
        dn: None,
    })
}

/// Checks the session's group membership again (`helpdesk.membership_recheck`).
async fn recheck(state: &HelpdeskState, id: &str, mut session: Session) -> Result<Session, ApiError> {
    let operator = is_operator(state, &session.dn).await?;
    state.sessions().checked(id, operator).await;
    if session.operator && !operator {
        tracing::info!(login = %session.login, "helpdesk: no longer in the operator group");
    }
    session.operator = operator;
    Ok(session)
}

/// Ends the session, with a 401 saying why, when its person's password must change now: the
/// store on every request, the directory every few seconds.
async fn in_good_standing(state: &HelpdeskState, id: &str, session: &Session, client: IpAddr) -> Result<(), ApiError> {
    let observed = if session.standing_due {
        let read = state.directory().read(&session.dn).await;
        let observed = match read.map_err(|e| ApiError::directory(&e))? {
            Some(d) => Observed {
                flagged: d.account.flagged,
                password_changed_at: d.password_changed_at,
            },
            // The entry is gone: nobody to be.
            None => Observed {
                flagged: true,
                password_changed_at: None,
            },
        };
        state.sessions().observed(id, observed).await;
        observed
    } else {
        session.observed
    };
    let records = standing::records(state, &session.login, &session.dn).await?;
    let Some(why) = standing::decide(observed, &records) else {
        return Ok(());
    };
    if let Err(e) = state.sessions().end(id).await {
        // The next request finds the same standing and refuses again.
        tracing::warn!(error = %e, "helpdesk: cannot end a session in the store");
    }
    tracing::info!(login = %session.login, reason = %why.reason(), "helpdesk: session ended: the password must change");
    let detail = format!("session ended: {}; address={client}", why.reason());
    let actor = format!("helpdesk:{}", session.login);
    state
        .audit(actor, "helpdesk.session_ended", Some(session.login.clone()), detail)
        .await;
    Err(must_change(&why))
}

/// The 401 for somebody whose own password must change first.
pub fn must_change(why: &MustChange) -> ApiError {
    ApiError::unauthenticated(
        MUST_CHANGE,
        &format!(
            "your own password must be changed before you can use the helpdesk ({}); change it on the \
             password portal, then sign in again",
            why.reason()
        ),
    )
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
