//! Grant status map: presence and absence proofs, cross-checked with jmt's own verifier.

use chain::leaf::GrantId;
use chain::status::{GrantStatus, MapProof, MemoryStatusStore, StatusMap, status_key};

#[test]
fn presence_absence_and_tampering() {
    let m = StatusMap::new(MemoryStatusStore::new());
    let r0 = m.apply(0, &[]).unwrap();
    let (v, p) = m.get_with_proof(0, &GrantId([1; 16])).unwrap();
    assert_eq!(v, None);
    p.verify(&r0, &GrantId([1; 16]), None).unwrap();

    let ups: Vec<(GrantId, GrantStatus)> =
        (0..200u8).map(|i| (GrantId([i; 16]), GrantStatus::Active { until: 1000 + u64::from(i) })).collect();
    let r1 = m.apply(1, &ups).unwrap();
    let r2 = m.apply(2, &[(GrantId([5; 16]), GrantStatus::Revoked { at: 77 })]).unwrap();
    assert_ne!(r1, r2);
    assert_eq!(m.root(1).unwrap(), r1);
    for i in [0u8, 5, 77, 199] {
        let g = GrantId([i; 16]);
        let (v, p) = m.get_with_proof(2, &g).unwrap();
        let want =
            if i == 5 { GrantStatus::Revoked { at: 77 } } else { GrantStatus::Active { until: 1000 + u64::from(i) } };
        assert_eq!(v, Some(want));
        p.verify(&r2, &g, Some(&want)).unwrap();
        // jmt agrees on the same data.
        let jp = m.jmt_proof(2, &g).unwrap();
        jp.verify_existence(jmt::RootHash(r2.0), jmt::KeyHash(status_key(&g).0), want.encode()).unwrap();
        // Wrong value, wrong root, absence claim, tampered siblings: all fail.
        assert!(p.verify(&r2, &g, Some(&GrantStatus::Active { until: 1 })).is_err());
        assert!(p.verify(&r1, &g, Some(&want)).is_err() || i != 5);
        assert!(p.verify(&r2, &g, None).is_err());
        for k in 0..p.siblings.len() {
            let mut q = p.clone();
            q.siblings[k].0[3] ^= 1;
            assert!(q.verify(&r2, &g, Some(&want)).is_err());
        }
        let mut q = p.clone();
        q.siblings.pop();
        assert!(q.verify(&r2, &g, Some(&want)).is_err());
        // Old version still proves the old status.
        let (v1, p1) = m.get_with_proof(1, &g).unwrap();
        p1.verify(&r1, &g, v1.as_ref()).unwrap();
    }
    for i in [200u8, 201, 255] {
        let g = GrantId([i; 16]);
        let (v, p) = m.get_with_proof(2, &g).unwrap();
        assert_eq!(v, None);
        p.verify(&r2, &g, None).unwrap();
        m.jmt_proof(2, &g).unwrap().verify_nonexistence(jmt::RootHash(r2.0), jmt::KeyHash(status_key(&g).0)).unwrap();
        assert!(p.verify(&r2, &g, Some(&GrantStatus::Active { until: 1 })).is_err());
        let json = serde_json::to_string(&p).unwrap();
        let back: MapProof = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }
    // A presence proof of another key cannot pass as an absence proof of a key on a
    // different path.
    let (_, p0) = m.get_with_proof(2, &GrantId([0; 16])).unwrap();
    assert!(p0.verify(&r2, &GrantId([201; 16]), None).is_err());
}

#[test]
fn status_value_encoding() {
    let a = GrantStatus::Active { until: 0x0102_0304_0506_0708 };
    assert_eq!(a.encode(), [1, 1, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(GrantStatus::decode(&a.encode()).unwrap(), a);
    let r = GrantStatus::Revoked { at: 5 };
    assert_eq!(r.encode(), [1, 2, 0, 0, 0, 0, 0, 0, 0, 5]);
    assert!(GrantStatus::decode(&[1, 3, 0, 0, 0, 0, 0, 0, 0, 5]).is_err());
    assert!(GrantStatus::decode(&[2, 1, 0, 0, 0, 0, 0, 0, 0, 5]).is_err());
    assert!(GrantStatus::decode(&[1, 1, 0]).is_err());
}

/// Issued and revoked within one version: the last update wins.
#[test]
fn duplicate_updates_last_wins() {
    let m = StatusMap::new(MemoryStatusStore::new());
    let g = GrantId([9; 16]);
    let r = m.apply(0, &[(g, GrantStatus::Active { until: 10 }), (g, GrantStatus::Revoked { at: 5 })]).unwrap();
    let (v, p) = m.get_with_proof(0, &g).unwrap();
    assert_eq!(v, Some(GrantStatus::Revoked { at: 5 }));
    p.verify(&r, &g, v.as_ref()).unwrap();
}
