//! C2SP tlog-cosignature `cosignature/v1`, the k-of-n witness policy, and the C2SP
//! tlog-witness `add-checkpoint` request body.
//!
//! A `cosignature/v1` line is a note signature (type 0x04) whose bytes after the key id are
//! `u64 timestamp (big-endian) || Ed25519 signature[64]`, signed over
//! `"cosignature/v1\ntime <timestamp>\n" || checkpoint note text` (C2SP tlog-cosignature
//! §"Ed25519 signed message"). The cosigner vouches only for the first three lines.
//!
//! The algorithm is behind [`CosignatureVerifier`] / [`CosignatureSigner`]: a policy is built
//! from `vkey`s and [`cosignature_verifier`] picks the implementation by the vkey's type byte,
//! so adding ML-DSA-44 (type 0x06) later changes no caller.

use std::sync::Arc;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::note::{
    Checkpoint, NoteSignature, SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519, SignedCheckpoint, VerifierKey,
    is_valid_key_name, verify_ed25519,
};

mod add_checkpoint;

pub use self::add_checkpoint::*;

/// Largest timestamp allowed in a cosignature (C2SP tlog-cosignature: at most 2^63 - 1).
pub const MAX_TIMESTAMP: u64 = (1 << 63) - 1;
/// Default tolerance for cosignatures dated in the future, in seconds.
pub const DEFAULT_MAX_FUTURE_SECS: u64 = 300;

/// The message a `cosignature/v1` signs.
#[must_use]
pub fn cosignature_v1_message(checkpoint_text: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{checkpoint_text}").into_bytes()
}

/// Verifying side of a cosignature algorithm.
pub trait CosignatureVerifier: Send + Sync + std::fmt::Debug {
    /// The cosigner's key (name, type, public key).
    fn verifier_key(&self) -> &VerifierKey;
    /// Verifies `signature` (the note signature bytes after the key id) over `checkpoint`
    /// whose note text is `text`; returns the cosignature's timestamp.
    ///
    /// # Errors
    /// [`Error::MalformedCosignature`] or [`Error::BadCosignature`].
    fn verify(&self, text: &str, checkpoint: &Checkpoint, signature: &[u8]) -> Result<u64>;
}

/// Signing side of a cosignature algorithm.
pub trait CosignatureSigner: Send + Sync {
    /// The key to publish.
    fn verifier_key(&self) -> VerifierKey;
    /// Produces the signature line for `checkpoint` at `timestamp`.
    ///
    /// # Errors
    /// [`Error::MalformedCosignature`] when the timestamp exceeds [`MAX_TIMESTAMP`].
    fn cosign(&self, checkpoint: &Checkpoint, timestamp: u64) -> Result<NoteSignature>;
}

/// Ed25519 `cosignature/v1` cosigner (type 0x04).
#[derive(Clone)]
pub struct Ed25519Cosigner {
    key: VerifierKey,
    sk: SigningKey,
}

impl std::fmt::Debug for Ed25519Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ed25519Cosigner({})", self.key.name)
    }
}

impl Ed25519Cosigner {
    /// Derives the key from a caller-provided 32-byte seed.
    ///
    /// # Errors
    /// [`Error::BadKeyName`].
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self> {
        if !is_valid_key_name(name) {
            return Err(Error::BadKeyName(name.to_owned()));
        }
        let sk = SigningKey::from_bytes(seed);
        let key = VerifierKey::new(name, SIG_TYPE_COSIGNATURE_V1, sk.verifying_key().to_bytes().to_vec())?;
        Ok(Self { key, sk })
    }
}

impl CosignatureSigner for Ed25519Cosigner {
    fn verifier_key(&self) -> VerifierKey {
        self.key.clone()
    }

    fn cosign(&self, checkpoint: &Checkpoint, timestamp: u64) -> Result<NoteSignature> {
        if timestamp > MAX_TIMESTAMP {
            return Err(Error::MalformedCosignature(self.key.name.clone()));
        }
        let msg = cosignature_v1_message(&checkpoint.to_text(), timestamp);
        let mut sig = timestamp.to_be_bytes().to_vec();
        sig.extend_from_slice(&self.sk.sign(&msg).to_bytes());
        Ok(NoteSignature { name: self.key.name.clone(), key_id: self.key.key_id(), signature: sig })
    }
}

/// Ed25519 `cosignature/v1` verifier.
#[derive(Debug, Clone)]
pub struct Ed25519CosignatureVerifier {
    key: VerifierKey,
    vk: VerifyingKey,
}

impl CosignatureVerifier for Ed25519CosignatureVerifier {
    fn verifier_key(&self) -> &VerifierKey {
        &self.key
    }

    fn verify(&self, text: &str, _checkpoint: &Checkpoint, signature: &[u8]) -> Result<u64> {
        if signature.len() != 8 + 64 {
            return Err(Error::MalformedCosignature(self.key.name.clone()));
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&signature[..8]);
        let timestamp = u64::from_be_bytes(ts);
        if timestamp > MAX_TIMESTAMP {
            return Err(Error::MalformedCosignature(self.key.name.clone()));
        }
        if verify_ed25519(&self.vk, &cosignature_v1_message(text, timestamp), &signature[8..]) {
            Ok(timestamp)
        } else {
            Err(Error::BadCosignature(self.key.name.clone()))
        }
    }
}

/// Picks the cosignature implementation for a verifier key by its type byte.
///
/// # Errors
/// [`Error::UnsupportedSignatureType`] (e.g. 0x06 ML-DSA-44 until implemented),
/// [`Error::BadVerifierKey`].
pub fn cosignature_verifier(key: &VerifierKey) -> Result<Arc<dyn CosignatureVerifier>> {
    match key.sig_type {
        SIG_TYPE_COSIGNATURE_V1 => Ok(Arc::new(Ed25519CosignatureVerifier { key: key.clone(), vk: key.ed25519()? })),
        t => Err(Error::UnsupportedSignatureType(t)),
    }
}

/// Reads the timestamp of a `cosignature/v1` line without verifying it (for display, e.g.
/// the transparency page). Use a [`WitnessPolicy`] to decide whether it counts.
///
/// # Errors
/// [`Error::MalformedCosignature`] when the line is not 72 bytes after the key id or the
/// timestamp exceeds 2^63 - 1.
pub fn cosignature_timestamp(sig: &NoteSignature) -> Result<u64> {
    if sig.signature.len() != 8 + 64 {
        return Err(Error::MalformedCosignature(sig.name.clone()));
    }
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&sig.signature[..8]);
    let t = u64::from_be_bytes(ts);
    if t > MAX_TIMESTAMP {
        return Err(Error::MalformedCosignature(sig.name.clone()));
    }
    Ok(t)
}

/// A k-of-n witness policy for one log.
///
/// JSON form (in proof bundles): `{"log": "<vkey>", "witnesses": ["<vkey>", ...],
/// "quorum": k, "max_future_secs": 300}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "PolicyJson", into = "PolicyJson")]
pub struct WitnessPolicy {
    log: VerifierKey,
    log_vk: VerifyingKey,
    witnesses: Vec<Arc<dyn CosignatureVerifier>>,
    quorum: usize,
    max_future_secs: u64,
}

impl PartialEq for WitnessPolicy {
    fn eq(&self, o: &Self) -> bool {
        self.log == o.log
            && self.quorum == o.quorum
            && self.max_future_secs == o.max_future_secs
            && self.witnesses.len() == o.witnesses.len()
            && self.witnesses.iter().zip(&o.witnesses).all(|(a, b)| a.verifier_key() == b.verifier_key())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyJson {
    log: String,
    witnesses: Vec<String>,
    quorum: usize,
    #[serde(default = "default_future")]
    max_future_secs: u64,
}

fn default_future() -> u64 {
    DEFAULT_MAX_FUTURE_SECS
}

impl TryFrom<PolicyJson> for WitnessPolicy {
    type Error = Error;
    fn try_from(p: PolicyJson) -> Result<Self> {
        let log = VerifierKey::parse(&p.log)?;
        let ws = p.witnesses.iter().map(|w| VerifierKey::parse(w)).collect::<Result<Vec<_>>>()?;
        let mut pol = Self::new(log, ws, p.quorum)?;
        pol.max_future_secs = p.max_future_secs;
        Ok(pol)
    }
}

impl From<WitnessPolicy> for PolicyJson {
    fn from(p: WitnessPolicy) -> Self {
        Self {
            log: p.log.to_string(),
            witnesses: p.witnesses.iter().map(|w| w.verifier_key().to_string()).collect(),
            quorum: p.quorum,
            max_future_secs: p.max_future_secs,
        }
    }
}

/// A cosignature that counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidCosignature {
    /// Witness key name.
    pub name: String,
    /// Cosignature timestamp (Unix seconds).
    pub timestamp: u64,
}

/// A cosignature line from a known witness that did not count, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedCosignature {
    /// Witness key name.
    pub name: String,
    /// What failed, as the error message.
    pub reason: String,
}

/// Outcome of checking a checkpoint's cosignatures against a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumReport {
    /// Witnesses that validly cosigned, each once, in policy order.
    pub valid: Vec<ValidCosignature>,
    /// Lines from known witnesses that were rejected.
    pub rejected: Vec<RejectedCosignature>,
    /// Lines from keys not in the policy (ignored, per C2SP signed-note).
    pub unknown: usize,
    /// Quorum the policy needs.
    pub quorum: usize,
    /// Whether `valid.len() >= quorum`.
    pub quorum_met: bool,
}

impl WitnessPolicy {
    /// Builds a policy. Witness keys must be distinct (name and key) cosignature keys, and
    /// `1 <= quorum <= witnesses.len()`.
    ///
    /// # Errors
    /// [`Error::BadPolicy`], [`Error::UnsupportedSignatureType`].
    pub fn new(log: VerifierKey, witnesses: Vec<VerifierKey>, quorum: usize) -> Result<Self> {
        if log.sig_type != SIG_TYPE_ED25519 {
            return Err(Error::BadPolicy(format!("log key '{}' must be an Ed25519 (0x01) note key", log.name)));
        }
        let log_vk = log.ed25519()?;
        if quorum == 0 || quorum > witnesses.len() {
            return Err(Error::BadPolicy(format!(
                "quorum {quorum} must be between 1 and {} witnesses",
                witnesses.len()
            )));
        }
        for (i, w) in witnesses.iter().enumerate() {
            if witnesses[..i].iter().any(|o| o.name == w.name || o.public_key == w.public_key) {
                return Err(Error::BadPolicy(format!("witness '{}' is listed twice (same name or key)", w.name)));
            }
            if w.name == log.name {
                return Err(Error::BadPolicy(format!("witness '{}' has the log's name", w.name)));
            }
        }
        let witnesses = witnesses.iter().map(cosignature_verifier).collect::<Result<Vec<_>>>()?;
        Ok(Self { log, log_vk, witnesses, quorum, max_future_secs: DEFAULT_MAX_FUTURE_SECS })
    }

    /// Sets the tolerance for future-dated cosignatures.
    #[must_use]
    pub fn with_max_future_secs(mut self, secs: u64) -> Self {
        self.max_future_secs = secs;
        self
    }

    /// The log's key.
    #[must_use]
    pub fn log_key(&self) -> &VerifierKey {
        &self.log
    }

    /// The witnesses' keys, in policy order.
    #[must_use]
    pub fn witness_keys(&self) -> Vec<&VerifierKey> {
        self.witnesses.iter().map(|w| w.verifier_key()).collect()
    }

    /// The quorum k.
    #[must_use]
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Verifies the log signature, then each cosignature line on its own: unknown lines are
    /// ignored, a bad, malformed or future-dated line from a known witness is recorded in
    /// `rejected` and does not affect the others, and each witness counts at most once.
    ///
    /// # Errors
    /// Only for the log signature ([`SignedCheckpoint::verify_log_signature`]); a missed
    /// quorum is reported in the [`QuorumReport`] (see [`Self::require_quorum`]).
    pub fn check(&self, signed: &SignedCheckpoint, now: u64) -> Result<QuorumReport> {
        signed.verify_log_signature_with(&self.log, &self.log_vk)?;
        let log_id = self.log.key_id();
        let mut valid = Vec::new();
        let mut rejected = Vec::new();
        let mut unknown = 0;
        let mut counted = vec![false; self.witnesses.len()];
        for s in &signed.note.signatures {
            if s.name == self.log.name && s.key_id == log_id {
                continue;
            }
            let Some(i) = self
                .witnesses
                .iter()
                .position(|w| w.verifier_key().name == s.name && w.verifier_key().key_id() == s.key_id)
            else {
                unknown += 1;
                continue;
            };
            if counted[i] {
                continue;
            }
            let w = &self.witnesses[i];
            match w.verify(&signed.note.text, &signed.checkpoint, &s.signature) {
                Ok(ts) if ts > now.saturating_add(self.max_future_secs) => rejected.push(RejectedCosignature {
                    name: s.name.clone(),
                    reason: Error::FutureCosignature { name: s.name.clone(), timestamp: ts, now }.to_string(),
                }),
                Ok(ts) => {
                    counted[i] = true;
                    valid.push((i, ValidCosignature { name: s.name.clone(), timestamp: ts }));
                }
                Err(e) => rejected.push(RejectedCosignature { name: s.name.clone(), reason: e.to_string() }),
            }
        }
        valid.sort_by_key(|(i, _)| *i);
        let valid: Vec<_> = valid.into_iter().map(|(_, v)| v).collect();
        // A witness with one good line and one bad line counts; drop its rejections.
        rejected.retain(|r| !valid.iter().any(|v| v.name == r.name));
        let quorum_met = valid.len() >= self.quorum;
        Ok(QuorumReport { valid, rejected, unknown, quorum: self.quorum, quorum_met })
    }

    /// Like [`Self::check`], but a missed quorum is an error naming what was rejected.
    ///
    /// # Errors
    /// Log signature errors, [`Error::QuorumNotMet`].
    pub fn require_quorum(&self, signed: &SignedCheckpoint, now: u64) -> Result<QuorumReport> {
        let r = self.check(signed, now)?;
        if r.quorum_met {
            return Ok(r);
        }
        let mut detail = String::new();
        for x in &r.rejected {
            detail.push_str("; ");
            detail.push_str(&x.reason);
        }
        if r.unknown > 0 {
            detail.push_str(&format!("; {} lines from unknown keys ignored", r.unknown));
        }
        Err(Error::QuorumNotMet { valid: r.valid.len(), quorum: r.quorum, detail })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn witness_replies_are_read_by_status() {
        assert_eq!(parse_witness_reply(409, b"42\n").unwrap(), WitnessReply::Conflict { latest_size: 42 });
        assert!(parse_witness_reply(409, b"forty\n").is_err());
        assert!(parse_witness_reply(409, b"\n").is_err());
        assert!(parse_witness_reply(409, b"99999999999999999999999\n").is_err(), "overflow");
        assert!(parse_witness_reply(200, b"not a signature line\n").is_err());
        assert!(parse_witness_reply(200, b"\xff\n").is_err());
        assert_eq!(
            parse_witness_reply(422, b"consistency proof does not verify\nmore").unwrap(),
            WitnessReply::Refused { status: 422, message: "consistency proof does not verify".into() }
        );
    }
}
