//! tailsift: a tail-sampling proxy for OpenTelemetry traces.
#![forbid(unsafe_code)]

pub mod config; // schema, units, loading and validation of the YAML file
pub mod exporter; // batching, retry and fan-out of kept traces to OTLP backends and files
pub mod fixtures; // OTLP request builders for tests and benchmarks
pub mod otlp; // lazy span decoding, raw re-encoding, OTLP JSON
pub mod telemetry; // metric names, Prometheus endpoint, health, logs
