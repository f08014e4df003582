//! Fan-out: with an OTLP/gRPC backend, an OTLP/HTTP backend and a file, every kept trace
//! reaches all three, whole and annotated, and no dropped trace reaches any.

use crate::support;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use support::*;
use tailsift::fixtures::{request, span};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kept_trace_reaches_every_exporter() {
    let grpc = GrpcSink::default();
    let http = HttpSink::default();
    let dir = tempfile::tempdir().unwrap();
    let file = FileSink(dir.path().join("kept.jsonl"));
    let yaml = format!(
        r#"
{QUICK_SAMPLING}{KEEP_ERRORS}exporters:
  tempo:
    protocol: otlp_grpc
    endpoint: "{}"
    batch: {{ timeout: 20ms }}
  jaeger:
    protocol: otlp_http
    endpoint: "{}"
    batch: {{ timeout: 20ms }}
  archive:
    protocol: file
    path: "{}"
    batch: {{ timeout: 20ms }}
"#,
        grpc.serve().await,
        http.serve().await,
        file.0.display()
    );
    let daemon = Daemon::start(&yaml).await;

    let mut expected = std::collections::BTreeMap::new();
    for i in 0..9u128 {
        let trace = id128(0xfa, i + 1);
        let keep = i % 3 != 2;
        let mut child = span(trace, 2).parent(1).name("generate");
        if keep {
            child = child.error();
        }
        let req = request(
            "svc",
            [span(trace, 1).name("root").kind(SpanKind::Server), child],
        );
        daemon.send_ok(TRANSPORTS[i as usize % 3], &req).await;
        if keep {
            expected.insert(trace, (vec![1, 2], vec!["errors".to_string()]));
        }
    }
    let n = 2 * expected.len();
    assert!(grpc.wait_for_spans(n, PATIENCE).await, "gRPC backend");
    assert!(http.wait_for_spans(n, PATIENCE).await, "HTTP backend");
    assert!(file.wait_for_spans(n, PATIENCE).await, "file");
    let report = daemon.stop().await.export;
    assert_eq!((report.sent_spans, report.failed_spans), (3 * n as u64, 0));

    assert_eq!(summary(&grpc.spans()), expected, "gRPC backend");
    assert_eq!(summary(&http.spans()), expected, "HTTP backend");
    assert_eq!(summary(&file.spans()), expected, "file");
    let received = http.received.lock().unwrap().clone();
    for (_, headers, _) in &received {
        assert_eq!(headers["content-type"], "application/x-protobuf");
        assert_eq!(headers["content-encoding"], "gzip", "gzip by default");
    }
    // The spans are forwarded unchanged apart from the annotation.
    let sent = span(id128(0xfa, 1), 2)
        .parent(1)
        .name("generate")
        .error()
        .build();
    let mut got = grpc
        .spans()
        .into_iter()
        .find(|s| trace_of(s) == id128(0xfa, 1) && span_id_of(s) == 2)
        .unwrap();
    got.attributes.retain(|kv| kv.key != "sampling.rule");
    assert_eq!(got, sent);
}

/// `batch.max_spans` and `batch.max_bytes` should bound every export request (backends refuse
/// requests over their message size limit: 4MiB for an OpenTelemetry Collector over gRPC).
/// Traces decided in the same tick are emitted to the exporters as one item of up to 4096
/// spans (`MAX_SPANS_PER_ITEM` in src/pipeline.rs), and the batcher never splits an item, so a
/// burst goes out as one request far over both limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_limits_bound_every_export_request() {
    let grpc = GrpcSink::default();
    let http = HttpSink::default();
    let yaml = format!(
        r#"
sampling:
  decision_wait: 300ms
  root_wait: 50ms
  tick: 10ms
exporters:
  tempo:
    protocol: otlp_grpc
    endpoint: "{}"
    batch: {{ timeout: 20ms, max_spans: 4 }}
  jaeger:
    protocol: otlp_http
    endpoint: "{}"
    batch: {{ timeout: 20ms, max_bytes: 4KiB }}
"#,
        grpc.serve().await,
        http.serve().await,
    );
    let daemon = Daemon::start(&yaml).await;
    // One request with 8 traces of 2 spans (~1.2KiB each): all are decided in the same tick.
    let spans = (1..=8u128).flat_map(|i| {
        let t = id128(0xba, i);
        [
            span(t, 1).name("root").attr("prompt", &"p".repeat(1000)),
            span(t, 2).parent(1),
        ]
    });
    daemon
        .send_ok(Transport::Grpc, &request("svc", spans))
        .await;
    assert!(grpc.wait_for_spans(16, PATIENCE).await);
    assert!(http.wait_for_spans(16, PATIENCE).await);
    daemon.stop().await;

    let sizes: Vec<usize> = grpc
        .requests()
        .iter()
        .map(|r| sink::spans_of(r).len())
        .collect();
    assert!(
        sizes.iter().all(|&n| n <= 4),
        "gRPC export requests of {sizes:?} spans; batch.max_spans is 4"
    );
    let received = http.received.lock().unwrap().clone();
    let bytes: Vec<usize> = received
        .iter()
        .map(|(_, _, body)| sink::gunzip(body).len())
        .collect();
    assert!(
        bytes.iter().all(|&b| b <= 4096),
        "HTTP export requests of {bytes:?} bytes; batch.max_bytes is 4KiB (one trace is ~1.2KiB)"
    );
}
