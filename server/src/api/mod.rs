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
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
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
use crate::gate::{DenyReason, GateError, ReadRequest, Reader};
use crate::grants::GrantState;
use crate::records::{Range, ScopeData};
use crate::services::{AccessMode, NewVersion, ServiceError};

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

/// The catalogue's key shape (`migrations`: `scope.scope_key`): lowercase dotted words.
fn is_scope_key(s: &str) -> bool {
    let mut parts = s.split('.');
    let first_ok = parts.next().is_some_and(|p| p.starts_with(|c: char| c.is_ascii_lowercase()));
    let word = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    s.len() <= chain::leaf::MAX_SCOPE && first_ok && s.contains('.') && s.split('.').all(word)
}

/// The service, if it belongs to the client's agency (else "not found").
async fn own_service(state: &AppState, client: &AgencyClient, service_id: Uuid) -> Result<(), ApiError> {
    let owner = sqlx::query_scalar!("select agency_id from service where service_id = $1", service_id)
        .fetch_optional(&state.db)
        .await?;
    match owner {
        Some(a) if a == client.agency_id => Ok(()),
        _ => Err(ApiError::not_found("service")),
    }
}

// ---------------------------------------------------------------------------------------------
// Services

/// A published version of a service.
#[derive(Serialize, ToSchema)]
pub struct VersionView {
    pub version: i32,
    pub name_en: String,
    pub name_zh: String,
    pub description_en: String,
    pub description_zh: String,
    pub category: String,
    pub purpose: String,
    pub required_scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
    pub retention_days: i32,
    pub districts: Vec<String>,
    /// `one_off`, `recurring` or `ongoing`.
    pub access_mode: String,
    pub max_reads_per_day: Option<i32>,
    /// Hex leaf hash of the version's `service.published` ledger entry.
    pub leaf_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub published_at: OffsetDateTime,
}

/// A service of the agency and all its versions, oldest first.
#[derive(Serialize, ToSchema)]
pub struct ServiceView {
    pub service_id: Uuid,
    pub slug: String,
    /// `draft`, `published` or `withdrawn`.
    pub status: String,
    pub versions: Vec<VersionView>,
}

/// Lists the agency's services and their versions.
#[utoipa::path(get, path = "/api/v1/services", tag = "services", security(("bearer" = [])),
    responses((status = 200, body = Vec<ServiceView>),
              (status = 401, body = ErrorBody, description = "missing or invalid token"),
              (status = 429, body = ErrorBody, description = "rate limited")))]
async fn list_services(
    State(state): State<AppState>,
    client: AgencyClient,
) -> Result<Json<Vec<ServiceView>>, ApiError> {
    let services = sqlx::query!(
        "select service_id, slug, status from service where agency_id = $1 order by slug",
        client.agency_id
    )
    .fetch_all(&state.db)
    .await?;
    let ids: Vec<Uuid> = services.iter().map(|s| s.service_id).collect();
    let versions = sqlx::query!(
        // language=PostgreSQL
        r#"select service_id, version, name_en, name_zh, description_en, description_zh, category, purpose,
                  required_scopes, optional_scopes, retention_days, districts, access_mode, max_reads_per_day,
                  leaf_hash, published_at
           from service_version where service_id = any($1) order by service_id, version"#,
        &ids
    )
    .fetch_all(&state.db)
    .await?;
    Ok(Json(
        services
            .into_iter()
            .map(|s| ServiceView {
                versions: versions
                    .iter()
                    .filter(|v| v.service_id == s.service_id)
                    .map(|v| VersionView {
                        version: v.version,
                        name_en: v.name_en.clone(),
                        name_zh: v.name_zh.clone(),
                        description_en: v.description_en.clone(),
                        description_zh: v.description_zh.clone(),
                        category: v.category.clone(),
                        purpose: v.purpose.clone(),
                        required_scopes: v.required_scopes.clone(),
                        optional_scopes: v.optional_scopes.clone(),
                        retention_days: v.retention_days,
                        districts: v.districts.clone(),
                        access_mode: v.access_mode.clone(),
                        max_reads_per_day: v.max_reads_per_day,
                        leaf_hash: hex::encode(&v.leaf_hash),
                        published_at: v.published_at,
                    })
                    .collect(),
                service_id: s.service_id,
                slug: s.slug,
                status: s.status,
            })
            .collect(),
    ))
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
    body: Result<Json<NewServiceInput>, JsonRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    require(&client, SCOPE_PUBLISH)?;
    let Json(input) = body?;
    let service_id = crate::services::create_service(&state.db, &client.agency_id, &input.slug).await?;
    Ok((StatusCode::CREATED, Json(Created { service_id })))
}

/// What a new version declares. Every field is required except where a default is given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionInput {
    pub name_en: String,
    pub name_zh: String,
    #[serde(default)]
    pub description_en: String,
    #[serde(default)]
    pub description_zh: String,
    pub category: String,
    /// What the data is used for, shown to residents and copied into every grant.
    pub purpose: String,
    pub required_scopes: Vec<String>,
    #[serde(default)]
    pub optional_scopes: Vec<String>,
    pub retention_days: u32,
    #[serde(default)]
    pub districts: Vec<String>,
    /// `one_off`, `recurring` (with `max_reads_per_day`) or `ongoing`.
    pub access_mode: String,
    #[serde(default)]
    pub max_reads_per_day: Option<u32>,
}

impl VersionInput {
    fn into_new_version(self) -> Result<NewVersion, ApiError> {
        let access_mode = match (self.access_mode.as_str(), self.max_reads_per_day) {
            ("one_off", None) => AccessMode::OneOff,
            ("ongoing", None) => AccessMode::Ongoing,
            ("recurring", Some(n)) => AccessMode::Recurring { max_reads_per_day: n },
            ("recurring", None) => return Err(ApiError::invalid("max_reads_per_day", "required for recurring access")),
            ("one_off" | "ongoing", Some(_)) => {
                return Err(ApiError::invalid("max_reads_per_day", "only recurring access has a daily limit"));
            }
            (other, _) => {
                return Err(ApiError::invalid(
                    "access_mode",
                    format!("{other:?} is not one of one_off, recurring, ongoing"),
                ));
            }
        };
        Ok(NewVersion {
            name_en: self.name_en,
            name_zh: self.name_zh,
            description_en: self.description_en,
            description_zh: self.description_zh,
            category: self.category,
            purpose: self.purpose,
            required_scopes: self.required_scopes,
            optional_scopes: self.optional_scopes,
            retention_days: self.retention_days,
            districts: self.districts,
            access_mode,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct PublishedView {
    pub version: i32,
    pub ledger_entry_id: i64,
    pub leaf_hash: String,
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
    path: Result<Path<Uuid>, PathRejection>,
    body: Result<Json<VersionInput>, JsonRejection>,
) -> Result<(StatusCode, Json<PublishedView>), ApiError> {
    require(&client, SCOPE_PUBLISH)?;
    let Path(service_id) = path?;
    own_service(&state, &client, service_id).await?;
    let Json(input) = body?;
    let p = crate::services::publish_version(&state.db, service_id, &input.into_new_version()?).await?;
    Ok((
        StatusCode::CREATED,
        Json(PublishedView { version: p.version, ledger_entry_id: p.ledger_entry_id, leaf_hash: p.leaf_hash.to_hex() }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Grants and reads

/// A resident's grant as the agency sees it: under the service's pseudonym only.
#[derive(Serialize, ToSchema)]
pub struct GrantView {
    /// The resident's pseudonym at this service (64 hex digits).
    pub pseudonym: String,
    pub version: i32,
    pub scopes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub valid_until: OffsetDateTime,
    pub state: GrantState,
}

/// Lists the pseudonyms that currently grant this service (pending, active or expired;
/// revoked grants are gone).
#[utoipa::path(get, path = "/api/v1/services/{service_id}/grants", tag = "grants", security(("bearer" = [])),
    params(("service_id" = Uuid, Path)),
    responses((status = 200, body = Vec<GrantView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "needs agency.read"), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn list_grants(
    State(state): State<AppState>,
    client: AgencyClient,
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<Vec<GrantView>>, ApiError> {
    require(&client, SCOPE_READ)?;
    let Path(service_id) = path?;
    own_service(&state, &client, service_id).await?;
    let mut conn = state.db.acquire().await?;
    let quorum = crate::grants::quorum_size(&mut conn).await?;
    let rows = sqlx::query!(
        // language=PostgreSQL
        r#"select g.pseudonym, g.version, g.scopes, g.valid_until, e.leaf_index as "leaf_index?"
           from data_grant g join ledger_entry e on e.ledger_entry_id = g.issued_entry_id
           where g.service_id = $1
             and not exists (select 1 from grant_revocation r where r.data_grant_id = g.data_grant_id)
           order by g.created_at, g.data_grant_id"#,
        service_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let now = OffsetDateTime::now_utc();
    Ok(Json(
        rows.into_iter()
            .map(|r| GrantView {
                pseudonym: hex::encode(&r.pseudonym),
                version: r.version,
                state: crate::grants::state_of(None, r.leaf_index, quorum, r.valid_until, now),
                scopes: r.scopes,
                valid_until: r.valid_until,
            })
            .collect(),
    ))
}

/// A read of one resident's data.
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

/// The data the gate released, and the receipt written before it was.
#[derive(Serialize, ToSchema)]
pub struct ReadResult {
    pub receipt_id: Uuid,
    pub pseudonym: String,
    pub scopes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub read_at: OffsetDateTime,
    pub data: std::collections::BTreeMap<String, ScopeData>,
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
    path: Result<Path<Uuid>, PathRejection>,
    body: Result<Json<ReadInput>, JsonRejection>,
) -> Result<Json<ReadResult>, ApiError> {
    require(&client, SCOPE_READ)?;
    let Path(service_id) = path?;
    own_service(&state, &client, service_id).await?;
    let Json(input) = body?;
    let pseudonym = chain::Pseudonym::from_hex(&input.pseudonym)
        .map_err(|_| ApiError::invalid("pseudonym", "must be 64 hex digits"))?;
    if let Some(bad) = input.scopes.iter().find(|s| !is_scope_key(s)) {
        return Err(ApiError::invalid("scopes", format!("{bad:?} is not a scope (e.g. transit.trips)")));
    }
    let reader = Reader { agency_id: client.agency_id.clone(), id: client.reader_id() };
    let req = ReadRequest {
        service_id,
        pseudonym,
        scopes: input.scopes,
        range: Range { from: input.from, to: input.to, limit: input.limit },
    };
    let released = state.gate.read(&state.db, &reader, &req).await?;
    Ok(Json(ReadResult {
        receipt_id: released.receipt_id,
        pseudonym: input.pseudonym.to_ascii_lowercase(),
        scopes: released.scopes,
        read_at: released.read_at,
        data: released.data,
    }))
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
    path: Result<Path<Uuid>, PathRejection>,
) -> Result<Response, ApiError> {
    require(&client, SCOPE_READ)?;
    let Path(receipt_id) = path?;
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
    paths(list_services, create_service, publish_version, list_grants, read, receipt_bundle),
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

/// `/api/v1`: mounted by `web::app` outside the session and Origin layers (bearer tokens are
/// not sent by browsers on their own, so cross-site requests cannot forge them).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/services", get(list_services).post(create_service))
        .route("/api/v1/services/{service_id}/versions", post(publish_version))
        .route("/api/v1/services/{service_id}/grants", get(list_grants))
        .route("/api/v1/services/{service_id}/reads", post(read))
        .route("/api/v1/receipts/{receipt_id}/bundle", get(receipt_bundle))
        .route("/api/v1/{*rest}", axum::routing::any(unknown_route))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

/// The guard for a running server: tokens from the configured provider, the configured rate.
#[must_use]
pub fn guard(oidc: &crate::auth::Oidc, config: &crate::config::Config) -> Arc<ApiGuard> {
    let tokens = TokenVerifier::new(
        oidc.jwks_uri().clone(),
        oidc.http().clone(),
        oidc.issuer().to_owned(),
        config.api_audience.clone(),
    );
    Arc::new(ApiGuard::new(tokens, config.api_rate_per_minute))
}

#[cfg(test)]
mod tests {
    use super::is_scope_key;

    #[test]
    fn scope_keys_are_lowercase_dotted_words() {
        for ok in ["transit.trips", "identity.age_over_65", "a.b.c"] {
            assert!(is_scope_key(ok), "{ok}");
        }
        for bad in ["Transit Trips", "transit", ".trips", "transit.", "transit..trips", "9.trips", "transit.Trips", ""]
        {
            assert!(!is_scope_key(bad), "{bad}");
        }
    }
}
