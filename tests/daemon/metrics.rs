//! `/metrics` serves the counters operators chart, with the right values after known traffic;
//! `/healthz` and `/readyz` answer 200 while running.
//! (Its own test binary: the Prometheus recorder is process-wide, so exact values hold here.)

use crate::support;

use bytes::Bytes;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use support::*;
use tailsift::fixtures::{request, span};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_counts_requests_decisions_and_exports() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let sink = GrpcSink::default();
    let yaml = format!(
        r#"
{QUICK_SAMPLING}{KEEP_ERRORS}{}"#,
        grpc_exporter("primary", &sink.serve().await)
    );
    let daemon = Daemon::start(&yaml).await;
    let health = http_get(daemon.metrics, "/healthz").await;
    assert_eq!((health.status, health.text().trim()), (200, "ok"));
    assert_eq!(http_get(daemon.metrics, "/readyz").await.status, 200);

    // 3 kept traces of 2 spans (one per transport), 2 dropped traces of 1 span.
    for (i, t) in TRANSPORTS.into_iter().enumerate() {
        let trace = id128(0x3e, i as u128 + 1);
        let req = request(
            "svc",
            [
                span(trace, 1).name("root").kind(SpanKind::Server),
                span(trace, 2).parent(1).error(),
            ],
        );
        daemon.send_ok(t, &req).await;
    }
    daemon
        .send_ok(
            Transport::Grpc,
            &request("svc", [span(id128(0x3d, 1), 1).name("root")]),
        )
        .await;
    // A partial success: one dropped trace and one span with an all-zero trace id.
    let partial = request("svc", [span(id128(0x3d, 2), 1).name("root"), span(0, 1)]);
    let resp = daemon
        .send(Transport::HttpProtobuf, &partial)
        .await
        .unwrap();
    assert_eq!(resp.partial_success.unwrap().rejected_spans, 1);
    // An invalid request.
    export_grpc_raw(daemon.grpc, Bytes::from_static(b"\x0a\x05ab"), false)
        .await
        .expect_err("malformed");

    assert!(sink.wait_for_spans(6, PATIENCE).await);
    let settled = wait_for_async(PATIENCE, || async {
        let m = daemon.scrape().await;
        m.get(
            "tailsift_exporter_sent_spans_total",
            &[("exporter", "primary")],
        ) == Some(6.0)
            && m.get("tailsift_buffer_traces", &[]) == Some(0.0)
    })
    .await;
    let m = daemon.scrape().await;
    assert!(settled, "exports counted, buffer empty:\n{}", m.text);

    let requests = |p, o| {
        m.get(
            "tailsift_receiver_requests_total",
            &[("protocol", p), ("outcome", o)],
        )
    };
    assert_eq!(requests("grpc", "accepted"), Some(2.0));
    assert_eq!(requests("grpc", "invalid"), Some(1.0));
    assert_eq!(requests("http_protobuf", "accepted"), Some(1.0));
    assert_eq!(requests("http_protobuf", "partial"), Some(1.0));
    assert_eq!(requests("http_json", "accepted"), Some(1.0));
    let accepted = |p| m.get("tailsift_receiver_accepted_spans_total", &[("protocol", p)]);
    assert_eq!(accepted("grpc"), Some(3.0));
    assert_eq!(accepted("http_protobuf"), Some(3.0));
    assert_eq!(accepted("http_json"), Some(2.0));
    assert_eq!(
        m.get(
            "tailsift_receiver_refused_spans_total",
            &[
                ("protocol", "http_protobuf"),
                ("reason", "invalid_trace_id")
            ]
        ),
        Some(1.0)
    );

    let decided = |name, rule, verdict| m.get(name, &[("rule", rule), ("verdict", verdict)]);
    assert_eq!(
        decided("tailsift_decided_traces_total", "errors", "kept"),
        Some(3.0)
    );
    assert_eq!(
        decided("tailsift_decided_spans_total", "errors", "kept"),
        Some(6.0)
    );
    assert_eq!(
        decided("tailsift_decided_traces_total", "rest", "dropped"),
        Some(2.0)
    );
    assert_eq!(
        m.sum("tailsift_decided_traces_total", &[("verdict", "kept")]),
        3.0,
        "no other rule kept anything"
    );
    assert!(m.has("tailsift_buffer_spans") && m.has("tailsift_buffer_bytes"));
    assert_eq!(
        m.get(
            "tailsift_exporter_failed_spans_total",
            &[("exporter", "primary")]
        )
        .unwrap_or(0.0),
        0.0
    );
    assert_eq!(
        m.get("tailsift_exporter_queue_spans", &[("exporter", "primary")]),
        Some(0.0)
    );

    // Decision delays: all 5 traces have a root, so each waited root_wait (100ms), no more
    // than a fraction of decision_wait.
    let bucket = |le: f64| {
        m.samples
            .iter()
            .find(|s| {
                s.name == "tailsift_decision_delay_seconds_bucket"
                    && s.labels
                        .iter()
                        .any(|(k, v)| k == "le" && v.parse::<f64>().ok() == Some(le))
            })
            .map(|s| s.value)
    };
    assert_eq!(
        m.get("tailsift_decision_delay_seconds_count", &[]),
        Some(5.0)
    );
    assert_eq!(bucket(0.05), Some(0.0), "none before root_wait");
    assert_eq!(bucket(2.5), Some(5.0), "all well within decision_wait");
    assert_eq!(bucket(f64::INFINITY), Some(5.0));

    let r = http_get(daemon.metrics, "/metrics").await;
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(http_get(daemon.metrics, "/readyz").await.status, 200);
    daemon.stop().await;
}
