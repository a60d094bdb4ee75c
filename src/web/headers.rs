//! What every response of both front ends carries, whatever answered it (a handler, a fallback,
//! a rejection, the timeout): `Content-Security-Policy: default-src 'self'; …` (no inline script
//! or style, no plugins, no framing, forms post only to the site), `X-Frame-Options: DENY`,
//! `Cache-Control: no-store` (pages may hold personal data), `Referrer-Policy: no-referrer`
//! (links carry one-time tokens), `X-Content-Type-Options: nosniff`, and HSTS over HTTPS. Also
//! the deadline a request must finish within.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use super::Scheme;

/// No plugins (`object-src`), no `<base>` rewriting, forms post only here, no framing.
pub const CSP: &str =
    "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'";

const FIXED: [(HeaderName, &str); 5] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

/// Every header [`layers`] sets, for an answer made outside them (the body deadline's 408).
pub const SECURITY_HEADERS: [HeaderName; 6] = [
    header::CONTENT_SECURITY_POLICY,
    header::X_FRAME_OPTIONS,
    header::CACHE_CONTROL,
    header::REFERRER_POLICY,
    header::X_CONTENT_TYPE_OPTIONS,
    header::STRICT_TRANSPORT_SECURITY,
];

/// Wraps a front end's routes (state already given): a request that takes longer than `timeout`
/// is answered 503, and every response gets the security headers (HSTS when `scheme` is HTTPS).
pub fn layers(routes: Router, scheme: Scheme, timeout: Duration) -> Router {
    let mut app = routes.layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, timeout));
    for (name, value) in FIXED {
        app = app.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    app.layer(SetResponseHeaderLayer::overriding(
        header::STRICT_TRANSPORT_SECURITY,
        (scheme == Scheme::Https).then(|| HeaderValue::from_static("max-age=31536000")),
    ))
}

#[cfg(test)]
mod tests {
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// The response head for `GET path`, served through [`layers`] on a loopback port.
    async fn head(scheme: Scheme, path: &str) -> String {
        let routes = Router::new().route("/", get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = layers(routes, scheme, Duration::from_secs(5));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response.split("\r\n\r\n").next().unwrap().to_lowercase()
    }

    #[tokio::test]
    async fn every_response_carries_the_headers() {
        for path in ["/", "/missing"] {
            let head = head(Scheme::Http, path).await;
            for (name, value) in FIXED {
                let line = format!("\r\n{name}: {}", value.to_lowercase());
                assert!(head.contains(&line), "{path}: {line:?} in {head}");
            }
            assert!(!head.contains("strict-transport-security"), "{path}");
        }
        let head = head(Scheme::Https, "/").await;
        assert!(
            head.contains("\r\nstrict-transport-security: max-age=31536000"),
            "{head}"
        );
    }
}
