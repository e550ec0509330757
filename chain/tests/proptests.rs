//! Property tests: encode/decode round trips, and the witness policy under missing,
//! duplicate, unknown, bad and future-dated cosignatures.

use chain::Hash;
use chain::cosign::{CosignatureSigner, Ed25519Cosigner, WitnessPolicy};
use chain::leaf::{AccessMode, DeviceId, Event, GrantId, Pseudonym, ServiceTerms, canonical_scopes};
use chain::note::{Checkpoint, NoteSigner, SignedCheckpoint, VerifierKey};
use chain::status::GrantStatus;
use chain::tiles::{TilePath, decode_entry_bundle, encode_entry_bundle};
use proptest::prelude::*;

fn scopes() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-z0-9._-]{1,24}", 0..6).prop_map(canonical_scopes)
}

fn access_mode() -> impl Strategy<Value = AccessMode> {
    prop_oneof![
        Just(AccessMode::OneOff),
        Just(AccessMode::Ongoing),
        (1..=u32::MAX).prop_map(|max_reads_per_day| AccessMode::Recurring { max_reads_per_day }),
    ]
}

fn terms() -> impl Strategy<Value = ServiceTerms> {
    let s = "\\PC{0,40}";
    (
        (s, s, any::<u32>(), s, s, "\\PC{0,400}", "\\PC{0,400}", s, s),
        (scopes(), scopes(), any::<u32>(), access_mode(), scopes(), any::<u32>()),
    )
        .prop_map(
            |(
                (agency, service, version, name_en, name_zh, description_en, description_zh, category, purpose),
                (required, optional, retention_days, access, districts, history_days),
            )| {
                let optional_scopes = optional.into_iter().filter(|o| !required.contains(o)).collect();
                ServiceTerms {
                    agency,
                    service,
                    version,
                    name_en,
                    name_zh,
                    description_en,
                    description_zh,
                    category,
                    purpose,
                    required_scopes: required,
                    optional_scopes,
                    retention_days,
                    access,
                    districts,
                    history_days,
                }
            },
        )
}

fn event() -> impl Strategy<Value = Event> {
    let s = "\\PC{0,40}";
    prop_oneof![
        terms().prop_map(Event::ServicePublishedV2),
        (any::<[u8; 16]>(), s, scopes(), s, any::<u64>(), 1..u64::MAX, any::<[u8; 32]>()).prop_map(
            |(g, reader, scopes, purpose, time, size, root)| Event::AccessReceipt {
                grant_id: GrantId(g),
                reader,
                scopes,
                purpose,
                time,
                verified_at: Some(chain::leaf::CheckpointRef { size, root: Hash(root) }),
            }
        ),
        (s, s, any::<u32>(), s, scopes(), any::<u32>()).prop_map(
            |(agency, service, version, purpose, scopes, retention_days)| Event::ServicePublished {
                agency,
                service,
                version,
                purpose,
                scopes,
                retention_days
            }
        ),
        (any::<[u8; 16]>(), any::<[u8; 32]>(), any::<[u8; 32]>(), scopes(), s, any::<u64>(), 1..u64::MAX).prop_map(
            |(g, r, h, scopes, purpose, a, d)| {
                let valid_from = a.min(u64::MAX - 1);
                let valid_until = valid_from.saturating_add(d).max(valid_from + 1);
                Event::GrantIssued {
                    grant_id: GrantId(g),
                    resident: Pseudonym(r),
                    service_version_hash: Hash(h),
                    scopes,
                    purpose,
                    valid_from,
                    valid_until,
                }
            }
        ),
        (any::<[u8; 16]>(), any::<[u8; 32]>(), any::<u64>()).prop_map(|(g, r, t)| {
            Event::GrantRevoked { grant_id: GrantId(g), resident: Pseudonym(r), revoked_at: t }
        }),
        (any::<[u8; 16]>(), s, scopes(), s, any::<u64>()).prop_map(|(g, reader, scopes, purpose, time)| {
            Event::AccessReceipt { grant_id: GrantId(g), reader, scopes, purpose, time, verified_at: None }
        }),
        (any::<[u8; 32]>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(h, count, a, b)| {
            Event::RecordsBatch { batch_root: Hash(h), count, period_start: a.min(b), period_end: a.max(b) }
        }),
        (proptest::collection::btree_set((0u8..4, 0u64..5000), 0..20), s, any::<u64>()).prop_map(
            |(seals, requested_by, erased_at)| Event::RecordsErased {
                seals: seals
                    .into_iter()
                    .map(|(b, position)| chain::leaf::SealRef { batch_root: Hash([b; 32]), position })
                    .collect(),
                requested_by,
                erased_at,
            }
        ),
        (
            any::<[u8; 16]>(),
            any::<[u8; 32]>(),
            s,
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 1..80),
            any::<u64>()
        )
            .prop_map(|(d, o, kind, key_type, public_key, registered_at)| {
                Event::DeviceRegistered {
                    device_id: DeviceId(d),
                    owner: Pseudonym(o),
                    kind,
                    key_type,
                    public_key,
                    registered_at,
                }
            }),
        (any::<[u8; 32]>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(h, map_version, log_size, time)| {
            Event::StatusRoot { map_root: Hash(h), map_version, log_size, time }
        }),
    ]
}

/// Linkage rules and their receipts, valid by construction.
fn rule_event() -> impl Strategy<Value = Event> {
    use chain::leaf::{CheckpointRef, Comparison, DayWindow, Firing, Rule};
    let name = "[a-z][a-z0-9._-]{0,20}";
    let window =
        proptest::option::of((0u16..1440, 0u16..1440, -840i16..=840).prop_filter_map("empty window", |(a, b, o)| {
            (a != b).then_some(DayWindow { start: a, end: b, utc_offset_minutes: o })
        }));
    prop_oneof![
        (
            (any::<[u8; 16]>(), any::<[u8; 32]>(), any::<[u8; 16]>(), any::<[u8; 16]>()),
            (name, 0usize..6, any::<i64>(), name, any::<bool>()),
            window,
            (any::<u64>(), 1u64..1_000_000),
        )
            .prop_filter_map(
                "same device",
                |((id, owner, t, a), (metric, c, threshold, command, notify), window, (from, len))| {
                    (t != a).then(|| {
                        Event::RuleGranted(Rule {
                            rule_id: GrantId(id),
                            owner: Pseudonym(owner),
                            trigger: DeviceId(t),
                            metric,
                            comparison: Comparison::ALL[c],
                            threshold,
                            action_device: DeviceId(a),
                            command,
                            notify,
                            window,
                            valid_from: from.min(u64::MAX - len),
                            valid_until: from.min(u64::MAX - len) + len,
                        })
                    })
                }
            ),
        (any::<[u8; 16]>(), any::<u64>(), any::<[u8; 32]>(), name, any::<u64>(), 1u64.., any::<[u8; 32]>()).prop_map(
            |(id, trigger_counter, h, command, fired_at, size, root)| Event::RuleFired(Firing {
                rule_id: GrantId(id),
                trigger_counter,
                reading_hash: Hash(h),
                command,
                fired_at,
                verified_at: CheckpointRef { size, root: Hash(root) },
            })
        ),
    ]
}

proptest! {
    #[test]
    fn rule_round_trip(e in rule_event()) {
        let b = e.encode().unwrap();
        prop_assert_eq!(Event::decode(&b).unwrap(), e.clone());
        prop_assert!(Event::decode(&b[..b.len() - 1]).is_err());
        let j = serde_json::to_string(&e).unwrap();
        prop_assert_eq!(serde_json::from_str::<Event>(&j).unwrap(), e);
    }

    #[test]
    fn event_round_trip(e in event()) {
        let b = e.encode().unwrap();
        prop_assert_eq!(Event::decode(&b).unwrap(), e.clone());
        // Trailing bytes and truncation are rejected.
        let mut longer = b.clone();
        longer.push(0);
        prop_assert!(Event::decode(&longer).is_err());
        prop_assert!(Event::decode(&b[..b.len() - 1]).is_err());
        // JSON form round-trips too.
        let j = serde_json::to_string(&e).unwrap();
        prop_assert_eq!(serde_json::from_str::<Event>(&j).unwrap(), e);
    }

    #[test]
    fn decode_is_canonical(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(e) = Event::decode(&data) {
            prop_assert_eq!(e.encode().unwrap(), data);
        }
    }

    #[test]
    fn tile_path_round_trip(level in 0u8..=63, index in any::<u64>(), width in 1u16..=256, entries in any::<bool>()) {
        let t = if entries { TilePath::Entries { index, width } } else { TilePath::Hash { level, index, width } };
        prop_assert_eq!(TilePath::parse(&t.path()).unwrap(), t);
    }

    #[test]
    fn entry_bundle_round_trip(es in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..40)) {
        prop_assert_eq!(decode_entry_bundle(&encode_entry_bundle(&es).unwrap()).unwrap(), es);
    }

    #[test]
    fn status_and_vkey_round_trip(t in any::<u64>(), revoked in any::<bool>(), name in "[a-z0-9./_-]{1,30}", seed in any::<[u8; 32]>()) {
        let s = if revoked { GrantStatus::Revoked { at: t } } else { GrantStatus::Active { until: t } };
        prop_assert_eq!(GrantStatus::decode(&s.encode()).unwrap(), s);
        let k = Ed25519Cosigner::from_seed(&name, &seed).unwrap().verifier_key();
        prop_assert_eq!(VerifierKey::parse(&k.to_string()).unwrap(), k);
    }

    #[test]
    fn checkpoint_round_trip(origin in "[a-z0-9./-]{1,30}", size in any::<u64>(), root in any::<[u8; 32]>(), ext in proptest::collection::vec("[ -~]{1,20}", 0..3)) {
        let c = Checkpoint { origin, size, root: Hash(root), extensions: ext };
        prop_assert_eq!(Checkpoint::parse(&c.to_text()).unwrap(), c.clone());
        let log = NoteSigner::from_seed(&c.origin, &[3; 32]).unwrap();
        let s = SignedCheckpoint::sign(c, &log);
        let p = SignedCheckpoint::parse(&s.to_bytes()).unwrap();
        p.verify_log_signature(&log.verifier_key()).unwrap();
        prop_assert_eq!(p, s);
    }
}

#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Good,
    Missing,
    Bad,
    Future,
    Duplicate,
    BadThenGood,
    WrongCheckpoint,
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        3 => Just(Behaviour::Good),
        1 => Just(Behaviour::Missing),
        1 => Just(Behaviour::Bad),
        1 => Just(Behaviour::Future),
        1 => Just(Behaviour::Duplicate),
        1 => Just(Behaviour::BadThenGood),
        1 => Just(Behaviour::WrongCheckpoint),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    /// k-of-n: the report counts exactly the witnesses with at least one valid, timely line,
    /// each once, whatever else is in the note and in whatever order.
    #[test]
    fn witness_policy_k_of_n(
        bs in proptest::collection::vec(behaviour(), 1..6),
        k_frac in 0.0f64..1.0,
        unknown in 0usize..3,
        shuffle_seed in any::<u64>(),
    ) {
        let now = 1_000_000u64;
        let log = NoteSigner::from_seed("log.example", &[1; 32]).unwrap();
        let ws: Vec<Ed25519Cosigner> = (0..bs.len()).map(|i| Ed25519Cosigner::from_seed(&format!("w{i}.example"), &[i as u8 + 10; 32]).unwrap()).collect();
        let n = ws.len();
        let k = 1 + ((n as f64 - 1.0) * k_frac) as usize;
        let policy = WitnessPolicy::new(log.verifier_key(), ws.iter().map(|w| w.verifier_key()).collect(), k).unwrap();
        let cp = Checkpoint::new("log.example", 10, Hash([9; 32]));
        let other = Checkpoint::new("log.example", 11, Hash([8; 32]));
        let mut signed = SignedCheckpoint::sign(cp.clone(), &log);
        let mut lines = Vec::new();
        let mut expect = 0;
        for (w, b) in ws.iter().zip(&bs) {
            let good = w.cosign(&cp, now - 5).unwrap();
            let mut bad = good.clone();
            bad.signature[30] ^= 1;
            match b {
                Behaviour::Good => { lines.push(good); expect += 1; }
                Behaviour::Missing => {}
                Behaviour::Bad => lines.push(bad),
                Behaviour::Future => lines.push(w.cosign(&cp, now + 10_000).unwrap()),
                Behaviour::Duplicate => { lines.push(good.clone()); lines.push(good); expect += 1; }
                Behaviour::BadThenGood => { lines.push(bad); lines.push(good); expect += 1; }
                Behaviour::WrongCheckpoint => lines.push(w.cosign(&other, now).unwrap()),
            }
        }
        for u in 0..unknown {
            lines.push(Ed25519Cosigner::from_seed(&format!("stranger{u}.example"), &[200 + u as u8; 32]).unwrap().cosign(&cp, now).unwrap());
        }
        // Deterministic shuffle.
        let mut x = shuffle_seed | 1;
        for i in (1..lines.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            lines.swap(i, (x % (i as u64 + 1)) as usize);
        }
        // Raw lines (not add_signatures, which would merge duplicates).
        signed.note.signatures.extend(lines);
        let parsed = SignedCheckpoint::parse(&signed.to_bytes()).unwrap();
        let r = policy.check(&parsed, now).unwrap();
        prop_assert_eq!(r.valid.len(), expect);
        prop_assert_eq!(r.unknown, unknown);
        prop_assert_eq!(r.quorum_met, expect >= k);
        prop_assert_eq!(policy.require_quorum(&parsed, now).is_ok(), expect >= k);
        let mut names: Vec<&str> = r.valid.iter().map(|v| v.name.as_str()).collect();
        names.dedup();
        prop_assert_eq!(names.len(), expect);
    }
}
