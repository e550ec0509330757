#![no_main]
//! Fuzz target `note`: see `chain::fuzz_entry::note`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chain::fuzz_entry::note(data));
