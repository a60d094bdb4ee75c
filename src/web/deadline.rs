//! The body deadline: a request body not fully received within the listener's body timeout
//! (counted from when the handler first asks for it: the time the server spends before, on a
//! busy store say, is not the client's) ends in an error for whoever reads it, and the
//! request is answered `408 Request Timeout` with `Connection: close` whatever the handler made
//! of the error, so the connection and its slot are freed. Without it a client that sends its
//! headers and then dribbles a body holds a slot until the whole request's deadline (a minute):
//! a few hundred such connections keep everybody else out. Must not read or buffer the body
//! itself: the handlers' own size limits stay in force, and a body that arrives in time is passed
//! on untouched, byte for byte.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, BodyDataStream, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

const TOO_SLOW: &str = "The request took too long to arrive. Please try again.\n";

/// What the reader of a late body gets.
#[derive(Debug, Clone, Copy, thiserror::Error)]
pub enum DeadlineError {
    #[error("the request body was not received in time")]
    TooSlow,
}

/// Runs `request` through `next` with its body bounded by `timeout`; a 408 if it was late.
pub async fn within(timeout: Duration, request: Request, next: Next) -> Response {
    let late = Arc::new(AtomicBool::new(false));
    let request = request.map(|body| {
        Body::from_stream(Deadline {
            data: body.into_data_stream(),
            timeout,
            asked: None,
            sleep: None,
            late: late.clone(),
            done: false,
        })
    });
    let answer = next.run(request).await;
    if !late.load(Ordering::Acquire) {
        return answer;
    }
    let mut late = (
        StatusCode::REQUEST_TIMEOUT,
        [
            (header::CONNECTION, "close"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        TOO_SLOW,
    )
        .into_response();
    copy_security_headers(answer.headers(), late.headers_mut());
    late
}

/// The security headers the handler's answer got from the front end's layers (which this
/// layer sits outside of), so the 408 carries them too; nothing else of it (no cookie).
fn copy_security_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for name in super::headers::SECURITY_HEADERS {
        if let Some(value) = from.get(&name) {
            to.insert(name, value.clone());
        }
    }
    to.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// A body's data, ending in [`DeadlineError::TooSlow`] if it is not all in `timeout` after it
/// was first asked for.
struct Deadline {
    data: BodyDataStream,
    timeout: Duration,
    /// When it was first asked for.
    asked: Option<Instant>,
    /// Made on the first wait: most requests have their body (often none) at once.
    sleep: Option<Pin<Box<Sleep>>>,
    late: Arc<AtomicBool>,
    done: bool,
}

impl Stream for Deadline {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let asked = *self.asked.get_or_insert_with(Instant::now);
        if let Poll::Ready(next) = Pin::new(&mut self.data).poll_next(cx) {
            self.done = next.is_none();
            return Poll::Ready(next);
        }
        let deadline = asked + self.timeout;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.done = true;
        self.late.store(true, Ordering::Release);
        Poll::Ready(Some(Err(axum::Error::new(DeadlineError::TooSlow))))
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::extract::State;
    use axum::routing::post;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn bounded(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
        within(timeout, request, next).await
    }

    async fn read(body: Body) -> (StatusCode, String) {
        match axum::body::to_bytes(body, 1024).await {
            Ok(b) => (StatusCode::OK, format!("got {}", b.len())),
            Err(_) => (StatusCode::PAYLOAD_TOO_LARGE, "unreadable".to_owned()),
        }
    }

    /// Serves routes that read the whole body (up to 1 KB), at once (`/`) or after 1.5 s of
    /// other work (`/later`), with a 1 s body deadline.
    async fn serve() -> std::net::SocketAddr {
        let routes = Router::new().route("/", post(read)).route(
            "/later",
            post(|body: Body| async move {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                read(body).await
            }),
        );
        let app = super::super::headers::layers(routes, super::super::Scheme::Http, Duration::from_secs(60))
            .layer(axum::middleware::from_fn_with_state(Duration::from_secs(1), bounded));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        address
    }

    const HEAD: &[u8] = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n";

    #[tokio::test]
    async fn time_the_server_takes_before_reading_is_not_the_clients() {
        let address = serve().await;
        let mut s = tokio::net::TcpStream::connect(address).await.unwrap();
        // In two pieces: the second waits in the socket for the handler to ask for it.
        s.write_all(b"POST /later HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n01234")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        s.write_all(b"56789").await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(text.starts_with("HTTP/1.1 200") && text.ends_with("got 10"), "{text}");
    }

    #[tokio::test]
    async fn a_body_in_time_passes_and_a_late_one_gets_408_and_a_close() {
        let address = serve().await;
        let mut s = tokio::net::TcpStream::connect(address).await.unwrap();
        s.write_all(HEAD).await.unwrap();
        s.write_all(b"0123456789").await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(text.starts_with("HTTP/1.1 200") && text.ends_with("got 10"), "{text}");

        let mut s = tokio::net::TcpStream::connect(address).await.unwrap();
        s.write_all(HEAD).await.unwrap();
        s.write_all(b"01234").await.unwrap();
        let mut answer = String::new();
        // Read to the end: the server closes the connection after the 408.
        tokio::time::timeout(Duration::from_secs(10), s.read_to_string(&mut answer))
            .await
            .expect("the late body was waited for")
            .unwrap();
        let lower = answer.to_lowercase();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(lower.contains("\r\nconnection: close\r\n"), "{answer}");
        assert!(lower.contains("\r\nx-frame-options: deny\r\n"), "{answer}");
        assert!(answer.ends_with(TOO_SLOW), "{answer}");
    }
}
