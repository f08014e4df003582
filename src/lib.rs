//! tailsift: a tail-sampling proxy for OpenTelemetry traces.
#![forbid(unsafe_code)]

pub mod buffer; // live traces sharded by trace id, deadlines, decision cache
pub mod capture; // capture on demand: temporary keep-rules ahead of the configured ones, their API
pub mod cluster; // decision sharing between instances over NATS: hold, combine, group size
pub mod collector; // the OpenTelemetry Collector's tail_sampling policies (their config is in config)
pub mod config; // schema (tail_sampling:'s too), units, loading and validation of the YAML file
pub mod decide; // the Decider seam: Verdict, Explanation; implemented by rules and collector
pub mod exporter; // batching, retry and fan-out of kept traces to OTLP backends and files
#[cfg(any(test, feature = "test-support"))]
pub mod fixtures; // OTLP request builders for tests and benchmarks (feature test-support)
pub mod otlp; // lazy span decoding, raw re-encoding, OTLP JSON
pub mod output; // a kept span on its way out: annotation, sample-rate accounting, fidelity
pub mod pipeline; // ingest -> buffer -> decide -> fidelity -> export
pub mod proto; // generated code for the formats in proto/ (storage records, cluster messages)
pub mod receiver; // OTLP/gRPC and OTLP/HTTP receivers
pub mod reload; // config reload on SIGHUP or a changed file: validate, swap the decider
pub mod rules; // compiled rule set: conditions, actions, first match wins
pub mod sampler; // consistent probability, adaptive and rate-limit sampling
pub mod server; // run(listeners, shutdown): the daemon and its staged shutdown
pub mod simulate; // replaying recorded traces through the rules: counts and explanations
pub mod stages; // duration sketches per stage for `slower_than`, fed as spans arrive
pub mod storage; // the durable log of accepted requests and decisions: append, release, replay
pub mod supervise; // the daemon's tasks: a panic or early exit of any is reported by name
pub mod telemetry; // metric names, Prometheus endpoint, health, logs
pub mod tls; // rustls configs for receivers and exporters, certificate reload
