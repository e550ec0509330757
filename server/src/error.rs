//! One error type for the HTTP edge: each variant is an outcome a client can see.
//! Internal detail is logged here and never sent; the client gets the `Display` text.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; the message names the problem.
    #[error("{0}")]
    BadRequest(String),
    /// No valid session, or the login attempt failed.
    #[error("authentication required")]
    Unauthorized,
    /// Authenticated, but not allowed (also used for failed CSRF/Origin checks).
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not found")]
    NotFound,
    /// A login callback that cannot be trusted: state mismatch, replayed or expired code,
    /// bad ID token. Detail is logged, the user gets a retry link.
    #[error("sign-in failed: {0}")]
    Login(&'static str),
    /// The identity provider or another upstream did not answer as expected.
    #[error("an upstream service is unavailable")]
    Upstream(#[source] anyhow::Error),
    #[error("an internal error occurred")]
    Sqlx(#[from] sqlx::Error),
    #[error("an internal error occurred")]
    Anyhow(#[from] anyhow::Error),
}

impl Error {
    #[must_use]
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Login(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Sqlx(_) | Self::Anyhow(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short machine-readable code for JSON clients.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound => "not_found",
            Self::Login(_) => "login_failed",
            Self::Upstream(_) => "upstream_unavailable",
            Self::Sqlx(_) | Self::Anyhow(_) => "internal",
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Self::Sqlx(e) => tracing::error!(error = ?e, "database error"),
            Self::Anyhow(e) => tracing::error!(error = ?e, "internal error"),
            Self::Upstream(e) => tracing::warn!(error = ?e, "upstream error"),
            Self::Login(why) => tracing::warn!(reason = why, "login rejected"),
            _ => {}
        }
        let status = self.status_code();
        (status, Json(json!({ "error": self.code(), "message": self.to_string() }))).into_response()
    }
}

/// The same errors, rendered as a small HTML page for browser-facing routes
/// (the login callback), with a way back.
#[derive(Debug)]
pub struct HtmlError(pub Error);

impl<E: Into<Error>> From<E> for HtmlError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for HtmlError {
    fn into_response(self) -> Response {
        let status = self.0.status_code();
        let json = self.0.into_response();
        let message = if status.is_server_error() {
            "Something went wrong on our side. Please try again in a moment."
        } else {
            "Sign-in did not complete. Please try again."
        };
        drop(json); // logged by Error::into_response; the body is replaced below
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>onecity</title>\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"></head>\
             <body><main><h1>onecity</h1><p id=\"auth-error\" role=\"alert\">{message}</p>\
             <p><a href=\"/auth/login\">Sign in again</a> · <a href=\"/\">Home</a></p></main></body></html>"
        );
        (status, [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
    }
}
