//! The resident's devices (docs/devices.md): each with its passport on the city ledger, which
//! the page checks in the browser, its latest signed readings, and the forms that register a
//! device and suspend, resume or retire one. Every change is a ledger entry.

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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesView {
    pub devices: Vec<DeviceView>,
    /// The kinds the city registers, for the form.
    pub kinds: Vec<String>,
}

/// The signed-in resident's devices.
#[server(endpoint = "me/devices")]
pub async fn my_devices() -> Result<DevicesView, AppError> {
    let r = crate::serverfns::resident::ssr::resident().await?;
    ssr::devices()?.devices(r).await
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
    }

    /// # Errors
    /// [`AppError::Internal`] when missing from the context.
    pub fn devices() -> Result<Arc<dyn Devices>, AppError> {
        crate::error::ssr::provided()
    }
}
