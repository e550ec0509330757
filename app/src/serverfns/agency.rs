//! The agency console's server functions and the view types the console and the agency API
//! (`/api/v1`, in the server crate) share: one definition of what an agency sees.
//!
//! Staff are accounts with the `agency_staff` role and an agency asserted by the identity
//! provider. Every function is scoped to that agency: another agency's service is "not
//! found". Reads go through the same gate as the API; the receipt names the staff member's
//! account (`<agency>/console/<account id>`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::error::AppError;

/// A published version of a service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// Days before a grant's start a read may reach (0: none).
    pub history_days: i32,
    /// Hex leaf hash of the version's `service.published` ledger entry.
    pub leaf_hash: String,
    /// RFC 3339.
    pub published_at: String,
}

/// A service of the agency and all its versions, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceView {
    pub service_id: Uuid,
    pub slug: String,
    /// `draft`, `published` or `withdrawn`.
    pub status: String,
    pub versions: Vec<VersionView>,
}

/// What a new version declares. Every field is required except where a default is given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
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
    /// Days before a grant's start a read may reach, at most 366; 0 (the default): none.
    #[serde(default)]
    pub history_days: u32,
}

/// A version as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PublishedView {
    pub version: i32,
    pub ledger_entry_id: i64,
    pub leaf_hash: String,
}

/// A resident's grant as the agency sees it: under the service's pseudonym only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AgencyGrantView {
    /// The resident's pseudonym at this service (64 hex digits).
    pub pseudonym: String,
    pub version: i32,
    pub scopes: Vec<String>,
    /// RFC 3339.
    pub valid_until: String,
    /// `pending`, `active` or `expired` (revoked grants are not listed).
    pub state: String,
}

/// The staff member's agency's services.
#[server(endpoint = "agency/services")]
pub async fn agency_services() -> Result<Vec<ServiceView>, AppError> {
    let staff = ssr::staff().await?;
    ssr::agencies()?.services(&staff).await
}

/// Creates a draft service.
#[server(endpoint = "agency/services/create")]
pub async fn agency_create_service(slug: String) -> Result<Uuid, AppError> {
    let staff = ssr::staff().await?;
    ssr::agencies()?.create_service(&staff, slug).await
}

/// Publishes the next version of one of the agency's services.
#[server(endpoint = "agency/services/publish")]
pub async fn agency_publish_version(service_id: Uuid, version: VersionInput) -> Result<PublishedView, AppError> {
    let staff = ssr::staff().await?;
    let mut version = version;
    // The console's form always carries the daily limit; it only means something for
    // recurring access (the API, stricter, refuses it elsewhere).
    if version.access_mode != "recurring" {
        version.max_reads_per_day = None;
    }
    ssr::agencies()?.publish(&staff, service_id, version).await
}

/// Withdraws one of the agency's services: no new grants.
#[server(endpoint = "agency/services/withdraw")]
pub async fn agency_withdraw_service(service_id: Uuid) -> Result<(), AppError> {
    let staff = ssr::staff().await?;
    ssr::agencies()?.withdraw(&staff, service_id).await
}

/// The pseudonyms that currently grant one of the agency's services.
#[server(endpoint = "agency/grants")]
pub async fn agency_grants(service_id: Uuid) -> Result<Vec<AgencyGrantView>, AppError> {
    let staff = ssr::staff().await?;
    ssr::agencies()?.grants(&staff, service_id).await
}

/// Reads a resident's granted data through the gate (JSON text: receipt id, scopes, data).
#[server(endpoint = "agency/read")]
pub async fn agency_read(
    service_id: Uuid,
    pseudonym: String,
    scopes: Vec<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<u32>,
) -> Result<String, AppError> {
    let staff = ssr::staff().await?;
    let from = from.filter(|t| !t.trim().is_empty()).map(|t| crate::error::ssr::parse_time("from", &t)).transpose()?;
    let to = to.filter(|t| !t.trim().is_empty()).map(|t| crate::error::ssr::parse_time("to", &t)).transpose()?;
    let json = ssr::agencies()?.read(&staff, ssr::ReadArgs { service_id, pseudonym, scopes, from, to, limit }).await?;
    ssr::redirect_plain_form(|| {
        let receipt = serde_json::from_str::<serde_json::Value>(&json).ok()?["receipt_id"].as_str()?.to_owned();
        Some(format!("/console/services/{service_id}?released={receipt}"))
    });
    Ok(json)
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use std::sync::Arc;

    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::{AgencyGrantView, AppError, PublishedView, ServiceView, VersionInput};
    use crate::error::ssr::fail;

    /// The signed-in staff member: their agency and their account (which receipts name only by
    /// a pseudonym the server derives).
    #[derive(Clone, Debug)]
    pub struct Staff {
        pub agency_id: String,
        pub account_id: Uuid,
    }

    /// A console read.
    #[derive(Clone, Debug)]
    pub struct ReadArgs {
        pub service_id: Uuid,
        pub pseudonym: String,
        pub scopes: Vec<String>,
        pub from: Option<OffsetDateTime>,
        pub to: Option<OffsetDateTime>,
        pub limit: Option<u32>,
    }

    /// Implemented by the server crate (it owns the gate), provided as `Arc<dyn Agencies>`.
    #[async_trait::async_trait]
    pub trait Agencies: Send + Sync {
        async fn services(&self, staff: &Staff) -> Result<Vec<ServiceView>, AppError>;
        async fn create_service(&self, staff: &Staff, slug: String) -> Result<Uuid, AppError>;
        async fn publish(&self, staff: &Staff, service: Uuid, v: VersionInput) -> Result<PublishedView, AppError>;
        async fn withdraw(&self, staff: &Staff, service: Uuid) -> Result<(), AppError>;
        async fn grants(&self, staff: &Staff, service: Uuid) -> Result<Vec<AgencyGrantView>, AppError>;
        async fn read(&self, staff: &Staff, args: ReadArgs) -> Result<String, AppError>;
    }

    /// For a plain form post (JavaScript off), where the result cannot be shown on the page
    /// the browser is sent back to, redirects to `to()` instead. Script and API callers get the
    /// value as usual.
    pub fn redirect_plain_form(to: impl FnOnce() -> Option<String>) {
        if crate::error::ssr::plain_form_post()
            && let Some(path) = to()
        {
            leptos_axum::redirect(&path);
        }
    }

    /// The implementation the server put into the request context.
    ///
    /// # Errors
    /// [`AppError::Internal`] when it is missing.
    pub fn agencies() -> Result<Arc<dyn Agencies>, AppError> {
        crate::error::ssr::provided()
    }

    /// The signed-in staff member, or why there is none.
    ///
    /// # Errors
    /// [`AppError::Unauthorized`] when signed out; [`AppError::NotStaff`] for an account
    /// without the `agency_staff` role or without an agency.
    pub async fn staff() -> Result<Staff, AppError> {
        let user = crate::error::ssr::signed_in().await?;
        match (&user.agency_id, user.roles.iter().any(|r| r == crate::session::ROLE_AGENCY_STAFF)) {
            (Some(agency), true) => Ok(Staff { agency_id: agency.clone(), account_id: user.account_id }),
            _ => Err(fail(AppError::NotStaff)),
        }
    }
}
