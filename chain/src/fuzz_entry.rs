//! Entry points shared by the `cargo fuzz` targets (`fuzz/fuzz_targets/`) and the no-panic
//! test (`tests/no_panic.rs`): each feeds arbitrary bytes to one parser and, when it parses,
//! exercises the round trip and the verifiers that consume its output. None may panic.

use crate::bundle::{ProofBundle, verify_bundle};
use crate::cosign::{AddCheckpointRequest, decide_add_checkpoint, parse_cosignature_lines};
use crate::leaf::Event;
use crate::note::{Checkpoint, NoteSignature, SignedCheckpoint, SignedNote, VerifierKey};
use crate::status::GrantStatus;
use crate::tiles::{TilePath, decode_entry_bundle, decode_tile_data};

/// A fuzz target: its name and entry point.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzzed parser, by target name.
pub const TARGETS: &[Target] = &[
    ("note", note),
    ("checkpoint", checkpoint),
    ("cosignature_line", cosignature_line),
    ("vkey", vkey),
    ("tile_path", tile_path),
    ("leaf", leaf),
    ("bundle", bundle),
    ("add_checkpoint", add_checkpoint),
    ("entry_bundle", entry_bundle),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Signed note parsing and re-serialisation.
pub fn note(data: &[u8]) {
    if let Ok(n) = SignedNote::parse(data) {
        let again = SignedNote::parse(&n.to_bytes()).expect("re-parse of a parsed note");
        assert_eq!(again, n);
    }
}

/// Signed checkpoint parsing, then the demo policy's quorum check on it.
pub fn checkpoint(data: &[u8]) {
    if let Some(t) = text(data) {
        let _ = Checkpoint::parse(t);
    }
    if let Ok(c) = SignedCheckpoint::parse(data) {
        assert_eq!(Checkpoint::parse(&c.checkpoint.to_text()).ok(), Some(c.checkpoint.clone()));
        if let Ok(l) = crate::demo::DemoLedger::new() {
            let _ = l.policy.check(&c, 0);
            let _ = l.policy.require_quorum(&c, u64::MAX);
        }
    }
}

/// One cosignature line, and a witness response body.
pub fn cosignature_line(data: &[u8]) {
    if let Some(t) = text(data) {
        if let Ok(s) = NoteSignature::parse_line(t) {
            let l = s.to_line();
            assert_eq!(NoteSignature::parse_line(l.trim_end_matches('\n')).ok(), Some(s));
        }
        let _ = parse_cosignature_lines(t);
    }
}

/// Verifier keys.
pub fn vkey(data: &[u8]) {
    if let Some(t) = text(data)
        && let Ok(k) = VerifierKey::parse(t)
    {
        assert_eq!(VerifierKey::parse(&k.to_string()).ok(), Some(k.clone()));
        let _ = crate::cosign::cosignature_verifier(&k);
    }
}

/// C2SP tile paths.
pub fn tile_path(data: &[u8]) {
    if let Some(t) = text(data)
        && let Ok(p) = TilePath::parse(t)
    {
        assert_eq!(p.path(), t, "a parsed path prints back identically");
    }
}

/// Leaf decoding is canonical: what decodes re-encodes to the same bytes.
pub fn leaf(data: &[u8]) {
    if let Ok(e) = Event::decode(data) {
        assert_eq!(e.encode().ok().as_deref(), Some(data));
    }
    let _ = GrantStatus::decode(data);
    let _ = crate::device::DeviceStatus::decode(data);
}

/// Bundle JSON parsing and full verification against the demo policy.
pub fn bundle(data: &[u8]) {
    if let Some(t) = text(data)
        && let Ok(b) = ProofBundle::from_json(t)
    {
        if let Ok(l) = crate::demo::DemoLedger::new() {
            let _ = verify_bundle(&b, &l.policy, 1_767_600_000);
            let _ = verify_bundle(&b, &b.policy, u64::MAX);
        }
        let _ = b.to_json();
    }
}

/// tlog-witness add-checkpoint bodies and the witness's decision.
pub fn add_checkpoint(data: &[u8]) {
    if let Ok(r) = AddCheckpointRequest::parse(data) {
        assert_eq!(AddCheckpointRequest::parse(&r.to_bytes()).ok(), Some(r.clone()));
        if let Ok(l) = crate::demo::DemoLedger::new() {
            let _ = decide_add_checkpoint(&r, &l.log.verifier_key(), Some((r.old_size, crate::Hash::default())));
        }
    }
}

/// Entry bundles and tile data.
pub fn entry_bundle(data: &[u8]) {
    if let Ok(es) = decode_entry_bundle(data) {
        assert_eq!(crate::tiles::encode_entry_bundle(&es).ok().as_deref(), Some(data));
    }
    let _ = decode_tile_data(data);
}
