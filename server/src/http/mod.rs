//! The HTTP edge: the router (`app`), its middleware, health endpoints, and `serve`.

pub mod api;
pub mod auth;
pub mod ledger;
pub mod limits;
pub mod page_cache;
pub mod records;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use app::root::{App, CspTemplate, shell};
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use sqlx::PgPool;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_sessions_sqlx_store::PostgresStore;

use self::auth::Oidc;
use crate::AppState;
use crate::config::Config;
use crate::db::connect_and_migrate;
use crate::error::Error;

/// Everything the server needs, connected and ready: database (migrated), session store,
/// discovered identity provider.
///
/// # Errors
/// When the database or the provider cannot be reached.
pub async fn build_state(config: Config) -> anyhow::Result<(AppState, PostgresStore)> {
    let db = connect_and_migrate(&config).await?;
    let store = PostgresStore::new(db.clone());
    store.migrate().await?;
    let oidc = Oidc::discover_with_retry(&config, 60).await?;
    let leptos_options = LeptosOptions::builder()
        .output_name("onecity")
        .site_root(config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(config.listen)
        .build();
    Ok((AppState::new(db, oidc, config, leptos_options)?, store))
}

/// The Content-Security-Policy of HTML pages. Scripts: our own bundle plus inline scripts
/// carrying this response's nonce; `'wasm-unsafe-eval'` lets the bundle instantiate its
/// WebAssembly and nothing else. `form-action` includes the provider because the logout
/// form's response redirects there, and browsers apply form-action to that redirect.
fn page_csp(state: &AppState) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{{nonce}}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self' {}",
        state.oidc.issuer_origin()
    )
}

/// The whole application router over a ready state and session store.
pub fn app(state: AppState, store: PostgresStore) -> Router {
    let sessions = session::layer(&state.config, store);
    let refresh = session::refresh_interval(&state.config);

    let routes = generate_route_list(App);
    let context = {
        let csp = CspTemplate(page_csp(&state));
        let residents: Arc<dyn app::serverfns::resident::ssr::Residents> =
            Arc::new(crate::portal::residents::ResidentService::new(state.db.clone(), state.pseudonyms.clone()));
        let agencies: Arc<dyn app::serverfns::agency::ssr::Agencies> = Arc::new(
            crate::portal::agencies::AgencyConsole::new(state.db.clone(), state.gate.clone(), state.pseudonyms.clone()),
        );
        let city: Arc<dyn app::serverfns::city::ssr::City> = state.city.clone();
        let records: Arc<dyn app::serverfns::records::ssr::Records> =
            Arc::new(crate::portal::records::RecordService::new(state.db.clone(), state.ledger.clone()));
        let devices: Arc<dyn app::serverfns::devices::ssr::Devices> =
            Arc::new(crate::portal::devices::DeviceService::new(state.db.clone(), state.pseudonyms.clone()));
        let accounts: Arc<dyn app::serverfns::me::ssr::Accounts> =
            Arc::new(crate::portal::accounts::AccountService::new(state.db.clone()));
        move || {
            provide_context(accounts.clone());
            provide_context(residents.clone());
            provide_context(records.clone());
            provide_context(devices.clone());
            provide_context(agencies.clone());
            provide_context(city.clone());
            provide_context(csp.clone());
            leptos::nonce::provide_nonce();
        }
    };
    let render = {
        let options = state.leptos_options.clone();
        move || shell(options.clone())
    };

    let timeout = Duration::from_secs(state.config.request_timeout_secs);
    let hsts = state.config.public_url.scheme() == "https";
    let origin = state.config.public_origin();

    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(auth::router())
        .merge(crate::http::ledger::router())
        .merge(crate::http::api::passport_router())
        .merge(crate::http::records::router())
        .leptos_routes_with_context(&state, routes, context, render)
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(claim_code_once))
        .layer(middleware::from_fn_with_state(Arc::new(origin), check_origin))
        .layer(middleware::from_fn_with_state(state.limits.clone(), limits::layer))
        .layer(middleware::from_fn(move |request, next| session::refresh(refresh, request, next)))
        // Inside the session layer, keyed on the session it resolved; outside the refresh, so a
        // page served again needs no session load (its freshness query reads the session row).
        .layer(middleware::from_fn_with_state(state.page_cache.clone(), page_cache::layer))
        .layer(middleware::from_fn(session::private_responses))
        .layer(sessions)
        .with_state(state.clone())
        // The agency API authenticates every request by bearer token: no sessions, no cookies.
        // What it returns is one agency's view of residents' data: never for a cache to keep.
        .merge(
            crate::http::api::router()
                .with_state(state.clone())
                // Device readings carry no token: they are counted per address and device.
                .layer(middleware::from_fn_with_state(state.limits.clone(), limits::layer))
                .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))),
        );

    router = router
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
        ))
        // Pages set their own (nonce-bearing) policy; everything else gets a locked-down one.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
        ));
    if hsts {
        router = router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ));
    }
    router
        .layer(CompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(TraceLayer::new_for_http())
}

/// CSRF defence for every state-changing request (forms, server functions, logout):
/// the session cookie is SameSite=Lax, so other sites' POSTs arrive without it; and a
/// browser-sent `Origin` (or `Sec-Fetch-Site`) that is not ours is refused outright.
async fn check_origin(State(origin): State<Arc<String>>, request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let headers = request.headers();
        let origin_ok = match headers.get(header::ORIGIN).map(HeaderValue::to_str) {
            Some(Ok(o)) => o == origin.as_str(),
            Some(Err(_)) => false,
            None => !matches!(headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()), Some("cross-site")),
        };
        if !origin_ok {
            tracing::warn!(method = %request.method(), path = %request.uri().path(), "cross-origin request refused");
            return Error::Forbidden("cross-origin request refused").into_response();
        }
    }
    next.run(request).await
}

/// Takes a device's claim code (app `serverfns::devices`) out of the holder's session before
/// the Devices page renders, and hands it to the page in the request: pages stream, and the
/// session layer saves changes made before the response starts, not while its body streams.
async fn claim_code_once(session: tower_sessions::Session, mut request: Request, next: Next) -> Response {
    use app::serverfns::devices::ssr::{CLAIM_CODE_KEY, ShownClaimCode};
    if request.method() == Method::GET && request.uri().path() == "/devices" {
        match session.remove::<(uuid::Uuid, String)>(CLAIM_CODE_KEY).await {
            Ok(Some((device, code))) => {
                request.extensions_mut().insert(ShownClaimCode(device, code));
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "claim code not read from the session"),
        }
    }
    next.run(request).await
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers within a second.
async fn readyz(State(db): State<PgPool>) -> Response {
    let ping = tokio::time::timeout(Duration::from_secs(1), sqlx::query("select 1").execute(&db)).await;
    match ping {
        Ok(Ok(_)) => (StatusCode::OK, "ready").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response(),
    }
}

/// Runs the server until Ctrl-C or SIGTERM, then drains connections.
///
/// # Errors
/// When the address cannot be bound or the state cannot be built.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    use tower_sessions::ExpiredDeletion;
    let listen = config.listen;
    let (state, store) = build_state(config).await?;
    let store_for_cleanup = store.clone();
    let cleanup = tokio::spawn(async move {
        if let Err(e) = store_for_cleanup.continuously_delete_expired(Duration::from_secs(300)).await {
            tracing::warn!(error = %e, "expired-session cleanup stopped");
        }
    });
    let mut background = vec![
        cleanup,
        tokio::spawn(crate::ledger::sequencer::run(state.db.clone(), state.ledger.clone())),
        tokio::spawn(page_cache::report(state.page_cache.clone(), Duration::from_secs(60))),
        tokio::spawn(limits::housekeeping(state.limits.clone(), Duration::from_secs(60))),
        tokio::spawn(crate::ledger::seal::run(
            state.db.clone(),
            crate::ledger::seal::SealSettings {
                interval: Duration::from_secs(state.config.ledger.seal_interval_secs),
                max_batch: state.config.ledger.seal_batch,
            },
        )),
    ];
    if let (Some(url), Some(key)) = (&state.config.ledger.anchor_rpc_url, &state.config.ledger.anchor_key) {
        use secrecy::ExposeSecret;
        let settings = crate::ledger::anchor::AnchorSettings {
            rpc: crate::ledger::evm::EvmRpc::new(url)?,
            key: crate::ledger::evm::parse_key(key.expose_secret())?,
            interval: Duration::from_secs(state.config.ledger.anchor_interval_secs.max(1)),
            receipt_timeout: Duration::from_secs(60),
        };
        background.push(tokio::spawn(crate::ledger::anchor::run(state.db.clone(), settings)));
    }
    let router = app(state, store);
    // Pages stream in several writes; with Nagle's algorithm on, each write after the first
    // waits for the browser's delayed ACK (40 ms on Linux). Measured: a page rendered afresh
    // took 44 ms at p50 under light load, 4 ms of it work.
    let listener = tokio::net::TcpListener::bind(listen).await?.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set on a connection");
        }
    });
    tracing::info!(%listen, "onecity portal listening");
    // The peer address is the client's for the portal's rate limits (crate::http::limits).
    axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(crate::shutdown::shutdown_signal())
        .await?;
    for task in background {
        task.abort();
    }
    Ok(())
}
