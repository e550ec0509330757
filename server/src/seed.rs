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
    let published = seed_ledger(&db).await?;
    tracing::info!(districts = DEMO_DISTRICTS.len(), published, "demo city loaded");
    Ok(())
}

/// The demo city's first ledger entries: its agencies' services as published, so a fresh
/// run shows a live, cosigned log. Only on an empty ledger (idempotent).
///
/// # Errors
/// On any database error.
pub async fn seed_ledger(db: &PgPool) -> anyhow::Result<usize> {
    use chain::Event;
    let services = [
        ("transit-authority", "fare-capping", "Cap your monthly fares using your trips", &["transit.trips"][..], 90),
        ("housing-bureau", "property-tax", "Remind you of property tax due dates", &["property.titles"][..], 365),
        (
            "health-department",
            "senior-clinic",
            "Offer free check-ups to residents 65 or over",
            &["identity.age_over_65"][..],
            30,
        ),
    ];
    let mut tx = db.begin().await?;
    let existing: i64 = sqlx::query_scalar!(r#"select count(*) as "n!" from ledger_entry"#).fetch_one(&mut *tx).await?;
    if existing > 0 {
        return Ok(0);
    }
    for (agency, service, purpose, scopes, retention_days) in services {
        let event = Event::ServicePublished {
            agency: agency.into(),
            service: service.into(),
            version: 1,
            purpose: purpose.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            retention_days,
        };
        crate::ledger::enqueue(&mut tx, &event).await?;
    }
    tx.commit().await?;
    Ok(services.len())
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
