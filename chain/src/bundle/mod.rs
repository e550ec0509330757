//! The proof bundle: one self-contained JSON document that lets anyone check offline that a
//! ledger entry (a grant, a revocation, a receipt, ...) is in the log and, for grants, whether
//! it is active or revoked as of a checkpoint cosigned by a quorum of witnesses.
//!
//! Field-by-field documentation: `docs/ledger-format.md` §"Proof bundle".

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use serde::{Deserialize, Serialize};

use crate::cosign::{ValidCosignature, WitnessPolicy};
use crate::device::{DeviceStatus, PassportVerdict, passport_of};
use crate::error::{Error, Result};
use crate::hash::Hash;
use crate::leaf::{Event, GrantId};
use crate::note::{Checkpoint, SignedCheckpoint};
use crate::record::{RecordProof, RecordVerdict, verify_record};
use crate::status::{GrantStatus, MapProof};
use crate::tree::{leaf_hash, verify_inclusion};

mod at_read;
mod reading;

pub use self::at_read::{AtReadProof, AtReadVerdict, verify_at_read};
pub use self::reading::{ReadingProof, ReadingVerdict, verify_reading};

/// The bundle format version this crate writes for grants and receipts: 2 adds `at_read`
/// (receipts in leaf format 2).
pub const BUNDLE_VERSION: u64 = 2;
/// The bundle format that adds `record` (a sealed record's existence proof) and `anchor`;
/// written for `records.batch` entries.
pub const BUNDLE_V3: u64 = 3;
/// The bundle format that adds `device` (a device's state in the status map), written for
/// passports (`device.registered` entries), and `reading` (a sealed reading's existence proof).
pub const BUNDLE_V4: u64 = 4;
/// The first bundle format, still read (it never carries `at_read`).
pub const BUNDLE_V1: u64 = 1;
/// Largest bundle JSON accepted, in bytes.
pub const MAX_BUNDLE_BYTES: usize = 1 << 20;

/// A log entry with its inclusion proof in the bundle's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryProof {
    /// 0-based leaf index.
    pub index: u64,
    /// The leaf bytes (see the leaf formats), standard base64.
    pub leaf: String,
    /// RFC 6962 inclusion proof, base64 hashes, bottom-up.
    pub inclusion_proof: Vec<Hash>,
}

impl EntryProof {
    /// Builds from raw leaf bytes.
    #[must_use]
    pub fn new(index: u64, leaf: &[u8], inclusion_proof: Vec<Hash>) -> Self {
        Self { index, leaf: BASE64_STANDARD.encode(leaf), inclusion_proof }
    }

    /// Decoded leaf bytes.
    ///
    /// # Errors
    /// [`Error::BadBundle`].
    pub fn leaf_bytes(&self) -> Result<Vec<u8>> {
        BASE64_STANDARD.decode(&self.leaf).map_err(|_| Error::BadBundle("leaf is not base64".into()))
    }

    fn verify(&self, cp: &Checkpoint, what: &str) -> Result<Event> {
        let bytes = self.leaf_bytes()?;
        let event = Event::decode(&bytes)?;
        verify_inclusion(&self.inclusion_proof, cp.size, &cp.root, self.index, &leaf_hash(&bytes)).map_err(
            |e| match e {
                Error::InclusionProofMismatch => {
                    Error::BundleMismatch(format!("{what}: inclusion proof does not lead to checkpoint root"))
                }
                other => Error::BundleMismatch(format!("{what}: {other}")),
            },
        )?;
        Ok(event)
    }
}

/// The grant-status part of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusProof {
    /// The `status.root` entry closing the checkpoint (index = checkpoint size - 1).
    pub entry: EntryProof,
    /// The grant's status in the map, `null` when the map proves it absent.
    pub status: Option<GrantStatus>,
    /// Map proof of `status` (or absence) under the entry's `map_root`.
    pub map_proof: MapProof,
}

/// The device-status part of a passport bundle (bundle version 4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceStatusProof {
    /// The `status.root` entry closing the checkpoint (index = checkpoint size - 1).
    pub entry: EntryProof,
    /// The device's state and holder in the map.
    pub status: DeviceStatus,
    /// Map proof of `status` under the entry's `map_root`.
    pub map_proof: MapProof,
}

/// The proof bundle document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofBundle {
    /// Format version, [`BUNDLE_VERSION`].
    pub version: u64,
    /// The entry being proven.
    pub entry: EntryProof,
    /// The signed checkpoint note, with the log signature and the cosignatures.
    pub checkpoint: String,
    /// Grant status proof: required when the entry is `grant.issued` or `grant.revoked`,
    /// optional for `access.receipt` (then it proves the receipt's grant status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusProof>,
    /// The witness policy the bundle was made for (must equal the verifier's trusted policy).
    pub policy: WitnessPolicy,
    /// For an `access.receipt` in leaf format 2: what the gate verified just before the read
    /// (required then, refused otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_read: Option<AtReadProof>,
    /// For a `records.batch` entry (bundle version 3): one record version sealed in the batch,
    /// with its path to the batch root. Its content is not in the bundle; the verifier is given
    /// it separately ([`crate::record::check_content`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordProof>,
    /// Where the bundle's checkpoint was anchored on an EVM chain (bundle version 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<AnchorRef>,
    /// For a device entry (bundle version 4; required for `device.registered` then): the
    /// device's current state and holder as of the checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceStatusProof>,
    /// For a `records.batch` entry (bundle version 4): one device reading sealed in the batch,
    /// with its path and the device's passport entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reading: Option<ReadingProof>,
}

/// An EVM transaction whose calldata is the SHA-256 of the bundle's checkpoint note, exactly
/// as given in `checkpoint`. The verifier checks the hash; looking the transaction up on the
/// chain is left to whoever wants the extra witness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnchorRef {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Transaction hash, `0x` and 64 hex digits.
    pub tx_hash: String,
    /// Block the transaction is in.
    pub block_number: u64,
    /// SHA-256 of the checkpoint note: the transaction's calldata.
    pub checkpoint_sha256: Hash,
}

impl ProofBundle {
    /// Parses bundle JSON.
    ///
    /// # Errors
    /// [`Error::BadBundle`] with serde's description of the problem.
    pub fn from_json(s: &str) -> Result<Self> {
        if s.len() > MAX_BUNDLE_BYTES {
            return Err(Error::BadBundle(format!("{} bytes exceeds {MAX_BUNDLE_BYTES}", s.len())));
        }
        serde_json::from_str(s).map_err(|e| Error::BadBundle(e.to_string()))
    }

    /// Pretty JSON.
    ///
    /// # Errors
    /// Never in practice ([`Error::BadBundle`] if serialisation fails).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::BadBundle(e.to_string()))
    }
}

/// The grant status a bundle proved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusVerdict {
    /// Grant id whose status was proven.
    pub grant_id: GrantId,
    /// Status in the map; `None` = proven absent (never issued as of this checkpoint).
    pub status: Option<GrantStatus>,
    /// Whether the grant is usable at `now`: present, active, and `now < until`.
    pub active_now: bool,
    /// Map version of the status root.
    pub map_version: u64,
    /// Status root.
    pub map_root: Hash,
}

/// What a successful [`verify_bundle`] established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The decoded entry.
    pub event: Event,
    /// Its index in the log.
    pub index: u64,
    /// The checkpoint it is included in.
    pub checkpoint: Checkpoint,
    /// Witnesses whose cosignatures counted.
    pub cosigners: Vec<ValidCosignature>,
    /// Grant status, when the bundle carries one.
    pub status: Option<StatusVerdict>,
    /// For a receipt: the grant's state at the time of the read.
    pub at_read: Option<AtReadVerdict>,
    /// For a sealed record: what its proof established (content not yet checked).
    pub record: Option<RecordVerdict>,
    /// The anchor whose calldata the checkpoint's hash matched.
    pub anchor: Option<AnchorRef>,
    /// For a passport: the device as registered and its state at the checkpoint.
    pub passport: Option<PassportVerdict>,
    /// For a sealed reading: the reading, checked with its passport's key, and when it was sealed.
    pub reading: Option<ReadingVerdict>,
}

/// Checks an entry and its status proof against an already verified checkpoint (the gate's
/// per-query check once the checkpoint's quorum is cached).
///
/// # Errors
/// [`Error::BundleMismatch`], [`Error::StatusRootNotBound`], [`Error::BadMapProof`],
/// [`Error::BadLeaf`], [`Error::BadBundle`].
pub fn verify_entry(
    cp: &Checkpoint,
    entry: &EntryProof,
    status: Option<&StatusProof>,
    now: u64,
) -> Result<(Event, Option<StatusVerdict>)> {
    let event = entry.verify(cp, "entry")?;
    let needs_status = matches!(event, Event::GrantIssued { .. } | Event::GrantRevoked { .. });
    let status = match (status, event.grant_id()) {
        (None, _) if needs_status => {
            return Err(Error::BundleMismatch(format!("a {} bundle must carry a status proof", event.type_name())));
        }
        (None, _) => None,
        (Some(_), None) => {
            return Err(Error::BundleMismatch(format!("a {} entry has no grant status", event.type_name())));
        }
        (Some(sp), Some(grant_id)) => Some(verify_status(cp, sp, grant_id, now)?),
    };
    Ok((event, status))
}

/// The map root and version of a `status.root` entry, checked to close the checkpoint: its
/// last leaf, covering every leaf before it.
fn bound_status_root(cp: &Checkpoint, entry: &EntryProof) -> Result<(Hash, u64)> {
    if cp.size == 0 || entry.index != cp.size - 1 {
        return Err(Error::StatusRootNotBound(format!(
            "it is at index {}, but must be the last entry ({}) of the checkpoint",
            entry.index,
            cp.size.saturating_sub(1)
        )));
    }
    let ev = entry.verify(cp, "status.root entry")?;
    let Event::StatusRoot { map_root, map_version, log_size, .. } = ev else {
        return Err(Error::StatusRootNotBound(format!("the entry is a {}, not a status.root", ev.type_name())));
    };
    if log_size != entry.index {
        return Err(Error::StatusRootNotBound(format!("its log_size {log_size} is not its index {}", entry.index)));
    }
    Ok((map_root, map_version))
}

fn verify_status(cp: &Checkpoint, sp: &StatusProof, grant_id: GrantId, now: u64) -> Result<StatusVerdict> {
    let (map_root, map_version) = bound_status_root(cp, &sp.entry)?;
    sp.map_proof.verify(&map_root, &grant_id, sp.status.as_ref())?;
    let active_now = matches!(sp.status, Some(GrantStatus::Active { until }) if now < until);
    Ok(StatusVerdict { grant_id, status: sp.status, active_now, map_version, map_root })
}

/// A device entry's state proof: the map holds `status` for the entry's device at the
/// checkpoint, and for a registration, the passport it published.
fn verify_device(cp: &Checkpoint, event: &Event, index: u64, dp: &DeviceStatusProof) -> Result<PassportVerdict> {
    let Some(device_id) = event.device_id() else {
        return Err(Error::BundleMismatch(format!("a {} entry has no device status", event.type_name())));
    };
    let Some(passport) = passport_of(event) else {
        return Err(Error::BundleMismatch(format!(
            "entry {index} is a {}; a passport bundle proves a device.registered entry",
            event.type_name()
        )));
    };
    let (map_root, map_version) = bound_status_root(cp, &dp.entry)?;
    dp.map_proof
        .verify_device(&map_root, &device_id, Some(&dp.status))
        .map_err(|e| Error::BadPassport(format!("device status: {e}")))?;
    if dp.status.since < passport.registered_at {
        return Err(Error::BadPassport(format!(
            "the device's status is dated {}, before its registration at {}",
            dp.status.since, passport.registered_at
        )));
    }
    Ok(PassportVerdict { passport, status: dp.status, map_version })
}

/// Verifies a bundle offline against the verifier's trusted policy (pinned log and witness
/// keys and quorum) at time `now` (Unix seconds): policy match, log signature, quorum of
/// cosignatures, entry inclusion, and for grants the status-root binding and map proof.
///
/// # Errors
/// The first check that fails, e.g. [`Error::PolicyMismatch`], [`Error::BadLogSignature`],
/// [`Error::QuorumNotMet`], [`Error::BundleMismatch`] ("entry: inclusion proof does not lead
/// to checkpoint root"), [`Error::StatusRootNotBound`], [`Error::BadMapProof`].
pub fn verify_bundle(bundle: &ProofBundle, trusted: &WitnessPolicy, now: u64) -> Result<Verdict> {
    if ![BUNDLE_V1, BUNDLE_VERSION, BUNDLE_V3, BUNDLE_V4].contains(&bundle.version) {
        return Err(Error::UnsupportedBundleVersion(bundle.version));
    }
    if bundle.version == BUNDLE_V1 && bundle.at_read.is_some() {
        return Err(Error::BadBundle("a version 1 bundle has no at_read".into()));
    }
    if bundle.version < BUNDLE_V3 && (bundle.record.is_some() || bundle.anchor.is_some()) {
        return Err(Error::BadBundle(format!("a version {} bundle has no record or anchor", bundle.version)));
    }
    if bundle.version < BUNDLE_V4 && (bundle.device.is_some() || bundle.reading.is_some()) {
        return Err(Error::BadBundle(format!("a version {} bundle has no device status or reading", bundle.version)));
    }
    if bundle.record.is_some() && bundle.reading.is_some() {
        return Err(Error::BadBundle("a bundle proves a record or a reading, not both".into()));
    }
    if bundle.policy != *trusted {
        let detail = if bundle.policy.log_key() != trusted.log_key() {
            "log key differs".to_owned()
        } else if bundle.policy.quorum() != trusted.quorum() {
            format!("quorum {} instead of {}", bundle.policy.quorum(), trusted.quorum())
        } else {
            "witness keys or tolerance differ".to_owned()
        };
        return Err(Error::PolicyMismatch(detail));
    }
    let signed = SignedCheckpoint::parse(bundle.checkpoint.as_bytes())?;
    let report = trusted.require_quorum(&signed, now)?;
    let (event, status) = verify_entry(&signed.checkpoint, &bundle.entry, bundle.status.as_ref(), now)?;
    let at_read = match (&bundle.at_read, &event) {
        (Some(p), _) => Some(verify_at_read(&signed.checkpoint, &event, bundle.entry.index, p, trusted, now)?),
        (None, Event::AccessReceipt { verified_at: Some(_), .. }) => {
            return Err(Error::BundleMismatch(
                "a receipt that names the checkpoint it was verified against must carry at_read".into(),
            ));
        }
        (None, _) => None,
    };
    let record = bundle.record.as_ref().map(|p| verify_record(&event, p, None)).transpose()?;
    let reading = bundle.reading.as_ref().map(|p| verify_reading(&signed.checkpoint, &event, p)).transpose()?;
    let passport = match (&bundle.device, passport_of(&event)) {
        (Some(dp), _) => Some(verify_device(&signed.checkpoint, &event, bundle.entry.index, dp)?),
        (None, Some(_)) if bundle.version >= BUNDLE_V4 => {
            return Err(Error::BundleMismatch(
                "a version 4 bundle of a device.registered entry must carry the device's status".into(),
            ));
        }
        (None, _) => None,
    };
    if let Some(a) = &bundle.anchor {
        let digest = Hash::sha256(bundle.checkpoint.as_bytes());
        if a.checkpoint_sha256 != digest {
            return Err(Error::BundleMismatch(format!(
                "the anchor's checkpoint hash {} is not the SHA-256 of the bundle's checkpoint ({digest})",
                a.checkpoint_sha256
            )));
        }
    }
    Ok(Verdict {
        event,
        index: bundle.entry.index,
        checkpoint: signed.checkpoint,
        cosigners: report.valid,
        status,
        at_read,
        record,
        anchor: bundle.anchor.clone(),
        passport,
        reading,
    })
}

/// Parses the ledger's published keys (`/ledger/keys`): the log's verifier key on the first
/// line, one witness key per line, then `quorum K`. Blank lines are ignored.
///
/// # Errors
/// [`Error::BadPolicy`] naming the line that is wrong, or what [`WitnessPolicy::new`] refuses.
pub fn parse_policy(text: &str) -> Result<WitnessPolicy> {
    use crate::note::VerifierKey;
    let mut lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let quorum = lines
        .pop()
        .and_then(|l| l.strip_prefix("quorum "))
        .ok_or_else(|| Error::BadPolicy("the keys must end with a line `quorum K`".into()))?
        .parse::<usize>()
        .map_err(|_| Error::BadPolicy("quorum is not a number".into()))?;
    let Some((log, witnesses)) = lines.split_first() else {
        return Err(Error::BadPolicy("there is no log key".into()));
    };
    let log = VerifierKey::parse(log).map_err(|e| Error::BadPolicy(format!("log key (first line): {e}")))?;
    let witnesses = witnesses
        .iter()
        .map(|w| VerifierKey::parse(w).map_err(|e| Error::BadPolicy(format!("witness key {w:?}: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    WitnessPolicy::new(log, witnesses, quorum)
}
