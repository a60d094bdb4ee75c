//! The HTTP handlers: rate limits, body and CSRF checks, the shape of what was typed, then a flow
//! from `change`, run detached from the connection. What each outcome looks like to the person
//! (status and page) is decided in `answers`.
//!
//! Rate limits: the current-password and new-link forms count per client address and per typed
//! login (a trip is audited, `refusals`). A link's form counts per link, never per login nor per
//! address: the link is the proof, and what strangers' posts used up must not block it; only a
//! link that does not work costs its address an attempt.

use std::net::IpAddr;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use super::PortalState;
use super::answers::{Again, bad_form, csrf_refused, too_many, unavailable};
use super::change::{self, Link, LinkTarget, Outcome, Typed};
use super::form::problem_message;
use super::lang::{self, tr};
use super::pages::{FieldErrors, FormKind, FormView, Tone};
use super::refusals::{self, About};
use crate::policy::{Advice, Password, RuleDescription};
use crate::web::client::Client;
use crate::web::form::{self, FieldProblem, Form, FormError};
use crate::web::pages::{Page, stylesheet};

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn css() -> Response {
    stylesheet(super::pages::CSS)
}

pub async fn not_found(State(state): State<PortalState>) -> Response {
    state
        .pages()
        .message(
            StatusCode::NOT_FOUND,
            Tone::Problem,
            &tr("not-found.title", &[]),
            &tr("not-found.message", &[]),
            Some(&tr("not-found.hint", &[])),
        )
        .into_response()
}

/// A page that shows a form: attaches the CSRF cookie when the browser has none yet.
fn with_session(state: &PortalState, headers: &HeaderMap, build: impl FnOnce(&str) -> Page) -> Response {
    match state.csrf().session_for_page(headers) {
        Ok((session, cookie)) => {
            let mut page = build(&state.csrf().field(&session));
            page.set_cookie = cookie;
            page.into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "portal: no randomness for a CSRF cookie");
            unavailable(state)
        }
    }
}

pub async fn index(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let auth = state.config().auth;
    with_session(&state, &headers, |csrf| {
        state.pages().index(csrf, auth.link_open(), auth.change_open())
    })
}

/// The rules a form lists and its advice: `[policy]` with the directory's own rules for the
/// account at `dn` (`None`: before the account is known, the default policy's). When the
/// directory cannot tell, `[policy]` alone is listed (the change itself then checks again).
async fn shown_rules(state: &PortalState, dn: Option<&str>) -> Shown {
    let floor = super::commit::shown_directory_rules(state, dn)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "portal: the directory's password rules are unknown for a form");
            None
        });
    let policy = state.policy();
    let effective = policy.effective(floor.as_ref());
    Shown {
        rules: effective.rules(),
        advice: effective.advice(),
    }
}

/// What [`shown_rules`] found.
struct Shown {
    rules: Vec<RuleDescription>,
    advice: Advice,
}

impl Shown {
    /// No rules: for `/change`, which chooses no password.
    fn none() -> Shown {
        Shown {
            rules: Vec::new(),
            advice: Advice::Words,
        }
    }
}

fn rules_view(
    state: &PortalState,
    kind: FormKind,
    shown: Shown,
    login: String,
    action: String,
    csrf: String,
) -> FormView {
    let title = match kind {
        FormKind::Change => "change.title",
        _ => "form.title",
    };
    FormView {
        title: tr(title, &[]),
        login,
        action,
        needs_current: kind == FormKind::Change || state.config().auth.link_needs_current(),
        rules: Vec::new(),
        advice: String::new(),
        failed: Vec::new(),
        errors: Vec::new(),
        field_errors: FieldErrors::default(),
        csrf,
    }
    .with_rules(&lang::current(), &shown.rules, shown.advice)
}

pub async fn reset_form(
    State(state): State<PortalState>,
    link: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let link = link.map(|Path(l)| l).unwrap_or_default();
    let found = match change::look_up(&state, &link).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "portal: store unavailable");
            return unavailable(&state);
        }
    };
    let shown = match &found {
        Link::Usable(target) => Some(shown_rules(&state, Some(&target.token.dn)).await),
        Link::Locked | Link::Gone => None,
    };
    with_session(&state, &headers, |csrf| match (found, shown) {
        (Link::Usable(target), Some(shown)) => {
            lang::prefer(target.account.language.as_deref());
            let view = rules_view(
                &state,
                FormKind::Link,
                shown,
                target.login(),
                format!("/reset/{link}"),
                csrf.into(),
            );
            state.pages().form(StatusCode::OK, FormKind::Link, &view)
        }
        (unusable, _) => state.pages().unusable_link(&unusable, csrf),
    })
}

/// `/change`'s form: a username and the current password, for a new link (it chooses no
/// password, so it shows no rules).
pub async fn change_form(State(state): State<PortalState>, headers: HeaderMap) -> Response {
    let shown = Shown::none();
    with_session(&state, &headers, |csrf| {
        let view = rules_view(
            &state,
            FormKind::Change,
            shown,
            String::new(),
            "/change".into(),
            csrf.into(),
        );
        state.pages().form(StatusCode::OK, FormKind::Change, &view)
    })
}

/// Whether a POST counts against its client address's limit before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Address {
    Counted,
    /// A link's form: counted only if the link does not work.
    Deferred,
}

/// The checks every POST passes first: the address limit (unless deferred), a readable body,
/// the CSRF field.
pub(super) async fn admit(
    state: &PortalState,
    client: IpAddr,
    headers: &HeaderMap,
    body: Body,
    address: Address,
) -> Result<Form, Response> {
    if address == Address::Counted {
        state.limiter().address(client).await.map_err(|l| too_many(state, l))?;
    }
    let form = super::form::read(headers, body)
        .await
        .map_err(|e| bad_form(state, &e))?;
    if let Err(refusal) = state.csrf().verify(headers, form.optional("csrf")) {
        tracing::info!(?refusal, %client, "portal: CSRF check refused a form");
        return Err(csrf_refused(state));
    }
    Ok(form)
}

/// The opening of the forms that name a login (`/change`, `/resend`): the checks every POST
/// passes ([`admit`], the address counted), the `login` field (trimmed), then one post counted
/// for that login ([`per_login`]). `Err` holds the answer.
pub(super) async fn admitted_login(
    state: &PortalState,
    client: IpAddr,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Form, String), Response> {
    let form = admit(state, client, headers, body, Address::Counted).await?;
    let login = form
        .required("login")
        .map_err(|e| bad_form(state, &e))?
        .trim()
        .to_owned();
    match per_login(state, &login, client).await {
        Some(refused) => Err(refused),
        None => Ok((form, login)),
    }
}

/// Counts one post for the typed `login`; the refusal when none is left (a trip is audited,
/// once per trip).
async fn per_login(state: &PortalState, login: &str, client: IpAddr) -> Option<Response> {
    let limited = state.limiter().account(login).await.err()?;
    let about = About::Typed(login.to_owned());
    refusals::record(state, about, "portal.rate_limited", limited, client);
    Some(too_many(state, limited))
}

/// The typed fields, checked for shape. `Err` holds the errors to show on the form.
fn typed(form: &Form, needs_current: bool) -> Result<Result<Typed, FieldErrors>, FormError> {
    let mut errors = FieldErrors::default();
    let current = if needs_current {
        let value = form.required("current_password")?;
        if let Err(problem) = form::check_value(value) {
            errors.current_password = Some(problem_message(problem, "field.current"));
        }
        Some(Password::new(value))
    } else {
        None
    };
    let new = form.required("new_password")?;
    let confirm = form.required("confirm_password")?;
    if let Err(problem) = form::check_value(new) {
        errors.new_password = Some(problem_message(problem, "field.new"));
    } else if new != confirm {
        errors.confirm_password = Some(tr("form.mismatch", &[]));
    }
    if errors.current_password.is_some() || errors.new_password.is_some() || errors.confirm_password.is_some() {
        return Ok(Err(errors));
    }
    Ok(Ok(Typed {
        current,
        new: Password::new(new),
    }))
}

/// `/change`'s one password field, checked for shape (a new password typed there, by an old
/// bookmark's form, is not read). `Err` holds the errors to show on the form.
fn current_only(form: &Form) -> Result<Result<Password, FieldErrors>, FormError> {
    let value = form.required("current_password")?;
    match form::check_value(value) {
        Ok(()) => Ok(Ok(Password::new(value))),
        Err(problem) => Ok(Err(FieldErrors {
            current_password: Some(problem_message(problem, "field.current")),
            ..FieldErrors::default()
        })),
    }
}

/// Runs a flow in its own task: a client that disconnects, or a timeout, must not interrupt a
/// change between the directory write and its record.
async fn detached(work: impl Future<Output = Outcome> + Send + 'static) -> Outcome {
    tokio::spawn(work).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "portal: a password change task failed");
        Outcome::Unavailable
    })
}

pub async fn reset_submit(
    State(state): State<PortalState>,
    Client(client): Client,
    link: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let form = match admit(&state, client, &headers, body, Address::Deferred).await {
        Ok(f) => f,
        Err(response) => return response,
    };
    let link = link.map(|Path(l)| l).unwrap_or_default();
    let csrf = form.optional("csrf").unwrap_or_default().to_owned();
    let target: LinkTarget = match change::look_up(&state, &link).await {
        Ok(Link::Usable(t)) => *t,
        Ok(unusable) => {
            if let Err(l) = state.limiter().address(client).await {
                return too_many(&state, l);
            }
            return state.pages().unusable_link(&unusable, &csrf).into_response();
        }
        Err(e) => {
            tracing::error!(error = %e, "portal: store unavailable");
            return unavailable(&state);
        }
    };
    lang::prefer(target.account.language.as_deref());
    if let Err(l) = state.links().account(&target.hash).await {
        return too_many(&state, l);
    }
    let shown = shown_rules(&state, Some(&target.token.dn)).await;
    let again = Again {
        state: &state,
        kind: FormKind::Link,
        view: rules_view(
            &state,
            FormKind::Link,
            shown,
            target.login(),
            format!("/reset/{link}"),
            csrf,
        ),
    };
    let typed = match typed(&form, state.config().auth.link_needs_current()) {
        Ok(Ok(t)) => t,
        Ok(Err(errors)) => return again.fields(errors),
        Err(e) => return bad_form(&state, &e),
    };
    let outcome = detached(change::via_link(state.clone(), link, typed, client)).await;
    again.outcome(outcome, started).await
}

pub async fn change_submit(
    State(state): State<PortalState>,
    Client(client): Client,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let (form, login) = match admitted_login(&state, client, &headers, body).await {
        Ok(admitted) => admitted,
        Err(response) => return response,
    };
    let csrf = form.optional("csrf").unwrap_or_default().to_owned();
    // The typed login is shown again only when it is printable and of a sane length.
    let shown = if form::check_value(&login).is_ok() {
        login.clone()
    } else {
        String::new()
    };
    let again = Again {
        state: &state,
        kind: FormKind::Change,
        view: rules_view(&state, FormKind::Change, Shown::none(), shown, "/change".into(), csrf),
    };
    let current = match current_only(&form) {
        Ok(Ok(current)) => current,
        Ok(Err(mut errors)) => {
            errors.login = (login.is_empty()).then(|| problem_message(FieldProblem::Empty, "field.username"));
            return again.fields(errors);
        }
        Err(e) => return bad_form(&state, &e),
    };
    match form::check_value(&login) {
        Ok(()) => {}
        Err(FieldProblem::Empty) => {
            return again.fields(FieldErrors {
                login: Some(problem_message(FieldProblem::Empty, "field.username")),
                ..FieldErrors::default()
            });
        }
        // No directory holds such a login: answer as for any unknown one.
        Err(_) => return again.outcome(Outcome::WrongCredentials, started).await,
    }
    let outcome = detached(change::via_current_password(state.clone(), login, current, client)).await;
    again.outcome(outcome, started).await
}
