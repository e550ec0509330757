//! The resident's confirmation records (property titles, bank accounts, call records) with
//! their seals on the city ledger, the erasure of a record, and the public check of a seal
//! someone was shown.
//!
//! The proof and the content of a version download from `/me/records/{id}/{version}/proof`
//! and `/me/records/{id}/{version}/content` (the signed-in resident's own records only); the
//! page's badge checks the proof in the browser against the content the page shows.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::error::AppError;

/// One version of a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordVersionView {
    pub version: i32,
    /// The content as canonical JSON (keys sorted, no spaces): exactly what was sealed.
    pub content: String,
    /// RFC 3339.
    pub recorded_at: String,
    /// When the next version replaced it (RFC 3339); `None` for the current version.
    pub superseded_at: Option<String>,
    /// Sealed in a batch whose entry is in a quorum-cosigned checkpoint: a proof can be made.
    pub provable: bool,
    /// When its batch was sealed (RFC 3339), once it is.
    pub sealed_at: Option<String>,
}

/// A record with every version, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordView {
    pub record_id: Uuid,
    pub scope: String,
    pub versions: Vec<RecordVersionView>,
}

/// A record the resident (or an operator) erased: no content is left, only the fact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasedView {
    pub record_id: Uuid,
    pub scope: String,
    pub versions: i32,
    pub sealed_versions: i32,
    /// `resident` or `operator:<who>`.
    pub requested_by: String,
    /// RFC 3339, whole seconds (as the purge receipt holds it).
    pub erased_at: String,
    /// Index of the `records.erased` entry once sequenced.
    pub leaf_index: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordsView {
    pub records: Vec<RecordView>,
    pub erased: Vec<ErasedView>,
}

/// What a seal check found (the public verify page).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealCheck {
    pub record_id: Uuid,
    pub version: u32,
    pub scope: String,
    /// RFC 3339.
    pub recorded_at: String,
    /// The batch's sealing time (RFC 3339): the content existed, exactly so, by then.
    pub sealed_by: String,
    pub checkpoint_size: u64,
    pub cosigners: Vec<String>,
    /// Whether a content was given and matched.
    pub content_checked: bool,
    /// `chain id / transaction` when the checkpoint was anchored.
    pub anchor: Option<String>,
}

impl SealCheck {
    /// The check as a query string, for the answer to a form posted without JavaScript.
    /// Every value is made of characters a query needs no escaping for (digits, hex, ids, key
    /// names, RFC 3339 times in UTC); anything else is left out rather than escaped.
    #[must_use]
    pub fn to_query(&self) -> String {
        fn safe(v: &str) -> bool {
            !v.is_empty() && v.len() <= 200 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
        }
        let cosigners: Vec<&str> = self.cosigners.iter().map(String::as_str).filter(|c| safe(c)).collect();
        let mut parts = vec![
            format!("record={}", self.record_id),
            format!("version={}", self.version),
            format!("size={}", self.checkpoint_size),
            format!("content={}", u8::from(self.content_checked)),
            format!("cosigners={}", cosigners.join(",")),
        ];
        for (k, v) in [("scope", &self.scope), ("recorded", &self.recorded_at), ("sealed", &self.sealed_by)] {
            if safe(v) {
                parts.push(format!("{k}={v}"));
            }
        }
        if let Some((chain, tx)) = self.anchor.as_deref().and_then(|a| a.split_once(" / "))
            && safe(chain)
            && safe(tx)
        {
            parts.push(format!("chain={chain}&tx={tx}"));
        }
        parts.join("&")
    }

    /// The inverse of [`Self::to_query`]; `None` unless the page's address holds a check.
    #[must_use]
    pub fn from_query(get: &dyn Fn(&str) -> Option<String>) -> Option<Self> {
        Some(Self {
            record_id: get("record")?.parse().ok()?,
            version: get("version")?.parse().ok()?,
            scope: get("scope").unwrap_or_default(),
            recorded_at: get("recorded").unwrap_or_default(),
            sealed_by: get("sealed")?,
            checkpoint_size: get("size")?.parse().ok()?,
            cosigners: get("cosigners")?.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect(),
            content_checked: get("content").as_deref() == Some("1"),
            anchor: get("chain").zip(get("tx")).map(|(c, t)| format!("{c} / {t}")),
        })
    }
}

/// The signed-in resident's records and erasures.
#[server(endpoint = "me/records")]
pub async fn my_records() -> Result<RecordsView, AppError> {
    let r = crate::serverfns::resident::ssr::resident().await?;
    ssr::records()?.records(r).await
}

/// Erases one of the signed-in resident's records: its content and salts are deleted, the
/// seal stays on the ledger proving nothing, and a purge receipt records the erasure.
/// `confirm` must be `erase` (the form's confirmation box).
#[server(endpoint = "me/records/erase")]
pub async fn erase_record(record_id: Uuid, confirm: Option<String>) -> Result<ErasedView, AppError> {
    let r = crate::serverfns::resident::ssr::resident().await?;
    if confirm.as_deref() != Some("erase") {
        return Err(ssr::fail(AppError::Invalid {
            field: "confirm".into(),
            problem: "tick the box to confirm that the record's content is to be deleted for good".into(),
        }));
    }
    let erased = ssr::records()?.erase(r, record_id).await?;
    leptos_axum::redirect("/records#erased");
    Ok(erased)
}

/// Checks a seal (a proof bundle of a record) and, when given, the record's content against
/// the city ledger's published keys: the same check as `onecity verify --content`. Public:
/// anyone shown a proof can check it here without signing in.
#[server(endpoint = "verify/seal")]
pub async fn check_seal(proof: String, content: Option<String>) -> Result<SealCheck, AppError> {
    let check = ssr::records()?.check(proof, content.filter(|c| !c.trim().is_empty())).await?;
    if crate::error::ssr::plain_form_post() {
        leptos_axum::redirect(&format!("/verify?{}", check.to_query()));
    }
    Ok(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_survives_the_round_trip_through_the_address_and_unsafe_values_are_dropped() {
        let c = SealCheck {
            record_id: Uuid::from_u128(7),
            version: 2,
            scope: "property.titles".into(),
            recorded_at: "2026-12-02T10:00:00Z".into(),
            sealed_by: "2026-12-02T10:00:10Z".into(),
            checkpoint_size: 41,
            cosigners: vec!["witness.court.onecity.example".into(), "bad name&x=1".into()],
            content_checked: true,
            anchor: Some("31337 / 0xabc123".into()),
        };
        let q = c.to_query();
        assert!(!q.contains(' ') && !q.contains("x=1"), "{q}");
        let pairs: Vec<(String, String)> =
            q.split('&').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        let back = SealCheck::from_query(&get).unwrap();
        assert_eq!(back, SealCheck { cosigners: vec!["witness.court.onecity.example".into()], ..c });
        assert!(SealCheck::from_query(&|_| None).is_none());
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use std::sync::Arc;

    use uuid::Uuid;

    pub use crate::error::ssr::fail;

    use super::{AppError, ErasedView, RecordsView, SealCheck};

    /// What the server crate provides for records, as `Arc<dyn Records>` in context.
    #[async_trait::async_trait]
    pub trait Records: Send + Sync {
        async fn records(&self, resident: Uuid) -> Result<RecordsView, AppError>;
        async fn erase(&self, resident: Uuid, record: Uuid) -> Result<ErasedView, AppError>;
        async fn check(&self, proof: String, content: Option<String>) -> Result<SealCheck, AppError>;
    }

    /// # Errors
    /// [`AppError::Internal`] when missing from the context.
    pub fn records() -> Result<Arc<dyn Records>, AppError> {
        crate::error::ssr::provided()
    }
}
