//! The city as the pages draw it: the public city for everyone, My City for a signed-in
//! resident, and the ledger's public state for the Transparency page.
//!
//! As in [`crate::serverfns::resident`], the server crate does the work behind [`ssr::City`]; these
//! functions check who is asking and pass on.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::error::AppError;
use crate::serverfns::me::District;
use crate::serverfns::resident::{GrantView, OfferView, ScopeView};

/// A map already projected to SVG user units (the server projects the GeoJSON once; the page
/// only draws, identically on the server and in the browser).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapView {
    pub width: u32,
    pub height: u32,
    pub areas: Vec<MapArea>,
    pub facilities: Vec<FacilityView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapArea {
    pub district_id: String,
    pub name_en: String,
    pub name_zh: String,
    /// SVG path data of the boundary.
    pub path: String,
    /// Where the label goes.
    pub label: (f64, f64),
    /// The resident's own district.
    pub home: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FacilityView {
    pub facility_id: String,
    /// `transit`, `clinic`, `library`, `school`, `park`, `service-centre` or `recycling`.
    pub kind: String,
    pub name_en: String,
    pub name_zh: String,
    /// Position on the map.
    pub at: (f64, f64),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeView {
    pub notice_id: String,
    /// `None`: for the whole city.
    pub district_id: Option<String>,
    pub agency_name_en: String,
    pub agency_name_zh: String,
    pub title_en: String,
    pub title_zh: String,
    pub body_en: String,
    pub body_zh: String,
    /// RFC 3339.
    pub published_at: String,
}

/// What everyone sees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublicCityView {
    pub map: MapView,
    pub districts: Vec<District>,
    /// Published services (their `granted` is always `None` here).
    pub services: Vec<OfferView>,
    pub notices: Vec<NoticeView>,
    pub scopes: Vec<ScopeView>,
}

/// One signed-in resident's city.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MyCityView {
    pub name: String,
    pub district: Option<District>,
    pub map: Option<MapView>,
    /// A card per service with a live (pending or active) permission.
    pub cards: Vec<CardView>,
    /// Published services without a live permission.
    pub offers: Vec<OfferView>,
    pub notices: Vec<NoticeView>,
    pub scopes: Vec<ScopeView>,
    /// The resident's devices in service or suspended, with their newest reading.
    pub devices: Vec<DeviceSummary>,
}

/// A device on My City: what it is and what it said last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSummary {
    pub device_id: uuid::Uuid,
    pub label: String,
    pub kind: String,
    pub state: String,
    /// The newest signed reading of the last 31 days: metric, value, when (RFC 3339).
    pub latest: Option<(String, i64, String)>,
}

/// A service the resident enabled, and what it shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CardView {
    pub grant: GrantView,
    pub agency_name_en: String,
    pub agency_name_zh: String,
    pub check: CardCheck,
    /// One part per kind of data the permission covers (empty unless verified).
    pub parts: Vec<CardPart>,
}

/// The gate's verdict on the permission before the card is filled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CardCheck {
    /// Verified against the newest quorum checkpoint. (Which one is not part of the page: the
    /// same verdict at a newer checkpoint leaves the page unchanged, so a kept rendering can be
    /// reused after the checks are run again; see the server's `page_cache`.)
    Verified,
    /// Not yet in a cosigned checkpoint.
    Pending,
    /// The row does not match the ledger (an alarm was raised).
    Integrity,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum CardPart {
    /// `transit.trips` this month.
    Trips { month_start: String, count: i64, spend_cents: i64, recent: Vec<Trip> },
    /// `property.titles`, with the next tax due date of each.
    Titles { titles: Vec<Title> },
    /// `utilities.readings`, oldest first.
    Readings { readings: Vec<Reading> },
    /// `identity.age_over_65`: `None` when the city has no birth date on record.
    Eligibility { eligible: Option<bool>, clinic: Option<FacilityView> },
    /// Any other scope: named, not drawn.
    Other { scope: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trip {
    pub at: String,
    pub from: String,
    pub to: String,
    pub fare_cents: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Title {
    pub address: String,
    pub registered: String,
    /// RFC 3339 date of the next instalment.
    pub tax_due: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    pub at: String,
    pub meter: String,
    pub kwh: i64,
}

/// The ledger's public state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransparencyView {
    pub checkpoint: Option<CheckpointView>,
    pub log_key: String,
    pub witnesses: Vec<WitnessView>,
    pub quorum: i64,
    pub anchors: Vec<AnchorView>,
    pub alarms: Vec<AlarmView>,
    pub seals: SealsView,
}

/// Sealed confirmation records: how many batches, how many versions in them, how many wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealsView {
    pub batches: i64,
    pub sealed: i64,
    pub pending: i64,
    /// RFC 3339.
    pub last_sealed_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointView {
    pub tree_size: i64,
    /// Base64, as in the checkpoint note.
    pub root_hash: String,
    pub cosigned_at: String,
    /// The signed note itself.
    pub note: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessView {
    pub name: String,
    /// The witness's verifier key (`name+hash+base64`).
    pub key: String,
    pub last_cosigned_at: Option<String>,
    pub tree_size: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnchorView {
    pub tree_size: i64,
    /// Hex SHA-256 of the checkpoint note.
    pub checkpoint_hash: String,
    pub chain_id: i64,
    pub tx_hash: String,
    pub block_number: i64,
    pub anchored_at: String,
    /// A block explorer's page for the transaction, when one is configured.
    pub tx_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmView {
    pub kind: String,
    pub detail: String,
    pub raised_at: String,
    pub resolved: bool,
}

/// The public city.
#[server(endpoint = "city")]
pub async fn public_city() -> Result<PublicCityView, AppError> {
    let record = ssr::rendered_checks();
    let city = ssr::city()?.public_city().await?;
    if let Some(record) = record {
        record.set_public();
    }
    Ok(city)
}

/// The signed-in resident's city: cards filled through the gate's check, offers, notices and
/// the map of their district.
#[server(endpoint = "me/city")]
pub async fn my_city() -> Result<MyCityView, AppError> {
    // Read before the first await, while the request's context is certainly current.
    let record = ssr::rendered_checks();
    let r = crate::serverfns::resident::ssr::resident().await?;
    let city = ssr::city()?.my_city(r).await?;
    if let Some(record) = record {
        record.set(r, &city);
    }
    Ok(city)
}

/// The ledger's public state.
#[server(endpoint = "transparency")]
pub async fn transparency() -> Result<TransparencyView, AppError> {
    ssr::city()?.transparency().await
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use std::sync::Arc;

    use uuid::Uuid;

    use super::{AppError, CardCheck, MyCityView, PublicCityView, TransparencyView};

    /// Implemented by the server crate, provided as `Arc<dyn City>` in context.
    #[async_trait::async_trait]
    pub trait City: Send + Sync {
        async fn public_city(&self) -> Result<PublicCityView, AppError>;
        async fn my_city(&self, resident: Uuid) -> Result<MyCityView, AppError>;
        async fn transparency(&self) -> Result<TransparencyView, AppError>;
    }

    /// # Errors
    /// [`AppError::Internal`] when the server did not provide it.
    pub fn city() -> Result<Arc<dyn City>, AppError> {
        crate::error::ssr::provided()
    }

    /// The verdict on each card of a page, by permission, in the page's order.
    pub type Checks = Vec<(Uuid, CardCheck)>;

    /// Whose city a page showed: the server's page cache keeps a page only under the key of
    /// the one it was rendered for.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum RenderedFor {
        Public,
        Resident(Uuid),
    }

    #[derive(Debug, Default)]
    struct Rendered {
        /// Every city the page fetched (one, for a page that can be kept).
        owners: Vec<RenderedFor>,
        checks: Option<Checks>,
    }

    /// Where a page being rendered for the server's page cache records whose city it showed and
    /// its cards' verdicts: put into the request's extensions by the cache, filled by
    /// [`super::my_city`] and [`super::public_city`].
    #[derive(Clone, Debug, Default)]
    pub struct RenderedChecks(Arc<std::sync::Mutex<Rendered>>);

    impl RenderedChecks {
        pub fn set(&self, resident: Uuid, city: &MyCityView) {
            let checks = city.cards.iter().map(|c| (c.grant.grant_id, c.check.clone())).collect();
            let mut rendered = self.0.lock().expect("rendered checks");
            rendered.owners.push(RenderedFor::Resident(resident));
            rendered.checks = Some(checks);
        }

        pub fn set_public(&self) {
            self.0.lock().expect("rendered checks").owners.push(RenderedFor::Public);
        }

        /// The verdicts of the page rendered, if it showed My City.
        #[must_use]
        pub fn get(&self) -> Option<Checks> {
            self.0.lock().expect("rendered checks").checks.clone()
        }

        /// Whose city the page showed, if it showed exactly one.
        #[must_use]
        pub fn owner(&self) -> Option<RenderedFor> {
            let rendered = self.0.lock().expect("rendered checks");
            match rendered.owners.as_slice() {
                [first, rest @ ..] if rest.iter().all(|o| o == first) => Some(*first),
                _ => None,
            }
        }
    }

    /// The current request's [`RenderedChecks`], when the server's page cache asked for them.
    #[must_use]
    pub fn rendered_checks() -> Option<RenderedChecks> {
        use leptos::prelude::use_context;
        use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<RenderedChecks>().cloned())
    }
}
