//! The helpdesk's web pages under `/helpdesk/`: sign-in, search, the account page with its
//! actions, campaign progress with its chart and lists. No JavaScript: forms post, and the
//! answer is a redirect back to the page with a one-shot message (kept in the session).
//! Every form carries a CSRF field ([`crate::web::csrf`]); signing in is rate-limited per
//! address and login. This file holds the routes and what every page handler shares (the
//! frame, error pages, form admission); `sign_in`, `accounts`, `campaigns` and `mails` the pages.

mod accounts;
mod campaigns;
mod mails;
mod sign_in;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use self::accounts::{account, act, home};
use self::campaigns::{campaign, chart, list, list_csv};
use self::sign_in::{login_form, login_submit, logout};
use super::HelpdeskState;
use super::auth::{self, Client, Credential, Operator};
use super::error::ApiError;
use super::pages::Frame;
use crate::web::form::{self, Form, FormError};
use crate::web::limits::Limited;
use crate::web::pages::{Page, stylesheet};

/// How long a form's body may take to arrive (the sign-in form is read before anybody is
/// recognised; the request deadline of 60 s is far too long for that).
const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// The fields the helpdesk's forms send.
const FIELDS: [&str; 8] = [
    "csrf", "login", "password", "action", "campaign", "reason", "deadline", "text",
];

pub fn routes() -> Router<HelpdeskState> {
    Router::new()
        .route("/helpdesk", get(home))
        .route("/helpdesk/", get(home))
        .route("/helpdesk/login", get(login_form).post(login_submit))
        .route("/helpdesk/logout", post(logout))
        .route("/helpdesk/accounts/{login}", get(account))
        .route("/helpdesk/accounts/{login}/act", post(act))
        .route("/helpdesk/mails", get(mails::form).post(mails::check))
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
async fn frame(
    state: &HelpdeskState,
    headers: &HeaderMap,
    operator: Option<&Operator>,
) -> (Frame, Option<HeaderValue>) {
    let (session, cookie) = match state.csrf().session_for_page(headers) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "helpdesk: no randomness for a CSRF cookie");
            (String::new(), None)
        }
    };
    let flash = match operator.map(|o| &o.credential) {
        Some(Credential::Session(id)) => state.sessions().take_flash(id).await,
        Some(Credential::Token) | None => None,
    };
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

/// The answer to a path that could not be read.
async fn bad_path(state: &HelpdeskState, headers: &HeaderMap) -> Response {
    let e = ApiError::bad_request("invalid_path", "unreadable path");
    error_page(state, headers, &e).await
}

/// An error as a page (401 goes to the sign-in page, unless the session ended because its
/// password must change: that says so, with the way to the portal).
async fn error_page(state: &HelpdeskState, headers: &HeaderMap, e: &ApiError) -> Response {
    if e.code == auth::MUST_CHANGE {
        return must_change_page(state, headers, &e.message).await;
    }
    if e.status == StatusCode::UNAUTHORIZED {
        return redirect("/helpdesk/login");
    }
    // A signed-in non-operator still gets a sign-out button.
    let name = match state.sessions().id_from(headers) {
        // A store that cannot say only costs the button.
        Some(id) => state.sessions().get(&id).await.ok().flatten().map(|s| s.login),
        None => None,
    };
    let (mut f, cookie) = frame(state, headers, None).await;
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

/// "Change your password first", with the portal's address.
async fn must_change_page(state: &HelpdeskState, headers: &HeaderMap, message: &str) -> Response {
    let (f, cookie) = frame(state, headers, None).await;
    send(state.pages().must_change(&f, message, state.portal_url()), cookie)
}

/// The signed-in operator, or the response that says why not.
async fn signed_in(state: &HelpdeskState, headers: &HeaderMap, client: &Client) -> Result<Operator, Response> {
    match auth::operator(state, headers, client.0).await {
        Ok(operator) => Ok(operator),
        Err(e) => Err(error_page(state, headers, &e).await),
    }
}

/// Reads a form body (see [`form::read`]: the size is checked before reading) as an
/// [`ApiError`]: 413 when too large, 400 otherwise.
async fn read_form(headers: &HeaderMap, body: Body) -> Result<Form, ApiError> {
    // A form is a few hundred bytes: a client still sending after this is stalling us.
    let read = tokio::time::timeout(BODY_DEADLINE, form::read(headers, body, &FIELDS));
    let Ok(read) = read.await else {
        return Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "the form was not received in time; send it again",
        ));
    };
    read.map_err(|e| {
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
