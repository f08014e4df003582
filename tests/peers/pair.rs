//! The Collector and tailsift side by side on the same `tail_sampling` block: their configs,
//! a pair of them each exporting to its own in-process sink, and what each kept.

use crate::bins::{free_ports, Peer, PeerProc};
use crate::support::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines().map(|l| format!("{pad}{l}\n")).collect()
}

/// One Collector config with a pipeline per `(name, tail_sampling block)`: its own OTLP/gRPC
/// receiver on `receivers[i]`, its own `tail_sampling`, its own exporter to `sinks[i]`.
pub fn collector_config(blocks: &[(&str, String)], receivers: &[u16], sinks: &[String]) -> String {
    let (mut r, mut p, mut e, mut s) = (String::new(), String::new(), String::new(), String::new());
    for (i, (name, block)) in blocks.iter().enumerate() {
        r.push_str(&format!(
            "  otlp/{name}: {{ protocols: {{ grpc: {{ endpoint: \"127.0.0.1:{}\" }} }} }}\n",
            receivers[i]
        ));
        p.push_str(&format!("  tail_sampling/{name}:\n{}", indent(block, 4)));
        let sink = sinks[i].trim_start_matches("http://");
        e.push_str(&format!("  otlp_grpc/{name}: {{ endpoint: \"{sink}\", tls: {{ insecure: true }}, compression: none }}\n"));
        s.push_str(&format!("    traces/{name}: {{ receivers: [otlp/{name}], processors: [tail_sampling/{name}], exporters: [otlp_grpc/{name}] }}\n"));
    }
    format!("receivers:\n{r}processors:\n{p}exporters:\n{e}service:\n  telemetry: {{ metrics: {{ level: none }}, logs: {{ level: warn }} }}\n  pipelines:\n{s}")
}

/// tailsift with `block` pasted as its top-level `tail_sampling:`, exporting to `sink`.
pub fn tailsift_config(block: &str, sink: &str) -> String {
    format!(
        "tail_sampling:\n{}exporters:\n  sink: {{ protocol: otlp_grpc, endpoint: \"{sink}\", compression: none, batch: {{ timeout: 20ms }} }}\n",
        indent(block, 2)
    )
}

/// Waits until no sink's span count changed for `quiet` (at least `min` after the call), at
/// most 30 s.
pub async fn settle(sinks: &[GrpcSink], min: Duration, quiet: Duration) {
    let start = Instant::now();
    let mut last = Vec::new();
    let mut since = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        let now: Vec<usize> = sinks.iter().map(|s| s.received_spans()).collect();
        if now != last {
            last = now;
            since = Instant::now();
        } else if start.elapsed() >= min && since.elapsed() >= quiet {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sinks kept receiving for 30 s");
}

/// Kept traces: trace id to its span ids (sorted).
pub fn kept(sink: &GrpcSink) -> BTreeMap<u128, Vec<u64>> {
    summary(&sink.spans())
        .into_iter()
        .map(|(t, (ids, _))| (t, ids))
        .collect()
}

/// One Collector pipeline and one tailsift daemon on the same block.
pub struct Pair {
    /// Killed when the pair is dropped.
    _collector: PeerProc,
    port: u16,
    pub daemon: Daemon,
    /// The Collector's sink, then tailsift's.
    pub sinks: [GrpcSink; 2],
}

impl Pair {
    /// `None` (test skipped) without the Collector binary, outside CI.
    pub async fn start(block: &str) -> Option<Pair> {
        let bin = Peer::Collector.binary()?;
        let sinks = [GrpcSink::default(), GrpcSink::default()];
        let endpoints = [sinks[0].serve().await, sinks[1].serve().await];
        let port = free_ports(1)[0];
        let config = collector_config(&[("pair", block.to_string())], &[port], &endpoints[..1]);
        let collector = PeerProc::start(&bin, &config, &[port]).await;
        let daemon = Daemon::start(&tailsift_config(block, &endpoints[1])).await;
        Some(Pair {
            _collector: collector,
            port,
            daemon,
            sinks,
        })
    }

    /// Sends `req` to the Collector and to tailsift.
    pub async fn send(&self, req: &ExportTraceServiceRequest) {
        export_grpc(crate::bins::local(self.port), req)
            .await
            .expect("the Collector accepts the request");
        self.daemon.send_ok(Transport::Grpc, req).await;
    }

    /// Waits for both to decide and export (see [`settle`]); then what each kept.
    pub async fn kept(&self, min: Duration) -> [BTreeMap<u128, Vec<u64>>; 2] {
        settle(&self.sinks, min, Duration::from_millis(1500)).await;
        [kept(&self.sinks[0]), kept(&self.sinks[1])]
    }
}
