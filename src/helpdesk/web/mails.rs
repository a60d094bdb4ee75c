//! The page "Is this mail ours?": a form to paste a mail's Message-ID, link or reference code,
//! and the answer on the page the POST returns (no redirect: the answer is for this operator,
//! now, and the pasted text — which may hold a link's token — is never put back in a URL or
//! the page).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;

use super::{admit, error_page, frame, send, signed_in};
use crate::helpdesk::HelpdeskState;
use crate::helpdesk::auth::{Client, Operator};
use crate::helpdesk::mail_check::{self, MailCheck};

#[derive(Serialize, Default)]
struct MailsView {
    answer: Option<MailCheck>,
    problem: Option<String>,
}

async fn page(
    state: &HelpdeskState,
    headers: &HeaderMap,
    operator: &Operator,
    status: StatusCode,
    view: &MailsView,
) -> Response {
    let (f, cookie) = frame(state, headers, Some(operator)).await;
    send(
        state
            .pages()
            .render(status, "mails.html", "Is this mail ours?", &f, view),
        cookie,
    )
}

pub(super) async fn form(State(state): State<HelpdeskState>, client: Client, headers: HeaderMap) -> Response {
    match signed_in(&state, &headers, &client).await {
        Ok(operator) => page(&state, &headers, &operator, StatusCode::OK, &MailsView::default()).await,
        Err(r) => r,
    }
}

pub(super) async fn check(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let operator = match signed_in(&state, &headers, &client).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let form = match admit(&state, &headers, body).await {
        Ok(f) => f,
        Err(e) => return error_page(&state, &headers, &e).await,
    };
    let text = form.optional("text").unwrap_or_default();
    match mail_check::check(&state, &operator, text).await {
        Ok(answer) => {
            let view = MailsView {
                answer: Some(answer),
                problem: None,
            };
            page(&state, &headers, &operator, StatusCode::OK, &view).await
        }
        Err(e) if e.status == StatusCode::BAD_REQUEST || e.status == StatusCode::TOO_MANY_REQUESTS => {
            let view = MailsView {
                answer: None,
                problem: Some(e.message),
            };
            page(&state, &headers, &operator, e.status, &view).await
        }
        Err(e) => error_page(&state, &headers, &e).await,
    }
}
