//! Campaign progress pages: the summary with its chart, and the lists of accounts (as a page,
//! the first [`LIST_PAGE_ROWS`] rows, and as CSV, all of them).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Serialize;

use super::{bad_path, error_page, frame, send, signed_in};
use crate::helpdesk::HelpdeskState;
use crate::helpdesk::api::{LIST_MAX, campaign_data, csv_response, list_rows};
use crate::helpdesk::auth::Client;
use crate::helpdesk::progress::{self, CampaignProgress};
use crate::store::AccountList;

/// Rows shown on a list page (the CSV has them all).
const LIST_PAGE_ROWS: usize = 500;

#[derive(Serialize)]
struct ListLink {
    name: &'static str,
    label: &'static str,
}

fn label(list: AccountList) -> &'static str {
    match list {
        AccountList::Pending => "Still to change",
        AccountList::NoMail => "Without a mail address",
        AccountList::MailFailed => "Mail refused",
        AccountList::Failed => "Marking failed",
    }
}

pub(super) async fn campaign(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let operator = match signed_in(&state, &headers, &client).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Ok(Path(name)) = name else {
        return bad_path(&state, &headers).await;
    };
    let (c, status, raw) = match campaign_data(&state, &name, true).await {
        Ok(d) => d,
        Err(e) => return error_page(&state, &headers, &e).await,
    };
    let progress = CampaignProgress::new(status, &c.scope.base_dn, &raw, Utc::now());
    let lists: Vec<ListLink> = AccountList::ALL
        .iter()
        .map(|l| ListLink {
            name: l.as_str(),
            label: label(*l),
        })
        .collect();
    let (f, cookie) = frame(&state, &headers, Some(&operator)).await;
    let mail_down_since = state.resender().mail_server_down_since();
    let page = minijinja::context! { progress => progress, lists => lists, mail_down_since => mail_down_since };
    send(
        state
            .pages()
            .render(StatusCode::OK, "campaign.html", &format!("Campaign {name}"), &f, page),
        cookie,
    )
}

pub(super) async fn chart(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    if let Err(r) = signed_in(&state, &headers, &client).await {
        return r;
    }
    let Ok(Path(name)) = name else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let (c, status, raw) = match campaign_data(&state, &name, true).await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let (_, points) = progress::series(&raw.completions, c.created_at, Utc::now());
    let svg = progress::chart_svg(&c.name, &points, status.in_scope, c.created_at, c.deadline);
    ([(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"))], svg).into_response()
}

#[derive(Serialize)]
struct ListPage<'a> {
    campaign: String,
    list: &'static str,
    label: &'static str,
    deadline: chrono::DateTime<Utc>,
    records: Vec<crate::helpdesk::payload::AccountRow<'a>>,
    truncated: bool,
}

pub(super) async fn list(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let operator = match signed_in(&state, &headers, &client).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Ok(Path((name, list))) = path else {
        return bad_path(&state, &headers).await;
    };
    let (c, kind, records, truncated) = match list_rows(&state, &name, &list, LIST_PAGE_ROWS).await {
        Ok(r) => r,
        Err(e) => return error_page(&state, &headers, &e).await,
    };
    let page = ListPage {
        campaign: c.name,
        list: kind.as_str(),
        label: label(kind),
        deadline: c.deadline,
        records: crate::helpdesk::payload::rows(&records),
        truncated,
    };
    let (f, cookie) = frame(&state, &headers, Some(&operator)).await;
    send(
        state
            .pages()
            .render(StatusCode::OK, "list.html", label(kind), &f, &page),
        cookie,
    )
}

pub(super) async fn list_csv(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    if let Err(r) = signed_in(&state, &headers, &client).await {
        return r;
    }
    let Ok(Path((name, list))) = path else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match list_rows(&state, &name, &list, LIST_MAX).await {
        Ok((c, kind, records, _)) => csv_response(&c.name, kind, progress::csv(&records)),
        Err(e) => error_page(&state, &headers, &e).await,
    }
}
