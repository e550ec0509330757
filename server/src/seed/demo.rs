//! The hand-written part of the demo city: the map's districts, the agencies and their
//! services, facilities and notices, and the identity provider's two test residents.

use anyhow::Context;
use sqlx::PgPool;

/// The city's map: one GeoJSON Feature per district (`properties`: district_id, name_en,
/// name_zh). The same file is served from `public/`, so anyone can redraw the map.
pub const CITY_GEOJSON: &str = include_str!("../../../public/city.geojson");

/// The dev provider's residents (`idp/server.mjs`) with their city records, and two grants by
/// `resident1`, so the gate has something to guard from the first start. Accounts are
/// created as their first sign-in would create them; only when absent.
///
/// # Errors
/// Database errors; a grant the catalogue refuses.
pub async fn seed_residents(
    db: &PgPool,
    issuer: &str,
    key: &crate::domain::pseudonym::PseudonymKey,
) -> anyhow::Result<usize> {
    use serde_json::json;
    use time::{Duration, OffsetDateTime};
    let people = [
        ("resident1", "Li Wei", "zh-CN", "harbor", "1955-04-12", 2_880_000_i64),
        ("resident2", "Maria Santos", "en", "riverside", "1988-09-30", 9_600_000),
    ];
    let mut created = 0;
    let now = OffsetDateTime::now_utc();
    for (i, (subject, name, locale, district, birth, income)) in people.into_iter().enumerate() {
        let mut tx = db.begin().await?;
        // The account and resident may exist already (someone signed in before the seed ran):
        // reuse them, and seed only a resident without a civil record.
        let account = sqlx::query_scalar!(
            r#"with inserted as (
                   insert into account (issuer, subject, display_name, locale, roles)
                   values ($1, $2, $3, $4, '{resident}')
                   on conflict on constraint account_issuer_subject_key do nothing
                   returning account_id)
               select account_id as "account_id!" from inserted
               union all
               select account_id from account where issuer = $1 and subject = $2
               limit 1"#,
            issuer,
            subject,
            name,
            locale
        )
        .fetch_one(&mut *tx)
        .await?;
        let resident = sqlx::query_scalar!(
            r#"with inserted as (
                   insert into resident (account_id, district_id) values ($1, $2)
                   on conflict on constraint resident_account_id_key do nothing
                   returning resident_id)
               select resident_id as "resident_id!" from inserted
               union all
               select resident_id from resident where account_id = $1
               limit 1"#,
            account,
            district
        )
        .fetch_one(&mut *tx)
        .await?;
        let seeded: bool = sqlx::query_scalar!(
            r#"select exists (select 1 from civil_record where resident_id = $1) as "e!""#,
            resident
        )
        .fetch_one(&mut *tx)
        .await?;
        if seeded {
            continue;
        }
        sqlx::query!(
            "update resident set district_id = coalesce(district_id, $2) where resident_id = $1",
            resident,
            district
        )
        .execute(&mut *tx)
        .await?;
        let birth = time::Date::parse(birth, &time::macros::format_description!("[year]-[month]-[day]"))?;
        sqlx::query!(
            "insert into civil_record (resident_id, birth_date, annual_income_cents) values ($1, $2, $3)",
            resident,
            birth,
            income
        )
        .execute(&mut *tx)
        .await?;
        // Two trips a working day for the last 60 days; a meter reading a month.
        let stations = ["Harbor", "Old Town", "Museum", "Riverside", "University", "New East"];
        let trips: Vec<_> = (1..=60_i64)
            .flat_map(|d| {
                // Commute times in the city's time zone (UTC+8).
                let day = (now - Duration::days(d)).to_offset(time::macros::offset!(+8));
                let (a, b) = (stations[(d as usize + i) % 6], stations[(d as usize + i + 2) % 6]);
                [
                    (
                        day.replace_time(time::macros::time!(8:10)),
                        json!({"from": a, "to": b, "fare_cents": 300, "line": "M2"}),
                    ),
                    (
                        day.replace_time(time::macros::time!(18:25)),
                        json!({"from": b, "to": a, "fare_cents": 300, "line": "M2"}),
                    ),
                ]
            })
            .filter(|(t, _)| t.weekday().number_from_monday() <= 5)
            .collect();
        crate::domain::records::add_behavioral(&mut tx, resident, "transit.trips", &trips).await?;
        let readings: Vec<_> = (1..=6_i64)
            .map(|m| {
                (now - Duration::days(30 * m), json!({"meter": "electricity", "kwh": 180 + 7 * m + i as i64 * 40}))
            })
            .collect();
        crate::domain::records::add_behavioral(&mut tx, resident, "utilities.readings", &readings).await?;
        crate::domain::records::add_confirmation(
            &mut tx,
            resident,
            "property.titles",
            &json!({"address": format!("{} Harbor Road, flat {}", 12 + i, 3 + i), "share": 1, "registered": "2009-06-01"}),
        )
        .await?;
        tx.commit().await?;
        created += 1;
        if subject == "resident1" {
            // Given two months ago: the gate releases only what a grant's window covers, and the
            // demo's agencies should have this resident's recent trips to read.
            let (since, until) = (now - Duration::days(60), now + Duration::days(90));
            let fare = service_id(db, "fare-capping").await?;
            let scopes = ["transit.trips".to_owned(), "residence.district".to_owned()];
            crate::domain::grants::issue_backdated(db, key, resident, fare, &scopes, since, until).await?;
            let clinic = service_id(db, "senior-clinic").await?;
            let age = ["identity.age_over_65".to_owned()];
            crate::domain::grants::issue_backdated(db, key, resident, clinic, &age, since, until).await?;
        }
    }
    Ok(created)
}

async fn service_id(db: &PgPool, slug: &str) -> anyhow::Result<uuid::Uuid> {
    sqlx::query_scalar!("select service_id from service where slug = $1", slug)
        .fetch_optional(db)
        .await?
        .with_context(|| format!("the demo service {slug} is missing"))
}

/// The agencies beyond [`seed_services`]' four: (id, English name, Chinese name).
const MORE_AGENCIES: &[(&str, &str, &str)] = &[
    ("social-benefits", "Social Benefits Office", "社会保障局"),
    ("city-library", "City Library", "市图书馆"),
    ("waste-management", "Waste Management Bureau", "市容环境卫生局"),
];

/// Adds the agencies (id, English name, Chinese name) that are missing.
async fn add_agencies(db: &PgPool, agencies: &[(&str, &str, &str)]) -> anyhow::Result<()> {
    for (id, en, zh) in agencies {
        sqlx::query!(
            "insert into agency (agency_id, name_en, name_zh) values ($1, $2, $3) on conflict (agency_id) do nothing",
            id,
            en,
            zh
        )
        .execute(db)
        .await?;
    }
    Ok(())
}

/// The demo city's agencies and their first services, published (so a fresh run shows a
/// live, cosigned log whose entries are real service versions). Only on an empty catalogue.
///
/// # Errors
/// On any database or validation error.
pub async fn seed_services(db: &PgPool) -> anyhow::Result<usize> {
    use crate::domain::services::{AccessMode, NewVersion, create_service, publish_version};
    let agencies = [
        ("transit-authority", "Transit Authority", "交通局"),
        ("housing-bureau", "Housing and Property Bureau", "住房和房产局"),
        ("health-department", "Health Department", "卫生局"),
        ("utilities-company", "City Utilities", "城市公用事业公司"),
    ];
    add_agencies(db, &agencies).await?;
    let existing: i64 = sqlx::query_scalar!(r#"select count(*) as "n!" from service"#).fetch_one(db).await?;
    if existing > 0 {
        return Ok(0);
    }
    let services = [
        (
            "transit-authority",
            "fare-capping",
            "Fare capping",
            "票价封顶",
            "transport",
            "Cap your monthly fares using your trips",
            vec!["transit.trips"],
            vec!["residence.district"],
            90,
            AccessMode::Recurring { max_reads_per_day: 4 },
        ),
        (
            "housing-bureau",
            "property-tax",
            "Property tax reminders",
            "房产税提醒",
            "housing",
            "Remind you of property tax due dates for the properties you own",
            vec!["property.titles"],
            vec![],
            365,
            AccessMode::Recurring { max_reads_per_day: 1 },
        ),
        (
            "health-department",
            "senior-clinic",
            "Senior health check",
            "老年人健康体检",
            "health",
            "Offer free check-ups to residents 65 or over",
            vec!["identity.age_over_65"],
            vec!["residence.district"],
            30,
            AccessMode::OneOff,
        ),
        (
            "utilities-company",
            "energy-saver",
            "Energy saver",
            "节能助手",
            "utilities",
            "Compare your monthly electricity use and suggest savings",
            vec!["utilities.readings"],
            vec![],
            180,
            AccessMode::Recurring { max_reads_per_day: 2 },
        ),
    ];
    let count = services.len();
    for (agency, slug, name_en, name_zh, category, purpose, required, optional, retention_days, access_mode) in services
    {
        let id = create_service(db, agency, slug).await?;
        let version = NewVersion {
            name_en: name_en.into(),
            name_zh: name_zh.into(),
            description_en: purpose.into(),
            description_zh: name_zh.into(),
            category: category.into(),
            purpose: purpose.into(),
            required_scopes: required.into_iter().map(str::to_owned).collect(),
            optional_scopes: optional.into_iter().map(str::to_owned).collect(),
            retention_days,
            districts: vec![],
            access_mode,
        };
        publish_version(db, id, &version).await?;
    }
    Ok(count)
}

/// One version of a catalogue service: (name en, name zh, category, purpose, required,
/// optional, retention days, access mode).
type VersionSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    u32,
    crate::domain::services::AccessMode,
);

/// The rest of the city's agencies and services beyond [`seed_services`]: social benefits,
/// libraries, waste, and more from the first agencies, some in a second version (a grant
/// stays on the version it was given for). Idempotent: creates what is missing, publishes the
/// versions not yet published. Returns the versions published now.
///
/// # Errors
/// On any database or validation error.
pub async fn seed_catalogue(db: &PgPool) -> anyhow::Result<usize> {
    use crate::domain::services::AccessMode::{OneOff, Ongoing, Recurring};
    use crate::domain::services::{NewVersion, create_service, publish_version};
    add_agencies(db, MORE_AGENCIES).await?;
    let catalogue: &[(&str, &str, &[VersionSpec])] = &[
        (
            "social-benefits",
            "living-allowance",
            &[
                (
                    "Living allowance check",
                    "最低生活保障资格核查",
                    "benefits",
                    "Check whether your household qualifies for the monthly living allowance",
                    &["income.below_benefit_threshold", "residence.district"],
                    &[],
                    30,
                    OneOff,
                ),
                (
                    "Living allowance check",
                    "最低生活保障资格核查",
                    "benefits",
                    "Check whether your household qualifies for the monthly living allowance and pay it into your account",
                    &["income.below_benefit_threshold", "residence.district"],
                    &["bank.accounts"],
                    30,
                    OneOff,
                ),
            ],
        ),
        (
            "social-benefits",
            "elderly-check-in",
            &[(
                "Check-in for seniors living alone",
                "独居老人关爱探访",
                "benefits",
                "Send a volunteer when a senior living alone has made no calls for several days",
                &["identity.age_over_65", "telecom.call_records"],
                &["residence.district"],
                14,
                Ongoing,
            )],
        ),
        (
            "city-library",
            "library-card",
            &[
                (
                    "Library card",
                    "图书馆借阅证",
                    "culture",
                    "Issue a free library card to residents of the city",
                    &["residence.district"],
                    &[],
                    365,
                    OneOff,
                ),
                (
                    "Library card",
                    "图书馆借阅证",
                    "culture",
                    "Issue a free library card and suggest books from your past loans",
                    &["residence.district"],
                    &["services.logs"],
                    365,
                    Recurring { max_reads_per_day: 1 },
                ),
            ],
        ),
        (
            "waste-management",
            "collection-reminders",
            &[(
                "Waste collection reminders",
                "垃圾分类收运提醒",
                "environment",
                "Remind you of sorting rules and collection days in your district",
                &["residence.district"],
                &[],
                365,
                Recurring { max_reads_per_day: 1 },
            )],
        ),
        (
            "waste-management",
            "recycling-rewards",
            &[(
                "Recycling rewards",
                "垃圾分类积分奖励",
                "environment",
                "Give reward points for bulky-waste pickups and recycling visits",
                &["services.logs"],
                &[],
                180,
                Recurring { max_reads_per_day: 1 },
            )],
        ),
        (
            "housing-bureau",
            "housing-subsidy",
            &[(
                "Housing subsidy",
                "住房补贴",
                "housing",
                "Check whether your home and income qualify for the housing subsidy",
                &["property.titles", "income.below_benefit_threshold"],
                &[],
                90,
                OneOff,
            )],
        ),
        (
            "health-department",
            "vaccination-reminders",
            &[
                (
                    "Vaccination reminders",
                    "疫苗接种提醒",
                    "health",
                    "Remind you of vaccination campaigns in your district",
                    &["residence.district"],
                    &["identity.age_over_65"],
                    90,
                    Recurring { max_reads_per_day: 1 },
                ),
                (
                    "Vaccination reminders",
                    "疫苗接种提醒",
                    "health",
                    "Remind you of vaccination campaigns in your district, all year round",
                    &["residence.district"],
                    &["identity.age_over_65"],
                    365,
                    Recurring { max_reads_per_day: 1 },
                ),
            ],
        ),
        (
            "utilities-company",
            "water-leak-alert",
            &[(
                "Water leak alert",
                "漏水提醒",
                "utilities",
                "Warn you when your water meter shows a leak",
                &["utilities.readings"],
                &[],
                60,
                Ongoing,
            )],
        ),
        (
            "transit-authority",
            "concession-pass",
            &[(
                "Senior concession pass",
                "老年人优待乘车卡",
                "transport",
                "Issue free off-peak travel to residents 65 or over",
                &["identity.age_over_65"],
                &["residence.district"],
                30,
                OneOff,
            )],
        ),
    ];
    let mut published = 0;
    for (agency, slug, versions) in catalogue {
        let existing = sqlx::query!(
            r#"select s.service_id, (select count(*) from service_version v where v.service_id = s.service_id) as "versions!"
               from service s where s.agency_id = $1 and s.slug = $2"#,
            agency,
            slug
        )
        .fetch_optional(db)
        .await?;
        let (id, have) = match existing {
            Some(s) => (s.service_id, usize::try_from(s.versions)?),
            None => (create_service(db, agency, slug).await?, 0),
        };
        for (name_en, name_zh, category, purpose, required, optional, retention_days, access_mode) in
            &versions[have.min(versions.len())..]
        {
            let version = NewVersion {
                name_en: (*name_en).into(),
                name_zh: (*name_zh).into(),
                description_en: (*purpose).into(),
                description_zh: (*name_zh).into(),
                category: (*category).into(),
                purpose: (*purpose).into(),
                required_scopes: required.iter().map(|s| (*s).to_owned()).collect(),
                optional_scopes: optional.iter().map(|s| (*s).to_owned()).collect(),
                retention_days: *retention_days,
                districts: vec![],
                access_mode: *access_mode,
            };
            publish_version(db, id, &version).await.with_context(|| format!("publishing {agency}/{slug}"))?;
            published += 1;
        }
    }
    Ok(published)
}

/// A district of [`CITY_GEOJSON`].
pub struct MapDistrict {
    pub district_id: String,
    pub name_en: String,
    pub name_zh: String,
    pub geometry: serde_json::Value,
    /// The mean of the outer ring's vertices: where its facilities are placed.
    pub centre: (f64, f64),
}

/// Parses [`CITY_GEOJSON`] (or another city's map in the same shape).
///
/// # Errors
/// When a feature lacks its names, or its geometry is not a polygon with at least 3 points.
pub fn parse_city(geojson: &str) -> anyhow::Result<Vec<MapDistrict>> {
    #[derive(serde::Deserialize)]
    struct Collection {
        features: Vec<Feature>,
    }
    #[derive(serde::Deserialize)]
    struct Feature {
        properties: Props,
        geometry: serde_json::Value,
    }
    #[derive(serde::Deserialize)]
    struct Props {
        district_id: String,
        name_en: String,
        name_zh: String,
    }
    let c: Collection = serde_json::from_str(geojson).context("the city map is not a GeoJSON FeatureCollection")?;
    c.features
        .into_iter()
        .map(|f| {
            let ring: Vec<(f64, f64)> = serde_json::from_value(f.geometry["coordinates"][0].clone())
                .with_context(|| format!("district {}: the geometry is not a Polygon", f.properties.district_id))?;
            anyhow::ensure!(ring.len() >= 4, "district {}: the ring has fewer than 3 points", f.properties.district_id);
            let n = (ring.len() - 1) as f64; // the last point repeats the first
            let centre = ring[..ring.len() - 1].iter().fold((0.0, 0.0), |(x, y), (a, b)| (x + a / n, y + b / n));
            Ok(MapDistrict {
                district_id: f.properties.district_id,
                name_en: f.properties.name_en,
                name_zh: f.properties.name_zh,
                geometry: f.geometry,
                centre,
            })
        })
        .collect()
}

/// Upserts the districts of [`CITY_GEOJSON`], with their boundaries, in one transaction.
///
/// # Errors
/// On any database error.
pub async fn seed_districts(db: &PgPool) -> anyhow::Result<usize> {
    let districts = parse_city(CITY_GEOJSON)?;
    let mut tx = db.begin().await?;
    for d in &districts {
        sqlx::query!(
            // language=PostgreSQL
            r#"
            insert into district (district_id, name_en, name_zh, boundary) values ($1, $2, $3, $4)
            on conflict (district_id) do update
                set name_en = excluded.name_en, name_zh = excluded.name_zh, boundary = excluded.boundary
            "#,
            d.district_id,
            d.name_en,
            d.name_zh,
            d.geometry
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(districts.len())
}

/// Facilities of each district, placed around its centre, and the current notices. Upserts,
/// so a re-seed refreshes names without duplicating anything.
///
/// # Errors
/// On any database error.
pub async fn seed_places(db: &PgPool) -> anyhow::Result<()> {
    // (kind, English suffix, Chinese suffix, offset from the centre in degrees lon/lat)
    const PLACES: &[(&str, &str, &str, (f64, f64))] = &[
        ("transit", "Metro Station", "地铁站", (0.000, 0.000)),
        ("clinic", "Community Clinic", "社区卫生服务中心", (0.007, 0.004)),
        ("library", "Library", "图书馆", (-0.007, 0.005)),
        ("park", "Park", "公园", (-0.006, -0.006)),
        ("service-centre", "Citizen Service Centre", "市民服务中心", (0.006, -0.005)),
        ("recycling", "Recycling Point", "回收站", (0.010, -0.010)),
    ];
    // More places per district at seeded positions inside its boundary:
    // (kind, id suffix, English suffix, Chinese suffix).
    const MORE_PLACES: &[(&str, &str, &str, &str)] = &[
        ("school", "school", "Primary School", "小学"),
        ("transit", "bus-terminal", "Bus Terminal", "公交枢纽站"),
        ("library", "reading-room", "Community Reading Room", "社区阅览室"),
        ("recycling", "waste-station", "Waste Sorting Station", "垃圾分类投放站"),
        ("park", "garden", "Riverside Garden", "滨水花园"),
    ];
    // Notices come from every agency, also those a caller did not seed services for.
    add_agencies(db, MORE_AGENCIES).await?;
    let districts = parse_city(CITY_GEOJSON)?;
    let mut dice = super::generate::CitySeed::new(0).dice(super::generate::PLACES_STREAM);
    let mut places = Vec::new();
    for d in &districts {
        for (kind, en, zh, (dx, dy)) in PLACES {
            places.push((format!("{}-{kind}", d.district_id), d, *kind, *en, *zh, (d.centre.0 + dx, d.centre.1 + dy)));
        }
        for (kind, id, en, zh) in MORE_PLACES {
            places.push((format!("{}-{id}", d.district_id), d, *kind, *en, *zh, place_inside(d, &mut dice)));
        }
    }
    let mut tx = db.begin().await?;
    {
        for (id, d, kind, en, zh, (lon, lat)) in &places {
            sqlx::query!(
                // language=PostgreSQL
                r#"
                insert into facility (facility_id, district_id, kind, name_en, name_zh, lon, lat)
                values ($1, $2, $3, $4, $5, $6, $7)
                on conflict (facility_id) do update
                    set name_en = excluded.name_en, name_zh = excluded.name_zh, lon = excluded.lon, lat = excluded.lat
                "#,
                id,
                d.district_id,
                kind,
                format!("{} {en}", d.name_en),
                format!("{}{zh}", d.name_zh),
                lon,
                lat,
            )
            .execute(&mut *tx)
            .await?;
        }
    }
    let n = |id: &str, district: Option<&str>, agency: &'static str, title: [&str; 2], body: [&str; 2]| Notice {
        id: id.to_owned(),
        district: district.map(str::to_owned),
        agency,
        title: title.map(str::to_owned),
        body: body.map(str::to_owned),
    };
    let mut notices = vec![
        n(
            "night-buses",
            None,
            "transit-authority",
            ["Night buses every 20 minutes", "夜间公交每20分钟一班"],
            [
                "From next month night lines N1–N6 run every 20 minutes between midnight and 5 am.",
                "自下月起，夜间线路N1至N6在午夜至凌晨5点每20分钟一班。",
            ],
        ),
        n(
            "harbor-flu-clinic",
            Some("harbor"),
            "health-department",
            ["Free flu vaccination at Harbor Community Clinic", "海港区社区卫生服务中心免费接种流感疫苗"],
            [
                "Residents 65 and over can walk in on weekday mornings until the end of the season.",
                "65岁及以上居民本季度内工作日上午可直接前往接种。",
            ],
        ),
        n(
            "riverside-water-works",
            Some("riverside"),
            "utilities-company",
            ["Water main renewal on Riverside Road", "滨江路供水管道更新"],
            [
                "Expect lower water pressure on weekdays between 10 am and 3 pm for two weeks.",
                "两周内工作日上午10点至下午3点水压可能偏低。",
            ],
        ),
        n(
            "old-town-property-tax",
            Some("old-town"),
            "housing-bureau",
            ["Property tax counter moves to the Citizen Service Centre", "房产税窗口迁至市民服务中心"],
            [
                "The Old Town counter is now on the ground floor of the Citizen Service Centre.",
                "老城区窗口已迁至市民服务中心一楼。",
            ],
        ),
        n(
            "library-card-online",
            None,
            "city-library",
            ["Get your library card online", "在线办理图书馆借阅证"],
            [
                "Residents can now get a library card in the portal and borrow from any branch the same day.",
                "居民现可在门户网站办理借阅证，当天即可在任一分馆借书。",
            ],
        ),
    ];
    for d in &districts {
        let (en, zh, id) = (&d.name_en, &d.name_zh, d.district_id.as_str());
        notices.push(n(
            &format!("{id}-library-hours"),
            Some(id),
            "city-library",
            [&format!("Longer opening hours at {en} Library"), &format!("{zh}图书馆延长开放时间")],
            ["From next week the library is open until 9 pm on weekdays.", "自下周起，工作日开放至晚上9点。"],
        ));
        notices.push(n(
            &format!("{id}-bulky-waste"),
            Some(id),
            "waste-management",
            ["Bulky waste collection this Saturday", "本周六大件垃圾集中收运"],
            [
                &format!(
                    "Leave furniture and other large items at the {en} Waste Sorting Station between 8 and 11 am."
                ),
                &format!("请于上午8点至11点将家具等大件物品放至{zh}垃圾分类投放站。"),
            ],
        ));
        notices.push(n(
            &format!("{id}-allowance-desk"),
            Some(id),
            "social-benefits",
            ["Living allowance help desk", "低保申请咨询台"],
            [
                &format!("Staff at the {en} Citizen Service Centre help with applications every Tuesday."),
                &format!("每周二{zh}市民服务中心有工作人员协助办理申请。"),
            ],
        ));
    }
    for Notice { id, district, agency, title: [title_en, title_zh], body: [body_en, body_zh] } in &notices {
        sqlx::query!(
            // language=PostgreSQL
            r#"
            insert into notice (notice_id, district_id, agency_id, title_en, title_zh, body_en, body_zh)
            values ($1, $2, $3, $4, $5, $6, $7)
            on conflict (notice_id) do update
                set title_en = excluded.title_en, title_zh = excluded.title_zh,
                    body_en = excluded.body_en, body_zh = excluded.body_zh
            "#,
            id,
            district.as_deref(),
            *agency,
            title_en,
            title_zh,
            body_en,
            body_zh
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A notice in both languages: `title` and `body` are `[en, zh]`.
struct Notice {
    id: String,
    district: Option<String>,
    agency: &'static str,
    title: [String; 2],
    body: [String; 2],
}

/// A point inside the district's outer ring, near its centre (ray casting; after 32 misses,
/// the centre itself).
fn place_inside(d: &MapDistrict, dice: &mut super::generate::Dice) -> (f64, f64) {
    let ring: Vec<(f64, f64)> = serde_json::from_value(d.geometry["coordinates"][0].clone()).unwrap_or_default();
    let inside = |(x, y): (f64, f64)| {
        let mut c = false;
        for w in ring.windows(2) {
            let ((x1, y1), (x2, y2)) = (w[0], w[1]);
            if (y1 > y) != (y2 > y) && x < (x2 - x1) * (y - y1) / (y2 - y1) + x1 {
                c = !c;
            }
        }
        c
    };
    for _ in 0..32 {
        let p = (d.centre.0 + (dice.unit() - 0.5) * 0.03, d.centre.1 + (dice.unit() - 0.5) * 0.03);
        if inside(p) {
            return ((p.0 * 1e5).round() / 1e5, (p.1 * 1e5).round() / 1e5);
        }
    }
    d.centre
}
