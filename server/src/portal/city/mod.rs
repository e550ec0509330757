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
    AlarmView, AnchorView, CardCheck, CardView, CheckpointView, DeviceSummary, FacilityView, MapView, MyCityView,
    NoticeView, PublicCityView, SealsView, TransparencyView, WitnessView,
};
use app::serverfns::resident::ssr::Residents;
use app::serverfns::resident::{AppError, OfferView, ScopeView};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::gate::Gate;
use crate::domain::pseudonym::PseudonymKey;
use crate::ledger::LedgerSettings;
use crate::portal::residents::ResidentService;

mod calendar;
mod cards;
mod map;

pub(crate) use self::calendar::{city_offset, next_month};
use self::map::{Area, bbox, draw, outer_rings};

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
            .filter(|o| o.offered_to(who.district_id.as_deref()))
            .map(|o| OfferView {
                // The resident's live grant of the service: neither revoked nor replaced.
                granted: grants
                    .iter()
                    .find(|g| g.service_id == o.service_id && g.state != "revoked" && g.state != "replaced")
                    .map(|g| g.grant_id),
                ..o.clone()
            })
            .collect();
        let devices = sqlx::query!(
            // language=PostgreSQL
            r#"select d.device_id, d.label, d.kind, d.state, r.occurred_at as "at?", r.data as "data?"
               from device d
               left join lateral (
                   select b.occurred_at, b.data from behavioral_record b
                   where b.resident_id = d.resident_id and b.scope_key in ('utilities.readings', 'home.devices')
                     and b.data->>'device' = d.device_id::text
                     and b.occurred_at > now() - interval '31 days'
                   order by b.occurred_at desc limit 1) r on true
               where d.resident_id = $1 and d.state <> 'retired'
               order by d.registered_at, d.device_id"#,
            resident
        )
        .fetch_all(&self.db)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|d| DeviceSummary {
            device_id: d.device_id,
            label: d.label,
            kind: d.kind,
            state: d.state,
            latest: d.at.zip(d.data).map(|(at, data)| {
                (
                    data["metric"].as_str().unwrap_or_default().to_owned(),
                    data["value"].as_i64().unwrap_or(0),
                    rfc3339(at),
                )
            }),
        })
        .collect();
        Ok(MyCityView {
            devices,
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
        let seals = sqlx::query!(
            r#"select (select count(*) from record_batch where contents = 'records') as "batches!",
                      (select coalesce(sum(record_count), 0) from record_batch where contents = 'records')::bigint
                          as "sealed!",
                      (select count(*) from confirmation_record where record_batch_id is null) as "pending!",
                      (select max(created_at) from record_batch where contents = 'records') as last"#
        )
        .fetch_one(&self.db)
        .await
        .map_err(internal)?;
        let seals = SealsView {
            batches: seals.batches,
            sealed: seals.sealed,
            pending: seals.pending,
            last_sealed_at: seals.last.map(rfc3339),
        };
        Ok(TransparencyView {
            seals,
            checkpoint,
            log_key: self.ledger.log_key().to_string(),
            witnesses,
            quorum: self.ledger.quorum() as i64,
            anchors,
            alarms,
        })
    }
}
