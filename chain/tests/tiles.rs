//! C2SP tlog-tiles paths (table from the spec and tessera's paths_test.go style) and
//! tile/entry-bundle encodings.

use chain::Hash;
use chain::tiles::{
    TilePath, decode_entry_bundle, decode_tile_data, encode_entry_bundle, encode_tile_data, entry_bundles_for_growth,
    tiles_for_growth,
};

#[test]
fn paths_from_spec() {
    let cases = [
        (TilePath::Hash { level: 0, index: 1_234_067, width: 256 }, "tile/0/x001/x234/067"),
        (TilePath::Hash { level: 0, index: 1_234_067, width: 8 }, "tile/0/x001/x234/067.p/8"),
        (TilePath::Hash { level: 1, index: 0, width: 256 }, "tile/1/000"),
        (TilePath::Hash { level: 2, index: 999, width: 1 }, "tile/2/999.p/1"),
        (TilePath::Hash { level: 0, index: 1000, width: 255 }, "tile/0/x001/000.p/255"),
        (TilePath::Entries { index: 123_456_789, width: 256 }, "tile/entries/x123/x456/789"),
        (TilePath::Entries { index: 0, width: 3 }, "tile/entries/000.p/3"),
        (TilePath::Hash { level: 63, index: u64::MAX, width: 256 }, "tile/63/x018/x446/x744/x073/x709/x551/615"),
    ];
    for (t, p) in cases {
        assert_eq!(t.path(), p);
        assert_eq!(TilePath::parse(p).unwrap(), t, "{p}");
    }
}

#[test]
fn bad_paths_rejected() {
    for p in [
        "",
        "tile",
        "tile/",
        "tile/0",
        "tile/0/",
        "tile/00/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/0/1",
        "tile/0/0000",
        "tile/0/x000/001",
        "tile/0/001/002",
        "tile/0/x001",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/08",
        "tile/0/000.p/",
        "tile/data/000",
        "tile/8/0/000",
        "tile/entries/x1/000",
        "tile/0/x001/x234/067/",
        "/tile/0/000",
        "tile/0/y001/000",
        "tile/0/x019/x000/x000/x000/x000/x000/000",
        "tile/entries/000.p/1.p/2",
    ] {
        assert!(TilePath::parse(p).is_err(), "{p:?} should be rejected");
    }
}

#[test]
fn growth_tiles() {
    let t = tiles_for_growth(0, 70_000);
    assert!(t.contains(&TilePath::Hash { level: 0, index: 0, width: 256 }));
    assert!(t.contains(&TilePath::Hash { level: 0, index: 273, width: 112 }));
    assert!(t.contains(&TilePath::Hash { level: 1, index: 1, width: 17 }));
    assert!(t.contains(&TilePath::Hash { level: 2, index: 0, width: 1 }));
    let e = entry_bundles_for_growth(256, 300);
    assert_eq!(e, vec![TilePath::Entries { index: 1, width: 44 }]);
    assert!(tiles_for_growth(5, 5).is_empty());
}

#[test]
fn tile_and_bundle_encodings() {
    let hs = vec![Hash([1; 32]), Hash([2; 32])];
    let d = encode_tile_data(&hs);
    assert_eq!(d.len(), 64);
    assert_eq!(decode_tile_data(&d).unwrap(), hs);
    assert!(decode_tile_data(&d[..63]).is_err());
    assert!(decode_tile_data(&[]).is_err());
    assert!(decode_tile_data(&vec![0; 32 * 257]).is_err());

    let es: Vec<Vec<u8>> = vec![b"".to_vec(), b"abc".to_vec(), vec![7; 300]];
    let b = encode_entry_bundle(&es).unwrap();
    assert_eq!(&b[..7], &[0, 0, 0, 3, b'a', b'b', b'c']);
    assert_eq!(decode_entry_bundle(&b).unwrap(), es);
    assert!(decode_entry_bundle(&b[..b.len() - 1]).is_err());
    assert!(decode_entry_bundle(&[0]).is_err());
    assert!(encode_entry_bundle(&[vec![0u8; 65_536]]).is_err());
    assert!(encode_entry_bundle(&vec![vec![0u8]; 257]).is_err());
    let many = encode_entry_bundle(&vec![vec![1u8]; 256]).unwrap();
    let mut over = many.clone();
    over.extend([0, 1, 1]);
    assert!(decode_entry_bundle(&over).is_err());
}
