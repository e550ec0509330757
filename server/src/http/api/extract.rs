//! What a handler extracts: the authenticated, rate-limited agency client, and bodies and
//! paths refused in the API's own error shape.

use super::ApiError;
use super::token::{AgencyClient, TokenError};
use crate::AppState;
use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path};
use axum::http::{StatusCode, header, request::Parts};

/// A JSON body, refused in the API's own error shape (`{error, reason, message}`, 400 or 413)
/// instead of axum's plain-text rejection.
#[derive(FromRequest)]
#[from_request(via(Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// A path parameter, refused in the API's own error shape.
#[derive(FromRequestParts)]
#[from_request(via(Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// The authenticated, rate-limited agency client of a request.
impl FromRequestParts<AppState> for AgencyClient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", "invalid_token", m);
        let auth = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| unauthorized("send an access token: Authorization: Bearer <token>"))?;
        let token = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))
            .ok_or_else(|| unauthorized("the Authorization header must use the Bearer scheme"))?;
        let client = state.api.tokens.verify(token.trim()).await.map_err(|e| match e {
            TokenError::Invalid(m) => unauthorized(&m),
            TokenError::Keys(e) => ApiError::internal(format!("{e:#}")),
        })?;
        if let Err(not_until) = state.api.limiter.check_key(&client.client_id) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "rate_limited",
                format!("too many requests from client {}; slow down", client.client_id),
            );
            e.retry_after = Some(wait.as_secs().max(1));
            return Err(e);
        }
        Ok(client)
    }
}

pub(super) fn require(client: &AgencyClient, scope: &str) -> Result<(), ApiError> {
    if client.scopes.iter().any(|s| s == scope) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            scope,
            format!("the token lacks the {scope} scope"),
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Services
