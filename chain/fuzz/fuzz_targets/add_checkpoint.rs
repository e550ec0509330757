#![no_main]
//! Fuzz target `add_checkpoint`: see `chain::fuzz_entry::add_checkpoint`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chain::fuzz_entry::add_checkpoint(data));
