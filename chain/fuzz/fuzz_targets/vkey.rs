#![no_main]
//! Fuzz target `vkey`: see `chain::fuzz_entry::vkey`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chain::fuzz_entry::vkey(data));
