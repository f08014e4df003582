//! Fuzz target: see `checks/config.rs` for what it asserts.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::config::check(data));
