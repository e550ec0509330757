//! Test harness: the real parts the integration tests run against, one module per part: the
//! identity provider (`idp`), the portal and a browser-like client (`portal`), the witnesses
//! and the sequencer (`witnesses`), a chain node (`anvil`), and a whole city (`city`), each
//! against the per-test database `#[sqlx::test]` creates.

use std::path::PathBuf;

mod anvil;
mod city;
mod idp;
mod portal;
mod witnesses;

pub use self::anvil::*;
pub use self::city::*;
pub use self::idp::*;
pub use self::portal::*;
pub use self::witnesses::*;

/// A scratch directory removed when dropped.
pub struct TempDir(pub PathBuf);
impl TempDir {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("onecity-{tag}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}
