#![no_main]
//! Fuzz target `tile_path`: see `chain::fuzz_entry::tile_path`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| chain::fuzz_entry::tile_path(data));
