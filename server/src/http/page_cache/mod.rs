//! The home page (a resident's My City, or the public city) kept rendered in memory and
//! served again while nothing it shows has changed.
//!
//! Rendering My City costs about 8 database round trips (the gate's checks among them) and
//! 45 KB of server-rendered HTML; a reload that would produce the same bytes costs one round
//! trip here. Reuse is exact, not timed: before each reuse one query re-reads everything the
//! page depends on, and any difference renders afresh (docs/scale.md):
//!
//! * the session: its row must still be live and hold the same data (a sign-out or an expiry
//!   is seen at once);
//! * the resident's and the account's rows (`updated_at`), and `resident.data_version`, which
//!   triggers move on any write to the resident's records (migration 0012);
//! * every grant row of the resident and its revocation, hashed in the query: the rows are
//!   re-read on every view, as the gate re-reads them on every query, so a row edited behind
//!   the server's back makes the page render again and the gate raise its alarm;
//! * the newest cosigned checkpoint: a card's verification is reused only within one
//!   checkpoint, as DESIGN allows for the gate's verification results. When a newer one is
//!   cosigned (with agencies reading, that is every few seconds), the cards' checks run again
//!   against it (the gate's steps 1–4, without reading the cards' data or rendering) and the
//!   page is reused only if every verdict is the same as on the page;
//! * the city's version (districts, facilities, notices, scopes, services; migration 0011).
//!
//! What changes with time alone bounds an entry's life: the next start or end of one of the
//! resident's grants or of a notice, the next month (this month's trips) and the next midnight
//! (the day-aligned windows of readings and records, age predicates).
//!
//! Each reuse gets a fresh CSP nonce: the page is stored cut at the nonce it was rendered
//! with. A response that sets a cookie or is not a plain 200 is never stored.
//!
//! Whose page it is comes from the session layer, never from a reading of the cookies of this
//! module's own: the cache runs inside the session layer and keys on the session id that layer
//! resolved. A page is kept only when the app reports that it rendered the city of exactly the
//! owner the key stands for (the public city for no session, this session's resident
//! otherwise), and never when the request's cookies could be read two ways (a session cookie
//! twice, a percent-encoded or non-ASCII cookie header): a browser that sends a session must
//! never have its page kept where a browser without one would be served it.
//!
//! Written here because the entry's validity is this application's own (a query against its
//! tables), not a time-to-live a caching crate could apply; the LRU order and byte budget sit
//! on `hashlink`'s linked hash map.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use app::serverfns::city::ssr::{RenderedChecks, RenderedFor as Owner};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime, Time, UtcOffset};

use crate::portal::city::CityService;

mod cookies;
mod entries;

use self::cookies::cookies_unambiguous;
use self::entries::{Entries, Entry, Fingerprint, Freshness, Key, split};

/// A page larger than this is served but not kept.
const MAX_PAGE_BYTES: usize = 1 << 20;

pub struct PageCache {
    db: PgPool,
    city: Arc<CityService>,
    budget: usize,
    /// The session cookie's name, as the session layer sets it.
    cookie: &'static str,
    /// A session whose stored expiry is nearer than this is due for the idle-timeout refresh
    /// (`crate::http::session`), which the rendering path does: such a view is never a reuse.
    refresh_margin: std::time::Duration,
    entries: Mutex<Entries>,
    reused: AtomicU64,
    rechecked: AtomicU64,
    rendered: AtomicU64,
}

/// How the cache has served so far, for operators and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Views served from a kept page, everything unchanged.
    pub reused: u64,
    /// Checks of a kept page's cards run again at a newer checkpoint (one per page and
    /// checkpoint, however many views were waiting for it).
    pub rechecked: u64,
    /// Views rendered (and kept when they could be).
    pub rendered: u64,
    /// Pages kept now, and their bytes.
    pub pages: usize,
    pub bytes: usize,
}

impl PageCache {
    /// `budget_bytes` of 0 turns the cache off.
    #[must_use]
    pub fn new(
        db: PgPool,
        city: Arc<CityService>,
        budget_bytes: usize,
        cookie: &'static str,
        refresh_margin: std::time::Duration,
    ) -> Self {
        Self {
            db,
            city,
            budget: budget_bytes,
            cookie,
            refresh_margin,
            entries: Mutex::new(Entries::default()),
            reused: AtomicU64::new(0),
            rechecked: AtomicU64::new(0),
            rendered: AtomicU64::new(0),
        }
    }

    #[must_use]
    pub fn stats(&self) -> Stats {
        let entries = self.entries.lock().expect("page cache");
        Stats {
            reused: self.reused.load(Ordering::Relaxed),
            rechecked: self.rechecked.load(Ordering::Relaxed),
            rendered: self.rendered.load(Ordering::Relaxed),
            pages: entries.map.len(),
            bytes: entries.bytes,
        }
    }

    /// The stored page for `key` if everything it shows is unchanged, with a fresh nonce.
    async fn reuse(&self, key: &Key) -> anyhow::Result<Option<Response>> {
        let entry = {
            let mut entries = self.entries.lock().expect("page cache");
            let Some(entry) = entries.map.to_back(key).cloned() else { return Ok(None) };
            entry
        };
        if OffsetDateTime::now_utc() >= entry.valid_until {
            return Ok(None);
        }
        let now = self.freshness(entry.owner, key.session.as_deref()).await?;
        if now.fingerprint != entry.fingerprint {
            return Ok(None);
        }
        if let Owner::Resident(resident) = entry.owner
            && now.checkpoint > entry.checkpoint.load(Ordering::Acquire)
        {
            let Some(shown) = &entry.checks else { return Ok(None) };
            let _one_at_a_time = entry.recheck.lock().await;
            if now.checkpoint > entry.checkpoint.load(Ordering::Acquire) && !entry.stale.load(Ordering::Acquire) {
                if self.city.card_checks(resident).await? != *shown {
                    entry.stale.store(true, Ordering::Release);
                    return Ok(None);
                }
                entry.checkpoint.fetch_max(now.checkpoint, Ordering::AcqRel);
                self.rechecked.fetch_add(1, Ordering::Relaxed);
            }
        }
        if entry.stale.load(Ordering::Acquire) {
            return Ok(None);
        }
        self.reused.fetch_add(1, Ordering::Relaxed);
        Ok(Some(entry.respond()))
    }

    /// Whose page a request for `session` renders: `None` when it is not one to keep (a
    /// session that is gone or expired, staff without a resident record).
    async fn owner(&self, session: Option<&str>) -> Result<Option<(Owner, Option<Vec<u8>>)>, anyhow::Error> {
        let Some(session) = session else { return Ok(Some((Owner::Public, None))) };
        // tower-sessions-sqlx-store's own table and encoding: created by the store at startup,
        // not by our migrations, hence a query the macros do not check.
        let data: Option<(Vec<u8>,)> =
            sqlx::query_as("select data from tower_sessions.session where id = $1 and expiry_date > now()")
                .bind(session)
                .fetch_optional(&self.db)
                .await?;
        let Some((data,)) = data else { return Ok(None) };
        let record: tower_sessions::session::Record = rmp_serde::from_slice(&data)?;
        let user = record
            .data
            .get(app::session::SESSION_USER_KEY)
            .map(|v| serde_json::from_value::<app::session::SessionUser>(v.clone()))
            .transpose()?;
        Ok(user.and_then(|u| u.resident_id).map(|r| (Owner::Resident(r), Some(Sha256::digest(&data).to_vec()))))
    }

    async fn freshness(&self, owner: Owner, session: Option<&str>) -> Result<Freshness, sqlx::Error> {
        let resident = match owner {
            Owner::Public => None,
            Owner::Resident(r) => Some(r),
        };
        // Unchecked for the same reason as in `owner`: the session table is the store's.
        sqlx::query_as(
            r#"
            select (select sha256(s.data) from tower_sessions.session s
                    where $1::text is not null and s.id = $1 and s.expiry_date > now() + $3::interval) as session,
                   (select version from city_version) as city,
                   (select coalesce(max(tree_size), 0) from ledger_checkpoint where quorum_at is not null) as checkpoint,
                   r.data_version, r.updated_at as resident_at, a.updated_at as account_at,
                   (select sha256(convert_to(coalesce(string_agg(
                                concat_ws(',', g::text, coalesce(v::text, '-'), coalesce(gi.leaf_index::text, '-'),
                                          coalesce(vi.leaf_index::text, '-')),
                                '|' order by g.data_grant_id), ''), 'UTF8'))
                    from data_grant g
                             join ledger_entry gi on gi.ledger_entry_id = g.issued_entry_id
                             left join grant_revocation v on v.data_grant_id = g.data_grant_id
                             left join ledger_entry vi on vi.ledger_entry_id = v.ledger_entry_id
                    where g.resident_id = r.resident_id) as grants,
                   (select min(t) from data_grant g, unnest(array [g.valid_from, g.valid_until]) t
                    where g.resident_id = r.resident_id and t > now()) as next_grant_change
            from (select 1) as one
                     left join resident r on r.resident_id = $2
                     left join account a on a.account_id = r.account_id
            "#,
        )
        .bind(session)
        .bind(resident)
        .bind(self.refresh_margin)
        .fetch_one(&self.db)
        .await
    }

    /// Keeps `response` if it is a plain page, and returns it (rebuilt from the bytes read).
    async fn keep(
        &self,
        key: Key,
        owner: Owner,
        freshness: Freshness,
        checks: RenderedChecks,
        response: Response,
    ) -> Response {
        let nonce = response
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .and_then(|csp| csp.split("'nonce-").nth(1))
            .and_then(|rest| rest.split('\'').next())
            .filter(|n| n.len() >= 16)
            .map(str::to_owned);
        let plain = response.status() == StatusCode::OK
            && !response.headers().contains_key(header::SET_COOKIE)
            && response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/html"));
        let Some(nonce) = nonce.filter(|_| plain) else { return response };
        let (parts, body) = response.into_parts();
        let bytes = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "the page could not be read whole");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        // Whose city the page showed is known once the whole page is (the resources resolve
        // while the body streams). Rendered for another than the key stands for, or for two:
        // served, never kept.
        let rendered_for = checks.owner();
        if rendered_for != Some(owner) {
            tracing::warn!(expected = ?owner, rendered = ?rendered_for, "page cache: the page is not the key's; not kept");
        } else if bytes.len() <= MAX_PAGE_BYTES {
            let Freshness { fingerprint, checkpoint } = freshness;
            let valid_until = self.valid_until(&fingerprint).await;
            let csp = parts.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap_or_default();
            let mut headers = parts.headers.clone();
            headers.remove(header::CONTENT_LENGTH);
            let entry = Entry {
                owner,
                valid_until,
                headers,
                csp: csp.split(nonce.as_str()).map(str::to_owned).collect(),
                body: split(&bytes, nonce.as_bytes()),
                size: bytes.len() + csp.len() + 256,
                fingerprint,
                checkpoint: AtomicI64::new(checkpoint),
                // Read once the whole page is: the resources resolve while the body streams.
                checks: checks.get(),
                recheck: tokio::sync::Mutex::new(()),
                stale: AtomicBool::new(false),
            };
            self.insert(key, entry);
        }
        Response::from_parts(parts, Body::from(bytes))
    }

    /// When time alone changes what the page shows.
    async fn valid_until(&self, fingerprint: &Fingerprint) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        let notices = match self.city.next_notice_change(fingerprint.city, now).await {
            Ok(t) => t,
            // Cannot tell: do not keep.
            Err(_) => Some(now),
        };
        [
            Some(next_midnight(now, UtcOffset::UTC)),
            Some(next_midnight(now, crate::portal::city::city_offset())),
            Some(crate::portal::city::next_month(now)),
            notices,
            fingerprint.next_grant_change,
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now)
    }

    fn insert(&self, key: Key, entry: Entry) {
        self.entries.lock().expect("page cache").insert(key, entry, self.budget);
    }
}

fn next_midnight(now: OffsetDateTime, offset: UtcOffset) -> OffsetDateTime {
    let local = now.to_offset(offset);
    (local.replace_time(Time::MIDNIGHT) + Duration::days(1)).to_offset(UtcOffset::UTC)
}

/// Logs the cache's figures every `interval` while they change, for operators.
pub async fn report(cache: Arc<PageCache>, interval: std::time::Duration) {
    let mut last = Stats::default();
    loop {
        tokio::time::sleep(interval).await;
        let now = cache.stats();
        if now != last {
            tracing::info!(
                reused = now.reused - last.reused,
                rechecked = now.rechecked - last.rechecked,
                rendered = now.rendered - last.rendered,
                pages = now.pages,
                bytes = now.bytes,
                "home pages since the last report"
            );
            last = now;
        }
    }
}

/// The middleware: serves `GET /` from the cache when it can, and keeps what it renders.
pub async fn layer(State(cache): State<Arc<PageCache>>, request: Request, next: Next) -> Response {
    if cache.budget == 0
        || request.method() != Method::GET
        || request.uri().path() != "/"
        || request.uri().query().is_some()
    {
        return next.run(request).await;
    }
    // The session layer's reading of the cookies is the one that counts.
    let Some(session) = request.extensions().get::<tower_sessions::Session>() else {
        return next.run(request).await;
    };
    let session = session.id().map(|id| id.to_string());
    if !cookies_unambiguous(request.headers(), cache.cookie, session.as_deref()) {
        return next.run(request).await;
    }
    let key = Key { session, locale: app::i18n::from_request(request.headers()) };
    match cache.reuse(&key).await {
        Ok(Some(response)) => return response,
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "page cache: freshness check failed; rendering");
            return next.run(request).await;
        }
    }
    // Read whose page it is and everything it depends on before rendering: a change that
    // commits during the rendering then shows as a difference at the next view.
    let owner = match cache.owner(key.session.as_deref()).await {
        Ok(Some(owner)) => owner,
        Ok(None) => return next.run(request).await,
        Err(e) => {
            tracing::warn!(error = %e, "page cache: session unreadable; rendering");
            return next.run(request).await;
        }
    };
    let (owner, digest) = owner;
    let freshness = match cache.freshness(owner, key.session.as_deref()).await {
        // The session read above, unchanged since: the page rendered next is this owner's.
        Ok(f) if f.fingerprint.session == digest => f,
        _ => return next.run(request).await,
    };
    cache.rendered.fetch_add(1, Ordering::Relaxed);
    let checks = RenderedChecks::default();
    let mut request = request;
    request.extensions_mut().insert(checks.clone());
    let response = next.run(request).await;
    cache.keep(key, owner, freshness, checks, response).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midnight_is_the_next_one_in_the_given_zone() {
        let now = time::macros::datetime!(2026-11-25 17:30 UTC);
        assert_eq!(next_midnight(now, UtcOffset::UTC), time::macros::datetime!(2026-11-26 0:00 UTC));
        let eight = UtcOffset::from_hms(8, 0, 0).unwrap();
        // 01:30 on the 26th in UTC+8: the next midnight there is 16:00 UTC on the 26th.
        assert_eq!(next_midnight(now, eight), time::macros::datetime!(2026-11-26 16:00 UTC));
    }
}
