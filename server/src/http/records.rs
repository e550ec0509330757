//! Downloads of the signed-in resident's own sealed records: a version's existence proof and
//! its content, the two files `onecity verify --content` (or the public verify page) takes;
//! and a sealed device reading's existence proof. Another resident's record or reading, like
//! one that does not exist, is 404.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_sessions::Session;
use uuid::Uuid;

use crate::AppState;
use crate::error::{Error, Result};
use crate::ledger::bundle::{BundleError, reading_bundle, record_bundle};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me/records/{record}/{version}/proof", get(proof))
        .route("/me/records/{record}/{version}/content", get(content))
        .route("/me/devices/{device}/readings/{counter}/proof", get(reading_proof))
}

/// The signed-in resident, or 401.
async fn session_resident(session: &Session) -> Result<Uuid> {
    let user: Option<app::session::SessionUser> =
        session.get(app::session::SESSION_USER_KEY).await.map_err(|e| Error::Anyhow(e.into()))?;
    user.and_then(|u| u.resident_id).ok_or(Error::Unauthorized)
}

/// The resident's id from the session, then the version's row if it is theirs.
async fn own_version(state: &AppState, session: &Session, record: Uuid, version: i32) -> Result<serde_json::Value> {
    let resident = session_resident(session).await?;
    sqlx::query_scalar!(
        "select data from confirmation_record where confirmation_record_id = $1 and version = $2 and resident_id = $3",
        record,
        version,
        resident
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or(Error::NotFound)
}

fn attachment(name: &str, body: String) -> Result<Response> {
    let disposition = format!("attachment; filename=\"{name}\"");
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(anyhow::Error::from)?),
            (header::CACHE_CONTROL, HeaderValue::from_static("private, no-store")),
        ],
        body,
    )
        .into_response())
}

/// A proof as a download named `name`; 404 while there is none yet (or none for this resident).
fn bundle_download(name: &str, bundle: std::result::Result<chain::ProofBundle, BundleError>) -> Result<Response> {
    match bundle {
        Ok(b) => attachment(name, b.to_json().map_err(anyhow::Error::from)?),
        Err(
            BundleError::NotYetSealed(..)
            | BundleError::ReadingNotSealed(..)
            | BundleError::NotYetCosigned(_)
            | BundleError::NoPolicy,
        ) => Err(Error::NotFound),
        Err(BundleError::Other(e)) => Err(Error::Anyhow(e)),
    }
}

/// The existence proof (bundle version 3) of one version; 404 until it is sealed and cosigned.
async fn proof(
    State(state): State<AppState>,
    session: Session,
    Path((record, version)): Path<(Uuid, i32)>,
) -> Result<Response> {
    own_version(&state, &session, record, version).await?;
    let mut conn = state.db.acquire().await?;
    let bundle = record_bundle(&mut conn, &state.ledger, record, version).await;
    bundle_download(&format!("onecity-seal-{record}-v{version}.json"), bundle)
}

/// The version's content as canonical JSON: the bytes whose hash the seal commits to.
async fn content(
    State(state): State<AppState>,
    session: Session,
    Path((record, version)): Path<(Uuid, i32)>,
) -> Result<Response> {
    let data = own_version(&state, &session, record, version).await?;
    let bytes = chain::record::canonical_json(&data).map_err(anyhow::Error::from)?;
    attachment(
        &format!("onecity-record-{record}-v{version}.json"),
        String::from_utf8(bytes).map_err(anyhow::Error::from)?,
    )
}

/// The existence proof (bundle version 4 with `reading`) of one of the resident's device
/// readings; 404 until it is sealed and cosigned, and for a reading that is not theirs.
async fn reading_proof(
    State(state): State<AppState>,
    session: Session,
    Path((device, counter)): Path<(Uuid, i64)>,
) -> Result<Response> {
    let resident = session_resident(&session).await?;
    let mut conn = state.db.acquire().await?;
    let bundle = reading_bundle(&mut conn, &state.ledger, resident, device, counter).await;
    bundle_download(&format!("onecity-reading-{device}-{counter}.json"), bundle)
}
