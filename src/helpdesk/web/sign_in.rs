//! Signing in and out of the helpdesk's pages: the sign-in form (rate-limited per address and
//! per login, failures answered no sooner than [`SIGN_IN_FAILURE_FLOOR`]) and signing out.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use tokio::time::Instant;

use super::{admit, error_page, frame, must_change_page, redirect, send, too_many};
use crate::helpdesk::HelpdeskState;
use crate::helpdesk::auth::{self, Client};
use crate::helpdesk::error::ApiError;
use crate::helpdesk::sign_in::{SIGN_IN_FAILURE_FLOOR, SignIn, sign_in};
use crate::secret::Secret;
use crate::web::form;

pub(super) async fn login_form(State(state): State<HelpdeskState>, client: Client, headers: HeaderMap) -> Response {
    if state.sessions().id_from(&headers).is_some() && auth::operator(&state, &headers, client.0).await.is_ok() {
        return redirect("/helpdesk/");
    }
    let (f, cookie) = frame(&state, &headers, None).await;
    let page = state.pages().render(
        StatusCode::OK,
        "login.html",
        "Sign in",
        &f,
        minijinja::context! { error => None::<String>, login => "" },
    );
    send(page, cookie)
}

pub(super) async fn login_submit(
    State(state): State<HelpdeskState>,
    client: Client,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    if let Err(l) = state.limiter().address(client.0).await {
        return error_page(&state, &headers, &too_many(l)).await;
    }
    let form = match admit(&state, &headers, body).await {
        Ok(f) => f,
        Err(e) => return error_page(&state, &headers, &e).await,
    };
    let login = form.optional("login").unwrap_or_default().trim().to_owned();
    let password = Secret::new(form.optional("password").unwrap_or_default());
    if let Err(l) = state.limiter().account(&login).await {
        return error_page(&state, &headers, &too_many(l)).await;
    }
    let shaped = form::check_value(&login).is_ok() && form::check_value(password.expose()).is_ok();
    let outcome = if shaped {
        sign_in(&state, &login, &password, client.0).await
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
            let (f, cookie) = frame(&state, &headers, None).await;
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
        Ok(SignIn::MustChange(why)) => {
            let e = auth::must_change(&why);
            must_change_page(&state, &headers, &e.message).await
        }
        Ok(SignIn::Limited(l)) => error_page(&state, &headers, &too_many(l)).await,
        Err(e) => error_page(&state, &headers, &e).await,
    }
}

pub(super) async fn logout(State(state): State<HelpdeskState>, headers: HeaderMap, body: Body) -> Response {
    if let Err(e) = admit(&state, &headers, body).await {
        return error_page(&state, &headers, &e).await;
    }
    if let Some(id) = state.sessions().id_from(&headers) {
        if let Ok(Some(s)) = state.sessions().get(&id).await {
            tracing::info!(login = %s.login, "helpdesk: signed out");
        }
        if let Err(e) = state.sessions().end(&id).await {
            return error_page(&state, &headers, &ApiError::store(&e)).await;
        }
    }
    let mut r = redirect("/helpdesk/login");
    r.headers_mut()
        .append(header::SET_COOKIE, state.sessions().clearing_cookie());
    r
}
