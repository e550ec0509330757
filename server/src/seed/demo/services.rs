//! The demo city's agencies and their services, each version published as a ledger entry.

use anyhow::Context;
use sqlx::PgPool;

/// The agencies beyond [`seed_services`]' four: (id, English name, Chinese name).
pub(super) const MORE_AGENCIES: &[(&str, &str, &str)] = &[
    ("social-benefits", "Social Benefits Office", "社会保障局"),
    ("city-library", "City Library", "市图书馆"),
    ("waste-management", "Waste Management Bureau", "市容环境卫生局"),
];

/// Adds the agencies (id, English name, Chinese name) that are missing.
pub(super) async fn add_agencies(db: &PgPool, agencies: &[(&str, &str, &str)]) -> anyhow::Result<()> {
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
            history_days: 0,
        };
        publish_version(db, id, &version).await?;
    }
    Ok(count)
}

/// One version of a catalogue service: (name en, name zh, category, purpose, required,
/// optional, retention days, access mode).
pub(super) type VersionSpec = (
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
                history_days: 0,
            };
            publish_version(db, id, &version).await.with_context(|| format!("publishing {agency}/{slug}"))?;
            published += 1;
        }
    }
    Ok(published)
}
