//! The server side of the app's server functions: one module per trait the app declares
//! (`Accounts`, `Agencies`, `City`, `Records` and `Residents` in `app::serverfns::*::ssr`),
//! each a thin layer over [`crate::domain`] that turns its types into the app's views.

pub mod accounts;
pub mod agencies;
pub mod city;
pub mod devices;
pub mod records;
pub mod residents;
pub mod views;
