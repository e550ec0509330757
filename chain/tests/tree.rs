//! RFC 6962 tree, proofs and tiles, tested the way Go's sumdb/tlog and azul's tlog_core are:
//! every size, every leaf, every consistency pair, every corrupted byte.

use chain::Hash;
use chain::tiles::{TilePath, TileSet, read_tile_data, root_from_tiles, tiles_for_growth};
use chain::tree::{
    EMPTY_ROOT, HashReader, MemoryHashStore, leaf_hash, prove_consistency, prove_inclusion, root_of_leaf_hashes,
    split_stored_hash_index, stored_hash_count, stored_hash_index, tree_root, verify_consistency, verify_inclusion,
};

const MAX: u64 = 130;

fn leaf_data(i: u64) -> Vec<u8> {
    format!("leaf {i}").into_bytes()
}

fn build(n: u64) -> (MemoryHashStore, Vec<Hash>, Vec<Hash>) {
    let mut t = MemoryHashStore::new();
    let mut leaves = Vec::new();
    let mut roots = vec![EMPTY_ROOT];
    for i in 0..n {
        let d = leaf_data(i);
        leaves.push(leaf_hash(&d));
        t.append(&d).unwrap();
        roots.push(t.root().unwrap());
    }
    (t, leaves, roots)
}

fn flip(h: &Hash, byte: usize) -> Hash {
    let mut x = *h;
    x.0[byte] ^= 0x01;
    x
}

/// Roots from stored hashes equal the direct recursive definition, for every size.
#[test]
fn roots_match_direct_definition() {
    let (t, leaves, roots) = build(MAX);
    for n in 0..=MAX {
        assert_eq!(roots[n as usize], root_of_leaf_hashes(&leaves[..n as usize]), "size {n}");
        assert_eq!(tree_root(n, &t).unwrap(), roots[n as usize]);
    }
}

/// Every leaf of every tree size 1..=130 proves; flipping any byte of the proof, the root or
/// the leaf hash, changing the index or the size, or dropping/adding a proof hash fails.
#[test]
fn inclusion_every_size_every_leaf_every_byte() {
    let (t, leaves, roots) = build(MAX);
    for n in 1..=MAX {
        let root = roots[n as usize];
        for i in 0..n {
            let leaf = leaves[i as usize];
            let p = prove_inclusion(n, i, &t).unwrap();
            verify_inclusion(&p, n, &root, i, &leaf).unwrap();
            // tlog_tiles' own checker agrees.
            let tp: Vec<tlog_tiles::Hash> = p.iter().map(|h| tlog_tiles::Hash(h.0)).collect();
            tlog_tiles::check_record(&tp, n, tlog_tiles::Hash(root.0), i, tlog_tiles::Hash(leaf.0)).unwrap();
            for k in 0..p.len() {
                for b in 0..32 {
                    let mut q = p.clone();
                    q[k] = flip(&q[k], b);
                    assert!(verify_inclusion(&q, n, &root, i, &leaf).is_err(), "n={n} i={i} k={k} b={b}");
                }
            }
            for b in 0..32 {
                assert!(verify_inclusion(&p, n, &flip(&root, b), i, &leaf).is_err());
                assert!(verify_inclusion(&p, n, &root, i, &flip(&leaf, b)).is_err());
            }
            // The proof does not authenticate the tree size (the signed checkpoint does): a
            // changed size is caught exactly when it changes the audit path's shape.
            for n2 in [n + 1, n - 1, n ^ 1, n ^ 2, n ^ 4, n ^ 8, n ^ 16, n ^ 64, n ^ 128, n ^ 256] {
                if n2 == n || n2 <= i || n2 > MAX {
                    continue;
                }
                if verify_inclusion(&p, n2, &root, i, &leaf).is_ok() {
                    assert_eq!(prove_inclusion(n2, i, &t).unwrap().len(), p.len(), "n={n} n2={n2} i={i}");
                    assert!(same_shape(i, n, n2), "n={n} n2={n2} i={i}");
                }
            }
            // Flipping any bit-0 of any byte of the index fails.
            for byte in 0..8 {
                let i2 = i ^ (1u64 << (8 * byte));
                assert!(verify_inclusion(&p, n, &root, i2, &leaf).is_err(), "n={n} i={i} i2={i2}");
            }
            // Flipping a byte of the size fails unless the audit path keeps its shape.
            for byte in 0..8 {
                let n2 = n ^ (1u64 << (8 * byte));
                if n2 > i && verify_inclusion(&p, n2, &root, i, &leaf).is_ok() {
                    assert!(same_shape(i, n, n2), "n={n} n2={n2} i={i}");
                }
            }
            assert!(verify_inclusion(&p, n, &root, i ^ 1 << 40, &leaf).is_err());
            if !p.is_empty() {
                assert!(verify_inclusion(&p[..p.len() - 1], n, &root, i, &leaf).is_err());
            }
            let mut longer = p.clone();
            longer.push(root);
            assert!(verify_inclusion(&longer, n, &root, i, &leaf).is_err());
        }
    }
}

/// Whether leaf `i` has the same audit path directions in trees of sizes `a` and `b`
/// (RFC 6962 §2.1.1 PATH, computed recursively, independently of the verifier).
fn same_shape(i: u64, a: u64, b: u64) -> bool {
    fn dirs(i: u64, n: u64, out: &mut Vec<bool>) {
        if n <= 1 {
            return;
        }
        let k = 1u64 << (63 - (n - 1).leading_zeros());
        if i < k {
            dirs(i, k, out);
            out.push(false);
        } else {
            dirs(i - k, n - k, out);
            out.push(true);
        }
    }
    let (mut x, mut y) = (Vec::new(), Vec::new());
    dirs(i, a, &mut x);
    dirs(i, b, &mut y);
    x == y
}

/// Every consistency pair 0 <= m <= n <= 130 proves; corrupting any byte fails.
#[test]
fn consistency_every_pair_every_byte() {
    let (t, _, roots) = build(MAX);
    for n in 1..=MAX {
        let new = roots[n as usize];
        for m in 0..=n {
            let old = roots[m as usize];
            let p = prove_consistency(n, m, &t).unwrap();
            verify_consistency(&p, m, &old, n, &new).unwrap_or_else(|e| panic!("m={m} n={n}: {e}"));
            if m > 0 {
                let tp: Vec<tlog_tiles::Hash> = p.iter().map(|h| tlog_tiles::Hash(h.0)).collect();
                tlog_tiles::check_tree(&tp, n, tlog_tiles::Hash(new.0), m, tlog_tiles::Hash(old.0)).unwrap();
            }
            for k in 0..p.len() {
                for b in 0..32 {
                    let mut q = p.clone();
                    q[k] = flip(&q[k], b);
                    assert!(verify_consistency(&q, m, &old, n, &new).is_err(), "m={m} n={n} k={k} b={b}");
                }
            }
            for b in 0..32 {
                assert!(verify_consistency(&p, m, &flip(&old, b), n, &new).is_err());
                // From the empty tree nothing is claimed about the new root.
                if m > 0 {
                    assert!(verify_consistency(&p, m, &old, n, &flip(&new, b)).is_err());
                }
            }
            if m > 0 && m < n {
                // Sizes are authenticated by the signed checkpoints; a changed size is caught
                // exactly when the genuine proof for the changed sizes differs in length.
                for (m2, n2) in [(m - 1, n), (m + 1, n), (m, n + 1), (m, n - 1), (m ^ 1, n), (m, n ^ 1), (m ^ 2, n ^ 2)]
                {
                    if (m2, n2) == (m, n) || m2 == 0 || m2 > n2 || n2 > MAX {
                        continue;
                    }
                    if verify_consistency(&p, m2, &old, n2, &new).is_ok() {
                        assert_eq!(prove_consistency(n2, m2, &t).unwrap().len(), p.len(), "{m}->{n} as {m2}->{n2}");
                    }
                }
                assert!(verify_consistency(&p[..p.len() - 1], m, &old, n, &new).is_err());
                let mut longer = p.clone();
                longer.push(new);
                assert!(verify_consistency(&longer, m, &old, n, &new).is_err());
            }
        }
    }
}

/// Old size 0: empty proof and the empty root only; old > new is rejected.
#[test]
fn consistency_from_empty_tree() {
    let (_, _, roots) = build(5);
    verify_consistency(&[], 0, &EMPTY_ROOT, 5, &roots[5]).unwrap();
    assert!(verify_consistency(&[roots[1]], 0, &EMPTY_ROOT, 5, &roots[5]).is_err());
    assert!(verify_consistency(&[], 0, &roots[1], 5, &roots[5]).is_err());
    assert!(verify_consistency(&[], 6, &roots[5], 5, &roots[5]).is_err());
    verify_consistency(&[], 0, &EMPTY_ROOT, 0, &EMPTY_ROOT).unwrap();
}

fn hx(s: &str) -> Hash {
    Hash::from_slice(&hex::decode(s).unwrap()).unwrap()
}

/// The RFC 6962 reference tree (Certificate Transparency test data): roots for sizes 0..8,
/// two inclusion proofs and one consistency proof.
#[test]
fn rfc6962_reference_vectors() {
    let data = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    let roots = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let mut t = MemoryHashStore::new();
    assert_eq!(t.root().unwrap(), hx(roots[0]));
    for (i, d) in data.iter().enumerate() {
        t.append(&hex::decode(d).unwrap()).unwrap();
        assert_eq!(t.root().unwrap(), hx(roots[i + 1]), "size {}", i + 1);
    }
    let p0 = [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    .map(hx);
    assert_eq!(prove_inclusion(8, 0, &t).unwrap(), p0);
    let p5 = [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    .map(hx);
    assert_eq!(prove_inclusion(8, 5, &t).unwrap(), p5);
    verify_inclusion(&p5, 8, &hx(roots[8]), 5, &leaf_hash(&hex::decode(data[5]).unwrap())).unwrap();
    let c25 = [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]
    .map(hx);
    assert_eq!(prove_consistency(5, 2, &t).unwrap(), c25);
    verify_consistency(&c25, 2, &hx(roots[2]), 5, &hx(roots[5])).unwrap();
}

/// Cross-check roots and proofs against the independent `ct-merkle` implementation on
/// random trees.
#[test]
fn cross_check_ct_merkle() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(6962);
    for _ in 0..12 {
        let n: u64 = rng.gen_range(1..700);
        let mut ours = MemoryHashStore::new();
        let mut theirs = ct_merkle::mem_backed_tree::MemoryBackedTree::<sha2_011::Sha256, Vec<u8>>::new();
        for i in 0..n {
            let d: Vec<u8> = (0..rng.gen_range(0..40))
                .map(|_| rng.r#gen())
                .collect::<Vec<u8>>()
                .into_iter()
                .chain(i.to_be_bytes())
                .collect();
            ours.append(&d).unwrap();
            theirs.push(d);
        }
        let root = ours.root().unwrap();
        assert_eq!(root.0.as_slice(), theirs.root().as_bytes().as_slice());
        for _ in 0..20 {
            let i = rng.gen_range(0..n);
            let p = prove_inclusion(n, i, &ours).unwrap();
            let tp = theirs.prove_inclusion(i as usize);
            let flat: Vec<u8> = p.iter().flat_map(|h| h.0).collect();
            assert_eq!(flat.as_slice(), tp.as_bytes(), "inclusion n={n} i={i}");
            let m = rng.gen_range(1..n.max(2));
            if m < n {
                let c = prove_consistency(n, m, &ours).unwrap();
                let tc = theirs.prove_consistency((n - m) as usize);
                let flat: Vec<u8> = c.iter().flat_map(|h| h.0).collect();
                assert_eq!(flat.as_slice(), tc.as_bytes(), "consistency {m}->{n}");
            }
        }
    }
}

/// Stored-hash index math round-trips (tlog_test.go TestSplitStoredHashIndex).
#[test]
fn stored_hash_index_round_trip() {
    for level in 0..10u8 {
        for n in 0..300u64 {
            let i = stored_hash_index(level, n);
            assert_eq!(split_stored_hash_index(i), (level, n));
        }
    }
    let (t, _, _) = build(100);
    assert_eq!(t.stored().len() as u64, stored_hash_count(100));
}

/// A storage backend that returns the wrong count yields an error, not a panic.
#[test]
fn bad_storage_is_an_error() {
    struct Bad;
    impl HashReader for Bad {
        fn read_hashes(&self, _: &[u64]) -> chain::Result<Vec<Hash>> {
            Ok(vec![])
        }
    }
    assert!(tree_root(10, &Bad).is_err());
    assert!(prove_inclusion(10, 3, &Bad).is_err());
    assert!(prove_consistency(10, 3, &Bad).is_err());
}

/// Tiles published while growing the tree suffice to compute every root and proof.
#[test]
fn root_and_proofs_from_tiles() {
    let mut t = MemoryHashStore::new();
    let mut tiles = TileSet::new();
    let mut old = 0;
    for (step, n) in [1u64, 5, 255, 256, 257, 600, 65_536 + 300].iter().enumerate() {
        while t.size() < *n {
            t.append(&leaf_data(t.size())).unwrap();
        }
        for tile in tiles_for_growth(old, *n) {
            tiles.insert(tile, read_tile_data(tile, &t).unwrap()).unwrap();
        }
        old = *n;
        assert_eq!(root_from_tiles(*n, &tiles).unwrap(), t.root().unwrap(), "step {step} size {n}");
        let i = n / 2;
        assert_eq!(prove_inclusion(*n, i, &tiles).unwrap(), prove_inclusion(*n, i, &t).unwrap());
    }
    // A missing tile is named.
    let empty = TileSet::new();
    let e = root_from_tiles(10, &empty).unwrap_err().to_string();
    assert!(e.contains("tile/0/000"), "{e}");
    let _ = TilePath::parse("tile/0/000").unwrap();
}

/// A batch integrated at once stores the same hashes as leaf-by-leaf appends.
#[test]
fn batch_integration_matches_single_appends() {
    use chain::tree::stored_hashes_for_batch;
    let (t, leaves, _) = build(300);
    let mut partial = MemoryHashStore::new();
    for d in (0..37).map(leaf_data) {
        partial.append(&d).unwrap();
    }
    let batch = stored_hashes_for_batch(37, &leaves[37..300], &partial).unwrap();
    let mut all = partial.stored().to_vec();
    all.extend(batch);
    assert_eq!(all, t.stored());
}
