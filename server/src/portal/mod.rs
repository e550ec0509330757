//! The server side of the app's server functions: one module per trait the app declares
//! (`app::serverfns::agency::ssr::Agencies`, `app::serverfns::city::ssr::City`, `app::serverfns::resident::ssr::Residents`),
//! each a thin layer over [`crate::domain`] that turns its types into the app's views.

pub mod agencies;
pub mod city;
pub mod residents;
