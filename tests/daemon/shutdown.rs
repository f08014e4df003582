//! Staged shutdown in process: buffered traces are decided and flushed, and clients that hold
//! connections open (idle, or stalled in the middle of a request) do not hold shutdown up.

use crate::support;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use std::time::Duration;
use support::*;
use tailsift::fixtures::{request, span};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

fn config(sink: &str) -> String {
    format!(
        r#"
sampling:
  decision_wait: 60s
  root_wait: 60s
exporters:
  sink:
    protocol: otlp_grpc
    endpoint: "{sink}"
shutdown_timeout: 2s
"#
    )
}

fn trace(t: u128) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    request(
        "svc",
        [
            span(t, 1).name("root").kind(SpanKind::Server),
            span(t, 2).parent(1),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_client_connections_do_not_hold_up_shutdown() {
    let sink = GrpcSink::default();
    let daemon = Daemon::start(&config(&sink.serve().await)).await;
    // Clients that keep their connections open after a request, as SDK exporters do.
    let mut grpc = grpc_client(daemon.grpc).await;
    grpc.export(trace(id128(0x51, 1))).await.expect("accepted");
    grpc.export(trace(id128(0x51, 2))).await.expect("accepted");
    let idle_http = tokio::net::TcpStream::connect(daemon.http).await.unwrap();

    let started = Instant::now();
    let summary = daemon.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert_eq!(
        summary.export.sent_spans, 4,
        "buffered traces decided and flushed"
    );
    assert_eq!(sink.spans().len(), 4);
    drop((grpc, idle_http));
}

/// Stage 1 of the shutdown awaits the receivers without a deadline, and axum's graceful
/// shutdown waits for the stalled request; its handler also holds the pipeline, so even with a
/// deadline there `sole_owner` would give up (RunError::Stuck) without flushing the exporters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stalled_mid_request_does_not_hold_up_shutdown() {
    let sink = GrpcSink::default();
    let mut daemon = Daemon::start(&config(&sink.serve().await)).await;
    daemon
        .send_ok(Transport::Grpc, &trace(id128(0x52, 1)))
        .await;
    // Headers and part of a body, then nothing: a slow or stuck client.
    let mut stalled = tokio::net::TcpStream::connect(daemon.http).await.unwrap();
    stalled
        .write_all(
            b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-protobuf\r\ncontent-length: 1000\r\n\r\n\x0a\x05",
        )
        .await
        .unwrap();
    stalled.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(10), daemon.try_stop()).await;
    let took = started.elapsed();
    let summary = outcome
        .unwrap_or_else(|_| panic!("shutdown still waiting for the stalled client after {took:?}"))
        .expect("clean shutdown");
    assert_eq!(
        summary.export.sent_spans, 2,
        "the buffered trace is still decided and flushed"
    );
    assert_eq!(sink.spans().len(), 2);
    drop(stalled);
}
