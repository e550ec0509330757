//! Golden vectors: every leaf format, a signed and cosigned checkpoint, a cosignature line,
//! verifier keys, an add-checkpoint body, a status value, a map proof and a proof bundle are
//! checked in under `tests/golden/`. An accidental format change fails here.
//! Regenerate deliberately with `UPDATE_GOLDEN=1 cargo test -p chain --test golden`.

use std::path::PathBuf;

use chain::bundle::verify_bundle;
use chain::cosign::{AddCheckpointRequest, CosignatureSigner};
use chain::demo::{DemoLedger, sample_events};
use chain::leaf::Event;
use chain::tree::prove_consistency;

fn check(name: &str, got: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(got, want, "golden file {name} differs (UPDATE_GOLDEN=1 to accept a deliberate change)");
}

#[test]
fn leaf_formats() {
    for e in sample_events() {
        let bytes = e.encode().unwrap();
        let text = format!(
            "type: {}\nhex: {}\nleaf_hash: {}\njson: {}\n",
            e.type_name(),
            hex::encode(&bytes),
            chain::tree::leaf_hash(&bytes).to_hex(),
            serde_json::to_string(&e).unwrap()
        );
        let version = if e.format_version() == 1 { String::new() } else { format!("_v{}", e.format_version()) };
        check(&format!("leaf_{}{version}.txt", e.type_name().replace('.', "_")), &text);
        assert_eq!(Event::decode(&bytes).unwrap(), e);
    }
}

#[test]
fn notes_cosignatures_bundle() {
    let mut l = DemoLedger::new().unwrap();
    let events = sample_events();
    l.append(&events[0]).unwrap();
    let cp1 = l.checkpoint(1_767_225_700).unwrap();
    for e in &events[1..6] {
        l.append(e).unwrap();
    }
    let cp2 = l.checkpoint(1_767_500_000).unwrap();
    let mut keys = format!("log: {}\n", l.log.verifier_key());
    for w in &l.witnesses {
        keys.push_str(&format!("witness: {}\n", w.verifier_key()));
    }
    check("vkeys.txt", &keys);
    check("checkpoint.txt", &String::from_utf8(cp2.to_bytes()).unwrap());
    check(
        "cosignature.txt",
        &chain::cosign::format_cosignature_line(&l.witnesses[1].cosign(&cp2.checkpoint, 1_767_500_000).unwrap()),
    );
    let req = AddCheckpointRequest {
        old_size: cp1.checkpoint.size,
        proof: prove_consistency(cp2.checkpoint.size, cp1.checkpoint.size, &l.tree).unwrap(),
        checkpoint: chain::SignedCheckpoint::sign(cp2.checkpoint.clone(), &l.log),
    };
    check("add_checkpoint.txt", &String::from_utf8(req.to_bytes()).unwrap());
    let b = l.bundle(2, &cp2).unwrap();
    check("bundle_grant.json", &(b.to_json().unwrap() + "\n"));
    check("map_proof.json", &(serde_json::to_string_pretty(&b.status.as_ref().unwrap().map_proof).unwrap() + "\n"));
    check("status_value.hex", &format!("{}\n", hex::encode(b.status.as_ref().unwrap().status.unwrap().encode())));
    check("bundle_receipt.json", &(l.bundle(4, &cp2).unwrap().to_json().unwrap() + "\n"));
    // A receipt in leaf format 2 and its proof of the grant's state at the read.
    let mut r = DemoLedger::new().unwrap();
    r.append(&events[1]).unwrap();
    let at = r.checkpoint(1_767_300_000).unwrap();
    let Event::AccessReceipt { grant_id, reader, scopes, purpose, time, .. } = events[3].clone() else {
        unreachable!("sample 3 is a receipt")
    };
    let verified_at = Some(chain::leaf::CheckpointRef { size: at.checkpoint.size, root: at.checkpoint.root });
    let index = r.append(&Event::AccessReceipt { grant_id, reader, scopes, purpose, time, verified_at }).unwrap();
    let later = r.checkpoint(1_767_500_000).unwrap();
    let receipt = r.bundle(index, &later).unwrap();
    assert!(verify_bundle(&receipt, &r.policy, 1_767_600_000).unwrap().at_read.unwrap().active_at_read);
    check("bundle_receipt_at_read.json", &(receipt.to_json().unwrap() + "\n"));
    // A sealed record's existence proof (bundle version 3).
    let mut sealed = DemoLedger::new().unwrap();
    let records = chain::demo::sample_records();
    let batch = sealed.seal(records.iter().map(|(v, _)| v.clone()).collect(), 1_767_300_000, 1_767_301_000).unwrap();
    let cp = sealed.checkpoint(1_767_301_100).unwrap();
    let proof = sealed.record_bundle(&batch, 1, &cp).unwrap();
    let verdict = verify_bundle(&proof, &sealed.policy, 1_767_600_000).unwrap();
    chain::record::check_content(&verdict.record.unwrap().record, &records[1].1).unwrap();
    check("bundle_record.json", &(proof.to_json().unwrap() + "\n"));
    check(
        "record_content.json",
        &(String::from_utf8(chain::record::canonical_json(&records[1].1).unwrap()).unwrap() + "\n"),
    );
    // A device's passport (bundle version 4) and a reading it signed.
    let mut devices = DemoLedger::new().unwrap();
    let at = devices.append(&Event::DeviceRegisteredV2(chain::demo::sample_passport())).unwrap();
    let cp = devices.checkpoint(1_767_300_100).unwrap();
    let passport = devices.passport_bundle(at, &cp).unwrap();
    assert!(verify_bundle(&passport, &devices.policy, 1_767_600_000).unwrap().passport.unwrap().in_service());
    check("bundle_passport.json", &(passport.to_json().unwrap() + "\n"));
    let reading = chain::device::Reading {
        device_id: chain::demo::sample_passport().device_id,
        counter: 7,
        measured_at: 1_767_300_200,
        metric: "water.litres".into(),
        value: 1234,
    };
    let signed = reading.clone().sign(&chain::demo::SAMPLE_DEVICE_SEED).unwrap();
    check(
        "reading.txt",
        &format!(
            "signing_bytes: {}\njson: {}\n",
            hex::encode(reading.signing_bytes().unwrap()),
            serde_json::to_string(&signed).unwrap()
        ),
    );
    // The checked-in bundle still verifies.
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/bundle_grant.json");
    let stored = chain::ProofBundle::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
    verify_bundle(&stored, &l.policy, 1_767_600_000).unwrap();
}
