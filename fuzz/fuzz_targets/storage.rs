//! Fuzz target: see `checks/storage.rs` for what it asserts.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::storage::check(data));
