//! Bad input gets a clear answer and never takes the daemon down: malformed protobuf and JSON,
//! wrong content types, oversized and gzip-bomb bodies, invalid ids (a partial success whose
//! valid spans are still processed). After each, other clients are still served.

use crate::support;

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use support::*;
use tailsift::fixtures::{request, span};
use tonic::Code;

const LIMIT: usize = 64 * 1024;

async fn start() -> (Daemon, GrpcSink) {
    let sink = GrpcSink::default();
    let yaml = format!(
        r#"
receivers:
  otlp:
    grpc: {{ endpoint: "127.0.0.1:0", max_request_bytes: 64KiB }}
    http: {{ endpoint: "127.0.0.1:0", max_request_bytes: 64KiB }}
{QUICK_SAMPLING}{KEEP_ERRORS}{}"#,
        grpc_exporter("sink", &sink.serve().await)
    );
    (Daemon::start(&yaml).await, sink)
}

/// `google.rpc.Status` as OTLP/HTTP error bodies carry it.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// A valid trace with an error (kept by `errors`): root and one child.
fn error_trace(trace: u128) -> ExportTraceServiceRequest {
    request(
        "svc",
        [
            span(trace, 1).name("root").kind(SpanKind::Server),
            span(trace, 2).parent(1).error(),
        ],
    )
}

static NEXT: AtomicU8 = AtomicU8::new(1);

/// Fresh clients on both receivers still get their valid requests accepted; returns the trace
/// ids sent (each kept by `errors`).
async fn still_serving(daemon: &Daemon, after: &str) -> Vec<u128> {
    let mut sent = Vec::new();
    for t in [Transport::Grpc, Transport::HttpProtobuf] {
        let trace = (0xee_u128 << 120) | ((NEXT.fetch_add(1, Ordering::SeqCst) as u128) << 64) | 1;
        match daemon.send(t, &error_trace(trace)).await {
            Ok(r) => assert!(r.partial_success.is_none(), "after {after}: {r:?}"),
            Err(e) => panic!("after {after}, a normal {t:?} request failed: {e:?}"),
        }
        sent.push(trace);
    }
    sent
}

/// Every canary trace reaches the sink, and the daemon shuts down cleanly (no panic).
async fn finish(daemon: Daemon, sink: GrpcSink, canaries: Vec<u128>) {
    assert!(
        sink.wait_for_spans(2 * canaries.len(), PATIENCE).await,
        "canaries kept: {:?}",
        summary(&sink.spans())
    );
    daemon.stop().await;
    let got: Vec<u128> = summary(&sink.spans()).into_keys().collect();
    let mut want = canaries;
    want.sort_unstable();
    assert_eq!(got, want);
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Not a protobuf `ExportTraceServiceRequest`: field 1 claims 100 bytes, 15 follow.
const GARBAGE: &[u8] = b"\x0a\x64 not protobuf!";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_clear_errors_and_others_are_still_served() {
    let (daemon, sink) = start().await;
    let mut canaries = still_serving(&daemon, "start").await;

    // gRPC: garbage bytes as the message.
    for garbage in [GARBAGE, &[0xff; 12][..]] {
        let err = export_grpc_raw(daemon.grpc, Bytes::from_static(garbage), false)
            .await
            .expect_err("garbage is refused");
        assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
        assert!(
            err.message()
                .contains("malformed ExportTraceServiceRequest"),
            "{err:?}"
        );
        canaries.extend(still_serving(&daemon, "gRPC garbage").await);
    }

    // HTTP protobuf: 400 with a google.rpc.Status body naming the problem.
    let r = post_traces(
        daemon.http,
        &[("content-type", "application/x-protobuf")],
        GARBAGE,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    let status = RpcStatus::decode(r.body.clone()).expect("a google.rpc.Status body");
    assert_eq!(status.code, Code::InvalidArgument as i32);
    assert!(
        status
            .message
            .contains("malformed ExportTraceServiceRequest"),
        "{status:?}"
    );
    canaries.extend(still_serving(&daemon, "HTTP protobuf garbage").await);

    // HTTP JSON: a trace id that is not hex rejects that span alone (partial success), as in
    // protobuf.
    let bad_hex = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708","name":"x"}]}]}]}"#;
    let r = post_traces(
        daemon.http,
        &[("content-type", "application/json")],
        bad_hex,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON response");
    assert!(
        v["partialSuccess"]["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("invalid trace id")),
        "{v}"
    );
    // Not JSON, JSON of the wrong shape, JSON nested too deeply.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    for body in [
        r#"{"resourceSpans": ["#.to_string(),
        r#"{"resourceSpans": 5}"#.to_string(),
        deep,
    ] {
        let r = post_traces(
            daemon.http,
            &[("content-type", "application/json")],
            body.clone(),
        )
        .await;
        let body = &body[..body.len().min(40)];
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON Status body");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(message.contains("malformed OTLP/JSON"), "{body}: {v}");
        assert_eq!(v["code"], Code::InvalidArgument as i32);
        canaries.extend(still_serving(&daemon, "HTTP JSON garbage").await);
    }

    // Invalid gzip.
    let r = post_traces(
        daemon.http,
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ],
        &b"not gzip at all"[..],
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("invalid gzip body"), "{}", r.text());

    // Wrong or missing content type, unknown content encoding: 415.
    let body = error_trace(id128(0xdead, 1)).encode_to_vec();
    for headers in [
        &[("content-type", "text/plain")][..],
        &[][..],
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "br"),
        ][..],
    ] {
        let r = post_traces(daemon.http, headers, body.clone()).await;
        assert_eq!(r.status, 415, "{headers:?}: {}", r.text());
        let status = RpcStatus::decode(r.body.clone()).expect("a google.rpc.Status body");
        assert!(!status.message.is_empty());
        canaries.extend(still_serving(&daemon, "a wrong content type").await);
    }

    finish(daemon, sink, canaries).await;
}

/// A request of about `bytes` encoded bytes: one valid error trace with a big attribute.
fn sized_request(trace: u128, bytes: usize) -> ExportTraceServiceRequest {
    let mut r = error_trace(trace);
    let base = r.encoded_len();
    let s = &mut r.resource_spans[0].scope_spans[0].spans[0];
    s.attributes.push(tailsift::fixtures::kv_str(
        "payload",
        &"x".repeat(bytes - base - 16),
    ));
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_max_request_bytes_are_refused_and_not_retryable() {
    let (daemon, sink) = start().await;
    let mut canaries = Vec::new();

    // Just under the limit: accepted, gzip or not, over both receivers.
    let fits = sized_request(id128(0xf1, 1), LIMIT - 100);
    assert!(fits.encoded_len() <= LIMIT);
    daemon.send_ok(Transport::HttpProtobuf, &fits).await;
    let fits_gz = sized_request(id128(0xf2, 1), LIMIT - 100);
    let r = post_traces(
        daemon.http,
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ],
        gzip(&fits_gz.encode_to_vec()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let fits_grpc = sized_request(id128(0xf3, 1), LIMIT - 100);
    daemon.send_ok(Transport::Grpc, &fits_grpc).await;
    let fits_grpc_gz = sized_request(id128(0xf4, 1), LIMIT - 100);
    export_grpc_raw(daemon.grpc, fits_grpc_gz.encode_to_vec().into(), true)
        .await
        .expect("a gzip-compressed gRPC request under the limit");
    canaries.extend([
        id128(0xf1, 1),
        id128(0xf2, 1),
        id128(0xf3, 1),
        id128(0xf4, 1),
    ]);

    // Over the limit: HTTP 413.
    let big = sized_request(id128(0xb1, 1), LIMIT + 16 * 1024).encode_to_vec();
    let r = post_traces(
        daemon.http,
        &[("content-type", "application/x-protobuf")],
        big.clone(),
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("larger than the limit"), "{}", r.text());
    canaries.extend(still_serving(&daemon, "HTTP 413").await);

    // gRPC: refused with a code OTLP clients do not retry (OUT_OF_RANGE would be retried
    // forever, see the OTLP/gRPC failure table).
    let err = export_grpc_raw(daemon.grpc, big.clone().into(), false)
        .await
        .expect_err("too large");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("limit"), "{err:?}");
    canaries.extend(still_serving(&daemon, "gRPC too large").await);

    // Gzip bombs: 10 KiB that inflate to 10 MiB.
    let bomb_body = vec![0u8; 10 << 20];
    let bomb = gzip(&bomb_body);
    assert!(bomb.len() < LIMIT / 4);
    let r = post_traces(
        daemon.http,
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ],
        bomb,
    )
    .await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.text().contains("larger than the limit"), "{}", r.text());
    canaries.extend(still_serving(&daemon, "an HTTP gzip bomb").await);

    let err = export_grpc_raw(daemon.grpc, bomb_body.into(), true)
        .await
        .expect_err("a gRPC gzip bomb is refused");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.details().is_empty(), "no RetryInfo: not to be retried");
    assert!(err.message().contains("limit"), "{err:?}");
    canaries.extend(still_serving(&daemon, "a gRPC gzip bomb").await);

    finish(daemon, sink, canaries).await;
}

/// A request mixing a valid trace with spans whose ids are invalid.
fn with_invalid_ids(valid: u128) -> ExportTraceServiceRequest {
    let mut short_trace = span(1, 9).build();
    short_trace.trace_id = vec![7; 15];
    let zero_trace = span(0, 9).build();
    let zero_span = span(valid ^ 0xff, 0).build();
    let mut long_span = span(valid ^ 0xff, 3).build();
    long_span.span_id = vec![1; 9];
    let mut r = error_trace(valid);
    let spans = &mut r.resource_spans[0].scope_spans[0].spans;
    spans.insert(1, short_trace);
    spans.extend([zero_trace, zero_span, long_span]);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_ids_are_a_partial_success_and_the_valid_spans_go_on() {
    let (daemon, sink) = start().await;
    let mut valid = Vec::new();
    for (i, t) in TRANSPORTS.into_iter().enumerate() {
        let trace = id128(0x1d, i as u128 + 1);
        let resp = daemon
            .send(t, &with_invalid_ids(trace))
            .await
            .unwrap_or_else(|e| panic!("{t:?}: {e:?}"));
        let partial = resp.partial_success.expect("a partial success");
        assert_eq!(partial.rejected_spans, 4, "{t:?}: {partial:?}");
        assert!(
            partial
                .error_message
                .contains("2 span(s) with an invalid trace id")
                && partial
                    .error_message
                    .contains("2 span(s) with an invalid span id"),
            "{t:?}: {}",
            partial.error_message
        );
        valid.push(trace);
    }
    valid.extend(still_serving(&daemon, "invalid ids").await);
    finish(daemon, sink, valid).await;
}

/// OTLP/JSON as SDKs write it: upper-case hex ids, 64-bit integers as strings or numbers,
/// enums as numbers, and fields this version does not know (which receivers must ignore).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_otlp_json_is_understood() {
    let (daemon, sink) = start().await;
    let body = r#"{
      "resourceSpans": [{
        "resource": { "attributes": [{ "key": "service.name", "value": { "stringValue": "web" } }] },
        "scopeSpans": [{
          "scope": { "name": "manual" },
          "spans": [
            { "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
              "name": "root", "kind": 2,
              "startTimeUnixNano": "1767225600000000000", "endTimeUnixNano": 1767225600500000000,
              "attributes": [{ "key": "tokens", "value": { "intValue": "812" } }],
              "futureField": { "nested": true } },
            { "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175",
              "parentSpanId": "EEE19B7EC3C1B174", "name": "child", "kind": 1,
              "startTimeUnixNano": "1767225600100000000", "endTimeUnixNano": "1767225600200000000",
              "status": { "code": 2, "message": "boom" } }
          ]
        }]
      }],
      "anotherFutureField": 1
    }"#;
    let r = post_traces(daemon.http, &[("content-type", "application/json")], body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let trace = 0x5B8EFFF798038103D269B633813FC60C_u128;
    finish(daemon, sink.clone(), vec![trace]).await;
    let spans = sink.spans();
    let root = spans.iter().find(|s| s.name == "root").unwrap();
    assert_eq!(span_id_of(root), 0xEEE19B7EC3C1B174);
    assert_eq!(root.end_time_unix_nano, 1_767_225_600_500_000_000);
    assert_eq!(attr_int(root, "tokens"), Some(812));
    assert_eq!(rule_of(root), Some("errors"));
}
