//! Exporter integration: file output, isolation of a dead backend, congestion, and shutdown against a deadline.

use crate::exporter_support;
use crate::support;

use exporter_support::*;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use serde_json::json;
use std::time::{Duration, Instant};

fn grpc(endpoint: &str, batch_timeout: &str) -> serde_json::Value {
    json!({
        "protocol": "otlp_grpc",
        "endpoint": endpoint,
        "timeout": "500ms",
        "batch": { "max_spans": 1000, "timeout": batch_timeout },
        "retry": { "initial_interval": "20ms", "max_interval": "100ms", "max_elapsed": "60s" },
    })
}

#[tokio::test]
async fn file_exporter_writes_json_lines_that_decode_back() {
    let _exporters_run = support::shared().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.jsonl");
    let exporters = start(vec![(
        "file",
        json!({ "protocol": "file", "path": path, "batch": { "max_spans": 3 } }),
    )]);
    let sent = [(1u8, 3usize), (2, 2), (3, 1)];
    for (trace, spans) in sent {
        exporters.send(item(trace, spans));
    }
    let report = exporters.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.sent_spans, report.failed_spans), (6, 0));

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "batches of at most 3 spans: [3] and [2, 1]");
    let mut spans = Vec::new();
    for line in lines {
        let r: ExportTraceServiceRequest = serde_json::from_str(line).expect("OTLP JSON");
        spans.extend(spans_of(&r));
    }
    let mut expected: Vec<_> = sent
        .iter()
        .flat_map(|&(t, n)| spans_of(&request(t, n)))
        .collect();
    // Batches are written concurrently (queue.concurrency), so lines may come in any order.
    let key =
        |s: &opentelemetry_proto::tonic::trace::v1::Span| (s.trace_id.clone(), s.span_id.clone());
    spans.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(spans, expected);
    assert!(
        text.contains("\"traceId\":\"01010101010101010101010101010101\""),
        "hex ids, camelCase"
    );
}

#[tokio::test]
async fn file_exporter_appends_across_restarts() {
    let _exporters_run = support::shared().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    for trace in [1u8, 2] {
        let exporters = start(vec![("file", json!({ "protocol": "file", "path": path }))]);
        exporters.send(item(trace, 1));
        exporters.shutdown(Duration::from_secs(5)).await;
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
}

/// A file that cannot be opened for a while (here its directory is replaced by a plain file;
/// in production: out of descriptors, a full disk) is retried with backoff, and every span is
/// written once the path works again.
#[tokio::test]
async fn file_exporter_retries_io_errors_until_the_path_works_again() {
    let _exporters_run = support::shared().await;
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("out");
    std::fs::create_dir(&sub).unwrap();
    let path = sub.join("kept.jsonl");
    let exporters = start(vec![(
        "file",
        json!({ "protocol": "file", "path": path, "batch": { "timeout": "10ms" },
                "retry": { "initial_interval": "20ms", "max_interval": "50ms", "max_elapsed": "30s" } }),
    )]);
    // Break the path: its parent becomes a file (ENOTDIR), even for root.
    std::fs::remove_dir_all(&sub).unwrap();
    std::fs::write(&sub, b"not a directory").unwrap();
    exporters.send(item(1, 2));
    exporters.send(item(2, 1));
    let failing = std::time::Instant::now();
    while exporters.stats()["file"].retries < 2 {
        assert!(
            failing.elapsed() < Duration::from_secs(5),
            "retries expected"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Fix it: the retries now succeed.
    std::fs::remove_file(&sub).unwrap();
    std::fs::create_dir(&sub).unwrap();
    let report = exporters.shutdown(Duration::from_secs(10)).await;
    assert_eq!(
        (report.sent_spans, report.failed_spans),
        (3, 0),
        "{report:?}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let spans: usize = text
        .lines()
        .map(|l| spans_of(&serde_json::from_str::<ExportTraceServiceRequest>(l).unwrap()).len())
        .sum();
    assert_eq!(spans, 3);
}

#[tokio::test]
async fn file_exporter_with_unwritable_path_fails_to_start() {
    let _exporters_run = support::shared().await;
    let cfg = exporter(json!({ "protocol": "file", "path": "/nonexistent-dir/x/out.jsonl" }));
    let configs = [("file".to_string(), cfg)].into_iter().collect();
    let err = tailsift::exporter::Exporters::start(&configs, false)
        .err()
        .expect("start fails");
    assert!(err.to_string().contains("exporter `file`"), "{err}");
}

#[tokio::test]
async fn a_dead_backend_does_not_stall_a_live_one() {
    let _exporters_run = support::shared().await;
    let sink = GrpcSink::default();
    let live = sink.serve().await;
    let dead = format!("http://{}", dead_addr().await);
    let mut dead_cfg = grpc(&dead, "10ms");
    dead_cfg["queue"] = json!({ "max_bytes": 64 });
    let exporters = start(vec![("dead", dead_cfg), ("live", grpc(&live, "10ms"))]);
    let mut total = 0;
    for trace in 1..=20u8 {
        exporters.send(item(trace, 2));
        total += 2;
    }
    assert!(
        sink.wait_for_spans(total, Duration::from_secs(3)).await,
        "the live backend got everything while the other is down"
    );
    assert!(
        exporters.is_congested(),
        "the dead exporter's queue is over its 64 bytes"
    );
    let dead_bytes: u64 = (1..=20u8).map(|t| item(t, 2).body.len() as u64).sum();
    // The live exporter releases its bytes once the backend's answer is processed, just after
    // the backend recorded the spans.
    support::wait_for(Duration::from_secs(2), || {
        exporters.queued_bytes() == dead_bytes
    })
    .await;
    assert_eq!(
        exporters.queued_bytes(),
        dead_bytes,
        "only the dead exporter still holds bytes"
    );

    let started = Instant::now();
    let report = exporters.shutdown(Duration::from_millis(300)).await;
    assert!(report.deadline_passed);
    assert!(started.elapsed() < Duration::from_secs(2));
    let (d, l) = (&report.exporters["dead"], &report.exporters["live"]);
    assert_eq!((l.sent_spans, l.failed_spans), (total as u64, 0));
    assert_eq!(
        (d.sent_spans, d.failed_spans, d.shutdown_failed_spans),
        (0, total as u64, total as u64)
    );
    assert!(d.retries > 0);
}

#[tokio::test]
async fn shutdown_flushes_a_partial_batch_before_the_deadline() {
    let _exporters_run = support::shared().await;
    let sink = GrpcSink::default();
    let exporters = start(vec![("slow-batching", grpc(&sink.serve().await, "1h"))]);
    exporters.send(item(7, 3));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        sink.received_spans(),
        0,
        "the batch is still open (1h timeout)"
    );
    let started = Instant::now();
    let report = exporters.shutdown(Duration::from_secs(10)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no waiting for the batch timeout"
    );
    assert!(!report.deadline_passed);
    assert_eq!((report.sent_spans, report.failed_spans), (3, 0));
    assert_eq!(sink.requests(), vec![request(7, 3)]);
}

#[tokio::test]
async fn shutdown_with_a_dead_backend_returns_after_the_deadline_counting_spans_failed() {
    let _exporters_run = support::shared().await;
    let dead = format!("http://{}", dead_addr().await);
    let exporters = start(vec![("dead", grpc(&dead, "10ms"))]);
    for trace in 1..=3u8 {
        exporters.send(item(trace, 4));
    }
    assert!(exporters.queued_bytes() > 0);
    let started = Instant::now();
    let report = exporters.shutdown(Duration::from_millis(400)).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "waited for the deadline: {took:?}"
    );
    assert!(
        took < Duration::from_millis(1500),
        "then returned promptly: {took:?}"
    );
    assert!(report.deadline_passed);
    assert_eq!(
        (
            report.sent_spans,
            report.failed_spans,
            report.shutdown_failed_spans
        ),
        (0, 12, 12)
    );
}
