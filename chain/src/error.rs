//! The crate-wide error type. Every message says exactly what failed.

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the ledger core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- tree and proofs (RFC 6962 / RFC 9162) ----
    /// Leaf index is not below the tree size.
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    /// Consistency check asked for an old size larger than the new one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    OldSizeTooLarge { old: u64, new: u64 },
    /// The inclusion proof does not reproduce the expected root.
    #[error("inclusion proof does not lead to checkpoint root")]
    InclusionProofMismatch,
    /// The consistency proof does not reproduce both roots.
    #[error("consistency proof does not link the old root to the new root")]
    ConsistencyProofMismatch,
    /// Old size 0 must come with an empty proof and the empty-tree root.
    #[error("consistency from an empty tree must use an empty proof and the empty-tree root")]
    BadEmptyTreeConsistency,
    /// The storage backend failed or returned the wrong number of hashes.
    #[error("hash storage failed: {0}")]
    Storage(String),
    /// A hash had the wrong length or encoding.
    #[error("malformed hash: {0}")]
    MalformedHash(String),

    // ---- tiles (C2SP tlog-tiles) ----
    /// A tile path did not follow C2SP tlog-tiles.
    #[error("malformed tile path {path:?}: {reason}")]
    BadTilePath { path: String, reason: &'static str },
    /// Tile data was not a whole number of hashes, or too long.
    #[error("malformed tile data: {0}")]
    BadTileData(String),
    /// An entry bundle could not be decoded or encoded.
    #[error("malformed entry bundle: {0}")]
    BadEntryBundle(String),
    /// A tile needed to compute a hash is missing.
    #[error("tile {0} is missing")]
    MissingTile(String),

    // ---- notes, keys, checkpoints (C2SP signed-note, tlog-checkpoint) ----
    /// The signed note is malformed.
    #[error("malformed signed note: {0}")]
    BadNote(String),
    /// The checkpoint body is malformed.
    #[error("malformed checkpoint: {0}")]
    BadCheckpoint(String),
    /// A verifier key string is malformed.
    #[error("malformed verifier key: {0}")]
    BadVerifierKey(String),
    /// A key name violates C2SP signed-note.
    #[error("invalid key name {0:?}")]
    BadKeyName(String),
    /// Signature type byte is not supported here.
    #[error("unsupported signature type 0x{0:02x}")]
    UnsupportedSignatureType(u8),
    /// No signature line from the log's key.
    #[error("checkpoint is not signed by the log key '{0}'")]
    MissingLogSignature(String),
    /// The log's signature does not verify.
    #[error("checkpoint signature from the log key '{0}' is invalid")]
    BadLogSignature(String),
    /// Checkpoint origin differs from the trusted log's.
    #[error("checkpoint origin {found:?} is not the trusted log origin {expected:?}")]
    WrongOrigin { expected: String, found: String },

    // ---- cosignatures and witness policy (C2SP tlog-cosignature, tlog-witness) ----
    /// A cosignature does not verify.
    #[error("cosignature from witness '{0}' has a bad signature")]
    BadCosignature(String),
    /// A cosignature's timestamp is too far in the future.
    #[error("cosignature from witness '{name}' is dated {timestamp}, after now ({now}) plus tolerance")]
    FutureCosignature { name: String, timestamp: u64, now: u64 },
    /// A cosignature's bytes are malformed (length, timestamp over 2^63-1).
    #[error("cosignature from witness '{0}' is malformed")]
    MalformedCosignature(String),
    /// Fewer valid cosignatures than the policy's quorum.
    #[error("checkpoint has {valid} valid cosignatures, the witness policy needs {quorum}{detail}")]
    QuorumNotMet { valid: usize, quorum: usize, detail: String },
    /// The witness policy itself is unusable.
    #[error("invalid witness policy: {0}")]
    BadPolicy(String),
    /// tlog-witness add-checkpoint request body is malformed.
    #[error("malformed add-checkpoint request: {0}")]
    BadAddCheckpoint(String),
    /// A witness's answer to add-checkpoint could not be read.
    #[error("malformed witness reply: {0}")]
    BadWitnessReply(String),

    // ---- leaves ----
    /// A leaf could not be decoded.
    #[error("malformed leaf: {0}")]
    BadLeaf(String),
    /// An event could not be encoded (field too long, unsorted scopes, ...).
    #[error("cannot encode event: {0}")]
    BadEvent(String),

    // ---- status map ----
    /// Status value could not be decoded.
    #[error("malformed grant status value: {0}")]
    BadStatusValue(String),
    /// A map proof does not verify.
    #[error("map proof is invalid: {0}")]
    BadMapProof(String),
    /// The status map store failed.
    #[error("status map storage failed: {0}")]
    StatusStore(String),

    // ---- bundle ----
    /// The bundle JSON is malformed.
    #[error("malformed proof bundle: {0}")]
    BadBundle(String),
    /// The bundle's version is not supported.
    #[error("unsupported proof bundle version {0}")]
    UnsupportedBundleVersion(u64),
    /// The bundle's policy differs from the trusted one.
    #[error("bundle's witness policy differs from the trusted policy: {0}")]
    PolicyMismatch(String),
    /// The status-root entry does not close the checkpoint.
    #[error("status.root entry is not bound to the checkpoint: {0}")]
    StatusRootNotBound(String),
    /// A device reading is malformed or names the wrong device.
    #[error("malformed device reading: {0}")]
    BadReading(String),
    /// A device reading's signature does not verify under its passport's key.
    #[error("the reading's signature does not verify with the device's registered key")]
    BadReadingSignature,
    /// A passport bundle's device status does not hold.
    #[error("device passport does not verify: {0}")]
    BadPassport(String),
    /// A sealed record's proof or content does not hold.
    #[error("record seal does not verify: {0}")]
    BadRecord(String),
    /// Bundle inner consistency failure (kind vs. leaf, grant id mismatch...).
    #[error("proof bundle is inconsistent: {0}")]
    BundleMismatch(String),
}
