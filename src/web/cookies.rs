//! Reading the `Cookie` header and writing `Set-Cookie` for the first-party cookies the front
//! ends use (CSRF, helpdesk session): always `Path=/; HttpOnly; SameSite=Strict`, plus `Secure`
//! over HTTPS. Must not log cookie values: they are credentials.

use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::http::header::InvalidHeaderValue;

use super::Scheme;

/// Every value of cookie `name` in the request's `Cookie` headers (surrounding quotes removed).
pub fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .collect()
}

/// The `Set-Cookie` value that gives the browser cookie `name` = `value` for this session of
/// the browser. Fails only when `value` is not a valid header value.
pub fn set(name: &str, value: &str, scheme: Scheme) -> Result<HeaderValue, InvalidHeaderValue> {
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Strict{}",
        secure(scheme)
    ))
}

/// The `Set-Cookie` value that removes cookie `name`.
pub fn clear(name: &str, scheme: Scheme) -> Result<HeaderValue, InvalidHeaderValue> {
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        secure(scheme)
    ))
}

fn secure(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Http => "",
        Scheme::Https => "; Secure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_and_write() {
        let mut h = HeaderMap::new();
        h.append("cookie", HeaderValue::from_static("a=1; b=\"2\""));
        h.append("cookie", HeaderValue::from_static("a=3;c"));
        assert_eq!(values(&h, "a"), ["1", "3"]);
        assert_eq!(values(&h, "b"), ["2"]);
        assert!(values(&h, "c").is_empty());
        let table = [
            (Scheme::Http, "s=v; Path=/; HttpOnly; SameSite=Strict"),
            (Scheme::Https, "s=v; Path=/; HttpOnly; SameSite=Strict; Secure"),
        ];
        for (scheme, expected) in table {
            assert_eq!(set("s", "v", scheme).unwrap(), expected);
        }
        assert_eq!(
            clear("s", Scheme::Https).unwrap(),
            "s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        );
        assert!(set("s", "a\nb", Scheme::Http).is_err());
    }
}
