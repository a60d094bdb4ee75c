//! The JSON API under `/api/v1/`, documented in `openapi.json` (served at `/api/openapi.json`;
//! a test checks the running server against it). Every route is listed once, in
//! [`route_table`], which both builds the router and is what the spec is compared with.
//! Errors are `{"code", "message"}` (see [`super::error`]).

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use serde::Deserialize;

use super::actions::{self, Action, Request};
use super::auth::{self, Client, Operator};
use super::error::ApiError;
use super::{HelpdeskState, MAX_BODY};
use super::{mail_check, search, view};

mod campaigns;
pub use campaigns::LIST_MAX;
use campaigns::{audit, campaign, campaign_progress, campaigns, list};
pub(crate) use campaigns::{campaign_data, csv_response, list_rows};

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Every API route: (method, path, handler). The router and the spec test both read it.
pub fn route_table() -> Vec<(&'static str, &'static str, MethodRouter<HelpdeskState>)> {
    vec![
        ("GET", "/api/v1/accounts", get(search)),
        ("GET", "/api/v1/accounts/{login}", get(account)),
        ("POST", "/api/v1/accounts/{login}/resend", post(resend)),
        ("POST", "/api/v1/accounts/{login}/exempt", post(exempt)),
        ("POST", "/api/v1/accounts/{login}/extend", post(extend)),
        ("POST", "/api/v1/accounts/{login}/mark", post(mark)),
        ("POST", "/api/v1/accounts/{login}/unlock", post(unlock)),
        ("POST", "/api/v1/mails/check", post(check_mail)),
        ("GET", "/api/v1/campaigns", get(campaigns)),
        ("GET", "/api/v1/campaigns/{name}", get(campaign)),
        ("GET", "/api/v1/campaigns/{name}/progress", get(campaign_progress)),
        ("GET", "/api/v1/campaigns/{name}/lists/{list}", get(list)),
        ("GET", "/api/v1/audit", get(audit)),
    ]
}

pub fn routes() -> Router<HelpdeskState> {
    let mut router = Router::new();
    for (_, path, handler) in route_table() {
        router = router.route(path, handler);
    }
    router
        .route("/api/v1", any(not_found))
        .route("/api/v1/", any(not_found))
        .route("/api/v1/{*rest}", any(not_found))
        .route("/api/openapi.json", get(openapi))
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such API path; see /api/openapi.json")
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        OPENAPI,
    )
        .into_response()
}

/// A path segment that could not be decoded.
fn bad_path(e: &PathRejection) -> ApiError {
    ApiError::bad_request("invalid_path", format!("the path could not be read: {e}"))
}

async fn who(state: &HelpdeskState, headers: &HeaderMap, client: Client) -> Result<Operator, ApiError> {
    auth::operator(state, headers, client.0).await
}

#[derive(Deserialize)]
struct SearchQuery {
    query: String,
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn search(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<search::SearchResult>, ApiError> {
    who(&state, &headers, client).await?;
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(
            "invalid_query",
            format!("give ?query=TEXT (3 characters or more), optionally &offset=N&limit=N: {e}"),
        )
    })?;
    Ok(Json(search::search(&state, &q.query, q.offset, q.limit).await?))
}

async fn account(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    login: Result<Path<String>, PathRejection>,
) -> Result<Json<view::AccountView>, ApiError> {
    who(&state, &headers, client).await?;
    let Path(login) = login.map_err(|e| bad_path(&e))?;
    Ok(Json(view::account(&state, &login).await?))
}

/// The body of a mail check: the pasted Message-ID, link or reference code. A POST, so that a
/// pasted link's token never sits in a URL (access logs, history).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    text: String,
}

async fn check_mail(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    raw: Body,
) -> Result<Json<mail_check::MailCheck>, ApiError> {
    let operator = who(&state, &headers, client).await?;
    admit_post(&state, &headers)?;
    let bytes = axum::body::to_bytes(raw, MAX_BODY).await.map_err(|_| too_large())?;
    let body: CheckBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("send {{\"text\": \"<Message-ID, link or reference code>\"}}: {e}"),
        )
    })?;
    Ok(Json(mail_check::check(&state, &operator, &body.text).await?))
}

/// The body of an action. Unknown fields are refused (a typo must not be ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    campaign: Option<String>,
    reason: Option<String>,
    deadline: Option<String>,
}

/// The checks every API POST passes once the operator is known, before its body is read:
/// `application/json` (which a cross-site form cannot send, even with an empty body) and, like
/// the web forms, no cross-site fetch metadata and no foreign `Origin`.
fn admit_post(state: &HelpdeskState, headers: &HeaderMap) -> Result<(), ApiError> {
    if !crate::web::form::has_media_type(headers, "application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the request as Content-Type: application/json (an empty body is {})",
        ));
    }
    state.csrf().same_site(headers).map_err(|refusal| {
        tracing::info!(?refusal, "helpdesk: a cross-site API request was refused");
        ApiError::new(StatusCode::FORBIDDEN, "cross_site", "cross-site requests are refused")
    })
}

/// Reads an action's JSON body (at most 16 KiB; the admin listener already refused a larger
/// `Content-Length`); an empty body is `{}`.
async fn read_body(headers: &HeaderMap, raw: Body) -> Result<ActionBody, ApiError> {
    let bytes = axum::body::to_bytes(raw, MAX_BODY).await.map_err(|_| too_large())?;
    body(headers, &bytes)
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "the body is larger than 16 KiB",
    )
}

/// Parses an action's JSON body: `application/json`, at most 16 KiB; an empty body is `{}`.
/// Public for the fuzz target (`fuzz/fuzz_targets/helpdesk_body.rs`); [`admit_post`] has
/// already checked the content type of a request.
pub fn body(headers: &HeaderMap, bytes: &Bytes) -> Result<ActionBody, ApiError> {
    if bytes.is_empty() {
        return Ok(ActionBody::default());
    }
    if !crate::web::form::has_media_type(headers, "application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the request as Content-Type: application/json (an empty body is {})",
        ));
    }
    if bytes.len() > MAX_BODY {
        return Err(too_large());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("the JSON body is not valid: {e}")))
}

/// The common part of the actions: who is asking, then the POST's checks, and only then
/// the body.
async fn act(
    state: HelpdeskState,
    client: Client,
    headers: HeaderMap,
    login: Result<Path<String>, PathRejection>,
    raw: Body,
    make: impl FnOnce(&ActionBody) -> Result<Action, ApiError>,
) -> Result<Json<actions::Done>, ApiError> {
    let operator = who(&state, &headers, client).await?;
    admit_post(&state, &headers)?;
    let Path(login) = login.map_err(|e| bad_path(&e))?;
    let b = read_body(&headers, raw).await?;
    let action = make(&b)?;
    let request = Request {
        action,
        campaign: b.campaign,
        reason: b.reason,
    };
    Ok(Json(actions::perform(&state, &operator, &login, request).await?))
}

fn no_deadline(b: &ActionBody, action: Action) -> Result<Action, ApiError> {
    match b.deadline {
        Some(_) => Err(ApiError::bad_request(
            "invalid_body",
            "\"deadline\" only goes with the extend action",
        )),
        None => Ok(action),
    }
}

async fn resend(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    login: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Json<actions::Done>, ApiError> {
    act(state, client, headers, login, body, |b| no_deadline(b, Action::Resend)).await
}

async fn exempt(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    login: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Json<actions::Done>, ApiError> {
    act(state, client, headers, login, body, |b| no_deadline(b, Action::Exempt)).await
}

async fn mark(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    login: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Json<actions::Done>, ApiError> {
    act(state, client, headers, login, body, |b| no_deadline(b, Action::Mark)).await
}

async fn unlock(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    login: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Json<actions::Done>, ApiError> {
    act(state, client, headers, login, body, |b| no_deadline(b, Action::Unlock)).await
}

async fn extend(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    login: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Json<actions::Done>, ApiError> {
    act(state, client, headers, login, body, |b| match &b.deadline {
        Some(d) => actions::parse_deadline(d).map(Action::Extend),
        None => Err(ApiError::bad_request(
            "invalid_deadline",
            "give the new deadline as \"deadline\": \"2027-01-15T17:00:00Z\"",
        )),
    })
    .await
}
