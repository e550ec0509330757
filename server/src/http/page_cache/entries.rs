//! What the cache keeps: the LRU map under a byte budget, and each entry (the page cut at its
//! nonce, what it depends on, the verdicts it showed).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64};

use app::i18n::Locale;
use app::serverfns::city::ssr::{Checks, RenderedFor as Owner};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use hashlink::LinkedHashMap;
use time::OffsetDateTime;

#[derive(Default)]
pub(super) struct Entries {
    /// Least recently used first.
    pub(super) map: LinkedHashMap<Key, Arc<Entry>>,
    pub(super) bytes: usize,
}

impl Entries {
    /// Keeps `entry` as the most recently used, then drops the least recently used ones until
    /// all fit in `budget` bytes. An entry larger than the budget is not kept.
    pub(super) fn insert(&mut self, key: Key, entry: Entry, budget: usize) {
        if entry.size > budget {
            return;
        }
        self.bytes += entry.size;
        if let Some(old) = self.map.insert(key, Arc::new(entry)) {
            self.bytes -= old.size;
        }
        while self.bytes > budget {
            let Some((_, old)) = self.map.pop_front() else { break };
            self.bytes -= old.size;
        }
    }
}

/// One rendering per session (or none, for the public city) and language.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) session: Option<String>,
    pub(super) locale: Locale,
}

/// What one query reads: the fingerprint, and the newest cosigned checkpoint.
#[derive(sqlx::FromRow)]
pub(super) struct Freshness {
    #[sqlx(flatten)]
    pub(super) fingerprint: Fingerprint,
    pub(super) checkpoint: i64,
}

/// Everything the page depends on but the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub(super) struct Fingerprint {
    /// SHA-256 of the session row's data while it is live; `None` for the public page.
    pub(super) session: Option<Vec<u8>>,
    pub(super) city: i64,
    pub(super) data_version: Option<i64>,
    pub(super) resident_at: Option<OffsetDateTime>,
    pub(super) account_at: Option<OffsetDateTime>,
    /// SHA-256 over every grant row of the resident with its revocation and the leaf indexes
    /// of their ledger entries, in id order.
    pub(super) grants: Option<Vec<u8>>,
    /// The next start or end of one of the resident's grants.
    pub(super) next_grant_change: Option<OffsetDateTime>,
}

pub(super) struct Entry {
    pub(super) owner: Owner,
    pub(super) fingerprint: Fingerprint,
    /// The newest cosigned checkpoint its cards' verdicts are known to hold at.
    pub(super) checkpoint: AtomicI64,
    /// The cards' verdicts as the page shows them (`None`: the page showed no My City).
    pub(super) checks: Option<Checks>,
    /// Held while the cards are checked again: the views that arrive meanwhile (with 64
    /// connections, dozens) wait for that one check instead of each running their own.
    pub(super) recheck: tokio::sync::Mutex<()>,
    /// A check at a newer checkpoint gave other verdicts: never reuse.
    pub(super) stale: AtomicBool,
    pub(super) valid_until: OffsetDateTime,
    pub(super) headers: HeaderMap,
    /// The Content-Security-Policy and the body, cut where the nonce was.
    pub(super) csp: Vec<String>,
    pub(super) body: Vec<Bytes>,
    pub(super) size: usize,
}

impl Entry {
    pub(super) fn respond(&self) -> Response {
        let nonce = leptos::nonce::Nonce::new().to_string();
        let mut body = Vec::with_capacity(self.size);
        for (i, piece) in self.body.iter().enumerate() {
            if i > 0 {
                body.extend_from_slice(nonce.as_bytes());
            }
            body.extend_from_slice(piece);
        }
        let mut response = Response::new(Body::from(body));
        *response.headers_mut() = self.headers.clone();
        if let Ok(csp) = HeaderValue::from_str(&self.csp.join(&nonce)) {
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        response
    }
}

/// `bytes` cut at every occurrence of `separator` (which is not kept).
pub(super) fn split(bytes: &Bytes, separator: &[u8]) -> Vec<Bytes> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + separator.len() <= bytes.len() {
        if &bytes[i..i + separator.len()] == separator {
            pieces.push(bytes.slice(start..i));
            i += separator.len();
            start = i;
        } else {
            i += 1;
        }
    }
    pieces.push(bytes.slice(start..));
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_cut_at_every_nonce_and_joins_back_whole() {
        let page =
            Bytes::from_static(b"<script nonce=\"N0NCE\">a</script><p>N0NC</p><script nonce=\"N0NCE\"></script>");
        let pieces = split(&page, b"N0NCE");
        assert_eq!(pieces.len(), 3);
        let joined: Vec<u8> = pieces.join(&b"N0NCE"[..]);
        assert_eq!(joined, page.to_vec());
        assert_eq!(split(&Bytes::from_static(b"no nonce"), b"N0NCE").len(), 1);
    }

    fn page(size: usize) -> Entry {
        Entry {
            owner: Owner::Public,
            fingerprint: Fingerprint {
                session: None,
                city: 1,
                data_version: None,
                resident_at: None,
                account_at: None,
                grants: None,
                next_grant_change: None,
            },
            checkpoint: AtomicI64::new(0),
            checks: None,
            recheck: tokio::sync::Mutex::new(()),
            stale: AtomicBool::new(false),
            valid_until: OffsetDateTime::now_utc(),
            headers: HeaderMap::new(),
            csp: Vec::new(),
            body: Vec::new(),
            size,
        }
    }

    #[test]
    fn the_least_recently_used_pages_go_first_when_the_budget_is_full() {
        let key = |s: &str| Key { session: Some(s.to_owned()), locale: Locale::En };
        let mut entries = Entries::default();
        entries.insert(key("a"), page(40), 100);
        entries.insert(key("b"), page(40), 100);
        entries.map.to_back(&key("a"));
        entries.insert(key("c"), page(40), 100);
        assert!(entries.map.contains_key(&key("a")) && entries.map.contains_key(&key("c")));
        assert!(!entries.map.contains_key(&key("b")), "b was used least recently");
        assert_eq!(entries.bytes, 80);
        // Replacing a page counts its new size only; one over the budget is not kept.
        entries.insert(key("a"), page(10), 100);
        assert_eq!(entries.bytes, 50);
        entries.insert(key("d"), page(101), 100);
        assert!(!entries.map.contains_key(&key("d")));
        assert_eq!((entries.map.len(), entries.bytes), (2, 50));
    }
}
