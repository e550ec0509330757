//! The development identity provider (`idp/server.mjs`) as a child process on a free port.

use super::{TempDir, repo_root};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The development OpenID provider, killed when dropped.
pub struct Idp {
    pub child: Child,
    pub issuer: String,
    pub _data: TempDir,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Idp {
    /// Starts the provider on a free port, registering `portal` as the client's origin.
    pub fn start(portal: &str) -> Self {
        let root = repo_root();
        assert!(
            root.join("idp/node_modules").is_dir(),
            "idp/node_modules is missing: run `./dev test` (or `npm ci` in idp/) first"
        );
        let data = TempDir::new("idp");
        let mut child = Command::new("node")
            .arg(root.join("idp/server.mjs"))
            .env("IDP_PORT", "0")
            .env("IDP_DATA_DIR", &data.0)
            .env("IDP_REDIRECT_URIS", format!("{portal}/auth/callback"))
            .env("IDP_POST_LOGOUT_REDIRECT_URIS", format!("{portal}/"))
            .env("IDP_API_AUDIENCE", format!("{portal}/api/v1"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node must be installed to run the identity provider");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let issuer = loop {
            let line = lines.next().expect("the provider exited before it was ready").unwrap();
            if let Some(url) = line.strip_prefix("onecity-idp listening on ") {
                break url.trim().to_owned();
            }
        };
        // Keep draining its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, issuer, _data: data }
    }
}
