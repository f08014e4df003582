//! Fuzz target: see `checks/ottl.rs` for what it asserts.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::ottl::check(data));
