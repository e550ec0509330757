//! The device events: `device.registered` in leaf format v2 (the passport), `device.transferred`
//! and `device.status`. Each one alone determines the device's entry in the status map
//! ([`crate::device::DeviceStatus`]), so the sequencer needs no earlier state to apply it.

use serde::{Deserialize, Serialize};

use super::codec::{R, W, check_scope};
use super::{DeviceId, Pseudonym};
use crate::error::{Error, Result};
use crate::hash::Hash;

/// The only public key type so far: Ed25519, 32 bytes.
pub const KEY_ED25519: u8 = 0x01;
/// Longest brand or model name, in bytes.
pub const MAX_DEVICE_NAME: usize = 128;

/// What a device's registration publishes (leaf format v2 of `device.registered`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Passport {
    /// Device id (the portal uses a UUID).
    pub device_id: DeviceId,
    /// The registering resident's pseudonym at the city's devices service.
    pub owner: Pseudonym,
    /// Device kind, a name like `meter.water` (`a-z 0-9 . _ -`, at most 64 bytes).
    pub kind: String,
    /// Brand, as the maker names itself.
    pub brand: String,
    /// Model name.
    pub model: String,
    /// [`crate::device::serial_commitment`] of the serial number: whoever holds the device (or
    /// its maker's records) can match it; the log does not publish serial numbers.
    pub serial_commitment: Hash,
    /// Public key type, [`KEY_ED25519`].
    pub key_type: u8,
    /// The device's public key (32 bytes for Ed25519; hex in JSON).
    #[serde(with = "super::hex_bytes")]
    pub public_key: Vec<u8>,
    /// Registration time.
    pub registered_at: u64,
}

impl Passport {
    pub(super) fn encode_fields(&self, w: &mut W) -> Result<()> {
        check_kind(&self.kind).map_err(Error::BadEvent)?;
        check_key(self.key_type, &self.public_key).map_err(Error::BadEvent)?;
        w.raw(&self.device_id.0);
        w.raw(&self.owner.0);
        w.text("kind", &self.kind)?;
        w.text_up_to("brand", &self.brand, MAX_DEVICE_NAME)?;
        w.text_up_to("model", &self.model, MAX_DEVICE_NAME)?;
        w.raw(&self.serial_commitment.0);
        w.raw(&[self.key_type]);
        w.raw(&u16::try_from(self.public_key.len()).unwrap_or(u16::MAX).to_be_bytes());
        w.raw(&self.public_key);
        w.u64(self.registered_at);
        Ok(())
    }

    pub(super) fn decode_fields(r: &mut R<'_>) -> Result<Self> {
        let device_id = DeviceId(r.arr("device_id")?);
        let owner = Pseudonym(r.arr("owner")?);
        let kind = r.text("kind")?;
        check_kind(&kind).map_err(Error::BadLeaf)?;
        let brand = r.text_up_to("brand", MAX_DEVICE_NAME)?;
        let model = r.text_up_to("model", MAX_DEVICE_NAME)?;
        let serial_commitment = Hash(r.arr("serial_commitment")?);
        let key_type = r.u8("key_type")?;
        let n = usize::from(r.u16("public_key")?);
        let public_key = r.take(n, "public_key")?.to_vec();
        check_key(key_type, &public_key).map_err(Error::BadLeaf)?;
        let registered_at = r.u64("registered_at")?;
        Ok(Self { device_id, owner, kind, brand, model, serial_commitment, key_type, public_key, registered_at })
    }
}

/// A device kind: the same alphabet and bounds as a scope name.
fn check_kind(kind: &str) -> std::result::Result<(), String> {
    check_scope(kind).map_err(|m| format!("device kind: {m}"))
}

fn check_key(key_type: u8, key: &[u8]) -> std::result::Result<(), String> {
    match key_type {
        KEY_ED25519 if key.len() == 32 => Ok(()),
        KEY_ED25519 => Err(format!("an Ed25519 public key is 32 bytes, not {}", key.len())),
        t => Err(format!("unknown device key type 0x{t:02x}")),
    }
}

/// Where a device stands. Retired is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// In service: its readings are accepted.
    Active,
    /// Temporarily out of service (lost, being repaired): readings are refused until resumed.
    Suspended,
    /// Permanently out of service.
    Retired,
}

impl DeviceState {
    /// The state's byte in leaves and status values.
    #[must_use]
    pub const fn byte(self) -> u8 {
        match self {
            Self::Active => 0x01,
            Self::Suspended => 0x02,
            Self::Retired => 0x03,
        }
    }

    /// The inverse of [`Self::byte`].
    #[must_use]
    pub const fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x01 => Some(Self::Active),
            0x02 => Some(Self::Suspended),
            0x03 => Some(Self::Retired),
            _ => None,
        }
    }

    /// The database's and JSON's spelling: `active`, `suspended`, `retired`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Retired => "retired",
        }
    }

    /// The inverse of [`Self::name`].
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        [Self::Active, Self::Suspended, Self::Retired].into_iter().find(|d| d.name() == s)
    }
}

pub(super) fn decode_state(r: &mut R<'_>) -> Result<DeviceState> {
    let b = r.u8("state")?;
    DeviceState::from_byte(b).ok_or_else(|| Error::BadLeaf(format!("unknown device state 0x{b:02x}")))
}
