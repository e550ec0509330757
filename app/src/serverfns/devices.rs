//! The resident's devices (docs/devices.md): each with its passport on the city ledger, which
//! the page checks in the browser, its latest signed readings, and the forms that register a
//! device and suspend, resume or retire one; the rules that link devices, with their receipts.
//! Every change is a ledger entry.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::error::AppError;

/// One reading as the device signed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadingView {
    /// When it was measured (RFC 3339).
    pub at: String,
    pub metric: String,
    pub value: i64,
    pub counter: u64,
    /// Sealed in a batch on the ledger: its existence proof downloads once cosigned.
    pub sealed: bool,
}

/// A device as its holder sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceView {
    pub device_id: Uuid,
    pub label: String,
    pub kind: String,
    pub brand: String,
    pub model: String,
    pub serial: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
    /// `active`, `suspended` or `retired`.
    pub state: String,
    /// RFC 3339.
    pub registered_at: String,
    /// A quorum checkpoint covers the registration: the passport can be checked.
    pub provable: bool,
    /// The newest readings, newest first (at most 50).
    pub readings: Vec<ReadingView>,
    /// RFC 3339 expiry of the holder's open offer to transfer it, if any.
    pub transfer_until: Option<String>,
    /// The offer's claim code, only on the first page shown after it was made.
    pub transfer_code: Option<String>,
}

/// One action a rule caused: the receipt the resident sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiringView {
    /// RFC 3339.
    pub fired_at: String,
    /// The trigger's reading that caused it.
    pub trigger_counter: i64,
    pub command: String,
    /// RFC 3339, once the action device collected the command.
    pub delivered_at: Option<String>,
    /// Log index of the `rule.fired` receipt, once sequenced (its proof bundle).
    pub leaf_index: Option<i64>,
}

/// A linkage rule between two of the resident's devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleView {
    pub rule_id: Uuid,
    pub trigger_label: String,
    pub action_label: String,
    pub metric: String,
    /// One of `==` `!=` `>` `>=` `<` `<=`.
    pub comparison: String,
    pub threshold: i64,
    pub command: String,
    pub notify: bool,
    /// Local `HH:MM` start and end; `None`: all day.
    pub window: Option<(String, String)>,
    /// RFC 3339.
    pub valid_until: String,
    /// `pending`, `active`, `expired` or `revoked`.
    pub state: String,
    /// Log index of the `rule.granted` entry, once sequenced.
    pub leaf_index: Option<i64>,
    /// The newest actions, newest first.
    pub firings: Vec<FiringView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesView {
    pub devices: Vec<DeviceView>,
    /// The kinds the city registers, for the form.
    pub kinds: Vec<String>,
    pub rules: Vec<RuleView>,
    /// Each kind of device that can act, with the commands it accepts.
    pub commands: Vec<(String, Vec<String>)>,
}

/// The signed-in resident's devices, with a claim code just made (kept in the session only
/// until this first shows it: the server keeps no copy).
#[server(endpoint = "me/devices")]
pub async fn my_devices() -> Result<DevicesView, AppError> {
    let r = crate::serverfns::resident::ssr::resident().await?;
    let mut view = ssr::devices()?.devices(r).await?;
    if let Some((device, code)) = ssr::take_claim_code().await?
        && let Some(d) = view.devices.iter_mut().find(|d| d.device_id == device && d.transfer_until.is_some())
    {
        d.transfer_code = Some(code);
    }
    Ok(view)
}

/// Offers one of the signed-in resident's devices for transfer: a claim code, valid for a day,
/// for the person who is to hold it next. Returns the code (shown once).
#[server(endpoint = "me/devices/transfer")]
pub async fn offer_transfer(device_id: Uuid) -> Result<ClaimCode, AppError> {
    let r = crate::serverfns::resident::ssr::resident().await?;
    let code = ssr::devices()?.offer_transfer(r, device_id).await?;
    ssr::keep_claim_code(device_id, &code).await?;
    leptos_axum::redirect(&format!("/devices#device-{device_id}"));
    Ok(ClaimCode { device_id, code })
}

/// A claim code just made for a device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimCode {
    pub device_id: Uuid,
    pub code: String,
}

/// Withdraws the signed-in resident's open transfer offer for a device.
#[server(endpoint = "me/devices/transfer/cancel")]
pub async fn cancel_transfer(device_id: Uuid) -> Result<(), AppError> {
    let r = crate::serverfns::resident::ssr::resident().await?;
    ssr::devices()?.cancel_transfer(r, device_id).await?;
    leptos_axum::redirect(&format!("/devices#device-{device_id}"));
    Ok(())
}

/// Claims the device a holder gave the signed-in resident a code for: it becomes theirs.
#[server(endpoint = "me/devices/claim")]
pub async fn claim_device(code: String) -> Result<DeviceView, AppError> {
    let r = crate::serverfns::resident::ssr::resident().await?;
    let device = ssr::devices()?.claim(r, code).await?;
    leptos_axum::redirect(&format!("/devices#device-{}", device.device_id));
    Ok(device)
}

/// Registers a device for the signed-in resident: its passport goes on the ledger.
#[server(endpoint = "me/devices/register")]
pub async fn register_device(
    label: String,
    kind: String,
    brand: String,
    model: String,
    serial: String,
    public_key: String,
) -> Result<DeviceView, AppError> {
    let r = crate::serverfns::resident::ssr::resident().await?;
    let device =
        ssr::devices()?.register(r, ssr::NewDeviceForm { label, kind, brand, model, serial, public_key }).await?;
    leptos_axum::redirect(&format!("/devices#device-{}", device.device_id));
    Ok(device)
}

/// Suspends (`suspend`), resumes (`resume`) or retires (`retire`, final) one of the signed-in
/// resident's devices. Retiring needs `confirm` = `retire`.
#[server(endpoint = "me/devices/change")]
pub async fn change_device(
    device_id: Uuid,
    change: String,
    reason: Option<String>,
    confirm: Option<String>,
) -> Result<DeviceView, AppError> {
    let r = crate::serverfns::resident::ssr::resident().await?;
    if change == "retire" && confirm.as_deref() != Some("retire") {
        return Err(ssr::fail(AppError::Invalid {
            field: "confirm".into(),
            problem: "tick the box to confirm that the device is retired for good".into(),
        }));
    }
    let device = ssr::devices()?.change(r, device_id, change, reason.unwrap_or_default()).await?;
    leptos_axum::redirect(&format!("/devices#device-{device_id}"));
    Ok(device)
}

/// The new-rule form as the browser posts it: numbers and times still text, checked by the
/// server; `notify` is a checkbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NewRule {
    pub trigger: Uuid,
    pub metric: String,
    pub comparison: String,
    pub threshold: String,
    pub action: Uuid,
    pub command: String,
    #[serde(default)]
    pub notify: Option<String>,
    #[serde(default)]
    pub window_start: Option<String>,
    #[serde(default)]
    pub window_end: Option<String>,
    pub valid_days: String,
}

impl NewRule {
    /// Whether the resident asked to be told when the rule fires.
    #[must_use]
    pub fn notify(&self) -> bool {
        self.notify.as_deref().is_some_and(|n| n == "on" || n == "true")
    }
}

/// Links two of the signed-in resident's devices: when `trigger` reports `metric` compared
/// with `threshold`, `action` is told `command` (within the local window `window_start` to
/// `window_end`, `HH:MM`, if given). The rule goes on the ledger and acts once cosigned.
#[server(endpoint = "me/devices/rules")]
pub async fn create_rule(#[server(flatten)] rule: NewRule) -> Result<Uuid, AppError> {
    let r = crate::serverfns::resident::ssr::resident().await?;
    let rule = ssr::devices()?.create_rule(r, rule).await?;
    leptos_axum::redirect(&format!("/devices#rule-{rule}"));
    Ok(rule)
}

/// Revokes one of the signed-in resident's rules: it stops at once.
#[server(endpoint = "me/devices/rules/revoke")]
pub async fn revoke_rule(rule_id: Uuid) -> Result<(), AppError> {
    let r = crate::serverfns::resident::ssr::resident().await?;
    ssr::devices()?.revoke_rule(r, rule_id).await?;
    leptos_axum::redirect(&format!("/devices#rule-{rule_id}"));
    Ok(())
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use std::sync::Arc;

    use uuid::Uuid;

    pub use crate::error::ssr::fail;

    use super::{AppError, DeviceView, DevicesView};

    /// The registration form as posted.
    pub struct NewDeviceForm {
        pub label: String,
        pub kind: String,
        pub brand: String,
        pub model: String,
        pub serial: String,
        pub public_key: String,
    }

    /// What the server crate provides for devices, as `Arc<dyn Devices>` in context.
    #[async_trait::async_trait]
    pub trait Devices: Send + Sync {
        async fn devices(&self, resident: Uuid) -> Result<DevicesView, AppError>;
        async fn register(&self, resident: Uuid, form: NewDeviceForm) -> Result<DeviceView, AppError>;
        async fn change(
            &self,
            resident: Uuid,
            device: Uuid,
            change: String,
            reason: String,
        ) -> Result<DeviceView, AppError>;
        async fn create_rule(&self, resident: Uuid, form: super::NewRule) -> Result<Uuid, AppError>;
        async fn revoke_rule(&self, resident: Uuid, rule: Uuid) -> Result<(), AppError>;
        /// A new claim code for the device.
        async fn offer_transfer(&self, resident: Uuid, device: Uuid) -> Result<String, AppError>;
        async fn cancel_transfer(&self, resident: Uuid, device: Uuid) -> Result<(), AppError>;
        async fn claim(&self, resident: Uuid, code: String) -> Result<DeviceView, AppError>;
    }

    /// Where a claim code waits, in the holder's session, for the page that shows it once.
    pub const CLAIM_CODE_KEY: &str = "onecity.device_claim_code";

    /// A claim code the server took out of the session for the page being rendered: a page
    /// streams, and a session change made while it streams would not be saved, so the code is
    /// removed before rendering starts (server `http::claim_code_once`) and handed over here.
    #[derive(Clone, Debug)]
    pub struct ShownClaimCode(pub Uuid, pub String);

    /// # Errors
    /// [`AppError::Internal`] when the session store fails.
    pub async fn keep_claim_code(device: Uuid, code: &str) -> Result<(), AppError> {
        let session: tower_sessions::Session = leptos_axum::extract().await.map_err(crate::error::ssr::internal)?;
        session.insert(CLAIM_CODE_KEY, (device, code)).await.map_err(crate::error::ssr::internal)
    }

    /// The claim code to show once: the one taken out for this page, or, for a call of the
    /// server function from the browser, out of the session now.
    ///
    /// # Errors
    /// [`AppError::Internal`] when the session store fails.
    pub async fn take_claim_code() -> Result<Option<(Uuid, String)>, AppError> {
        use leptos::prelude::use_context;
        let parts = use_context::<http::request::Parts>();
        if let Some(ShownClaimCode(device, code)) = parts.as_ref().and_then(|p| p.extensions.get::<ShownClaimCode>()) {
            return Ok(Some((*device, code.clone())));
        }
        if parts.is_some_and(|p| p.method == http::Method::GET) {
            return Ok(None);
        }
        let session: tower_sessions::Session = leptos_axum::extract().await.map_err(crate::error::ssr::internal)?;
        session.remove(CLAIM_CODE_KEY).await.map_err(crate::error::ssr::internal)
    }

    /// # Errors
    /// [`AppError::Internal`] when missing from the context.
    pub fn devices() -> Result<Arc<dyn Devices>, AppError> {
        crate::error::ssr::provided()
    }
}
