//! The domain's types as the app's views: the one place where rows become what the pages and
//! the agency API show (hex for bytes, RFC 3339 for times, words for states), and where the
//! forms' and the API's input becomes the domain's.

use app::serverfns::agency::{AgencyGrantView, PublishedView, ServiceView, VersionInput, VersionView};

use crate::clock::rfc3339;
use crate::domain::agency::{AgencyError, AgencyGrant, AgencyService, PublishedVersion, access_mode};
use crate::domain::grants::GrantState;
use crate::domain::services::{NewVersion, Published};

/// A grant's state as the views write it: `pending`, `active`, `expired`, `revoked`, `replaced`.
#[must_use]
pub fn state(state: GrantState) -> String {
    serde_json::to_value(state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

#[must_use]
pub fn service(s: AgencyService) -> ServiceView {
    ServiceView {
        service_id: s.service_id,
        slug: s.slug,
        status: s.status,
        versions: s.versions.into_iter().map(version).collect(),
    }
}

fn version(v: PublishedVersion) -> VersionView {
    VersionView {
        version: v.version,
        name_en: v.name_en,
        name_zh: v.name_zh,
        description_en: v.description_en,
        description_zh: v.description_zh,
        category: v.category,
        purpose: v.purpose,
        required_scopes: v.required_scopes,
        optional_scopes: v.optional_scopes,
        retention_days: v.retention_days,
        districts: v.districts,
        access_mode: v.access_mode,
        max_reads_per_day: v.max_reads_per_day,
        history_days: v.history_days,
        leaf_hash: hex::encode(&v.leaf_hash),
        published_at: rfc3339(v.published_at),
    }
}

#[must_use]
pub fn published(p: &Published) -> PublishedView {
    PublishedView { version: p.version, ledger_entry_id: p.ledger_entry_id, leaf_hash: p.leaf_hash.to_hex() }
}

#[must_use]
pub fn agency_grant(g: AgencyGrant) -> AgencyGrantView {
    AgencyGrantView {
        pseudonym: hex::encode(&g.pseudonym),
        version: g.version,
        scopes: g.scopes,
        valid_until: rfc3339(g.valid_until),
        state: state(g.state),
    }
}

/// What an agency declared, from the console's form or the API's body.
///
/// # Errors
/// [`AgencyError::Invalid`] for an access mode and daily limit that do not go together.
pub fn new_version(v: VersionInput) -> Result<NewVersion, AgencyError> {
    Ok(NewVersion {
        access_mode: access_mode(&v.access_mode, v.max_reads_per_day)?,
        name_en: v.name_en,
        name_zh: v.name_zh,
        description_en: v.description_en,
        description_zh: v.description_zh,
        category: v.category,
        purpose: v.purpose,
        required_scopes: v.required_scopes,
        optional_scopes: v.optional_scopes,
        retention_days: v.retention_days,
        districts: v.districts,
        history_days: v.history_days,
    })
}
