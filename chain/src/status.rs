//! The status map: an authenticated map from grant id to [`GrantStatus`] and from device id
//! to [`DeviceStatus`], a Jellyfish Merkle tree (`jmt` 0.12, SHA-256) behind a storage trait.
//!
//! * key: `SHA-256(grant id)` (16 grant-id bytes), or for a device
//!   [`crate::device::status_key`] (a domain line and the 16 device-id bytes);
//! * value: the canonical 10-byte encoding of [`GrantStatus`] or the 43-byte one of
//!   [`DeviceStatus`]; jmt commits to `SHA-256(value)`;
//! * proofs: [`MapProof`], a leaf (or none) plus sibling hashes bottom-up, verifiable with only
//!   the root. The verifier is jmt's algorithm, written out here so the format is ours and
//!   documented (`docs/ledger-format.md`), and cross-checked against jmt's in tests:
//!   - leaf node hash `SHA-256("JMT::LeafNode" || key_hash || value_hash)`,
//!   - internal node hash `SHA-256("JMT::IntrnalNode" || left || right)`,
//!   - empty subtree `"SPARSE_MERKLE_PLACEHOLDER_HASH__"` (32 ASCII bytes).
//!
//! The root is bound into the log by a `status.root` leaf closing each checkpoint, not by a
//! checkpoint extension line (cosigners vouch only for a checkpoint's first three lines).

use std::collections::BTreeMap;
use std::sync::RwLock;

use jmt::storage::{LeafNode, Node, NodeBatch, NodeKey, TreeReader, TreeWriter};
use jmt::{KeyHash, OwnedValue, Version};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::device::{DeviceStatus, StatusUpdate};
use crate::error::{Error, Result};
use crate::hash::Hash;
use crate::leaf::{DeviceId, GrantId};

/// Status value format version.
pub const STATUS_VERSION: u8 = 0x01;
const LEAF_DOMAIN: &[u8] = b"JMT::LeafNode";
const INTERNAL_DOMAIN: &[u8] = b"JMT::IntrnalNode";
/// Hash of an empty subtree in jmt.
pub const PLACEHOLDER: Hash = Hash(*b"SPARSE_MERKLE_PLACEHOLDER_HASH__");

/// A grant's status as of a map version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum GrantStatus {
    /// Active until `until` (Unix seconds, exclusive).
    Active {
        /// End of validity.
        until: u64,
    },
    /// Revoked at `at`.
    Revoked {
        /// Time of revocation.
        at: u64,
    },
}

impl GrantStatus {
    /// `0x01 || 0x01 || until (u64 BE)` or `0x01 || 0x02 || at (u64 BE)`.
    #[must_use]
    pub fn encode(&self) -> [u8; 10] {
        let (t, v) = match *self {
            Self::Active { until } => (1u8, until),
            Self::Revoked { at } => (2u8, at),
        };
        let mut out = [0u8; 10];
        out[0] = STATUS_VERSION;
        out[1] = t;
        out[2..].copy_from_slice(&v.to_be_bytes());
        out
    }

    /// Strict decode.
    ///
    /// # Errors
    /// [`Error::BadStatusValue`].
    pub fn decode(b: &[u8]) -> Result<Self> {
        if b.len() != 10 {
            return Err(Error::BadStatusValue(format!("expected 10 bytes, got {}", b.len())));
        }
        if b[0] != STATUS_VERSION {
            return Err(Error::BadStatusValue(format!("unknown version 0x{:02x}", b[0])));
        }
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[2..]);
        let v = u64::from_be_bytes(a);
        match b[1] {
            1 => Ok(Self::Active { until: v }),
            2 => Ok(Self::Revoked { at: v }),
            t => Err(Error::BadStatusValue(format!("unknown state 0x{t:02x}"))),
        }
    }
}

/// The map key of a grant: `SHA-256(grant id bytes)`.
#[must_use]
pub fn status_key(grant_id: &GrantId) -> Hash {
    Hash::sha256(&grant_id.0)
}

/// The leaf a map proof ends at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapLeaf {
    /// Key hash stored in the leaf.
    pub key_hash: Hash,
    /// `SHA-256(value)`.
    pub value_hash: Hash,
}

/// A proof of a key's current value, or of its absence, against a map root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapProof {
    /// The leaf reached, `null` if the path ends in an empty subtree.
    pub leaf: Option<MapLeaf>,
    /// Sibling hashes from the bottom of the path up to the root (at most 256).
    pub siblings: Vec<Hash>,
}

fn h_leaf(l: &MapLeaf) -> Hash {
    let mut h = Sha256::new();
    h.update(LEAF_DOMAIN);
    h.update(l.key_hash.0);
    h.update(l.value_hash.0);
    Hash(h.finalize().into())
}

fn h_internal(a: &Hash, b: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(INTERNAL_DOMAIN);
    h.update(a.0);
    h.update(b.0);
    Hash(h.finalize().into())
}

fn bit(key: &Hash, i: usize) -> bool {
    key.0[i / 8] & (0x80 >> (i % 8)) != 0
}

fn common_prefix_bits(a: &Hash, b: &Hash) -> usize {
    for i in 0..256 {
        if bit(a, i) != bit(b, i) {
            return i;
        }
    }
    256
}

impl MapProof {
    /// Verifies that under `root`, `key` maps to `value` (`Some`) or is absent (`None`).
    ///
    /// # Errors
    /// [`Error::BadMapProof`] saying what does not match.
    pub fn verify_raw(&self, root: &Hash, key: &Hash, value: Option<&[u8]>) -> Result<()> {
        let n = self.siblings.len();
        if n > 256 {
            return Err(Error::BadMapProof(format!("{n} siblings, at most 256")));
        }
        match (value, &self.leaf) {
            (Some(v), Some(l)) => {
                if l.key_hash != *key {
                    return Err(Error::BadMapProof("proof is for a different key".into()));
                }
                if l.value_hash != Hash::sha256(v) {
                    return Err(Error::BadMapProof("value does not match the proof's value hash".into()));
                }
            }
            (Some(_), None) => {
                return Err(Error::BadMapProof("expected a proof of presence, got one of absence".into()));
            }
            (None, Some(l)) => {
                if l.key_hash == *key {
                    return Err(Error::BadMapProof("expected a proof of absence, but the key is present".into()));
                }
                if common_prefix_bits(key, &l.key_hash) < n {
                    return Err(Error::BadMapProof("the proof's leaf is not on the key's path".into()));
                }
            }
            (None, None) => {}
        }
        let mut cur = self.leaf.as_ref().map_or(PLACEHOLDER, h_leaf);
        for (i, s) in self.siblings.iter().enumerate() {
            let depth = n - 1 - i;
            cur = if bit(key, depth) { h_internal(s, &cur) } else { h_internal(&cur, s) };
        }
        if cur == *root { Ok(()) } else { Err(Error::BadMapProof("map proof does not lead to the status root".into())) }
    }

    /// Verifies a device's status (or absence) against a map root.
    ///
    /// # Errors
    /// As [`Self::verify_raw`].
    pub fn verify_device(&self, root: &Hash, device_id: &DeviceId, status: Option<&DeviceStatus>) -> Result<()> {
        let v = status.map(DeviceStatus::encode);
        self.verify_raw(root, &crate::device::status_key(device_id), v.as_ref().map(|v| v.as_slice()))
    }

    /// Verifies a grant's status (or absence) against a map root.
    ///
    /// # Errors
    /// As [`Self::verify_raw`].
    pub fn verify(&self, root: &Hash, grant_id: &GrantId, status: Option<&GrantStatus>) -> Result<()> {
        let v = status.map(GrantStatus::encode);
        self.verify_raw(root, &status_key(grant_id), v.as_ref().map(|v| v.as_slice()))
    }

    /// Converts jmt's proof through its stable borsh encoding (jmt keeps the fields private):
    /// `Option<(key_hash, value_hash)>`, then `u32` LE count of sibling nodes, each a variant
    /// byte (0 null, 1 internal(left,right), 2 leaf(key_hash,value_hash)).
    fn from_jmt(p: &jmt::proof::SparseMerkleProof<Sha256>) -> Result<Self> {
        let b = borsh::to_vec(p).map_err(|e| Error::StatusStore(format!("cannot encode jmt proof: {e}")))?;
        let bad = || Error::StatusStore("unexpected jmt proof encoding".into());
        let mut r = b.as_slice();
        let mut take = |n: usize| -> Result<&[u8]> {
            if r.len() < n {
                return Err(bad());
            }
            let (a, rest) = r.split_at(n);
            r = rest;
            Ok(a)
        };
        let leaf = match take(1)?[0] {
            0 => None,
            1 => {
                let k = Hash::from_slice(take(32)?)?;
                let v = Hash::from_slice(take(32)?)?;
                Some(MapLeaf { key_hash: k, value_hash: v })
            }
            _ => return Err(bad()),
        };
        let c = take(4)?;
        let count = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize;
        let mut siblings = Vec::with_capacity(count.min(256));
        for _ in 0..count {
            let s = match take(1)?[0] {
                0 => PLACEHOLDER,
                1 => {
                    let a = Hash::from_slice(take(32)?)?;
                    let b2 = Hash::from_slice(take(32)?)?;
                    h_internal(&a, &b2)
                }
                2 => {
                    let k = Hash::from_slice(take(32)?)?;
                    let v = Hash::from_slice(take(32)?)?;
                    h_leaf(&MapLeaf { key_hash: k, value_hash: v })
                }
                _ => return Err(bad()),
            };
            siblings.push(s);
        }
        if !r.is_empty() {
            return Err(bad());
        }
        Ok(Self { leaf, siblings })
    }
}

/// Storage for the status map: jmt's reader and writer traits, which a database-backed store
/// implements (nodes by `NodeKey`, values by `(version, key hash)`).
pub trait StatusStore: TreeReader + TreeWriter {}
impl<T: TreeReader + TreeWriter> StatusStore for T {}

fn store_err(e: impl std::fmt::Display) -> Error {
    Error::StatusStore(e.to_string())
}

/// The status map over a store. Versions are consecutive from 0; the sequencer applies one
/// version per checkpoint (possibly with no changes) and records its root in `status.root`.
#[derive(Debug)]
pub struct StatusMap<S> {
    store: S,
}

impl<S: StatusStore> StatusMap<S> {
    /// Wraps a store.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Applies grant `updates` as map version `version` and writes the new nodes to the store.
    /// Returns the new root. Several updates of one grant: the last one wins.
    ///
    /// # Errors
    /// [`Error::StatusStore`].
    pub fn apply(&self, version: u64, updates: &[(GrantId, GrantStatus)]) -> Result<Hash> {
        let updates: Vec<StatusUpdate> = updates.iter().map(|(g, s)| StatusUpdate::Grant(*g, *s)).collect();
        self.apply_with_batch(version, &updates).map(|(root, _)| root)
    }

    /// Applies `updates` (grants and devices) as map version `version`, returning the new
    /// root and the nodes and values it wrote, so a caller that keeps the map in memory can
    /// persist exactly that version's additions elsewhere. Several updates of one key: the
    /// last one wins.
    ///
    /// # Errors
    /// [`Error::StatusStore`].
    pub fn apply_with_batch(&self, version: u64, updates: &[StatusUpdate]) -> Result<(Hash, jmt::storage::NodeBatch)> {
        let tree = jmt::Sha256Jmt::new(&self.store);
        // A key may change twice in one version (issued, then revoked): the last update
        // wins, and jmt gets each key once.
        let mut last: BTreeMap<[u8; 32], Vec<u8>> = BTreeMap::new();
        for u in updates {
            last.insert(u.key().0, u.value());
        }
        let set: Vec<(KeyHash, Option<OwnedValue>)> = last.into_iter().map(|(k, v)| (KeyHash(k), Some(v))).collect();
        let (root, batch) = tree.put_value_set(set, version).map_err(store_err)?;
        self.store.write_node_batch(&batch.node_batch).map_err(store_err)?;
        Ok((Hash(root.0), batch.node_batch))
    }

    /// Root at `version`.
    ///
    /// # Errors
    /// [`Error::StatusStore`] when the version does not exist.
    pub fn root(&self, version: u64) -> Result<Hash> {
        let tree = jmt::Sha256Jmt::new(&self.store);
        tree.get_root_hash(version).map(|r| Hash(r.0)).map_err(store_err)
    }

    /// A grant's status at `version` with its proof (of presence or of absence).
    ///
    /// # Errors
    /// [`Error::StatusStore`], [`Error::BadStatusValue`].
    pub fn get_with_proof(&self, version: u64, grant_id: &GrantId) -> Result<(Option<GrantStatus>, MapProof)> {
        let (v, p) = self.get_raw_with_proof(version, &status_key(grant_id))?;
        Ok((v.map(|v| GrantStatus::decode(&v)).transpose()?, p))
    }

    /// A device's status at `version` with its proof.
    ///
    /// # Errors
    /// [`Error::StatusStore`], [`Error::BadStatusValue`].
    pub fn get_device_with_proof(
        &self,
        version: u64,
        device_id: &DeviceId,
    ) -> Result<(Option<DeviceStatus>, MapProof)> {
        let (v, p) = self.get_raw_with_proof(version, &crate::device::status_key(device_id))?;
        Ok((v.map(|v| DeviceStatus::decode(&v)).transpose()?, p))
    }

    /// The value bytes under `key` at `version` with their proof.
    ///
    /// # Errors
    /// [`Error::StatusStore`].
    pub fn get_raw_with_proof(&self, version: u64, key: &Hash) -> Result<(Option<Vec<u8>>, MapProof)> {
        let tree = jmt::Sha256Jmt::new(&self.store);
        let (v, p) = tree.get_with_proof(KeyHash(key.0), version).map_err(store_err)?;
        Ok((v, MapProof::from_jmt(&p)?))
    }

    /// jmt's own proof, for cross-checking.
    #[doc(hidden)]
    pub fn jmt_proof(&self, version: u64, grant_id: &GrantId) -> Result<jmt::proof::SparseMerkleProof<Sha256>> {
        let tree = jmt::Sha256Jmt::new(&self.store);
        tree.get_with_proof(KeyHash(status_key(grant_id).0), version).map(|x| x.1).map_err(store_err)
    }
}

/// In-memory [`StatusStore`] (tests, benchmarks, demos). Keeps every version.
#[derive(Debug, Default)]
pub struct MemoryStatusStore {
    nodes: RwLock<BTreeMap<NodeKey, Node>>,
    values: RwLock<BTreeMap<(KeyHash, Version), Option<OwnedValue>>>,
}

impl MemoryStatusStore {
    /// Empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl TreeReader for MemoryStatusStore {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let g = self.nodes.read().map_err(|_| anyhow::anyhow!("lock poisoned"))?;
        Ok(g.get(node_key).cloned())
    }

    fn get_value_option(&self, max_version: Version, key_hash: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        let g = self.values.read().map_err(|_| anyhow::anyhow!("lock poisoned"))?;
        Ok(g.range((key_hash, 0)..=(key_hash, max_version)).next_back().and_then(|(_, v)| v.clone()))
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        let g = self.nodes.read().map_err(|_| anyhow::anyhow!("lock poisoned"))?;
        let mut best: Option<(NodeKey, LeafNode)> = None;
        for (k, n) in g.iter() {
            if let Node::Leaf(l) = n
                && best.as_ref().is_none_or(|(_, b)| l.key_hash() > b.key_hash())
            {
                best = Some((k.clone(), l.clone()));
            }
        }
        Ok(best)
    }
}

impl TreeWriter for MemoryStatusStore {
    fn write_node_batch(&self, batch: &NodeBatch) -> anyhow::Result<()> {
        let mut n = self.nodes.write().map_err(|_| anyhow::anyhow!("lock poisoned"))?;
        for (k, v) in batch.nodes() {
            n.insert(k.clone(), v.clone());
        }
        let mut vals = self.values.write().map_err(|_| anyhow::anyhow!("lock poisoned"))?;
        for ((ver, kh), v) in batch.values() {
            vals.insert((*kh, *ver), v.clone());
        }
        Ok(())
    }
}
