//! The 32-byte SHA-256 hash value used throughout the ledger.

use base64::Engine as _;
use base64::prelude::BASE64_STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// Number of bytes in a [`Hash`].
pub const HASH_SIZE: usize = 32;

/// A SHA-256 value: a tree node, a leaf hash, a map root. Serialised (JSON) as standard base64,
/// the same encoding checkpoints use (C2SP tlog-checkpoint).
#[derive(Copy, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; HASH_SIZE]);

impl Hash {
    /// SHA-256 of `data` (no domain separation; use [`crate::tree::leaf_hash`] for log leaves).
    #[must_use]
    pub fn sha256(data: &[u8]) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(data).into())
    }

    /// Standard base64 with padding.
    #[must_use]
    pub fn to_base64(&self) -> String {
        BASE64_STANDARD.encode(self.0)
    }

    /// Parses standard base64 of exactly 32 bytes.
    ///
    /// # Errors
    /// [`Error::MalformedHash`] when the text is not base64 of 32 bytes.
    pub fn from_base64(s: &str) -> Result<Self> {
        let v = BASE64_STANDARD.decode(s).map_err(|e| Error::MalformedHash(format!("not base64: {e}")))?;
        Self::from_slice(&v)
    }

    /// Copies a 32-byte slice.
    ///
    /// # Errors
    /// [`Error::MalformedHash`] when the slice is not 32 bytes long.
    pub fn from_slice(b: &[u8]) -> Result<Self> {
        <[u8; HASH_SIZE]>::try_from(b)
            .map(Self)
            .map_err(|_| Error::MalformedHash(format!("expected 32 bytes, got {}", b.len())))
    }

    /// Lower-case hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub(crate) fn to_tlog(self) -> tlog_tiles::Hash {
        tlog_tiles::Hash(self.0)
    }

    pub(crate) fn from_tlog(h: tlog_tiles::Hash) -> Self {
        Self(h.0)
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl std::fmt::Display for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_base64(&s).map_err(serde::de::Error::custom)
    }
}
