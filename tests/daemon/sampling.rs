//! Sample-rate accounting and adaptive sampling through the real daemon: what kept spans carry
//! (tracestate threshold, adjusted count) and the adaptive metrics on `/metrics`.

use crate::support;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use support::*;
use tailsift::fixtures::{request, span};

fn sample_rate(s: &Span) -> Option<f64> {
    s.attributes
        .iter()
        .find(|kv| kv.key == "SampleRate")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::DoubleValue(d) => Some(*d),
            _ => None,
        })
}

/// Randomness (low 56 bits) all ones: kept by every probability.
fn kept_id(n: u128) -> u128 {
    id128(n, 0x00ff_ffff_ffff_ffff)
}

#[tokio::test]
async fn kept_spans_carry_the_threshold_and_the_adjusted_count() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let sink = GrpcSink::default();
    let endpoint = sink.serve().await;
    let daemon = Daemon::start(&format!(
        r#"
sampling:
  decision_wait: 200ms
  root_wait: 50ms
  adjusted_count_attribute: SampleRate
  rules:
    - name: errors
      when: {{ span: {{ status: error }} }}
      keep: true
    - name: quarter
      probability: 0.25
exporters:
  sink: {{ protocol: otlp_grpc, endpoint: "{endpoint}", batch: {{ timeout: 20ms }} }}
"#
    ))
    .await;
    let mut plain = span(kept_id(1), 1);
    plain.0.trace_state = "vendor=abc".into();
    let mut upstream = span(kept_id(2), 1);
    upstream.0.trace_state = "ot=th:e;rv:ffffffffffffff".into();
    let mut error = span(kept_id(3), 1).error();
    error.0.trace_state = "ot=th:8".into();
    let child = span(kept_id(1), 2).parent(1);
    daemon
        .send_ok(
            Transport::Grpc,
            &request("svc", [plain, upstream, error, child]),
        )
        .await;
    assert!(wait_for(PATIENCE, || sink.received_spans() == 4).await);
    let spans = by_trace(&sink.spans());
    // Each span's own tracestate gains the threshold (the child came without one).
    for s in &spans[&kept_id(1)] {
        let want = if s.parent_span_id.is_empty() {
            "ot=th:c,vendor=abc"
        } else {
            "ot=th:c"
        };
        assert_eq!(s.trace_state, want);
        assert_eq!(sample_rate(s), Some(4.0));
        assert_eq!(rule_of(s), Some("quarter"));
    }
    // An incoming higher threshold is never lowered; the adjusted count is the upstream one.
    let up = &spans[&kept_id(2)][0];
    assert_eq!(up.trace_state, "ot=th:e;rv:ffffffffffffff");
    assert_eq!(sample_rate(up), Some(8.0));
    // `keep: true` leaves the tracestate as it came (and counts the upstream sampling).
    let err = &spans[&kept_id(3)][0];
    assert_eq!(err.trace_state, "ot=th:8");
    assert_eq!(sample_rate(err), Some(2.0));
    daemon.stop().await;
}

#[tokio::test]
async fn adaptive_rule_publishes_its_probabilities_and_rates() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let sink = GrpcSink::default();
    let endpoint = sink.serve().await;
    let daemon = Daemon::start(&format!(
        r#"
sampling:
  decision_wait: 50ms
  root_wait: 10ms
  rules:
    - name: rest
      adaptive: {{ target_traces_per_sec: 5, key: [service, root.name], adjust_every: 1s, expose_keys: true }}
exporters:
  sink: {{ protocol: otlp_grpc, endpoint: "{endpoint}", batch: {{ timeout: 20ms }} }}
"#
    ))
    .await;
    let mut n = 0u128;
    let published = wait_for_async(PATIENCE, || {
        let batch: Vec<_> = (0..50)
            .map(|i| {
                n += 1;
                let route = if i % 10 == 0 { "GET /rare" } else { "GET /hot" };
                span(id128(7, n * 0x9e37_79b9_7f4a_7c15), 1).name(route)
            })
            .collect();
        let req = request("svc", batch);
        let daemon = &daemon;
        async move {
            daemon.send_ok(Transport::Grpc, &req).await;
            let text = http_get(daemon.metrics, "/metrics").await.text();
            text.contains("tailsift_adaptive_probability{rule=\"rest\",key=\"svc | GET /hot\"}")
        }
    })
    .await;
    assert!(published, "no adaptive probabilities on /metrics");
    let text = http_get(daemon.metrics, "/metrics").await.text();
    assert!(
        text.contains("# TYPE tailsift_adaptive_probability gauge"),
        "{text}"
    );
    assert!(
        text.contains("tailsift_adaptive_target_rate{rule=\"rest\"} 5"),
        "{text}"
    );
    assert!(
        text.contains("tailsift_adaptive_kept_rate{rule=\"rest\"}"),
        "{text}"
    );
    assert!(
        text.contains("tailsift_adaptive_keys{rule=\"rest\"} 2"),
        "{text}"
    );
    let m = daemon.scrape().await;
    let seen = m.sum("tailsift_decided_traces_total", &[("rule", "rest")]);
    let kept = m.sum(
        "tailsift_decided_traces_total",
        &[("rule", "rest"), ("verdict", "kept")],
    );
    assert!(seen > 0.0 && kept < seen, "seen {seen}, kept {kept}");
    daemon.stop().await;
}

/// Keys come from client-controlled values: by default `/metrics` shows only their hash.
#[tokio::test]
async fn adaptive_keys_are_hashed_in_metrics_unless_exposed() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    use sha2::Digest;
    let sink = GrpcSink::default();
    let endpoint = sink.serve().await;
    let daemon = Daemon::start(&format!(
        r#"
sampling:
  decision_wait: 50ms
  root_wait: 10ms
  rules:
    - name: private
      adaptive: {{ target_traces_per_sec: 5, key: [service, root.attributes.user.email], adjust_every: 1s }}
exporters:
  sink: {{ protocol: otlp_grpc, endpoint: "{endpoint}", batch: {{ timeout: 20ms }} }}
"#
    ))
    .await;
    let digest = sha2::Sha256::digest(b"svc | alice@example.com");
    let want = format!(
        "tailsift_adaptive_probability{{rule=\"private\",key=\"sha256:{}\"}}",
        hex::encode(&digest[..6])
    );
    let mut n = 0u128;
    let published = wait_for_async(PATIENCE, || {
        let batch: Vec<_> = (0..20)
            .map(|_| {
                n += 1;
                span(id128(9, n * 0x9e37_79b9_7f4a_7c15), 1).attr("user.email", "alice@example.com")
            })
            .collect();
        let req = request("svc", batch);
        let (daemon, want) = (&daemon, &want);
        async move {
            daemon.send_ok(Transport::Grpc, &req).await;
            let text = http_get(daemon.metrics, "/metrics").await.text();
            assert!(!text.contains("alice@example.com"), "{text}");
            text.contains(want.as_str())
        }
    })
    .await;
    assert!(published, "no hashed key on /metrics (want {want})");
    daemon.stop().await;
}
