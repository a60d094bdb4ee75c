//! The campaign endpoints of the JSON API: the list, one campaign's counts and progress, the
//! account lists (JSON or CSV), the audit trail.

use super::*;
use crate::engine::Status;
use crate::helpdesk::HelpdeskState;
use crate::helpdesk::auth::Client;
use crate::helpdesk::error::ApiError;
use crate::helpdesk::progress::{self, CampaignProgress};
use crate::store::{AccountList, Campaign, Progress};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;

#[derive(serde::Serialize)]
pub(super) struct CampaignList {
    campaigns: Vec<Status>,
}

pub(super) async fn campaigns(
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

pub(super) async fn campaign(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Result<Json<Status>, ApiError> {
    who(&state, &headers, client).await?;
    let Path(name) = name.map_err(|e| bad_path(&e))?;
    Ok(Json(campaign_data(&state, &name, false).await?.1))
}

pub(super) async fn campaign_progress(
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
pub(super) struct ListQuery {
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
pub(super) struct ListView<'a> {
    campaign: String,
    list: AccountList,
    accounts: Vec<crate::helpdesk::payload::AccountRow<'a>>,
    truncated: bool,
}

pub(super) async fn list(
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
            accounts: crate::helpdesk::payload::rows(&accounts),
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
pub(super) struct AuditQuery {
    account: Option<String>,
    campaign: Option<String>,
    limit: Option<usize>,
}

#[derive(serde::Serialize)]
pub(super) struct AuditView {
    entries: Vec<crate::store::AuditEntry>,
}

pub(super) async fn audit(
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
