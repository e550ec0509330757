//! The server's side of the resident functions (`app::serverfns::resident`): grants through
//! [`crate::domain::grants`], receipts, offers and the resident's own data, each scoped to one
//! resident by the caller's session.

use std::sync::Arc;

use crate::clock::rfc3339;
use app::error::ssr::internal;
use app::serverfns::resident::ssr::{Residents, fail};
use app::serverfns::resident::{AppError, GrantView, OfferView, ReceiptFilter, ReceiptView, ScopeView};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::grants::{self, Grant, GrantError};
use crate::domain::pseudonym::PseudonymKey;
use crate::domain::records::{self, Range};

/// Most receipts per page.
pub const MAX_RECEIPTS: u32 = 200;

pub struct ResidentService {
    db: PgPool,
    key: Arc<PseudonymKey>,
}

impl ResidentService {
    #[must_use]
    pub fn new(db: PgPool, key: Arc<PseudonymKey>) -> Self {
        Self { db, key }
    }
}

fn from_grant_error(e: GrantError) -> AppError {
    fail(match e {
        GrantError::Invalid { field, problem } => AppError::Invalid { field: field.to_owned(), problem },
        GrantError::NotFound(what) => AppError::NotFound(what.to_owned()),
        GrantError::NotPublished
        | GrantError::AlreadyRevoked
        | GrantError::TermsChanged { .. }
        | GrantError::OutsideDistricts { .. } => AppError::Conflict(e.to_string()),
        GrantError::Database(e) => return internal(e),
        GrantError::Other(e) => return internal(format!("{e:#}")),
    })
}

fn view(g: Grant) -> GrantView {
    GrantView {
        grant_id: g.grant_id,
        service_id: g.service_id,
        version: g.version,
        agency_id: g.agency_id,
        service_name_en: g.service_name_en,
        service_name_zh: g.service_name_zh,
        purpose: g.purpose,
        scopes: g.scopes,
        valid_from: rfc3339(g.valid_from),
        valid_until: rfc3339(g.valid_until),
        state: crate::portal::views::state(g.state),
        leaf_index: g.leaf_index,
        replaces: g.replaces,
    }
}

fn parse_opt(field: &str, v: Option<&String>) -> Result<Option<OffsetDateTime>, AppError> {
    v.filter(|s| !s.trim().is_empty()).map(|s| app::serverfns::resident::ssr::parse_time(field, s)).transpose()
}

#[async_trait::async_trait]
impl Residents for ResidentService {
    async fn scopes(&self) -> Result<Vec<ScopeView>, AppError> {
        sqlx::query_as!(
            ScopeView,
            "select scope_key, kind, description_en, description_zh, sensitivity from scope order by scope_key"
        )
        .fetch_all(&self.db)
        .await
        .map_err(internal)
    }

    /// The published services `resident` may take (the nil id: every one, for the city's
    /// catalogue), with the resident's live grant of each.
    async fn offers(&self, resident: Uuid) -> Result<Vec<OfferView>, AppError> {
        let offers = sqlx::query_as!(
            OfferView,
            // language=PostgreSQL
            r#"
            select s.service_id, sv.version, a.agency_id, a.name_en as agency_name_en, a.name_zh as agency_name_zh,
                   sv.name_en, sv.name_zh, sv.description_en, sv.description_zh, sv.category, sv.purpose,
                   sv.required_scopes, sv.optional_scopes, sv.retention_days, sv.access_mode, sv.max_reads_per_day,
                   sv.history_days, sv.districts,
                   (select g.data_grant_id from data_grant g
                    where g.resident_id = $1 and g.service_id = s.service_id
                      and not exists (select 1 from grant_revocation r where r.data_grant_id = g.data_grant_id))
                       as granted
            from service s
            join agency a on a.agency_id = s.agency_id
            join service_version sv on sv.service_id = s.service_id
                and sv.version = (select max(version) from service_version v where v.service_id = s.service_id)
            where s.status = 'published'
            order by sv.category, sv.name_en
            "#,
            resident
        )
        .fetch_all(&self.db)
        .await
        .map_err(internal)?;
        let home = sqlx::query_scalar!("select district_id from resident where resident_id = $1", resident)
            .fetch_optional(&self.db)
            .await
            .map_err(internal)?
            .flatten();
        Ok(offers.into_iter().filter(|o| resident.is_nil() || o.offered_to(home.as_deref())).collect())
    }

    async fn grants(&self, resident: Uuid) -> Result<Vec<GrantView>, AppError> {
        Ok(grants::list(&self.db, resident).await.map_err(from_grant_error)?.into_iter().map(view).collect())
    }

    async fn issue(
        &self,
        resident: Uuid,
        service: Uuid,
        version: i32,
        scopes: Vec<String>,
        until: OffsetDateTime,
    ) -> Result<GrantView, AppError> {
        grants::issue(&self.db, &self.key, resident, service, Some(version), &scopes, until)
            .await
            .map(view)
            .map_err(from_grant_error)
    }

    async fn narrow(
        &self,
        resident: Uuid,
        grant: Uuid,
        scopes: Option<Vec<String>>,
        until: Option<OffsetDateTime>,
    ) -> Result<GrantView, AppError> {
        grants::narrow(&self.db, &self.key, resident, grant, scopes.as_deref(), until)
            .await
            .map(view)
            .map_err(from_grant_error)
    }

    async fn extend(&self, resident: Uuid, grant: Uuid, until: OffsetDateTime) -> Result<GrantView, AppError> {
        grants::extend(&self.db, &self.key, resident, grant, until).await.map(view).map_err(from_grant_error)
    }

    async fn revoke(&self, resident: Uuid, grant: Uuid) -> Result<GrantView, AppError> {
        grants::revoke(&self.db, &self.key, resident, grant).await.map(view).map_err(from_grant_error)
    }

    async fn receipts(&self, resident: Uuid, filter: ReceiptFilter) -> Result<Vec<ReceiptView>, AppError> {
        let limit = filter.limit.unwrap_or(50);
        if !(1..=MAX_RECEIPTS).contains(&limit) {
            return Err(fail(AppError::Invalid {
                field: "limit".into(),
                problem: format!("must be between 1 and {MAX_RECEIPTS}"),
            }));
        }
        let from = parse_opt("from", filter.from.as_ref())?;
        let to = parse_opt("to", filter.to.as_ref())?;
        let rows = sqlx::query!(
            // language=PostgreSQL
            r#"
            select a.access_receipt_id, a.data_grant_id, a.service_id, s.agency_id, sv.name_en, sv.name_zh,
                   a.reader, a.scopes, a.purpose, a.read_at, e.leaf_index as "leaf_index?"
            from access_receipt a
            join data_grant g on g.data_grant_id = a.data_grant_id
            join service s on s.service_id = a.service_id
            join service_version sv on sv.service_id = g.service_id and sv.version = g.version
            join ledger_entry e on e.ledger_entry_id = a.ledger_entry_id
            where a.resident_id = $1
              and ($2::uuid is null or a.service_id = $2)
              and ($3::text is null or s.agency_id = $3)
              and ($4::text is null or $4 = any(a.scopes))
              and ($5::timestamptz is null or a.read_at >= $5)
              and ($6::timestamptz is null or a.read_at < $6)
            order by a.read_at desc, a.access_receipt_id
            limit $7
            "#,
            resident,
            filter.service_id,
            filter.agency_id,
            filter.scope,
            from,
            to,
            i64::from(limit)
        )
        .fetch_all(&self.db)
        .await
        .map_err(internal)?;
        Ok(rows
            .into_iter()
            .map(|r| ReceiptView {
                receipt_id: r.access_receipt_id,
                grant_id: r.data_grant_id,
                service_id: r.service_id,
                agency_id: r.agency_id,
                service_name_en: r.name_en,
                service_name_zh: r.name_zh,
                reader: r.reader,
                scopes: r.scopes,
                purpose: r.purpose,
                read_at: rfc3339(r.read_at),
                leaf_index: r.leaf_index,
            })
            .collect())
    }

    async fn own_data(
        &self,
        resident: Uuid,
        scopes: Vec<String>,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> Result<String, AppError> {
        let range = Range { from, to, limit: None }
            .resolve()
            .map_err(|(field, problem)| fail(AppError::Invalid { field: field.to_owned(), problem }))?;
        let scopes = chain::leaf::canonical_scopes(scopes);
        let mut conn = self.db.acquire().await.map_err(internal)?;
        let known: Vec<String> = sqlx::query_scalar!("select scope_key from scope where scope_key = any($1)", &scopes)
            .fetch_all(&mut *conn)
            .await
            .map_err(internal)?;
        if let Some(s) = scopes.iter().find(|s| !known.contains(s)) {
            return Err(fail(AppError::Invalid { field: "scopes".into(), problem: format!("{s:?} is not a scope") }));
        }
        let data = records::read(&mut conn, resident, &scopes, range).await.map_err(|e| internal(format!("{e:#}")))?;
        serde_json::to_string(&data).map_err(internal)
    }
}
