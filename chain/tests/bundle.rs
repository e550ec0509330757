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
    b.version = 5;
    assert_eq!(verify_bundle(&b, &l.policy, NOW).unwrap_err(), Error::UnsupportedBundleVersion(5));
    b.version = 1;
    assert!(verify_bundle(&b, &l.policy, NOW).is_ok(), "version 1 bundles (without at_read) still verify");

    assert!(ProofBundle::from_json("{}").is_err());
    let j = good.to_json().unwrap().replacen("{", "{\"extra\": 1,", 1);
    assert!(ProofBundle::from_json(&j).unwrap_err().to_string().contains("unknown field"));
    let _ = Hash::default();
}

/// A grant issued and cosigned (`cp1`), a receipt naming `cp1`, then `cp2` with the receipt.
/// Entry indices: 0 grant.issued, 1 status.root (cp1 = size 2), 2 access.receipt, 3 status.root.
fn read_under(grant_until: u64, revoke_first: bool) -> (DemoLedger, chain::SignedCheckpoint, chain::SignedCheckpoint) {
    let mut l = DemoLedger::new().unwrap();
    let grant = GrantId([0x42; 16]);
    l.append(&Event::GrantIssued {
        grant_id: grant,
        resident: Pseudonym([1; 32]),
        service_version_hash: Hash([2; 32]),
        scopes: vec!["transit.trips".into()],
        purpose: "Cap fares".into(),
        valid_from: NOW - 10_000,
        valid_until: grant_until,
    })
    .unwrap();
    if revoke_first {
        l.append(&Event::GrantRevoked { grant_id: grant, resident: Pseudonym([1; 32]), revoked_at: NOW - 5_000 })
            .unwrap();
    }
    let cp1 = l.checkpoint(NOW - 1_000).unwrap();
    l.append(&Event::AccessReceipt {
        grant_id: grant,
        reader: "transit-authority/client/fare-engine".into(),
        scopes: vec!["transit.trips".into()],
        purpose: "Cap fares".into(),
        time: NOW - 900,
        verified_at: Some(chain::leaf::CheckpointRef { size: cp1.checkpoint.size, root: cp1.checkpoint.root }),
    })
    .unwrap();
    let cp2 = l.checkpoint(NOW - 800).unwrap();
    (l, cp1, cp2)
}

#[test]
fn a_receipt_proves_its_grant_active_at_the_time_of_the_read() {
    let (l, cp1, cp2) = read_under(NOW + 86_400, false);
    let b = l.bundle(cp1.checkpoint.size, &cp2).unwrap();
    let b = ProofBundle::from_json(&b.to_json().unwrap()).unwrap();
    let v = verify_bundle(&b, &l.policy, NOW).unwrap();
    let at = v.at_read.expect("a v2 receipt's bundle proves the state at the read");
    assert!(at.active_at_read);
    assert_eq!(at.checkpoint, cp1.checkpoint);
    assert_eq!(at.cosigners.len(), 4);
    assert_eq!(at.grant.type_name(), "grant.issued");

    // A grant revoked before the checkpoint the receipt names: the proof is honest, and says
    // the read was not covered.
    let (l, cp1, cp2) = read_under(NOW + 86_400, true);
    let v = verify_bundle(&l.bundle(cp1.checkpoint.size, &cp2).unwrap(), &l.policy, NOW).unwrap();
    assert!(!v.at_read.unwrap().active_at_read, "revoked before the read");
    // A grant that had ended by the read.
    let (l, cp1, cp2) = read_under(NOW - 950, false);
    let v = verify_bundle(&l.bundle(cp1.checkpoint.size, &cp2).unwrap(), &l.policy, NOW).unwrap();
    assert!(!v.at_read.unwrap().active_at_read, "expired before the read");
}

#[test]
fn each_tampered_or_swapped_part_of_at_read_is_named() {
    let (l, cp1, cp2) = read_under(NOW + 86_400, false);
    let good = l.bundle(cp1.checkpoint.size, &cp2).unwrap();
    let fails = |b: &ProofBundle| verify_bundle(b, &l.policy, NOW).unwrap_err().to_string();

    let mut b = good.clone();
    b.at_read = None;
    assert!(fails(&b).contains("must carry at_read"), "{}", fails(&b));

    // Another, genuine checkpoint (the later one) in place of the one the receipt names.
    let mut b = good.clone();
    b.at_read.as_mut().unwrap().checkpoint = good.checkpoint.clone();
    assert!(fails(&b).contains("at_read.checkpoint") && fails(&b).contains("not the checkpoint the receipt names"));

    // A forged cosignature line set: the quorum fails for that part.
    let mut b = good.clone();
    let note = &mut b.at_read.as_mut().unwrap().checkpoint;
    *note = note.lines().take(4).collect::<Vec<_>>().join("\n") + "\n";
    assert!(fails(&b).contains("at_read.checkpoint"), "{}", fails(&b));

    let mut b = good.clone();
    b.at_read.as_mut().unwrap().consistency.push(Hash([9; 32]));
    assert!(fails(&b).contains("at_read.consistency"), "{}", fails(&b));

    // The grant's entry swapped for the status.root entry of the same checkpoint.
    let mut b = good.clone();
    let at = b.at_read.as_mut().unwrap();
    at.grant = at.status.entry.clone();
    assert!(fails(&b).contains("at_read.grant"), "{}", fails(&b));

    // The grant's inclusion path bent.
    let mut b = good.clone();
    b.at_read.as_mut().unwrap().grant.inclusion_proof[0] = Hash([7; 32]);
    assert!(fails(&b).contains("at_read.grant: inclusion proof"), "{}", fails(&b));

    // Claiming a status the map does not hold.
    let mut b = good.clone();
    b.at_read.as_mut().unwrap().status.status = Some(GrantStatus::Active { until: u64::MAX });
    assert!(fails(&b).contains("at_read.status"), "{}", fails(&b));

    // at_read on an entry that is not a v2 receipt.
    let mut b = l.bundle(0, &cp2).unwrap();
    b.at_read = good.at_read.clone();
    assert!(fails(&b).contains("only an access.receipt in leaf format 2"), "{}", fails(&b));

    // A version 1 bundle cannot carry it.
    let mut b = good;
    b.version = 1;
    assert!(fails(&b).contains("version 1"), "{}", fails(&b));
}

/// A sealed record: the proof verifies with the record's content, and each kind of
/// tampering (content, salt, path, batch leaf, anchor) fails naming what is wrong.
#[test]
fn record_existence_proofs_verify_and_tampering_names_the_problem() {
    let mut l = DemoLedger::new().unwrap();
    let records = chain::demo::sample_records();
    let versions: Vec<_> = records.iter().map(|(v, _)| v.clone()).collect();
    let batch = l.seal(versions, 1_767_300_000, 1_767_301_000).unwrap();
    let cp = l.checkpoint(NOW - 100).unwrap();
    for (p, (_, content)) in records.iter().enumerate() {
        let b = ProofBundle::from_json(&l.record_bundle(&batch, p as u64, &cp).unwrap().to_json().unwrap()).unwrap();
        let v = verify_bundle(&b, &l.policy, NOW).unwrap();
        let r = v.record.unwrap();
        assert_eq!((r.sealed_by, r.batch_size), (1_767_301_000, 3));
        chain::record::check_content(&r.record, content).unwrap();
    }
    let good = l.record_bundle(&batch, 0, &cp).unwrap();
    // The amended version's content does not pass for the first version's proof.
    let v = verify_bundle(&good, &l.policy, NOW).unwrap();
    let err = chain::record::check_content(&v.record.unwrap().record, &records[1].1).unwrap_err();
    assert!(err.to_string().contains("differs from what was sealed"), "{err}");

    let mut salt = good.clone();
    salt.record.as_mut().unwrap().record.salt[3] ^= 1;
    let err = verify_bundle(&salt, &l.policy, NOW).unwrap_err();
    assert!(matches!(err, Error::BadRecord(_)) && err.to_string().contains("not in the batch"), "{err}");

    let mut path = good.clone();
    path.record.as_mut().unwrap().batch_path.pop();
    assert!(matches!(verify_bundle(&path, &l.policy, NOW), Err(Error::BadRecord(_))));

    let mut old = good.clone();
    old.version = 2;
    assert!(matches!(verify_bundle(&old, &l.policy, NOW), Err(Error::BadBundle(_))), "version 2 has no record");

    // A record proof against an entry that is not a batch.
    let mut other = l.bundle(batch.index, &cp).unwrap();
    other.entry = l.bundle(batch.index + 1, &cp).unwrap().entry;
    other.version = 3;
    other.record = good.record.clone();
    assert!(verify_bundle(&other, &l.policy, NOW).unwrap_err().to_string().contains("not a records.batch"));

    let mut anchored = good.clone();
    anchored.anchor = Some(chain::bundle::AnchorRef {
        chain_id: 31_337,
        tx_hash: format!("0x{}", "ab".repeat(32)),
        block_number: 9,
        checkpoint_sha256: Hash::sha256(anchored.checkpoint.as_bytes()),
    });
    assert!(verify_bundle(&anchored, &l.policy, NOW).unwrap().anchor.is_some());
    anchored.anchor.as_mut().unwrap().checkpoint_sha256 = Hash([7; 32]);
    let err = verify_bundle(&anchored, &l.policy, NOW).unwrap_err();
    assert!(err.to_string().contains("anchor's checkpoint hash"), "{err}");
}

/// A device's life on the log: its passport bundle says who holds it and whether it is in
/// service at each checkpoint, and a doctored state or passport is named.
#[test]
fn passport_follows_the_device() {
    use chain::demo::sample_passport;
    use chain::leaf::{DeviceState, Passport};
    let mut l = DemoLedger::new().unwrap();
    let p: Passport = sample_passport();
    let at = l.append(&Event::DeviceRegisteredV2(p.clone())).unwrap();
    let cp1 = l.checkpoint(1_767_300_100).unwrap();
    let b1 = l.passport_bundle(at, &cp1).unwrap();
    let v = verify_bundle(&b1, &l.policy, NOW).unwrap().passport.unwrap();
    assert_eq!((v.status.state, v.status.owner, v.status.since), (DeviceState::Active, p.owner, p.registered_at));
    assert_eq!(v.passport, p);

    let new_owner = Pseudonym([0xdd; 32]);
    l.append(&Event::DeviceTransferred {
        device_id: p.device_id,
        from: p.owner,
        to: new_owner,
        transferred_at: 1_767_400_000,
    })
    .unwrap();
    l.append(&Event::DeviceStatus {
        device_id: p.device_id,
        owner: new_owner,
        state: DeviceState::Suspended,
        reason: "lost".into(),
        changed_at: 1_767_400_001,
    })
    .unwrap();
    let cp2 = l.checkpoint(1_767_400_100).unwrap();
    let b2 = l.passport_bundle(at, &cp2).unwrap();
    let v = verify_bundle(&b2, &l.policy, NOW).unwrap().passport.unwrap();
    assert_eq!((v.status.state, v.status.owner), (DeviceState::Suspended, new_owner));
    assert!(!v.in_service());
    // The old bundle still proves what held at its own checkpoint.
    assert!(verify_bundle(&b1, &l.policy, NOW).unwrap().passport.unwrap().in_service());

    // A server claiming the suspended device is active: the map proof does not hold.
    let mut forged = b2.clone();
    forged.device.as_mut().unwrap().status.state = DeviceState::Active;
    let e = verify_bundle(&forged, &l.policy, NOW).unwrap_err().to_string();
    assert_eq!(
        e,
        "device passport does not verify: device status: map proof is invalid: value does not match the proof's value hash"
    );
    // Another public key in the passport: the entry is not the cosigned one.
    let mut forged = b2.clone();
    let mut leaf = forged.entry.leaf_bytes().unwrap();
    let n = leaf.len();
    leaf[n - 9] ^= 1; // last byte of the public key
    forged.entry.leaf = base64::Engine::encode(&base64::prelude::BASE64_STANDARD, &leaf);
    assert!(verify_bundle(&forged, &l.policy, NOW).unwrap_err().to_string().contains("inclusion proof does not lead"));
    // A version 4 passport bundle without the device's status, and a status in version 3.
    let mut bare = b2.clone();
    bare.device = None;
    assert!(verify_bundle(&bare, &l.policy, NOW).unwrap_err().to_string().contains("must carry the device's status"));
    let mut old = b2.clone();
    old.version = 3;
    assert!(verify_bundle(&old, &l.policy, NOW).unwrap_err().to_string().contains("has no device status"));
    // The status.root of another checkpoint.
    let mut moved = b2;
    moved.device.as_mut().unwrap().entry = b1.device.unwrap().entry;
    assert!(matches!(verify_bundle(&moved, &l.policy, NOW).unwrap_err(), Error::StatusRootNotBound(_)));
}

/// A reading verifies under its device's key and nothing else does.
#[test]
fn readings_are_signed_by_the_device() {
    use chain::demo::{SAMPLE_DEVICE_SEED, sample_passport};
    use chain::device::Reading;
    let p = sample_passport();
    let r = Reading {
        device_id: p.device_id,
        counter: 1,
        measured_at: 1_767_300_200,
        metric: "water.litres".into(),
        value: -5,
    };
    let signed = r.clone().sign(&SAMPLE_DEVICE_SEED).unwrap();
    signed.verify(p.key_type, &p.public_key, &p.device_id).unwrap();

    let mut changed = signed.clone();
    changed.reading.value = 5;
    assert_eq!(changed.verify(p.key_type, &p.public_key, &p.device_id).unwrap_err(), Error::BadReadingSignature);
    let other = r.clone().sign(&[7; 32]).unwrap();
    assert_eq!(other.verify(p.key_type, &p.public_key, &p.device_id).unwrap_err(), Error::BadReadingSignature);
    let e = signed.verify(p.key_type, &p.public_key, &chain::leaf::DeviceId([9; 16])).unwrap_err().to_string();
    assert!(e.contains("names device 33333333"), "{e}");
    let mut short = signed.clone();
    short.signature.truncate(10);
    assert!(short.verify(p.key_type, &p.public_key, &p.device_id).unwrap_err().to_string().contains("128 hex digits"));
    let bad_metric = Reading { metric: "Water Litres".into(), ..r };
    assert!(bad_metric.signing_bytes().unwrap_err().to_string().contains("may only contain"));
    // The JSON a device posts, and a field too many.
    let json = serde_json::to_string(&signed).unwrap();
    assert_eq!(serde_json::from_str::<chain::device::SignedReading>(&json).unwrap(), signed);
    let extra = json.replacen('{', "{\"extra\":1,", 1);
    assert!(
        serde_json::from_str::<chain::device::SignedReading>(&extra).unwrap_err().to_string().contains("unknown field")
    );
}

/// A sealed reading: its bundle proves the reading, signed by the device of the passport, was
/// in a cosigned batch; an altered value, another device's passport, a broken path or a bundle
/// version without readings are each refused with the reason.
#[test]
fn sealed_readings_prove_existence_under_the_passport() {
    use chain::demo::{SAMPLE_DEVICE_SEED, sample_passport};
    use chain::device::Reading;
    let mut l = DemoLedger::new().unwrap();
    let p = sample_passport();
    let passport = l.append(&Event::DeviceRegisteredV2(p.clone())).unwrap();
    let other = chain::leaf::Passport {
        device_id: chain::leaf::DeviceId([0x44; 16]),
        public_key: chain::device::public_key(&[5; 32]).to_vec(),
        ..p.clone()
    };
    let other_index = l.append(&Event::DeviceRegisteredV2(other)).unwrap();
    let readings: Vec<_> = (1..=3)
        .map(|c| {
            Reading {
                device_id: p.device_id,
                counter: c,
                measured_at: 1_767_300_000 + c,
                metric: "leak".into(),
                value: 0,
            }
            .sign(&SAMPLE_DEVICE_SEED)
            .unwrap()
        })
        .collect();
    let batch = l.seal_readings(readings.clone(), 1_767_300_000, 1_767_300_010).unwrap();
    let cp = l.checkpoint(NOW - 100).unwrap();
    for position in 0..3 {
        let b = l.reading_bundle(&batch, position, passport, &cp).unwrap();
        let b = ProofBundle::from_json(&b.to_json().unwrap()).unwrap();
        let v = verify_bundle(&b, &l.policy, NOW).unwrap().reading.unwrap();
        assert_eq!(v.reading, readings[usize::try_from(position).unwrap()].reading);
        assert_eq!((v.sealed_by, v.batch_size, v.passport_index), (1_767_300_010, 3, passport));
        assert_eq!((v.kind.as_str(), v.registrant), (p.kind.as_str(), p.owner));
    }
    let good = l.reading_bundle(&batch, 1, passport, &cp).unwrap();
    let fails = |b: &ProofBundle| verify_bundle(b, &l.policy, NOW).unwrap_err().to_string();

    let mut altered = good.clone();
    altered.reading.as_mut().unwrap().reading.reading.value = 1;
    assert!(fails(&altered).contains("signature does not verify with its passport's key"), "{}", fails(&altered));
    // Re-signed by someone else's key: the passport's key does not verify it.
    let mut forged = good.clone();
    forged.reading.as_mut().unwrap().reading = readings[1].reading.clone().sign(&[5; 32]).unwrap();
    assert!(fails(&forged).contains("signature does not verify"), "{}", fails(&forged));
    let mut wrong_passport = l.reading_bundle(&batch, 1, other_index, &cp).unwrap();
    assert!(fails(&wrong_passport).contains("the reading names device"), "{}", fails(&wrong_passport));
    wrong_passport.reading.as_mut().unwrap().passport = l.bundle(batch.index, &cp).unwrap().entry;
    assert!(fails(&wrong_passport).contains("not the device's registration"), "{}", fails(&wrong_passport));
    let mut moved = good.clone();
    moved.reading.as_mut().unwrap().position = 0;
    assert!(fails(&moved).contains("not in the batch"), "{}", fails(&moved));
    let mut old = good.clone();
    old.version = 3;
    assert!(fails(&old).contains("no device status or reading"), "{}", fails(&old));
}
