//! The helpdesk's web pages under `/helpdesk/`: sign-in, search, the account page with its
//! actions, campaign progress with its chart and lists. No JavaScript: forms post, and the
//! answer is a redirect back to the page with a one-shot message (kept in the session).
//! Every form carries a CSRF field ([`crate::web::csrf`]); signing in is rate-limited per
//! address and login.

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::HelpdeskState;
use super::actions::{self, Action, Request};
use super::api::{campaign_data, csv_response, list_rows};
use super::auth::{self, Client, Credential, Operator, SIGN_IN_FAILURE_FLOOR, SignIn};
use super::error::ApiError;
use super::pages::Frame;
use super::progress::{self, CampaignProgress};
use super::view;
use crate::secret::Secret;
use crate::store::AccountList;
use crate::web::form::{self, Form, FormError};
use crate::web::limits::Limited;
use crate::web::pages::{Page, stylesheet};

/// The fields the helpdesk's forms send.
const FIELDS: [&str; 7] = ["csrf", "login", "password", "action", "campaign", "reason", "deadline"];
/// Rows shown on a list page (the CSV has them all).
const LIST_PAGE_ROWS: usize = 500;

pub fn routes() -> Router<HelpdeskState> {
    Router::new()
        .route("/helpdesk", get(home))
        .route("/helpdesk/", get(home))
        .route("/helpdesk/login", get(login_form).post(login_submit))
        .route("/helpdesk/logout", post(logout))
        .route("/helpdesk/accounts/{login}", get(account))
        .route("/helpdesk/accounts/{login}/act", post(act))
        .route("/helpdesk/campaigns/{name}", get(campaign))
        .route("/helpdesk/campaigns/{name}/chart.svg", get(chart))
        .route("/helpdesk/campaigns/{name}/lists/{list}", get(list))
        .route("/helpdesk/campaigns/{name}/lists/{list}/csv", get(list_csv))
        .route("/helpdesk/static/helpdesk.css", get(css))
}

async fn css() -> Response {
    stylesheet(super::pages::CSS)
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The frame of a page and the CSRF cookie to set when the browser has none.
fn frame(state: &HelpdeskState, headers: &HeaderMap, operator: Option<&Operator>) -> (Frame, Option<HeaderValue>) {
    let (session, cookie) = match state.csrf().session_for_page(headers) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "helpdesk: no randomness for a CSRF cookie");
            (String::new(), None)
        }
    };
    let flash = operator.and_then(|o| match &o.credential {
        Credential::Session(id) => state.sessions().take_flash(id),
        Credential::Token => None,
    });
    let frame = Frame {
        operator: operator.map(|o| o.name.clone()),
        csrf: state.csrf().field(&session),
        flash,
    };
    (frame, cookie)
}

fn send(mut page: Page, cookie: Option<HeaderValue>) -> Response {
    page.set_cookie = cookie;
    page.into_response()
}

/// An error as a page (401 goes to the sign-in page).
fn error_page(state: &HelpdeskState, headers: &HeaderMap, e: &ApiError) -> Response {
    if e.status == StatusCode::UNAUTHORIZED {
        return redirect("/helpdesk/login");
    }
    // A signed-in non-operator still gets a sign-out button.
    let name = state
        .sessions()
        .id_from(headers)
        .and_then(|id| state.sessions().get(&id))
        .map(|s| s.login);
    let (mut f, cookie) = frame(state, headers, None);
    f.operator = name;
    let title = match e.status {
        StatusCode::FORBIDDEN => "Not a helpdesk operator",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
        _ => "Something went wrong",
    };
    let mut page = state.pages().message(e.status, title, &f, &e.message);
    page.retry_after = e.retry_after;
    send(page, cookie)
}

/// The signed-in operator, or the response that says why not.
async fn signed_in(state: &HelpdeskState, headers: &HeaderMap, client: &Client) -> Result<Operator, Response> {
    auth::operator(state, headers, client.0)
        .await
        .map_err(|e| error_page(state, headers, &e))
}

#[derive(Deserialize)]
struct HomeQuery {
    q: Option<String>,
}

#[derive(Serialize)]
struct HomeView {
    query: Option<String>,
    results: Option<Vec<crate::store::Found>>,
    truncated: bool,
    campaigns: Vec<crate::campaign::Status>,
}

async fn home(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    query: Result<Query<HomeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let operator = match signed_in(&state, &headers, &client).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let q = query.ok().and_then(|Query(q)| q.q).filter(|q| !q.trim().is_empty());
    let found = match &q {
        Some(q) => match view::search(&state, q).await {
            Ok(r) => Some(r),
            Err(e) => return error_page(&state, &headers, &e),
        },
        None => None,
    };
    let campaigns = state
        .store()
        .run(|s| {
            s.campaigns()?
                .iter()
                .map(|c| crate::campaign::Status::read(s, c))
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
    let campaigns = match campaigns {
        Ok(c) => c,
        Err(e) => return error_page(&state, &headers, &ApiError::store(&e)),
    };
    let view = HomeView {
        query: q,
        truncated: found.as_ref().is_some_and(|f| f.truncated),
        results: found.map(|f| f.results),
        campaigns,
    };
    let (f, cookie) = frame(&state, &headers, Some(&operator));
    let title = if view.results.is_some() { "Search" } else { "Helpdesk" };
    send(
        state.pages().render(StatusCode::OK, "home.html", title, &f, &view),
        cookie,
    )
}

async fn login_form(State(state): State<HelpdeskState>, client: Client, headers: HeaderMap) -> Response {
    if state.sessions().id_from(&headers).is_some() && auth::operator(&state, &headers, client.0).await.is_ok() {
        return redirect("/helpdesk/");
    }
    let (f, cookie) = frame(&state, &headers, None);
    let page = state.pages().render(
        StatusCode::OK,
        "login.html",
        "Sign in",
        &f,
        minijinja::context! { error => None::<String>, login => "" },
    );
    send(page, cookie)
}

/// Reads a form body (see [`form::read`]: the size is checked before reading) as an
/// [`ApiError`]: 413 when too large, 400 otherwise.
async fn read_form(headers: &HeaderMap, body: Body) -> Result<Form, ApiError> {
    form::read(headers, body, &FIELDS).await.map_err(|e| {
        let message = format!("the form could not be read: {e}");
        match e {
            FormError::TooLarge => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message),
            _ => ApiError::bad_request("invalid_form", message),
        }
    })
}

/// The checks every form POST passes first: a readable body and the CSRF field.
async fn admit(state: &HelpdeskState, headers: &HeaderMap, body: Body) -> Result<Form, ApiError> {
    let form = read_form(headers, body).await?;
    if let Err(refusal) = state.csrf().verify(headers, form.optional("csrf")) {
        tracing::info!(?refusal, "helpdesk: CSRF check refused a form");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf",
            "this form has expired or did not come from this site; reload the page and try again",
        ));
    }
    Ok(form)
}

fn too_many(l: Limited) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many sign-in attempts; wait a few minutes and try again",
    );
    e.retry_after = Some(l.retry_after.as_secs().max(1));
    e
}

async fn login_submit(State(state): State<HelpdeskState>, client: Client, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    if let Err(l) = state.limiter().address(client.0) {
        return error_page(&state, &headers, &too_many(l));
    }
    let form = match admit(&state, &headers, body).await {
        Ok(f) => f,
        Err(e) => return error_page(&state, &headers, &e),
    };
    let login = form.optional("login").unwrap_or_default().trim().to_owned();
    let password = Secret::new(form.optional("password").unwrap_or_default());
    if let Err(l) = state.limiter().account(&login) {
        return error_page(&state, &headers, &too_many(l));
    }
    let shaped = form::check_value(&login).is_ok() && form::check_value(password.expose()).is_ok();
    let outcome = if shaped {
        auth::sign_in(&state, &login, &password, client.0).await
    } else {
        Ok(SignIn::WrongCredentials)
    };
    match outcome {
        Ok(SignIn::Started { cookie, .. }) => {
            let mut r = redirect("/helpdesk/");
            r.headers_mut().append(header::SET_COOKIE, cookie);
            r
        }
        Ok(SignIn::WrongCredentials) => {
            tokio::time::sleep_until(started + SIGN_IN_FAILURE_FLOOR).await;
            let (f, cookie) = frame(&state, &headers, None);
            let shown = if form::check_value(&login).is_ok() {
                login
            } else {
                String::new()
            };
            let page = state.pages().render(
                StatusCode::UNAUTHORIZED,
                "login.html",
                "Sign in",
                &f,
                minijinja::context! { error => "The login or the password is not right.", login => shown },
            );
            send(page, cookie)
        }
        Err(e) => error_page(&state, &headers, &e),
    }
}

async fn logout(State(state): State<HelpdeskState>, headers: HeaderMap, body: Body) -> Response {
    if let Err(e) = admit(&state, &headers, body).await {
        return error_page(&state, &headers, &e);
    }
    if let Some(id) = state.sessions().id_from(&headers) {
        if let Some(s) = state.sessions().get(&id) {
            tracing::info!(login = %s.login, "helpdesk: signed out");
        }
        state.sessions().end(&id);
    }
    let mut r = redirect("/helpdesk/login");
    r.headers_mut()
        .append(header::SET_COOKIE, state.sessions().clearing_cookie());
    r
}

async fn account(
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
        return error_page(
            &state,
            &headers,
            &ApiError::bad_request("invalid_path", "unreadable path"),
        );
    };
    match view::account(&state, &login).await {
        Ok(view) => {
            let (f, cookie) = frame(&state, &headers, Some(&operator));
            send(
                state
                    .pages()
                    .render(StatusCode::OK, "account.html", &view.login.clone(), &f, &view),
                cookie,
            )
        }
        Err(e) => error_page(&state, &headers, &e),
    }
}

/// One action from the account page; the answer goes back to the page as its message.
async fn act(
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
        return error_page(
            &state,
            &headers,
            &ApiError::bad_request("invalid_path", "unreadable path"),
        );
    };
    let form = match admit(&state, &headers, body).await {
        Ok(f) => f,
        Err(e) => return error_page(&state, &headers, &e),
    };
    let action = match form.optional("action") {
        Some("resend") => Ok(Action::Resend),
        Some("exempt") => Ok(Action::Exempt),
        Some("mark") => Ok(Action::Mark),
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
        state.sessions().flash(id, message);
    }
    redirect(&format!("/helpdesk/accounts/{}", seg(&login)))
}

fn seg(value: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(value, SET).to_string()
}

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

async fn campaign(
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
        return error_page(
            &state,
            &headers,
            &ApiError::bad_request("invalid_path", "unreadable path"),
        );
    };
    let (c, status, raw) = match campaign_data(&state, &name, true).await {
        Ok(d) => d,
        Err(e) => return error_page(&state, &headers, &e),
    };
    let progress = CampaignProgress::new(status, &c.scope.base_dn, &raw, Utc::now());
    let lists: Vec<ListLink> = AccountList::ALL
        .iter()
        .map(|l| ListLink {
            name: l.as_str(),
            label: label(*l),
        })
        .collect();
    let (f, cookie) = frame(&state, &headers, Some(&operator));
    let page = minijinja::context! { progress => progress, lists => lists };
    send(
        state
            .pages()
            .render(StatusCode::OK, "campaign.html", &format!("Campaign {name}"), &f, page),
        cookie,
    )
}

async fn chart(
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
struct ListPage {
    campaign: String,
    list: &'static str,
    label: &'static str,
    deadline: chrono::DateTime<Utc>,
    records: Vec<crate::store::AccountRecord>,
    truncated: bool,
}

async fn list(
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
        return error_page(
            &state,
            &headers,
            &ApiError::bad_request("invalid_path", "unreadable path"),
        );
    };
    let (c, kind, records, truncated) = match list_rows(&state, &name, &list, LIST_PAGE_ROWS).await {
        Ok(r) => r,
        Err(e) => return error_page(&state, &headers, &e),
    };
    let page = ListPage {
        campaign: c.name,
        list: kind.as_str(),
        label: label(kind),
        deadline: c.deadline,
        records,
        truncated,
    };
    let (f, cookie) = frame(&state, &headers, Some(&operator));
    send(
        state
            .pages()
            .render(StatusCode::OK, "list.html", label(kind), &f, &page),
        cookie,
    )
}

async fn list_csv(
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
    match list_rows(&state, &name, &list, super::api::LIST_MAX).await {
        Ok((c, kind, records, _)) => csv_response(&c.name, kind, progress::csv(&records)),
        Err(e) => error_page(&state, &headers, &e),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn form_headers(content_type: &'static str, length: usize) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
        h
    }

    /// A body that never arrives: a reader that waited for it would hang.
    fn never() -> Body {
        Body::from_stream(futures_util::stream::pending::<Result<Vec<u8>, std::io::Error>>())
    }

    #[tokio::test]
    async fn an_oversized_form_is_refused_before_it_is_read() {
        let too_large = form_headers("application/x-www-form-urlencoded", form::MAX_BODY + 1);
        let read = tokio::time::timeout(Duration::from_secs(5), read_form(&too_large, never()));
        let e = read.await.expect("the body was waited for").unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"));
        let json = form_headers("application/json", 2);
        let e = read_form(&json, never()).await.unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "invalid_form"));
        let ok = form_headers("application/x-www-form-urlencoded", 13);
        let form = read_form(&ok, Body::from("login=ann&x=1")).await.unwrap();
        assert_eq!(form.optional("login"), Some("ann"));
    }
}
