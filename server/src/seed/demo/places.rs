//! The demo city's map: districts from the GeoJSON, facilities and notices placed inside them.

use super::{MORE_AGENCIES, add_agencies};
use anyhow::Context;
use sqlx::PgPool;

/// The city's map: one GeoJSON Feature per district (`properties`: district_id, name_en,
/// name_zh). The same file is served from `public/`, so anyone can redraw the map.
pub const CITY_GEOJSON: &str = include_str!("../../../../public/city.geojson");

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
    let mut dice = crate::seed::generate::CitySeed::new(0).dice(crate::seed::generate::PLACES_STREAM);
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
pub(super) struct Notice {
    pub(super) id: String,
    pub(super) district: Option<String>,
    pub(super) agency: &'static str,
    pub(super) title: [String; 2],
    pub(super) body: [String; 2],
}

/// A point inside the district's outer ring, near its centre (ray casting; after 32 misses,
/// the centre itself).
pub(super) fn place_inside(d: &MapDistrict, dice: &mut crate::seed::generate::Dice) -> (f64, f64) {
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
