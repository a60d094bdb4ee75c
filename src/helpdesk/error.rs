//! The one place where the helpdesk's failures become HTTP statuses: a JSON body
//! `{"code": "...", "message": "..."}` whose `code` is stable (scripts match on it) and whose
//! message says what to do. The web pages show the same message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::directory::DirectoryError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn unauthenticated(code: &'static str, message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn store(e: &StoreError) -> Self {
        tracing::error!(error = %e, "helpdesk: store");
        let mut err = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store cannot be read or written right now; nothing was changed, try again",
        );
        err.retry_after = Some(10);
        err
    }

    pub fn directory(e: &DirectoryError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "helpdesk: directory unavailable");
            let mut err = Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "directory_unavailable",
                format!("the directory is unavailable ({e}); nothing was changed, try again"),
            );
            err.retry_after = Some(10);
            err
        } else {
            Self::new(
                StatusCode::BAD_GATEWAY,
                "directory_refused",
                format!("the directory refused: {e}"),
            )
        }
    }

    /// [`Self::directory`] for someone not signed in yet: the same status and code, but the
    /// error's words (the directory's URL, the service account's DN, the DN of the login typed)
    /// go to the log only, never to a client nobody has recognised.
    pub fn directory_before_sign_in(e: &DirectoryError) -> Self {
        tracing::warn!(error = %e, "helpdesk: the directory failed during a sign-in");
        let (status, code) = if e.is_unavailable() {
            (StatusCode::SERVICE_UNAVAILABLE, "directory_unavailable")
        } else {
            (StatusCode::BAD_GATEWAY, "directory_refused")
        };
        let mut err = Self::new(
            status,
            code,
            "the directory cannot check a sign-in right now; nothing was changed, try again",
        );
        err.retry_after = Some(10);
        err
    }

    pub fn internal(what: &str) -> Self {
        tracing::error!("helpdesk: {what}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error: {what}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(Body {
                code: self.code,
                message: &self.message,
            }),
        )
            .into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"pwresetd helpdesk\""),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
