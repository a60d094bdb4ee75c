//! The one place where outcomes and errors become status codes and pages.
//!
//! Statuses: 200 page or success; 400 unreadable form; 401 wrong login or current password
//! (one generic message, answered no sooner than [`AUTH_FAILURE_FLOOR`] after the request
//! arrived, so an unknown login and a wrong password look alike); 403 CSRF; 404 closed flow;
//! 200 also for a current password the campaign burnt (a link was mailed instead; only to whoever
//! proved it); 409 nothing to do / change in progress (only to whoever proved the current
//! password); 410 unusable link; 413 body too large; 422 policy
//! or directory refusal, or a field to fix; 429 rate limited; 502 written but not confirmed;
//! 503 directory or store unavailable.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::PortalState;
use super::lang::{self, tr};
use super::outcome::Outcome;
use super::pages::{FieldErrors, FormKind, FormView, Tone};
use super::wording;
use crate::web::form::FormError;
use crate::web::limits::Limited;

/// Wrong-credential answers take at least this long (see the module doc).
pub const AUTH_FAILURE_FLOOR: Duration = Duration::from_millis(400);

pub fn csrf_refused(state: &PortalState) -> Response {
    state
        .pages()
        .message(
            StatusCode::FORBIDDEN,
            Tone::Problem,
            &tr("csrf.title", &[]),
            &tr("csrf.message", &[]),
            Some(&tr("csrf.hint", &[])),
        )
        .into_response()
}

pub fn bad_form(state: &PortalState, e: &FormError) -> Response {
    let status = match e {
        FormError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    let message = tr("bad-form.message", &[("problem", &e.to_string())]);
    state
        .pages()
        .message(
            status,
            Tone::Problem,
            &tr("bad-form.title", &[]),
            &message,
            Some(&tr("bad-form.hint", &[])),
        )
        .into_response()
}

pub fn too_many(state: &PortalState, limited: Limited) -> Response {
    let secs = limited.retry_after.as_secs().max(1);
    let minutes = secs.div_ceil(60);
    let message = if minutes <= 1 {
        tr("too-many.message.one", &[])
    } else {
        tr("too-many.message.many", &[("minutes", &minutes.to_string())])
    };
    let mut page = state.pages().message(
        StatusCode::TOO_MANY_REQUESTS,
        Tone::Problem,
        &tr("too-many.title", &[]),
        &message,
        Some(&tr("too-many.hint", &[])),
    );
    page.retry_after = Some(secs);
    page.into_response()
}

pub fn unavailable(state: &PortalState) -> Response {
    let mut page = state.pages().message(
        StatusCode::SERVICE_UNAVAILABLE,
        Tone::Problem,
        &tr("unavailable.title", &[]),
        &tr("unavailable.message", &[]),
        Some(&tr("unavailable.hint", &[])),
    );
    page.retry_after = Some(30);
    page.into_response()
}

/// Everything needed to show the form again after a failed attempt.
pub struct Again<'a> {
    pub state: &'a PortalState,
    pub kind: FormKind,
    pub view: FormView,
}

impl Again<'_> {
    fn page(self, status: StatusCode) -> Response {
        self.state.pages().form(status, self.kind, &self.view).into_response()
    }

    pub fn fields(mut self, errors: FieldErrors) -> Response {
        let listed = [
            &errors.login,
            &errors.current_password,
            &errors.new_password,
            &errors.confirm_password,
        ];
        self.view.errors = listed.into_iter().flatten().cloned().collect();
        self.view.field_errors = errors;
        self.page(StatusCode::UNPROCESSABLE_ENTITY)
    }

    /// The one place where a flow's outcome becomes a status and a page.
    pub async fn outcome(mut self, outcome: Outcome, started: Instant) -> Response {
        let state = self.state;
        match outcome {
            Outcome::Changed { login } => state.pages().done(&login).into_response(),
            Outcome::Violations {
                violations,
                rules,
                advice,
            } => {
                let lang = lang::current();
                self.view = self
                    .view
                    .with_rules(&lang, &rules, advice)
                    .with_violations(&lang, &violations);
                self.page(StatusCode::UNPROCESSABLE_ENTITY)
            }
            Outcome::DirectoryRefused { reason } => self.fields(FieldErrors {
                new_password: Some(wording::refusal(&lang::current(), reason)),
                ..FieldErrors::default()
            }),
            Outcome::WrongCredentials => {
                tokio::time::sleep_until(started + AUTH_FAILURE_FLOOR).await;
                let message = match self.kind {
                    FormKind::Change => tr("form.wrong.change", &[]),
                    FormKind::Link => tr("form.wrong.link", &[]),
                };
                self.view.errors = vec![message.clone()];
                self.view.field_errors = FieldErrors {
                    current_password: Some(message),
                    ..FieldErrors::default()
                };
                self.page(StatusCode::UNAUTHORIZED)
            }
            Outcome::LinkGone => state.pages().gone(&self.view.csrf).into_response(),
            Outcome::NothingToDo => state
                .pages()
                .message(
                    StatusCode::CONFLICT,
                    Tone::Success,
                    &tr("nothing.title", &[]),
                    &tr("nothing.message", &[]),
                    Some(&tr("nothing.hint", &[])),
                )
                .into_response(),
            // 200: the request did what it could, and the page says what to do next.
            Outcome::BurntLinkSent => state
                .pages()
                .message(
                    StatusCode::OK,
                    Tone::Problem,
                    &tr("burnt.title", &[]),
                    &tr("burnt.message", &[]),
                    Some(&tr("burnt.hint", &[])),
                )
                .into_response(),
            Outcome::Busy => state
                .pages()
                .message_back(
                    StatusCode::CONFLICT,
                    Tone::Problem,
                    &tr("busy.title", &[]),
                    &tr("busy.message", &[]),
                    Some(&tr("busy.hint", &[])),
                    Some(&self.view.action),
                )
                .into_response(),
            Outcome::Limited(limited) => too_many(state, limited),
            Outcome::Unavailable => unavailable(state),
            Outcome::NotConfirmed => state
                .pages()
                .message(
                    StatusCode::BAD_GATEWAY,
                    Tone::Problem,
                    &tr("not-confirmed.title", &[]),
                    &tr("not-confirmed.message", &[]),
                    Some(&tr("not-confirmed.hint", &[])),
                )
                .into_response(),
        }
    }
}
