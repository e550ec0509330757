#![no_main]
//! Fuzz target `entry_bundle`: see `chain::fuzz_entry::entry_bundle`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chain::fuzz_entry::entry_bundle(data));
