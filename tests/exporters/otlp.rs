//! Exporter integration over real sockets: OTLP/gRPC and OTLP/HTTP sinks, batching, headers, gzip, retries.

use crate::exporter_support;
use crate::support;

use exporter_support::*;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use serde_json::json;
use std::time::{Duration, Instant};
use support::sink::gunzip;
use tonic::{Code, Status};

fn grpc(endpoint: &str) -> serde_json::Value {
    json!({
        "protocol": "otlp_grpc",
        "endpoint": endpoint,
        "batch": { "max_spans": 1000, "timeout": "50ms" },
        "retry": { "initial_interval": "10ms", "max_interval": "50ms", "max_elapsed": "10s" },
    })
}

#[tokio::test]
async fn grpc_batches_merge_items_and_carry_headers_gzipped() {
    let _exporters_run = support::shared().await;
    let sink = GrpcSink::default();
    let endpoint = sink.serve().await;
    let mut cfg = grpc(&endpoint);
    cfg["headers"] = json!({ "X-Tenant": "acme", "authorization": "Bearer t0k" });
    let exporters = start(vec![("backend", cfg)]);
    let items = [(1u8, 2usize), (2, 3), (3, 1)];
    for (trace, spans) in items {
        exporters.send(item(trace, spans));
    }
    let report = exporters.shutdown(Duration::from_secs(5)).await;
    assert_eq!((report.sent_spans, report.failed_spans), (6, 0));
    assert!(!report.deadline_passed);

    let received = sink.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1, "three items, one merged request");
    let (metadata, body) = &received[0];
    let mut expected = ExportTraceServiceRequest::default();
    for (trace, spans) in items {
        expected
            .resource_spans
            .extend(request(trace, spans).resource_spans);
    }
    assert_eq!(
        body, &expected,
        "the merge is the union of resource_spans, in order"
    );
    assert_eq!(metadata.get("x-tenant").unwrap(), "acme");
    assert_eq!(metadata.get("authorization").unwrap(), "Bearer t0k");
    assert_eq!(
        metadata.get("grpc-encoding").unwrap(),
        "gzip",
        "gzip by default"
    );
}

#[tokio::test]
async fn grpc_without_compression_sends_identity() {
    let _exporters_run = support::shared().await;
    let sink = GrpcSink::default();
    let mut cfg = grpc(&sink.serve().await);
    cfg["compression"] = json!("none");
    let exporters = start(vec![("plain", cfg)]);
    exporters.send(item(1, 1));
    let report = exporters.shutdown(Duration::from_secs(5)).await;
    assert_eq!(report.sent_spans, 1);
    let received = sink.received.lock().unwrap().clone();
    assert!(received[0].0.get("grpc-encoding").is_none());
}

#[tokio::test]
async fn grpc_unavailable_twice_then_ok_is_delivered_once_with_two_retries() {
    let _exporters_run = support::shared().await;
    let sink = GrpcSink::scripted(vec![
        Err(Status::unavailable("warming up")),
        Err(Status::unavailable("still warming up")),
    ]);
    let exporters = start(vec![("flaky", grpc(&sink.serve().await))]);
    exporters.send(item(9, 4));
    let report = exporters.shutdown(Duration::from_secs(5)).await;
    let stats = &report.exporters["flaky"];
    assert_eq!(
        (stats.sent_spans, stats.failed_spans, stats.retries),
        (4, 0, 2)
    );
    assert_eq!((stats.batches_sent, stats.batches_failed), (1, 0));
    let requests = sink.requests();
    assert_eq!(
        requests.len(),
        3,
        "two refused attempts and the accepted one"
    );
    assert!(
        requests.iter().all(|r| r == &request(9, 4)),
        "every attempt sends the same batch"
    );
}

#[tokio::test]
async fn grpc_invalid_argument_is_not_retried() {
    let _exporters_run = support::shared().await;
    let sink = GrpcSink::scripted(vec![Err(Status::new(Code::InvalidArgument, "bad span"))]);
    let exporters = start(vec![("strict", grpc(&sink.serve().await))]);
    exporters.send(item(5, 3));
    let report = exporters.shutdown(Duration::from_secs(5)).await;
    let stats = &report.exporters["strict"];
    assert_eq!(
        (stats.sent_spans, stats.failed_spans, stats.retries),
        (0, 3, 0)
    );
    assert_eq!(stats.batches_failed, 1);
    assert_eq!(
        stats.shutdown_failed_spans, 0,
        "failed as not retryable, not at shutdown"
    );
    assert_eq!(sink.requests().len(), 1);
}

#[tokio::test]
async fn grpc_partial_success_counts_rejected_spans() {
    let _exporters_run = support::shared().await;
    let partial = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 2,
            error_message: "spans too old".into(),
        }),
    };
    let sink = GrpcSink::scripted(vec![Ok(partial)]);
    let exporters = start(vec![("picky", grpc(&sink.serve().await))]);
    exporters.send(item(1, 5));
    let report = exporters.shutdown(Duration::from_secs(5)).await;
    let stats = &report.exporters["picky"];
    assert_eq!(
        (stats.sent_spans, stats.failed_spans, stats.retries),
        (3, 2, 0)
    );
    assert_eq!(sink.requests().len(), 1, "a partial success is not retried");
}

#[tokio::test]
async fn http_503_with_retry_after_then_200_is_delivered() {
    let _exporters_run = support::shared().await;
    let sink = HttpSink::default();
    sink.script.lock().unwrap().push_back((503, Some("1")));
    let endpoint = sink.serve().await;
    let exporters = start(vec![(
        "http",
        json!({
            "protocol": "otlp_http",
            "endpoint": endpoint,
            "headers": { "X-Tenant": "acme" },
            "batch": { "timeout": "20ms" },
            "retry": { "initial_interval": "10ms", "max_interval": "20ms", "max_elapsed": "10s" },
        }),
    )]);
    exporters.send(item(1, 2));
    exporters.send(item(2, 2));
    let report = exporters.shutdown(Duration::from_secs(10)).await;
    let stats = &report.exporters["http"];
    assert_eq!(
        (stats.sent_spans, stats.failed_spans, stats.retries),
        (4, 0, 1)
    );

    let received = sink.received.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    let waited = received[1].0 - received[0].0;
    assert!(
        waited >= Duration::from_millis(950),
        "Retry-After: 1 beats the 10ms backoff, waited {waited:?}"
    );
    let (_, headers, body) = &received[1];
    assert_eq!(headers["content-type"], "application/x-protobuf");
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["x-tenant"], "acme");
    let decoded = ExportTraceServiceRequest::decode(gunzip(body).as_slice()).unwrap();
    let mut expected = request(1, 2);
    expected.resource_spans.extend(request(2, 2).resource_spans);
    assert_eq!(decoded, expected);
}

#[tokio::test]
async fn http_400_is_not_retried_and_uncompressed_when_asked() {
    let _exporters_run = support::shared().await;
    let sink = HttpSink::default();
    sink.script.lock().unwrap().push_back((400, None));
    let endpoint = sink.serve().await;
    let exporters = start(vec![(
        "http",
        json!({ "protocol": "otlp_http", "endpoint": format!("{endpoint}/v1/traces"),
                "compression": "none", "batch": { "timeout": "10ms" } }),
    )]);
    exporters.send(item(3, 3));
    let started = Instant::now();
    let report = exporters.shutdown(Duration::from_secs(5)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let stats = &report.exporters["http"];
    assert_eq!(
        (stats.sent_spans, stats.failed_spans, stats.retries),
        (0, 3, 0)
    );
    let received = sink.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert!(received[0].1.get("content-encoding").is_none());
    assert_eq!(
        ExportTraceServiceRequest::decode(received[0].2.clone()).unwrap(),
        request(3, 3)
    );
}

#[tokio::test]
async fn an_item_is_acknowledged_once_after_every_exporter_resolved_it() {
    let _exporters_run = support::shared().await;
    use tailsift::exporter::{Ack, FailReason, Outcome};
    let good = GrpcSink::default();
    let good_url = good.serve().await;
    // Refuses the first request for good (INVALID_ARGUMENT is not retried), then accepts.
    let picky = GrpcSink::scripted(vec![Err(Status::invalid_argument("not for me"))]);
    let picky_url = picky.serve().await;
    let exporters = start(vec![("good", grpc(&good_url)), ("picky", grpc(&picky_url))]);

    let (ack, refused) = Ack::channel();
    let mut first = item(1, 2);
    first.ack = Some(ack);
    exporters.send(first);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), refused).await,
        Ok(Ok(Outcome::Failed(FailReason::NotRetryable))),
        "one exporter gave up on it: the item failed, with that exporter's reason"
    );

    let (ack, delivered) = Ack::channel();
    let mut second = item(2, 1);
    second.ack = Some(ack);
    exporters.send(second);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), delivered).await,
        Ok(Ok(Outcome::Delivered)),
        "both exporters delivered it"
    );
    exporters.shutdown(Duration::from_secs(5)).await;
    assert_eq!(good.received_spans(), 3);
}
