//! Residents' grants: issue, narrow, extend, revoke. Each change writes its rows and its
//! ledger entries in one transaction, so the database and the log never disagree about what a
//! resident agreed to. The log has no "update": narrowing or extending issues a new grant that
//! replaces the old one, and the old one is revoked in the same transaction.
//!
//! A grant is `pending` until a quorum-cosigned checkpoint includes its `grant.issued` entry,
//! then `active` until its window ends. A revocation takes effect at once (the gate denies on
//! the row, before the revocation is cosigned).

use chain::Event;
use chain::leaf::canonical_scopes;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::pseudonym::PseudonymKey;

/// The longest window a resident can grant in one step (about five years).
pub const MAX_VALIDITY: time::Duration = time::Duration::days(5 * 366);

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// A field is missing or malformed; `field` names it as the API and forms do.
    #[error("{field}: {problem}")]
    Invalid { field: &'static str, problem: String },
    /// No such grant or service for this resident (another resident's grant is "not found" too).
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("the service is not published, so it cannot be granted")]
    NotPublished,
    #[error("the grant is already revoked")]
    AlreadyRevoked,
    /// The service published new terms after the resident was shown version `shown`: granting
    /// would bind them to a purpose, mode or retention they never saw.
    #[error(
        "the service published new terms (version {newest}) after you were shown version {shown}; \
         read the new terms and confirm again"
    )]
    TermsChanged { shown: i32, newest: i32 },
    /// The service is for residents of some districts only, and this resident lives elsewhere.
    #[error("this service is only for residents of {}", districts.join(", "))]
    OutsideDistricts { districts: Vec<String> },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn invalid(field: &'static str, problem: impl Into<String>) -> GrantError {
    GrantError::Invalid { field, problem: problem.into() }
}

/// Where a grant stands, as the resident and the agency see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    /// Issued, not yet in a quorum-cosigned checkpoint: the gate refuses it.
    Pending,
    Active,
    Expired,
    Revoked,
    /// Revoked because a narrowed or extended grant took its place.
    Replaced,
}

/// A grant as stored, with its state.
#[derive(Clone, Debug, Serialize)]
pub struct Grant {
    pub grant_id: Uuid,
    pub service_id: Uuid,
    pub version: i32,
    pub agency_id: String,
    pub service_name_en: String,
    pub service_name_zh: String,
    pub purpose: String,
    pub scopes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub valid_until: OffsetDateTime,
    pub state: GrantState,
    /// Index of the `grant.issued` entry in the log, once sequenced (for its proof bundle).
    pub leaf_index: Option<i64>,
    pub replaces: Option<Uuid>,
}

use crate::clock::{now_s, unix};

fn check_until(valid_from: OffsetDateTime, valid_until: OffsetDateTime) -> Result<OffsetDateTime, GrantError> {
    let until = valid_until.replace_nanosecond(0).unwrap_or(valid_until);
    if until <= valid_from {
        return Err(invalid("valid_until", "must be in the future"));
    }
    if until - valid_from > MAX_VALIDITY {
        return Err(invalid("valid_until", "must be at most five years from now"));
    }
    Ok(until)
}

/// Locks the resident's row so that two changes to the same resident's grants run one after
/// the other (one live grant per service). `NO KEY UPDATE`, not `UPDATE`: it must not block
/// the foreign-key checks of receipts being written for this resident, or a revocation (which
/// then waits for the receipt writer's lock on the grant) and the writer would deadlock.
async fn lock_resident(conn: &mut PgConnection, resident_id: Uuid) -> Result<(), GrantError> {
    sqlx::query!("select resident_id from resident where resident_id = $1 for no key update", resident_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(GrantError::NotFound("resident"))?;
    Ok(())
}

struct Version {
    version: i32,
    purpose: String,
    required: Vec<String>,
    optional: Vec<String>,
    districts: Vec<String>,
    leaf_hash: Vec<u8>,
}

async fn load_version(conn: &mut PgConnection, service_id: Uuid, version: i32) -> Result<Version, GrantError> {
    sqlx::query_as!(
        Version,
        r#"select version, purpose, required_scopes as required, optional_scopes as optional, districts, leaf_hash
           from service_version where service_id = $1 and version = $2"#,
        service_id,
        version
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(GrantError::NotFound("service version"))
}

/// The `grant.issued` leaf for a grant: the gate recomputes exactly this from the rows.
///
/// # Errors
/// A service-version hash that is not 32 bytes, or fields the leaf format refuses.
#[allow(clippy::too_many_arguments)]
pub fn issued_event(
    key: &PseudonymKey,
    grant_id: Uuid,
    resident_id: Uuid,
    service_id: Uuid,
    version_leaf_hash: &[u8],
    scopes: &[String],
    purpose: &str,
    valid_from: OffsetDateTime,
    valid_until: OffsetDateTime,
) -> anyhow::Result<Event> {
    let hash: [u8; 32] =
        version_leaf_hash.try_into().map_err(|_| anyhow::anyhow!("service version leaf hash is not 32 bytes"))?;
    Ok(Event::GrantIssued {
        grant_id: chain::GrantId(*grant_id.as_bytes()),
        resident: key.pseudonym(resident_id, service_id),
        service_version_hash: chain::Hash(hash),
        scopes: scopes.to_vec(),
        purpose: purpose.to_owned(),
        valid_from: unix(valid_from)?,
        valid_until: unix(valid_until)?,
    })
}

#[allow(clippy::too_many_arguments)]
async fn insert_grant(
    conn: &mut PgConnection,
    key: &PseudonymKey,
    resident_id: Uuid,
    service_id: Uuid,
    v: &Version,
    scopes: &[String],
    valid_from: OffsetDateTime,
    valid_until: OffsetDateTime,
    replaces: Option<Uuid>,
) -> Result<Uuid, GrantError> {
    let grant_id = Uuid::new_v4();
    let event = issued_event(
        key,
        grant_id,
        resident_id,
        service_id,
        &v.leaf_hash,
        scopes,
        &v.purpose,
        valid_from,
        valid_until,
    )?;
    let entry = crate::ledger::enqueue(conn, &event).await?;
    let pseudonym = key.pseudonym(resident_id, service_id);
    sqlx::query!(
        // language=PostgreSQL
        r#"
        insert into data_grant (data_grant_id, resident_id, service_id, version, pseudonym, scopes, valid_from,
                                valid_until, issued_entry_id, replaces)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        "#,
        grant_id,
        resident_id,
        service_id,
        v.version,
        &pseudonym.0[..],
        scopes,
        valid_from,
        valid_until,
        entry,
        replaces
    )
    .execute(&mut *conn)
    .await?;
    Ok(grant_id)
}

async fn revoke_in(
    conn: &mut PgConnection,
    key: &PseudonymKey,
    grant_id: Uuid,
    resident_id: Uuid,
    service_id: Uuid,
    reason: &str,
    at: OffsetDateTime,
) -> Result<(), GrantError> {
    let event = Event::GrantRevoked {
        grant_id: chain::GrantId(*grant_id.as_bytes()),
        resident: key.pseudonym(resident_id, service_id),
        revoked_at: unix(at)?,
    };
    let entry = crate::ledger::enqueue(conn, &event).await?;
    sqlx::query!(
        "insert into grant_revocation (data_grant_id, revoked_at, reason, ledger_entry_id) values ($1, $2, $3, $4)",
        grant_id,
        at,
        reason,
        entry
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The resident's live (unrevoked) grant for a service, if any.
async fn live_grant(conn: &mut PgConnection, resident_id: Uuid, service_id: Uuid) -> Result<Option<Uuid>, GrantError> {
    Ok(sqlx::query_scalar!(
        r#"select g.data_grant_id from data_grant g
           where g.resident_id = $1 and g.service_id = $2
             and not exists (select 1 from grant_revocation r where r.data_grant_id = g.data_grant_id)"#,
        resident_id,
        service_id
    )
    .fetch_optional(&mut *conn)
    .await?)
}

/// Grants `scopes` of the service's newest published version until `valid_until`. The
/// scopes must include every scope the service requires and only scopes it declared. A live
/// grant the resident already has for the service is replaced (revoked in the same step).
///
/// `shown` is the version whose terms the resident was shown and agreed to (the consent form
/// carries it): when the service has published a newer one since, nothing is granted. Only
/// callers that show no terms to anyone (the demo seed, benchmarks) pass `None`, meaning the
/// newest version.
///
/// # Errors
/// [`GrantError`] naming the problem ([`GrantError::TermsChanged`] for outdated terms);
/// nothing is written then.
pub async fn issue(
    db: &PgPool,
    key: &PseudonymKey,
    resident_id: Uuid,
    service_id: Uuid,
    shown: Option<i32>,
    scopes: &[String],
    valid_until: OffsetDateTime,
) -> Result<Grant, GrantError> {
    issue_in_window(db, key, resident_id, service_id, shown, scopes, now_s(), valid_until).await
}

/// A grant its resident gave at `valid_from`, before the city was loaded: the demo seed's
/// history (resident1 enabled fare capping weeks ago, so the agency has trips to read). Never
/// reachable from a resident's request, where a grant always starts now.
///
/// # Errors
/// As [`issue`].
pub async fn issue_backdated(
    db: &PgPool,
    key: &PseudonymKey,
    resident_id: Uuid,
    service_id: Uuid,
    scopes: &[String],
    valid_from: OffsetDateTime,
    valid_until: OffsetDateTime,
) -> Result<Grant, GrantError> {
    let from = valid_from.replace_nanosecond(0).unwrap_or(valid_from).min(now_s());
    issue_in_window(db, key, resident_id, service_id, None, scopes, from, valid_until).await
}

#[allow(clippy::too_many_arguments)]
async fn issue_in_window(
    db: &PgPool,
    key: &PseudonymKey,
    resident_id: Uuid,
    service_id: Uuid,
    shown: Option<i32>,
    scopes: &[String],
    valid_from: OffsetDateTime,
    valid_until: OffsetDateTime,
) -> Result<Grant, GrantError> {
    let now = now_s();
    let until = check_until(valid_from, valid_until)?;
    if until <= now {
        return Err(invalid("valid_until", "must be in the future"));
    }
    let scopes = canonical_scopes(scopes.iter().cloned());
    if scopes.is_empty() {
        return Err(invalid("scopes", "choose at least one scope"));
    }
    let mut tx = db.begin().await?;
    lock_resident(&mut tx, resident_id).await?;
    let status = sqlx::query_scalar!("select status from service where service_id = $1", service_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(GrantError::NotFound("service"))?;
    if status != "published" {
        return Err(GrantError::NotPublished);
    }
    let newest: i32 =
        sqlx::query_scalar!(r#"select max(version) as "v!" from service_version where service_id = $1"#, service_id)
            .fetch_one(&mut *tx)
            .await?;
    if let Some(shown) = shown
        && shown != newest
    {
        return Err(GrantError::TermsChanged { shown, newest });
    }
    let v = load_version(&mut tx, service_id, newest).await?;
    if !v.districts.is_empty() {
        let home = sqlx::query_scalar!("select district_id from resident where resident_id = $1", resident_id)
            .fetch_one(&mut *tx)
            .await?;
        if !chain::leaf::serves_district(&v.districts, home.as_deref()) {
            return Err(GrantError::OutsideDistricts { districts: v.districts });
        }
    }
    if let Some(s) = scopes.iter().find(|s| !v.required.contains(s) && !v.optional.contains(s)) {
        return Err(invalid("scopes", format!("the service does not ask for {s:?}")));
    }
    if let Some(s) = v.required.iter().find(|s| !scopes.contains(s)) {
        return Err(invalid("scopes", format!("the service cannot work without {s:?}")));
    }
    let replaces = live_grant(&mut tx, resident_id, service_id).await?;
    if let Some(old) = replaces {
        revoke_in(&mut tx, key, old, resident_id, service_id, "replaced", now).await?;
    }
    let id = insert_grant(&mut tx, key, resident_id, service_id, &v, &scopes, valid_from, until, replaces).await?;
    tx.commit().await?;
    get(db, resident_id, id).await
}

struct Owned {
    service_id: Uuid,
    version: i32,
    scopes: Vec<String>,
    valid_from: OffsetDateTime,
    valid_until: OffsetDateTime,
    revoked: bool,
}

async fn owned_for_change(conn: &mut PgConnection, resident_id: Uuid, grant_id: Uuid) -> Result<Owned, GrantError> {
    lock_resident(conn, resident_id).await?;
    let g = sqlx::query_as!(
        Owned,
        r#"select service_id, version, scopes, valid_from, valid_until,
                  exists (select 1 from grant_revocation r where r.data_grant_id = g.data_grant_id) as "revoked!"
           from data_grant g where data_grant_id = $1 and resident_id = $2"#,
        grant_id,
        resident_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(GrantError::NotFound("grant"))?;
    if g.revoked {
        return Err(GrantError::AlreadyRevoked);
    }
    Ok(g)
}

/// Narrows a grant: fewer scopes (never below what the service requires) and/or an earlier
/// end. Issues the narrower grant and revokes the old one, together. The new grant starts
/// where the old one did: it continues the resident's consent, and the gate lets the agency
/// read back to a grant's start only (docs/gate.md), so narrowing must not cut that history.
///
/// # Errors
/// [`GrantError`] naming the problem; nothing is written then.
pub async fn narrow(
    db: &PgPool,
    key: &PseudonymKey,
    resident_id: Uuid,
    grant_id: Uuid,
    scopes: Option<&[String]>,
    valid_until: Option<OffsetDateTime>,
) -> Result<Grant, GrantError> {
    let now = now_s();
    let mut tx = db.begin().await?;
    let old = owned_for_change(&mut tx, resident_id, grant_id).await?;
    let v = load_version(&mut tx, old.service_id, old.version).await?;
    let scopes = match scopes {
        Some(s) => canonical_scopes(s.iter().cloned()),
        None => old.scopes.clone(),
    };
    if let Some(s) = scopes.iter().find(|s| !old.scopes.contains(s)) {
        return Err(invalid("scopes", format!("{s:?} is not in the grant; narrowing cannot add scopes")));
    }
    if let Some(s) = v.required.iter().find(|s| !scopes.contains(s)) {
        return Err(invalid("scopes", format!("the service cannot work without {s:?}; revoke the grant instead")));
    }
    if old.valid_until <= now {
        return Err(invalid("valid_until", "the grant has already ended; extend it or grant the service again"));
    }
    let until = match valid_until {
        Some(u) => check_until(now, u)?,
        None => old.valid_until,
    };
    if until > old.valid_until {
        return Err(invalid("valid_until", "narrowing cannot move the end later; extend the grant instead"));
    }
    if scopes == old.scopes && until == old.valid_until {
        return Err(invalid("scopes", "nothing to narrow: choose fewer scopes or an earlier end"));
    }
    revoke_in(&mut tx, key, grant_id, resident_id, old.service_id, "replaced", now).await?;
    let id =
        insert_grant(&mut tx, key, resident_id, old.service_id, &v, &scopes, old.valid_from, until, Some(grant_id))
            .await?;
    tx.commit().await?;
    get(db, resident_id, id).await
}

/// Extends a grant to a later end, same scopes and version, from the same start (as
/// [`narrow`]); the end is at most [`MAX_VALIDITY`] from now.
///
/// # Errors
/// [`GrantError`] naming the problem; nothing is written then.
pub async fn extend(
    db: &PgPool,
    key: &PseudonymKey,
    resident_id: Uuid,
    grant_id: Uuid,
    valid_until: OffsetDateTime,
) -> Result<Grant, GrantError> {
    let now = now_s();
    let until = check_until(now, valid_until)?;
    let mut tx = db.begin().await?;
    let old = owned_for_change(&mut tx, resident_id, grant_id).await?;
    if until <= old.valid_until {
        return Err(invalid("valid_until", "extending must move the end later"));
    }
    let v = load_version(&mut tx, old.service_id, old.version).await?;
    revoke_in(&mut tx, key, grant_id, resident_id, old.service_id, "replaced", now).await?;
    let id =
        insert_grant(&mut tx, key, resident_id, old.service_id, &v, &old.scopes, old.valid_from, until, Some(grant_id))
            .await?;
    tx.commit().await?;
    get(db, resident_id, id).await
}

/// Revokes a grant. The gate denies it from the moment this commits.
///
/// # Errors
/// [`GrantError::NotFound`] (also for another resident's grant), [`GrantError::AlreadyRevoked`].
pub async fn revoke(db: &PgPool, key: &PseudonymKey, resident_id: Uuid, grant_id: Uuid) -> Result<Grant, GrantError> {
    let mut tx = db.begin().await?;
    let old = owned_for_change(&mut tx, resident_id, grant_id).await?;
    revoke_in(&mut tx, key, grant_id, resident_id, old.service_id, "revoked", now_s()).await?;
    tx.commit().await?;
    get(db, resident_id, grant_id).await
}

/// Size of the newest quorum-cosigned checkpoint (0 when there is none).
///
/// # Errors
/// Database errors.
pub async fn quorum_size(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select coalesce(max(tree_size), 0) as "n!" from ledger_checkpoint where quorum_at is not null"#
    )
    .fetch_one(&mut *conn)
    .await
}

struct Row {
    grant_id: Uuid,
    service_id: Uuid,
    version: i32,
    agency_id: String,
    name_en: String,
    name_zh: String,
    purpose: String,
    scopes: Vec<String>,
    valid_from: OffsetDateTime,
    valid_until: OffsetDateTime,
    revocation: Option<String>,
    leaf_index: Option<i64>,
    replaces: Option<Uuid>,
    /// The newest quorum checkpoint's size, the same on every row.
    quorum: i64,
}

/// The state of a grant, from its revocation, its entry's place in the log and its window.
#[must_use]
pub fn state_of(
    revocation: Option<&str>,
    leaf_index: Option<i64>,
    quorum_size: i64,
    valid_until: OffsetDateTime,
    now: OffsetDateTime,
) -> GrantState {
    match revocation {
        Some("replaced") => GrantState::Replaced,
        Some(_) => GrantState::Revoked,
        None if leaf_index.is_none_or(|i| i >= quorum_size) => GrantState::Pending,
        None if now >= valid_until => GrantState::Expired,
        None => GrantState::Active,
    }
}

impl Row {
    fn into_grant(self, now: OffsetDateTime) -> Grant {
        Grant {
            state: state_of(self.revocation.as_deref(), self.leaf_index, self.quorum, self.valid_until, now),
            grant_id: self.grant_id,
            service_id: self.service_id,
            version: self.version,
            agency_id: self.agency_id,
            service_name_en: self.name_en,
            service_name_zh: self.name_zh,
            purpose: self.purpose,
            scopes: self.scopes,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            leaf_index: self.leaf_index,
            replaces: self.replaces,
        }
    }
}

/// Every grant of a resident, newest first, replaced and revoked ones included (history).
///
/// # Errors
/// Database errors.
pub async fn list(db: &PgPool, resident_id: Uuid) -> Result<Vec<Grant>, GrantError> {
    // The quorum size rides along as a column (computed once, as an init plan): one round trip.
    let rows = sqlx::query_as!(
        Row,
        // language=PostgreSQL
        r#"
        select g.data_grant_id as grant_id, g.service_id, g.version, s.agency_id, sv.name_en, sv.name_zh, sv.purpose,
               g.scopes, g.valid_from, g.valid_until, r.reason as "revocation?", e.leaf_index as "leaf_index?", g.replaces,
               (select coalesce(max(tree_size), 0) from ledger_checkpoint where quorum_at is not null) as "quorum!"
        from data_grant g
        join service s on s.service_id = g.service_id
        join service_version sv on sv.service_id = g.service_id and sv.version = g.version
        join ledger_entry e on e.ledger_entry_id = g.issued_entry_id
        left join grant_revocation r on r.data_grant_id = g.data_grant_id
        where g.resident_id = $1
        order by g.created_at desc, g.data_grant_id
        "#,
        resident_id
    )
    .fetch_all(db)
    .await?;
    let now = OffsetDateTime::now_utc();
    Ok(rows.into_iter().map(|r| r.into_grant(now)).collect())
}

/// One grant of the resident.
///
/// # Errors
/// [`GrantError::NotFound`] for a grant that is not the resident's.
pub async fn get(db: &PgPool, resident_id: Uuid, grant_id: Uuid) -> Result<Grant, GrantError> {
    // A resident has tens of grants, not thousands: filtering the list keeps one query shape.
    list(db, resident_id).await?.into_iter().find(|g| g.grant_id == grant_id).ok_or(GrantError::NotFound("grant"))
}
