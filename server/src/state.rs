//! What every handler can reach, built once from the configuration.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::PgPool;

use crate::config::Config;
use crate::domain::{gate, pseudonym};
use crate::http::auth::Oidc;
use crate::http::{api, limits, page_cache, session};
use crate::ledger;
use crate::portal::city;

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
        let ledger = Arc::new(ledger::LedgerSettings::from_config(&config)?);
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

impl FromRef<AppState> for PgPool {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}
