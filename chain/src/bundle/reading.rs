//! Sealed readings: the part of a bundle that proves a device's signed reading existed by a
//! time (docs/ledger-format.md §8.5).
//!
//! The city seals accepted readings in `records.batch` entries, like confirmation records: each
//! reading's leaf is the RFC 6962 leaf hash of [`SignedReading::seal_commitment`]. The bundle's
//! entry is the batch; `reading` carries the signed reading, its position and path in the batch,
//! and the device's `device.registered` entry included in the same checkpoint, so a verifier
//! checks the signature with the key the passport published: this reading, signed by that
//! device, was sealed by the batch's `period_end`.

use serde::{Deserialize, Serialize};

use super::EntryProof;
use crate::device::{Reading, SignedReading, passport_of};
use crate::error::{Error, Result};
use crate::hash::Hash;
use crate::leaf::{Event, Pseudonym};
use crate::note::Checkpoint;
use crate::tree::verify_inclusion;

/// One sealed reading, with what checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadingProof {
    /// The reading as the device signed and posted it.
    pub reading: SignedReading,
    /// 0-based position of its leaf in the batch.
    pub position: u64,
    /// RFC 6962 inclusion proof of its leaf under the batch's `batch_root`, bottom-up.
    pub batch_path: Vec<Hash>,
    /// The device's `device.registered` entry, included in the bundle's checkpoint.
    pub passport: EntryProof,
}

/// What a verified reading proof established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadingVerdict {
    /// The reading, its signature checked with the passport's key.
    pub reading: Reading,
    /// The passport's entry index.
    pub passport_index: u64,
    /// Who registered the device (a pseudonym at the device registry).
    pub registrant: Pseudonym,
    /// The device's kind, brand and model as registered.
    pub kind: String,
    pub brand: String,
    pub model: String,
    /// The batch's `period_end`: the reading existed, exactly so, by then.
    pub sealed_by: u64,
    /// Readings and records in the batch.
    pub batch_size: u64,
}

/// Checks a reading proof against its batch (the bundle's entry, already verified in `cp`).
///
/// # Errors
/// [`Error::BadReading`] naming what fails: the entry is not a batch, the passport entry is not
/// in the checkpoint or not a registration of the reading's device, the signature does not
/// verify with its key, or the reading's commitment is not in the batch.
pub fn verify_reading(cp: &Checkpoint, batch: &Event, proof: &ReadingProof) -> Result<ReadingVerdict> {
    let Event::RecordsBatch { batch_root, count, period_end, .. } = batch else {
        return Err(Error::BadReading(format!("the proven entry is a {}, not a records.batch", batch.type_name())));
    };
    let registration = proof.passport.verify(cp, "reading's passport entry")?;
    let Some(passport) = passport_of(&registration) else {
        return Err(Error::BadReading(format!(
            "entry {} is a {}, not the device's registration",
            proof.passport.index,
            registration.type_name()
        )));
    };
    let reading = &proof.reading.reading;
    if passport.device_id != reading.device_id {
        return Err(Error::BadReading(format!(
            "the passport is device {}'s, the reading names device {}",
            passport.device_id, reading.device_id
        )));
    }
    proof.reading.verify(passport.key_type, &passport.public_key, &passport.device_id).map_err(|e| match e {
        Error::BadReadingSignature => {
            Error::BadReading("the reading's signature does not verify with its passport's key".into())
        }
        other => other,
    })?;
    if proof.position >= *count {
        return Err(Error::BadReading(format!("position {} is outside a batch of {count}", proof.position)));
    }
    verify_inclusion(&proof.batch_path, *count, batch_root, proof.position, &proof.reading.batch_leaf()?).map_err(
        |_| Error::BadReading("the reading's commitment is not in the batch (path does not lead to batch_root)".into()),
    )?;
    Ok(ReadingVerdict {
        reading: reading.clone(),
        passport_index: proof.passport.index,
        registrant: passport.owner,
        kind: passport.kind,
        brand: passport.brand,
        model: passport.model,
        sealed_by: *period_end,
        batch_size: *count,
    })
}
