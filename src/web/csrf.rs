//! Cross-site request forgery protection for every form POST, of the portal and the helpdesk
//! alike (each draws its own key and names its own origin).
//!
//! Design (no JavaScript, no server-side session store):
//! 1. A GET that shows a form gives the browser a random 256-bit *CSRF cookie* (`HttpOnly`,
//!    `SameSite=Strict`, `Path=/`; `Secure` and the `__Host-` prefix when the site is reached
//!    over HTTPS, so a sibling subdomain cannot plant one), unless it already holds one.
//! 2. The form carries a hidden field `csrf` = base64url(HMAC-SHA256(server key, cookie)). The
//!    server key is 256 random bits, drawn once per site and kept in the store
//!    ([`Csrf::shared`]), so that a form shown by one `serve` instance is accepted by any other
//!    on the same store (behind a load balancer) and after a restart. Whoever reads the store
//!    could compute fields, but would still need the victim's `HttpOnly` cookie.
//! 3. A POST is accepted only when the cookie is present and the field equals the HMAC of it
//!    (compared in constant time). A cross-site page can make a browser POST, but it can neither
//!    read the cookie nor compute the HMAC, and `SameSite=Strict` keeps the cookie off
//!    cross-site requests in the first place.
//! 4. Belt and braces: a POST whose `Sec-Fetch-Site` says `cross-site`/`same-site`, or whose
//!    `Origin` is neither the site's own (from its public URL) nor `null`, is refused before
//!    the field is looked at. (`null` must pass: with `Referrer-Policy: no-referrer` browsers
//!    send `Origin: null` on our own form posts.)
//!
//! Must not log cookie, field or key values.

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use sha2::Sha256;

use super::{Scheme, cookies};
use crate::store::Store;

/// Domain separation for the HMAC. Its wording predates the helpdesk; both sites use it, each
/// with its own key.
const CONTEXT: &[u8] = b"pwresetd portal csrf v1\0";
/// A session value: 32 random bytes, unpadded base64url.
const SESSION_LEN: usize = 43;

pub struct Csrf {
    /// Zeroised on drop (a reload builds a new `Csrf` and drops the old key).
    key: zeroize::Zeroizing<[u8; 32]>,
    scheme: Scheme,
    origin: String,
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Csrf")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

/// Why a POST was refused (for logs; the user sees one message for all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    CrossSite,
    ForeignOrigin,
    NoCookie,
    BadField,
}

fn random32() -> std::io::Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    OsRng.try_fill_bytes(&mut bytes).map_err(std::io::Error::other)?;
    Ok(bytes)
}

impl Csrf {
    /// A fresh key. `scheme`: how browsers reach the site; `origin`: its origin.
    pub fn new(scheme: Scheme, origin: String) -> std::io::Result<Csrf> {
        Ok(Csrf {
            key: zeroize::Zeroizing::new(random32()?),
            scheme,
            origin,
        })
    }

    /// The key kept in the store under `name` (drawn now if there is none yet), shared by
    /// every instance on that store. `scheme`, `origin`: as for [`Csrf::new`].
    pub fn shared(store: &Store, name: &str, scheme: Scheme, origin: String) -> std::io::Result<Csrf> {
        let fresh = URL_SAFE_NO_PAD.encode(random32()?);
        // Called while the services are built, inside the runtime: PostgreSQL's client must
        // not block a runtime thread, hence `run_blocking`.
        let kept = zeroize::Zeroizing::new(
            store
                .run_blocking(|s| s.shared_secret(name, &fresh))
                .map_err(|e| std::io::Error::other(e.to_string()))?,
        );
        let mut key = zeroize::Zeroizing::new([0u8; 32]);
        match URL_SAFE_NO_PAD.decode(kept.as_bytes()).map(zeroize::Zeroizing::new) {
            Ok(bytes) if bytes.len() == 32 => key.copy_from_slice(&bytes),
            _ => return Err(std::io::Error::other(format!("the store's key {name} is malformed"))),
        }
        Ok(Csrf { key, scheme, origin })
    }

    pub fn cookie_name(&self) -> &'static str {
        self.scheme.cookie_name("pwresetd-csrf", "__Host-pwresetd-csrf")
    }

    /// The browser's session value, when it sent a well-formed one.
    pub fn session(&self, headers: &HeaderMap) -> Option<String> {
        cookies::values(headers, self.cookie_name())
            .into_iter()
            .find(|v| v.len() == SESSION_LEN && crate::token::well_formed(v))
    }

    /// The session to use for a form page, and the `Set-Cookie` to send when it is new.
    pub fn session_for_page(&self, headers: &HeaderMap) -> std::io::Result<(String, Option<HeaderValue>)> {
        if let Some(existing) = self.session(headers) {
            return Ok((existing, None));
        }
        let session = URL_SAFE_NO_PAD.encode(random32()?);
        // Only base64url and fixed ASCII: always a valid header value.
        let value = cookies::set(self.cookie_name(), &session, self.scheme).map_err(std::io::Error::other)?;
        Ok((session, Some(value)))
    }

    fn mac(&self, session: &str) -> Hmac<Sha256> {
        // HMAC accepts keys of any length: new_from_slice cannot fail here.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_slice()).unwrap_or_else(|_| unreachable!());
        mac.update(CONTEXT);
        mac.update(session.as_bytes());
        mac
    }

    /// The hidden field value for `session`.
    pub fn field(&self, session: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(session).finalize().into_bytes())
    }

    /// The fetch-metadata and origin half of [`verify`](Csrf::verify), alone: what a JSON
    /// API's POST must pass (its body, which a cross-site form cannot send, replaces the field).
    /// Clients that send neither header (scripts, the CLI) pass.
    pub fn same_site(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if matches!(header("sec-fetch-site"), Some("cross-site" | "same-site")) {
            return Err(Refusal::CrossSite);
        }
        if let Some(origin) = header("origin").or(headers.get("origin").map(|_| "")) {
            if origin != "null" && !origin.eq_ignore_ascii_case(&self.origin) {
                return Err(Refusal::ForeignOrigin);
            }
        }
        Ok(())
    }

    /// Checks a POST: fetch metadata, origin, cookie and field.
    pub fn verify(&self, headers: &HeaderMap, field: Option<&str>) -> Result<(), Refusal> {
        self.same_site(headers)?;
        let session = self.session(headers).ok_or(Refusal::NoCookie)?;
        let given = field
            .and_then(|f| URL_SAFE_NO_PAD.decode(f.as_bytes()).ok())
            .ok_or(Refusal::BadField)?;
        self.mac(&session).verify_slice(&given).map_err(|_| Refusal::BadField)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn page_sets_a_cookie_once_and_post_round_trips() {
        let csrf = Csrf::new(Scheme::Http, "http://127.0.0.1:8080".into()).unwrap();
        let (session, cookie) = csrf.session_for_page(&HeaderMap::new()).unwrap();
        let cookie = cookie.unwrap().to_str().unwrap().to_owned();
        assert_eq!(
            cookie,
            format!("pwresetd-csrf={session}; Path=/; HttpOnly; SameSite=Strict")
        );
        let jar = format!("other=1; pwresetd-csrf={session}");
        let h = headers(&[("cookie", &jar)]);
        let (again, none) = csrf.session_for_page(&h).unwrap();
        assert_eq!((again.as_str(), none), (session.as_str(), None));
        let field = csrf.field(&session);
        assert_eq!(csrf.verify(&h, Some(&field)), Ok(()));
        let h = headers(&[("cookie", &jar), ("origin", "null"), ("sec-fetch-site", "same-origin")]);
        assert_eq!(csrf.verify(&h, Some(&field)), Ok(()));
        let h = headers(&[("cookie", &jar), ("origin", "http://127.0.0.1:8080")]);
        assert_eq!(csrf.verify(&h, Some(&field)), Ok(()));
    }

    #[test]
    fn instances_on_one_store_share_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("state.db")).unwrap();
        let origin = || "http://127.0.0.1:8080".to_owned();
        let a = Csrf::shared(&store, "csrf.portal", Scheme::Http, origin()).unwrap();
        let b = Csrf::shared(&store, "csrf.portal", Scheme::Http, origin()).unwrap();
        let other = Csrf::shared(&store, "csrf.helpdesk", Scheme::Http, origin()).unwrap();
        let (session, _) = a.session_for_page(&HeaderMap::new()).unwrap();
        let h = headers(&[("cookie", &format!("pwresetd-csrf={session}"))]);
        assert_eq!(b.verify(&h, Some(&a.field(&session))), Ok(()));
        assert_eq!(other.verify(&h, Some(&a.field(&session))), Err(Refusal::BadField));
    }

    #[test]
    fn refusals() {
        let csrf = Csrf::new(Scheme::Https, "https://pw.example.org".into()).unwrap();
        let (session, cookie) = csrf.session_for_page(&HeaderMap::new()).unwrap();
        assert!(cookie.unwrap().to_str().unwrap().ends_with("; Secure"));
        let jar = format!("__Host-pwresetd-csrf={session}");
        let field = csrf.field(&session);
        let other = Csrf::new(Scheme::Https, "https://pw.example.org".into()).unwrap();
        type Case<'a> = (Vec<(&'a str, &'a str)>, Option<String>, Result<(), Refusal>);
        let table: Vec<Case> = vec![
            (vec![("cookie", &jar)], Some(field.clone()), Ok(())),
            (vec![], Some(field.clone()), Err(Refusal::NoCookie)),
            (
                vec![("cookie", "__Host-pwresetd-csrf=short")],
                Some(field.clone()),
                Err(Refusal::NoCookie),
            ),
            (vec![("cookie", &jar)], None, Err(Refusal::BadField)),
            (vec![("cookie", &jar)], Some("!!".into()), Err(Refusal::BadField)),
            (
                vec![("cookie", &jar)],
                Some(other.field(&session)),
                Err(Refusal::BadField),
            ),
            (
                vec![("cookie", &jar)],
                Some(field[1..].to_owned()),
                Err(Refusal::BadField),
            ),
            (
                vec![("cookie", &jar), ("sec-fetch-site", "cross-site")],
                Some(field.clone()),
                Err(Refusal::CrossSite),
            ),
            (
                vec![("cookie", &jar), ("origin", "https://evil.example")],
                Some(field.clone()),
                Err(Refusal::ForeignOrigin),
            ),
        ];
        for (h, f, expected) in table {
            assert_eq!(csrf.verify(&headers(&h), f.as_deref()), expected, "{h:?} {f:?}");
        }
        // The plain-HTTP cookie name is not accepted by an HTTPS site.
        let plain = format!("pwresetd-csrf={session}");
        assert_eq!(
            csrf.verify(&headers(&[("cookie", &plain)]), Some(&field)),
            Err(Refusal::NoCookie)
        );
    }
}
