//! The agency API under `/api/v1`: JSON, OAuth2 client-credentials bearer tokens from the
//! identity provider, and an OpenAPI 3 document generated from these handlers at
//! `/api/v1/openapi.json`.
//!
//! Every error is `{error, reason, message}` with the matching status: `error` is the class
//! (`invalid_request`, `invalid_token`, `insufficient_scope`, `not_found`, `access_denied`,
//! `not_yet_cosigned`, `payload_too_large`, `rate_limited`, `internal`), `reason` the specific
//! cause (for `access_denied` the gate's reason, for `invalid_request` the field), `message`
//! a sentence for people. Another agency's service or receipt is `not_found`, never
//! `forbidden`: the API does not confirm what exists elsewhere.

pub mod token;

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection};

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, State};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use self::token::{AgencyClient, SCOPE_PUBLISH, SCOPE_READ, TokenError, TokenVerifier};
use crate::AppState;
use crate::domain::agency::{self, AgencyError, ReadResult};
use crate::domain::gate::{DenyReason, GateError, Reader};
use crate::domain::records::Range;
use crate::domain::services::ServiceError;
use app::serverfns::agency::{AgencyGrantView, PublishedView, ServiceView, VersionInput};

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
    status: StatusCode,
    body: ErrorBody,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, error: &'static str, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self { status, body: ErrorBody { error, reason: reason.into(), message: message.into() }, retry_after: None }
    }

    fn invalid(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", field, format!("{field}: {problem}"))
    }

    fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", what, format!("no such {what}"))
    }

    fn internal(e: impl std::fmt::Display) -> Self {
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

fn require(client: &AgencyClient, scope: &str) -> Result<(), ApiError> {
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

/// Lists the agency's services and their versions.
#[utoipa::path(get, path = "/api/v1/services", tag = "services", security(("bearer" = [])),
    responses((status = 200, body = Vec<ServiceView>),
              (status = 401, body = ErrorBody, description = "missing or invalid token"),
              (status = 429, body = ErrorBody, description = "rate limited")))]
async fn list_services(
    State(state): State<AppState>,
    client: AgencyClient,
) -> Result<Json<Vec<ServiceView>>, ApiError> {
    Ok(Json(agency::services(&state.db, &client.agency_id).await?))
}

/// A new service (a draft until its first version is published).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewServiceInput {
    /// 2–60 lowercase letters, digits and dashes, unique within the agency.
    #[schema(example = "fare-capping")]
    pub slug: String,
}

#[derive(Serialize, ToSchema)]
pub struct Created {
    pub service_id: Uuid,
}

/// Creates a draft service.
#[utoipa::path(post, path = "/api/v1/services", tag = "services", security(("bearer" = [])),
    request_body = NewServiceInput,
    responses((status = 201, body = Created),
              (status = 400, body = ErrorBody, description = "invalid field (reason names it)"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "needs agency.publish"),
              (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn create_service(
    State(state): State<AppState>,
    client: AgencyClient,
    ApiJson(input): ApiJson<NewServiceInput>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    require(&client, SCOPE_PUBLISH)?;
    let service_id = agency::create_service(&state.db, &client.agency_id, &input.slug).await?;
    Ok((StatusCode::CREATED, Json(Created { service_id })))
}

/// Publishes the next version of a service (a `service.published` ledger entry).
#[utoipa::path(post, path = "/api/v1/services/{service_id}/versions", tag = "services", security(("bearer" = [])),
    params(("service_id" = Uuid, Path)), request_body = VersionInput,
    responses((status = 201, body = PublishedView),
              (status = 400, body = ErrorBody, description = "invalid field (reason names it)"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "needs agency.publish"),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "service withdrawn"),
              (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn publish_version(
    State(state): State<AppState>,
    client: AgencyClient,
    ApiPath(service_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<VersionInput>,
) -> Result<(StatusCode, Json<PublishedView>), ApiError> {
    require(&client, SCOPE_PUBLISH)?;
    Ok((StatusCode::CREATED, Json(agency::publish(&state.db, &client.agency_id, service_id, input).await?)))
}

/// Withdraws a service: residents can no longer grant it; existing grants keep their version.
#[utoipa::path(post, path = "/api/v1/services/{service_id}/withdraw", tag = "services", security(("bearer" = [])),
    params(("service_id" = Uuid, Path)),
    responses((status = 204, description = "withdrawn"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "needs agency.publish"),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn withdraw_service(
    State(state): State<AppState>,
    client: AgencyClient,
    ApiPath(service_id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    require(&client, SCOPE_PUBLISH)?;
    agency::withdraw(&state.db, &client.agency_id, service_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Grants and reads

/// Lists the pseudonyms that currently grant this service (pending, active or expired;
/// revoked grants are gone).
#[utoipa::path(get, path = "/api/v1/services/{service_id}/grants", tag = "grants", security(("bearer" = [])),
    params(("service_id" = Uuid, Path)),
    responses((status = 200, body = Vec<AgencyGrantView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "needs agency.read"), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn list_grants(
    State(state): State<AppState>,
    client: AgencyClient,
    ApiPath(service_id): ApiPath<Uuid>,
) -> Result<Json<Vec<AgencyGrantView>>, ApiError> {
    require(&client, SCOPE_READ)?;
    Ok(Json(agency::grants(&state.db, &client.agency_id, service_id).await?))
}

/// A read of one resident's data. `from`, `to` and `limit` are [`Range`]'s fields spelled out:
/// serde cannot refuse unknown fields next to a flattened struct.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadInput {
    /// The resident's pseudonym at this service (64 hex digits).
    pub pseudonym: String,
    /// Scopes to read: each must be in the grant.
    pub scopes: Vec<String>,
    /// Behavioral scopes: earliest time (inclusive, RFC 3339). Default: 31 days before `to`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub from: Option<OffsetDateTime>,
    /// Behavioral scopes: latest time (exclusive, RFC 3339). Default: now.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub to: Option<OffsetDateTime>,
    /// Behavioral scopes: most records per scope, newest first (1–1000, default 200).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Reads a resident's granted data through the gate. Writes an access receipt (visible to the
/// resident, with a proof) before anything is returned.
#[utoipa::path(post, path = "/api/v1/services/{service_id}/reads", tag = "grants", security(("bearer" = [])),
    params(("service_id" = Uuid, Path)), request_body = ReadInput,
    responses((status = 200, body = ReadResult),
              (status = 400, body = ErrorBody, description = "invalid field (reason names it)"),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "access_denied with reason no_grant, pending, expired, \
                  revoked, scope_not_granted, frequency_exceeded or integrity; or insufficient_scope"),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn read(
    State(state): State<AppState>,
    client: AgencyClient,
    ApiPath(service_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<ReadInput>,
) -> Result<Json<ReadResult>, ApiError> {
    require(&client, SCOPE_READ)?;
    let range = Range { from: input.from, to: input.to, limit: input.limit };
    let reader = Reader { agency_id: client.agency_id.clone(), id: client.reader_id() };
    let result =
        agency::read(&state.db, &state.gate, &reader, service_id, &input.pseudonym, input.scopes, range).await?;
    Ok(Json(result))
}

/// Fetches the proof bundle of one of the agency's receipts, once a quorum checkpoint covers it.
#[utoipa::path(get, path = "/api/v1/receipts/{receipt_id}/bundle", tag = "grants", security(("bearer" = [])),
    params(("receipt_id" = Uuid, Path)),
    responses((status = 200, description = "proof bundle (docs/ledger-format.md)", body = Object),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "needs agency.read"),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "not yet in a quorum-cosigned checkpoint; retry"),
              (status = 429, body = ErrorBody)))]
async fn receipt_bundle(
    State(state): State<AppState>,
    client: AgencyClient,
    ApiPath(receipt_id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    require(&client, SCOPE_READ)?;
    let row = sqlx::query!(
        r#"select s.agency_id, e.leaf_index as "leaf_index?" from access_receipt a
           join service s on s.service_id = a.service_id
           join ledger_entry e on e.ledger_entry_id = a.ledger_entry_id
           where a.access_receipt_id = $1"#,
        receipt_id
    )
    .fetch_optional(&state.db)
    .await?
    .filter(|r| r.agency_id == client.agency_id)
    .ok_or_else(|| ApiError::not_found("receipt"))?;
    bundle_response(&state, row.leaf_index).await
}

/// The proof bundle of a ledger entry as a JSON response, or `not_yet_cosigned`.
///
/// # Errors
/// 409 while no quorum checkpoint covers the entry; storage errors.
pub async fn bundle_response(state: &AppState, leaf_index: Option<i64>) -> Result<Response, ApiError> {
    let not_yet = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_yet_cosigned",
            "not_yet_cosigned",
            "the entry is not yet in a quorum-cosigned checkpoint; try again in a few seconds",
        )
    };
    let index = leaf_index.and_then(|i| u64::try_from(i).ok()).ok_or_else(not_yet)?;
    let mut conn = state.db.acquire().await?;
    match crate::ledger::bundle::bundle_for(&mut conn, &state.ledger, index).await {
        Ok(b) => {
            Ok(([(header::CONTENT_TYPE, "application/json")], b.to_json().map_err(ApiError::internal)?).into_response())
        }
        Err(crate::ledger::bundle::BundleError::NotYetCosigned(_) | crate::ledger::bundle::BundleError::NoPolicy) => {
            Err(not_yet())
        }
        Err(crate::ledger::bundle::BundleError::Other(e)) => Err(ApiError::internal(format!("{e:#}"))),
    }
}

// ---------------------------------------------------------------------------------------------

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
        .route("/api/v1/{*rest}", axum::routing::any(unknown_route))
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(MAX_BODY))
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
