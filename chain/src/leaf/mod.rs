//! Leaf formats: versioned, deterministic binary encodings of every ledger event.
//!
//! Every leaf is `version || type || fields...`; fields are fixed-size big-endian
//! integers, fixed-size byte strings, or length-prefixed (uint16 big-endian) UTF-8 strings;
//! scope lists are a uint16 count followed by strictly ascending scope strings. Decoding is
//! strict: trailing bytes, unsorted scopes, invalid UTF-8, unknown versions or types are
//! rejected, so every event has exactly one encoding. The log's leaf hash is the RFC 6962
//! leaf hash of these bytes. `docs/ledger-format.md` documents every byte.
//!
//! Residents appear only as [`Pseudonym`]s: opaque 32-byte per-service values chosen by the
//! server, never a name or account id.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hash::Hash;

mod codec;
mod device;
mod rule;
mod service;

use self::codec::{R, W};
pub use self::device::{DeviceState, KEY_ED25519, MAX_DEVICE_NAME, Passport};
pub use self::rule::{Comparison, DayWindow, Firing, MAX_RULE_NAME, MINUTES_PER_DAY, Rule};
pub use self::service::{AccessMode, MAX_DESCRIPTION_BYTES, ServiceTerms, serves_district};

/// Leaf format version 1: every type. Still written for every type but `service.published`.
pub const LEAF_V1: u8 = 0x01;
/// Leaf format version 2: `service.published` with every term of the version
/// ([`ServiceTerms`]), `access.receipt` naming the checkpoint the gate verified against, and
/// `device.registered` with the whole passport ([`Passport`]). Other types have no v2 encoding.
pub const LEAF_V2: u8 = 0x02;
/// Longest text field, in bytes.
pub const MAX_TEXT: usize = 4096;
/// Longest scope name, in bytes.
pub const MAX_SCOPE: usize = 64;
/// Most scopes in one list.
pub const MAX_SCOPES: usize = 256;

macro_rules! fixed_bytes {
    ($(#[$m:meta])* $name:ident, $n:expr) => {
        $(#[$m])*
        #[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $n]);

        impl $name {
            /// Lower-case hex.
            #[must_use]
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// Parses lower- or upper-case hex of the exact length.
            ///
            /// # Errors
            /// [`Error::BadEvent`].
            pub fn from_hex(s: &str) -> Result<Self> {
                let v = hex::decode(s).map_err(|_| Error::BadEvent(format!("{} is not hex", stringify!($name))))?;
                <[u8; $n]>::try_from(v.as_slice())
                    .map(Self)
                    .map_err(|_| Error::BadEvent(format!("{} must be {} bytes", stringify!($name), $n)))
            }
        }
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fixed_bytes!(
    /// A grant's id: 16 opaque bytes (the server uses a UUID). JSON: 32 hex digits.
    GrantId, 16
);
fixed_bytes!(
    /// A device's id: 16 opaque bytes. JSON: 32 hex digits.
    DeviceId, 16
);
fixed_bytes!(
    /// A resident's per-service pseudonym: 32 opaque bytes supplied by the server.
    Pseudonym, 32
);

/// A checkpoint named by its size and root hash (its signature and cosignatures are elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRef {
    /// Tree size.
    pub size: u64,
    /// Root hash at that size.
    pub root: Hash,
}

/// Event type bytes.
pub mod tag {
    /// `service.published`
    pub const SERVICE_PUBLISHED: u8 = 0x01;
    /// `grant.issued`
    pub const GRANT_ISSUED: u8 = 0x02;
    /// `grant.revoked`
    pub const GRANT_REVOKED: u8 = 0x03;
    /// `access.receipt`
    pub const ACCESS_RECEIPT: u8 = 0x04;
    /// `records.batch`
    pub const RECORDS_BATCH: u8 = 0x05;
    /// `device.registered`
    pub const DEVICE_REGISTERED: u8 = 0x06;
    /// `status.root`
    pub const STATUS_ROOT: u8 = 0x07;
    /// `records.erased`
    pub const RECORDS_ERASED: u8 = 0x08;
    /// `device.transferred`
    pub const DEVICE_TRANSFERRED: u8 = 0x09;
    /// `device.status`
    pub const DEVICE_STATUS: u8 = 0x0a;
    /// `rule.granted`
    pub const RULE_GRANTED: u8 = 0x0b;
    /// `rule.fired`
    pub const RULE_FIRED: u8 = 0x0c;
}

/// Longest reason a `device.status` entry gives, in bytes.
pub const MAX_DEVICE_REASON: usize = 512;

/// Most sealed versions one `records.erased` entry names.
pub const MAX_ERASED_SEALS: usize = 1024;

/// Where one sealed record version sits: its batch (named by the batch root, known from the
/// moment the batch is written, before the sequencer gives its entry an index) and its
/// position there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SealRef {
    /// `batch_root` of the `records.batch` entry.
    pub batch_root: Hash,
    /// Position of the version within the batch.
    pub position: u64,
}

/// A ledger event. Times are Unix seconds (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// An agency published (a version of) a service: the exact purpose and scopes a grant
    /// will point at (leaf format v1, verifiable but no longer written by the portal).
    #[serde(rename = "service.published")]
    ServicePublished {
        /// Agency identifier, e.g. `transit-authority`.
        agency: String,
        /// Service identifier within the agency.
        service: String,
        /// Service version, starting at 1.
        version: u32,
        /// Purpose text shown to residents.
        purpose: String,
        /// Scopes the service asks for.
        scopes: Vec<String>,
        /// How long the agency keeps data, in days.
        retention_days: u32,
    },
    /// An agency published (a version of) a service, with every term a resident reads and the
    /// gate enforces (leaf format v2; what the portal writes).
    #[serde(rename = "service.published.v2")]
    ServicePublishedV2(ServiceTerms),
    /// A resident granted a service version access to scopes.
    #[serde(rename = "grant.issued")]
    GrantIssued {
        /// Grant id.
        grant_id: GrantId,
        /// The resident's pseudonym for this service.
        resident: Pseudonym,
        /// Leaf hash of the `service.published` entry this grant accepts.
        service_version_hash: Hash,
        /// Scopes granted (subset of the service's).
        scopes: Vec<String>,
        /// Purpose, copied from the service version.
        purpose: String,
        /// Start of validity (inclusive).
        valid_from: u64,
        /// End of validity (exclusive).
        valid_until: u64,
    },
    /// A grant was revoked.
    #[serde(rename = "grant.revoked")]
    GrantRevoked {
        /// Grant id.
        grant_id: GrantId,
        /// The resident's pseudonym for this service.
        resident: Pseudonym,
        /// Time of revocation.
        revoked_at: u64,
    },
    /// Someone read a resident's data under a grant.
    #[serde(rename = "access.receipt")]
    AccessReceipt {
        /// Grant id used.
        grant_id: GrantId,
        /// Who read: agency and staff or client identifier, e.g. `transit-authority/console/u42`.
        reader: String,
        /// Scopes actually read.
        scopes: Vec<String>,
        /// Purpose of the read.
        purpose: String,
        /// Time of the read.
        time: u64,
        /// The quorum checkpoint the gate verified the grant against just before the read
        /// (leaf format v2); `None` in receipts written in v1.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verified_at: Option<CheckpointRef>,
    },
    /// The Merkle root of a batch of confirmation-record hashes.
    #[serde(rename = "records.batch")]
    RecordsBatch {
        /// RFC 6962 root over the records' hashes, in batch order ([`batch_root`]).
        batch_root: Hash,
        /// Number of records.
        count: u64,
        /// Start of the period the batch covers (inclusive).
        period_start: u64,
        /// End of the period (exclusive).
        period_end: u64,
    },
    /// A confirmation record was erased (the purge receipt): its content and salts are
    /// deleted, so the commitments at `seals` no longer prove anything about any content.
    #[serde(rename = "records.erased")]
    RecordsErased {
        /// The erased record's sealed versions, ascending (empty when none was sealed yet).
        seals: Vec<SealRef>,
        /// On whose request: `resident` or `operator:<staff account>`.
        requested_by: String,
        /// Time of the erasure.
        erased_at: u64,
    },
    /// A resident registered a device ("IoT passport").
    #[serde(rename = "device.registered")]
    DeviceRegistered {
        /// Device id.
        device_id: DeviceId,
        /// The owner's pseudonym (for the devices service).
        owner: Pseudonym,
        /// Device kind, e.g. `meter.electricity`.
        kind: String,
        /// Public key type byte (0x01 = Ed25519).
        key_type: u8,
        /// Public key bytes (hex in JSON).
        #[serde(with = "hex_bytes")]
        public_key: Vec<u8>,
        /// Registration time.
        registered_at: u64,
    },
    /// A resident registered a device with its whole passport (leaf format v2; what the
    /// portal writes).
    #[serde(rename = "device.registered.v2")]
    DeviceRegisteredV2(Passport),
    /// A device passed from one resident to another (it stays active).
    #[serde(rename = "device.transferred")]
    DeviceTransferred {
        /// Device id.
        device_id: DeviceId,
        /// The previous owner's pseudonym at the devices service.
        from: Pseudonym,
        /// The new owner's pseudonym at the devices service.
        to: Pseudonym,
        /// Time of the transfer.
        transferred_at: u64,
    },
    /// A device was suspended, resumed (`active`) or retired.
    #[serde(rename = "device.status")]
    DeviceStatus {
        /// Device id.
        device_id: DeviceId,
        /// The owner's pseudonym at the devices service.
        owner: Pseudonym,
        /// The state from now on.
        state: DeviceState,
        /// Why, in the owner's or operator's words (may be empty).
        reason: String,
        /// Time of the change.
        changed_at: u64,
    },
    /// A resident linked two devices: a grant from the trigger device to the action device
    /// (revoked by a `grant.revoked` naming the rule's id).
    #[serde(rename = "rule.granted")]
    RuleGranted(Rule),
    /// A rule made its action device act: the receipt of one action.
    #[serde(rename = "rule.fired")]
    RuleFired(Firing),
    /// The grant status map's root, appended as the last entry of every checkpoint.
    #[serde(rename = "status.root")]
    StatusRoot {
        /// Root of the status map after applying every entry before this one.
        map_root: Hash,
        /// The map's version number (jmt version).
        map_version: u64,
        /// Number of log entries the map reflects = this entry's own index.
        log_size: u64,
        /// Time the root was computed.
        time: u64,
    },
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        hex::decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// RFC 6962 root of a batch of record hashes (leaf hash of each 32-byte record hash), the
/// `batch_root` of a `records.batch` event. The hashes are the versions' commitments
/// ([`crate::record::RecordVersion::commitment`]).
#[must_use]
pub fn batch_root(record_hashes: &[Hash]) -> Hash {
    let leaves: Vec<Hash> = record_hashes.iter().map(|h| crate::tree::leaf_hash(&h.0)).collect();
    crate::tree::root_of_leaf_hashes(&leaves)
}

/// Sorts and deduplicates scopes into canonical order (helper for callers building events).
#[must_use]
pub fn canonical_scopes<I: IntoIterator<Item = S>, S: Into<String>>(scopes: I) -> Vec<String> {
    let mut v: Vec<String> = scopes.into_iter().map(Into::into).collect();
    v.sort();
    v.dedup();
    v
}

impl Event {
    /// The event's type name, e.g. `grant.issued`.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::ServicePublished { .. } | Self::ServicePublishedV2(_) => "service.published",
            Self::GrantIssued { .. } => "grant.issued",
            Self::GrantRevoked { .. } => "grant.revoked",
            Self::AccessReceipt { .. } => "access.receipt",
            Self::RecordsBatch { .. } => "records.batch",
            Self::RecordsErased { .. } => "records.erased",
            Self::DeviceRegistered { .. } | Self::DeviceRegisteredV2(_) => "device.registered",
            Self::DeviceTransferred { .. } => "device.transferred",
            Self::DeviceStatus { .. } => "device.status",
            Self::RuleGranted(_) => "rule.granted",
            Self::RuleFired(_) => "rule.fired",
            Self::StatusRoot { .. } => "status.root",
        }
    }

    /// The leaf format version the event is encoded in.
    #[must_use]
    pub fn format_version(&self) -> u8 {
        match self {
            Self::ServicePublishedV2(_)
            | Self::AccessReceipt { verified_at: Some(_), .. }
            | Self::DeviceRegisteredV2(_) => LEAF_V2,
            _ => LEAF_V1,
        }
    }

    /// The grant id this event is about, if any.
    #[must_use]
    pub fn grant_id(&self) -> Option<GrantId> {
        match self {
            Self::GrantIssued { grant_id, .. }
            | Self::GrantRevoked { grant_id, .. }
            | Self::AccessReceipt { grant_id, .. } => Some(*grant_id),
            Self::RuleGranted(r) => Some(r.rule_id),
            Self::RuleFired(f) => Some(f.rule_id),
            _ => None,
        }
    }

    /// The device this event is about, if any.
    #[must_use]
    pub fn device_id(&self) -> Option<DeviceId> {
        match self {
            Self::DeviceRegistered { device_id, .. }
            | Self::DeviceTransferred { device_id, .. }
            | Self::DeviceStatus { device_id, .. } => Some(*device_id),
            Self::DeviceRegisteredV2(p) => Some(p.device_id),
            _ => None,
        }
    }

    /// Encodes the leaf bytes.
    ///
    /// # Errors
    /// [`Error::BadEvent`] when a field is too long, scopes are not canonical, or a time
    /// window is empty.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = W(vec![self.format_version()]);
        match self {
            Self::ServicePublishedV2(terms) => {
                w.raw(&[tag::SERVICE_PUBLISHED]);
                terms.encode_fields(&mut w)?;
            }
            Self::ServicePublished { agency, service, version, purpose, scopes, retention_days } => {
                w.raw(&[tag::SERVICE_PUBLISHED]);
                w.text("agency", agency)?;
                w.text("service", service)?;
                w.u32(*version);
                w.text("purpose", purpose)?;
                w.scopes("scopes", scopes)?;
                w.u32(*retention_days);
            }
            Self::GrantIssued {
                grant_id,
                resident,
                service_version_hash,
                scopes,
                purpose,
                valid_from,
                valid_until,
            } => {
                if valid_from >= valid_until {
                    return Err(Error::BadEvent("grant valid_from must be before valid_until".into()));
                }
                w.raw(&[tag::GRANT_ISSUED]);
                w.raw(&grant_id.0);
                w.raw(&resident.0);
                w.raw(&service_version_hash.0);
                w.scopes("scopes", scopes)?;
                w.text("purpose", purpose)?;
                w.u64(*valid_from);
                w.u64(*valid_until);
            }
            Self::GrantRevoked { grant_id, resident, revoked_at } => {
                w.raw(&[tag::GRANT_REVOKED]);
                w.raw(&grant_id.0);
                w.raw(&resident.0);
                w.u64(*revoked_at);
            }
            Self::AccessReceipt { grant_id, reader, scopes, purpose, time, verified_at } => {
                w.raw(&[tag::ACCESS_RECEIPT]);
                w.raw(&grant_id.0);
                w.text("reader", reader)?;
                w.scopes("scopes", scopes)?;
                w.text("purpose", purpose)?;
                w.u64(*time);
                if let Some(cp) = verified_at {
                    if cp.size == 0 {
                        return Err(Error::BadEvent("a receipt's verified checkpoint cannot be empty".into()));
                    }
                    w.u64(cp.size);
                    w.raw(&cp.root.0);
                }
            }
            Self::RecordsBatch { batch_root, count, period_start, period_end } => {
                if period_start > period_end {
                    return Err(Error::BadEvent("batch period_start must not be after period_end".into()));
                }
                w.raw(&[tag::RECORDS_BATCH]);
                w.raw(&batch_root.0);
                w.u64(*count);
                w.u64(*period_start);
                w.u64(*period_end);
            }
            Self::RecordsErased { seals, requested_by, erased_at } => {
                if seals.len() > MAX_ERASED_SEALS {
                    return Err(Error::BadEvent(format!("an erasure names at most {MAX_ERASED_SEALS} seals")));
                }
                if seals.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(Error::BadEvent("erased seals must be sorted ascending without duplicates".into()));
                }
                w.raw(&[tag::RECORDS_ERASED]);
                w.raw(&u16::try_from(seals.len()).unwrap_or(u16::MAX).to_be_bytes());
                for s in seals {
                    w.raw(&s.batch_root.0);
                    w.u64(s.position);
                }
                w.text("requested_by", requested_by)?;
                w.u64(*erased_at);
            }
            Self::DeviceRegistered { device_id, owner, kind, key_type, public_key, registered_at } => {
                if public_key.is_empty() || public_key.len() > MAX_TEXT {
                    return Err(Error::BadEvent(format!("device public key must be 1..={MAX_TEXT} bytes")));
                }
                w.raw(&[tag::DEVICE_REGISTERED]);
                w.raw(&device_id.0);
                w.raw(&owner.0);
                w.text("kind", kind)?;
                w.raw(&[*key_type]);
                w.raw(&u16::try_from(public_key.len()).unwrap_or(u16::MAX).to_be_bytes());
                w.raw(public_key);
                w.u64(*registered_at);
            }
            Self::DeviceRegisteredV2(passport) => {
                w.raw(&[tag::DEVICE_REGISTERED]);
                passport.encode_fields(&mut w)?;
            }
            Self::DeviceTransferred { device_id, from, to, transferred_at } => {
                if from == to {
                    return Err(Error::BadEvent("a device cannot be transferred to its own owner".into()));
                }
                w.raw(&[tag::DEVICE_TRANSFERRED]);
                w.raw(&device_id.0);
                w.raw(&from.0);
                w.raw(&to.0);
                w.u64(*transferred_at);
            }
            Self::DeviceStatus { device_id, owner, state, reason, changed_at } => {
                w.raw(&[tag::DEVICE_STATUS]);
                w.raw(&device_id.0);
                w.raw(&owner.0);
                w.raw(&[state.byte()]);
                w.text_up_to("reason", reason, MAX_DEVICE_REASON)?;
                w.u64(*changed_at);
            }
            Self::RuleGranted(rule) => {
                w.raw(&[tag::RULE_GRANTED]);
                rule.encode_fields(&mut w)?;
            }
            Self::RuleFired(firing) => {
                w.raw(&[tag::RULE_FIRED]);
                firing.encode_fields(&mut w)?;
            }
            Self::StatusRoot { map_root, map_version, log_size, time } => {
                w.raw(&[tag::STATUS_ROOT]);
                w.raw(&map_root.0);
                w.u64(*map_version);
                w.u64(*log_size);
                w.u64(*time);
            }
        }
        Ok(w.0)
    }

    /// Decodes leaf bytes strictly (the inverse of [`Self::encode`]).
    ///
    /// # Errors
    /// [`Error::BadLeaf`] naming the field that is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = R(bytes);
        let v = r.u8("version")?;
        let t = r.u8("type")?;
        let e = match (v, t) {
            (LEAF_V2, tag::SERVICE_PUBLISHED) => Self::ServicePublishedV2(ServiceTerms::decode_fields(&mut r)?),
            (LEAF_V2, tag::ACCESS_RECEIPT) => {
                let Self::AccessReceipt { grant_id, reader, scopes, purpose, time, .. } =
                    Self::decode_v1(tag::ACCESS_RECEIPT, &mut r)?
                else {
                    unreachable!("decode_v1 of an access.receipt is an access.receipt")
                };
                let size = r.u64("verified_size")?;
                if size == 0 {
                    return Err(Error::BadLeaf("verified_size is 0: a receipt's checkpoint cannot be empty".into()));
                }
                let root = Hash(r.arr("verified_root")?);
                Self::AccessReceipt {
                    grant_id,
                    reader,
                    scopes,
                    purpose,
                    time,
                    verified_at: Some(CheckpointRef { size, root }),
                }
            }
            (LEAF_V2, tag::DEVICE_REGISTERED) => Self::DeviceRegisteredV2(Passport::decode_fields(&mut r)?),
            (LEAF_V2, t) => return Err(Error::BadLeaf(format!("event type 0x{t:02x} has no leaf version 2"))),
            (LEAF_V1, t) => Self::decode_v1(t, &mut r)?,
            (v, _) => return Err(Error::BadLeaf(format!("unknown leaf version 0x{v:02x}"))),
        };
        if !r.0.is_empty() {
            return Err(Error::BadLeaf(format!("{} trailing bytes after {}", r.0.len(), e.type_name())));
        }
        Ok(e)
    }

    fn decode_v1(t: u8, r: &mut R<'_>) -> Result<Self> {
        Ok(match t {
            tag::SERVICE_PUBLISHED => Self::ServicePublished {
                agency: r.text("agency")?,
                service: r.text("service")?,
                version: r.u32("version")?,
                purpose: r.text("purpose")?,
                scopes: r.scopes("scopes")?,
                retention_days: r.u32("retention_days")?,
            },
            tag::GRANT_ISSUED => {
                let e = Self::GrantIssued {
                    grant_id: GrantId(r.arr("grant_id")?),
                    resident: Pseudonym(r.arr("resident")?),
                    service_version_hash: Hash(r.arr("service_version_hash")?),
                    scopes: r.scopes("scopes")?,
                    purpose: r.text("purpose")?,
                    valid_from: r.u64("valid_from")?,
                    valid_until: r.u64("valid_until")?,
                };
                if let Self::GrantIssued { valid_from, valid_until, .. } = &e
                    && valid_from >= valid_until
                {
                    return Err(Error::BadLeaf("grant valid_from is not before valid_until".into()));
                }
                e
            }
            tag::GRANT_REVOKED => Self::GrantRevoked {
                grant_id: GrantId(r.arr("grant_id")?),
                resident: Pseudonym(r.arr("resident")?),
                revoked_at: r.u64("revoked_at")?,
            },
            tag::ACCESS_RECEIPT => Self::AccessReceipt {
                grant_id: GrantId(r.arr("grant_id")?),
                reader: r.text("reader")?,
                scopes: r.scopes("scopes")?,
                purpose: r.text("purpose")?,
                time: r.u64("time")?,
                verified_at: None,
            },
            tag::RECORDS_BATCH => {
                let batch_root = Hash(r.arr("batch_root")?);
                let count = r.u64("count")?;
                let period_start = r.u64("period_start")?;
                let period_end = r.u64("period_end")?;
                if period_start > period_end {
                    return Err(Error::BadLeaf("batch period_start is after period_end".into()));
                }
                Self::RecordsBatch { batch_root, count, period_start, period_end }
            }
            tag::RECORDS_ERASED => {
                let n = usize::from(r.u16("seals")?);
                if n > MAX_ERASED_SEALS {
                    return Err(Error::BadLeaf(format!("an erasure names at most {MAX_ERASED_SEALS} seals")));
                }
                let mut seals: Vec<SealRef> = Vec::with_capacity(n);
                for _ in 0..n {
                    let s = SealRef { batch_root: Hash(r.arr("seals")?), position: r.u64("seals")? };
                    if seals.last().is_some_and(|p| *p >= s) {
                        return Err(Error::BadLeaf("erased seals not sorted ascending without duplicates".into()));
                    }
                    seals.push(s);
                }
                Self::RecordsErased { seals, requested_by: r.text("requested_by")?, erased_at: r.u64("erased_at")? }
            }
            tag::DEVICE_REGISTERED => {
                let device_id = DeviceId(r.arr("device_id")?);
                let owner = Pseudonym(r.arr("owner")?);
                let kind = r.text("kind")?;
                let key_type = r.u8("key_type")?;
                let n = usize::from(r.u16("public_key")?);
                if n == 0 || n > MAX_TEXT {
                    return Err(Error::BadLeaf(format!("device public key must be 1..={MAX_TEXT} bytes")));
                }
                let public_key = r.take(n, "public_key")?.to_vec();
                let registered_at = r.u64("registered_at")?;
                Self::DeviceRegistered { device_id, owner, kind, key_type, public_key, registered_at }
            }
            tag::DEVICE_TRANSFERRED => {
                let device_id = DeviceId(r.arr("device_id")?);
                let from = Pseudonym(r.arr("from")?);
                let to = Pseudonym(r.arr("to")?);
                if from == to {
                    return Err(Error::BadLeaf("device transferred to its own owner".into()));
                }
                Self::DeviceTransferred { device_id, from, to, transferred_at: r.u64("transferred_at")? }
            }
            tag::DEVICE_STATUS => Self::DeviceStatus {
                device_id: DeviceId(r.arr("device_id")?),
                owner: Pseudonym(r.arr("owner")?),
                state: device::decode_state(r)?,
                reason: r.text_up_to("reason", MAX_DEVICE_REASON)?,
                changed_at: r.u64("changed_at")?,
            },
            tag::RULE_GRANTED => Self::RuleGranted(Rule::decode_fields(r)?),
            tag::RULE_FIRED => Self::RuleFired(Firing::decode_fields(r)?),
            tag::STATUS_ROOT => Self::StatusRoot {
                map_root: Hash(r.arr("map_root")?),
                map_version: r.u64("map_version")?,
                log_size: r.u64("log_size")?,
                time: r.u64("time")?,
            },
            t => return Err(Error::BadLeaf(format!("unknown event type 0x{t:02x}"))),
        })
    }

    /// RFC 6962 leaf hash of the encoding.
    ///
    /// # Errors
    /// As [`Self::encode`].
    pub fn leaf_hash(&self) -> Result<Hash> {
        Ok(crate::tree::leaf_hash(&self.encode()?))
    }
}
