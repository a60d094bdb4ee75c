//! Operators' web sessions: a server-side table in memory, keyed by the SHA-256 of a random
//! 256-bit session id that only the browser's cookie holds.
//!
//! Why server-side rather than an HMAC-signed cookie: signing-out really ends a session, a
//! session can carry a one-shot message across a redirect, an idle timeout needs the last-seen
//! time somewhere, and an operator's group membership can be checked again every few minutes
//! (removal from the group takes effect without waiting for the cookie to expire). The price —
//! sessions do not survive a restart — is one more sign-in. Memory is bounded ([`MAX_SESSIONS`]).
//!
//! A session exists for anybody whose directory password was right and in good standing
//! ([`super::standing`]); `operator` says whether they are in the operator group (a
//! non-operator gets 403, not 401). What the directory said about the person's own password is
//! kept with the session and read again every [`DIRECTORY_RECHECK`]. Must not log session ids.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use super::standing::{DIRECTORY_RECHECK, Observed};
use crate::web::{Scheme, cookies};

/// Sessions kept at most; the least recently used goes first.
pub const MAX_SESSIONS: usize = 10_000;

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

#[derive(Debug)]
struct Entry {
    session: Session,
    created: Instant,
    last_seen: Instant,
    checked: Instant,
    standing_checked: Instant,
    flash: Option<String>,
}

#[derive(Debug)]
pub struct Sessions {
    table: Mutex<HashMap<[u8; 32], Entry>>,
    idle: Duration,
    max: Duration,
    recheck: Duration,
    scheme: Scheme,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub fn new(idle: Duration, max: Duration, recheck: Duration, scheme: Scheme) -> Sessions {
        Sessions {
            table: Mutex::new(HashMap::new()),
            idle,
            max,
            recheck,
            scheme,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        // The table stays consistent whatever panicked while holding it.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
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
    pub fn create(&self, session: Session) -> std::io::Result<(String, HeaderValue)> {
        let mut bytes = [0u8; 32];
        OsRng.try_fill_bytes(&mut bytes).map_err(std::io::Error::other)?;
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let now = Instant::now();
        let mut table = self.lock();
        if table.len() >= MAX_SESSIONS {
            table.retain(|_, e| self.alive(e, now));
            if table.len() >= MAX_SESSIONS {
                let oldest = table.iter().min_by_key(|(_, e)| e.last_seen).map(|(k, _)| *k);
                if let Some(k) = oldest {
                    table.remove(&k);
                }
            }
        }
        table.insert(
            key(&id),
            Entry {
                session,
                created: now,
                last_seen: now,
                checked: now,
                standing_checked: now,
                flash: None,
            },
        );
        // base64url and fixed ASCII only: always a valid header value.
        let value = cookies::set(self.cookie_name(), &id, self.scheme).map_err(std::io::Error::other)?;
        Ok((id, value))
    }

    /// The `Set-Cookie` value that removes the cookie.
    pub fn clearing_cookie(&self) -> HeaderValue {
        cookies::clear(self.cookie_name(), self.scheme).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    fn alive(&self, e: &Entry, now: Instant) -> bool {
        now.duration_since(e.last_seen) < self.idle && now.duration_since(e.created) < self.max
    }

    /// The live session `id` names (and marks it used), or `None`.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut table = self.lock();
        let k = key(id);
        let entry = table.get_mut(&k)?;
        if !self.alive(entry, now) {
            table.remove(&k);
            return None;
        }
        entry.last_seen = now;
        let mut s = entry.session.clone();
        s.recheck = now.duration_since(entry.checked) >= self.recheck;
        s.standing_due = now.duration_since(entry.standing_checked) >= DIRECTORY_RECHECK;
        Some(s)
    }

    /// Records a fresh read of the person's own password's state.
    pub fn observed(&self, id: &str, observed: Observed) {
        if let Some(e) = self.lock().get_mut(&key(id)) {
            e.session.observed = observed;
            e.standing_checked = Instant::now();
        }
    }

    /// Records a fresh membership check.
    pub fn checked(&self, id: &str, operator: bool) {
        if let Some(e) = self.lock().get_mut(&key(id)) {
            e.session.operator = operator;
            e.checked = Instant::now();
        }
    }

    pub fn end(&self, id: &str) {
        self.lock().remove(&key(id));
    }

    /// Leaves a message for the next page of this session.
    pub fn flash(&self, id: &str, message: String) {
        if let Some(e) = self.lock().get_mut(&key(id)) {
            e.flash = Some(message);
        }
    }

    pub fn take_flash(&self, id: &str) -> Option<String> {
        self.lock().get_mut(&key(id)).and_then(|e| e.flash.take())
    }

    #[cfg(test)]
    fn age(&self, id: &str, by: Duration) {
        if let Some(e) = self.lock().get_mut(&key(id)) {
            e.last_seen -= by;
            e.checked -= by;
            e.standing_checked -= by;
        }
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

    #[test]
    fn lifecycle() {
        let s = Sessions::new(
            Duration::from_secs(1800),
            Duration::from_secs(36000),
            Duration::from_secs(300),
            Scheme::Http,
        );
        let (id, cookie) = s.create(session()).unwrap();
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
        assert_eq!(s.get(&id), Some(session()));
        s.flash(&id, "Sent.".into());
        assert_eq!(s.take_flash(&id).as_deref(), Some("Sent."));
        assert_eq!(s.take_flash(&id), None);
        // A few seconds on, the directory is read again; after the recheck interval the
        // session asks for a membership check.
        s.age(&id, DIRECTORY_RECHECK);
        assert!(s.get(&id).unwrap().standing_due);
        s.observed(&id, Observed::default());
        assert!(!s.get(&id).unwrap().standing_due);
        s.age(&id, Duration::from_secs(301));
        assert!(s.get(&id).unwrap().recheck);
        s.checked(&id, false);
        let again = s.get(&id).unwrap();
        assert!(!again.recheck && !again.operator);
        // Idle too long: gone.
        s.age(&id, Duration::from_secs(1801));
        assert_eq!(s.get(&id), None);
        let (id2, _) = s.create(session()).unwrap();
        s.end(&id2);
        assert_eq!(s.get(&id2), None);
        assert_eq!(s.get("not-a-session"), None);
    }

    #[test]
    fn secure_cookies_use_the_host_prefix() {
        let s = Sessions::new(
            Duration::from_secs(60),
            Duration::from_secs(60),
            Duration::from_secs(60),
            Scheme::Https,
        );
        let (_, cookie) = s.create(session()).unwrap();
        let c = cookie.to_str().unwrap();
        assert!(
            c.starts_with("__Host-pwresetd-helpdesk=") && c.ends_with("; Secure"),
            "{c}"
        );
        assert!(s.clearing_cookie().to_str().unwrap().contains("Max-Age=0"));
    }
}
