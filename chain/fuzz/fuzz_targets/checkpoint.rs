#![no_main]
//! Fuzz target `checkpoint`: see `chain::fuzz_entry::checkpoint`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chain::fuzz_entry::checkpoint(data));
