//! The JSON API under `/api/v1/`, documented in `openapi.json` (served at `/api/openapi.json`;
//! a test checks the running server against it). Every route is listed once, in
//! [`route_table`], which both builds the router and is what the spec is compared with.
//! Errors are `{"code", "message"}` (see [`super::error`]).

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};
use chrono::Utc;
use serde::Deserialize;

use super::HelpdeskState;
use super::actions::{self, Action, Request};
use super::auth::{self, Client, Credential, Operator};
use super::error::ApiError;
use super::progress::{self, CampaignProgress};
use super::view;
use crate::engine::Status;
use crate::store::{AccountList, Campaign, Progress};

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Largest JSON body accepted.
const MAX_BODY: usize = 16 * 1024;

/// Every API route: (method, path, handler). The router and the spec test both read it.
pub fn route_table() -> Vec<(&'static str, &'static str, MethodRouter<HelpdeskState>)> {
    vec![
        ("GET", "/api/v1/accounts", get(search)),
        ("GET", "/api/v1/accounts/{login}", get(account)),
        ("POST", "/api/v1/accounts/{login}/resend", post(resend)),
        ("POST", "/api/v1/accounts/{login}/exempt", post(exempt)),
        ("POST", "/api/v1/accounts/{login}/extend", post(extend)),
        ("POST", "/api/v1/accounts/{login}/mark", post(mark)),
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
}

async fn search(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<view::SearchResult>, ApiError> {
    who(&state, &headers, client).await?;
    let Query(q) = query.map_err(|_| ApiError::bad_request("invalid_query", "give the text to find as ?query=…"))?;
    Ok(Json(view::search(&state, &q.query).await?))
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

/// The body of an action. Unknown fields are refused (a typo must not be ignored).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    campaign: Option<String>,
    reason: Option<String>,
    deadline: Option<String>,
}

/// Reads an action's JSON body: `application/json`, at most 16 KiB; an empty body is `{}`.
fn body(headers: &HeaderMap, bytes: &Bytes) -> Result<ActionBody, ApiError> {
    if bytes.is_empty() {
        return Ok(ActionBody::default());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    if bytes.len() > MAX_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            "the body is larger than 16 KiB",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("the JSON body is not valid: {e}")))
}

/// The common part of the four actions.
async fn act(
    state: HelpdeskState,
    client: Client,
    headers: HeaderMap,
    login: Result<Path<String>, PathRejection>,
    bytes: Bytes,
    make: impl FnOnce(&ActionBody) -> Result<Action, ApiError>,
) -> Result<Json<actions::Done>, ApiError> {
    let operator = who(&state, &headers, client).await?;
    // A browser's session cookie must not be usable from another site (SameSite=Strict keeps it
    // off cross-site requests already; this refuses what a browser flags as cross-site).
    if matches!(operator.credential, Credential::Session(_))
        && headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| matches!(v, "cross-site" | "same-site"))
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site",
            "cross-site requests are refused",
        ));
    }
    let Path(login) = login.map_err(|e| bad_path(&e))?;
    let b = body(&headers, &bytes)?;
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
    bytes: Bytes,
) -> Result<Json<actions::Done>, ApiError> {
    act(state, client, headers, login, bytes, |b| no_deadline(b, Action::Resend)).await
}

async fn exempt(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    login: Result<Path<String>, PathRejection>,
    bytes: Bytes,
) -> Result<Json<actions::Done>, ApiError> {
    act(state, client, headers, login, bytes, |b| no_deadline(b, Action::Exempt)).await
}

async fn mark(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    login: Result<Path<String>, PathRejection>,
    bytes: Bytes,
) -> Result<Json<actions::Done>, ApiError> {
    act(state, client, headers, login, bytes, |b| no_deadline(b, Action::Mark)).await
}

async fn extend(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    login: Result<Path<String>, PathRejection>,
    bytes: Bytes,
) -> Result<Json<actions::Done>, ApiError> {
    act(state, client, headers, login, bytes, |b| match &b.deadline {
        Some(d) => actions::parse_deadline(d).map(Action::Extend),
        None => Err(ApiError::bad_request(
            "invalid_deadline",
            "give the new deadline as \"deadline\": \"2027-01-15T17:00:00Z\"",
        )),
    })
    .await
}

#[derive(serde::Serialize)]
struct CampaignList {
    campaigns: Vec<Status>,
}

async fn campaigns(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
) -> Result<Json<CampaignList>, ApiError> {
    who(&state, &headers, client).await?;
    let campaigns = state
        .store()
        .run(|s| {
            s.campaigns()?
                .iter()
                .map(|c| Status::read(s, c))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| ApiError::store(&e))?;
    Ok(Json(CampaignList { campaigns }))
}

/// A campaign by name, its counts and (with `progress`) its raw progress.
pub(crate) async fn campaign_data(
    state: &HelpdeskState,
    name: &str,
    with_progress: bool,
) -> Result<(Campaign, Status, Progress), ApiError> {
    let key = name.to_owned();
    let found = state
        .store()
        .run(move |s| {
            let Some(c) = s.campaign(&key)? else { return Ok(None) };
            let status = Status::read(s, &c)?;
            let progress = if with_progress {
                s.progress(c.id)?
            } else {
                Progress::default()
            };
            Ok(Some((c, status, progress)))
        })
        .await
        .map_err(|e| ApiError::store(&e))?;
    found.ok_or_else(|| ApiError::not_found("campaign_not_found", format!("no campaign named {name:?}")))
}

async fn campaign(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<Status>, ApiError> {
    who(&state, &headers, client).await?;
    let Path(name) = name.map_err(|e| bad_path(&e))?;
    Ok(Json(campaign_data(&state, &name, false).await?.1))
}

async fn campaign_progress(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<CampaignProgress>, ApiError> {
    who(&state, &headers, client).await?;
    let Path(name) = name.map_err(|e| bad_path(&e))?;
    let (c, status, raw) = campaign_data(&state, &name, true).await?;
    Ok(Json(CampaignProgress::new(status, &c.scope.base_dn, &raw, Utc::now())))
}

#[derive(Deserialize)]
struct ListQuery {
    format: Option<String>,
    limit: Option<usize>,
}

/// Rows a list returns at most.
pub const LIST_MAX: usize = 100_000;

/// The rows of a list, and whether there were more than `limit`.
pub(crate) async fn list_rows(
    state: &HelpdeskState,
    name: &str,
    list: &str,
    limit: usize,
) -> Result<(Campaign, AccountList, Vec<crate::store::AccountRecord>, bool), ApiError> {
    let kind = AccountList::parse(list).ok_or_else(|| {
        ApiError::not_found(
            "list_not_found",
            format!("no list {list:?}; the lists are pending, no_mail, mail_failed and failed"),
        )
    })?;
    let (campaign, _, _) = campaign_data(state, name, false).await?;
    let id = campaign.id;
    let mut rows = state
        .store()
        .run(move |s| s.account_list(id, kind, limit + 1))
        .await
        .map_err(|e| ApiError::store(&e))?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    Ok((campaign, kind, rows, more))
}

/// A CSV download named after the campaign and the list.
pub(crate) fn csv_response(campaign: &str, list: AccountList, body: String) -> Response {
    let safe: String = campaign
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{safe}-{}.csv\"", list.as_str());
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        )],
        body,
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[derive(serde::Serialize)]
struct ListView {
    campaign: String,
    list: AccountList,
    accounts: Vec<super::payload::AccountRow>,
    truncated: bool,
}

async fn list(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    who(&state, &headers, client).await?;
    let Path((name, list)) = path.map_err(|e| bad_path(&e))?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let limit = q.limit.unwrap_or(LIST_MAX).clamp(1, LIST_MAX);
    let (campaign, kind, accounts, truncated) = list_rows(&state, &name, &list, limit).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(ListView {
            campaign: campaign.name,
            list: kind,
            accounts: super::payload::rows(accounts),
            truncated,
        })
        .into_response()),
        Some("csv") => Ok(csv_response(&campaign.name, kind, progress::csv(&accounts))),
        Some(other) => Err(ApiError::bad_request(
            "invalid_query",
            format!("format {other:?} is not json or csv"),
        )),
    }
}

#[derive(Deserialize)]
struct AuditQuery {
    account: Option<String>,
    campaign: Option<String>,
    limit: Option<usize>,
}

#[derive(serde::Serialize)]
struct AuditView {
    entries: Vec<crate::store::AuditEntry>,
}

async fn audit(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<AuditView>, ApiError> {
    who(&state, &headers, client).await?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.to_string()))?;
    let limit = q.limit.unwrap_or(200).clamp(1, 5000);
    let entries = state
        .store()
        .run(move |s| s.audit_recent(q.campaign.as_deref(), q.account.as_deref(), limit))
        .await
        .map_err(|e| ApiError::store(&e))?;
    Ok(Json(AuditView { entries }))
}
