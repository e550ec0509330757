//! What an agency can do, whoever asks for it: the agency API (`api/`, systems with tokens) and
//! the console's server functions (`app::serverfns::agency`, staff with sessions) both call these, so the
//! two doors check the same things. Every function takes the caller's agency and treats
//! another agency's service as not found.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::gate::{Gate, GateError, ReadRequest, Reader};
use crate::domain::records::{Range, ScopeData};
use crate::domain::services::{AccessMode, NewVersion, Published, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum AgencyError {
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{field}: {problem}")]
    Invalid { field: &'static str, problem: String },
    #[error(transparent)]
    Gate(#[from] GateError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

fn invalid(field: &'static str, problem: impl Into<String>) -> AgencyError {
    AgencyError::Invalid { field, problem: problem.into() }
}

/// The data the gate released, and the receipt written before it was.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReadResult {
    pub receipt_id: Uuid,
    pub pseudonym: String,
    pub scopes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub read_at: OffsetDateTime,
    pub data: BTreeMap<String, ScopeData>,
}

/// The catalogue's key shape (`scope.scope_key`): lowercase dotted words.
#[must_use]
pub fn is_scope_key(s: &str) -> bool {
    let first_ok = s.split('.').next().is_some_and(|p| p.starts_with(|c: char| c.is_ascii_lowercase()));
    let word = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    s.len() <= chain::leaf::MAX_SCOPE && first_ok && s.contains('.') && s.split('.').all(word)
}

/// Fails unless `service` belongs to `agency`.
///
/// # Errors
/// [`AgencyError::NotFound`] (also for another agency's service).
pub async fn own_service(db: &PgPool, agency: &str, service: Uuid) -> Result<(), AgencyError> {
    let owner =
        sqlx::query_scalar!("select agency_id from service where service_id = $1", service).fetch_optional(db).await?;
    match owner {
        Some(a) if a == agency => Ok(()),
        _ => Err(AgencyError::NotFound("service")),
    }
}

/// A service of an agency and all its versions, oldest first.
#[derive(Clone, Debug)]
pub struct AgencyService {
    pub service_id: Uuid,
    pub slug: String,
    /// `draft`, `published` or `withdrawn`.
    pub status: String,
    pub versions: Vec<PublishedVersion>,
}

/// One published version, as stored.
#[derive(Clone, Debug)]
pub struct PublishedVersion {
    pub service_id: Uuid,
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
    pub access_mode: String,
    pub max_reads_per_day: Option<i32>,
    pub history_days: i32,
    pub leaf_hash: Vec<u8>,
    pub published_at: OffsetDateTime,
}

/// A resident's live grant as the agency sees it: under the service's pseudonym only.
#[derive(Clone, Debug)]
pub struct AgencyGrant {
    pub pseudonym: Vec<u8>,
    pub version: i32,
    pub scopes: Vec<String>,
    pub valid_until: OffsetDateTime,
    pub state: crate::domain::grants::GrantState,
}

/// The agency's services with all their versions.
///
/// # Errors
/// Database errors.
pub async fn services(db: &PgPool, agency: &str) -> Result<Vec<AgencyService>, AgencyError> {
    let services =
        sqlx::query!("select service_id, slug, status from service where agency_id = $1 order by slug", agency)
            .fetch_all(db)
            .await?;
    let ids: Vec<Uuid> = services.iter().map(|s| s.service_id).collect();
    let versions = sqlx::query_as!(
        PublishedVersion,
        // language=PostgreSQL
        r#"select service_id, version, name_en, name_zh, description_en, description_zh, category, purpose,
                  required_scopes, optional_scopes, retention_days, districts, access_mode, max_reads_per_day,
                  history_days, leaf_hash, published_at
           from service_version where service_id = any($1) order by service_id, version"#,
        &ids
    )
    .fetch_all(db)
    .await?;
    let mut by_service: BTreeMap<Uuid, Vec<PublishedVersion>> = BTreeMap::new();
    for v in versions {
        by_service.entry(v.service_id).or_default().push(v);
    }
    Ok(services
        .into_iter()
        .map(|s| AgencyService {
            versions: by_service.remove(&s.service_id).unwrap_or_default(),
            service_id: s.service_id,
            slug: s.slug,
            status: s.status,
        })
        .collect())
}

/// Creates a draft service for the agency.
///
/// # Errors
/// [`ServiceError::Invalid`] naming the field.
pub async fn create_service(db: &PgPool, agency: &str, slug: &str) -> Result<Uuid, AgencyError> {
    Ok(crate::domain::services::create_service(db, agency, slug).await?)
}

/// The access mode an agency names (`one_off`, `recurring` with a daily limit, `ongoing`).
///
/// # Errors
/// [`AgencyError::Invalid`] naming `access_mode` or `max_reads_per_day`.
pub fn access_mode(mode: &str, max_reads_per_day: Option<u32>) -> Result<AccessMode, AgencyError> {
    Ok(match (mode, max_reads_per_day) {
        ("one_off", None) => AccessMode::OneOff,
        ("ongoing", None) => AccessMode::Ongoing,
        ("recurring", Some(n)) => AccessMode::Recurring { max_reads_per_day: n },
        ("recurring", None) => return Err(invalid("max_reads_per_day", "required for recurring access")),
        ("one_off" | "ongoing", Some(_)) => {
            return Err(invalid("max_reads_per_day", "only recurring access has a daily limit"));
        }
        (other, _) => {
            return Err(invalid("access_mode", format!("{other:?} is not one of one_off, recurring, ongoing")));
        }
    })
}

/// Publishes the next version of one of the agency's services.
///
/// # Errors
/// Not found, an invalid field, a withdrawn service.
pub async fn publish(db: &PgPool, agency: &str, service: Uuid, new: &NewVersion) -> Result<Published, AgencyError> {
    own_service(db, agency, service).await?;
    Ok(crate::domain::services::publish_version(db, service, new).await?)
}

/// Withdraws one of the agency's services.
///
/// # Errors
/// Not found.
pub async fn withdraw(db: &PgPool, agency: &str, service: Uuid) -> Result<(), AgencyError> {
    own_service(db, agency, service).await?;
    Ok(crate::domain::services::withdraw(db, service).await?)
}

/// The pseudonyms that currently grant one of the agency's services (revoked ones are gone).
///
/// # Errors
/// Not found, database errors.
pub async fn grants(db: &PgPool, agency: &str, service: Uuid) -> Result<Vec<AgencyGrant>, AgencyError> {
    own_service(db, agency, service).await?;
    let mut conn = db.acquire().await?;
    let quorum = crate::domain::grants::quorum_size(&mut conn).await?;
    let rows = sqlx::query!(
        // language=PostgreSQL
        r#"select g.pseudonym, g.version, g.scopes, g.valid_until, e.leaf_index as "leaf_index?"
           from data_grant g join ledger_entry e on e.ledger_entry_id = g.issued_entry_id
           where g.service_id = $1
             and not exists (select 1 from grant_revocation r where r.data_grant_id = g.data_grant_id)
           order by g.created_at, g.data_grant_id"#,
        service
    )
    .fetch_all(&mut *conn)
    .await?;
    let now = OffsetDateTime::now_utc();
    Ok(rows
        .into_iter()
        .map(|r| {
            let state = crate::domain::grants::state_of(None, r.leaf_index, quorum, r.valid_until, now);
            AgencyGrant {
                pseudonym: r.pseudonym,
                version: r.version,
                state,
                scopes: r.scopes,
                valid_until: r.valid_until,
            }
        })
        .collect())
}

/// Reads a resident's granted data through the gate, for `reader` (of `reader.agency_id`).
///
/// # Errors
/// Not found, an invalid pseudonym or scope (naming the field), the gate's denial.
pub async fn read(
    db: &PgPool,
    gate: &Gate,
    reader: &Reader,
    service: Uuid,
    pseudonym: &str,
    scopes: Vec<String>,
    range: Range,
) -> Result<ReadResult, AgencyError> {
    own_service(db, &reader.agency_id, service).await?;
    let pseudonym_bytes =
        chain::Pseudonym::from_hex(pseudonym).map_err(|_| invalid("pseudonym", "must be 64 hex digits"))?;
    if let Some(bad) = scopes.iter().find(|s| !is_scope_key(s)) {
        return Err(invalid("scopes", format!("{bad:?} is not a scope (e.g. transit.trips)")));
    }
    let req = ReadRequest { service_id: service, pseudonym: pseudonym_bytes, scopes, range };
    let released = gate.read(db, reader, &req).await?;
    Ok(ReadResult {
        receipt_id: released.receipt_id,
        pseudonym: pseudonym.to_ascii_lowercase(),
        scopes: released.scopes,
        read_at: released.read_at,
        data: released.data,
    })
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
