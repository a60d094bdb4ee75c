//! The pages about people: the home page (search and the campaigns), one account's page, and
//! the actions posted from it, whose answer goes back to the account page as its message.

use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{admit, bad_path, error_page, frame, redirect, send, signed_in};
use crate::helpdesk::HelpdeskState;
use crate::helpdesk::actions::{self, Action, Request};
use crate::helpdesk::auth::{Client, Credential};
use crate::helpdesk::client::segment;
use crate::helpdesk::error::ApiError;
use crate::helpdesk::search::{self, SearchResult};
use crate::helpdesk::view;

#[derive(Deserialize)]
pub(super) struct HomeQuery {
    q: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct HomeView {
    query: Option<String>,
    /// One page of a search's answer.
    found: Option<SearchResult>,
    /// Why the search was refused (too short, …).
    problem: Option<String>,
    campaigns: Vec<crate::engine::Status>,
}

pub(super) async fn home(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    query: Result<Query<HomeQuery>, QueryRejection>,
) -> Response {
    let operator = match signed_in(&state, &headers, &client).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let (q, offset, limit) = match query {
        Ok(Query(h)) => (h.q.filter(|q| !q.trim().is_empty()), h.offset, h.limit),
        Err(_) => (None, None, None),
    };
    let (mut found, mut problem, mut status) = (None, None, StatusCode::OK);
    if let Some(q) = &q {
        match search::search(&state, q, offset, limit).await {
            Ok(r) => found = Some(r),
            Err(e) if e.status == StatusCode::BAD_REQUEST => (problem, status) = (Some(e.message), e.status),
            Err(e) => return error_page(&state, &headers, &e).await,
        }
    }
    let campaigns = state
        .store()
        .run(|s| {
            s.campaigns()?
                .iter()
                .map(|c| crate::engine::Status::read(s, c))
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
    let campaigns = match campaigns {
        Ok(c) => c,
        Err(e) => return error_page(&state, &headers, &ApiError::store(&e)).await,
    };
    let title = if q.is_some() { "Search" } else { "Helpdesk" };
    let view = HomeView {
        query: q,
        found,
        problem,
        campaigns,
    };
    let (f, cookie) = frame(&state, &headers, Some(&operator)).await;
    send(state.pages().render(status, "home.html", title, &f, &view), cookie)
}

pub(super) async fn account(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    login: Result<Path<String>, PathRejection>,
) -> Response {
    let operator = match signed_in(&state, &headers, &client).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Ok(Path(login)) = login else {
        return bad_path(&state, &headers).await;
    };
    match view::account(&state, &login).await {
        Ok(view) => {
            let (f, cookie) = frame(&state, &headers, Some(&operator)).await;
            send(
                state
                    .pages()
                    .render(StatusCode::OK, "account.html", &view.login.clone(), &f, &view),
                cookie,
            )
        }
        Err(e) => error_page(&state, &headers, &e).await,
    }
}

/// One action from the account page; the answer goes back to the page as its message.
pub(super) async fn act(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    login: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    let operator = match signed_in(&state, &headers, &client).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Ok(Path(login)) = login else {
        return bad_path(&state, &headers).await;
    };
    let form = match admit(&state, &headers, body).await {
        Ok(f) => f,
        Err(e) => return error_page(&state, &headers, &e).await,
    };
    let action = match form.optional("action") {
        Some("resend") => Ok(Action::Resend),
        Some("exempt") => Ok(Action::Exempt),
        Some("mark") => Ok(Action::Mark),
        Some("unlock") => Ok(Action::Unlock),
        Some("extend") => {
            actions::parse_deadline_form(form.optional("deadline").unwrap_or_default()).map(Action::Extend)
        }
        _ => Err(ApiError::bad_request("invalid_form", "unknown action")),
    };
    let result = match action {
        Ok(action) => {
            let request = Request {
                action,
                campaign: form.optional("campaign").map(str::to_owned),
                reason: form.optional("reason").map(str::to_owned),
            };
            actions::perform(&state, &operator, &login, request).await
        }
        Err(e) => Err(e),
    };
    let message = match result {
        Ok(done) => done.message,
        Err(e) => format!("Not done: {}", e.message),
    };
    if let Credential::Session(id) = &operator.credential {
        state.sessions().flash(id, message).await;
    }
    redirect(&format!("/helpdesk/accounts/{}", segment(&login)))
}
