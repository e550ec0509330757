//! The onecity server: configuration, sign-in, sessions, the database, and the web edge
//! around the Leptos app. `main.rs` only parses the command line and calls in here, so
//! integration tests can build the same router with their own database and provider.

// The pages' view types (nested generics, one per element) are laid out here, where the app is
// rendered; the default limit of 128 is too low for the larger pages.
#![recursion_limit = "256"]

pub mod agency;
pub mod api;
pub mod auth;
pub mod city;
pub mod config;
pub mod error;
pub mod gate;
pub mod grants;
pub mod keyfile;
pub mod ledger;
pub mod limits;
pub mod page_cache;
pub mod pseudonym;
pub mod records;
pub mod resident;
pub mod seed;
pub mod services;
pub mod session;
pub mod verify;
pub mod web;
pub mod witness;

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::PgPool;

use crate::auth::Oidc;
use crate::config::Config;

/// The migrations at the workspace root, embedded in the binary and run at startup.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: PgPool,
    pub oidc: Arc<Oidc>,
    pub config: Arc<Config>,
    pub ledger: Arc<ledger::LedgerSettings>,
    pub leptos_options: LeptosOptions,
    pub pseudonyms: Arc<pseudonym::PseudonymKey>,
    pub gate: Arc<gate::Gate>,
    pub api: Arc<api::ApiGuard>,
    pub city: Arc<city::CityService>,
    pub page_cache: Arc<page_cache::PageCache>,
    pub limits: Arc<limits::PortalLimits>,
}

impl AppState {
    /// Everything derived from the configuration around a migrated pool and a discovered
    /// provider: the ledger's keys and witnesses, the pseudonym key, the gate, the API guard,
    /// the city's service and the home-page cache.
    ///
    /// # Errors
    /// An unreadable key file, a malformed `--witness`, an impossible quorum.
    pub fn new(db: PgPool, oidc: Oidc, config: Config, leptos_options: LeptosOptions) -> anyhow::Result<Self> {
        let ledger = Arc::new(web::ledger_settings(&config)?);
        let pseudonyms = Arc::new(pseudonym::PseudonymKey::load_or_create(&config.pseudonym_key_file)?);
        let gate = Arc::new(gate::Gate::new(&db, ledger.clone(), pseudonyms.clone()));
        let api = api::guard(&oidc, &config);
        let city = Arc::new(city::CityService::new(
            db.clone(),
            pseudonyms.clone(),
            gate.clone(),
            ledger.clone(),
            config.ledger.anchor_explorer_url.clone(),
        ));
        let idle = std::time::Duration::from_secs(u64::try_from(config.session_idle_minutes).unwrap_or(0) * 60);
        let page_cache = Arc::new(page_cache::PageCache::new(
            db.clone(),
            city.clone(),
            usize::try_from(config.page_cache_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            session::cookie_name(&config),
            idle.saturating_sub(session::refresh_interval(&config)),
        ));
        let limits =
            Arc::new(limits::PortalLimits::new(config.portal_rate_per_minute, config.client_ip_header.clone()));
        Ok(Self {
            db,
            oidc: Arc::new(oidc),
            config: Arc::new(config),
            ledger,
            leptos_options,
            pseudonyms,
            gate,
            api,
            city,
            page_cache,
            limits,
        })
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// Connects to PostgreSQL and brings the schema up to date (migrations hold an advisory
/// lock, so several portal processes starting together are safe).
///
/// # Errors
/// When the database cannot be reached or a migration fails; the server must not start then.
pub async fn connect_and_migrate(config: &Config) -> anyhow::Result<PgPool> {
    use anyhow::Context;
    use secrecy::ExposeSecret;
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(std::time::Duration::from_secs(10))
        // sqlx pings every connection it hands out by default: a round trip per acquire, which
        // was a tenth of the My City page's time under load (docs/scale.md). A connection
        // that came back to the pool moments ago is almost surely alive; only one idle for a
        // while (a restarted server, a dropped socket) is pinged before use.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > std::time::Duration::from_secs(5) {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect(config.database_url.expose_secret())
        .await
        .context("cannot connect to PostgreSQL (check --database-url / DATABASE_URL)")?;
    MIGRATOR.run(&db).await.context("database migration failed")?;
    Ok(db)
}
