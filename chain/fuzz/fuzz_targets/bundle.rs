#![no_main]
//! Fuzz target `bundle`: see `chain::fuzz_entry::bundle`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chain::fuzz_entry::bundle(data));
