//! One module per page. Pages use `crate::components` and `crate::serverfns`, never each other.

pub mod consent;
pub mod console;
pub mod data_use;
pub mod devices;
pub mod home;
pub mod permissions;
pub mod records;
pub mod transparency;
pub mod verify;
