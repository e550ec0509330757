//! Proof checks in the browser: the same `chain::verify_bundle` the `onecity verify` command
//! and the gate run, compiled to WebAssembly.
//!
//! Which keys are trusted: a build may pin them (`ONECITY_PINNED_KEYS` at WebAssembly build
//! time, the `/ledger/keys` text); otherwise the browser trusts the keys it saw the first
//! time and keeps them in local storage, like SSH's known hosts. A later, different set is
//! refused until the person compares them on the Transparency page (docs/threat-model.md).

use uuid::Uuid;

use crate::i18n::Locale;
use crate::serverfns::resident::{GrantView, ReceiptView};

/// What a proof should show for the badge to be green: the entry's type and every field the
/// page shows beside the badge, which the verified entry must hold too (a row edited in the
/// database keeps a valid proof of its index, but no longer matches it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A `grant.issued` entry: the badge also reports the grant's status in the ledger.
    Grant { grant_id: Uuid, scopes: Vec<String>, purpose: String, valid_from: String, valid_until: String },
    /// An `access.receipt` entry.
    Receipt { grant_id: Uuid, reader: String, scopes: Vec<String>, purpose: String, read_at: String },
    /// A `records.erased` entry (a purge receipt).
    Erasure { requested_by: String, erased_at: String, sealed_versions: usize },
}

impl Expect {
    #[must_use]
    pub fn grant(g: &GrantView) -> Self {
        Self::Grant {
            grant_id: g.grant_id,
            scopes: g.scopes.clone(),
            purpose: g.purpose.clone(),
            valid_from: g.valid_from.clone(),
            valid_until: g.valid_until.clone(),
        }
    }

    #[must_use]
    pub fn receipt(r: &ReceiptView) -> Self {
        Self::Receipt {
            grant_id: r.grant_id,
            reader: r.reader.clone(),
            scopes: r.scopes.clone(),
            purpose: r.purpose.clone(),
            read_at: r.read_at.clone(),
        }
    }
}

/// What a successful check established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub entry_type: String,
    pub checkpoint_size: u64,
    pub cosigners: usize,
    /// For grants: `active`, `expired`, `revoked` or `absent`.
    pub grant_status: Option<&'static str>,
    /// For receipts (leaf format 2): whether the proof shows the grant active when the read
    /// happened, in the checkpoint of this size the gate verified against.
    pub at_read: Option<(bool, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// No quorum checkpoint covers the entry yet.
    NotCosigned,
    /// The ledger presented other keys than the ones this browser trusts.
    KeysChanged,
    /// The proof does not verify, or the entry is not what was expected.
    Failed(String),
    /// The bundle or the keys could not be fetched.
    Unavailable(String),
    /// The proof verifies, but the entry holds another value for this field than the page
    /// shows (a `chain::claim::Field` name): the row beside the badge is not what was logged.
    Differs(&'static str),
}

impl Checked {
    /// (CSS class, `data-verify` value, text).
    #[must_use]
    pub fn badge(&self, locale: Locale) -> (&'static str, &'static str, String) {
        let t = locale.messages();
        match (self.grant_status, self.at_read) {
            // The proof is sound and says the read was not covered: the worst finding there is.
            (_, Some((false, _))) => ("failed", "not-active-at-read", t.badge_not_active_at_read.to_owned()),
            (_, Some((true, at))) => (
                "verified",
                "verified",
                format!("{} · {}", locale.verified_by(self.cosigners, self.checkpoint_size), locale.active_at_read(at)),
            ),
            (Some("revoked"), None) => ("revoked", "verified-revoked", t.badge_status_revoked.to_owned()),
            (Some("expired"), None) => ("revoked", "verified-expired", t.badge_status_expired.to_owned()),
            _ => ("verified", "verified", locale.verified_by(self.cosigners, self.checkpoint_size)),
        }
    }
}

impl CheckError {
    #[must_use]
    pub fn badge(&self, locale: Locale) -> (&'static str, &'static str, String) {
        let t = locale.messages();
        match self {
            Self::NotCosigned => ("pending", "pending", t.badge_not_cosigned.to_owned()),
            Self::KeysChanged => ("failed", "keys-changed", t.badge_keys_changed.to_owned()),
            Self::Failed(why) => ("failed", "failed", format!("{}: {why}", t.badge_failed)),
            Self::Unavailable(why) => ("unchecked", "unavailable", format!("{}: {why}", t.error_generic)),
            Self::Differs(field) => ("failed", "differs", locale.proof_differs(field)),
        }
    }
}

/// Checks the entry at `index` (see the module docs for the trusted keys).
///
/// # Errors
/// See [`CheckError`].
#[cfg(feature = "hydrate")]
pub async fn verify_entry(index: i64, expect: Expect) -> Result<Checked, CheckError> {
    let verdict = verified_entry(index).await?;
    let entry_type = verdict.event.type_name().to_owned();
    claim(&expect)?.check(&verdict.event).map_err(|field| CheckError::Differs(field.name()))?;
    let grant_status = verdict.status.as_ref().map(|s| match s.status {
        Some(chain::GrantStatus::Active { .. }) if s.active_now => "active",
        Some(chain::GrantStatus::Active { .. }) => "expired",
        Some(chain::GrantStatus::Revoked { .. }) => "revoked",
        None => "absent",
    });
    let at_read = verdict.at_read.as_ref().map(|a| (a.active_at_read, a.checkpoint.size));
    Ok(Checked {
        entry_type,
        checkpoint_size: verdict.checkpoint.size,
        cosigners: verdict.cosigners.len(),
        grant_status,
        at_read,
    })
}

/// The page's fields as the leaf holds them.
#[cfg(feature = "hydrate")]
fn claim(expect: &Expect) -> Result<chain::claim::Claim, CheckError> {
    use chain::claim::Claim;
    let unix = |rfc3339: &str| {
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .ok()
            .and_then(|t| u64::try_from(t.unix_timestamp()).ok())
            .ok_or_else(|| CheckError::Failed(format!("the page's time {rfc3339:?} is not RFC 3339")))
    };
    Ok(match expect {
        Expect::Grant { grant_id, scopes, purpose, valid_from, valid_until } => Claim::Grant {
            grant_id: chain::GrantId(*grant_id.as_bytes()),
            scopes: scopes.clone(),
            purpose: purpose.clone(),
            valid_from: unix(valid_from)?,
            valid_until: unix(valid_until)?,
        },
        Expect::Receipt { grant_id, reader, scopes, purpose, read_at } => Claim::Receipt {
            grant_id: chain::GrantId(*grant_id.as_bytes()),
            reader: reader.clone(),
            scopes: scopes.clone(),
            purpose: purpose.clone(),
            time: unix(read_at)?,
        },
        Expect::Erasure { requested_by, erased_at, sealed_versions } => Claim::Erasure {
            requested_by: requested_by.clone(),
            erased_at: unix(erased_at)?,
            sealed_versions: *sealed_versions,
        },
    })
}

/// What the browser established about a record version's seal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealChecked {
    /// Unix seconds: the version existed with exactly the content shown by then.
    pub sealed_by: u64,
    pub cosigners: usize,
    pub checkpoint_size: u64,
    pub anchored: bool,
}

impl SealChecked {
    /// (CSS class, `data-verify` value, text).
    #[must_use]
    pub fn badge(&self, locale: Locale) -> (&'static str, &'static str, String) {
        ("verified", "verified", locale.sealed_on(self.sealed_by, self.cosigners, self.anchored))
    }
}

/// Checks the seal of a record version against `content`, the canonical JSON the page shows:
/// fetches the proof, verifies it (keys as for [`verify_entry`]), and checks that it is this
/// record's version and that the content hashes to what was sealed.
///
/// # Errors
/// See [`CheckError`]; a content that differs from the sealed one is [`CheckError::Failed`]
/// with the reason.
#[cfg(feature = "hydrate")]
pub async fn verify_seal(record: Uuid, version: i32, content: String) -> Result<SealChecked, CheckError> {
    let verdict = verified_bundle(&format!("/me/records/{record}/{version}/proof")).await?;
    let Some(sealed) = verdict.record else {
        return Err(CheckError::Failed("the proof is not a record's seal".into()));
    };
    if sealed.record.record_id != *record.as_bytes() || i64::from(sealed.record.version) != i64::from(version) {
        return Err(CheckError::Differs("record"));
    }
    let value: serde_json::Value =
        serde_json::from_str(&content).map_err(|e| CheckError::Failed(format!("the page's content: {e}")))?;
    chain::record::check_content(&sealed.record, &value).map_err(|e| CheckError::Failed(e.to_string()))?;
    Ok(SealChecked {
        sealed_by: sealed.sealed_by,
        cosigners: verdict.cosigners.len(),
        checkpoint_size: verdict.checkpoint.size,
        anchored: verdict.anchor.is_some(),
    })
}

/// What the browser established about a device's passport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassportChecked {
    /// The state in the cosigned status map: `active`, `suspended` or `retired`.
    pub state: &'static str,
    pub cosigners: usize,
    pub checkpoint_size: u64,
}

impl PassportChecked {
    /// (CSS class, `data-verify` value, text).
    #[must_use]
    pub fn badge(&self, locale: Locale) -> (&'static str, &'static str, String) {
        let by = locale.verified_by(self.cosigners, self.checkpoint_size);
        match self.state {
            "active" => ("verified", "verified", by),
            state => ("revoked", "verified-not-in-service", format!("{by} · {}", locale.device_state(state))),
        }
    }
}

/// The passport fields a page shows, compared with what the ledger holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassportShown {
    pub device_id: Uuid,
    pub kind: String,
    pub brand: String,
    pub model: String,
    pub public_key: String,
    pub state: String,
}

/// Checks a device's passport: fetches its bundle, verifies it (keys as for
/// [`verify_entry`]), and compares the registration and the cosigned state with what the page
/// shows, naming the first field that differs.
///
/// # Errors
/// See [`CheckError`].
#[cfg(feature = "hydrate")]
pub async fn verify_passport(shown: PassportShown) -> Result<PassportChecked, CheckError> {
    let verdict = verified_bundle(&format!("/devices/{}/passport?format=bundle", shown.device_id)).await?;
    let passport = verdict.passport.ok_or_else(|| CheckError::Failed("the proof is not a passport".into()))?;
    let p = &passport.passport;
    let checks = [
        (p.device_id.0 == *shown.device_id.as_bytes(), "device_id"),
        (p.kind == shown.kind, "kind"),
        (p.brand == shown.brand, "brand"),
        (p.model == shown.model, "model"),
        (p.public_key.iter().map(|b| format!("{b:02x}")).collect::<String>() == shown.public_key, "public_key"),
        (passport.status.state.name() == shown.state, "state"),
    ];
    if let Some((_, field)) = checks.iter().find(|(same, _)| !same) {
        return Err(CheckError::Differs(field));
    }
    Ok(PassportChecked {
        state: passport.status.state.name(),
        cosigners: verdict.cosigners.len(),
        checkpoint_size: verdict.checkpoint.size,
    })
}

/// A device reading as a page shows it, compared with the one its seal proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadingShown {
    pub device_id: Uuid,
    pub counter: u64,
    pub metric: String,
    pub value: i64,
}

/// Checks a reading's seal: fetches its proof, verifies it (keys as for [`verify_entry`]; the
/// signature under the passport's key, the batch path, the quorum), and compares the reading
/// it proves with what the page shows, naming the first field that differs.
///
/// # Errors
/// See [`CheckError`].
#[cfg(feature = "hydrate")]
pub async fn verify_reading(shown: ReadingShown) -> Result<SealChecked, CheckError> {
    let url = format!("/me/devices/{}/readings/{}/proof", shown.device_id, shown.counter);
    let verdict = verified_bundle(&url).await?;
    let Some(sealed) = verdict.reading else {
        return Err(CheckError::Failed("the proof is not a reading's seal".into()));
    };
    let r = &sealed.reading;
    let checks = [
        (r.device_id.0 == *shown.device_id.as_bytes(), "device_id"),
        (r.counter == shown.counter, "counter"),
        (r.metric == shown.metric, "metric"),
        (r.value == shown.value, "value"),
    ];
    if let Some((_, field)) = checks.iter().find(|(same, _)| !same) {
        return Err(CheckError::Differs(field));
    }
    Ok(SealChecked {
        sealed_by: sealed.sealed_by,
        cosigners: verdict.cosigners.len(),
        checkpoint_size: verdict.checkpoint.size,
        anchored: verdict.anchor.is_some(),
    })
}

/// What the browser established about a rule's action: its receipt is in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FiringChecked {
    pub cosigners: usize,
    pub checkpoint_size: u64,
}

impl FiringChecked {
    /// (CSS class, `data-verify` value, text).
    #[must_use]
    pub fn badge(&self, locale: Locale) -> (&'static str, &'static str, String) {
        ("verified", "verified", locale.verified_by(self.cosigners, self.checkpoint_size))
    }
}

/// An action of a rule as a page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FiringShown {
    /// Log index of its `rule.fired` receipt.
    pub index: i64,
    pub rule_id: Uuid,
    pub trigger_counter: i64,
    pub command: String,
}

/// Checks a rule's action: fetches its receipt's bundle, verifies it (keys as for
/// [`verify_entry`]), and compares the `rule.fired` entry with the row shown (rule, reading,
/// command), naming the first field that differs.
///
/// # Errors
/// See [`CheckError`].
#[cfg(feature = "hydrate")]
pub async fn verify_firing(shown: FiringShown) -> Result<FiringChecked, CheckError> {
    let verdict = verified_entry(shown.index).await?;
    let chain::Event::RuleFired(f) = &verdict.event else {
        return Err(CheckError::Differs("kind"));
    };
    let checks = [
        (f.rule_id.0 == *shown.rule_id.as_bytes(), "rule"),
        (i64::try_from(f.trigger_counter).ok() == Some(shown.trigger_counter), "counter"),
        (f.command == shown.command, "command"),
    ];
    if let Some((_, field)) = checks.iter().find(|(same, _)| !same) {
        return Err(CheckError::Differs(field));
    }
    Ok(FiringChecked { cosigners: verdict.cosigners.len(), checkpoint_size: verdict.checkpoint.size })
}

/// On the server the badge is never computed: the browser does it.
#[cfg(not(feature = "hydrate"))]
pub async fn verify_firing(_shown: FiringShown) -> Result<FiringChecked, CheckError> {
    std::future::pending().await
}

/// On the server the badge is never computed: the browser does it.
#[cfg(not(feature = "hydrate"))]
pub async fn verify_reading(_shown: ReadingShown) -> Result<SealChecked, CheckError> {
    std::future::pending().await
}

/// On the server the badge is never computed: the browser does it.
#[cfg(not(feature = "hydrate"))]
pub async fn verify_passport(_shown: PassportShown) -> Result<PassportChecked, CheckError> {
    std::future::pending().await
}

/// On the server the badge is never computed: the browser does it.
#[cfg(not(feature = "hydrate"))]
pub async fn verify_seal(_record: Uuid, _version: i32, _content: String) -> Result<SealChecked, CheckError> {
    std::future::pending().await
}

/// On the server the badge is never computed: the browser does it.
#[cfg(not(feature = "hydrate"))]
pub async fn verify_entry(_index: i64, _expect: Expect) -> Result<Checked, CheckError> {
    std::future::pending().await
}

/// The bundle at `url`, verified against the keys this browser trusts, now.
#[cfg(feature = "hydrate")]
async fn verified_bundle(url: &str) -> Result<chain::Verdict, CheckError> {
    let (policy, bundle) = trusted_bundle(url).await?;
    let now = (js_sys::Date::now() / 1000.0) as u64;
    chain::bundle::verify_bundle(&bundle, &policy, now).map_err(|e| CheckError::Failed(e.to_string()))
}

/// The ledger entry at `index`, verified as [`verified_bundle`], and the bundle proves that entry.
#[cfg(feature = "hydrate")]
async fn verified_entry(index: i64) -> Result<chain::Verdict, CheckError> {
    let verdict = verified_bundle(&format!("/ledger/bundle/{index}")).await?;
    if i64::try_from(verdict.index).ok() != Some(index) {
        return Err(CheckError::Failed(format!("the bundle proves entry {} instead", verdict.index)));
    }
    Ok(verdict)
}

/// The keys this browser trusts and the bundle at `url` (404: not cosigned yet).
#[cfg(feature = "hydrate")]
async fn trusted_bundle(url: &str) -> Result<(chain::WitnessPolicy, chain::ProofBundle), CheckError> {
    let keys = trusted_keys().await?;
    let policy =
        chain::bundle::parse_policy(&keys).map_err(|e| CheckError::Failed(format!("the ledger's keys: {e}")))?;
    let (status, body) = get(url).await?;
    // 404 from the ledger's routes, 409 `not_yet_cosigned` from the JSON ones.
    if status == 404 || status == 409 {
        return Err(CheckError::NotCosigned);
    }
    if status != 200 {
        return Err(CheckError::Unavailable(format!("HTTP {status}")));
    }
    let bundle = chain::ProofBundle::from_json(&body).map_err(|e| CheckError::Failed(e.to_string()))?;
    Ok((policy, bundle))
}

#[cfg(feature = "hydrate")]
const STORED_KEYS: &str = "onecity.trusted-ledger-keys";

/// The pinned keys, else the ones first seen (stored), refusing a different set.
#[cfg(feature = "hydrate")]
async fn trusted_keys() -> Result<String, CheckError> {
    if let Some(pinned) = option_env!("ONECITY_PINNED_KEYS") {
        return Ok(pinned.to_owned());
    }
    let (status, served) = get("/ledger/keys").await?;
    if status != 200 {
        return Err(CheckError::Unavailable(format!("keys: HTTP {status}")));
    }
    let storage = web_sys::window().and_then(|w| w.local_storage().ok().flatten());
    let normal = |s: &str| s.split_whitespace().collect::<Vec<_>>().join("\n");
    match storage.as_ref().and_then(|s| s.get_item(STORED_KEYS).ok().flatten()) {
        Some(known) if normal(&known) != normal(&served) => Err(CheckError::KeysChanged),
        Some(known) => Ok(known),
        None => {
            if let Some(s) = storage {
                // Private windows may refuse; the check itself still runs.
                let _ = s.set_item(STORED_KEYS, &served);
            }
            Ok(served)
        }
    }
}

/// GET a same-origin URL: (status, body).
#[cfg(feature = "hydrate")]
async fn get(url: &str) -> Result<(u16, String), CheckError> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let unavailable = |e: wasm_bindgen::JsValue| CheckError::Unavailable(format!("{e:?}"));
    let window = web_sys::window().ok_or_else(|| CheckError::Unavailable("no window".into()))?;
    let response: web_sys::Response =
        JsFuture::from(window.fetch_with_str(url)).await.map_err(unavailable)?.dyn_into().map_err(unavailable)?;
    let text = JsFuture::from(response.text().map_err(unavailable)?).await.map_err(unavailable)?;
    Ok((response.status(), text.as_string().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(grant_status: Option<&'static str>, at_read: Option<(bool, u64)>) -> Checked {
        Checked { entry_type: "access.receipt".into(), checkpoint_size: 40, cosigners: 3, grant_status, at_read }
    }

    #[test]
    fn a_receipt_badge_says_whether_the_grant_was_active_at_the_read() {
        let (class, state, text) = checked(Some("revoked"), Some((true, 31))).badge(Locale::En);
        assert_eq!((class, state), ("verified", "verified"), "revoked later does not matter for this read");
        assert!(text.contains("active at the time of the read (checkpoint of size 31)"), "{text}");
        let (class, state, text) = checked(Some("active"), Some((false, 31))).badge(Locale::En);
        assert_eq!((class, state), ("failed", "not-active-at-read"));
        assert!(text.contains("not active"), "{text}");
        let (_, _, zh) = checked(None, Some((false, 31))).badge(Locale::Zh);
        assert!(zh.contains("并未生效"), "{zh}");
        // Entries without the proof keep the status badge.
        assert_eq!(checked(Some("revoked"), None).badge(Locale::En).1, "verified-revoked");
    }
}
