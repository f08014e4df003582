//! A kept span that is not valid OTLP (here: an attribute value that is not UTF-8, which no
//! rule reads, so ingest does not look at it) is caught by the full check before batching:
//! it is counted and not forwarded, and the rest of its batch is delivered without a refusal.
//! (Its own test binary: it asserts on process-wide counters.)

use crate::support;

use std::time::Duration;
use support::*;
use tailsift::fixtures::{encode, request, span};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_kept_span_is_kept_out_of_its_batch() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let sink = GrpcSink::default();
    let yaml = format!(
        r#"
sampling:
  decision_wait: 200ms
  root_wait: 50ms
  tick: 10ms
  rules:
    - name: keep-all
      keep: true
{}"#,
        grpc_exporter("sink", &sink.serve().await)
    );
    let daemon = Daemon::start(&yaml).await;
    let req = request(
        "svc",
        [
            span(0xbad, 1).attr("note", "MARKER-ATTR"),
            span(0xbad, 2).parent(1),
            span(0x900d, 1).attr("note", "fine"),
        ],
    );
    let mut body = encode(&req).to_vec();
    let at = body
        .windows(11)
        .position(|w| w == b"MARKER-ATTR")
        .expect("marker");
    body[at] = 0xff;
    export_grpc_raw(daemon.grpc, body.into(), false)
        .await
        .expect("accepted: the span's own fields are valid");

    assert!(
        wait_for(Duration::from_secs(3), || sink.received_spans() >= 2).await,
        "the valid spans arrive"
    );
    let metrics = daemon.scrape().await;
    assert_eq!(metrics.sum("tailsift_malformed_kept_spans_total", &[]), 1.0);
    assert_eq!(
        metrics.sum(
            "tailsift_exporter_failed_spans_total",
            &[("exporter", "sink")]
        ),
        0.0,
        "no batch was refused"
    );
    daemon.stop().await;
    let spans = sink.spans();
    assert_eq!(spans.len(), 2, "the malformed span is not forwarded");
    let mut got: Vec<(Vec<u8>, Vec<u8>)> = spans
        .iter()
        .map(|s| (s.trace_id.clone(), s.span_id.clone()))
        .collect();
    got.sort();
    let id = |t: u128, s: u64| (t.to_be_bytes().to_vec(), s.to_be_bytes().to_vec());
    assert_eq!(got, vec![id(0xbad, 2), id(0x900d, 1)]);
}
