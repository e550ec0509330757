//! Pure cryptographic core of the onecity ledger ("the chain").
//!
//! The ledger is a Certificate-Transparency-style Merkle log in the public C2SP formats:
//!
//! * tree hashing, inclusion and consistency proofs per RFC 6962 §2.1 / RFC 9162 §2.1
//!   ([`tree`]), over a storage trait ([`tree::HashReader`]) that a database implements;
//! * tiles, tile paths and entry bundles per C2SP tlog-tiles ([`tiles`]);
//! * checkpoints per C2SP tlog-checkpoint inside C2SP signed-note, with verifier keys
//!   (`vkey`) and key ids per C2SP signed-note §"Signatures" ([`note`]);
//! * `cosignature/v1` (signature type 0x04) per C2SP tlog-cosignature, a k-of-n witness policy
//!   and the C2SP tlog-witness `add-checkpoint` request body ([`cosign`]);
//! * versioned, deterministic leaf encodings of every ledger event ([`leaf`]);
//! * the status map of grants and devices, a Jellyfish Merkle tree (`jmt` 0.12) keyed by
//!   SHA-256 of the grant or device id ([`status`]);
//! * device passports and signed readings ([`device`]);
//! * sealed confirmation records: salted commitments batched under `records.batch` leaves
//!   ([`record`]);
//! * the self-contained JSON proof bundle and [`bundle::verify_bundle`] ([`bundle`]).
//!
//! The byte-level formats are documented in `docs/ledger-format.md`.
//!
//! What this crate does **not** do: no I/O, no HTTP, no database, no async, no clock (every
//! time-dependent function takes `now` as Unix seconds), no randomness (keys are derived from
//! caller-provided 32-byte seeds). It does not implement the witness's durable state nor the
//! ML-DSA-44 cosignature type (0x06) yet; the cosignature algorithm sits behind
//! [`cosign::CosignatureVerifier`] / [`cosign::CosignatureSigner`] so adding it does not touch
//! callers. It compiles for `wasm32-unknown-unknown`.
//!
//! ```
//! use chain::demo::{DemoLedger, sample_events};
//!
//! // The sequencer side: append entries, close a checkpoint (status.root + signatures).
//! let mut ledger = DemoLedger::new()?;
//! for event in sample_events().into_iter().take(6) {
//!     ledger.append(&event)?;
//! }
//! let checkpoint = ledger.checkpoint(1_767_500_000)?;
//!
//! // The resident's side: a bundle for the grant at index 1, verified offline against
//! // pinned keys.
//! let json = ledger.bundle(1, &checkpoint)?.to_json()?;
//! let bundle = chain::ProofBundle::from_json(&json)?;
//! let verdict = chain::verify_bundle(&bundle, &ledger.policy, 1_767_600_000)?;
//! assert!(verdict.status.unwrap().active_now);
//! # Ok::<(), chain::Error>(())
//! ```

pub mod bundle;
pub mod claim;
pub mod cosign;
pub mod demo;
pub mod device;
pub mod error;
#[doc(hidden)]
pub mod fuzz_entry;
pub mod hash;
pub mod leaf;
pub mod note;
pub mod record;
pub mod status;
pub mod tiles;
pub mod tree;

pub use bundle::{ProofBundle, Verdict, verify_bundle};
pub use cosign::{QuorumReport, WitnessPolicy};
pub use error::{Error, Result};
pub use hash::Hash;
pub use leaf::{Event, GrantId, Pseudonym};
pub use note::{Checkpoint, SignedCheckpoint};
pub use status::{GrantStatus, MapProof};
