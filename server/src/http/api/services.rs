//! `/api/v1/services`: the agency's services and their immutable versions.

use super::token::{AgencyClient, SCOPE_PUBLISH};
use super::{ApiError, ApiJson, ApiPath, ErrorBody, require};
use crate::AppState;
use crate::domain::agency::{self};
use crate::portal::views;
use app::serverfns::agency::{PublishedView, ServiceView, VersionInput};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Lists the agency's services and their versions.
#[utoipa::path(get, path = "/api/v1/services", tag = "services", security(("bearer" = [])),
    responses((status = 200, body = Vec<ServiceView>),
              (status = 401, body = ErrorBody, description = "missing or invalid token"),
              (status = 429, body = ErrorBody, description = "rate limited")))]
pub(super) async fn list_services(
    State(state): State<AppState>,
    client: AgencyClient,
) -> Result<Json<Vec<ServiceView>>, ApiError> {
    let services = agency::services(&state.db, &client.agency_id).await?;
    Ok(Json(services.into_iter().map(views::service).collect()))
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
pub(super) async fn create_service(
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
pub(super) async fn publish_version(
    State(state): State<AppState>,
    client: AgencyClient,
    ApiPath(service_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<VersionInput>,
) -> Result<(StatusCode, Json<PublishedView>), ApiError> {
    require(&client, SCOPE_PUBLISH)?;
    let new = views::new_version(input)?;
    let published = agency::publish(&state.db, &client.agency_id, service_id, &new).await?;
    Ok((StatusCode::CREATED, Json(views::published(&published))))
}

/// Withdraws a service: residents can no longer grant it; existing grants keep their version.
#[utoipa::path(post, path = "/api/v1/services/{service_id}/withdraw", tag = "services", security(("bearer" = [])),
    params(("service_id" = Uuid, Path)),
    responses((status = 204, description = "withdrawn"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "needs agency.publish"),
              (status = 404, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub(super) async fn withdraw_service(
    State(state): State<AppState>,
    client: AgencyClient,
    ApiPath(service_id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    require(&client, SCOPE_PUBLISH)?;
    agency::withdraw(&state.db, &client.agency_id, service_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
