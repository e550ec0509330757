//! Verification costs on a 1,000,000-leaf log, each against its lower bound measured in the
//! same run: the same number of bare SHA-256 compressions (`sha2::compress256`) or bare Ed25519
//! verifications.
//!
//! Run: `cargo bench -p chain --bench verify` (criterion, warm-up 1 s, measurement 3 s per
//! benchmark, configured below). A summary table with ratios is printed at the end.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chain::bundle::{BUNDLE_VERSION, EntryProof, ProofBundle, StatusProof, verify_bundle, verify_entry};
use chain::cosign::{CosignatureSigner, Ed25519Cosigner, WitnessPolicy};
use chain::leaf::{Event, GrantId, Pseudonym};
use chain::note::{Checkpoint, NoteSigner, SignedCheckpoint};
use chain::status::{GrantStatus, MapProof, MemoryStatusStore, StatusMap, status_key};
use chain::tree::{
    MemoryHashStore, leaf_hash, prove_consistency, prove_inclusion, verify_consistency, verify_inclusion,
};
use chain::{Hash, leaf::canonical_scopes};
use criterion::Criterion;
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::digest::generic_array::GenericArray;

const N: u64 = 1_000_000;
const GRANT_INDEX: u64 = 123_456;
const MAP_KEYS: u32 = 1_000_000;
const NOW: u64 = 1_800_000_000;

/// SHA-256 compressions of one `Sha256::digest` over `len` bytes.
fn blocks(len: usize) -> usize {
    (len + 9).div_ceil(64)
}

struct Fixture {
    cp: SignedCheckpoint,
    policy: WitnessPolicy,
    grant_leaf: Vec<u8>,
    grant_proof: Vec<Hash>,
    status_leaf: Vec<u8>,
    status_proof: Vec<Hash>,
    map_root: Hash,
    map_proof: MapProof,
    status: GrantStatus,
    grant_id: GrantId,
    old_size: u64,
    old_root: Hash,
    cons_proof: Vec<Hash>,
    bundle: ProofBundle,
}

fn fixture() -> Fixture {
    let t0 = Instant::now();
    // Status map with MAP_KEYS grants in 10 versions.
    let map = StatusMap::new(MemoryStatusStore::new());
    let grant_id = GrantId(*b"bench-grant-0042");
    let status = GrantStatus::Active { until: 1_900_000_000 };
    let mut root = Hash::default();
    for v in 0..10u32 {
        let mut ups: Vec<(GrantId, GrantStatus)> = (0..MAP_KEYS / 10)
            .map(|i| {
                let mut g = [0u8; 16];
                g[..4].copy_from_slice(&(v * MAP_KEYS / 10 + i).to_be_bytes());
                (GrantId(g), GrantStatus::Active { until: 1_900_000_000 })
            })
            .collect();
        if v == 9 {
            ups.push((grant_id, status));
        }
        root = map.apply(u64::from(v), &ups).unwrap();
    }
    let (got, map_proof) = map.get_with_proof(9, &grant_id).unwrap();
    assert_eq!(got, Some(status));
    eprintln!("status map of {} keys built in {:?}", MAP_KEYS + 1, t0.elapsed());

    // 1M-leaf tree: synthetic leaves, a real grant at GRANT_INDEX, status.root last.
    let grant = Event::GrantIssued {
        grant_id,
        resident: Pseudonym([7; 32]),
        service_version_hash: Hash([8; 32]),
        scopes: canonical_scopes(["transit.trips", "identity.age_over_65"]),
        purpose: "Apply the senior discount to your transit fares".into(),
        valid_from: 1_700_000_000,
        valid_until: 1_900_000_000,
    };
    let grant_leaf = grant.encode().unwrap();
    let status_leaf =
        Event::StatusRoot { map_root: root, map_version: 9, log_size: N - 1, time: NOW - 10 }.encode().unwrap();
    let mut tree = MemoryHashStore::new();
    let old_size = 777_777;
    let mut old_root = Hash::default();
    for i in 0..N {
        if i == old_size {
            old_root = tree.root().unwrap();
        }
        let h = if i == GRANT_INDEX {
            leaf_hash(&grant_leaf)
        } else if i == N - 1 {
            leaf_hash(&status_leaf)
        } else {
            leaf_hash(&i.to_be_bytes())
        };
        tree.append_leaf_hash(h).unwrap();
    }
    eprintln!("1,000,000-leaf tree built in {:?}", t0.elapsed());
    let cp = Checkpoint::new("ledger.bench.example", N, tree.root().unwrap());
    let log = NoteSigner::from_seed("ledger.bench.example", &[1; 32]).unwrap();
    let ws: Vec<Ed25519Cosigner> =
        (0..4u8).map(|i| Ed25519Cosigner::from_seed(&format!("w{i}.bench.example"), &[i + 10; 32]).unwrap()).collect();
    let policy = WitnessPolicy::new(log.verifier_key(), ws.iter().map(|w| w.verifier_key()).collect(), 3).unwrap();
    let mut signed = SignedCheckpoint::sign(cp.clone(), &log);
    // 3 of 4 witnesses cosigned.
    signed.add_signatures(ws[..3].iter().map(|w| w.cosign(&cp, NOW - 5).unwrap()));
    let grant_proof = prove_inclusion(N, GRANT_INDEX, &tree).unwrap();
    let status_proof = prove_inclusion(N, N - 1, &tree).unwrap();
    let cons_proof = prove_consistency(N, old_size, &tree).unwrap();
    let bundle = ProofBundle {
        version: BUNDLE_VERSION,
        entry: EntryProof::new(GRANT_INDEX, &grant_leaf, grant_proof.clone()),
        checkpoint: String::from_utf8(signed.to_bytes()).unwrap(),
        status: Some(StatusProof {
            entry: EntryProof::new(N - 1, &status_leaf, status_proof.clone()),
            status: Some(status),
            map_proof: map_proof.clone(),
        }),
        policy: policy.clone(),
        at_read: None,
        record: None,
        anchor: None,
        device: None,
        reading: None,
    };
    verify_bundle(&bundle, &policy, NOW).unwrap();
    Fixture {
        cp: signed,
        policy,
        grant_leaf,
        grant_proof,
        status_leaf,
        status_proof,
        map_root: root,
        map_proof,
        status,
        grant_id,
        old_size,
        old_root,
        cons_proof,
        bundle,
    }
}

/// Node hashes RFC 9162 §2.1.4.2 computes for a consistency proof (counted, not hashed).
fn consistency_node_hashes(old: u64, new: u64, proof_len: usize) -> usize {
    let rest = if old.is_power_of_two() { proof_len } else { proof_len - 1 };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let mut count = 0;
    for _ in 0..rest {
        if fnode & 1 == 1 || fnode == snode {
            count += 2;
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            count += 1;
        }
        fnode >>= 1;
        snode >>= 1;
    }
    count
}

/// Bare SHA-256 compressions.
fn compress(n: usize) -> impl FnMut() {
    let block = [GenericArray::clone_from_slice(&[0x5a; 64])];
    let mut state = [0x6a09e667u32, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    move || {
        for _ in 0..n {
            sha2::compress256(black_box(&mut state), black_box(&block));
        }
        black_box(&state);
    }
}

/// Bare Ed25519 verifications (verify_strict, 100-byte messages).
fn ed_verify(n: usize) -> impl FnMut() {
    let sk = SigningKey::from_bytes(&[3; 32]);
    let vk = sk.verifying_key();
    let msg = [0x42u8; 100];
    let sig = sk.sign(&msg);
    move || {
        for _ in 0..n {
            vk.verify_strict(black_box(&msg), black_box(&sig)).unwrap();
        }
    }
}

/// Median time of one call, from 31 batches sized to take ~20 ms each.
fn measure(mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    let mut iters = 0u32;
    while t.elapsed() < Duration::from_millis(20) {
        f();
        iters += 1;
    }
    let mut v: Vec<Duration> = (0..31)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed() / iters
        })
        .collect();
    v.sort();
    v[15]
}

fn main() {
    let fx = fixture();
    let leaf_h = leaf_hash(&fx.grant_leaf);
    let status_h = leaf_hash(&fx.status_leaf);
    let root = fx.cp.checkpoint.root;

    // Hash counts of each operation (compressions), computed from the actual inputs.
    let incl = blocks(1 + fx.grant_leaf.len()) + 2 * fx.grant_proof.len();
    let cons = 2 * consistency_node_hashes(fx.old_size, N, fx.cons_proof.len()); // node hash = 2 blocks
    let map = blocks(16) + blocks(10) + blocks(13 + 64) + blocks(16 + 64) * fx.map_proof.siblings.len();
    let grant_check = incl + blocks(1 + fx.status_leaf.len()) + 2 * fx.status_proof.len() + map;
    eprintln!(
        "inclusion proof {} hashes, status proof {}, consistency proof {}, map proof {} siblings",
        fx.grant_proof.len(),
        fx.status_proof.len(),
        fx.cons_proof.len(),
        fx.map_proof.siblings.len()
    );

    type Op<'a> = (&'static str, Box<dyn FnMut() + 'a>, String, Box<dyn FnMut() + 'a>);
    let ops: Vec<Op> = vec![
        (
            "inclusion_verify",
            Box::new(|| verify_inclusion(black_box(&fx.grant_proof), N, &root, GRANT_INDEX, &leaf_h).unwrap()),
            format!("{} compressions (proof only)", 2 * fx.grant_proof.len()),
            Box::new(compress(2 * fx.grant_proof.len())),
        ),
        (
            "consistency_verify",
            Box::new(|| verify_consistency(black_box(&fx.cons_proof), fx.old_size, &fx.old_root, N, &root).unwrap()),
            format!("{cons} compressions"),
            Box::new(compress(cons)),
        ),
        (
            "map_proof_verify",
            Box::new(|| fx.map_proof.verify(black_box(&fx.map_root), &fx.grant_id, Some(&fx.status)).unwrap()),
            format!("{map} compressions"),
            Box::new(compress(map)),
        ),
        (
            "grant_check",
            Box::new(|| {
                let sp = fx.bundle.status.as_ref();
                verify_entry(black_box(&fx.cp.checkpoint), &fx.bundle.entry, sp, NOW).unwrap();
            }),
            format!("{grant_check} compressions"),
            Box::new(compress(grant_check)),
        ),
        (
            "quorum_check_3_of_4",
            Box::new(|| {
                let r = fx.policy.check(black_box(&fx.cp), NOW).unwrap();
                assert!(r.quorum_met);
            }),
            "4 Ed25519 verifications".into(),
            Box::new(ed_verify(4)),
        ),
        (
            "bundle_verify",
            Box::new(|| {
                verify_bundle(black_box(&fx.bundle), &fx.policy, NOW).unwrap();
            }),
            format!("4 Ed25519 verifications + {grant_check} compressions"),
            Box::new({
                let mut e = ed_verify(4);
                let mut c = compress(grant_check);
                move || {
                    e();
                    c();
                }
            }),
        ),
    ];
    let _ = fx.bundle.to_json();
    let _ = status_key(&fx.grant_id);
    let _ = status_h;

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    let mut ops = ops;
    for (name, f, lb_name, lb) in ops.iter_mut() {
        let mut g = c.benchmark_group(*name);
        g.bench_function("op", |b| b.iter(&mut *f));
        g.bench_function(format!("lower_bound: {lb_name}"), |b| b.iter(&mut *lb));
        g.finish();
    }
    c.final_summary();

    println!("\n| operation (1,000,000-leaf log) | time | lower bound | lower bound time | ratio |");
    println!("|---|---|---|---|---|");
    for (name, f, lb_name, lb) in ops.iter_mut() {
        let t = measure(f);
        let l = measure(lb);
        println!(
            "| {name} | {:.2} µs | {lb_name} | {:.2} µs | {:.2}× |",
            t.as_secs_f64() * 1e6,
            l.as_secs_f64() * 1e6,
            t.as_secs_f64() / l.as_secs_f64()
        );
    }
}
