//! Devices: the passport's place in the status map, and readings signed by the device.
//!
//! * **Passport.** A `device.registered` entry (leaf v2, [`Passport`]) publishes a device's
//!   kind, brand, model, a commitment to its serial number and its public key under its
//!   owner's pseudonym. Its current state lives in the status map beside the grants, under
//!   [`status_key`], as a [`DeviceStatus`]; every device entry sets it outright
//!   ([`Event::status_update`]), so a passport bundle proves at a quorum checkpoint who holds
//!   the device now (pseudonymously) and that it is not suspended or retired.
//! * **Readings.** A device signs [`Reading::signing_bytes`] with its Ed25519 key: a domain
//!   line, the device id, a counter that must rise with every reading, the time measured, the
//!   metric name and an integer value in the metric's unit. [`SignedReading::verify`] checks a
//!   reading against the passport's key; the server adds the replay and state checks.

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::hash::Hash;
use crate::leaf::{DeviceId, DeviceState, Event, GrantId, KEY_ED25519, Passport, Pseudonym};
use crate::status::{GrantStatus, STATUS_VERSION};

/// First line of every signed reading.
pub const READING_DOMAIN: &[u8] = b"onecity reading v1\n";
/// Domain line of a sealed reading's commitment ([`SignedReading::seal_commitment`]).
pub const SEALED_READING_DOMAIN: &[u8] = b"onecity sealed reading v1\n";
const SERIAL_DOMAIN: &[u8] = b"onecity device serial v1\n";
const STATUS_KEY_DOMAIN: &[u8] = b"onecity device status v1\n";
/// The type byte of a device's status value (grant values use 0x01 and 0x02).
const DEVICE_VALUE: u8 = 0x10;
/// Longest metric name, in bytes.
pub const MAX_METRIC: usize = 64;

/// `SHA-256("onecity device serial v1\n" || device id || serial)`: the passport's serial
/// commitment. The device id salts it, so one serial registered twice gives two unrelated
/// values; serials are often guessable, so it hides them from casual reading, not from
/// someone who enumerates one maker's serial range (`docs/threat-model.md`).
#[must_use]
pub fn serial_commitment(device_id: &DeviceId, serial: &str) -> Hash {
    let mut h = Sha256::new();
    h.update(SERIAL_DOMAIN);
    h.update(device_id.0);
    h.update(serial.as_bytes());
    Hash(h.finalize().into())
}

/// A device's key in the status map: `SHA-256("onecity device status v1\n" || device id)`.
/// The domain line keeps it apart from grant keys (`SHA-256(grant id)`), which are also 16
/// bytes hashed.
#[must_use]
pub fn status_key(device_id: &DeviceId) -> Hash {
    let mut h = Sha256::new();
    h.update(STATUS_KEY_DOMAIN);
    h.update(device_id.0);
    Hash(h.finalize().into())
}

/// A device's entry in the status map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceStatus {
    /// Active, suspended or retired.
    pub state: DeviceState,
    /// Who holds it now: a pseudonym at the devices service.
    pub owner: Pseudonym,
    /// Since when (the time of the entry that set this value).
    pub since: u64,
}

impl DeviceStatus {
    /// `0x01 || 0x10 || state || owner (32) || since (u64 BE)`: 43 bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; 43] {
        let mut out = [0u8; 43];
        out[0] = STATUS_VERSION;
        out[1] = DEVICE_VALUE;
        out[2] = self.state.byte();
        out[3..35].copy_from_slice(&self.owner.0);
        out[35..].copy_from_slice(&self.since.to_be_bytes());
        out
    }

    /// Strict decode.
    ///
    /// # Errors
    /// [`Error::BadStatusValue`].
    pub fn decode(b: &[u8]) -> Result<Self> {
        if b.len() != 43 {
            return Err(Error::BadStatusValue(format!("a device status is 43 bytes, got {}", b.len())));
        }
        if b[0] != STATUS_VERSION || b[1] != DEVICE_VALUE {
            return Err(Error::BadStatusValue(format!("not a device status (0x{:02x} 0x{:02x})", b[0], b[1])));
        }
        let state = DeviceState::from_byte(b[2])
            .ok_or_else(|| Error::BadStatusValue(format!("unknown device state 0x{:02x}", b[2])))?;
        let mut owner = [0u8; 32];
        owner.copy_from_slice(&b[3..35]);
        let mut since = [0u8; 8];
        since.copy_from_slice(&b[35..]);
        Ok(Self { state, owner: Pseudonym(owner), since: u64::from_be_bytes(since) })
    }
}

/// One change to the status map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusUpdate {
    /// A grant's status.
    Grant(GrantId, GrantStatus),
    /// A device's status.
    Device(DeviceId, DeviceStatus),
}

impl StatusUpdate {
    /// The map key.
    #[must_use]
    pub fn key(&self) -> Hash {
        match self {
            Self::Grant(g, _) => crate::status::status_key(g),
            Self::Device(d, _) => status_key(d),
        }
    }

    /// The map value's bytes.
    #[must_use]
    pub fn value(&self) -> Vec<u8> {
        match self {
            Self::Grant(_, s) => s.encode().to_vec(),
            Self::Device(_, s) => s.encode().to_vec(),
        }
    }
}

impl Event {
    /// The status-map change this event makes, if any: grants issued and revoked, devices
    /// registered (active, owned by the registrant), transferred (active, new owner) and
    /// changed in state. Each event carries everything its value needs. A `device.registered`
    /// in leaf format v1 changes nothing: the map had no device entries when v1 was written
    /// (the portal never wrote one), and logs that hold one keep their map roots.
    #[must_use]
    pub fn status_update(&self) -> Option<StatusUpdate> {
        match *self {
            Self::GrantIssued { grant_id, valid_until, .. } => {
                Some(StatusUpdate::Grant(grant_id, GrantStatus::Active { until: valid_until }))
            }
            Self::GrantRevoked { grant_id, revoked_at, .. } => {
                Some(StatusUpdate::Grant(grant_id, GrantStatus::Revoked { at: revoked_at }))
            }
            Self::DeviceRegisteredV2(ref p) => Some(StatusUpdate::Device(
                p.device_id,
                DeviceStatus { state: DeviceState::Active, owner: p.owner, since: p.registered_at },
            )),
            Self::DeviceTransferred { device_id, to, transferred_at, .. } => Some(StatusUpdate::Device(
                device_id,
                DeviceStatus { state: DeviceState::Active, owner: to, since: transferred_at },
            )),
            Self::DeviceStatus { device_id, owner, state, changed_at, .. } => {
                Some(StatusUpdate::Device(device_id, DeviceStatus { state, owner, since: changed_at }))
            }
            // A rule is a grant from one device to another: the same status value and key.
            Self::RuleGranted(ref rule) => {
                Some(StatusUpdate::Grant(rule.rule_id, GrantStatus::Active { until: rule.valid_until }))
            }
            _ => None,
        }
    }
}

/// One measurement, as the device signs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reading {
    /// The device that measured.
    pub device_id: DeviceId,
    /// Rises with every reading the device sends (gaps allowed, never equal or lower).
    pub counter: u64,
    /// When it was measured, Unix seconds.
    pub measured_at: u64,
    /// What was measured, e.g. `water.litres` (`a-z 0-9 . _ -`, at most 64 bytes).
    pub metric: String,
    /// The value, an integer in the metric's unit.
    pub value: i64,
}

impl Reading {
    /// `"onecity reading v1\n" || device id (16) || counter (u64 BE) || measured_at (u64 BE)
    /// || metric length (u16 BE) || metric || value (i64 BE, two's complement)`.
    ///
    /// # Errors
    /// [`Error::BadReading`] for a metric name outside its alphabet or bounds.
    pub fn signing_bytes(&self) -> Result<Vec<u8>> {
        check_metric(&self.metric)?;
        let mut b = Vec::with_capacity(READING_DOMAIN.len() + 16 + 8 + 8 + 2 + self.metric.len() + 8);
        b.extend_from_slice(READING_DOMAIN);
        b.extend_from_slice(&self.device_id.0);
        b.extend_from_slice(&self.counter.to_be_bytes());
        b.extend_from_slice(&self.measured_at.to_be_bytes());
        b.extend_from_slice(&u16::try_from(self.metric.len()).unwrap_or(u16::MAX).to_be_bytes());
        b.extend_from_slice(self.metric.as_bytes());
        b.extend_from_slice(&self.value.to_be_bytes());
        Ok(b)
    }

    /// Signs with a device key derived from a 32-byte seed (the simulator, tests, and any
    /// device firmware written against this crate).
    ///
    /// # Errors
    /// As [`Self::signing_bytes`].
    pub fn sign(self, seed: &[u8; 32]) -> Result<SignedReading> {
        let sig = SigningKey::from_bytes(seed).sign(&self.signing_bytes()?);
        Ok(SignedReading { reading: self, signature: hex::encode(sig.to_bytes()) })
    }
}

/// The Ed25519 public key of a device seed (what its passport publishes).
#[must_use]
pub fn public_key(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// Whether 32 bytes are an Ed25519 public key a passport may carry: a valid point, and not
/// of small order (for such a key, forged signatures verify).
#[must_use]
pub fn usable_key(key: &[u8; 32]) -> bool {
    VerifyingKey::from_bytes(key).is_ok_and(|k| !k.is_weak())
}

fn check_metric(m: &str) -> Result<()> {
    if m.is_empty() || m.len() > MAX_METRIC {
        return Err(Error::BadReading(format!("metric must be 1..={MAX_METRIC} bytes")));
    }
    if !m.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)) {
        return Err(Error::BadReading(format!("metric {m:?} may only contain a-z 0-9 . _ -")));
    }
    Ok(())
}

/// A reading with the device's signature over [`Reading::signing_bytes`] (128 hex digits).
/// Its JSON, what a device posts, is flat: the reading's fields and `signature`, nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SignedReadingJson", into = "SignedReadingJson")]
pub struct SignedReading {
    /// The reading.
    pub reading: Reading,
    /// Ed25519 signature, hex.
    pub signature: String,
}

/// The flat wire form (serde's `flatten` would let unknown fields through).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedReadingJson {
    device_id: DeviceId,
    counter: u64,
    measured_at: u64,
    metric: String,
    value: i64,
    signature: String,
}

impl From<SignedReadingJson> for SignedReading {
    fn from(j: SignedReadingJson) -> Self {
        let SignedReadingJson { device_id, counter, measured_at, metric, value, signature } = j;
        Self { reading: Reading { device_id, counter, measured_at, metric, value }, signature }
    }
}

impl From<SignedReading> for SignedReadingJson {
    fn from(s: SignedReading) -> Self {
        let Reading { device_id, counter, measured_at, metric, value } = s.reading;
        Self { device_id, counter, measured_at, metric, value, signature: s.signature }
    }
}

impl SignedReading {
    /// What a batch seals for this reading (docs/ledger-format.md §8.5):
    /// `SHA-256("onecity sealed reading v1\n" || signature (64 bytes) || SHA-256(signing bytes))`.
    ///
    /// No salt: the signature is one, since no one without the device's secret key can compute
    /// it, so a commitment on the public log cannot be tested against guessed readings; whoever
    /// holds the signed reading (the resident, an agency the resident granted) recomputes it.
    ///
    /// # Errors
    /// [`Error::BadReading`] for a malformed signature or metric.
    pub fn seal_commitment(&self) -> Result<Hash> {
        let sig = self.signature_bytes()?;
        let mut h = Sha256::new();
        h.update(SEALED_READING_DOMAIN);
        h.update(sig);
        h.update(Sha256::digest(self.reading.signing_bytes()?));
        Ok(Hash(h.finalize().into()))
    }

    /// The reading's leaf in its batch's tree: the RFC 6962 leaf hash of its commitment.
    ///
    /// # Errors
    /// As [`Self::seal_commitment`].
    pub fn batch_leaf(&self) -> Result<Hash> {
        Ok(crate::tree::leaf_hash(&self.seal_commitment()?.0))
    }

    fn signature_bytes(&self) -> Result<[u8; 64]> {
        hex::decode(&self.signature)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
            .ok_or_else(|| Error::BadReading("signature must be 128 hex digits (64 bytes)".into()))
    }

    /// Checks the signature against a passport's key.
    ///
    /// # Errors
    /// [`Error::BadReading`] when the reading is for another device, the metric is malformed,
    /// the signature is not 64 bytes of hex, or the key type is unknown;
    /// [`Error::BadReadingSignature`] when the signature does not verify.
    pub fn verify(&self, passport_key_type: u8, passport_key: &[u8], device_id: &DeviceId) -> Result<()> {
        if self.reading.device_id != *device_id {
            return Err(Error::BadReading(format!(
                "the reading names device {}, not {device_id}",
                self.reading.device_id
            )));
        }
        if passport_key_type != KEY_ED25519 {
            return Err(Error::BadReading(format!("unknown device key type 0x{passport_key_type:02x}")));
        }
        let msg = self.reading.signing_bytes()?;
        let sig = self.signature_bytes()?;
        let key = <[u8; 32]>::try_from(passport_key)
            .ok()
            .and_then(|k| VerifyingKey::from_bytes(&k).ok())
            .ok_or_else(|| Error::BadReading("the passport's key is not an Ed25519 point".into()))?;
        // verify_strict refuses small-order keys and non-canonical signatures: one reading,
        // one valid signature.
        let sig = ed25519_dalek::Signature::from_bytes(&sig);
        key.verify_strict(&msg, &sig).map_err(|_| Error::BadReadingSignature)
    }
}

/// What a passport bundle established ([`crate::verify_bundle`] of a `device.registered`
/// entry with a device status proof).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PassportVerdict {
    /// The passport as registered (for a v1 registration: no brand, model or serial).
    pub passport: Passport,
    /// Its state and holder at the bundle's checkpoint.
    pub status: DeviceStatus,
    /// Map version of the status root it was proven under.
    pub map_version: u64,
}

impl PassportVerdict {
    /// Whether the device's readings are accepted as of the checkpoint.
    #[must_use]
    pub fn in_service(&self) -> bool {
        self.status.state == DeviceState::Active
    }
}

/// The passport of a registration entry; a v1 registration has no brand, model or serial
/// commitment (they read as empty and all-zero).
#[must_use]
pub fn passport_of(event: &Event) -> Option<Passport> {
    match event {
        Event::DeviceRegisteredV2(p) => Some(p.clone()),
        Event::DeviceRegistered { device_id, owner, kind, key_type, public_key, registered_at } => Some(Passport {
            device_id: *device_id,
            owner: *owner,
            kind: kind.clone(),
            brand: String::new(),
            model: String::new(),
            serial_commitment: Hash::default(),
            key_type: *key_type,
            public_key: public_key.clone(),
            registered_at: *registered_at,
        }),
        _ => None,
    }
}
