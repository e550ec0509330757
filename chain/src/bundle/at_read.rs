//! "Active at the time of the read": the part of a receipt's bundle that proves what the gate
//! verified just before the read (docs/ledger-format.md §8.2).
//!
//! An `access.receipt` in leaf format 2 names the quorum checkpoint the gate verified the grant
//! against. The bundle's `at_read` carries that checkpoint (signed and cosigned), the grant's
//! `grant.issued` entry included in it, the grant's status in its map, and the consistency proof
//! from it to the bundle's own checkpoint, which includes the receipt. Together: the grant was in
//! the log and active in the status map the witnesses cosigned before the read, the receipt came
//! after, and both are in one append-only history.

use serde::{Deserialize, Serialize};

use super::{EntryProof, StatusProof, StatusVerdict, verify_status};
use crate::cosign::{ValidCosignature, WitnessPolicy};
use crate::error::{Error, Result};
use crate::hash::Hash;
use crate::leaf::Event;
use crate::note::{Checkpoint, SignedCheckpoint};
use crate::tree::verify_consistency;

/// What the gate verified just before a read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtReadProof {
    /// The signed checkpoint note the gate verified against: the one the receipt names.
    pub checkpoint: String,
    /// The receipt's `grant.issued` entry, with its inclusion proof in that checkpoint.
    pub grant: EntryProof,
    /// The grant's status in that checkpoint's map.
    pub status: StatusProof,
    /// RFC 6962 consistency proof from that checkpoint to the bundle's checkpoint.
    pub consistency: Vec<Hash>,
}

/// What [`verify_at_read`] established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AtReadVerdict {
    /// The checkpoint the gate verified against.
    pub checkpoint: Checkpoint,
    /// Witnesses whose cosignatures on it counted.
    pub cosigners: Vec<ValidCosignature>,
    /// The grant's `grant.issued` entry.
    pub grant: Event,
    /// The grant's status in that checkpoint's map; `active_now` is evaluated at the read's time.
    pub status: StatusVerdict,
    /// The grant was active when the read happened: active in that map until after the read,
    /// and the read inside the grant's window.
    pub active_at_read: bool,
}

fn part(name: &str) -> impl Fn(Error) -> Error + '_ {
    move |e| Error::BundleMismatch(format!("{name}: {e}"))
}

/// Checks `proof` for the receipt `receipt` at `receipt_index`, proven in `later`.
///
/// # Errors
/// [`Error::BundleMismatch`] naming the part that fails: `at_read.checkpoint` (signature,
/// quorum, or not the checkpoint the receipt names), `at_read.consistency`, `at_read.grant`
/// (inclusion, type, or another grant), `at_read.status`.
pub fn verify_at_read(
    later: &Checkpoint,
    receipt: &Event,
    receipt_index: u64,
    proof: &AtReadProof,
    trusted: &WitnessPolicy,
    now: u64,
) -> Result<AtReadVerdict> {
    let Event::AccessReceipt { grant_id, time, verified_at: Some(named), .. } = receipt else {
        return Err(Error::BundleMismatch(
            "at_read: only an access.receipt in leaf format 2 names the checkpoint it was verified against".into(),
        ));
    };
    let signed = SignedCheckpoint::parse(proof.checkpoint.as_bytes()).map_err(part("at_read.checkpoint"))?;
    let report = trusted.require_quorum(&signed, now).map_err(part("at_read.checkpoint"))?;
    let cp = signed.checkpoint;
    if cp.size != named.size || cp.root != named.root {
        return Err(Error::BundleMismatch(format!(
            "at_read.checkpoint: size {} with root {} is not the checkpoint the receipt names (size {}, root {})",
            cp.size,
            cp.root.to_base64(),
            named.size,
            named.root.to_base64()
        )));
    }
    if receipt_index < cp.size {
        return Err(Error::BundleMismatch(format!(
            "at_read.checkpoint: the receipt (entry {receipt_index}) is inside the checkpoint of size {} it claims \
             to have been verified against before it was written",
            cp.size
        )));
    }
    verify_consistency(&proof.consistency, cp.size, &cp.root, later.size, &later.root).map_err(|e| {
        Error::BundleMismatch(format!(
            "at_read.consistency: the bundle's checkpoint (size {}) does not extend the one verified at the read \
             (size {}): {e}",
            later.size, cp.size
        ))
    })?;
    let grant = proof.grant.verify(&cp, "at_read.grant")?;
    let Event::GrantIssued { grant_id: issued, valid_from, valid_until, .. } = &grant else {
        return Err(Error::BundleMismatch(format!("at_read.grant: a {}, not a grant.issued", grant.type_name())));
    };
    if issued != grant_id {
        return Err(Error::BundleMismatch(format!(
            "at_read.grant: grant {issued} is not the receipt's grant {grant_id}"
        )));
    }
    let status = verify_status(&cp, &proof.status, *grant_id, *time).map_err(part("at_read.status"))?;
    let active_at_read = status.active_now && *valid_from <= *time && *time < *valid_until;
    Ok(AtReadVerdict { checkpoint: cp, cosigners: report.valid, grant, status, active_at_read })
}
