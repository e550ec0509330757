//! Command-line tools beside the server: the offline proof verifier and the operator's
//! records commands.

pub mod records;
pub mod verify;
