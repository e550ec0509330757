//! A local EVM chain node (anvil from `tools/`), killed on drop.

use super::repo_root;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A local EVM chain node (anvil from the project's `tools/` npm packages), killed on drop.
pub struct Anvil {
    pub child: Child,
    pub url: String,
    pub port: u16,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Anvil {
    pub fn binary() -> PathBuf {
        let bin = repo_root().join("tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
        assert!(bin.is_file(), "anvil is missing: run `./dev test` (or `npm ci` in tools/) first");
        bin
    }

    /// Starts anvil on a free loopback port and waits until it answers.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self::start_on(port).await
    }

    /// Starts anvil on `port` (e.g. again after a stop) and waits until it answers.
    pub async fn start_on(port: u16) -> Self {
        let child = Command::new(Self::binary())
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("anvil starts");
        // Owned by `Self` at once, so it is killed on drop even if it never answers.
        let anvil = Self { child, url: format!("http://127.0.0.1:{port}"), port };
        let rpc = server::ledger::evm::EvmRpc::new(&anvil.url).unwrap();
        for _ in 0..100 {
            if rpc.chain_id().await.is_ok() {
                return anvil;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("anvil did not start on port {port}");
    }
}
