//! C2SP tlog-tiles: tile paths, tile data, entry bundles, and tile-based hash reading.
//!
//! `tlog_tiles` 0.2 names tiles the Go sumdb way (`tile/8/0/x001/234`, with the height in
//! the path and `data` for entries). C2SP tlog-tiles fixes the height at 8 and uses
//! `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`; [`TilePath`] implements that layout.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, Result};
use crate::hash::{HASH_SIZE, Hash};
use crate::tree::{HashReader, TlogAdapter, from_tlog_err};

/// Tile height fixed by C2SP tlog-tiles: a full tile holds 2^8 = 256 hashes or entries.
pub const TILE_HEIGHT: u8 = 8;
/// Largest tree size the tile helpers support (2^56 leaves).
pub const MAX_TREE_SIZE: u64 = 1 << 56;
/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u16 = 256;

/// A C2SP tlog-tiles resource: a Merkle (hash) tile or an entry bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TilePath {
    /// `tile/<level>/<index>[.p/<width>]`: `width` hashes of tree level `8*level`.
    Hash {
        /// Tile level L (0..=63).
        level: u8,
        /// Tile index N within the level.
        index: u64,
        /// Number of hashes, 1..=256 (256 = full tile, no `.p/` suffix).
        width: u16,
    },
    /// `tile/entries/<index>[.p/<width>]`: entries `index*256 .. index*256+width`.
    Entries {
        /// Bundle index N.
        index: u64,
        /// Number of entries, 1..=256.
        width: u16,
    },
}

/// Appends `n` in the C2SP tlog-tiles encoding: 3-digit groups, all but the last prefixed
/// with `x` (1234067 -> `x001/x234/067`).
fn push_index(out: &mut String, n: u64) {
    let mut groups = Vec::new();
    let mut m = n;
    loop {
        groups.push(m % 1000);
        m /= 1000;
        if m == 0 {
            break;
        }
    }
    for (i, g) in groups.iter().rev().enumerate() {
        if i + 1 < groups.len() {
            out.push_str(&format!("x{g:03}/"));
        } else {
            out.push_str(&format!("{g:03}"));
        }
    }
}

impl fmt::Display for TilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::from("tile/");
        let (index, width) = match *self {
            Self::Hash { level, index, width } => {
                s.push_str(&format!("{level}/"));
                (index, width)
            }
            Self::Entries { index, width } => {
                s.push_str("entries/");
                (index, width)
            }
        };
        push_index(&mut s, index);
        if width != TILE_WIDTH {
            s.push_str(&format!(".p/{width}"));
        }
        f.write_str(&s)
    }
}

impl TilePath {
    /// The C2SP path string, e.g. `tile/0/x001/x234/067.p/8`.
    #[must_use]
    pub fn path(&self) -> String {
        self.to_string()
    }

    /// Parses a C2SP tlog-tiles path strictly: canonical index groups (no superfluous leading
    /// `x000/` group), decimal level 0..=63 and width 1..=255 without leading zeros.
    ///
    /// # Errors
    /// [`Error::BadTilePath`] naming what is wrong.
    pub fn parse(path: &str) -> Result<Self> {
        let bad = |reason| Error::BadTilePath { path: path.chars().take(200).collect(), reason };
        let rest = path.strip_prefix("tile/").ok_or_else(|| bad("does not start with tile/"))?;
        let (kind, rest) = rest.split_once('/').ok_or_else(|| bad("missing level"))?;
        let level = if kind == "entries" {
            None
        } else {
            let l = parse_decimal(kind).ok_or_else(|| bad("level is not a canonical decimal"))?;
            if l > 63 {
                return Err(bad("level above 63"));
            }
            Some(u8::try_from(l).map_err(|_| bad("level above 63"))?)
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((i, w)) => {
                let w = parse_decimal(w).ok_or_else(|| bad("width is not a canonical decimal"))?;
                if !(1..=255).contains(&w) {
                    return Err(bad("partial width must be 1..=255"));
                }
                (i, u16::try_from(w).map_err(|_| bad("width"))?)
            }
            None => (rest, TILE_WIDTH),
        };
        let groups: Vec<&str> = index_part.split('/').collect();
        if groups.len() > 7 {
            return Err(bad("index has too many groups"));
        }
        let mut index: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let last = i + 1 == groups.len();
            let digits = if last {
                *g
            } else {
                g.strip_prefix('x').ok_or_else(|| bad("non-final index group lacks x prefix"))?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("index group is not 3 digits"));
            }
            if i == 0 && !last && digits == "000" {
                return Err(bad("index has a superfluous leading x000 group"));
            }
            let d: u64 = digits.parse().map_err(|_| bad("index group"))?;
            index = index.checked_mul(1000).and_then(|v| v.checked_add(d)).ok_or_else(|| bad("index overflows u64"))?;
        }
        Ok(match level {
            Some(level) => Self::Hash { level, index, width },
            None => Self::Entries { index, width },
        })
    }

    fn to_tlog(self) -> tlog_tiles::Tile {
        match self {
            Self::Hash { level, index, width } => {
                tlog_tiles::Tile::new(TILE_HEIGHT, level, index, u32::from(width), false)
            }
            Self::Entries { index, width } => tlog_tiles::Tile::new(TILE_HEIGHT, 0, index, u32::from(width), true),
        }
    }

    fn from_tlog(t: &tlog_tiles::Tile) -> Self {
        let width = u16::try_from(t.width()).unwrap_or(TILE_WIDTH);
        if t.is_data() {
            Self::Entries { index: t.level_index(), width }
        } else {
            Self::Hash { level: t.level(), index: t.level_index(), width }
        }
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.len() > 1 && s.starts_with('0') {
        return None;
    }
    s.parse().ok()
}

/// Hash tiles (C2SP tlog-tiles) that must be (re)published when the tree grows from
/// `old_size` to `new_size`: every new full tile and the final partial tile of each level.
/// The matching entry bundles are the level-0 tiles' `Entries` twins ([`entry_bundles_for_growth`]).
#[must_use]
pub fn tiles_for_growth(old_size: u64, new_size: u64) -> Vec<TilePath> {
    // tlog_tiles shifts by 8*level and overflows for sizes of 2^56 and more.
    if old_size >= new_size || new_size >= MAX_TREE_SIZE {
        return Vec::new();
    }
    tlog_tiles::Tile::new_tiles(TILE_HEIGHT, old_size, new_size).iter().map(TilePath::from_tlog).collect()
}

/// Entry bundles that must be (re)published when growing from `old_size` to `new_size`.
#[must_use]
pub fn entry_bundles_for_growth(old_size: u64, new_size: u64) -> Vec<TilePath> {
    tiles_for_growth(old_size, new_size)
        .into_iter()
        .filter_map(|t| match t {
            TilePath::Hash { level: 0, index, width } => Some(TilePath::Entries { index, width }),
            _ => None,
        })
        .collect()
}

/// Reads the data of hash tile `tile` (its hashes concatenated) from stored hashes.
///
/// # Errors
/// [`Error::BadTilePath`] for entry bundles; storage failures.
pub fn read_tile_data<R: HashReader + ?Sized>(tile: TilePath, r: &R) -> Result<Vec<u8>> {
    let TilePath::Hash { level, index, .. } = tile else {
        return Err(Error::BadTilePath { path: tile.path(), reason: "entry bundles hold entries, not hashes" });
    };
    if level >= 7 || index >= MAX_TREE_SIZE >> (8 * (u32::from(level) + 1)) {
        return Err(Error::BadTilePath {
            path: tile.path(),
            reason: "beyond the largest supported tree (2^56 leaves)",
        });
    }
    tile.to_tlog().read_data(&TlogAdapter(r)).map_err(from_tlog_err)
}

/// Tile data: the hashes concatenated, 32 bytes each (C2SP tlog-tiles "Merkle Tree").
#[must_use]
pub fn encode_tile_data(hashes: &[Hash]) -> Vec<u8> {
    hashes.iter().flat_map(|h| h.0).collect()
}

/// Splits tile data into hashes.
///
/// # Errors
/// [`Error::BadTileData`] when empty, longer than 256 hashes, or not a multiple of 32 bytes.
pub fn decode_tile_data(data: &[u8]) -> Result<Vec<Hash>> {
    if data.is_empty() || !data.len().is_multiple_of(HASH_SIZE) || data.len() > HASH_SIZE * usize::from(TILE_WIDTH) {
        return Err(Error::BadTileData(format!("{} bytes is not 1..=256 hashes", data.len())));
    }
    Ok(data.chunks_exact(HASH_SIZE).map(|c| Hash(c.try_into().unwrap_or([0; 32]))).collect())
}

/// Entry bundle: each entry prefixed by its length as a big-endian uint16 (C2SP tlog-tiles
/// "Log Entries").
///
/// # Errors
/// [`Error::BadEntryBundle`] when an entry exceeds 65535 bytes or there are more than 256.
pub fn encode_entry_bundle<T: AsRef<[u8]>>(entries: &[T]) -> Result<Vec<u8>> {
    if entries.len() > usize::from(TILE_WIDTH) {
        return Err(Error::BadEntryBundle(format!("{} entries, at most 256", entries.len())));
    }
    let mut out = Vec::new();
    for e in entries {
        let e = e.as_ref();
        let len = u16::try_from(e.len())
            .map_err(|_| Error::BadEntryBundle(format!("entry of {} bytes exceeds 65535", e.len())))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Decodes an entry bundle.
///
/// # Errors
/// [`Error::BadEntryBundle`] on truncation or more than 256 entries.
pub fn decode_entry_bundle(data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if out.len() == usize::from(TILE_WIDTH) {
            return Err(Error::BadEntryBundle("more than 256 entries".into()));
        }
        if rest.len() < 2 {
            return Err(Error::BadEntryBundle("truncated length prefix".into()));
        }
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
        if rest.len() < len {
            return Err(Error::BadEntryBundle(format!("entry {} truncated", out.len())));
        }
        out.push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    Ok(out)
}

/// A set of hash tiles held in memory (e.g. fetched by a browser or monitor) that serves
/// stored hashes, so the root and proofs can be computed from tiles alone.
#[derive(Debug, Clone, Default)]
pub struct TileSet {
    tiles: BTreeMap<(u8, u64), Vec<u8>>,
}

impl TileSet {
    /// Empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a hash tile's data; a wider tile replaces a narrower one.
    ///
    /// # Errors
    /// [`Error::BadTilePath`] for entry bundles, [`Error::BadTileData`] when the data length
    /// does not match the path's width.
    pub fn insert(&mut self, tile: TilePath, data: Vec<u8>) -> Result<()> {
        let TilePath::Hash { level, index, width } = tile else {
            return Err(Error::BadTilePath { path: tile.path(), reason: "entry bundles hold entries, not hashes" });
        };
        if data.len() != usize::from(width) * HASH_SIZE {
            return Err(Error::BadTileData(format!(
                "{} has {} bytes, expected {}",
                tile.path(),
                data.len(),
                usize::from(width) * HASH_SIZE
            )));
        }
        let e = self.tiles.entry((level, index)).or_default();
        if data.len() > e.len() {
            *e = data;
        }
        Ok(())
    }
}

impl HashReader for TileSet {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>> {
        indexes
            .iter()
            .map(|&i| {
                let t = tlog_tiles::Tile::from_index(TILE_HEIGHT, i);
                let data = self
                    .tiles
                    .get(&(t.level(), t.level_index()))
                    .ok_or_else(|| Error::MissingTile(TilePath::from_tlog(&t).path()))?;
                let have = u32::try_from(data.len() / HASH_SIZE).unwrap_or(0);
                let t = tlog_tiles::Tile::new(TILE_HEIGHT, t.level(), t.level_index(), have.max(1), false);
                t.hash_at_index(data, i).map(Hash::from_tlog).map_err(|_| {
                    Error::MissingTile(TilePath::from_tlog(&tlog_tiles::Tile::from_index(TILE_HEIGHT, i)).path())
                })
            })
            .collect()
    }
}

/// Root hash of the tree of `size` leaves computed from hash tiles only.
///
/// # Errors
/// [`Error::MissingTile`] naming the first tile that is needed but absent.
pub fn root_from_tiles(size: u64, tiles: &TileSet) -> Result<Hash> {
    crate::tree::tree_root(size, tiles)
}
