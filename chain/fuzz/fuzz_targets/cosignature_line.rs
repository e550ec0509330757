#![no_main]
//! Fuzz target `cosignature_line`: see `chain::fuzz_entry::cosignature_line`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chain::fuzz_entry::cosignature_line(data));
