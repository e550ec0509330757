//! Rate limits on the portal's costly endpoints, so that nobody (signed in or not) can make the
//! server do unbounded work: every server function call (a few queries each, some through the
//! gate's checks), every sign-in start (a session row written before the provider is even
//! asked) and every proof bundle (map and inclusion proofs read from the database, a quorum of
//! signatures checked) counts against a per-minute budget.
//!
//! Device readings (`POST /api/v1/devices/<id>/readings`) carry no token: the device's
//! signature is what authenticates them, and checking it is the cost. They are counted per
//! client address and per device, so one address cannot flood, nor can many addresses flood
//! one device. A hub that posts for many devices from one address sends each device's readings
//! in batches (up to 500 a request) well inside the budget.
//!
//! Server functions are counted per session, so that the people behind one address (a family,
//! an office behind NAT) do not share one budget once signed in; everything else, and a server
//! function called without a session, per client address. The agency API has its own limit per
//! agency client (`api::ApiGuard`).
//!
//! The client address is the connection's peer, or, behind a trusted reverse proxy, the last
//! value of the header it is configured to write (`--client-ip-header`): the last, because a
//! client can put anything in the header but the proxy appends the address it saw.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub struct PortalLimits {
    limiter: DefaultKeyedRateLimiter<String>,
    client_ip_header: Option<HeaderName>,
}

/// What a request is counted as, if it is counted at all.
#[derive(Debug, PartialEq, Eq)]
enum Class {
    ServerFunction,
    SignIn,
    ProofBundle,
    /// Signed readings of the device named in the path.
    DeviceReadings(String),
}

fn class(method: &Method, path: &str) -> Option<Class> {
    if path.starts_with("/api/") && !path.starts_with("/api/v1/") {
        Some(Class::ServerFunction)
    } else if *method == Method::GET && (path == "/auth/login" || path == "/auth/callback") {
        Some(Class::SignIn)
    } else if path.starts_with("/ledger/bundle/")
        || path.starts_with("/me/records/")
        || path.starts_with("/me/devices/")
        || (path.starts_with("/devices/") && path.ends_with("/passport"))
    {
        Some(Class::ProofBundle)
    } else if *method == Method::POST
        && let Some(device) = path.strip_prefix("/api/v1/devices/").and_then(|p| p.strip_suffix("/readings"))
    {
        // One key per device however its id is spelled (hyphens, braces, case); an id that does
        // not parse is refused by the handler and counted against the address only.
        Some(Class::DeviceReadings(device.parse::<uuid::Uuid>().map(|u| u.to_string()).unwrap_or_default()))
    } else {
        None
    }
}

impl PortalLimits {
    /// `per_minute` requests per key and minute, in bursts of up to a tenth of that.
    #[must_use]
    pub fn new(per_minute: u32, client_ip_header: Option<HeaderName>) -> Self {
        let rate = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(per_minute / 10).unwrap_or(NonZeroU32::MIN);
        Self { limiter: RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)), client_ip_header }
    }

    /// The client's address as this deployment can know it.
    fn client(&self, request: &Request) -> String {
        if let Some(name) = &self.client_ip_header
            && let Some(last) = request
                .headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .rfind(|v| !v.is_empty())
        {
            return last.to_owned();
        }
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |ConnectInfo(addr)| addr.ip().to_string())
    }

    /// Forgets keys whose budget is full again, so memory follows the active clients.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// The middleware; runs inside the session layer, so a request's session is known.
pub async fn layer(State(limits): State<Arc<PortalLimits>>, request: Request, next: Next) -> Response {
    let Some(class) = class(request.method(), request.uri().path()) else { return next.run(request).await };
    let session = request.extensions().get::<tower_sessions::Session>().and_then(tower_sessions::Session::id);
    let key = match (&class, session) {
        (Class::ServerFunction, Some(id)) => format!("session:{id}"),
        _ => format!("addr:{}", limits.client(&request)),
    };
    let mut verdict = limits.limiter.check_key(&key);
    if let (Ok(()), Class::DeviceReadings(device)) = (&verdict, &class)
        && !device.is_empty()
    {
        verdict = limits.limiter.check_key(&format!("device:{device}"));
    }
    if let Err(not_until) = verdict {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(&governor::clock::DefaultClock::default()));
        let secs = wait.as_secs().max(1);
        tracing::info!(?class, path = %request.uri().path(), "rate limited");
        let mut response =
            (StatusCode::TOO_MANY_REQUESTS, format!("too many requests; try again in {secs} s")).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return response;
    }
    next.run(request).await
}

/// Forgets idle clients every `interval`.
pub async fn housekeeping(limits: Arc<PortalLimits>, interval: std::time::Duration) {
    loop {
        tokio::time::sleep(interval).await;
        limits.forget_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_functions_sign_in_and_bundles_are_counted_and_the_agency_api_is_not() {
        assert_eq!(class(&Method::POST, "/api/me/city"), Some(Class::ServerFunction));
        assert_eq!(class(&Method::GET, "/auth/login"), Some(Class::SignIn));
        assert_eq!(class(&Method::GET, "/ledger/bundle/7"), Some(Class::ProofBundle));
        assert_eq!(class(&Method::GET, "/me/records/0f0e/2/proof"), Some(Class::ProofBundle));
        assert_eq!(class(&Method::GET, "/me/devices/0f0e/readings/7/proof"), Some(Class::ProofBundle));
        let device = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        for spelled in [device, "67E5504410B1426F9247BB680E5FE0C8", "{67e55044-10b1-426f-9247-bb680e5fe0c8}"] {
            let path = format!("/api/v1/devices/{spelled}/readings");
            assert_eq!(class(&Method::POST, &path), Some(Class::DeviceReadings(device.into())), "{spelled}");
        }
        assert_eq!(class(&Method::POST, "/api/v1/devices/x/readings"), Some(Class::DeviceReadings(String::new())));
        assert_eq!(class(&Method::GET, "/api/v1/devices/0f0e/readings"), None);
        assert_eq!(class(&Method::GET, "/api/v1/services"), None);
        assert_eq!(class(&Method::GET, "/"), None);
        assert_eq!(class(&Method::GET, "/ledger/checkpoint"), None);
    }

    #[test]
    fn behind_a_proxy_the_last_forwarded_address_is_the_client() {
        let limits = PortalLimits::new(60, Some(HeaderName::from_static("x-forwarded-for")));
        let request = Request::builder()
            .header("x-forwarded-for", "6.6.6.6, 10.0.0.1")
            .header("x-forwarded-for", "203.0.113.9")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(limits.client(&request), "203.0.113.9");
        let direct = PortalLimits::new(60, None);
        assert_eq!(direct.client(&request), "unknown", "the header is not trusted unless configured");
    }
}
