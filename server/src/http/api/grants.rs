//! `/api/v1/services/{id}/grants`, `/reads`, `/api/v1/receipts/{id}/bundle`: residents' grants,
//! reads through the gate, and the receipts' proofs.

use super::token::{AgencyClient, SCOPE_READ};
use super::{ApiError, ApiJson, ApiPath, ErrorBody, require};
use crate::AppState;
use crate::domain::agency::{self, ReadResult};
use crate::domain::gate::Reader;
use crate::domain::records::Range;
use crate::portal::views;
use app::serverfns::agency::AgencyGrantView;
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Lists the pseudonyms that currently grant this service (pending, active or expired;
/// revoked grants are gone).
#[utoipa::path(get, path = "/api/v1/services/{service_id}/grants", tag = "grants", security(("bearer" = [])),
    params(("service_id" = Uuid, Path)),
    responses((status = 200, body = Vec<AgencyGrantView>), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody, description = "needs agency.read"), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
pub(super) async fn list_grants(
    State(state): State<AppState>,
    client: AgencyClient,
    ApiPath(service_id): ApiPath<Uuid>,
) -> Result<Json<Vec<AgencyGrantView>>, ApiError> {
    require(&client, SCOPE_READ)?;
    let grants = agency::grants(&state.db, &client.agency_id, service_id).await?;
    Ok(Json(grants.into_iter().map(views::agency_grant).collect()))
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
    /// Never earlier than the grant's start: what happened before it is not released.
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
pub(super) async fn read(
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
pub(super) async fn receipt_bundle(
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
        Err(
            crate::ledger::bundle::BundleError::NotYetCosigned(_)
            | crate::ledger::bundle::BundleError::NoPolicy
            | crate::ledger::bundle::BundleError::NotYetSealed(..)
            | crate::ledger::bundle::BundleError::ReadingNotSealed(..),
        ) => Err(not_yet()),
        Err(crate::ledger::bundle::BundleError::Other(e)) => Err(ApiError::internal(format!("{e:#}"))),
    }
}

// ---------------------------------------------------------------------------------------------
