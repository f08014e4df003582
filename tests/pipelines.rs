//! Sampling for AI pipelines against the real daemon: `slower_than` stage sketches, trace
//! aggregates, GenAI and media fidelity, `min_per_key` and capture on demand.

mod support;

use support::{Daemon, GrpcSink};

/// Starts the daemon on `yaml` with an in-process OTLP/gRPC sink as its only exporter.
pub async fn with_sink(yaml: &str) -> (Daemon, GrpcSink) {
    let sink = GrpcSink::default();
    let endpoint = sink.serve().await;
    let exporters = format!(
        "exporters:\n  sink:\n    protocol: otlp_grpc\n    endpoint: \"{endpoint}\"\n    batch: {{ timeout: 20ms }}\n"
    );
    (Daemon::start(&format!("{yaml}{exporters}")).await, sink)
}

#[path = "pipelines/adaptive.rs"]
mod adaptive;
#[path = "pipelines/capture.rs"]
mod capture;
#[path = "pipelines/fidelity.rs"]
mod fidelity;
#[path = "pipelines/readme.rs"]
mod readme;
#[path = "pipelines/stages.rs"]
mod stages;
