//! The API's one error shape, `{error, reason, message}`, and how every failure maps to it.

use super::MAX_BODY;
use crate::domain::agency::AgencyError;
use crate::domain::gate::GateError;
use crate::domain::services::ServiceError;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The error body of every failed API call.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Error class, e.g. `access_denied`.
    #[schema(example = "access_denied")]
    pub error: &'static str,
    /// The specific cause, e.g. `revoked`, or the name of the bad field.
    #[schema(example = "revoked")]
    pub reason: String,
    /// A sentence for people.
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub(super) status: StatusCode,
    pub(super) body: ErrorBody,
    pub(super) retry_after: Option<u64>,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        error: &'static str,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self { status, body: ErrorBody { error, reason: reason.into(), message: message.into() }, retry_after: None }
    }

    pub(super) fn invalid(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", field, format!("{field}: {problem}"))
    }

    pub(super) fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what, format!("no such {what}"))
    }

    pub(super) fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "agency API request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal", "an internal error occurred")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer error="invalid_token""#));
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::internal(e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "body",
                format!("the body is larger than {MAX_BODY} bytes"),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::invalid("content-type", "send the body as application/json"),
            // serde's message names the field and the problem ("unknown field `x`", "missing
            // field `scopes`", "invalid type ... at line 1 column 9").
            _ => Self::invalid("body", r.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::invalid("path", r.body_text())
    }
}

impl From<AgencyError> for ApiError {
    fn from(e: AgencyError) -> Self {
        match e {
            AgencyError::NotFound(what) => Self::not_found(what),
            AgencyError::Invalid { field, problem } => Self::invalid(field, problem),
            AgencyError::Gate(e) => e.into(),
            AgencyError::Service(e) => e.into(),
            AgencyError::Database(e) => Self::internal(e),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid { field, problem } => Self::invalid(field, problem),
            ServiceError::UnknownScope(_) => Self::invalid("scopes", e.to_string()),
            ServiceError::NotFound => Self::not_found("service"),
            ServiceError::Withdrawn => Self::new(StatusCode::CONFLICT, "conflict", "withdrawn", e.to_string()),
            ServiceError::Database(e) => Self::internal(e),
            ServiceError::Other(e) => Self::internal(e),
        }
    }
}

impl From<GateError> for ApiError {
    fn from(e: GateError) -> Self {
        match e {
            GateError::Denied { reason, message } => {
                Self::new(StatusCode::FORBIDDEN, "access_denied", reason.as_str(), message)
            }
            GateError::Invalid { field, problem } => Self::invalid(field, problem),
            GateError::Internal(e) => Self::internal(format!("{e:#}")),
        }
    }
}
