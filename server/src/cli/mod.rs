//! Command-line tools beside the server: the offline proof verifier, the operator's records
//! commands, and device keys, registration and simulation.

pub mod device;
pub mod records;
pub mod verify;
