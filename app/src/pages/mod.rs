//! One module per page, plus the parts they share.

pub mod consent;
pub mod console;
pub mod data_use;
pub mod home;
pub mod parts;
pub mod permissions;
pub mod transparency;
