//! Fuzz target: see `checks/ingest.rs` for what it asserts.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::ingest::check(data));
