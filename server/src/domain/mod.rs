//! The city's rules and their SQL, with no web framework in them: services and their
//! versions, grants, residents' records, pseudonyms, and the gate every agency read passes.

pub mod agency;
pub mod devices;
pub mod gate;
pub mod grants;
pub mod pseudonym;
pub mod records;
pub mod rules;
pub mod services;
