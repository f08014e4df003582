//! Durable storage (`storage:`): what is accepted survives shutdowns, crashes and damage.

mod support;

#[path = "storage/damage.rs"]
mod damage;
#[path = "storage/full_disk.rs"]
mod full_disk;
#[path = "storage/kill9.rs"]
mod kill9;
#[path = "storage/outage.rs"]
mod outage;
#[path = "storage/restart.rs"]
mod restart;
#[path = "storage/summaries.rs"]
mod summaries;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use std::collections::BTreeSet;
use std::path::Path;
use support::*;
use tailsift::fixtures::{request, span};

/// A config with storage in `dir`, exporting to `sink`, with `wait` as decision_wait.
pub fn config(dir: &Path, sink: &str, wait: &str, extra: &str) -> String {
    format!(
        r#"
sampling:
  decision_wait: {wait}
  root_wait: {wait}
{extra}
exporters:
  sink:
    protocol: otlp_grpc
    endpoint: "{sink}"
    retry: {{ initial_interval: 50ms, max_interval: 200ms }}
shutdown_timeout: 1s
storage:
  directory: "{}"
"#,
        dir.display()
    )
}

/// A two-span trace `t` (root and child), span ids `t*10+1` and `t*10+2`.
pub fn trace(t: u128) -> ExportTraceServiceRequest {
    let base = (t as u64) * 10;
    request(
        "svc",
        [
            span(t, base + 1).name("root").kind(SpanKind::Server),
            span(t, base + 2).parent(base + 1).name("child"),
        ],
    )
}

/// Span ids the sink received, each once.
pub fn unique_span_ids(sink: &GrpcSink) -> BTreeSet<u64> {
    sink.spans().iter().map(span_id_of).collect()
}

/// Segment files in `dir`.
pub fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("segment-"))
        })
        .collect();
    v.sort();
    v
}

/// Request records in the segments of `dir` (released or not).
pub fn requests_on_disk(dir: &Path) -> usize {
    use tailsift::proto::storage::v1::record::Kind;
    segments(dir)
        .into_iter()
        .map(|p| {
            let (records, _) = tailsift::storage::read_segment(std::fs::read(p).unwrap().into());
            records
                .iter()
                .filter(|r| matches!(r.kind, Some(Kind::Request(_))))
                .count()
        })
        .sum()
}

/// The daemons of these tests share this process's metrics recorder: they run one at a time
/// and read counters as differences from a snapshot.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How much counter `name` (with `labels`) grew since `base`.
pub fn grew(base: &Metrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    Metrics::of_this_process().sum(name, labels) - base.sum(name, labels)
}

/// What every in-process test starts with: its turn, a directory and a sink.
pub struct Setup {
    pub _serial: tokio::sync::MutexGuard<'static, ()>,
    pub dir: tempfile::TempDir,
    pub sink: GrpcSink,
    pub url: String,
}

pub async fn setup() -> Setup {
    let _serial = SERIAL.lock().await;
    let sink = GrpcSink::default();
    let url = sink.serve().await;
    Setup {
        _serial,
        dir: tempfile::tempdir().unwrap(),
        sink,
        url,
    }
}
