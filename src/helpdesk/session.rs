//! Operators' web sessions: a server-side table kept in the store (`store::sessions`), keyed by
//! the SHA-256 of a random 256-bit session id that only the browser's cookie holds.
//!
//! Why server-side rather than an HMAC-signed cookie: signing-out really ends a session, a
//! session can carry a one-shot message across a redirect, an idle timeout needs the last-seen
//! time somewhere, and an operator's group membership can be checked again every few minutes
//! (removal from the group takes effect without waiting for the cookie to expire). Why in the
//! store rather than in memory: several `serve` instances behind one load balancer share it (an
//! operator signed in on one is signed in on all, and signing out on one ends it on all), and a
//! restart signs nobody out. Each use is one statement on the blocking pool. The table is
//! bounded ([`MAX_SESSIONS`], the least recently used go first) and expired rows are deleted in
//! batches at each sign-in.
//!
//! A session exists for anybody whose directory password was right and in good standing
//! ([`super::standing`]); `operator` says whether they are in the operator group (a
//! non-operator gets 403, not 401). What the directory said about the person's own password is
//! kept with the session and read again every [`DIRECTORY_RECHECK`]. Must not log or store
//! session ids.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::standing::{DIRECTORY_RECHECK, Observed};
use crate::store::{SessionRow, SessionSpan, Store, StoreError};
use crate::web::limits::now_millis;
use crate::web::{Scheme, cookies};

/// Sessions kept at most; the least recently used goes first.
pub const MAX_SESSIONS: i64 = 10_000;

/// Expired sessions deleted at each sign-in, at most.
const PRUNE_BATCH: i64 = 64;

#[derive(Debug, Error)]
pub enum SessionError {
    #[error("no randomness for a session id: {0}")]
    Randomness(std::io::Error),
    #[error("the session cookie cannot be written: {0}")]
    Cookie(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a request learns about its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub login: String,
    pub dn: String,
    pub operator: bool,
    /// Group membership must be checked again before the session is trusted.
    pub recheck: bool,
    /// What the directory last said about the person's own password…
    pub observed: Observed,
    /// …and whether it must be read again before the session is trusted.
    pub standing_due: bool,
}

pub struct Sessions {
    store: Store,
    span: SessionSpan,
    recheck: Duration,
    scheme: Scheme,
}

/// The session's key in the store: the hex SHA-256 of its id.
fn key(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    pub fn new(store: Store, idle: Duration, max: Duration, recheck: Duration, scheme: Scheme) -> Sessions {
        Sessions {
            store,
            span: SessionSpan {
                idle: millis(idle),
                max: millis(max),
            },
            recheck,
            scheme,
        }
    }

    pub fn cookie_name(&self) -> &'static str {
        self.scheme.cookie_name("pwresetd-helpdesk", "__Host-pwresetd-helpdesk")
    }

    /// The session id the browser sent, when well formed.
    pub fn id_from(&self, headers: &HeaderMap) -> Option<String> {
        cookies::values(headers, self.cookie_name())
            .into_iter()
            .find(|v| crate::token::well_formed(v))
    }

    /// Starts a session; returns its id and the `Set-Cookie` value.
    pub async fn create(&self, session: Session) -> Result<(String, HeaderValue), SessionError> {
        let mut bytes = [0u8; 32];
        OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| SessionError::Randomness(std::io::Error::other(e)))?;
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let now = now_millis();
        let row = SessionRow {
            login: session.login,
            dn: session.dn,
            operator: session.operator,
            flagged: session.observed.flagged,
            password_changed_at: session.observed.password_changed_at,
            standing_checked: now,
            checked: now,
            created: now,
            last_seen: now,
        };
        let (hash, span) = (key(&id), self.span);
        self.store
            .run(move |s| {
                s.prune_sessions(now, PRUNE_BATCH)?;
                s.insert_session(&hash, &row, span, MAX_SESSIONS)
            })
            .await?;
        // base64url and fixed ASCII only: always a valid header value.
        let value =
            cookies::set(self.cookie_name(), &id, self.scheme).map_err(|e| SessionError::Cookie(e.to_string()))?;
        Ok((id, value))
    }

    /// The `Set-Cookie` value that removes the cookie.
    pub fn clearing_cookie(&self) -> HeaderValue {
        cookies::clear(self.cookie_name(), self.scheme).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The live session `id` names (and marks it used), or `None`.
    pub async fn get(&self, id: &str) -> Result<Option<Session>, StoreError> {
        self.get_at(id, now_millis()).await
    }

    async fn get_at(&self, id: &str, now: i64) -> Result<Option<Session>, StoreError> {
        let (hash, span) = (key(id), self.span);
        let Some(row) = self.store.run(move |s| s.touch_session(&hash, now, span)).await? else {
            return Ok(None);
        };
        Ok(Some(Session {
            login: row.login,
            dn: row.dn,
            operator: row.operator,
            recheck: now - row.checked >= millis(self.recheck),
            observed: Observed {
                flagged: row.flagged,
                password_changed_at: row.password_changed_at,
            },
            standing_due: now - row.standing_checked >= millis(DIRECTORY_RECHECK),
        }))
    }

    /// Records a fresh read of the person's own password's state (if it cannot be recorded,
    /// the next request reads the directory again: logged, not an error).
    pub async fn observed(&self, id: &str, observed: Observed) {
        let hash = key(id);
        let done = self
            .store
            .run(move |s| s.session_observed(&hash, observed.flagged, observed.password_changed_at, now_millis()))
            .await;
        log_failure(done, "record a session's standing");
    }

    /// Records a fresh membership check (if it cannot be recorded, the next request checks
    /// again).
    pub async fn checked(&self, id: &str, operator: bool) {
        let hash = key(id);
        let done = self
            .store
            .run(move |s| s.session_checked(&hash, operator, now_millis()))
            .await;
        log_failure(done, "record a membership check");
    }

    pub async fn end(&self, id: &str) -> Result<(), StoreError> {
        let hash = key(id);
        self.store.run(move |s| s.end_session(&hash)).await
    }

    /// Leaves a message for the next page of this session (lost, and logged, if the store
    /// fails: the action it reports was done and audited already).
    pub async fn flash(&self, id: &str, message: String) {
        let hash = key(id);
        let done = self.store.run(move |s| s.set_session_flash(&hash, &message)).await;
        log_failure(done, "leave a session message");
    }

    pub async fn take_flash(&self, id: &str) -> Option<String> {
        let hash = key(id);
        match self.store.run(move |s| s.take_session_flash(&hash)).await {
            Ok(m) => m,
            Err(e) => {
                log_failure(Err(e), "take a session message");
                None
            }
        }
    }
}

fn log_failure(done: Result<(), StoreError>, what: &str) {
    if let Err(e) = done {
        tracing::warn!(error = %e, "helpdesk: cannot {what}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            login: "op1".into(),
            dn: "uid=op1,dc=x".into(),
            operator: true,
            recheck: false,
            observed: Observed::default(),
            standing_due: false,
        }
    }

    fn sessions(store: &Store, scheme: Scheme) -> Sessions {
        Sessions::new(
            store.clone(),
            Duration::from_secs(1800),
            Duration::from_secs(36000),
            Duration::from_secs(300),
            scheme,
        )
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn lifecycle() {
        let (_d, store) = store();
        let s = sessions(&store, Scheme::Http);
        let (id, cookie) = s.create(session()).await.unwrap();
        assert_eq!(
            cookie.to_str().unwrap(),
            format!("pwresetd-helpdesk={id}; Path=/; HttpOnly; SameSite=Strict")
        );
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            HeaderValue::from_str(&format!("a=b; pwresetd-helpdesk={id}")).unwrap(),
        );
        assert_eq!(s.id_from(&h).as_deref(), Some(id.as_str()));
        assert_eq!(s.get(&id).await.unwrap(), Some(session()));
        // Another instance on the same store sees the same session; the id is not stored.
        let other = sessions(&store, Scheme::Http);
        assert_eq!(other.get(&id).await.unwrap(), Some(session()));
        s.flash(&id, "Sent.".into()).await;
        assert_eq!(other.take_flash(&id).await.as_deref(), Some("Sent."));
        assert_eq!(s.take_flash(&id).await, None);
        // A few seconds on, the directory is read again; after the recheck interval the
        // session asks for a membership check.
        let t = now_millis();
        let later = |d: Duration| t + millis(d);
        assert!(
            s.get_at(&id, later(DIRECTORY_RECHECK))
                .await
                .unwrap()
                .unwrap()
                .standing_due
        );
        s.observed(&id, Observed::default()).await;
        assert!(
            !s.get_at(&id, later(DIRECTORY_RECHECK) - 500)
                .await
                .unwrap()
                .unwrap()
                .standing_due
        );
        assert!(
            s.get_at(&id, later(Duration::from_secs(301)))
                .await
                .unwrap()
                .unwrap()
                .recheck
        );
        s.checked(&id, false).await;
        let again = s.get_at(&id, later(Duration::from_secs(299))).await.unwrap().unwrap();
        assert!(!again.recheck && !again.operator);
        // Idle too long: gone.
        assert_eq!(
            s.get_at(&id, later(Duration::from_secs(301 + 1801))).await.unwrap(),
            None
        );
        let (id2, _) = s.create(session()).await.unwrap();
        other.end(&id2).await.unwrap();
        assert_eq!(s.get(&id2).await.unwrap(), None);
        assert_eq!(s.get("not-a-session").await.unwrap(), None);
    }

    #[tokio::test]
    async fn secure_cookies_use_the_host_prefix() {
        let (_d, store) = store();
        let s = sessions(&store, Scheme::Https);
        let (_, cookie) = s.create(session()).await.unwrap();
        let c = cookie.to_str().unwrap();
        assert!(
            c.starts_with("__Host-pwresetd-helpdesk=") && c.ends_with("; Secure"),
            "{c}"
        );
        assert!(s.clearing_cookie().to_str().unwrap().contains("Max-Age=0"));
    }
}
