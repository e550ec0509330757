//! Command-line tools beside the server: the offline proof verifier.

pub mod verify;
