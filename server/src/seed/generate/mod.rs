//! The synthetic city's residents and their data, generated from a seed number alone.
//!
//! Every resident is a pure function of `(seed, index)`: resident 41,337 of seed 7 is the same
//! person with the same trips whether the city is loaded in one go, in chunks, or resumed after
//! an interruption, and whatever the chunk size. Randomness is a ChaCha8 stream per resident
//! (the stream cipher's output is fixed by its specification, so the city does not change with
//! a `rand` upgrade), turned into numbers by [`Dice`] with our own arithmetic rather than
//! `rand`'s distributions, whose exact output may change between versions.
//!
//! Output is PostgreSQL `COPY ... (format text)` rows, written straight into byte buffers:
//! the hot path (behavioral records, about 100 per resident) formats its JSON by hand from
//! pre-escaped fragments; confirmation records go through `serde_json` because their content
//! hash must be exactly what [`crate::domain::records::add_confirmation`] would store.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

mod activity;
mod grants;
mod people;

pub use self::activity::*;
pub use self::grants::*;
pub use self::people::*;

/// Bumped whenever the same seed would generate a different city; stored with the city so a
/// newer binary never resumes an older city with different people.
pub const GENERATOR_VERSION: i32 = 1;

/// Issuer of the synthetic residents' accounts. No provider answers for it, so nobody can
/// sign in as a synthetic resident; the provider's own test accounts are seeded separately.
pub const SYNTHETIC_ISSUER: &str = "urn:onecity:synthetic";

/// Days of history before the city's `until` day.
pub const HISTORY_DAYS: i64 = 365;

/// Most behavioral records one resident can be given (a trip every 5 minutes for a year).
pub const MAX_RECORDS_PER_RESIDENT: u64 = 100_000;

/// The key every stream of one city derives from.
#[derive(Clone)]
pub struct CitySeed {
    key: [u8; 32],
}

impl CitySeed {
    #[must_use]
    pub fn new(seed: u64) -> Self {
        let mut h = Sha256::new();
        h.update(b"onecity.city.v1");
        h.update(seed.to_be_bytes());
        Self { key: h.finalize().into() }
    }

    /// Stream `stream` of this city: independent of every other stream.
    #[must_use]
    pub fn dice(&self, stream: u64) -> Dice {
        let mut rng = ChaCha8Rng::from_seed(self.key);
        rng.set_stream(stream);
        Dice(rng)
    }
}

/// Streams: two per resident (who they are; what they did), one per pair of residents (how
/// the pair shares its records), and places.
fn identity_stream(index: u32) -> u64 {
    u64::from(index) << 2
}
fn activity_stream(index: u32) -> u64 {
    (u64::from(index) << 2) | 1
}
fn pair_stream(pair: u32) -> u64 {
    (u64::from(pair) << 2) | 2
}
/// Stream for the city's places (facility positions).
pub const PLACES_STREAM: u64 = 1 << 62;

/// Numbers from a ChaCha8 stream, with arithmetic that does not depend on `rand`'s version.
pub struct Dice(ChaCha8Rng);

impl Dice {
    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for our `n`).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        ((u128::from(self.0.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An index into `weights`, chosen in proportion to them.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        weights.len() - 1
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A version-4 UUID from the stream.
    pub fn uuid(&mut self) -> Uuid {
        let mut b = [0u8; 16];
        self.0.fill_bytes(&mut b);
        uuid::Builder::from_random_bytes(b).into_uuid()
    }
}

/// Appends `s` as one field of `COPY ... (format text)`: backslash, tab, newline and carriage
/// return are the only bytes the format gives a meaning to.
pub fn copy_field(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// `bytea` in COPY text: hex with the `\x` prefix, its backslash escaped.
pub fn copy_bytea(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(b"\\\\x");
    out.extend_from_slice(hex::encode(bytes).as_bytes());
}

/// A JSON string literal, escaped for a COPY text field: computed once per name.
fn fragment(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    copy_field(&mut out, &serde_json::to_string(s).expect("strings serialize"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn districts() -> Vec<District> {
        crate::seed::map_districts().unwrap()
    }

    /// Everything resident `index` of a 1,000-resident, 100,000-record city of `seed` is.
    fn resident_text(seed: u64, index: u32) -> Vec<u8> {
        let city = CitySeed::new(seed);
        let vocab = Vocabulary::new(&districts(), time::macros::date!(2026 - 11 - 01));
        let mut small = Small::new();
        let p = resident(&city, &vocab, &districts(), 1_000, 100_000, index, &mut small);
        let mut out = [small.accounts, small.residents, small.civil, small.confirmations].concat();
        activity(&city, &vocab, &p, &mut out, usize::MAX, &mut |_| Ok::<(), ()>(())).unwrap();
        out
    }

    #[test]
    fn every_resident_gets_a_share_and_the_shares_sum_to_the_records_asked_for() {
        let city = CitySeed::new(3);
        for (residents, records) in [(1, 7), (2, 0), (7, 100), (10, 5), (999, 100_000), (1_000, 1_000_003)] {
            let shares: Vec<u64> = (0..residents).map(|i| records_of(&city, residents, records, i)).collect();
            assert_eq!(shares.iter().sum::<u64>(), records, "{residents} residents, {records} records");
            let even = records / u64::from(residents);
            assert!(shares.iter().all(|&s| s <= even + 1 + even / 2), "{shares:?}");
        }
        // The pairs really do differ: some people do a lot more than others.
        let shares: Vec<u64> = (0..100).map(|i| records_of(&city, 100, 10_000, i)).collect();
        assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() > 40, "{shares:?}");
    }

    /// Golden values: if this fails, the same seed now gives another city. That is allowed
    /// only with a new GENERATOR_VERSION (stored cities then refuse to resume) and new values.
    #[test]
    fn the_generator_is_pinned_to_its_version() {
        assert_eq!(GENERATOR_VERSION, 1);
        let mut dice = CitySeed::new(1).dice(0);
        let first: Vec<u64> = (0..4).map(|_| dice.below(1_000_000)).collect();
        assert_eq!(first, GOLDEN_DICE);
        let digest = hex::encode(Sha256::digest(resident_text(1, 0)));
        assert_eq!(digest, GOLDEN_RESIDENT_0);
    }
    const GOLDEN_DICE: [u64; 4] = [111_959, 190_634, 602_110, 48_875];
    const GOLDEN_RESIDENT_0: &str = "6677ead6deb1c6b8475352ae5982e767687a0b110b2071bd5cf0cc5cb7d38ba0";

    #[test]
    fn residents_depend_on_their_seed_and_index_only() {
        assert_eq!(resident_text(9, 17), resident_text(9, 17));
        assert_ne!(resident_text(9, 17), resident_text(10, 17));
        assert_ne!(resident_text(9, 17), resident_text(9, 18));
    }

    #[test]
    fn copy_text_escapes_the_bytes_copy_gives_a_meaning_to() {
        let mut out = Vec::new();
        copy_field(&mut out, "a\\b\tc\nd\re 中");
        assert_eq!(out, b"a\\\\b\\tc\\nd\\re \xe4\xb8\xad");
        let mut out = Vec::new();
        copy_bytea(&mut out, &[0xab, 0x01]);
        assert_eq!(out, b"\\\\xab01");
    }

    #[test]
    fn records_fall_inside_the_generated_year_with_the_shares_split_over_scopes() {
        let text = String::from_utf8(resident_text(4, 2)).unwrap();
        let until = "2026-11-01";
        let records: Vec<&str> = text.lines().filter(|l| l.split('\t').count() == 4 && l.contains('{')).collect();
        assert!(!records.is_empty());
        for r in &records {
            let at = r.split('\t').nth(2).unwrap();
            assert!(at < until && at >= "2025-11-01", "{r}");
            let json: serde_json::Value = serde_json::from_str(r.split('\t').nth(3).unwrap()).unwrap();
            assert!(json.is_object(), "{r}");
        }
    }
}
