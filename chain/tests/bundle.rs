//! Proof bundles end to end: build a ledger, bundle grants, revocations and receipts, verify
//! offline, and check that each kind of tampering fails with the right message.

use chain::bundle::{ProofBundle, verify_bundle};
use chain::demo::{DemoLedger, sample_events};
use chain::leaf::{Event, GrantId, Pseudonym};
use chain::status::GrantStatus;
use chain::{Error, Hash};

const NOW: u64 = 1_767_600_000;

fn ledger() -> (DemoLedger, chain::SignedCheckpoint) {
    let mut l = DemoLedger::new().unwrap();
    for e in sample_events().into_iter().take(6) {
        l.append(&e).unwrap();
    }
    let cp = l.checkpoint(NOW - 100).unwrap();
    (l, cp)
}

#[test]
fn grant_bundle_verifies_active_then_expired() {
    let (l, cp) = ledger();
    let b = l.bundle(1, &cp).unwrap();
    let json = b.to_json().unwrap();
    let b2 = ProofBundle::from_json(&json).unwrap();
    assert_eq!(b2, b);
    let v = verify_bundle(&b2, &l.policy, NOW).unwrap();
    assert_eq!(v.index, 1);
    assert_eq!(v.cosigners.len(), 4);
    assert_eq!(v.event.type_name(), "grant.issued");
    let s = v.status.unwrap();
    assert_eq!(s.status, Some(GrantStatus::Active { until: 1_798_761_600 }));
    assert!(s.active_now);
    let v = verify_bundle(&b2, &l.policy, 1_798_761_600).unwrap();
    assert!(!v.status.unwrap().active_now);
}

#[test]
fn revocation_and_absence() {
    let (mut l, _) = ledger();
    // Revoke the sample grant 0x11 in a later checkpoint.
    l.append(&Event::GrantRevoked {
        grant_id: GrantId([0x11; 16]),
        resident: Pseudonym([0xaa; 32]),
        revoked_at: NOW - 50,
    })
    .unwrap();
    let cp2 = l.checkpoint(NOW - 40).unwrap();
    let v = verify_bundle(&l.bundle(1, &cp2).unwrap(), &l.policy, NOW).unwrap();
    let s = v.status.unwrap();
    assert_eq!(s.status, Some(GrantStatus::Revoked { at: NOW - 50 }));
    assert!(!s.active_now);
    // Sample revocation of grant 0x22 that was never issued: map says revoked.
    let v = verify_bundle(&l.bundle(2, &cp2).unwrap(), &l.policy, NOW).unwrap();
    assert_eq!(v.status.unwrap().status, Some(GrantStatus::Revoked { at: 1_767_312_000 }));
    // A receipt bundle carries its grant's status too.
    let v = verify_bundle(&l.bundle(3, &cp2).unwrap(), &l.policy, NOW).unwrap();
    assert_eq!(v.event.type_name(), "access.receipt");
    assert!(v.status.is_some());
    // A records.batch bundle has no status.
    let v = verify_bundle(&l.bundle(4, &cp2).unwrap(), &l.policy, NOW).unwrap();
    assert!(v.status.is_none());
    // Absence: an access receipt for a grant not in the map.
    l.append(&Event::AccessReceipt {
        grant_id: GrantId([0x99; 16]),
        reader: "x".into(),
        scopes: vec![],
        purpose: "p".into(),
        time: NOW,
        verified_at: None,
    })
    .unwrap();
    let cp3 = l.checkpoint(NOW - 30).unwrap();
    let idx = cp3.checkpoint.size - 2;
    let v = verify_bundle(&l.bundle(idx, &cp3).unwrap(), &l.policy, NOW).unwrap();
    let s = v.status.unwrap();
    assert_eq!(s.status, None);
    assert!(!s.active_now);
}

fn err(b: &ProofBundle, l: &DemoLedger) -> String {
    verify_bundle(b, &l.policy, NOW).unwrap_err().to_string()
}

#[test]
fn tampering_is_named() {
    let (l, cp) = ledger();
    let good = l.bundle(1, &cp).unwrap();

    let mut b = good.clone();
    b.entry.inclusion_proof[0].0[0] ^= 1;
    assert_eq!(err(&b, &l), "proof bundle is inconsistent: entry: inclusion proof does not lead to checkpoint root");

    let mut b = good.clone();
    b.entry.index = 2;
    assert!(err(&b, &l).contains("inclusion proof does not lead to checkpoint root"));

    let mut b = good.clone();
    let mut leaf = b.entry.leaf_bytes().unwrap();
    let n = leaf.len();
    leaf[n - 1] ^= 1; // valid_until changes
    b.entry = chain::bundle::EntryProof::new(1, &leaf, b.entry.inclusion_proof.clone());
    assert!(err(&b, &l).contains("entry: inclusion proof does not lead to checkpoint root"));

    let mut b = good.clone();
    let st = b.status.as_mut().unwrap();
    st.status = Some(GrantStatus::Active { until: u64::MAX });
    assert_eq!(err(&b, &l), "map proof is invalid: value does not match the proof's value hash");

    let mut b = good.clone();
    b.status.as_mut().unwrap().map_proof.siblings[0].0[0] ^= 1;
    assert_eq!(err(&b, &l), "map proof is invalid: map proof does not lead to the status root");

    let mut b = good.clone();
    b.status.as_mut().unwrap().entry.index -= 1;
    assert!(err(&b, &l).starts_with("status.root entry is not bound to the checkpoint"));

    let mut b = good.clone();
    b.status.as_mut().unwrap().entry.inclusion_proof[0].0[1] ^= 1;
    assert_eq!(
        err(&b, &l),
        "proof bundle is inconsistent: status.root entry: inclusion proof does not lead to checkpoint root"
    );

    let mut b = good.clone();
    b.status = None;
    assert_eq!(err(&b, &l), "proof bundle is inconsistent: a grant.issued bundle must carry a status proof");

    // Checkpoint: change the size -> log signature fails.
    let mut b = good.clone();
    b.checkpoint =
        b.checkpoint.replacen(&format!("\n{}\n", cp.checkpoint.size), &format!("\n{}\n", cp.checkpoint.size + 1), 1);
    assert_eq!(err(&b, &l), "checkpoint signature from the log key 'ledger.onecity.example' is invalid");

    // Drop two cosignature lines -> quorum missed.
    let mut b = good.clone();
    let mut lines: Vec<&str> = b.checkpoint.lines().collect();
    lines.truncate(lines.len() - 2);
    b.checkpoint = lines.join("\n") + "\n";
    assert!(err(&b, &l).starts_with("checkpoint has 2 valid cosignatures, the witness policy needs 3"));

    // Policy mismatch.
    let mut l2 = DemoLedger::new().unwrap();
    l2.policy = chain::WitnessPolicy::new(
        l.policy.log_key().clone(),
        l.policy.witness_keys().into_iter().cloned().collect(),
        4,
    )
    .unwrap();
    assert_eq!(
        verify_bundle(&good, &l2.policy, NOW).unwrap_err().to_string(),
        "bundle's witness policy differs from the trusted policy: quorum 3 instead of 4"
    );

    let mut b = good.clone();
    b.version = 2;
    assert_eq!(verify_bundle(&b, &l.policy, NOW).unwrap_err(), Error::UnsupportedBundleVersion(2));

    assert!(ProofBundle::from_json("{}").is_err());
    let j = good.to_json().unwrap().replacen("{", "{\"extra\": 1,", 1);
    assert!(ProofBundle::from_json(&j).unwrap_err().to_string().contains("unknown field"));
    let _ = Hash::default();
}
