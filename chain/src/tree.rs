//! Merkle tree hashing and proofs, RFC 6962 §2.1 (= RFC 9162 §2.1).
//!
//! Hashes are addressed by *stored hash index* exactly as in Go's `sumdb/tlog` (and azul's
//! `tlog_tiles`, which this module builds on): the hashes of a tree are stored in the order
//! they become known, so a database can append them and never update them. The server backs
//! [`HashReader`] with PostgreSQL; [`MemoryHashStore`] is the in-memory implementation.
//!
//! Provers come from `tlog_tiles`; the verifiers here are the iterative algorithms of
//! RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency), which allocate nothing and are
//! cross-checked in tests against `tlog_tiles`, `ct-merkle` and published vectors.

use crate::error::{Error, Result};
use crate::hash::Hash;

/// The root of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1).
pub const EMPTY_ROOT: Hash = Hash(tlog_tiles::EMPTY_HASH.0);

/// Leaf hash `SHA-256(0x00 || data)` (RFC 6962 §2.1).
#[must_use]
pub fn leaf_hash(data: &[u8]) -> Hash {
    Hash::from_tlog(tlog_tiles::record_hash(data))
}

/// Interior node hash `SHA-256(0x01 || left || right)` (RFC 6962 §2.1).
#[must_use]
pub fn node_hash(left: Hash, right: Hash) -> Hash {
    Hash::from_tlog(tlog_tiles::node_hash(left.to_tlog(), right.to_tlog()))
}

/// Stored hash index of the hash at `level` (0 = leaves) and position `n` within that level.
#[must_use]
pub fn stored_hash_index(level: u8, n: u64) -> u64 {
    tlog_tiles::stored_hash_index(level, n)
}

/// Inverse of [`stored_hash_index`]: `(level, n)`.
#[must_use]
pub fn split_stored_hash_index(index: u64) -> (u8, u64) {
    tlog_tiles::split_stored_hash_index(index)
}

/// Number of stored hashes of a tree with `n` leaves: the stored index where leaf `n`'s hashes
/// start.
#[must_use]
pub fn stored_hash_count(n: u64) -> u64 {
    tlog_tiles::stored_hash_count(n)
}

/// Reads stored hashes by stored hash index — the one-method storage interface of Go's
/// `tlog.HashReader`. Implementations must return exactly one hash per requested index, in
/// the same order, or an error.
pub trait HashReader {
    /// Returns the hashes at `indexes` (usually sorted ascending).
    ///
    /// # Errors
    /// Any storage failure, as [`Error::Storage`].
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>>;
}

impl<R: HashReader + ?Sized> HashReader for &R {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
        (**self).read_hashes(indexes)
    }
}

/// Adapts our [`HashReader`] to `tlog_tiles::HashReader`, checking the count so a buggy
/// backend yields an error instead of `tlog_tiles`' assertion panic.
pub(crate) struct TlogAdapter<'a, R: ?Sized>(pub &'a R);

impl<R: HashReader + ?Sized> tlog_tiles::HashReader for TlogAdapter<'_, R> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<tlog_tiles::Hash>, tlog_tiles::Error> {
        let hs = self.0.read_hashes(indexes).map_err(|e| tlog_tiles::Error::InvalidInput(e.to_string()))?;
        if hs.len() != indexes.len() {
            return Err(tlog_tiles::Error::InvalidInput(format!(
                "storage returned {} hashes for {} indexes",
                hs.len(),
                indexes.len()
            )));
        }
        Ok(hs.into_iter().map(Hash::to_tlog).collect())
    }
}

pub(crate) fn from_tlog_err(e: tlog_tiles::Error) -> Error {
    match e {
        tlog_tiles::Error::InvalidInput(s) => Error::Storage(s),
        other => Error::Storage(other.to_string()),
    }
}

/// The hashes to append to storage when adding leaf number `n` (0-based) with hash
/// `leaf_hash`, starting at stored index [`stored_hash_count`]`(n)`. Reads at most `log2 n`
/// earlier hashes. This is how the sequencer builds tile hashes incrementally.
///
/// # Errors
/// Storage failures.
pub fn stored_hashes_for_leaf<R: HashReader + ?Sized>(n: u64, leaf_hash: Hash, r: &R) -> Result<Vec<Hash>> {
    check_tree_size_reader(n)?;
    tlog_tiles::stored_hashes_for_record_hash(n, leaf_hash.to_tlog(), &TlogAdapter(r))
        .map(|v| v.into_iter().map(Hash::from_tlog).collect())
        .map_err(from_tlog_err)
}

/// The hashes to append when integrating a batch of leaves into a tree of `size` leaves:
/// everything `stored_hashes_for_leaf` would return for each leaf in turn, concatenated, to be
/// stored from index [`stored_hash_count`]`(size)` on. Hashes produced earlier in the batch are
/// read from the batch itself, so the storage only needs the tree as it was before.
///
/// # Errors
/// Storage failures.
pub fn stored_hashes_for_batch<R: HashReader + ?Sized>(size: u64, leaf_hashes: &[Hash], r: &R) -> Result<Vec<Hash>> {
    struct Overlay<'a, R: ?Sized> {
        base: u64,
        inner: &'a R,
        new: Vec<Hash>,
    }
    impl<R: HashReader + ?Sized> HashReader for Overlay<'_, R> {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
            let old: Vec<u64> = indexes.iter().copied().filter(|&i| i < self.base).collect();
            let mut from_old = self.inner.read_hashes(&old)?.into_iter();
            if from_old.len() != old.len() {
                return Err(Error::Storage(format!(
                    "storage returned {} hashes for {} indexes",
                    from_old.len(),
                    old.len()
                )));
            }
            indexes
                .iter()
                .map(|&i| {
                    if i < self.base {
                        from_old.next().ok_or_else(|| Error::Storage("short read".into()))
                    } else {
                        usize::try_from(i - self.base)
                            .ok()
                            .and_then(|j| self.new.get(j).copied())
                            .ok_or_else(|| Error::Storage(format!("no stored hash at index {i}")))
                    }
                })
                .collect()
        }
    }
    let mut o = Overlay { base: stored_hash_count(size), inner: r, new: Vec::new() };
    for (k, h) in leaf_hashes.iter().enumerate() {
        let n = size + k as u64;
        let hs = stored_hashes_for_leaf(n, *h, &o)?;
        o.new.extend(hs);
    }
    Ok(o.new)
}

// tlog_tiles' index math overflows (and panics) for sizes near 2^63; no real log gets there.
fn check_tree_size_reader(n: u64) -> Result<()> {
    if n >= 1 << 62 {
        return Err(Error::Storage(format!("tree size {n} is beyond the supported 2^62")));
    }
    Ok(())
}

/// Root hash of the tree with `size` leaves, read from stored hashes (RFC 6962 §2.1 MTH).
///
/// # Errors
/// Storage failures.
pub fn tree_root<R: HashReader + ?Sized>(size: u64, r: &R) -> Result<Hash> {
    check_tree_size_reader(size)?;
    tlog_tiles::tree_hash(size, &TlogAdapter(r)).map(Hash::from_tlog).map_err(from_tlog_err)
}

/// Inclusion proof (RFC 6962 §2.1.1 audit path) for leaf `index` in the tree of `size`.
///
/// # Errors
/// [`Error::IndexOutOfRange`] when `index >= size`; storage failures.
pub fn prove_inclusion<R: HashReader + ?Sized>(size: u64, index: u64, r: &R) -> Result<Vec<Hash>> {
    if index >= size {
        return Err(Error::IndexOutOfRange { index, size });
    }
    check_tree_size_reader(size)?;
    tlog_tiles::prove_record(size, index, &TlogAdapter(r))
        .map(|v| v.into_iter().map(Hash::from_tlog).collect())
        .map_err(from_tlog_err)
}

/// Consistency proof (RFC 6962 §2.1.2) from the tree of `old_size` to the tree of `new_size`.
/// Old size 0 (and `old_size == new_size`) gives an empty proof, as C2SP tlog-witness requires.
///
/// # Errors
/// [`Error::OldSizeTooLarge`]; storage failures.
pub fn prove_consistency<R: HashReader + ?Sized>(new_size: u64, old_size: u64, r: &R) -> Result<Vec<Hash>> {
    if old_size > new_size {
        return Err(Error::OldSizeTooLarge { old: old_size, new: new_size });
    }
    check_tree_size_reader(new_size)?;
    if old_size == 0 {
        return Ok(Vec::new());
    }
    tlog_tiles::prove_tree(new_size, old_size, &TlogAdapter(r))
        .map(|v| v.into_iter().map(Hash::from_tlog).collect())
        .map_err(from_tlog_err)
}

/// Verifies that `proof` shows leaf `index` with hash `leaf` is in the tree of `size` with
/// root `root` (RFC 9162 §2.1.3.2).
///
/// # Errors
/// [`Error::IndexOutOfRange`] or [`Error::InclusionProofMismatch`].
pub fn verify_inclusion(proof: &[Hash], size: u64, root: &Hash, index: u64, leaf: &Hash) -> Result<()> {
    if index >= size {
        return Err(Error::IndexOutOfRange { index, size });
    }
    // RFC 9162 §2.1.3.2: fn = leaf_index, sn = tree_size - 1.
    let mut fnode = index;
    let mut snode = size - 1;
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(Error::InclusionProofMismatch);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(*p, r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(r, *p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode == 0 && r == *root { Ok(()) } else { Err(Error::InclusionProofMismatch) }
}

/// Verifies that `proof` shows the tree (`old_size`, `old_root`) is a prefix of the tree
/// (`new_size`, `new_root`) (RFC 9162 §2.1.4.2).
///
/// Old size 0 is handled here (RFC 9162 leaves it out): the proof must be empty and
/// `old_root` must be [`EMPTY_ROOT`]; every tree extends the empty tree.
/// Equal sizes require an empty proof and equal roots.
///
/// # Errors
/// [`Error::OldSizeTooLarge`], [`Error::BadEmptyTreeConsistency`] or
/// [`Error::ConsistencyProofMismatch`].
pub fn verify_consistency(
    proof: &[Hash],
    old_size: u64,
    old_root: &Hash,
    new_size: u64,
    new_root: &Hash,
) -> Result<()> {
    if old_size > new_size {
        return Err(Error::OldSizeTooLarge { old: old_size, new: new_size });
    }
    if old_size == 0 {
        if proof.is_empty() && *old_root == EMPTY_ROOT {
            return Ok(());
        }
        return Err(Error::BadEmptyTreeConsistency);
    }
    if old_size == new_size {
        if proof.is_empty() && old_root == new_root {
            return Ok(());
        }
        return Err(Error::ConsistencyProofMismatch);
    }
    if proof.is_empty() {
        return Err(Error::ConsistencyProofMismatch);
    }
    // RFC 9162 §2.1.4.2, step 2: if old_size is an exact power of 2, the old root itself is
    // the first element of the (implied) path.
    let (seed, rest) = if old_size.is_power_of_two() { (*old_root, proof) } else { (proof[0], &proof[1..]) };
    // Steps 3-4.
    let mut fnode = old_size - 1;
    let mut snode = new_size - 1;
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // Step 5.
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if snode == 0 {
            return Err(Error::ConsistencyProofMismatch);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(*c, fr);
            sr = node_hash(*c, sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(sr, *c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if fr == *old_root && sr == *new_root && snode == 0 { Ok(()) } else { Err(Error::ConsistencyProofMismatch) }
}

/// RFC 6962 Merkle tree hash of a list of leaf hashes, computed directly (for small lists such
/// as a `records.batch`). Equal to [`tree_root`] over the same leaves.
#[must_use]
pub fn root_of_leaf_hashes(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(root_of_leaf_hashes(&leaves[..k]), root_of_leaf_hashes(&leaves[k..]))
        }
    }
}

/// An in-memory, append-only hash store: for tests, benchmarks and the browser.
#[derive(Debug, Clone, Default)]
pub struct MemoryHashStore {
    hashes: Vec<Hash>,
    size: u64,
}

impl MemoryHashStore {
    /// An empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf given its entry bytes; returns its index.
    ///
    /// # Errors
    /// Never for the memory store (kept fallible for parity with database stores).
    pub fn append(&mut self, entry: &[u8]) -> Result<u64> {
        self.append_leaf_hash(leaf_hash(entry))
    }

    /// Appends a leaf given its leaf hash; returns its index.
    ///
    /// # Errors
    /// Never for the memory store.
    pub fn append_leaf_hash(&mut self, h: Hash) -> Result<u64> {
        let n = self.size;
        let new = stored_hashes_for_leaf(n, h, &*self)?;
        self.hashes.extend(new);
        self.size += 1;
        Ok(n)
    }

    /// Current root.
    ///
    /// # Errors
    /// Never for the memory store.
    pub fn root(&self) -> Result<Hash> {
        tree_root(self.size, self)
    }

    /// All stored hashes in stored-index order.
    #[must_use]
    pub fn stored(&self) -> &[Hash] {
        &self.hashes
    }
}

impl HashReader for MemoryHashStore {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.hashes.get(i).copied())
                    .ok_or_else(|| Error::Storage(format!("no stored hash at index {i}")))
            })
            .collect()
    }
}
