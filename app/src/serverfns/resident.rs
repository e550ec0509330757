//! The resident's side of grants: the services they could grant, their grants with status and
//! proofs, the receipts of every read of their data, and their own data (no gate, no receipt:
//! a resident reading their own data is not an access to record).
//!
//! The work is done by the server crate behind [`ssr::Residents`], put into the request
//! context by the server; the functions here only check the session and translate errors.
//! Every function acts on the signed-in resident only: ids from the client are looked up
//! within that resident's rows, so another resident's grant is simply "not found".

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::error::AppError;

/// A grant as the resident sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantView {
    pub grant_id: Uuid,
    pub service_id: Uuid,
    pub version: i32,
    pub agency_id: String,
    pub service_name_en: String,
    pub service_name_zh: String,
    pub purpose: String,
    pub scopes: Vec<String>,
    /// RFC 3339.
    pub valid_from: String,
    /// RFC 3339.
    pub valid_until: String,
    /// `pending`, `active`, `expired`, `revoked` or `replaced`.
    pub state: String,
    /// Index of the `grant.issued` entry: its proof bundle is `/ledger/bundle/{leaf_index}`.
    pub leaf_index: Option<i64>,
    pub replaces: Option<Uuid>,
}

/// One read of the resident's data by an agency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptView {
    pub receipt_id: Uuid,
    pub grant_id: Uuid,
    pub service_id: Uuid,
    pub agency_id: String,
    pub service_name_en: String,
    pub service_name_zh: String,
    /// Who read, e.g. `transit-authority/client/agency-transit`.
    pub reader: String,
    pub scopes: Vec<String>,
    pub purpose: String,
    /// RFC 3339.
    pub read_at: String,
    /// Index of the `access.receipt` entry: its proof bundle is `/ledger/bundle/{leaf_index}`.
    pub leaf_index: Option<i64>,
}

/// Which receipts to list (see [`my_receipts`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptFilter {
    pub service_id: Option<Uuid>,
    pub agency_id: Option<String>,
    pub scope: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<u32>,
}

/// A service the resident could grant (newest published version).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferView {
    pub service_id: Uuid,
    pub version: i32,
    pub agency_id: String,
    pub agency_name_en: String,
    pub agency_name_zh: String,
    pub name_en: String,
    pub name_zh: String,
    pub description_en: String,
    pub description_zh: String,
    pub category: String,
    pub purpose: String,
    pub required_scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
    pub retention_days: i32,
    /// `one_off`, `recurring` or `ongoing`.
    pub access_mode: String,
    pub max_reads_per_day: Option<i32>,
    /// Days before the grant's start the agency may read (0: none).
    pub history_days: i32,
    /// The districts whose residents the service is for; empty: the whole city.
    pub districts: Vec<String>,
    /// The resident's live grant for this service, if any.
    pub granted: Option<Uuid>,
}

impl OfferView {
    /// Whether a resident living in `home` may take the service: a service for some districts
    /// is offered to their residents only (the server refuses the grant otherwise, too).
    #[must_use]
    pub fn offered_to(&self, home: Option<&str>) -> bool {
        chain::leaf::serves_district(&self.districts, home)
    }
}

/// An entry of the scopes catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeView {
    pub scope_key: String,
    /// `confirmation`, `behavioral` or `predicate`.
    pub kind: String,
    pub description_en: String,
    pub description_zh: String,
    pub sensitivity: i16,
}

/// The scopes catalogue (public).
#[server(endpoint = "scopes")]
pub async fn scope_catalogue() -> Result<Vec<ScopeView>, AppError> {
    ssr::residents()?.scopes().await
}

/// Services the signed-in resident could grant.
#[server(endpoint = "me/offers")]
pub async fn my_offers() -> Result<Vec<OfferView>, AppError> {
    let r = ssr::resident().await?;
    ssr::residents()?.offers(r).await
}

/// The signed-in resident's grants, newest first, with history.
#[server(endpoint = "me/grants")]
pub async fn my_grants() -> Result<Vec<GrantView>, AppError> {
    let r = ssr::resident().await?;
    ssr::residents()?.grants(r).await
}

/// Grants a service `scopes` until `valid_until` (RFC 3339); replaces a live grant for it.
/// `version` is the service version whose terms the consent screen showed: if the service has
/// published a newer one since, nothing is granted (a conflict naming both versions).
#[server(endpoint = "me/grants/issue")]
pub async fn grant_service(
    service_id: Uuid,
    version: i32,
    scopes: Vec<String>,
    valid_until: String,
) -> Result<GrantView, AppError> {
    let r = ssr::resident().await?;
    let until = ssr::parse_time("valid_until", &valid_until)?;
    let grant = ssr::residents()?.issue(r, service_id, version, scopes, until).await?;
    // Back to the consent screen, which follows the new grant from pending to active. A plain
    // form post gets a 302; the browser bundle and API clients get the value and a header.
    leptos_axum::redirect(&format!("/consent/{service_id}?grant={}", grant.grant_id));
    Ok(grant)
}

/// Narrows a grant: fewer scopes and/or an earlier end.
#[server(endpoint = "me/grants/narrow")]
pub async fn narrow_grant(
    grant_id: Uuid,
    scopes: Option<Vec<String>>,
    valid_until: Option<String>,
) -> Result<GrantView, AppError> {
    let r = ssr::resident().await?;
    let until = valid_until.map(|u| ssr::parse_time("valid_until", &u)).transpose()?;
    ssr::residents()?.narrow(r, grant_id, scopes, until).await
}

/// Extends a grant to a later end.
#[server(endpoint = "me/grants/extend")]
pub async fn extend_grant(grant_id: Uuid, valid_until: String) -> Result<GrantView, AppError> {
    let r = ssr::resident().await?;
    let until = ssr::parse_time("valid_until", &valid_until)?;
    ssr::residents()?.extend(r, grant_id, until).await
}

/// Revokes a grant: the next read by the agency is refused.
#[server(endpoint = "me/grants/revoke")]
pub async fn revoke_grant(grant_id: Uuid) -> Result<GrantView, AppError> {
    let r = ssr::resident().await?;
    ssr::residents()?.revoke(r, grant_id).await
}

/// Receipts of reads of the signed-in resident's data, newest first, optionally filtered by
/// service, agency, scope and time (RFC 3339, `from` inclusive, `to` exclusive: pass the last
/// `read_at` seen as `to` for the next page).
#[server(endpoint = "me/receipts")]
pub async fn my_receipts(
    service_id: Option<Uuid>,
    agency_id: Option<String>,
    scope: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
) -> Result<Vec<ReceiptView>, AppError> {
    let r = ssr::resident().await?;
    let filter = ReceiptFilter { service_id, agency_id, scope, from, to, limit };
    ssr::residents()?.receipts(r, filter).await
}

/// The signed-in resident's own data for `scopes` (JSON text: scope → data), read without a
/// grant and without a receipt.
#[server(endpoint = "me/data")]
pub async fn my_data(scopes: Vec<String>, from: Option<String>, to: Option<String>) -> Result<String, AppError> {
    let r = ssr::resident().await?;
    let from = from.map(|t| ssr::parse_time("from", &t)).transpose()?;
    let to = to.map(|t| ssr::parse_time("to", &t)).transpose()?;
    ssr::residents()?.own_data(r, scopes, from, to).await
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use std::sync::Arc;

    use time::OffsetDateTime;
    use uuid::Uuid;

    pub use crate::error::ssr::{fail, parse_time};

    use super::{AppError, GrantView, OfferView, ReceiptFilter, ReceiptView, ScopeView};

    /// What the server crate provides for the resident's side. Implemented there (it owns the
    /// ledger, the pseudonym key and the data), provided as `Arc<dyn Residents>` in context.
    #[async_trait::async_trait]
    pub trait Residents: Send + Sync {
        async fn scopes(&self) -> Result<Vec<ScopeView>, AppError>;
        async fn offers(&self, resident: Uuid) -> Result<Vec<OfferView>, AppError>;
        async fn grants(&self, resident: Uuid) -> Result<Vec<GrantView>, AppError>;
        async fn issue(
            &self,
            resident: Uuid,
            service: Uuid,
            version: i32,
            scopes: Vec<String>,
            until: OffsetDateTime,
        ) -> Result<GrantView, AppError>;
        async fn narrow(
            &self,
            resident: Uuid,
            grant: Uuid,
            scopes: Option<Vec<String>>,
            until: Option<OffsetDateTime>,
        ) -> Result<GrantView, AppError>;
        async fn extend(&self, resident: Uuid, grant: Uuid, until: OffsetDateTime) -> Result<GrantView, AppError>;
        async fn revoke(&self, resident: Uuid, grant: Uuid) -> Result<GrantView, AppError>;
        async fn receipts(&self, resident: Uuid, filter: ReceiptFilter) -> Result<Vec<ReceiptView>, AppError>;
        async fn own_data(
            &self,
            resident: Uuid,
            scopes: Vec<String>,
            from: Option<OffsetDateTime>,
            to: Option<OffsetDateTime>,
        ) -> Result<String, AppError>;
    }

    /// The implementation the server put into the request context.
    ///
    /// # Errors
    /// [`AppError::Internal`] when it is missing.
    pub fn residents() -> Result<Arc<dyn Residents>, AppError> {
        crate::error::ssr::provided()
    }

    /// The signed-in resident's id, or the reason there is none.
    ///
    /// # Errors
    /// [`AppError::Unauthorized`] when signed out, [`AppError::NotResident`] for staff accounts.
    pub async fn resident() -> Result<Uuid, AppError> {
        let user = crate::error::ssr::signed_in().await?;
        user.resident_id.ok_or_else(|| fail(AppError::NotResident))
    }
}
