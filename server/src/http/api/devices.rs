//! Devices on the wire: a device posts its signed readings (no bearer token: the signature
//! over each reading, checked against the device's passport, is what authenticates it), and
//! anyone reads a device's public passport, as JSON or as a proof bundle to check offline.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chain::device::SignedReading;
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiError, ApiJson, ApiPath, bundle_response};
use crate::AppState;
use crate::domain::devices::{self, DeviceError, ReadingError};

/// The body a device posts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readings {
    /// One or more readings of this device, counters rising (docs/ledger-format.md §4.5).
    pub readings: Vec<SignedReading>,
}

/// `POST /api/v1/devices/{device_id}/readings`: 202 `{accepted, counter}`, or one error for
/// the whole request, nothing stored: 400 `invalid_request` (malformed reading, `reason`
/// `readings`), 403 `access_denied` (`signature`, or the device's state `suspended` /
/// `retired`), 404 (unknown device), 409 `conflict` (`replayed`: a counter not above the last
/// accepted; `changed_hands`: transferred while the readings were checked).
pub(super) async fn post_readings(
    State(state): State<AppState>,
    ApiPath(device_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Readings>,
) -> Result<Response, ApiError> {
    match devices::ingest(&state.db, Some(&state.gate), device_id, &body.readings).await {
        Ok(accepted) => Ok((StatusCode::ACCEPTED, Json(accepted)).into_response()),
        Err(e) => Err(reading_error(&e)),
    }
}

fn reading_error(e: &ReadingError) -> ApiError {
    let message = e.to_string();
    match e {
        ReadingError::UnknownDevice(_) => ApiError::not_found("device"),
        ReadingError::Malformed { .. } | ReadingError::Empty | ReadingError::TooMany(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", "readings", message)
        }
        ReadingError::BadSignature { .. } => {
            ApiError::new(StatusCode::FORBIDDEN, "access_denied", "signature", message)
        }
        ReadingError::NotInService(state) => {
            ApiError::new(StatusCode::FORBIDDEN, "access_denied", state.clone(), message)
        }
        ReadingError::Replayed { .. } => ApiError::new(StatusCode::CONFLICT, "conflict", "replayed", message),
        ReadingError::ChangedHands => ApiError::new(StatusCode::CONFLICT, "conflict", "changed_hands", message),
        ReadingError::Other(e) => ApiError::internal(format!("{e:#}")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassportQuery {
    /// `bundle` for the version 4 proof bundle instead of the summary.
    #[serde(default)]
    pub format: Option<String>,
}

/// `GET /devices/{device_id}/passport`: the passport's public fields (kind, brand, model,
/// state, registration time and log index), or with `?format=bundle` the proof bundle
/// (docs/ledger-format.md §8.4), 409 `not_yet_cosigned` until a quorum checkpoint covers the
/// registration.
pub(crate) async fn passport(
    State(state): State<AppState>,
    ApiPath(device_id): ApiPath<Uuid>,
    Query(q): Query<PassportQuery>,
) -> Result<Response, ApiError> {
    let p = devices::public_passport(&state.db, device_id).await.map_err(|e| match e {
        DeviceError::NotFound(_) => ApiError::not_found("device"),
        other => ApiError::internal(other),
    })?;
    match q.format.as_deref() {
        None | Some("json") => Ok(Json(p).into_response()),
        Some("bundle") => bundle_response(&state, p.registered_index).await,
        Some(other) => Err(ApiError::invalid("format", format!("{other:?} is neither `json` nor `bundle`"))),
    }
}
