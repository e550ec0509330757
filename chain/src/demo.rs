//! A deterministic, in-memory ledger with a log key and four witnesses, for tests,
//! benchmarks, golden vectors and the server's demo seed. It shows how the sequencer uses the
//! pieces: append entries, update the status map, close each checkpoint with a `status.root`
//! entry, sign, collect cosignatures, and assemble proof bundles.
//!
//! Keys come from fixed seeds: never use them outside tests and demos.

use crate::bundle::{
    AtReadProof, BUNDLE_V3, BUNDLE_V4, BUNDLE_VERSION, DeviceStatusProof, EntryProof, ProofBundle, ReadingProof,
    StatusProof,
};
use crate::cosign::{CosignatureSigner, Ed25519Cosigner, WitnessPolicy};
use crate::device::{SignedReading, StatusUpdate};
use crate::error::{Error, Result};
use crate::hash::Hash;
use crate::leaf::{Event, GrantId};
use crate::note::{Checkpoint, NoteSigner, SignedCheckpoint};
use crate::record::{RecordProof, RecordVersion};
use crate::status::{MemoryStatusStore, StatusMap};
use crate::tree::{MemoryHashStore, prove_consistency, prove_inclusion};

/// Log origin and key name of the demo log.
pub const LOG_NAME: &str = "ledger.onecity.example";
/// Key names of the four demo witnesses.
pub const WITNESS_NAMES: [&str; 4] = [
    "witness.databureau.onecity.example",
    "witness.court.onecity.example",
    "witness.notary.onecity.example",
    "witness.audit.onecity.example",
];

/// A batch of record versions the demo ledger sealed.
#[derive(Debug, Clone)]
pub struct SealedBatch {
    /// Leaf index of its `records.batch` entry.
    pub index: u64,
    /// The versions, in batch order.
    pub versions: Vec<RecordVersion>,
    /// The batch tree's stored hashes ([`crate::record::batch_tree`]).
    pub stored: Vec<Hash>,
}

/// A batch of device readings the demo ledger sealed.
#[derive(Debug, Clone)]
pub struct SealedReadings {
    /// Leaf index of its `records.batch` entry.
    pub index: u64,
    /// The readings, in batch order.
    pub readings: Vec<SignedReading>,
    /// The batch tree's stored hashes.
    pub stored: Vec<Hash>,
}

/// Three property-title versions (the second an amendment of the first) and their contents.
#[must_use]
pub fn sample_records() -> Vec<(RecordVersion, serde_json::Value)> {
    let content = |address: &str, share: u32| serde_json::json!({"address": address, "registered": "2019-06-12", "share_percent": share});
    let version = |id: u8, version: u32, at: u64, content: &serde_json::Value| RecordVersion {
        record_id: [id; 16],
        version,
        scope: "property.titles".into(),
        recorded_at: at,
        content_hash: crate::record::content_hash(content).expect("an object"),
        salt: [id.wrapping_mul(31).wrapping_add(u8::try_from(version).unwrap_or(0)); 32],
    };
    [
        (0x71, 1, 1_767_300_000, content("12 Harbour Road, flat 3", 100)),
        (0x71, 2, 1_767_300_500, content("12 Harbour Road, flat 3", 50)),
        (0x72, 1, 1_767_300_900, content("8 Old Town Lane", 100)),
    ]
    .into_iter()
    .map(|(id, v, at, c)| (version(id, v, at, &c), c))
    .collect()
}

/// The demo ledger.
#[derive(Debug)]
pub struct DemoLedger {
    /// Log signing key.
    pub log: NoteSigner,
    /// Witness keys.
    pub witnesses: Vec<Ed25519Cosigner>,
    /// Policy: the four witnesses, quorum 3.
    pub policy: WitnessPolicy,
    /// Tree hashes.
    pub tree: MemoryHashStore,
    /// Entry bytes by index.
    pub entries: Vec<Vec<u8>>,
    /// Grant status map.
    pub status: StatusMap<MemoryStatusStore>,
    pending: Vec<StatusUpdate>,
    next_map_version: u64,
    /// `(checkpoint size, map version)` of each checkpoint made.
    pub checkpoints: Vec<(u64, u64)>,
    /// Each checkpoint made, signed and cosigned.
    signed: Vec<SignedCheckpoint>,
}

impl DemoLedger {
    /// A new empty ledger with deterministic keys.
    ///
    /// # Errors
    /// Never in practice.
    pub fn new() -> Result<Self> {
        let log = NoteSigner::from_seed(LOG_NAME, &[1u8; 32])?;
        let witnesses = WITNESS_NAMES
            .iter()
            .zip(10u8..)
            .map(|(n, s)| Ed25519Cosigner::from_seed(n, &[s; 32]))
            .collect::<Result<Vec<_>>>()?;
        let policy = WitnessPolicy::new(log.verifier_key(), witnesses.iter().map(|w| w.verifier_key()).collect(), 3)?;
        Ok(Self {
            log,
            witnesses,
            policy,
            tree: MemoryHashStore::new(),
            entries: Vec::new(),
            status: StatusMap::new(MemoryStatusStore::new()),
            pending: Vec::new(),
            next_map_version: 0,
            checkpoints: Vec::new(),
            signed: Vec::new(),
        })
    }

    /// Appends an event; grant and device events also queue a status-map update.
    ///
    /// # Errors
    /// Encoding errors.
    pub fn append(&mut self, event: &Event) -> Result<u64> {
        let bytes = event.encode()?;
        self.append_raw(bytes)?;
        self.pending.extend(event.status_update());
        Ok(self.tree.size() - 1)
    }

    fn append_raw(&mut self, bytes: Vec<u8>) -> Result<u64> {
        let i = self.tree.append(&bytes)?;
        self.entries.push(bytes);
        Ok(i)
    }

    /// Applies queued status updates as a new map version, appends the `status.root` entry,
    /// and returns the checkpoint signed by the log and cosigned by every witness at `time`.
    ///
    /// # Errors
    /// Status store errors.
    pub fn checkpoint(&mut self, time: u64) -> Result<SignedCheckpoint> {
        let version = self.next_map_version;
        self.next_map_version += 1;
        let updates = std::mem::take(&mut self.pending);
        let (map_root, _) = self.status.apply_with_batch(version, &updates)?;
        let log_size = self.tree.size();
        self.append_raw(Event::StatusRoot { map_root, map_version: version, log_size, time }.encode()?)?;
        let cp = Checkpoint::new(LOG_NAME, self.tree.size(), self.tree.root()?);
        let mut signed = SignedCheckpoint::sign(cp, &self.log);
        let mut cosigs = Vec::new();
        for w in &self.witnesses {
            cosigs.push(w.cosign(&signed.checkpoint, time)?);
        }
        signed.add_signatures(cosigs);
        self.checkpoints.push((self.tree.size(), version));
        self.signed.push(signed.clone());
        Ok(signed)
    }

    /// Assembles the proof bundle of entry `index` against checkpoint `signed` (one this
    /// ledger made).
    ///
    /// # Errors
    /// [`Error::BadBundle`] when the checkpoint is unknown; store errors.
    pub fn bundle(&self, index: u64, signed: &SignedCheckpoint) -> Result<ProofBundle> {
        let size = signed.checkpoint.size;
        let entry_bytes = self.entry(index)?;
        let entry = EntryProof::new(index, entry_bytes, prove_inclusion(size, index, &self.tree)?);
        let event = Event::decode(entry_bytes)?;
        let status = event.grant_id().map(|g| self.status_proof(size, g)).transpose()?;
        let at_read = match &event {
            Event::AccessReceipt { grant_id, verified_at: Some(at), .. } => {
                Some(self.at_read(size, *grant_id, at.size)?)
            }
            _ => None,
        };
        Ok(ProofBundle {
            version: BUNDLE_VERSION,
            entry,
            checkpoint: String::from_utf8_lossy(&signed.to_bytes()).into_owned(),
            status,
            policy: self.policy.clone(),
            at_read,
            record: None,
            anchor: None,
            device: None,
            reading: None,
        })
    }

    /// The passport bundle of the `device.registered` entry at `index` against checkpoint
    /// `signed`: the entry and the device's status at that checkpoint.
    ///
    /// # Errors
    /// An entry that is not about a device; as [`Self::bundle`].
    pub fn passport_bundle(&self, index: u64, signed: &SignedCheckpoint) -> Result<ProofBundle> {
        let size = signed.checkpoint.size;
        let event = Event::decode(self.entry(index)?)?;
        let device_id =
            event.device_id().ok_or_else(|| Error::BadBundle(format!("entry {index} is not a device's")))?;
        let version = self.map_version(size)?;
        let (status, map_proof) = self.status.get_device_with_proof(version, &device_id)?;
        let status = status.ok_or_else(|| Error::BadBundle(format!("device {device_id} is not in the map")))?;
        let si = size - 1;
        let mut bundle = self.bundle(index, signed)?;
        bundle.version = BUNDLE_V4;
        bundle.device = Some(DeviceStatusProof {
            entry: EntryProof::new(si, self.entry(si)?, prove_inclusion(size, si, &self.tree)?),
            status,
            map_proof,
        });
        Ok(bundle)
    }

    fn map_version(&self, size: u64) -> Result<u64> {
        self.checkpoints
            .iter()
            .find(|(s, _)| *s == size)
            .map(|&(_, v)| v)
            .ok_or_else(|| Error::BadBundle(format!("no checkpoint of size {size}")))
    }

    /// Seals record versions as one `records.batch` entry over `[period_start, period_end)`
    /// (what the server's sealer does), returning the batch to prove records of.
    ///
    /// # Errors
    /// A version recorded outside the period; encoding errors.
    pub fn seal(&mut self, versions: Vec<RecordVersion>, period_start: u64, period_end: u64) -> Result<SealedBatch> {
        if let Some(v) = versions.iter().find(|v| v.recorded_at < period_start || v.recorded_at >= period_end) {
            return Err(Error::BadRecord(format!("version recorded at {} is outside the period", v.recorded_at)));
        }
        let leaves = versions.iter().map(RecordVersion::batch_leaf).collect::<Result<Vec<_>>>()?;
        let (batch_root, stored) = crate::record::batch_tree(&leaves)?;
        let event = Event::RecordsBatch { batch_root, count: versions.len() as u64, period_start, period_end };
        let index = self.append(&event)?;
        Ok(SealedBatch { index, versions, stored })
    }

    /// The existence proof of the version at `position` of `batch` against checkpoint `signed`.
    ///
    /// # Errors
    /// A position outside the batch; as [`Self::bundle`].
    pub fn record_bundle(&self, batch: &SealedBatch, position: u64, signed: &SignedCheckpoint) -> Result<ProofBundle> {
        let record = usize::try_from(position)
            .ok()
            .and_then(|p| batch.versions.get(p))
            .cloned()
            .ok_or(Error::IndexOutOfRange { index: position, size: batch.versions.len() as u64 })?;
        let batch_path = path_in(&batch.stored, batch.versions.len() as u64, position)?;
        let mut bundle = self.bundle(batch.index, signed)?;
        bundle.version = BUNDLE_V3;
        bundle.record = Some(RecordProof { record, position, batch_path });
        Ok(bundle)
    }

    /// Seals device readings as one `records.batch` entry over `[period_start, period_end)`
    /// (what the server's reading sealer does).
    ///
    /// # Errors
    /// A malformed reading; encoding errors.
    pub fn seal_readings(
        &mut self,
        readings: Vec<SignedReading>,
        period_start: u64,
        period_end: u64,
    ) -> Result<SealedReadings> {
        let leaves = readings.iter().map(SignedReading::batch_leaf).collect::<Result<Vec<_>>>()?;
        let (batch_root, stored) = crate::record::batch_tree(&leaves)?;
        let event = Event::RecordsBatch { batch_root, count: readings.len() as u64, period_start, period_end };
        let index = self.append(&event)?;
        Ok(SealedReadings { index, readings, stored })
    }

    /// The existence proof of the reading at `position` of `batch`, with the device's
    /// registration entry at `passport`, against checkpoint `signed`.
    ///
    /// # Errors
    /// A position outside the batch; as [`Self::bundle`].
    pub fn reading_bundle(
        &self,
        batch: &SealedReadings,
        position: u64,
        passport: u64,
        signed: &SignedCheckpoint,
    ) -> Result<ProofBundle> {
        let reading = usize::try_from(position)
            .ok()
            .and_then(|p| batch.readings.get(p))
            .cloned()
            .ok_or(Error::IndexOutOfRange { index: position, size: batch.readings.len() as u64 })?;
        let size = signed.checkpoint.size;
        let batch_path = path_in(&batch.stored, batch.readings.len() as u64, position)?;
        let passport = EntryProof::new(passport, self.entry(passport)?, prove_inclusion(size, passport, &self.tree)?);
        let mut bundle = self.bundle(batch.index, signed)?;
        bundle.version = BUNDLE_V4;
        bundle.reading = Some(ReadingProof { reading, position, batch_path, passport });
        Ok(bundle)
    }

    /// The grant's status proof in the checkpoint of `size` (one this ledger made).
    fn status_proof(&self, size: u64, grant: GrantId) -> Result<StatusProof> {
        let version = self.map_version(size)?;
        let si = size - 1;
        let (status, map_proof) = self.status.get_with_proof(version, &grant)?;
        Ok(StatusProof {
            entry: EntryProof::new(si, self.entry(si)?, prove_inclusion(size, si, &self.tree)?),
            status,
            map_proof,
        })
    }

    /// What the gate would have verified before a read of `grant` against the checkpoint of
    /// `verified` entries, for a bundle against the checkpoint of `size`.
    fn at_read(&self, size: u64, grant: GrantId, verified: u64) -> Result<AtReadProof> {
        let signed = self
            .signed
            .iter()
            .find(|c| c.checkpoint.size == verified)
            .ok_or_else(|| Error::BadBundle(format!("no checkpoint of size {verified}")))?;
        let issued = (0..verified)
            .rev()
            .find(|&i| {
                self.entry(i)
                    .ok()
                    .and_then(|b| Event::decode(b).ok())
                    .is_some_and(|e| matches!(e, Event::GrantIssued { grant_id, .. } if grant_id == grant))
            })
            .ok_or_else(|| Error::BadBundle(format!("grant {grant} is not issued before entry {verified}")))?;
        Ok(AtReadProof {
            checkpoint: String::from_utf8_lossy(&signed.to_bytes()).into_owned(),
            grant: EntryProof::new(issued, self.entry(issued)?, prove_inclusion(verified, issued, &self.tree)?),
            status: self.status_proof(verified, grant)?,
            consistency: prove_consistency(size, verified, &self.tree)?,
        })
    }

    fn entry(&self, index: u64) -> Result<&[u8]> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.entries.get(i))
            .map(Vec::as_slice)
            .ok_or(Error::IndexOutOfRange { index, size: self.tree.size() })
    }
}

/// The path of `position` in a batch of `count` from its stored hashes.
fn path_in(stored: &[Hash], count: u64, position: u64) -> Result<Vec<Hash>> {
    let indexes = crate::record::path_indexes(count, position)?;
    let hashes: Vec<Hash> = indexes.iter().map(|&i| stored[usize::try_from(i).unwrap_or(usize::MAX)]).collect();
    crate::record::path_from(count, position, &indexes, &hashes)
}

/// Sample events of every type (deterministic), used by golden vectors and docs.
#[must_use]
pub fn sample_events() -> Vec<Event> {
    use crate::hash::Hash;
    use crate::leaf::{DeviceId, Pseudonym};
    let service = Event::ServicePublished {
        agency: "transit-authority".into(),
        service: "senior-fare".into(),
        version: 2,
        purpose: "Apply the senior discount to your transit fares".into(),
        scopes: vec!["identity.age_over_65".into(), "transit.trips".into()],
        retention_days: 365,
    };
    let svh = service.leaf_hash().unwrap_or_default();
    vec![
        service,
        Event::GrantIssued {
            grant_id: GrantId([0x11; 16]),
            resident: Pseudonym([0xaa; 32]),
            service_version_hash: svh,
            scopes: vec!["identity.age_over_65".into(), "transit.trips".into()],
            purpose: "Apply the senior discount to your transit fares".into(),
            valid_from: 1_767_225_600,
            valid_until: 1_798_761_600,
        },
        Event::GrantRevoked {
            grant_id: GrantId([0x22; 16]),
            resident: Pseudonym([0xbb; 32]),
            revoked_at: 1_767_312_000,
        },
        Event::AccessReceipt {
            grant_id: GrantId([0x11; 16]),
            reader: "transit-authority/fare-engine".into(),
            scopes: vec!["identity.age_over_65".into()],
            purpose: "Apply the senior discount to your transit fares".into(),
            time: 1_767_400_000,
            verified_at: None,
        },
        Event::RecordsBatch {
            batch_root: crate::leaf::batch_root(&[Hash::sha256(b"title-1"), Hash::sha256(b"title-2")]),
            count: 2,
            period_start: 1_767_225_600,
            period_end: 1_767_312_000,
        },
        Event::DeviceRegistered {
            device_id: DeviceId([0x33; 16]),
            owner: Pseudonym([0xcc; 32]),
            kind: "meter.electricity".into(),
            key_type: 0x01,
            public_key: vec![0x44; 32],
            registered_at: 1_767_300_000,
        },
        Event::StatusRoot { map_root: Hash([0x55; 32]), map_version: 7, log_size: 42, time: 1_767_400_100 },
        Event::ServicePublishedV2(sample_terms()),
        Event::AccessReceipt {
            grant_id: GrantId([0x11; 16]),
            reader: "transit-authority/client/fare-engine".into(),
            scopes: vec!["identity.age_over_65".into()],
            purpose: "Apply the senior discount to your transit fares".into(),
            time: 1_767_400_000,
            verified_at: Some(crate::leaf::CheckpointRef { size: 42, root: Hash([0x66; 32]) }),
        },
        Event::RecordsErased {
            seals: vec![
                crate::leaf::SealRef { batch_root: Hash([0x77; 32]), position: 0 },
                crate::leaf::SealRef { batch_root: Hash([0x77; 32]), position: 1 },
            ],
            requested_by: "resident".into(),
            erased_at: 1_767_400_200,
        },
        Event::DeviceRegisteredV2(sample_passport()),
        Event::DeviceTransferred {
            device_id: DeviceId([0x33; 16]),
            from: Pseudonym([0xcc; 32]),
            to: Pseudonym([0xdd; 32]),
            transferred_at: 1_767_500_000,
        },
        Event::DeviceStatus {
            device_id: DeviceId([0x33; 16]),
            owner: Pseudonym([0xdd; 32]),
            state: crate::leaf::DeviceState::Retired,
            reason: "replaced by a new meter".into(),
            changed_at: 1_767_600_000,
        },
        Event::RuleGranted(sample_rule()),
        Event::RuleFired(crate::leaf::Firing {
            rule_id: GrantId([0x66; 16]),
            trigger_counter: 17,
            reading_hash: Hash([0x77; 32]),
            command: "close".into(),
            fired_at: 1_767_700_100,
            verified_at: crate::leaf::CheckpointRef { size: 12, root: Hash([0x88; 32]) },
        }),
    ]
}

/// A sample linkage rule: when the leak sensor `0x34…` reports `leak == 1` between 23:00 and
/// 06:00 Beijing time, close the valve `0x35…` and tell the owner.
#[must_use]
pub fn sample_rule() -> crate::leaf::Rule {
    crate::leaf::Rule {
        rule_id: GrantId([0x66; 16]),
        owner: crate::leaf::Pseudonym([0xdd; 32]),
        trigger: crate::leaf::DeviceId([0x34; 16]),
        metric: "leak".into(),
        comparison: crate::leaf::Comparison::Equal,
        threshold: 1,
        action_device: crate::leaf::DeviceId([0x35; 16]),
        command: "close".into(),
        notify: true,
        window: Some(crate::leaf::DayWindow { start: 23 * 60, end: 6 * 60, utc_offset_minutes: 480 }),
        valid_from: 1_767_700_000,
        valid_until: 1_799_236_000,
    }
}

/// Seed of the sample device's key (never use outside tests and demos).
pub const SAMPLE_DEVICE_SEED: [u8; 32] = [0x42; 32];

/// The sample device's passport: a water meter whose key is [`SAMPLE_DEVICE_SEED`]'s.
#[must_use]
pub fn sample_passport() -> crate::leaf::Passport {
    let device_id = crate::leaf::DeviceId([0x33; 16]);
    crate::leaf::Passport {
        device_id,
        owner: crate::leaf::Pseudonym([0xcc; 32]),
        kind: "meter.water".into(),
        brand: "Aquarius".into(),
        model: "AQ-200".into(),
        serial_commitment: crate::device::serial_commitment(&device_id, "AQ200-000123"),
        key_type: crate::leaf::KEY_ED25519,
        public_key: crate::device::public_key(&SAMPLE_DEVICE_SEED).to_vec(),
        registered_at: 1_767_300_000,
    }
}

/// The v1 sample service's terms in leaf format v2, with a daily limit, two districts and a
/// week of history.
#[must_use]
pub fn sample_terms() -> crate::leaf::ServiceTerms {
    crate::leaf::ServiceTerms {
        agency: "transit-authority".into(),
        service: "senior-fare".into(),
        version: 3,
        name_en: "Senior fares".into(),
        name_zh: "长者票价".into(),
        description_en: "Half-price rides for residents over 65.".into(),
        description_zh: "65岁以上居民乘车半价。".into(),
        category: "transport".into(),
        purpose: "Apply the senior discount to your transit fares".into(),
        required_scopes: vec!["identity.age_over_65".into()],
        optional_scopes: vec!["transit.trips".into()],
        retention_days: 365,
        access: crate::leaf::AccessMode::Recurring { max_reads_per_day: 4 },
        districts: vec!["harbour".into(), "old-town".into()],
        history_days: 7,
    }
}
