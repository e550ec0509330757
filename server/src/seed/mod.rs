//! Operator commands that touch the database directly: migrations and the demo city.
//!
//! `onecity seed` loads, idempotently and in this order: the map's districts, the agencies
//! and their services, facilities and notices ([`demo`]), the identity provider's test
//! residents with their records and grants ([`demo::seed_residents`]), and a synthetic city
//! of `--residents` people with `--records` behavioral records in total, generated from
//! `--seed` ([`generate`]) and bulk-loaded with `COPY` in resumable chunks ([`city`]).

pub mod city;
pub mod demo;
pub mod generate;
pub(crate) mod progress;

use std::io::IsTerminal as _;

use anyhow::Context;
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

pub use demo::{
    CITY_GEOJSON, MapDistrict, parse_city, seed_catalogue, seed_districts, seed_places, seed_residents, seed_services,
};

#[derive(Args, Clone, Debug)]
pub struct DbArgs {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: SecretString,
}

pub(crate) async fn connect(args: &DbArgs) -> anyhow::Result<PgPool> {
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

/// What `onecity seed` needs beyond the database: which provider's accounts the demo
/// residents belong to, the key their pseudonyms are derived from (the portal's), and the size
/// of the synthetic city.
#[derive(Args, Clone, Debug)]
pub struct SeedArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Issuer of the demo residents' accounts (the portal's `--oidc-issuer`).
    #[arg(long, env = "ONECITY_OIDC_ISSUER", default_value = crate::config::dev::OIDC_ISSUER)]
    pub oidc_issuer: String,
    /// The portal's pseudonym key file (created when missing, as the portal would).
    #[arg(long, env = "ONECITY_PSEUDONYM_KEY_FILE", default_value = crate::config::dev::PSEUDONYM_KEY_FILE)]
    pub pseudonym_key_file: std::path::PathBuf,
    #[command(flatten)]
    pub city: city::CityArgs,
}

/// The districts of [`CITY_GEOJSON`] in the map's order, as the generator uses them.
///
/// # Errors
/// A malformed map.
pub fn map_districts() -> anyhow::Result<Vec<generate::District>> {
    Ok(parse_city(CITY_GEOJSON)?
        .into_iter()
        .map(|d| generate::District { district_id: d.district_id, name_en: d.name_en })
        .collect())
}

/// Loads the demo city. Idempotent: running it again leaves the same data, and continues a
/// synthetic city an interruption left half-loaded.
///
/// # Errors
/// Flags that conflict with the city already in the database (checked before anything is
/// written); an unreachable database or a failed write (nothing is half-written: one
/// transaction per part, one per chunk of the synthetic city).
pub async fn seed_demo(args: &SeedArgs) -> anyhow::Result<()> {
    let db = connect(&args.db).await?;
    let plan = city::prepare(&db, &args.city).await?;
    let districts = seed_districts(&db).await?;
    let published = seed_services(&db).await? + seed_catalogue(&db).await?;
    seed_places(&db).await?;
    let key = crate::domain::pseudonym::PseudonymKey::load_or_create(&args.pseudonym_key_file)?;
    let residents = seed_residents(&db, &args.oidc_issuer, &key).await?;
    tracing::info!(districts, published, residents, "demo city loaded");
    let opts = city::LoadOptions { bar: std::io::stderr().is_terminal(), ..city::LoadOptions::default() };
    let loaded = city::load_city(&db, &key, map_districts()?, &args.city, opts).await?;
    tracing::info!(
        city = %plan,
        chunks = format!("{} loaded now, {} in all", loaded.chunks, loaded.total_chunks),
        residents = loaded.residents,
        records = loaded.records,
        confirmations = loaded.confirmations,
        grants = loaded.grants,
        "synthetic city {}",
        if loaded.complete { "complete" } else { "partly loaded: run `onecity seed` again to continue" }
    );
    Ok(())
}
