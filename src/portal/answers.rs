//! The one place where outcomes and errors become status codes and pages.
//!
//! Statuses: 200 page or success; 400 unreadable form; 401 wrong login or current password
//! (one generic message, answered no sooner than [`AUTH_FAILURE_FLOOR`] after the request
//! arrived, so an unknown login and a wrong password look alike); 403 CSRF; 404 closed flow;
//! 409 nothing to do / change in progress (only to whoever proved the current password); 410 unusable link; 413 body too large; 422 policy
//! or directory refusal, or a field to fix; 429 rate limited; 502 written but not confirmed;
//! 503 directory or store unavailable.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::PortalState;
use super::outcome::Outcome;
use super::pages::{FieldErrors, FormKind, FormView, Tone};
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
            "Please reload the page",
            "This form has expired or did not come from this site, so it was not sent.",
            Some("Reload the page (your browser must accept cookies from this site), then fill in the form again."),
        )
        .into_response()
}

pub fn bad_form(state: &PortalState, e: &FormError) -> Response {
    let status = match e {
        FormError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    let message = format!("We could not read what was sent: {e}.");
    state
        .pages()
        .message(
            status,
            Tone::Problem,
            "The form could not be read",
            &message,
            Some("Go back, reload the page and fill in the form again."),
        )
        .into_response()
}

pub fn too_many(state: &PortalState, limited: Limited) -> Response {
    let secs = limited.retry_after.as_secs().max(1);
    let minutes = secs.div_ceil(60);
    let wait = if minutes <= 1 {
        "a minute".to_owned()
    } else {
        format!("{minutes} minutes")
    };
    let message = format!("There have been too many attempts. Wait {wait}, then try again.");
    let mut page = state.pages().message(
        StatusCode::TOO_MANY_REQUESTS,
        Tone::Problem,
        "Too many attempts",
        &message,
        Some("If you cannot get in, call the helpdesk."),
    );
    page.retry_after = Some(secs);
    page.into_response()
}

pub fn unavailable(state: &PortalState) -> Response {
    let mut page = state.pages().message(
        StatusCode::SERVICE_UNAVAILABLE,
        Tone::Problem,
        "Please try again shortly",
        "The password service is temporarily unavailable. Nothing was changed.",
        Some("Try again in a few minutes. If this keeps happening, call the helpdesk."),
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
                self.view.rules = rules;
                self.view.advice = advice;
                self.view = self.view.with_violations(&violations);
                self.page(StatusCode::UNPROCESSABLE_ENTITY)
            }
            Outcome::DirectoryRefused { message } => self.fields(FieldErrors {
                new_password: Some(message),
                ..FieldErrors::default()
            }),
            Outcome::WrongCredentials => {
                tokio::time::sleep_until(started + AUTH_FAILURE_FLOOR).await;
                let message = match self.kind {
                    FormKind::Change => "The username or the current password is not right.",
                    FormKind::Link => "The current password is not right.",
                };
                self.view.errors = vec![message.into()];
                self.view.field_errors = FieldErrors {
                    current_password: Some(message.into()),
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
                    "Nothing to change",
                    "Your account does not have to change its password here: it is not part of a password change in progress, or it already did.",
                    Some("Nothing was changed. If you want to change your password anyway, use your usual tools."),
                )
                .into_response(),
            Outcome::Busy => state
                .pages()
                .message_back(
                    StatusCode::CONFLICT,
                    Tone::Problem,
                    "A change is already in progress",
                    "Another password change for this account is being made right now.",
                    Some("Wait a moment. If that change does not succeed, try again."),
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
                    "We could not confirm the change",
                    "Your new password was sent to the directory, but we could not confirm that it works.",
                    Some("Try signing in with your new password. If that fails, call the helpdesk."),
                )
                .into_response(),
        }
    }
}
