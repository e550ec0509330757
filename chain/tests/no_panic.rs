//! No parser panics: every fuzz target's entry point gets the fuzz seed corpus, the golden
//! files, and many random and mutated inputs (the same code `cargo fuzz` runs).

use std::path::PathBuf;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};

fn seeds() -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["tests/golden", "fuzz/corpus"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(b) = std::fs::read(&p) {
                    out.push(b);
                }
            }
        }
    }
    // Extract embedded artefacts too: leaf hex, the bundle's checkpoint string.
    let mut extra = Vec::new();
    for s in &out {
        let t = String::from_utf8_lossy(s);
        for line in t.lines() {
            if let Some(h) = line.strip_prefix("hex: ") {
                extra.push(hex::decode(h).unwrap_or_default());
            }
            extra.push(line.as_bytes().to_vec());
        }
    }
    out.extend(extra);
    out.extend(chain::demo::sample_events().iter().map(|e| e.encode().unwrap()));
    out
}

fn mutate(rng: &mut impl Rng, s: &[u8]) -> Vec<u8> {
    let mut v = s.to_vec();
    for _ in 0..rng.gen_range(1..4) {
        match rng.gen_range(0..6) {
            0 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v.truncate(i);
            }
            2 => {
                let i = rng.gen_range(0..=v.len());
                v.insert(i, rng.r#gen());
            }
            3 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v.remove(i);
            }
            4 => {
                let i = rng.gen_range(0..=v.len());
                let b = [b'\n', b'+', b'/', b'.', b'0', b'x', b'{', b'"', 0xe2, 0x80, 0x94, b' '];
                v.insert(i, b[rng.gen_range(0..b.len())]);
            }
            _ => {
                if !v.is_empty() {
                    let i = rng.gen_range(0..v.len());
                    let j = rng.gen_range(0..v.len());
                    v.swap(i, j);
                }
            }
        }
    }
    v
}

#[test]
fn seeds_and_mutations_do_not_panic() {
    let seeds = seeds();
    assert!(seeds.len() > 50, "seed corpus missing: {} seeds", seeds.len());
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for (name, f) in chain::fuzz_entry::TARGETS {
        for s in &seeds {
            f(s);
        }
        let rounds = if *name == "bundle" || *name == "checkpoint" { 1500 } else { 6000 };
        for _ in 0..rounds {
            let s = &seeds[rng.gen_range(0..seeds.len())];
            let m = mutate(&mut rng, s);
            f(&m);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn random_bytes_do_not_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        for (_, f) in chain::fuzz_entry::TARGETS {
            f(&data);
        }
    }

    #[test]
    fn random_text_does_not_panic(s in "(tile/|— |old |[0-9a-z+/=.\n{}\":, ]){0,60}") {
        for (_, f) in chain::fuzz_entry::TARGETS {
            f(s.as_bytes());
        }
    }
}
