//! Agencies' services and their immutable versions. Publishing a version writes the row and
//! its `service.published` ledger entry in one transaction; grants (next step of the
//! grants-and-gate work) point at a version's leaf hash, so the purpose and data a resident
//! agreed to can never be widened afterwards.

use chain::Event;
pub use chain::leaf::AccessMode;
use chain::leaf::{ServiceTerms, canonical_scopes};
use sqlx::PgPool;
use uuid::Uuid;

/// Longest service name or category, in characters.
pub const MAX_NAME: usize = 120;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 4000;
/// Most districts a service can be limited to.
pub const MAX_DISTRICTS: usize = 100;
/// Most scopes a version can ask for, required and optional together.
pub const MAX_SCOPES: usize = 64;
/// Most days of history before a grant's start a version may ask for.
pub const MAX_HISTORY_DAYS: u32 = 366;

/// What an agency declares when it publishes a version.
#[derive(Clone, Debug)]
pub struct NewVersion {
    pub name_en: String,
    pub name_zh: String,
    pub description_en: String,
    pub description_zh: String,
    pub category: String,
    pub purpose: String,
    pub required_scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
    pub retention_days: u32,
    pub districts: Vec<String>,
    pub access_mode: AccessMode,
    /// Days before a grant's start a read may reach (0: none).
    pub history_days: u32,
}

/// A version as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub version: i32,
    pub ledger_entry_id: i64,
    pub leaf_hash: chain::Hash,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A field is missing or malformed; `field` names it as the API and forms do.
    #[error("{field}: {problem}")]
    Invalid { field: &'static str, problem: String },
    #[error("scope {0:?} is not in the catalogue")]
    UnknownScope(String),
    #[error("no such service")]
    NotFound,
    #[error("the service is withdrawn; it cannot be published again")]
    Withdrawn,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ServiceError {
    ServiceError::Invalid { field, problem: problem.into() }
}

impl NewVersion {
    /// Checks everything that does not need the database, naming the first bad field.
    ///
    /// # Errors
    /// [`ServiceError::Invalid`].
    pub fn validate(&self) -> Result<(), ServiceError> {
        for (field, value) in [("name_en", &self.name_en), ("name_zh", &self.name_zh), ("purpose", &self.purpose)] {
            if value.trim().is_empty() {
                return Err(invalid(field, "must not be empty"));
            }
        }
        // Every text a resident reads, with the bound a page and a leaf can hold: an unbounded
        // description would make every offer, every page and every export carry it.
        for (field, value, max) in [
            ("name_en", &self.name_en, MAX_NAME),
            ("name_zh", &self.name_zh, MAX_NAME),
            ("description_en", &self.description_en, MAX_DESCRIPTION),
            ("description_zh", &self.description_zh, MAX_DESCRIPTION),
            ("category", &self.category, MAX_NAME),
        ] {
            let chars = value.chars().count();
            if chars > max {
                return Err(invalid(field, format!("must be at most {max} characters (it has {chars})")));
            }
        }
        if self.purpose.len() > 2000 {
            return Err(invalid("purpose", "must be at most 2000 bytes"));
        }
        if self.districts.len() > MAX_DISTRICTS {
            return Err(invalid("districts", format!("at most {MAX_DISTRICTS} districts")));
        }
        if let Some(d) = self.districts.iter().find(|d| d.is_empty() || d.len() > 40) {
            return Err(invalid("districts", format!("{d:?} is not a district id")));
        }
        if self.required_scopes.len() + self.optional_scopes.len() > MAX_SCOPES {
            return Err(invalid("required_scopes", format!("at most {MAX_SCOPES} scopes in all")));
        }
        if self.required_scopes.is_empty() {
            return Err(invalid("required_scopes", "a service must ask for at least one scope"));
        }
        if let Some(s) = self.optional_scopes.iter().find(|s| self.required_scopes.contains(s)) {
            return Err(invalid("optional_scopes", format!("{s:?} is already required")));
        }
        if !(1..=3650).contains(&self.retention_days) {
            return Err(invalid("retention_days", "must be between 1 and 3650"));
        }
        if let AccessMode::Recurring { max_reads_per_day: 0 } = self.access_mode {
            return Err(invalid("max_reads_per_day", "must be at least 1"));
        }
        if self.history_days > MAX_HISTORY_DAYS {
            return Err(invalid("history_days", format!("must be between 0 and {MAX_HISTORY_DAYS}")));
        }
        Ok(())
    }
}

/// Creates a draft service for an agency.
///
/// # Errors
/// [`ServiceError::Invalid`] for a malformed or already used slug, or an unknown agency.
pub async fn create_service(db: &PgPool, agency_id: &str, slug: &str) -> Result<Uuid, ServiceError> {
    let result = sqlx::query_scalar!(
        // language=PostgreSQL
        "insert into service (agency_id, slug) values ($1, $2) returning service_id",
        agency_id,
        slug
    )
    .fetch_one(db)
    .await;
    result.map_err(|e| match e.as_database_error().and_then(|d| d.constraint()) {
        Some("service_agency_slug_key") => invalid("slug", "already used by another service of this agency"),
        Some("service_slug_check") => invalid("slug", "use 2-60 lowercase letters, digits and dashes"),
        Some("service_agency_id_fkey") => invalid("agency_id", "no such agency"),
        _ => e.into(),
    })
}

/// The `service.published` leaf of a version (format v2), from its columns: what publishing
/// writes and what the gate recomputes from the rows before every read. Scopes and districts
/// go in canonical order, so the rows' order does not matter. Takes the version by value: the
/// gate builds one from its rows on every read, and the texts move into the leaf uncopied.
///
/// # Errors
/// A version, retention or limit that is negative (no row can hold one).
pub fn published_event(agency: &str, slug: &str, version: i32, v: NewVersion) -> anyhow::Result<Event> {
    Ok(Event::ServicePublishedV2(ServiceTerms {
        agency: agency.to_owned(),
        service: slug.to_owned(),
        version: u32::try_from(version)?,
        name_en: v.name_en,
        name_zh: v.name_zh,
        description_en: v.description_en,
        description_zh: v.description_zh,
        category: v.category,
        purpose: v.purpose,
        required_scopes: canonical_scopes(v.required_scopes),
        optional_scopes: canonical_scopes(v.optional_scopes),
        retention_days: v.retention_days,
        access: v.access_mode,
        districts: canonical_scopes(v.districts),
        history_days: v.history_days,
    }))
}

/// The format v1 leaf, for versions published before leaf v2: it covers agency, slug, version,
/// purpose, scopes and retention only (docs/gate.md).
///
/// # Errors
/// As [`published_event`].
pub fn published_event_v1(agency: &str, slug: &str, version: i32, v: &NewVersion) -> anyhow::Result<Event> {
    Ok(Event::ServicePublished {
        agency: agency.to_owned(),
        service: slug.to_owned(),
        version: u32::try_from(version)?,
        purpose: v.purpose.clone(),
        scopes: canonical_scopes(v.required_scopes.iter().chain(&v.optional_scopes).cloned()),
        retention_days: v.retention_days,
    })
}

/// Publishes the next version: the row and its `service.published` ledger entry commit
/// together or not at all.
///
/// # Errors
/// [`ServiceError`] naming what is wrong; nothing is written then.
pub async fn publish_version(db: &PgPool, service_id: Uuid, v: &NewVersion) -> Result<Published, ServiceError> {
    v.validate()?;
    let mut tx = db.begin().await?;
    let service =
        // NO KEY UPDATE: serializes publishing without blocking receipts' foreign-key checks.
        sqlx::query!("select agency_id, slug, status from service where service_id = $1 for no key update", service_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(ServiceError::NotFound)?;
    if service.status == "withdrawn" {
        return Err(ServiceError::Withdrawn);
    }
    let all_scopes = canonical_scopes(v.required_scopes.iter().chain(&v.optional_scopes).cloned());
    let known: Vec<String> = sqlx::query_scalar!("select scope_key from scope where scope_key = any($1)", &all_scopes)
        .fetch_all(&mut *tx)
        .await?;
    if let Some(unknown) = all_scopes.iter().find(|s| !known.contains(s)) {
        return Err(ServiceError::UnknownScope(unknown.clone()));
    }
    let districts = canonical_scopes(v.districts.iter().cloned());
    let known: Vec<String> =
        sqlx::query_scalar!("select district_id from district where district_id = any($1)", &districts)
            .fetch_all(&mut *tx)
            .await?;
    if let Some(unknown) = districts.iter().find(|d| !known.contains(d)) {
        return Err(invalid("districts", format!("{unknown:?} is not a district of this city")));
    }
    let version: i32 = sqlx::query_scalar!(
        r#"select coalesce(max(version), 0) + 1 as "v!" from service_version where service_id = $1"#,
        service_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let retention = i32::try_from(v.retention_days).map_err(anyhow::Error::from)?;
    let history = i32::try_from(v.history_days).map_err(anyhow::Error::from)?;
    let event = published_event(&service.agency_id, &service.slug, version, v.clone())?;
    let leaf_hash = chain::tree::leaf_hash(&event.encode().map_err(anyhow::Error::from)?);
    let ledger_entry_id = crate::ledger::enqueue(&mut tx, &event).await?;
    let (mode, max_reads) = (
        v.access_mode.name(),
        v.access_mode.max_reads_per_day().map(i32::try_from).transpose().map_err(anyhow::Error::from)?,
    );
    sqlx::query!(
        // language=PostgreSQL
        r#"
        insert into service_version (service_id, version, name_en, name_zh, description_en, description_zh, category,
                                     purpose, required_scopes, optional_scopes, retention_days, districts,
                                     access_mode, max_reads_per_day, history_days, ledger_entry_id, leaf_hash)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
        "#,
        service_id,
        version,
        v.name_en,
        v.name_zh,
        v.description_en,
        v.description_zh,
        v.category,
        v.purpose,
        &v.required_scopes,
        &v.optional_scopes,
        retention,
        &districts,
        mode,
        max_reads,
        history,
        ledger_entry_id,
        &leaf_hash.0[..]
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!("update service set status = 'published' where service_id = $1", service_id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(Published { version, ledger_entry_id, leaf_hash })
}

/// Withdraws a service: no new grants. Published versions stay as they are.
///
/// # Errors
/// [`ServiceError::NotFound`].
pub async fn withdraw(db: &PgPool, service_id: Uuid) -> Result<(), ServiceError> {
    let done =
        sqlx::query!("update service set status = 'withdrawn' where service_id = $1", service_id).execute(db).await?;
    if done.rows_affected() == 0 {
        return Err(ServiceError::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version() -> NewVersion {
        NewVersion {
            name_en: "Fare capping".into(),
            name_zh: "票价封顶".into(),
            description_en: "Caps your fares.".into(),
            description_zh: "封顶票价。".into(),
            category: "transport".into(),
            purpose: "Cap fares".into(),
            required_scopes: vec!["transit.trips".into()],
            optional_scopes: vec![],
            retention_days: 30,
            districts: vec![],
            access_mode: AccessMode::Ongoing,
            history_days: 0,
        }
    }

    #[test]
    fn every_text_a_resident_reads_has_a_bound_and_the_error_names_the_field() {
        assert!(version().validate().is_ok());
        let long = |n: usize| "字".repeat(n);
        let cases: [(&str, NewVersion); 5] = [
            ("name_en", NewVersion { name_en: long(MAX_NAME + 1), ..version() }),
            ("name_zh", NewVersion { name_zh: long(MAX_NAME + 1), ..version() }),
            ("description_en", NewVersion { description_en: long(MAX_DESCRIPTION + 1), ..version() }),
            ("description_zh", NewVersion { description_zh: long(MAX_DESCRIPTION + 1), ..version() }),
            ("category", NewVersion { category: long(MAX_NAME + 1), ..version() }),
        ];
        for (field, v) in cases {
            match v.validate() {
                Err(ServiceError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        // Characters, not bytes: a Chinese name of the limit's length is fine.
        assert!(NewVersion { name_zh: long(MAX_NAME), ..version() }.validate().is_ok());
        let many = NewVersion { districts: (0..=MAX_DISTRICTS).map(|i| format!("d{i}")).collect(), ..version() };
        assert!(matches!(many.validate(), Err(ServiceError::Invalid { field: "districts", .. })));
    }
}
