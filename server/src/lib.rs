//! The onecity server: configuration, sign-in, sessions, the database, and the web edge
//! around the Leptos app. `main.rs` only parses the command line and calls in here, so
//! integration tests can build the same router with their own database and provider.
//!
//! The modules by role, each depending only on those below it (docs/architecture.md):
//!
//! * [`http`]: the web edge: router, sessions, page cache, rate limits, sign-in, the agency API,
//!   the public ledger routes;
//! * [`portal`]: the server side of the app's server functions, one module per trait;
//! * [`domain`]: the rules and their SQL: services, grants, records, pseudonyms, the gate;
//! * [`ledger`]: the log's sequencer, storage, witnesses' client and anchors, over [`chain`];
//! * [`witness`], [`seed`], [`cli`]: the other programs in the binary;
//! * [`state`], [`db`], [`config`], [`error`], [`keyfile`], [`clock`], [`shutdown`]: what they
//!   share.

// The pages' view types (nested generics, one per element) are laid out here, where the app is
// rendered; the default limit of 128 is too low for the larger pages.
#![recursion_limit = "256"]

pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod keyfile;
pub mod ledger;
pub mod portal;
pub mod seed;
pub mod shutdown;
pub mod state;
pub mod witness;

pub use db::MIGRATOR;
pub use state::AppState;
