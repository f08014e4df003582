//! How spans of one trace come together: split across requests and transports they are decided
//! and exported as one trace; once the root span is in, the trace is decided `root_wait` after
//! its last span instead of waiting for `decision_wait`.

use crate::support;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use std::time::Duration;
use support::*;
use tailsift::fixtures::{request, span};
use tokio::time::Instant;

fn config(sink: &str, root_wait: &str) -> String {
    format!(
        r#"
sampling:
  decision_wait: 5s
  root_wait: {root_wait}
  tick: 10ms
  rules:
    - name: all
      keep: true
exporters:
  sink:
    protocol: otlp_grpc
    endpoint: "{sink}"
    batch: {{ timeout: 20ms }}
"#
    )
}

fn req(spans: Vec<tailsift::fixtures::SpanBuilder>) -> ExportTraceServiceRequest {
    request("svc", spans)
}

/// Waits for `n` spans of `trace` in the sink; returns when they were first all seen.
async fn arrival(sink: &GrpcSink, trace: u128, n: usize, within: Duration) -> Option<Instant> {
    let seen = wait_for(within, || {
        sink.spans().iter().filter(|s| trace_of(s) == trace).count() >= n
    })
    .await;
    seen.then(Instant::now)
}

/// The sink requests that hold spans of `trace`, as sorted span-id lists.
fn requests_with(sink: &GrpcSink, trace: u128) -> Vec<Vec<u64>> {
    sink.requests()
        .iter()
        .map(|r| {
            let mut ids: Vec<u64> = sink::spans_of(r)
                .iter()
                .filter(|s| trace_of(s) == trace)
                .map(span_id_of)
                .collect();
            ids.sort_unstable();
            ids
        })
        .filter(|ids| !ids.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_split_across_requests_and_transports_is_exported_together() {
    let sink = GrpcSink::default();
    let daemon = Daemon::start(&config(&sink.serve().await, "100ms")).await;
    let (a, b) = (id128(0xa1, 1), id128(0xa2, 2));

    // Trace a: children over gRPC first; no root yet, so decision_wait (5s) applies to them.
    daemon
        .send_ok(
            Transport::Grpc,
            &req(vec![
                span(a, 2).parent(1).name("retrieve"),
                span(a, 3).parent(1).name("rerank"),
            ]),
        )
        .await;
    // Trace b: its spans over three requests and all three transports, interleaved with a's.
    daemon
        .send_ok(
            Transport::HttpJson,
            &req(vec![span(b, 2).parent(1), span(b, 3).parent(2)]),
        )
        .await;
    // Longer than root_wait: a rootless trace must not be decided by it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        sink.spans().is_empty(),
        "nothing decided before the roots came"
    );
    daemon
        .send_ok(Transport::HttpProtobuf, &req(vec![span(b, 4).parent(1)]))
        .await;

    let last_a = Instant::now();
    daemon
        .send_ok(
            Transport::HttpProtobuf,
            &req(vec![
                span(a, 1).name("POST /v1/generate").kind(SpanKind::Server),
                span(a, 4).parent(1).name("generate"),
            ]),
        )
        .await;
    let got_a = arrival(&sink, a, 4, Duration::from_secs(2))
        .await
        .expect("trace a arrives within 2s of its root (decision_wait is 5s)");
    assert!(
        got_a - last_a >= Duration::from_millis(100),
        "not before root_wait"
    );

    let last_b = Instant::now();
    daemon
        .send_ok(Transport::Grpc, &req(vec![span(b, 1).name("root")]))
        .await;
    arrival(&sink, b, 4, Duration::from_secs(2))
        .await
        .expect("trace b arrives within 2s of its root");
    assert!(last_b.elapsed() >= Duration::from_millis(100));

    daemon.stop().await;
    assert_eq!(
        requests_with(&sink, a),
        vec![vec![1, 2, 3, 4]],
        "all spans of a in one export request, once"
    );
    assert_eq!(requests_with(&sink, b), vec![vec![1, 2, 3, 4]]);
    assert!(sink.spans().iter().all(|s| rule_of(s) == Some("all")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_wait_counts_from_the_last_span_of_a_rooted_trace() {
    let sink = GrpcSink::default();
    let root_wait = Duration::from_millis(600);
    let daemon = Daemon::start(&config(&sink.serve().await, "600ms")).await;
    let t = id128(0xb1, 7);
    let mut client = grpc_client(daemon.grpc).await;

    let first = Instant::now();
    client
        .export(req(vec![span(t, 1).name("root").kind(SpanKind::Server)]))
        .await
        .expect("root accepted");
    let mut last = first;
    // Each child comes well within root_wait of the previous span and pushes the decision on.
    for id in 2..=4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        last = Instant::now();
        client
            .export(req(vec![span(t, id).parent(1)]))
            .await
            .expect("child accepted");
    }
    let got = arrival(&sink, t, 4, Duration::from_secs(3))
        .await
        .expect("decided well before decision_wait (5s)");
    assert!(
        got - last >= root_wait,
        "decided {:?} after the last span, before root_wait",
        got - last
    );
    assert!(got - first < Duration::from_secs(3));
    daemon.stop().await;
    assert_eq!(
        requests_with(&sink, t),
        vec![vec![1, 2, 3, 4]],
        "the later children joined the trace instead of arriving late"
    );
}

/// `max_buffer_bytes` bounds the whole buffer: a trace far below it is not decided early just
/// because the buffer is split into shards (64 by default, each with 1/64 of the bytes). If it
/// is, its first spans are judged without the error span, dropped, and the error span that
/// comes next follows the cached "dropped" verdict: an erroring trace is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_well_under_max_buffer_bytes_waits_for_its_error_span() {
    let sink = GrpcSink::default();
    let yaml = format!(
        r#"
sampling:
  decision_wait: 5s
  root_wait: 100ms
  tick: 10ms
  max_buffer_bytes: 64KiB
{KEEP_ERRORS}{}"#,
        grpc_exporter("sink", &sink.serve().await)
    );
    let daemon = Daemon::start(&yaml).await;
    let t = id128(0xbb, 1);
    // About 4KiB of spans: a sixteenth of max_buffer_bytes.
    daemon
        .send_ok(
            Transport::Grpc,
            &req(vec![
                span(t, 2).parent(1).attr("prompt", &"p".repeat(2000)),
                span(t, 3).parent(1).attr("prompt", &"q".repeat(2000)),
            ]),
        )
        .await;
    daemon
        .send_ok(
            Transport::Grpc,
            &req(vec![
                span(t, 1).name("root").kind(SpanKind::Server),
                span(t, 4).parent(1).error(),
            ]),
        )
        .await;
    assert!(sink.wait_for_spans(4, Duration::from_secs(2)).await);
    daemon.stop().await;
    assert_eq!(requests_with(&sink, t), vec![vec![1, 2, 3, 4]]);
}
