//! The view types the pages show and the server functions that return them, one module per
//! resource. Each server function is a thin wrapper over a trait the server crate implements
//! (`ssr::Residents`, `ssr::Agencies`, `ssr::City`), found in the request's context.

pub mod agency;
pub mod city;
pub mod devices;
pub mod me;
pub mod records;
pub mod resident;
