#![no_main]
//! Fuzz target `leaf`: see `chain::fuzz_entry::leaf`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chain::fuzz_entry::leaf(data));
