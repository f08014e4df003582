//! Late spans follow their trace's decision: a late span of a kept trace is forwarded at once
//! with the same rule and fidelity; one of a dropped trace is not forwarded; both are counted.
//! (Its own test binary: it asserts on the process-wide `tailsift_late_spans_total`.)

use crate::support;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use sha2::{Digest, Sha256};
use std::time::Duration;
use support::*;
use tailsift::fixtures::{attr_str, request, span};
use tokio::time::Instant;

const LATE: &str = "tailsift_late_spans_total";

fn hashed(s: &str) -> String {
    format!(
        "sha256:{}",
        &hex::encode(Sha256::digest(s.as_bytes()))[..16]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_spans_follow_the_decision_of_their_trace() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let sink = GrpcSink::default();
    let yaml = format!(
        r#"
sampling:
  decision_wait: 5s
  root_wait: 100ms
  tick: 10ms
  rules:
    - name: premium
      when: {{ root: {{ attributes: {{ user.tier: premium }} }} }}
      probability: 0.5
      fidelity: lite
    - name: late-test-rest
      drop: true
fidelity:
  lite: {{ hash_attributes: [prompt] }}
{}"#,
        grpc_exporter("sink", &sink.serve().await)
    );
    let daemon = Daemon::start(&yaml).await;
    let before = daemon.scrape().await;
    let late = |m: &Metrics, verdict| m.sum(LATE, &[("verdict", verdict)]);

    // Randomness 2^56 - 1: kept by probability 0.5. The other trace is dropped by the last rule.
    let (kept, dropped) = (id128(0xc1, (1 << 56) - 1), id128(0xc2, 5));
    for t in [kept, dropped] {
        let tier = if t == kept { "premium" } else { "free" };
        daemon
            .send_ok(
                Transport::Grpc,
                &request(
                    "svc",
                    [
                        span(t, 1)
                            .name("root")
                            .kind(SpanKind::Server)
                            .attr("user.tier", tier),
                        span(t, 2).parent(1).attr("prompt", "first prompt"),
                    ],
                ),
            )
            .await;
    }
    assert!(sink.wait_for_spans(2, PATIENCE).await, "the kept trace");
    assert!(
        wait_for_async(PATIENCE, || async {
            daemon.scrape().await.sum(
                "tailsift_decided_traces_total",
                &[("rule", "late-test-rest"), ("verdict", "dropped")],
            ) >= 1.0
        })
        .await,
        "the dropped trace is decided"
    );

    // One request with a late span of each: only the kept trace's is forwarded.
    let sent = Instant::now();
    daemon
        .send_ok(
            Transport::HttpProtobuf,
            &request(
                "svc",
                [
                    span(dropped, 3).parent(1).attr("prompt", "late dropped"),
                    span(kept, 3).parent(1).attr("prompt", "late prompt"),
                ],
            ),
        )
        .await;
    let after = daemon.scrape().await;
    assert_eq!(late(&after, "kept") - late(&before, "kept"), 1.0);
    assert_eq!(late(&after, "dropped") - late(&before, "dropped"), 1.0);

    assert!(
        sink.wait_for_spans(3, Duration::from_secs(1)).await,
        "a late span of a kept trace is forwarded at once, not after a wait"
    );
    assert!(sent.elapsed() < Duration::from_secs(2));
    daemon.stop().await;

    let spans = sink.spans();
    assert!(
        spans.iter().all(|s| trace_of(s) == kept),
        "nothing of the dropped trace is forwarded, late or not: {:?}",
        summary(&spans)
    );
    assert_eq!(spans.len(), 3);
    let late_span = spans.iter().find(|s| span_id_of(s) == 3).unwrap();
    assert_eq!(rule_of(late_span), Some("premium"), "the trace's rule");
    assert_eq!(
        attr_str(late_span, "prompt"),
        Some(hashed("late prompt").as_str()),
        "the trace's fidelity profile"
    );
    assert_eq!(attr_int(late_span, "prompt.length"), Some(11));
}
