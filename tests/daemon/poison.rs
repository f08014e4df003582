//! One client's malformed resource (`Resource.entity_refs` holding a string that is not UTF-8,
//! or a number where an `EntityRef` message belongs) costs other clients nothing: ingest
//! rejects the poisoned group through partial success, and every valid span sent alongside,
//! by that client and by a well-behaved one, reaches both a backend that refuses invalid
//! batches (a tonic server decoding with prost) and the `file` exporter. (Its own test binary:
//! it asserts on process-wide counters.)

use crate::support;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::EntityRef;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::ScopeSpans;
use prost::Message;
use std::collections::BTreeSet;
use std::time::Duration;
use support::*;
use tailsift::fixtures::{encode, kv_str, request, span};

/// Keep everything; export to `sink-{tag}` (gRPC) and `archive-{tag}` (file). The tag keeps
/// the two tests' exporter metrics apart.
fn config(tag: &str, sink: &str, file: &std::path::Path) -> String {
    format!(
        r#"
sampling:
  decision_wait: 300ms
  root_wait: 300ms
  tick: 10ms
  rules:
    - name: keep-all
      keep: true
exporters:
  sink-{tag}:
    protocol: otlp_grpc
    endpoint: "{sink}"
    batch: {{ timeout: 200ms }}
  archive-{tag}:
    protocol: file
    path: "{}"
    batch: {{ timeout: 200ms }}
"#,
        file.display()
    )
}

/// A `ResourceSpans` of `spans` (one span per trace id) under the given encoded `Resource`.
fn group(resource: &[u8], traces: &[u128]) -> Vec<u8> {
    let ss = ScopeSpans {
        spans: traces.iter().map(|&t| span(t, 1).build()).collect(),
        ..Default::default()
    };
    let mut rs = Vec::new();
    tailsift::otlp::wire::put_len_key(&mut rs, 1, resource.len());
    rs.extend_from_slice(resource);
    let ss = ss.encode_to_vec();
    tailsift::otlp::wire::put_len_key(&mut rs, 2, ss.len());
    rs.extend_from_slice(&ss);
    rs
}

fn resource(service: &str, id_key: &str) -> Vec<u8> {
    Resource {
        attributes: vec![kv_str("service.name", service)],
        entity_refs: vec![EntityRef {
            r#type: "service".into(),
            id_keys: vec![id_key.into()],
            ..Default::default()
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

/// The attack's two poisons, each with a valid group before and after it in the same request.
fn poisoned_requests() -> Vec<(bytes::Bytes, Vec<u128>)> {
    let mut bad_utf8 = resource("poison", "POISON-KEY");
    let at = bad_utf8
        .windows(10)
        .position(|w| w == b"POISON-KEY")
        .unwrap();
    bad_utf8[at] = 0xff;
    let mut wrong_type = resource("poison", "k");
    wrong_type.extend_from_slice(&[3 << 3, 0x2a]);
    let mut out = Vec::new();
    for (i, poison) in [bad_utf8, wrong_type].into_iter().enumerate() {
        let base = 0x100 * (i as u128 + 1);
        assert!(Resource::decode(&poison[..]).is_err(), "prost refuses it");
        let mut body = Vec::new();
        for rs in [
            group(&resource("mixed", "k"), &[base + 1]),
            group(&poison, &[base + 2, base + 3]),
            group(&resource("mixed", "k"), &[base + 4]),
        ] {
            tailsift::otlp::wire::put_len_key(&mut body, 1, rs.len());
            body.extend_from_slice(&rs);
        }
        out.push((body.into(), vec![base + 1, base + 4]));
    }
    out
}

fn traces_of(spans: &[opentelemetry_proto::tonic::trace::v1::Span]) -> BTreeSet<u128> {
    spans.iter().map(trace_of).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poisoned_resource_is_rejected_and_everyone_elses_spans_arrive() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let sink = GrpcSink::default();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kept.jsonl");
    let daemon = Daemon::start(&config("a", &sink.serve().await, &file)).await;

    let mut expected = BTreeSet::new();
    let mut tasks = Vec::new();
    // A well-behaved client sends while the hostile one does, so their spans share batches.
    let good: ExportTraceServiceRequest = request("good", (1..=20u128).map(|t| span(t, 1)));
    expected.extend(1..=20u128);
    let (grpc, http) = (daemon.grpc, daemon.http);
    tasks.push(tokio::spawn(async move {
        export_grpc(grpc, &good)
            .await
            .expect("the good client is served");
        0u64
    }));
    for (i, (body, valid)) in poisoned_requests().into_iter().enumerate() {
        expected.extend(valid);
        tasks.push(tokio::spawn(async move {
            // The same poison over gRPC and over OTLP/HTTP protobuf.
            let answer = if i == 0 {
                export_grpc_raw(grpc, body, false).await.expect("answered")
            } else {
                let r =
                    post_traces(http, &[("content-type", "application/x-protobuf")], body).await;
                assert_eq!(r.status, 200, "{}", r.text());
                prost::Message::decode(r.body.clone()).expect("protobuf answer")
            };
            let partial = answer.partial_success.expect("partial success");
            assert_eq!(partial.rejected_spans, 2);
            assert!(
                partial.error_message.contains("under a malformed resource"),
                "{}",
                partial.error_message
            );
            2u64
        }));
    }
    let mut rejected = 0;
    for t in tasks {
        rejected += t.await.unwrap();
    }
    let file_sink = FileSink(file.clone());
    assert!(
        wait_for(Duration::from_secs(5), || {
            traces_of(&sink.spans()) == expected && traces_of(&file_sink.spans()) == expected
        })
        .await,
        "every valid span reaches both exporters: sink {:?}, file {:?}",
        traces_of(&sink.spans()),
        traces_of(&file_sink.spans())
    );
    let metrics = daemon.scrape().await;
    assert_eq!(
        metrics.sum(
            "tailsift_receiver_refused_spans_total",
            &[("reason", "malformed_resource")]
        ),
        rejected as f64
    );
    for exporter in ["sink-a", "archive-a"] {
        assert_eq!(
            metrics.sum(
                "tailsift_exporter_failed_spans_total",
                &[("exporter", exporter)]
            ),
            0.0,
            "{exporter}"
        );
    }
    daemon.stop().await;
    assert_eq!(sink.spans().len(), expected.len(), "nothing twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_kept_span_costs_neither_exporter_anything() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let sink = GrpcSink::default();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kept.jsonl");
    let daemon = Daemon::start(&config("b", &sink.serve().await, &file)).await;
    // Accepted (ingest reads only the span's own fields), refused by prost for its attribute.
    let req = request(
        "svc",
        [
            span(0x51, 1).attr("note", "MARKER-ATTR"),
            span(0x52, 1),
            span(0x53, 1),
        ],
    );
    let mut body = encode(&req).to_vec();
    let at = body.windows(11).position(|w| w == b"MARKER-ATTR").unwrap();
    body[at] = 0xff;
    export_grpc_raw(daemon.grpc, body.into(), false)
        .await
        .expect("accepted");
    let good = request("good", [span(0x54, 1)]);
    daemon.send_ok(Transport::Grpc, &good).await;
    let expected: BTreeSet<u128> = [0x52, 0x53, 0x54].into();
    let file_sink = FileSink(file.clone());
    assert!(
        wait_for(Duration::from_secs(5), || {
            traces_of(&sink.spans()) == expected && traces_of(&file_sink.spans()) == expected
        })
        .await,
        "sink {:?}, file {:?}",
        traces_of(&sink.spans()),
        traces_of(&file_sink.spans())
    );
    let metrics = daemon.scrape().await;
    // Caught before batching (the other tests here send no malformed kept span).
    assert_eq!(metrics.sum("tailsift_malformed_kept_spans_total", &[]), 1.0);
    for exporter in ["sink-b", "archive-b"] {
        assert_eq!(
            metrics.sum(
                "tailsift_exporter_failed_spans_total",
                &[("exporter", exporter)]
            ),
            0.0,
            "{exporter}"
        );
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_json_special_doubles_pass_and_a_bad_id_rejects_only_its_span() {
    // Asserts on the process-wide metrics: no other daemon of this binary runs meanwhile.
    let _only = support::exclusive().await;
    let sink = GrpcSink::default();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kept.jsonl");
    let daemon = Daemon::start(&config("c", &sink.serve().await, &file)).await;
    let json = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json"}}]},
      "scopeSpans":[{"spans":[
        {"traceId":"000000000000000000000000000000c1","spanId":"0000000000000001","name":"a",
         "attributes":[{"key":"x","value":{"doubleValue":"NaN"}},{"key":"y","value":{"doubleValue":"-Infinity"}}]},
        {"traceId":"zz","spanId":"0000000000000001","name":"bad id"},
        {"traceId":"000000000000000000000000000000c2","spanId":"0000000000000001","name":"b"}]}]}]}"#;
    let r = post_traces(daemon.http, &[("content-type", "application/json")], json).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let answer: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let partial = &answer["partialSuccess"];
    assert_eq!(
        partial["rejectedSpans"]
            .as_i64()
            .or_else(|| partial["rejectedSpans"].as_str()?.parse().ok()),
        Some(1),
        "{answer}"
    );
    assert!(
        partial["errorMessage"]
            .as_str()
            .unwrap()
            .contains("invalid trace id"),
        "{answer}"
    );
    let expected: BTreeSet<u128> = [0xc1, 0xc2].into();
    assert!(
        wait_for(Duration::from_secs(5), || traces_of(&sink.spans())
            == expected)
        .await,
        "{:?}",
        traces_of(&sink.spans())
    );
    let spans = sink.spans();
    let a = spans.iter().find(|s| s.name == "a").unwrap();
    let v = |i: usize| a.attributes[i].value.clone().unwrap().value.unwrap();
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    assert!(matches!(v(0), Value::DoubleValue(d) if d.is_nan()));
    assert_eq!(v(1), Value::DoubleValue(f64::NEG_INFINITY));
    daemon.stop().await;
}
