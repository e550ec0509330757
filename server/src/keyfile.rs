//! Ed25519 seed files: 32 random bytes stored as 64 lowercase hex characters and a newline,
//! readable only by the owner (mode 0600). Used for the witness keys and the log key.
//!
//! The seed is the whole secret: whoever reads the file can sign as the key. It is never
//! logged; errors name the path, never the content.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::{Context, bail};
use rand::RngCore as _;

/// Length of a seed file: 64 hex characters and a newline.
const SEED_FILE_LEN: usize = 65;

/// Reads the 32-byte seed at `path`, or creates it from the operating system's random number
/// generator if the file does not exist (parent folders too).
///
/// Creation is atomic and never replaces an existing file: the seed is written to a
/// temporary file (mode 0600) in the same folder, flushed to disk, then hard-linked to
/// `path`, which fails if another process created the file first; in that case the other
/// process's seed is read and returned, so concurrent first starts agree on one key.
///
/// # Errors
/// When the file cannot be read or created, or is not exactly 64 hex characters followed by
/// an optional newline; the message names the path but never the content.
pub fn load_or_create_seed(path: &Path) -> anyhow::Result<[u8; 32]> {
    match std::fs::read(path) {
        Ok(bytes) => return parse_seed(&bytes).with_context(|| format!("malformed key file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read key file {}", path.display())),
    }
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    create_seed_file(path, &seed)?;
    // Read back what is on disk: if another process won the race, its seed is the key.
    let bytes = std::fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    parse_seed(&bytes).with_context(|| format!("malformed key file {}", path.display()))
}

fn create_seed_file(path: &Path, seed: &[u8; 32]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create folder {}", dir.display()))?;
    let file_name = path.file_name().with_context(|| format!("key file path {} has no file name", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp-{}", file_name.to_string_lossy(), std::process::id()));
    let result = (|| -> anyhow::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot create temporary key file {}", tmp.display()))?;
        f.write_all(format!("{}\n", to_hex(seed)).as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write temporary key file {}", tmp.display()))?;
        match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot create key file {}", path.display())),
        }
    })();
    let _ = std::fs::remove_file(&tmp);
    result?;
    // Make the new directory entry durable too (best effort: not every filesystem allows it).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn parse_seed(bytes: &[u8]) -> anyhow::Result<[u8; 32]> {
    let hex = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if hex.len() != 64 {
        bail!("expected 64 hex characters and a newline ({SEED_FILE_LEN} bytes), found {} bytes", bytes.len());
    }
    let mut seed = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let (Some(hi), Some(lo)) = (hex_value(pair[0]), hex_value(pair[1])) else {
            bail!("not a hex string");
        };
        seed[i] = (hi << 4) | lo;
    }
    Ok(seed)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("onecity-keyfile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn a_missing_key_file_is_created_with_mode_0600_and_read_back_unchanged() {
        let dir = scratch("create");
        let path = dir.join("nested/witness.key");
        let seed = load_or_create_seed(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), SEED_FILE_LEN);
        assert!(text.ends_with('\n'));
        assert_eq!(text.trim_end(), to_hex(&seed));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load_or_create_seed(&path).unwrap(), seed);
        // No temporary files left behind.
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn two_new_key_files_differ() {
        let dir = scratch("differ");
        let a = load_or_create_seed(&dir.join("a")).unwrap();
        let b = load_or_create_seed(&dir.join("b")).unwrap();
        assert_ne!(a, b);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_existing_seed_is_read_with_or_without_newline_in_either_case() {
        let dir = scratch("read");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("k");
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        std::fs::write(&p, hex).unwrap();
        let seed = load_or_create_seed(&p).unwrap();
        assert_eq!(seed[1], 0x11);
        assert_eq!(seed[31], 0xff);
        std::fs::write(&p, format!("{hex}\n")).unwrap();
        assert_eq!(load_or_create_seed(&p).unwrap(), seed);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_malformed_key_file_is_an_error_naming_the_path_and_is_left_alone() {
        let dir = scratch("bad");
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.key");
        for bad in ["", "abc\n", &"g".repeat(64), &format!("{}\n\n", "a".repeat(64)), &"a".repeat(66)] {
            std::fs::write(&p, bad).unwrap();
            let err = format!("{:#}", load_or_create_seed(&p).unwrap_err());
            assert!(err.contains(&p.display().to_string()), "{err}");
            assert!(!err.contains("gggg"), "the content must not appear in the error: {err}");
            assert_eq!(std::fs::read_to_string(&p).unwrap(), bad);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unreadable_key_path_is_an_error_naming_the_path() {
        let dir = scratch("dir");
        std::fs::create_dir_all(dir.join("k")).unwrap();
        let err = format!("{:#}", load_or_create_seed(&dir.join("k")).unwrap_err());
        assert!(err.contains("cannot read key file"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
