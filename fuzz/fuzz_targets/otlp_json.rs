//! Fuzz target: see `checks/otlp_json.rs` for what it asserts.
#![no_main]

#[path = "../checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::otlp_json::check(data));
