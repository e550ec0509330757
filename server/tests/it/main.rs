//! The server's integration tests, in one binary so the server links once, not once per file.
//! Each module is one area, driven over HTTP (or the library) against a real PostgreSQL
//! (`#[sqlx::test]` makes a fresh database per test), the real identity provider, real
//! witness processes and a real chain node, started by [`harness`].

// Each area uses a different part of the harness.
#![allow(dead_code)]

mod harness;

mod anchor;
mod api;
mod bundle;
mod console;
mod devices;
mod gate;
mod ledger;
mod login;
mod portal;
mod quorum;
mod records;
mod resident;
mod rules;
mod seed;
mod services;
mod terms;
mod witness;
