//! Operator commands that touch the database directly: migrations and the demo city.

use anyhow::Context;
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

#[derive(Args, Clone, Debug)]
pub struct DbArgs {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: SecretString,
}

async fn connect(args: &DbArgs) -> anyhow::Result<PgPool> {
    let db = PgPool::connect(args.database_url.expose_secret()).await.context("cannot connect to PostgreSQL")?;
    crate::MIGRATOR.run(&db).await.context("database migration failed")?;
    Ok(db)
}

/// Applies pending migrations.
///
/// # Errors
/// When the database is unreachable or a migration fails.
pub async fn migrate(args: &DbArgs) -> anyhow::Result<()> {
    connect(args).await?;
    tracing::info!("migrations applied");
    Ok(())
}

/// The demo city's districts: (id, English name, Chinese name).
pub const DEMO_DISTRICTS: &[(&str, &str, &str)] = &[
    ("harbor", "Harbor", "海港区"),
    ("old-town", "Old Town", "老城区"),
    ("riverside", "Riverside", "滨江区"),
    ("university", "University Park", "大学城"),
    ("hillcrest", "Hillcrest", "山岭区"),
    ("new-east", "New East", "新东区"),
];

/// Loads the demo city. Idempotent: running it twice leaves the same data.
///
/// # Errors
/// When the database is unreachable or a write fails (nothing is half-written: one transaction).
pub async fn seed_demo(args: &DbArgs) -> anyhow::Result<()> {
    let db = connect(args).await?;
    seed_districts(&db).await?;
    let published = seed_services(&db).await?;
    tracing::info!(districts = DEMO_DISTRICTS.len(), published, "demo city loaded");
    Ok(())
}

/// The demo city's agencies and their first services, published (so a fresh run shows a
/// live, cosigned log whose entries are real service versions). Only on an empty catalogue.
///
/// # Errors
/// On any database or validation error.
pub async fn seed_services(db: &PgPool) -> anyhow::Result<usize> {
    use crate::services::{AccessMode, NewVersion, create_service, publish_version};
    let existing: i64 = sqlx::query_scalar!(r#"select count(*) as "n!" from service"#).fetch_one(db).await?;
    if existing > 0 {
        return Ok(0);
    }
    let agencies = [
        ("transit-authority", "Transit Authority", "交通局"),
        ("housing-bureau", "Housing and Property Bureau", "住房和房产局"),
        ("health-department", "Health Department", "卫生局"),
    ];
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

/// Upserts the demo districts in one transaction.
///
/// # Errors
/// On any database error.
pub async fn seed_districts(db: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = db.begin().await?;
    for (id, en, zh) in DEMO_DISTRICTS {
        sqlx::query!(
            // language=PostgreSQL
            r#"
            insert into district (district_id, name_en, name_zh) values ($1, $2, $3)
            on conflict (district_id) do update set name_en = excluded.name_en, name_zh = excluded.name_zh
            "#,
            id,
            en,
            zh
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}
