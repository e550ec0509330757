//! Sealed confirmation records: a salted commitment per record version, batched under the
//! `batch_root` of a `records.batch` leaf, and the existence proof that takes a record's
//! content to a quorum-cosigned checkpoint.
//!
//! The chain never holds a record. It holds, per batch, an RFC 6962 root over the
//! commitments of the record versions sealed in that batch. A commitment is
//!
//! ```text
//! SHA-256("onecity record v1\n" || salt[32] || record_id[16] || version u32 || scope (u16 len, bytes)
//!         || recorded_at u64 || content_hash[32])
//! ```
//!
//! with `content_hash` = SHA-256 of the record's canonical JSON ([`canonical_json`]). The
//! 32-byte random salt is kept beside the row and leaves the server only inside a proof given
//! to the resident or, with the record, to an agency the resident granted: without it a
//! commitment cannot be tested against guessed contents. Erasing a record deletes the row
//! and its salt; the commitment stays in its batch and proves nothing about any content.
//!
//! Byte-level documentation: `docs/ledger-format.md` §"Sealed records".

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::hash::Hash;
use crate::leaf::Event;
use crate::tree::{leaf_hash, verify_inclusion};

/// Domain separation for record commitments (no other hash in the system starts this way).
const COMMITMENT_DOMAIN: &[u8] = b"onecity record v1\n";
/// Longest scope name in a commitment, in bytes.
const MAX_SCOPE: usize = 64;

/// One version of a confirmation record as it is committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordVersion {
    /// The record's id (a UUID's 16 bytes), hex.
    #[serde(with = "hex16")]
    pub record_id: [u8; 16],
    /// 1 for the first version; each amendment adds one.
    pub version: u32,
    /// The scope the record belongs to, e.g. `property.titles`.
    pub scope: String,
    /// When this version was recorded (Unix seconds).
    pub recorded_at: u64,
    /// SHA-256 of the content's canonical JSON.
    pub content_hash: Hash,
    /// The version's random salt, hex.
    #[serde(with = "hex32")]
    pub salt: [u8; 32],
}

impl RecordVersion {
    /// The commitment sealed for this version (see the module docs).
    ///
    /// # Errors
    /// [`Error::BadRecord`] when the scope is empty or longer than 64 bytes.
    pub fn commitment(&self) -> Result<Hash> {
        if self.scope.is_empty() || self.scope.len() > MAX_SCOPE {
            return Err(Error::BadRecord(format!("scope must be 1..={MAX_SCOPE} bytes")));
        }
        let mut h = Sha256::new();
        h.update(COMMITMENT_DOMAIN);
        h.update(self.salt);
        h.update(self.record_id);
        h.update(self.version.to_be_bytes());
        h.update(u16::try_from(self.scope.len()).unwrap_or(u16::MAX).to_be_bytes());
        h.update(self.scope.as_bytes());
        h.update(self.recorded_at.to_be_bytes());
        h.update(self.content_hash.0);
        Ok(Hash(h.finalize().into()))
    }

    /// The leaf this version is in its batch's tree: the RFC 6962 leaf hash of the commitment.
    ///
    /// # Errors
    /// As [`Self::commitment`].
    pub fn batch_leaf(&self) -> Result<Hash> {
        Ok(leaf_hash(&self.commitment()?.0))
    }
}

/// The record part of an existence proof: the version, where it sits in its batch, and the
/// path from it to the batch root. The batch's `records.batch` leaf is the bundle's entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordProof {
    /// The committed version.
    pub record: RecordVersion,
    /// 0-based position of the version in its batch.
    pub position: u64,
    /// RFC 6962 inclusion proof of the version's batch leaf under `batch_root`, bottom-up.
    pub batch_path: Vec<Hash>,
}

/// What a verified record proof established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordVerdict {
    /// The version proven.
    pub record: RecordVersion,
    /// The batch's sealing time (its `period_end`, Unix seconds): the version existed, with
    /// exactly this content, by then.
    pub sealed_by: u64,
    /// Records in the batch.
    pub batch_size: u64,
    /// Whether a content was given and matched (`false`: only the content hash was proven).
    pub content_checked: bool,
}

/// Checks a record proof against its batch entry (already verified in a checkpoint) and,
/// when given, the record's content.
///
/// # Errors
/// [`Error::BadRecord`] when the entry is not a `records.batch`, the position is outside
/// the batch, the path does not lead to the batch root, the version was recorded outside the
/// batch's period, or the content's hash is not the committed one.
pub fn verify_record(batch: &Event, proof: &RecordProof, content: Option<&serde_json::Value>) -> Result<RecordVerdict> {
    let Event::RecordsBatch { batch_root, count, period_start, period_end } = batch else {
        return Err(Error::BadRecord(format!("the proven entry is a {}, not a records.batch", batch.type_name())));
    };
    if proof.position >= *count {
        return Err(Error::BadRecord(format!("position {} is outside a batch of {count}", proof.position)));
    }
    verify_inclusion(&proof.batch_path, *count, batch_root, proof.position, &proof.record.batch_leaf()?).map_err(
        |_| Error::BadRecord("the record's commitment is not in the batch (path does not lead to batch_root)".into()),
    )?;
    let at = proof.record.recorded_at;
    if at < *period_start || at >= *period_end {
        return Err(Error::BadRecord(format!(
            "the version was recorded at {at}, outside the batch's period {period_start}..{period_end}"
        )));
    }
    if let Some(content) = content {
        check_content(&proof.record, content)?;
    }
    Ok(RecordVerdict {
        record: proof.record.clone(),
        sealed_by: *period_end,
        batch_size: *count,
        content_checked: content.is_some(),
    })
}

/// Checks that `content` is the content a version committed to.
///
/// # Errors
/// [`Error::BadRecord`] naming both hashes when it is not, or when it is not a JSON object.
pub fn check_content(record: &RecordVersion, content: &serde_json::Value) -> Result<()> {
    let hash = content_hash(content)?;
    if hash != record.content_hash {
        return Err(Error::BadRecord(format!(
            "the content's hash {hash} is not the sealed content hash {}: the record differs from what was sealed",
            record.content_hash
        )));
    }
    Ok(())
}

/// The canonical JSON of a record's content: compact (no whitespace), object keys sorted by
/// their UTF-8 bytes at every level, strings and numbers as `serde_json` writes them. For
/// objects of strings, integers, booleans and nulls this is byte for byte RFC 8785 (JCS).
///
/// Written out here, not left to `serde_json::to_vec`, because key order there depends on
/// whether any crate in the build turned on `serde_json/preserve_order`: the server, the CLI
/// and the browser build must agree regardless.
///
/// # Errors
/// [`Error::BadRecord`] when the content is not a JSON object.
pub fn canonical_json(content: &serde_json::Value) -> Result<Vec<u8>> {
    if !content.is_object() {
        return Err(Error::BadRecord("a record's content must be a JSON object".into()));
    }
    let mut out = Vec::new();
    write_canonical(content, &mut out);
    Ok(out)
}

fn write_canonical(v: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).expect("a string always serializes"));
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).expect("a JSON scalar always serializes")),
    }
}

/// SHA-256 of [`canonical_json`].
///
/// # Errors
/// As [`canonical_json`].
pub fn content_hash(content: &serde_json::Value) -> Result<Hash> {
    Ok(Hash::sha256(&canonical_json(content)?))
}

/// A sealed batch's tree in storage form: every stored hash in `tlog` order (see
/// [`crate::tree`]), about two hashes per record. The server keeps it as one byte string and
/// reads only the hashes a path needs ([`path_indexes`]).
///
/// # Errors
/// Never for in-memory input (kept fallible for the shared tree code).
pub fn batch_tree(leaves: &[Hash]) -> Result<(Hash, Vec<Hash>)> {
    let mut store = crate::tree::MemoryHashStore::new();
    for h in leaves {
        store.append_leaf_hash(*h)?;
    }
    Ok((store.root()?, store.stored().to_vec()))
}

/// The stored-hash indexes an inclusion proof of `position` in a batch of `count` reads.
///
/// # Errors
/// [`Error::IndexOutOfRange`].
pub fn path_indexes(count: u64, position: u64) -> Result<Vec<u64>> {
    struct Recorder(std::cell::RefCell<Vec<u64>>);
    impl crate::tree::HashReader for Recorder {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
            self.0.borrow_mut().extend_from_slice(indexes);
            Ok(vec![Hash([0; 32]); indexes.len()])
        }
    }
    let r = Recorder(std::cell::RefCell::new(Vec::new()));
    crate::tree::prove_inclusion(count, position, &r)?;
    let mut v = r.0.into_inner();
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// The inclusion proof of `position` from the stored hashes at [`path_indexes`] (in that
/// order).
///
/// # Errors
/// [`Error::Storage`] when `hashes` does not match the indexes.
pub fn path_from(count: u64, position: u64, indexes: &[u64], hashes: &[Hash]) -> Result<Vec<Hash>> {
    struct Given<'a>(&'a [u64], &'a [Hash]);
    impl crate::tree::HashReader for Given<'_> {
        fn read_hashes(&self, want: &[u64]) -> Result<Vec<Hash>> {
            want.iter()
                .map(|i| {
                    self.0
                        .binary_search(i)
                        .ok()
                        .and_then(|k| self.1.get(k).copied())
                        .ok_or_else(|| Error::Storage(format!("no stored batch hash at index {i}")))
                })
                .collect()
        }
    }
    if indexes.len() != hashes.len() {
        return Err(Error::Storage(format!("{} hashes for {} indexes", hashes.len(), indexes.len())));
    }
    crate::tree::prove_inclusion(count, position, &Given(indexes, hashes))
}

macro_rules! hex_array {
    ($name:ident, $n:expr) => {
        mod $name {
            use serde::{Deserialize, Deserializer, Serializer};
            pub fn serialize<S: Serializer>(v: &[u8; $n], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(v))
            }
            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; $n], D::Error> {
                let v = hex::decode(String::deserialize(d)?).map_err(serde::de::Error::custom)?;
                <[u8; $n]>::try_from(v.as_slice())
                    .map_err(|_| serde::de::Error::custom(concat!("expected ", stringify!($n), " bytes of hex")))
            }
        }
    };
}
hex_array!(hex16, 16);
hex_array!(hex32, 32);

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: u8) -> RecordVersion {
        RecordVersion {
            record_id: [n; 16],
            version: 1,
            scope: "property.titles".into(),
            recorded_at: 1_767_300_000 + u64::from(n),
            content_hash: content_hash(&serde_json::json!({"address": format!("{n} Harbour Rd")})).unwrap(),
            salt: [n ^ 0x5a; 32],
        }
    }

    fn sealed(n: u8) -> (Event, Vec<RecordVersion>, Vec<Hash>) {
        let versions: Vec<RecordVersion> = (0..n).map(version).collect();
        let leaves: Vec<Hash> = versions.iter().map(|v| v.batch_leaf().unwrap()).collect();
        let (root, stored) = batch_tree(&leaves).unwrap();
        let batch = Event::RecordsBatch {
            batch_root: root,
            count: u64::from(n),
            period_start: 1_767_300_000,
            period_end: 1_767_300_000 + u64::from(n),
        };
        (batch, versions, stored)
    }

    fn prove(stored: &[Hash], count: u64, position: u64, record: RecordVersion) -> RecordProof {
        let idx = path_indexes(count, position).unwrap();
        let hashes: Vec<Hash> = idx.iter().map(|&i| stored[usize::try_from(i).unwrap()]).collect();
        RecordProof { record, position, batch_path: path_from(count, position, &idx, &hashes).unwrap() }
    }

    #[test]
    fn every_position_of_batches_of_every_shape_proves_against_the_leaf_root() {
        for n in [1u8, 2, 3, 5, 8, 13] {
            let (batch, versions, stored) = sealed(n);
            let Event::RecordsBatch { batch_root, .. } = &batch else { unreachable!() };
            let leaves: Vec<Hash> = versions.iter().map(|v| v.batch_leaf().unwrap()).collect();
            assert_eq!(*batch_root, crate::tree::root_of_leaf_hashes(&leaves), "stored tree root is RFC 6962's");
            for (p, v) in versions.iter().enumerate() {
                let proof = prove(&stored, u64::from(n), p as u64, v.clone());
                let verdict = verify_record(&batch, &proof, None).unwrap();
                assert!(!verdict.content_checked);
                assert!(
                    verify_record(&batch, &proof, Some(&serde_json::json!({"address": format!("{p} Harbour Rd")})))
                        .unwrap()
                        .content_checked
                );
            }
        }
    }

    #[test]
    fn a_changed_content_salt_version_or_position_fails_with_a_reason() {
        let (batch, versions, stored) = sealed(5);
        let proof = prove(&stored, 5, 3, versions[3].clone());
        let err = verify_record(&batch, &proof, Some(&serde_json::json!({"address": "4 Harbour Rd"}))).unwrap_err();
        assert!(err.to_string().contains("differs from what was sealed"), "{err}");
        for edit in [
            |p: &mut RecordProof| p.record.salt[0] ^= 1,
            |p: &mut RecordProof| p.record.version = 2,
            |p: &mut RecordProof| p.record.scope = "bank.accounts".into(),
            |p: &mut RecordProof| p.position = 2,
            |p: &mut RecordProof| p.batch_path[0].0[0] ^= 1,
        ] {
            let mut bad = proof.clone();
            edit(&mut bad);
            let err = verify_record(&batch, &bad, None).unwrap_err();
            assert!(err.to_string().contains("not in the batch"), "{err}");
        }
        let mut late = proof;
        late.record.recorded_at = 1_767_300_009;
        assert!(verify_record(&batch, &late, None).is_err(), "a moved time changes the commitment");
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level_and_refuses_non_objects() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b":{"y":1,"x":[{"d":2,"c":1}]},"a":"é\n"}"#).unwrap();
        let expected = "{\"a\":\"é\\n\",\"b\":{\"x\":[{\"c\":1,\"d\":2}],\"y\":1}}";
        assert_eq!(String::from_utf8(canonical_json(&a).unwrap()).unwrap(), expected);
        assert!(canonical_json(&serde_json::json!([1])).is_err());
    }
}
