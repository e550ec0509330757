//! The agency API under `/api/v1`: JSON, OAuth2 client-credentials bearer tokens from the
//! identity provider, and an OpenAPI 3 document generated from these handlers at
//! `/api/v1/openapi.json`.
//!
//! Every error is `{error, reason, message}` with the matching status: `error` is the class
//! (`invalid_request`, `invalid_token`, `insufficient_scope`, `not_found`, `access_denied`,
//! `conflict`, `not_yet_cosigned`, `payload_too_large`, `rate_limited`, `internal`), `reason` the
//! specific cause (for `access_denied` the gate's reason, for `invalid_request` the field),
//! `message` a sentence for people. Another agency's service or receipt is `not_found`, never
//! `forbidden`: the API does not confirm what exists elsewhere.

pub mod token;

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use utoipa::OpenApi;

use self::token::TokenVerifier;
use crate::AppState;
use crate::domain::gate::DenyReason;

mod devices;
mod error;
mod extract;
mod grants;
mod services;

pub use self::error::*;
pub use self::extract::*;
pub use self::grants::*;
pub use self::services::*;

/// Largest request body the API accepts.
pub const MAX_BODY: usize = 64 * 1024;

/// Token verification and per-client rate limits.
pub struct ApiGuard {
    pub tokens: TokenVerifier,
    limiter: DefaultKeyedRateLimiter<String>,
}

impl ApiGuard {
    #[must_use]
    pub fn new(tokens: TokenVerifier, per_minute: u32) -> Self {
        let rate = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(per_minute / 10).unwrap_or(NonZeroU32::MIN);
        Self { tokens, limiter: RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)) }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "onecity agency API", version = "1",
         description = "Agency systems publish services and read residents' granted data through the gate. \
                        Authenticate with an OAuth2 client-credentials access token from the city's identity \
                        provider (scopes agency.read, agency.publish)."),
    paths(list_services, create_service, publish_version, withdraw_service, list_grants, read, receipt_bundle),
    components(schemas(ErrorBody, DenyReason)),
    modifiers(&BearerAuth),
    tags((name = "services", description = "The agency's services and their immutable versions"),
         (name = "grants", description = "Residents' grants, reads through the gate, receipts"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("endpoint")
}

async fn wrong_method(method: axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        method.as_str(),
        format!("{method} is not allowed here; see /api/v1/openapi.json"),
    )
}

/// `/api/v1`: mounted by `web::app` outside the session and Origin layers (bearer tokens are
/// not sent by browsers on their own, so cross-site requests cannot forge them).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/services", get(list_services).post(create_service))
        .route("/api/v1/services/{service_id}/versions", post(publish_version))
        .route("/api/v1/services/{service_id}/withdraw", post(withdraw_service))
        .route("/api/v1/services/{service_id}/grants", get(list_grants))
        .route("/api/v1/services/{service_id}/reads", post(read))
        .route("/api/v1/receipts/{receipt_id}/bundle", get(receipt_bundle))
        .route("/api/v1/devices/{device_id}/readings", post(devices::post_readings))
        .route("/api/v1/{*rest}", axum::routing::any(unknown_route))
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// `/devices/{id}/passport`: public, mounted beside the ledger's public routes (and their
/// rate limit on proof bundles).
pub fn passport_router() -> Router<AppState> {
    Router::new().route("/devices/{device_id}/passport", get(devices::passport))
}

/// The guard for a running server: tokens from the configured provider, the configured rate.
#[must_use]
pub fn guard(oidc: &crate::http::auth::Oidc, config: &crate::config::Config) -> Arc<ApiGuard> {
    let tokens = TokenVerifier::new(
        oidc.jwks_uri().clone(),
        oidc.http().clone(),
        oidc.issuer().to_owned(),
        config.api_audience.clone(),
    );
    Arc::new(ApiGuard::new(tokens, config.api_rate_per_minute))
}
