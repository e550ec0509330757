//! The server's side of `app::serverfns::city`: the public city, a resident's My City, the ledger's
//! public state.
//!
//! My City's cards are filled only after the gate has checked the permission (steps 1–4 of
//! docs/gate.md: fresh row, leaf, inclusion and status proofs against the newest quorum
//! checkpoint, window). The data in a card is the resident's own, read with the permission's
//! scopes only, so the card shows what the service would see. It writes no access receipt:
//! the reader is the resident, not the agency.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::clock::rfc3339;
use app::error::ssr::internal;
use app::serverfns::city::ssr::City;
use app::serverfns::city::{
    AlarmView, AnchorView, CardCheck, CardPart, CardView, CheckpointView, FacilityView, MapArea, MapView, MyCityView,
    NoticeView, PublicCityView, Reading, Title, TransparencyView, Trip, WitnessView,
};
use app::serverfns::resident::ssr::Residents;
use app::serverfns::resident::{AppError, GrantView, OfferView, ScopeView};
use sqlx::{PgConnection, PgPool};
use time::{Duration, OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::domain::gate::{DenyReason, Gate, GateError, ReadRequest, Reader};
use crate::domain::pseudonym::PseudonymKey;
use crate::domain::records::{self, Range, ScopeData};
use crate::ledger::LedgerSettings;
use crate::portal::residents::ResidentService;

/// Width of every map in SVG user units; the height follows the area's shape.
const MAP_WIDTH: f64 = 640.0;

pub struct CityService {
    db: PgPool,
    key: Arc<PseudonymKey>,
    gate: Arc<Gate>,
    ledger: Arc<LedgerSettings>,
    residents: ResidentService,
    /// Block explorer URL with `{tx}` where the transaction hash goes.
    explorer: Option<String>,
    /// The slow-changing tables as last loaded; see [`Snapshot`].
    snapshot: std::sync::Mutex<Option<Arc<Snapshot>>>,
    /// Held while a snapshot loads, so a change makes one request reload, not every request.
    loading: tokio::sync::Mutex<()>,
}

/// The city's slow-changing tables in memory, with every map already projected: districts and
/// their boundaries, facilities, notices, the scope catalogue and the published services.
/// Loaded once per `city_version` (migration 0011: a counter their triggers move). Each page
/// reads that counter beside its per-resident query and reloads when it moved, so a change is
/// seen by the next request that commits after it, in every process.
struct Snapshot {
    version: i64,
    districts: Vec<app::serverfns::me::District>,
    /// The whole city.
    city_map: MapView,
    /// Per district: the map framed on it, with its facilities.
    home_maps: std::collections::HashMap<String, MapView>,
    /// Every notice, current or not: which are current depends on the time of the request.
    notices: Vec<Notice>,
    scopes: Vec<ScopeView>,
    /// Published services, latest version, as offers nobody has taken.
    catalogue: Vec<OfferView>,
}

struct Notice {
    view: NoticeView,
    published_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
}

impl Snapshot {
    /// The notices current at `now`: the whole city's and `district`'s (every district's with
    /// `all_districts`), newest first, at most 20.
    fn notices(&self, district: Option<&str>, all_districts: bool, now: OffsetDateTime) -> Vec<NoticeView> {
        self.notices
            .iter()
            .filter(|n| n.published_at <= now && n.expires_at.is_none_or(|e| e > now))
            .filter(|n| n.view.district_id.is_none() || all_districts || n.view.district_id.as_deref() == district)
            .take(20)
            .map(|n| n.view.clone())
            .collect()
    }
}

impl CityService {
    #[must_use]
    pub fn new(
        db: PgPool,
        key: Arc<PseudonymKey>,
        gate: Arc<Gate>,
        ledger: Arc<LedgerSettings>,
        explorer: Option<String>,
    ) -> Self {
        let residents = ResidentService::new(db.clone(), key.clone());
        Self {
            db,
            key,
            gate,
            ledger,
            residents,
            explorer,
            snapshot: std::sync::Mutex::new(None),
            loading: tokio::sync::Mutex::new(()),
        }
    }
}

/// A district as stored, with its GeoJSON boundary.
struct Area {
    district_id: String,
    name_en: String,
    name_zh: String,
    rings: Vec<Vec<(f64, f64)>>,
}

/// The outer rings of a GeoJSON Polygon or MultiPolygon (holes are not drawn: districts
/// have none, and a hole would only hide part of the fill).
fn outer_rings(geometry: &serde_json::Value) -> Vec<Vec<(f64, f64)>> {
    let ring = |v: &serde_json::Value| serde_json::from_value::<Vec<(f64, f64)>>(v.clone()).ok();
    match geometry["type"].as_str() {
        Some("Polygon") => ring(&geometry["coordinates"][0]).into_iter().collect(),
        Some("MultiPolygon") => geometry["coordinates"]
            .as_array()
            .map(|polys| polys.iter().filter_map(|p| ring(&p[0])).collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Projects lon/lat onto a `MAP_WIDTH`-wide SVG (equirectangular, scaled by the cosine of the
/// middle latitude, which is exact enough at city scale), showing `bbox` (lon/lat) with a margin.
struct Projection {
    west: f64,
    north: f64,
    scale: f64,
    cos: f64,
    height: f64,
}

impl Projection {
    fn fit((w, s, e, n): (f64, f64, f64, f64), margin: f64) -> Self {
        let (dx, dy) = ((e - w) * margin, (n - s) * margin);
        let (w, s, e, n) = (w - dx, s - dy, e + dx, n + dy);
        let cos = ((s + n) / 2.0).to_radians().cos();
        let scale = MAP_WIDTH / ((e - w) * cos).max(f64::EPSILON);
        Self { west: w, north: n, scale, cos, height: (n - s) * scale }
    }

    fn point(&self, (lon, lat): (f64, f64)) -> (f64, f64) {
        let round = |v: f64| (v * 10.0).round() / 10.0;
        (round((lon - self.west) * self.cos * self.scale), round((self.north - lat) * self.scale))
    }
}

fn bbox<'a>(points: impl Iterator<Item = &'a (f64, f64)>) -> Option<(f64, f64, f64, f64)> {
    points.fold(None, |acc, &(x, y)| {
        Some(match acc {
            None => (x, y, x, y),
            Some((w, s, e, n)) => (w.min(x), s.min(y), e.max(x), n.max(y)),
        })
    })
}

/// Draws `areas` framed on `focus` (lon/lat box), with `facilities` inside the frame.
fn draw(
    areas: &[Area],
    facilities: &[(String, String, String, String, f64, f64)],
    home: Option<&str>,
    focus: (f64, f64, f64, f64),
    margin: f64,
) -> MapView {
    let p = Projection::fit(focus, margin);
    let areas = areas
        .iter()
        .map(|a| {
            let mut path = String::new();
            for ring in &a.rings {
                for (i, &pt) in ring.iter().enumerate() {
                    let (x, y) = p.point(pt);
                    path.push_str(&format!("{}{x} {y} ", if i == 0 { 'M' } else { 'L' }));
                }
                path.push('Z');
            }
            let all: Vec<(f64, f64)> = a.rings.iter().flatten().copied().collect();
            let n = all.len().max(1) as f64;
            let centre = all.iter().fold((0.0, 0.0), |(x, y), (a, b)| (x + a / n, y + b / n));
            MapArea {
                district_id: a.district_id.clone(),
                name_en: a.name_en.clone(),
                name_zh: a.name_zh.clone(),
                path,
                label: p.point(centre),
                home: home == Some(a.district_id.as_str()),
            }
        })
        .collect();
    let (w, s, e, n) = focus;
    let facilities = facilities
        .iter()
        .filter(|f| (w..=e).contains(&f.4) && (s..=n).contains(&f.5))
        .map(|(facility_id, kind, name_en, name_zh, lon, lat)| FacilityView {
            facility_id: facility_id.clone(),
            kind: kind.clone(),
            name_en: name_en.clone(),
            name_zh: name_zh.clone(),
            at: p.point((*lon, *lat)),
        })
        .collect();
    MapView { width: MAP_WIDTH as u32, height: p.height.round() as u32, areas, facilities }
}

/// The next property-tax instalment after `now`: the city collects on 30 June and 31 December.
fn next_tax_due(now: OffsetDateTime) -> OffsetDateTime {
    use time::macros::time;
    let year = now.year();
    let june = time::Date::from_calendar_date(year, time::Month::June, 30).map(|d| d.with_time(time!(23:59)));
    let dec = time::Date::from_calendar_date(year, time::Month::December, 31).map(|d| d.with_time(time!(23:59)));
    [june, dec]
        .into_iter()
        .flatten()
        .map(|d| d.assume_offset(city_offset()))
        .find(|&d| d > now)
        .or_else(|| {
            time::Date::from_calendar_date(year + 1, time::Month::June, 30)
                .ok()
                .map(|d| d.with_time(time!(23:59)).assume_offset(city_offset()))
        })
        .unwrap_or(now)
}

pub(crate) fn city_offset() -> UtcOffset {
    UtcOffset::from_hms(app::i18n::CITY_OFFSET_HOURS, 0, 0).unwrap_or(UtcOffset::UTC)
}

/// The first day of the current month in the city's time zone.
fn month_start(now: OffsetDateTime) -> OffsetDateTime {
    let local = now.to_offset(city_offset());
    local.replace_day(1).map(|d| d.replace_time(time::Time::MIDNIGHT)).unwrap_or(local)
}

/// The first day of the next month in the city's time zone.
pub(crate) fn next_month(now: OffsetDateTime) -> OffsetDateTime {
    let start = month_start(now);
    let (year, month) = match start.month() {
        time::Month::December => (start.year() + 1, time::Month::January),
        m => (start.year(), m.next()),
    };
    start.replace_year(year).and_then(|d| d.replace_month(month)).unwrap_or(start + Duration::days(31))
}

/// Midnight starting today in the city's time zone: windows of whole days move only then, so
/// a page stays the same all day (`page_cache` relies on it).
fn day_start(now: OffsetDateTime) -> OffsetDateTime {
    now.to_offset(city_offset()).replace_time(time::Time::MIDNIGHT)
}

impl CityService {
    /// The next time a notice of the city (any district's) starts or stops showing, after
    /// `now`: until then the notices every page shows stay the same.
    ///
    /// # Errors
    /// When the city's tables cannot be read.
    pub async fn next_notice_change(
        &self,
        version: i64,
        now: OffsetDateTime,
    ) -> Result<Option<OffsetDateTime>, AppError> {
        let city = self.snapshot(version).await?;
        Ok(city.notices.iter().flat_map(|n| [Some(n.published_at), n.expires_at]).flatten().filter(|t| *t > now).min())
    }

    /// The snapshot for `version` (a newer one will do), loading it when the one held is older.
    async fn snapshot(&self, version: i64) -> Result<Arc<Snapshot>, AppError> {
        let held = || self.snapshot.lock().expect("city snapshot").clone().filter(|s| s.version >= version);
        if let Some(s) = held() {
            return Ok(s);
        }
        let _loading = self.loading.lock().await;
        if let Some(s) = held() {
            return Ok(s);
        }
        let s = Arc::new(self.load().await?);
        let mut slot = self.snapshot.lock().expect("city snapshot");
        if slot.as_ref().is_none_or(|held| held.version < s.version) {
            *slot = Some(s.clone());
        }
        Ok(s)
    }

    /// Reads the slow-changing tables. The version is read first: a change that commits while
    /// the tables are read is then labelled with the older number, and the next request that
    /// sees the newer one loads again. Data is never older than its label.
    async fn load(&self) -> Result<Snapshot, AppError> {
        let mut conn = self.db.acquire().await.map_err(internal)?;
        let version =
            sqlx::query_scalar!("select version from city_version").fetch_one(&mut *conn).await.map_err(internal)?;
        let areas: Vec<Area> = sqlx::query!(
            r#"select district_id, name_en, name_zh, boundary as "boundary?" from district order by district_id"#
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|r| Area {
            rings: r.boundary.as_ref().map(outer_rings).unwrap_or_default(),
            district_id: r.district_id,
            name_en: r.name_en,
            name_zh: r.name_zh,
        })
        .collect();
        let facilities: Vec<_> =
            sqlx::query!("select facility_id, kind, name_en, name_zh, lon, lat from facility order by facility_id")
                .fetch_all(&mut *conn)
                .await
                .map_err(internal)?
                .into_iter()
                .map(|r| (r.facility_id, r.kind, r.name_en, r.name_zh, r.lon, r.lat))
                .collect();
        let notices = sqlx::query!(
            // language=PostgreSQL
            r#"
            select n.notice_id, n.district_id, a.name_en as agency_name_en, a.name_zh as agency_name_zh,
                   n.title_en, n.title_zh, n.body_en, n.body_zh, n.published_at, n.expires_at
            from notice n
            join agency a using (agency_id)
            where n.expires_at is null or n.expires_at > now()
            order by n.published_at desc, n.notice_id
            "#
        )
        .fetch_all(&mut *conn)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|r| Notice {
            view: NoticeView {
                notice_id: r.notice_id,
                district_id: r.district_id,
                agency_name_en: r.agency_name_en,
                agency_name_zh: r.agency_name_zh,
                title_en: r.title_en,
                title_zh: r.title_zh,
                body_en: r.body_en,
                body_zh: r.body_zh,
                published_at: rfc3339(r.published_at),
            },
            published_at: r.published_at,
            expires_at: r.expires_at,
        })
        .collect();
        drop(conn);

        let frame = bbox(areas.iter().flat_map(|a| a.rings.iter().flatten())).unwrap_or((0.0, 0.0, 1.0, 1.0));
        let city_map = draw(&areas, &[], None, frame, 0.02);
        let home_maps = areas
            .iter()
            .filter_map(|home| {
                let frame = bbox(home.rings.iter().flatten())?;
                Some((home.district_id.clone(), draw(&areas, &facilities, Some(&home.district_id), frame, 0.25)))
            })
            .collect();
        let districts = areas
            .into_iter()
            .map(|a| app::serverfns::me::District {
                district_id: a.district_id,
                name_en: a.name_en,
                name_zh: a.name_zh,
            })
            .collect();
        // An id no resident has: every service comes back untaken.
        let catalogue = self.residents.offers(Uuid::nil()).await?;
        let scopes = self.residents.scopes().await?;
        Ok(Snapshot { version, districts, city_map, home_maps, notices, scopes, catalogue })
    }

    /// The gate's steps 1–4 for the resident's own permission; `None` when the permission no
    /// longer holds (revoked or expired since it was listed): no card. A spent one-off or daily
    /// limit concerns the agency's reads, not whether the permission holds.
    async fn check(
        &self,
        conn: &mut PgConnection,
        resident: Uuid,
        g: &GrantView,
    ) -> Result<Option<CardCheck>, AppError> {
        let reader = Reader { agency_id: g.agency_id.clone(), id: "resident".into() };
        let req = ReadRequest {
            service_id: g.service_id,
            pseudonym: self.key.pseudonym(resident, g.service_id),
            scopes: g.scopes.clone(),
            range: Range::default(),
        };
        match self.gate.check(conn, &reader, &req).await {
            Ok(_) | Err(GateError::Denied { reason: DenyReason::FrequencyExceeded, .. }) => {
                Ok(Some(CardCheck::Verified))
            }
            Err(GateError::Denied { reason: DenyReason::Pending, .. }) => Ok(Some(CardCheck::Pending)),
            Err(GateError::Denied { reason: DenyReason::Integrity, .. }) => Ok(Some(CardCheck::Integrity)),
            // Revoked or expired between listing and checking. Not an error of the page (so no
            // error status on it): the card is simply not shown.
            Err(GateError::Denied { .. }) => Ok(None),
            Err(e) => Err(internal(e)),
        }
    }

    /// The cards My City shows for `grants` (the resident's, as listed): each live permission
    /// with the gate's verdict on it, in order.
    async fn checks<'g>(
        &self,
        conn: &mut PgConnection,
        resident: Uuid,
        grants: &'g [GrantView],
    ) -> Result<Vec<(&'g GrantView, CardCheck)>, AppError> {
        let mut checks = Vec::new();
        for g in grants.iter().filter(|g| g.state == "active" || g.state == "pending") {
            if let Some(check) = self.check(conn, resident, g).await? {
                checks.push((g, check));
            }
        }
        Ok(checks)
    }

    /// The verdicts My City would show the resident now, without the cards' data: what the
    /// page cache compares, at a newer checkpoint, with those of a page it keeps.
    ///
    /// # Errors
    /// When the database cannot be read or the gate fails (not when it denies).
    pub async fn card_checks(&self, resident: Uuid) -> Result<Vec<(Uuid, CardCheck)>, AppError> {
        let grants = self.residents.grants(resident).await?;
        let mut conn = self.db.acquire().await.map_err(internal)?;
        let checks = self.checks(&mut conn, resident, &grants).await?;
        Ok(checks.into_iter().map(|(g, check)| (g.grant_id, check)).collect())
    }

    /// The card's contents: the resident's own data under the permission's scopes.
    async fn parts(
        &self,
        conn: &mut PgConnection,
        resident: Uuid,
        scopes: &[String],
        facilities: &[FacilityView],
    ) -> Result<Vec<CardPart>, AppError> {
        let now = OffsetDateTime::now_utc();
        let mut parts = Vec::new();
        for scope in scopes {
            let range = match scope.as_str() {
                "transit.trips" => (month_start(now), now, i64::from(records::MAX_RECORDS)),
                "utilities.readings" => (day_start(now) - Duration::days(365), now, 12),
                _ => (day_start(now) - Duration::days(30), now, 200),
            };
            let data = records::read(conn, resident, std::slice::from_ref(scope), range)
                .await
                .map_err(|e| internal(format!("{e:#}")))?;
            let Some(data) = data.into_values().next() else { continue };
            parts.push(part(scope, data, now, range.0, facilities));
        }
        Ok(parts)
    }
}

fn part(
    scope: &str,
    data: ScopeData,
    now: OffsetDateTime,
    from: OffsetDateTime,
    facilities: &[FacilityView],
) -> CardPart {
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    match (scope, data) {
        ("transit.trips", ScopeData::Behavioral { records, .. }) => {
            let spend = records.iter().map(|r| r.data["fare_cents"].as_i64().unwrap_or(0)).sum();
            let mut recent: Vec<Trip> = records
                .iter()
                .map(|r| Trip {
                    at: rfc3339(r.occurred_at),
                    from: text(&r.data, "from"),
                    to: text(&r.data, "to"),
                    fare_cents: r.data["fare_cents"].as_i64().unwrap_or(0),
                })
                .collect();
            recent.sort_by(|a, b| b.at.cmp(&a.at));
            recent.truncate(3);
            CardPart::Trips { month_start: rfc3339(from), count: records.len() as i64, spend_cents: spend, recent }
        }
        ("property.titles", ScopeData::Confirmation { records }) => CardPart::Titles {
            titles: records
                .iter()
                .map(|r| Title {
                    address: text(&r.data, "address"),
                    registered: text(&r.data, "registered"),
                    tax_due: rfc3339(next_tax_due(now)),
                })
                .collect(),
        },
        ("utilities.readings", ScopeData::Behavioral { records, .. }) => {
            let mut readings: Vec<Reading> = records
                .iter()
                .filter(|r| r.data["kwh"].is_number())
                .map(|r| Reading {
                    at: rfc3339(r.occurred_at),
                    meter: text(&r.data, "meter"),
                    kwh: r.data["kwh"].as_i64().unwrap_or(0),
                })
                .collect();
            readings.sort_by(|a, b| a.at.cmp(&b.at));
            CardPart::Readings { readings }
        }
        ("identity.age_over_65", ScopeData::Predicate { value }) => CardPart::Eligibility {
            eligible: value.as_bool(),
            clinic: facilities.iter().find(|f| f.kind == "clinic").cloned(),
        },
        (scope, _) => CardPart::Other { scope: scope.to_owned() },
    }
}

#[async_trait::async_trait]
impl City for CityService {
    async fn public_city(&self) -> Result<PublicCityView, AppError> {
        let version =
            sqlx::query_scalar!("select version from city_version").fetch_one(&self.db).await.map_err(internal)?;
        let city = self.snapshot(version).await?;
        Ok(PublicCityView {
            map: city.city_map.clone(),
            districts: city.districts.clone(),
            services: city.catalogue.clone(),
            notices: city.notices(None, true, OffsetDateTime::now_utc()),
            scopes: city.scopes.clone(),
        })
    }

    async fn my_city(&self, resident: Uuid) -> Result<MyCityView, AppError> {
        let who = async {
            sqlx::query!(
                r#"
                select a.display_name, r.district_id as "district_id?",
                       (select version from city_version) as "city_version!"
                from resident r join account a using (account_id)
                where r.resident_id = $1
                "#,
                resident
            )
            .fetch_one(&self.db)
            .await
            .map_err(internal)
        };
        let (who, grants) = tokio::try_join!(who, self.residents.grants(resident))?;
        let city = self.snapshot(who.city_version).await?;
        let district =
            who.district_id.as_deref().and_then(|id| city.districts.iter().find(|d| d.district_id == id)).cloned();
        let map = district.as_ref().and_then(|d| city.home_maps.get(&d.district_id)).cloned();
        let home_facilities: &[FacilityView] = map.as_ref().map_or(&[], |m| &m.facilities);

        let mut cards = Vec::new();
        let mut conn = self.db.acquire().await.map_err(internal)?;
        for (g, check) in self.checks(&mut conn, resident, &grants).await? {
            let parts = match check {
                CardCheck::Verified => self.parts(&mut conn, resident, &g.scopes, home_facilities).await?,
                _ => Vec::new(),
            };
            let (agency_name_en, agency_name_zh) = city
                .catalogue
                .iter()
                .find(|o| o.agency_id == g.agency_id)
                .map(|o| (o.agency_name_en.clone(), o.agency_name_zh.clone()))
                .unwrap_or_default();
            cards.push(CardView { grant: g.clone(), agency_name_en, agency_name_zh, check, parts });
        }
        drop(conn);
        let offers = city
            .catalogue
            .iter()
            .filter(|o| !cards.iter().any(|c| c.grant.service_id == o.service_id))
            .map(|o| OfferView {
                // The resident's live grant of the service: neither revoked nor replaced.
                granted: grants
                    .iter()
                    .find(|g| g.service_id == o.service_id && g.state != "revoked" && g.state != "replaced")
                    .map(|g| g.grant_id),
                ..o.clone()
            })
            .collect();
        Ok(MyCityView {
            name: who.display_name,
            notices: city.notices(district.as_ref().map(|d| d.district_id.as_str()), false, OffsetDateTime::now_utc()),
            district,
            map,
            cards,
            offers,
            scopes: city.scopes.clone(),
        })
    }

    async fn transparency(&self) -> Result<TransparencyView, AppError> {
        let cp = sqlx::query!(
            "select tree_size, root_hash, note, quorum_at from ledger_checkpoint
             where quorum_at is not null order by tree_size desc limit 1"
        )
        .fetch_optional(&self.db)
        .await
        .map_err(internal)?;
        let checkpoint = cp.map(|c| {
            use base64::Engine as _;
            CheckpointView {
                tree_size: c.tree_size,
                root_hash: base64::engine::general_purpose::STANDARD.encode(&c.root_hash),
                cosigned_at: c.quorum_at.map(rfc3339).unwrap_or_default(),
                note: c.note,
            }
        });
        let seen: BTreeMap<String, (Option<OffsetDateTime>, i64)> =
            sqlx::query!("select name, tree_size, last_cosign_at from ledger_witness")
                .fetch_all(&self.db)
                .await
                .map_err(internal)?
                .into_iter()
                .map(|r| (r.name, (r.last_cosign_at, r.tree_size)))
                .collect();
        let witnesses = self
            .ledger
            .witnesses
            .iter()
            .map(|w| {
                let name = w.key.name.clone();
                let (last, size) = seen.get(&name).cloned().unwrap_or((None, 0));
                WitnessView { name, key: w.key.to_string(), last_cosigned_at: last.map(rfc3339), tree_size: size }
            })
            .collect();
        let anchors = sqlx::query!(
            "select tree_size, checkpoint_hash, chain_id, tx_hash, block_number, anchored_at
             from ledger_anchor order by tree_size desc limit 10"
        )
        .fetch_all(&self.db)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|a| AnchorView {
            tree_size: a.tree_size,
            checkpoint_hash: hex::encode(&a.checkpoint_hash),
            chain_id: a.chain_id,
            tx_url: self.explorer.as_ref().map(|t| t.replace("{tx}", &a.tx_hash)),
            tx_hash: a.tx_hash,
            block_number: a.block_number,
            anchored_at: rfc3339(a.anchored_at),
        })
        .collect();
        let alarms = sqlx::query!(
            "select kind, detail, raised_at, resolved_at from ledger_alarm order by raised_at desc limit 50"
        )
        .fetch_all(&self.db)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|a| AlarmView {
            kind: a.kind,
            detail: a.detail,
            raised_at: rfc3339(a.raised_at),
            resolved: a.resolved_at.is_some(),
        })
        .collect();
        Ok(TransparencyView {
            checkpoint,
            log_key: self.ledger.log_key().to_string(),
            witnesses,
            quorum: self.ledger.quorum() as i64,
            anchors,
            alarms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projection_keeps_north_up_and_the_frame_inside_the_map() {
        let p = Projection::fit((121.40, 31.20, 121.52, 31.28), 0.0);
        assert_eq!(p.point((121.40, 31.28)), (0.0, 0.0), "north-west corner at the origin");
        let (x, y) = p.point((121.52, 31.20));
        assert!((x - MAP_WIDTH).abs() < 0.2, "east edge at the map's width, got {x}");
        assert!(y > 0.0 && (y - p.height).abs() < 0.2, "south edge at the bottom, got {y}");
    }

    #[test]
    fn multipolygons_draw_every_part_and_bad_geometry_draws_nothing() {
        let multi = serde_json::json!({"type": "MultiPolygon", "coordinates": [
            [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]],
            [[[2.0, 2.0], [3.0, 2.0], [3.0, 3.0], [2.0, 2.0]]]
        ]});
        assert_eq!(outer_rings(&multi).len(), 2);
        assert!(outer_rings(&serde_json::json!({"type": "Point", "coordinates": [0.0, 0.0]})).is_empty());
        assert!(outer_rings(&serde_json::json!({"type": "Polygon", "coordinates": "x"})).is_empty());
    }

    #[test]
    fn property_tax_falls_due_at_the_next_half_year_end() {
        let t = |s: &str| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!(next_tax_due(t("2026-03-01T00:00:00Z")).date().to_string(), "2026-06-30");
        assert_eq!(next_tax_due(t("2026-07-01T00:00:00Z")).date().to_string(), "2026-12-31");
        assert_eq!(next_tax_due(t("2027-01-01T00:00:00+08:00")).date().to_string(), "2027-06-30");
    }

    #[test]
    fn months_and_days_start_at_midnight_in_the_city() {
        let t = |s: &str| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap();
        // 16:00 UTC on 31 December is already 1 January in the city (UTC+8).
        assert_eq!(next_month(t("2026-12-31T15:59:59Z")), t("2027-01-01T00:00:00+08:00"));
        assert_eq!(next_month(t("2026-12-31T16:00:00Z")), t("2027-02-01T00:00:00+08:00"));
        assert_eq!(next_month(t("2026-01-31T12:00:00Z")), t("2026-02-01T00:00:00+08:00"));
        assert_eq!(day_start(t("2026-11-25T17:30:00Z")), t("2026-11-26T00:00:00+08:00"));
    }
}
