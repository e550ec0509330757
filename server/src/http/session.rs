//! The portal's sessions: the cookie, the idle timeout, and what every personalized response
//! tells caches.
//!
//! * The cookie is `__Host-onecity_session` whenever cookies are `Secure`: the prefix makes the
//!   browser refuse it unless it was set over HTTPS by this host for the whole site, so a
//!   sibling subdomain or a plain-http page cannot plant or shadow it. Plain-http development
//!   cannot use the prefix and uses `onecity_session`. Either way the name is distinct from the
//!   identity provider's cookies (cookies are per host, not per port).
//! * Sessions live in PostgreSQL (tower-sessions' store), so portal processes are stateless.
//! * The idle timeout is an idle timeout: tower-sessions moves a session's stored expiry only
//!   when the session is saved, and it is saved only when modified, so a session that is only
//!   read would expire a fixed time after sign-in however active its owner is. [`refresh`]
//!   writes a timestamp into the session when the stored expiry is older than a refresh
//!   interval (a sixteenth of the idle time, at most 15 minutes), which saves it with a new
//!   expiry: one write per session and interval, not per request. A session therefore ends
//!   between `idle - interval` and `idle` after its last use.
//! * [`private_responses`] marks every response to a request that carries a session, every
//!   response that sets a cookie, and every HTML page with `Cache-Control: private, no-store`,
//!   so no shared cache (a CDN, a corporate proxy) keeps one person's page for another.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

use crate::config::Config;

/// The session cookie over HTTPS.
pub const SECURE_COOKIE: &str = "__Host-onecity_session";
/// The session cookie on plain-http development servers.
pub const PLAIN_COOKIE: &str = "onecity_session";

/// Session key of the time the session's expiry was last moved (Unix seconds).
const SEEN_KEY: &str = "seen";

/// The session cookie's name for this deployment.
#[must_use]
pub fn cookie_name(config: &Config) -> &'static str {
    if config.cookie_secure { SECURE_COOKIE } else { PLAIN_COOKIE }
}

/// How often an active session's expiry is moved: a sixteenth of the idle time, at most 15
/// minutes (30 minutes with the default 480-minute idle time would be; 15 is the cap).
#[must_use]
pub fn refresh_interval(config: &Config) -> Duration {
    let idle = u64::try_from(config.session_idle_minutes).unwrap_or(1).saturating_mul(60);
    Duration::from_secs((idle / 16).clamp(1, 15 * 60))
}

/// The session layer: HttpOnly, SameSite=Lax (the identity provider's redirect back is a
/// cross-site top-level GET, which Strict would strip), Secure in production.
#[must_use]
pub fn layer(config: &Config, store: PostgresStore) -> SessionManagerLayer<PostgresStore> {
    SessionManagerLayer::new(store)
        .with_name(cookie_name(config))
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.cookie_secure)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::minutes(config.session_idle_minutes)))
}

/// The built bundle and the public assets: fetched with the session cookie like any request,
/// but nothing about them is personal, and loading the session for them would cost a query each.
fn is_asset(path: &str) -> bool {
    path.starts_with("/pkg/") || path == "/favicon.svg" || path == "/city.geojson"
}

/// Moves an active session's expiry once per refresh interval (see the module docs). Asset
/// requests do not count as use: a page load always comes with its page request, which does.
pub async fn refresh(interval: Duration, request: Request, next: Next) -> Response {
    let session =
        request.extensions().get::<Session>().filter(|s| s.id().is_some() && !is_asset(request.uri().path())).cloned();
    let response = next.run(request).await;
    if let Some(session) = session {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        // Loads the session if the handler did not (it usually has: a page reads who is signed in).
        match session.get::<i64>(SEEN_KEY).await {
            Ok(seen) if seen.is_some_and(|t| now - t < i64::try_from(interval.as_secs()).unwrap_or(i64::MAX)) => {}
            // Never revive a session the handler emptied (sign-out) or that does not exist.
            Ok(_) if session.is_empty().await => {}
            Ok(_) => {
                if let Err(e) = session.insert(SEEN_KEY, now).await {
                    tracing::warn!(error = %e, "session expiry not refreshed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "session unreadable; expiry not refreshed"),
        }
    }
    response
}

/// `Cache-Control: private, no-store` on every personalized response (see the module docs).
/// The built bundle and the public assets keep their own headers.
pub async fn private_responses(request: Request, next: Next) -> Response {
    let had_session = request.extensions().get::<Session>().and_then(Session::id).is_some();
    let asset = is_asset(request.uri().path());
    let mut response = next.run(request).await;
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let sets_cookie = response.headers().contains_key(header::SET_COOKIE);
    if !asset && (had_session || sets_cookie || html) {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_bundle_and_public_files_are_assets_and_pages_and_functions_are_not() {
        for asset in ["/pkg/onecity.wasm", "/pkg/onecity.js", "/pkg/onecity.css", "/favicon.svg", "/city.geojson"] {
            assert!(super::is_asset(asset), "{asset}");
        }
        for personal in ["/", "/permissions", "/api/me", "/auth/callback", "/pkgs", "/ledger/bundle/1"] {
            assert!(!super::is_asset(personal), "{personal}");
        }
    }
}
