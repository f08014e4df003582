//! The invariants each fuzz target checks, one module per target. The fuzz targets call them
//! on libFuzzer's inputs; the main crate's tests/operator/fuzz_regressions.rs calls them on every file
//! of fuzz/corpus/ and fuzz/regressions/, so a crash once found stays a regular test.
#![allow(dead_code)]

pub mod config;
pub mod ingest;
pub mod otlp_json;
pub mod ottl;
pub mod storage;

/// Runs the check of `target` on `data`.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "config" => config::check(data),
        "ingest" => ingest::check(data),
        "otlp_json" => otlp_json::check(data),
        "ottl" => ottl::check(data),
        "storage" => storage::check(data),
        other => panic!("no fuzz target `{other}`"),
    }
}
