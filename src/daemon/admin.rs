//! The admin listener: `/metrics`, `/healthz` (alive), `/readyz` (directory and store answer),
//! and the helpdesk (`/api/v1/…`, `/helpdesk/…`) merged in by the daemon.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::metrics::{self, Metrics};
use crate::directory::Directory;
use crate::store::Store;

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Health {
    pub directory: Arc<dyn Directory>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
}

impl Health {
    /// `Ok` when the directory answers a bound read and the store a query, within 5 s each.
    pub async fn check(&self) -> Result<(), String> {
        let limit = Duration::from_secs(5);
        match tokio::time::timeout(limit, self.directory.ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return self.not_ready(format!("directory: {e}")),
            Err(_) => return self.not_ready("directory: no answer within 5s".into()),
        }
        match tokio::time::timeout(limit, self.store.run(|s| s.campaigns().map(drop))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return self.not_ready(format!("store: {e}")),
            Err(_) => return self.not_ready("store: no answer within 5s".into()),
        }
        self.metrics.ready.set(1);
        Ok(())
    }

    fn not_ready(&self, why: String) -> Result<(), String> {
        self.metrics.ready.set(0);
        Err(why)
    }
}

/// The admin routes, with `helpdesk` (already stateful) merged in; every request counted.
pub fn router(health: Health, helpdesk: Router) -> Router {
    let metrics = health.metrics.clone();
    let router = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(health)
        .merge(helpdesk);
    counted(router, metrics, "admin")
}

/// `router` with every request counted under `listener` ("admin", "portal").
pub fn counted(router: Router, metrics: Arc<Metrics>, listener: &'static str) -> Router {
    router.layer(middleware::from_fn_with_state((metrics, listener), count_requests))
}

async fn metrics_text(State(h): State<Health>) -> Response {
    // `pwresetd_ready` as of this scrape, not of the last /readyz (which nothing may poll).
    let _ = h.check().await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        h.metrics.encode(),
    )
        .into_response()
}

async fn readyz(State(h): State<Health>) -> Response {
    match h.check().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
    }
}

/// Counts requests by listener, matched route (never the raw path: it may hold a token) and
/// status.
pub async fn count_requests(
    State((metrics, listener)): State<(Arc<Metrics>, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let response = next.run(request).await;
    let labels = metrics::Request {
        listener: listener.into(),
        route,
        status: response.status().as_u16().to_string(),
    };
    metrics.requests.get_or_create(&labels).inc();
    response
}
