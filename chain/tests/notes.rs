//! Signed notes, verifier keys, checkpoints, cosignatures, the witness policy and the
//! tlog-witness add-checkpoint body.

use chain::cosign::{
    AddCheckpointDecision, AddCheckpointRequest, CosignatureSigner, Ed25519Cosigner, WitnessPolicy,
    cosignature_v1_message, decide_add_checkpoint, format_cosignature_line, parse_cosignature_lines,
};
use chain::demo::DemoLedger;
use chain::note::{Checkpoint, NoteSignature, NoteSigner, SignedCheckpoint, SignedNote, VerifierKey, key_id};
use chain::tree::{EMPTY_ROOT, prove_consistency};
use chain::{Error, Hash};

/// Go's sumdb/note example verifies with our parser and Ed25519 check.
#[test]
fn go_note_example() {
    let vkey = VerifierKey::parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").unwrap();
    let msg = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    let n = SignedNote::parse(msg.as_bytes()).unwrap();
    assert_eq!(n.signatures.len(), 1);
    assert_eq!(n.signatures[0].key_id, vkey.key_id());
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&vkey.public_key.clone().try_into().unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_slice(&n.signatures[0].signature).unwrap();
    vk.verify_strict(n.text.as_bytes(), &sig).unwrap();
    assert_eq!(n.to_bytes(), msg.as_bytes());
}

/// Verifier keys of other implementations (signed-note example, Go, transparency-dev
/// cosignature/v1) parse, and print back byte for byte.
#[test]
fn vkeys_from_other_implementations() {
    for k in [
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop",
        "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
    ] {
        let v = VerifierKey::parse(k).unwrap();
        assert_eq!(v.to_string(), k);
    }
    let c = VerifierKey::parse("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2").unwrap();
    assert_eq!(c.sig_type, 0x04);
    for bad in [
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a",
        "example.com/foo+530d903a+!!",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "a b+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AQ==",
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k+x",
    ] {
        assert!(VerifierKey::parse(bad).is_err(), "{bad}");
    }
    // key id per C2SP: SHA-256(name || 0x0A || type || key)[:4]
    let k = NoteSigner::from_seed("example.org/log", &[9; 32]).unwrap().verifier_key();
    let mut pre = b"example.org/log\n\x01".to_vec();
    pre.extend(&k.public_key);
    assert_eq!(key_id("example.org/log", 1, &k.public_key).to_be_bytes(), Hash::sha256(&pre).0[..4]);
}

#[test]
fn checkpoint_parse_strict() {
    let root = Hash([7; 32]);
    let c = Checkpoint { origin: "example.org/log".into(), size: 12, root, extensions: vec!["ext one".into()] };
    let t = c.to_text();
    assert_eq!(Checkpoint::parse(&t).unwrap(), c);
    for bad in [
        "example.org/log\n012\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
        "example.org/log\n12\nBwcH\n",
        "example.org/log\n12\n",
        "\n12\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
        "example.org/log\n-1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
        "example.org/log\n12\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
    ] {
        assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn log_signature() {
    let log = NoteSigner::from_seed("example.org/log", &[1; 32]).unwrap();
    let other = NoteSigner::from_seed("example.org/log", &[2; 32]).unwrap();
    let cp = Checkpoint::new("example.org/log", 3, Hash([3; 32]));
    let s = SignedCheckpoint::sign(cp.clone(), &log);
    let parsed = SignedCheckpoint::parse(&s.to_bytes()).unwrap();
    assert_eq!(parsed, s);
    parsed.verify_log_signature(&log.verifier_key()).unwrap();
    assert_eq!(
        parsed.verify_log_signature(&other.verifier_key()).unwrap_err(),
        Error::MissingLogSignature("example.org/log".into())
    );
    let mut bad = parsed.clone();
    bad.note.signatures[0].signature[5] ^= 1;
    assert_eq!(
        bad.verify_log_signature(&log.verifier_key()).unwrap_err().to_string(),
        "checkpoint signature from the log key 'example.org/log' is invalid"
    );
    let wrong_origin = SignedCheckpoint::sign(Checkpoint::new("evil.org/log", 3, Hash([3; 32])), &log);
    assert!(matches!(wrong_origin.verify_log_signature(&log.verifier_key()), Err(Error::WrongOrigin { .. })));
}

#[test]
fn cosignature_v1_message_format() {
    let m = cosignature_v1_message(
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        1_679_315_147,
    );
    assert_eq!(
        String::from_utf8(m).unwrap(),
        "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    );
}

fn ledger_cp() -> (DemoLedger, SignedCheckpoint) {
    let mut l = DemoLedger::new().unwrap();
    for e in chain::demo::sample_events() {
        l.append(&e).unwrap();
    }
    let cp = l.checkpoint(1_767_500_000).unwrap();
    (l, cp)
}

#[test]
fn policy_counts_each_line_on_its_own() {
    let (l, cp) = ledger_cp();
    let now = 1_767_500_010;
    let r = l.policy.require_quorum(&cp, now).unwrap();
    assert_eq!(r.valid.len(), 4);
    assert!(r.rejected.is_empty());

    // One bad line, one unknown line, one duplicate: the others still count.
    let mut t = cp.clone();
    t.note.signatures[2].signature[20] ^= 1; // witness 2 (court) bad
    let stranger = Ed25519Cosigner::from_seed("witness.stranger.example", &[99; 32]).unwrap();
    t.note.signatures.push(stranger.cosign(&t.checkpoint, now).unwrap());
    t.note.signatures.push(t.note.signatures[1].clone());
    let parsed = SignedCheckpoint::parse(&t.to_bytes()).unwrap();
    let r = l.policy.check(&parsed, now).unwrap();
    assert_eq!(r.valid.len(), 3);
    assert_eq!(r.unknown, 1);
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(r.rejected[0].reason, "cosignature from witness 'witness.court.onecity.example' has a bad signature");
    assert!(r.quorum_met);

    // Two bad lines: quorum missed, error names them.
    t.note.signatures[3].signature[20] ^= 1;
    let e = l.policy.require_quorum(&t, now).unwrap_err().to_string();
    assert!(e.starts_with("checkpoint has 2 valid cosignatures, the witness policy needs 3"), "{e}");
    assert!(e.contains("court") && e.contains("notary"), "{e}");
}

#[test]
fn policy_rejects_future_cosignatures() {
    let (l, cp) = ledger_cp();
    let mut t = SignedCheckpoint::sign(cp.checkpoint.clone(), &l.log);
    let cos: Vec<NoteSignature> = l
        .witnesses
        .iter()
        .enumerate()
        .map(|(i, w)| w.cosign(&t.checkpoint, 1000 + if i == 0 { 10_000 } else { 0 }).unwrap())
        .collect();
    t.add_signatures(cos);
    let r = l.policy.check(&t, 1000).unwrap();
    assert_eq!(r.valid.len(), 3);
    assert!(r.rejected[0].reason.contains("dated 11000, after now (1000)"), "{:?}", r.rejected);
    let r = l.policy.check(&t, 10_800).unwrap();
    assert_eq!(r.valid.len(), 4);
}

#[test]
fn policy_json_round_trip_and_validation() {
    let (l, _) = ledger_cp();
    let j = serde_json::to_string(&l.policy).unwrap();
    let p: WitnessPolicy = serde_json::from_str(&j).unwrap();
    assert_eq!(p, l.policy);
    let ws: Vec<VerifierKey> = l.witnesses.iter().map(|w| w.verifier_key()).collect();
    assert!(WitnessPolicy::new(l.log.verifier_key(), ws.clone(), 0).is_err());
    assert!(WitnessPolicy::new(l.log.verifier_key(), ws.clone(), 5).is_err());
    let mut dup = ws.clone();
    dup.push(ws[0].clone());
    assert!(WitnessPolicy::new(l.log.verifier_key(), dup, 3).is_err());
    // A note key (0x01) is not a cosigner key.
    let mut wrong = ws.clone();
    wrong[0] = NoteSigner::from_seed("w", &[5; 32]).unwrap().verifier_key();
    assert_eq!(WitnessPolicy::new(l.log.verifier_key(), wrong, 3).unwrap_err(), Error::UnsupportedSignatureType(1));
}

#[test]
fn add_checkpoint_body_and_witness_decisions() {
    let mut l = DemoLedger::new().unwrap();
    let evs = chain::demo::sample_events();
    l.append(&evs[0]).unwrap();
    let cp1 = l.checkpoint(100).unwrap();
    l.append(&evs[1]).unwrap();
    l.append(&evs[2]).unwrap();
    let cp2 = l.checkpoint(200).unwrap();
    let (s1, s2) = (cp1.checkpoint.size, cp2.checkpoint.size);
    let proof = prove_consistency(s2, s1, &l.tree).unwrap();
    let req = AddCheckpointRequest {
        old_size: s1,
        proof: proof.clone(),
        checkpoint: SignedCheckpoint::sign(cp2.checkpoint.clone(), &l.log),
    };
    let body = req.to_bytes();
    let text = String::from_utf8(body.clone()).unwrap();
    assert!(text.starts_with(&format!("old {s1}\n{}\n", proof[0].to_base64())));
    let parsed = AddCheckpointRequest::parse(&body).unwrap();
    assert_eq!(parsed, req);
    let key = l.log.verifier_key();
    assert_eq!(decide_add_checkpoint(&parsed, &key, Some((s1, cp1.checkpoint.root))), AddCheckpointDecision::Cosign);
    assert_eq!(decide_add_checkpoint(&parsed, &key, None), AddCheckpointDecision::Conflict { latest_size: 0 });
    let mut bad = parsed.clone();
    bad.proof[0].0[0] ^= 1;
    assert!(matches!(
        decide_add_checkpoint(&bad, &key, Some((s1, cp1.checkpoint.root))),
        AddCheckpointDecision::Unprocessable(_)
    ));
    let fresh = AddCheckpointRequest { old_size: 0, proof: vec![], checkpoint: parsed.checkpoint.clone() };
    assert_eq!(decide_add_checkpoint(&fresh, &key, None), AddCheckpointDecision::Cosign);
    let _ = EMPTY_ROOT;
    let other = NoteSigner::from_seed(chain::demo::LOG_NAME, &[77; 32]).unwrap().verifier_key();
    assert!(matches!(decide_add_checkpoint(&parsed, &other, None), AddCheckpointDecision::Forbidden(_)));
    for bad in ["old 01\n\nx", "old 1\nnotbase64\n\n", "new 1\n\n", "old 1\n", "old 1"] {
        assert!(AddCheckpointRequest::parse(bad.as_bytes()).is_err(), "{bad:?}");
    }
    // The witness response body: cosignature lines.
    let line = format_cosignature_line(&l.witnesses[0].cosign(&cp2.checkpoint, 300).unwrap());
    assert!(line.starts_with("— witness.databureau.onecity.example "));
    let lines = parse_cosignature_lines(&(line.clone() + &line)).unwrap();
    assert_eq!(lines.len(), 2);
}

/// Timestamps of published cosignature lines: the C2SP tlog-cosignature example (whose
/// signed message shows `time 1679315147`) and transparency-dev/formats' test vector.
#[test]
fn cosignature_timestamps_of_published_lines() {
    use chain::cosign::cosignature_timestamp;
    let c2sp = NoteSignature::parse_line("— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==").unwrap();
    assert_eq!(cosignature_timestamp(&c2sp).unwrap(), 1_679_315_147);
    let td = NoteSignature::parse_line(
        "— w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==",
    )
    .unwrap();
    assert_eq!(cosignature_timestamp(&td).unwrap(), 1_727_964_367);
    // A plain Ed25519 note signature (68 bytes) is not a cosignature.
    let plain = NoteSignature::parse_line(
        "— w eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=",
    )
    .unwrap();
    assert!(cosignature_timestamp(&plain).is_err());
}

/// C2SP tlog-witness: the same size with another root hash (a fork) is 422, not 409; so is a
/// size-zero checkpoint without the empty root and a non-empty proof from size zero. An
/// identical re-submission at the cosigned size is cosigned again.
#[test]
fn add_checkpoint_fork_and_empty_tree_cases_are_unprocessable() {
    let mut l = DemoLedger::new().unwrap();
    let evs = chain::demo::sample_events();
    l.append(&evs[0]).unwrap();
    let cp1 = l.checkpoint(100).unwrap();
    let key = l.log.verifier_key();
    let s1 = cp1.checkpoint.size;
    let latest = Some((s1, cp1.checkpoint.root));
    let same = AddCheckpointRequest {
        old_size: s1,
        proof: vec![],
        checkpoint: SignedCheckpoint::sign(cp1.checkpoint.clone(), &l.log),
    };
    assert_eq!(decide_add_checkpoint(&same, &key, latest), AddCheckpointDecision::Cosign);
    let mut forked = cp1.checkpoint.clone();
    forked.root.0[0] ^= 1;
    let fork = AddCheckpointRequest { old_size: s1, proof: vec![], checkpoint: SignedCheckpoint::sign(forked, &l.log) };
    assert!(matches!(decide_add_checkpoint(&fork, &key, latest), AddCheckpointDecision::Unprocessable(_)));
    // Rollback: below the cosigned size is 409 (old matches nothing) or 400 (old > size).
    let small = chain::Checkpoint::new(chain::demo::LOG_NAME, 1, chain::tree::leaf_hash(b"x"));
    let rb =
        AddCheckpointRequest { old_size: 1, proof: vec![], checkpoint: SignedCheckpoint::sign(small.clone(), &l.log) };
    assert_eq!(decide_add_checkpoint(&rb, &key, latest), AddCheckpointDecision::Conflict { latest_size: s1 });
    let rb = AddCheckpointRequest { old_size: s1, proof: vec![], checkpoint: SignedCheckpoint::sign(small, &l.log) };
    assert!(matches!(decide_add_checkpoint(&rb, &key, latest), AddCheckpointDecision::BadRequest(_)));
    // Size zero must carry the empty root.
    let zero = chain::Checkpoint::new(chain::demo::LOG_NAME, 0, chain::tree::leaf_hash(b"x"));
    let z = AddCheckpointRequest { old_size: 0, proof: vec![], checkpoint: SignedCheckpoint::sign(zero, &l.log) };
    assert!(matches!(decide_add_checkpoint(&z, &key, None), AddCheckpointDecision::Unprocessable(_)));
    let zero = chain::Checkpoint::new(chain::demo::LOG_NAME, 0, EMPTY_ROOT);
    let z = AddCheckpointRequest { old_size: 0, proof: vec![], checkpoint: SignedCheckpoint::sign(zero, &l.log) };
    assert_eq!(decide_add_checkpoint(&z, &key, None), AddCheckpointDecision::Cosign);
    // From size zero the proof must be empty.
    let p = AddCheckpointRequest { old_size: 0, proof: vec![EMPTY_ROOT], checkpoint: same.checkpoint.clone() };
    assert!(matches!(decide_add_checkpoint(&p, &key, None), AddCheckpointDecision::Unprocessable(_)));
    // Several trusted keys for one origin: one valid line is enough; a bad line from a
    // trusted key is 403; keys of other origins make the origin unknown.
    let other = NoteSigner::from_seed(chain::demo::LOG_NAME, &[78; 32]).unwrap();
    let keys = [other.verifier_key(), key.clone()];
    assert_eq!(chain::cosign::decide_add_checkpoint_with_keys(&same, &keys, latest), AddCheckpointDecision::Cosign);
    let mut badline = same.clone();
    let mut s = other.sign(&badline.checkpoint.note.text);
    s.signature[0] ^= 1;
    badline.checkpoint.add_signatures([s]);
    assert!(matches!(
        chain::cosign::decide_add_checkpoint_with_keys(&badline, &keys, latest),
        AddCheckpointDecision::Forbidden(_)
    ));
    let elsewhere = NoteSigner::from_seed("other.example", &[79; 32]).unwrap().verifier_key();
    assert_eq!(
        chain::cosign::decide_add_checkpoint_with_keys(&same, &[elsewhere], latest),
        AddCheckpointDecision::UnknownOrigin
    );
}
