//! Tests of lazy decoding and raw re-emission against prost's full decoder.

use super::*;
use crate::fixtures::{self, span};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::sync::Arc;

fn out(spans: &[(TraceId, Span)]) -> Vec<OutSpan> {
    spans
        .iter()
        .map(|(_, s)| OutSpan {
            scope: s.scope.clone(),
            raw: s.raw_bytes(),
            suffix: Bytes::new(),
        })
        .collect()
}

#[test]
fn summary_fields_are_decoded() {
    let req = fixtures::request(
        "checkout",
        [
            span(7, 1).name("GET /").at(0, 300),
            span(7, 2)
                .name("db")
                .parent(1)
                .error()
                .attr("user.tier", "premium")
                .attr_int("n", 3),
        ],
    );
    let mut interest = Interest::default();
    let tier = interest.span_key("user.tier");
    let n = interest.span_key("n");
    let got = ingest(&fixtures::encode(&req), &interest).unwrap();
    assert!(got.rejected.is_empty());
    assert_eq!(got.spans.len(), 2);
    let (tid, root) = &got.spans[0];
    assert_eq!(*tid, fixtures::trace_id(7));
    assert!(root.is_root());
    assert_eq!(root.name(), "GET /");
    assert_eq!(root.duration_nanos(), 300_000_000);
    assert_eq!(root.service(), Some("checkout"));
    let child = &got.spans[1].1;
    assert!(!child.is_root());
    assert_eq!(child.status, model::status::ERROR);
    assert_eq!(
        child.attr(tier).and_then(AttrValue::as_str),
        Some("premium")
    );
    assert_eq!(child.attr(n), Some(&AttrValue::Int(3)));
    assert_eq!(root.attr(tier), None);
}

#[test]
fn span_bytes_are_slices_of_the_body() {
    let body = fixtures::encode(&fixtures::request("s", [span(1, 1)]));
    let got = ingest(&body, &Interest::default()).unwrap();
    let raw = got.spans[0].1.raw();
    let body_range = body.as_ptr() as usize..body.as_ptr() as usize + body.len();
    assert!(
        body_range.contains(&(raw.as_ptr() as usize)),
        "span bytes were copied"
    );
    let decoded = opentelemetry_proto::tonic::trace::v1::Span::decode(raw).unwrap();
    assert_eq!(decoded.span_id, fixtures::span_id(1).to_vec());
}

#[test]
fn invalid_ids_are_rejected_per_span() {
    let mut bad_trace = span(1, 1).build();
    bad_trace.trace_id = vec![1, 2, 3];
    let mut zero_trace = span(1, 2).build();
    zero_trace.trace_id = vec![0; 16];
    let mut bad_span = span(1, 3).build();
    bad_span.span_id = vec![];
    let good = span(1, 4).build();
    let req = fixtures::request_with("s", vec![], vec![bad_trace, zero_trace, bad_span, good]);
    let got = ingest(&fixtures::encode(&req), &Interest::default()).unwrap();
    assert_eq!(got.spans.len(), 1);
    assert_eq!(
        got.rejected,
        vec![
            Rejection::InvalidTraceId,
            Rejection::InvalidTraceId,
            Rejection::InvalidSpanId
        ]
    );
    let msg = got.rejection_message().unwrap();
    assert!(msg.contains("2 span(s) with an invalid trace id"), "{msg}");
    assert!(msg.contains("1 span(s) with an invalid span id"), "{msg}");
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    for body in [
        &b"\xff\xff\xff"[..],
        b"\x0a\x10abc",
        b"hello world",
        b"\x0b",
    ] {
        let err = ingest(&Bytes::copy_from_slice(body), &Interest::default()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("malformed ExportTraceServiceRequest"),
            "{err}"
        );
    }
}

#[test]
fn reencoding_roundtrips_through_prost() {
    let req = fixtures::request_with(
        "svc",
        vec![fixtures::kv_str("k8s.pod.name", "p-1")],
        fixtures::pipeline_trace(9, 8, true)
            .into_iter()
            .map(|b| b.build())
            .collect(),
    );
    let got = ingest(&fixtures::encode(&req), &Interest::default()).unwrap();
    let body = encode_request(&out(&got.spans));
    let back = ExportTraceServiceRequest::decode(body).unwrap();
    assert_eq!(back, req);
}

#[test]
fn equal_resources_from_two_requests_are_merged() {
    let a = ingest(
        &fixtures::encode(&fixtures::request("svc", [span(1, 1)])),
        &Interest::default(),
    )
    .unwrap();
    let b = ingest(
        &fixtures::encode(&fixtures::request("svc", [span(1, 2).parent(1)])),
        &Interest::default(),
    )
    .unwrap();
    assert!(!Arc::ptr_eq(&a.spans[0].1.scope, &b.spans[0].1.scope));
    let mut all = out(&a.spans);
    all.extend(out(&b.spans));
    let back = ExportTraceServiceRequest::decode(encode_request(&all)).unwrap();
    assert_eq!(back.resource_spans.len(), 1);
    assert_eq!(back.resource_spans[0].scope_spans.len(), 1);
    assert_eq!(back.resource_spans[0].scope_spans[0].spans.len(), 2);
}

#[test]
fn appended_attribute_is_merged_into_the_span() {
    let got = ingest(
        &fixtures::encode(&fixtures::request("svc", [span(1, 1).attr("a", "b")])),
        &Interest::default(),
    )
    .unwrap();
    let mut o = out(&got.spans);
    o[0].suffix = encode::string_attribute_field("sampling.rule", "errors");
    let back = ExportTraceServiceRequest::decode(encode_request(&o)).unwrap();
    let s = fixtures::spans_of(&back)[0];
    assert_eq!(fixtures::attr_str(s, "a"), Some("b"));
    assert_eq!(fixtures::attr_str(s, "sampling.rule"), Some("errors"));
}

#[test]
fn json_roundtrip_matches_protobuf() {
    let req = fixtures::request("svc", fixtures::pipeline_trace(3, 3, false));
    let line = json::protobuf_to_json(&fixtures::encode(&req)).unwrap();
    assert!(
        line.contains("\"traceId\":\"00000000000000000000000000000003\""),
        "{line}"
    );
    let pb = json::json_to_protobuf(line.as_bytes()).unwrap();
    assert_eq!(ExportTraceServiceRequest::decode(pb).unwrap(), req);
}

#[test]
fn spec_style_json_is_accepted() {
    // The shape of the OTLP/JSON example in the OpenTelemetry protocol documentation.
    let json = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}}]},
      "scopeSpans":[{"scope":{"name":"my.library","version":"1.0.0"},
      "spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173",
        "name":"I'm a server span","startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000",
        "kind":2,"attributes":[{"key":"my.span.attr","value":{"stringValue":"some value"}},{"key":"n","value":{"intValue":"7"}}],
        "status":{"code":2}}]}]}]}"#;
    let pb = json::json_to_protobuf(json.as_bytes()).unwrap();
    let mut interest = Interest::default();
    let n = interest.span_key("n");
    let got = ingest(&pb, &interest).unwrap();
    let s = &got.spans[0].1;
    assert_eq!(s.name(), "I'm a server span");
    assert_eq!(s.status, model::status::ERROR);
    assert_eq!(s.kind, model::kind::SERVER);
    assert_eq!(s.duration_nanos(), 1_000_000_000);
    assert_eq!(s.attr(n), Some(&AttrValue::Int(7)));
    assert!(!s.is_root());
}

#[test]
fn bad_json_is_an_error() {
    assert!(json::json_to_protobuf(b"{\"resourceSpans\": 5}").is_err());
    assert!(json::json_to_protobuf(b"not json").is_err());
}

proptest::proptest! {
    #[test]
    fn ingest_never_panics(data: Vec<u8>) {
        let _ = ingest(&Bytes::from(data), &Interest::default());
    }
}

/// Replaces the first occurrence of `marker` in `body` with `with` (same length).
pub(super) fn patch(body: &Bytes, marker: &[u8], with: &[u8]) -> Bytes {
    assert_eq!(marker.len(), with.len());
    let mut v = body.to_vec();
    let at = v
        .windows(marker.len())
        .position(|w| w == marker)
        .expect("marker present");
    v[at..at + marker.len()].copy_from_slice(with);
    Bytes::from(v)
}

#[test]
fn a_kept_span_with_invalid_utf8_anywhere_fails_validation() {
    let req = fixtures::request(
        "svc",
        [
            span(1, 1).attr("note", "MARKER-ATTR"),
            span(2, 1).attr("fine", "ok"),
        ],
    );
    let body = patch(&fixtures::encode(&req), b"MARKER-ATTR", b"\xffARKER-ATTR");
    // No rule reads `note`, so ingest does not look at it; the check before forwarding does.
    let got = ingest(&body, &Interest::default()).unwrap();
    assert_eq!(got.spans.len(), 2);
    assert!(validate::span(got.spans[0].1.raw()).is_err());
    assert!(validate::span(got.spans[1].1.raw()).is_ok());

    // A bad name is caught at ingest already: that span alone is rejected.
    let req = fixtures::request("svc", [span(1, 1).name("MARKER-NAME"), span(2, 1)]);
    let body = patch(&fixtures::encode(&req), b"MARKER-NAME", b"\xffARKER-NAME");
    let got = ingest(&body, &Interest::default()).unwrap();
    assert_eq!(got.rejected, vec![Rejection::MalformedSpan]);
    assert_eq!(got.spans.len(), 1);
    let msg = got.rejection_message().unwrap();
    assert!(msg.contains("1 malformed span(s)"), "{msg}");

    // The same inside an event's attributes.
    let mut s = span(3, 1).build();
    s.events
        .push(opentelemetry_proto::tonic::trace::v1::span::Event {
            name: "e".into(),
            attributes: vec![fixtures::kv_str("k", "MARKER-EVENT")],
            ..Default::default()
        });
    let body = patch(
        &fixtures::encode(&fixtures::request_with("svc", vec![], vec![s])),
        b"MARKER-EVENT",
        b"MARKER-EVEN\xc3",
    );
    let got = ingest(&body, &Interest::default()).unwrap();
    assert!(validate::span(got.spans[0].1.raw()).is_err());
}

#[test]
fn a_known_field_with_the_wrong_wire_type_rejects_the_span() {
    // Field 7 (start_time_unix_nano, fixed64) sent as a varint.
    let good = span(1, 1).build().encode_to_vec();
    let mut bad = good.clone();
    bad.extend_from_slice(&[7 << 3, 0x01]);
    let mut req = Vec::new();
    let mut ss = Vec::new();
    for s in [&good, &bad] {
        ss.push(0x12);
        crate::otlp::wire::put_varint(&mut ss, s.len() as u64);
        ss.extend_from_slice(s);
    }
    let mut rs = vec![0x12];
    crate::otlp::wire::put_varint(&mut rs, ss.len() as u64);
    rs.extend_from_slice(&ss);
    req.push(0x0a);
    crate::otlp::wire::put_varint(&mut req, rs.len() as u64);
    req.extend_from_slice(&rs);
    let got = ingest(&Bytes::from(req), &Interest::default()).unwrap();
    assert_eq!(got.spans.len(), 1);
    assert_eq!(got.rejected, vec![Rejection::MalformedSpan]);
}

/// An attribute value of arrays nested deeper than validation allows.
pub(super) fn nested_too_deeply() -> opentelemetry_proto::tonic::common::v1::any_value::Value {
    use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, ArrayValue};
    let mut v = Value::StringValue("leaf".into());
    for _ in 0..(validate::MAX_DEPTH + 2) {
        v = Value::ArrayValue(ArrayValue {
            values: vec![AnyValue { value: Some(v) }],
        });
    }
    v
}

#[test]
fn attribute_values_nested_too_deeply_are_rejected() {
    let v = nested_too_deeply();
    let deep = fixtures::request("svc", [span(1, 1).attr_value("deep", v)]);
    let got = ingest(&fixtures::encode(&deep), &Interest::default()).unwrap();
    assert!(validate::span(got.spans[0].1.raw()).is_err());
}

#[test]
fn invalid_utf8_in_the_resource_rejects_its_spans() {
    let req = fixtures::request_with(
        "svc",
        vec![fixtures::kv_str("host", "MARKER-RES")],
        vec![span(1, 1).build()],
    );
    let body = patch(&fixtures::encode(&req), b"MARKER-RES", b"\xffARKER-RES");
    let got = ingest(&body, &Interest::default()).unwrap();
    assert!(got.spans.is_empty());
    assert_eq!(got.rejected, vec![Rejection::MalformedResource]);
}

proptest::proptest! {
    /// Whatever a client sends, every span tailsift accepts decodes cleanly with prost, and so
    /// does a request re-emitted from them: one bad span cannot poison an export batch.
    #[test]
    fn accepted_spans_always_decode(seed in 0u64..1000, flips in proptest::collection::vec((0usize..4096, 0u8..=255), 1..6), cut in 0usize..4096) {
        let mut v = fixtures::encode(&fixtures::request("svc", fixtures::pipeline_trace(seed as u128 + 1, 4, seed % 2 == 0))).to_vec();
        for (at, b) in flips {
            let i = at % v.len();
            v[i] = b;
        }
        if cut % 3 == 0 {
            v.truncate(cut % (v.len() + 1));
        }
        if let Ok(got) = ingest(&Bytes::from(v), &Interest::default()) {
            // What the pipeline forwards: the spans that pass the check before forwarding.
            let forwarded: Vec<_> = got
                .spans
                .into_iter()
                .filter(|(_, s)| validate::span(s.raw()).is_ok())
                .collect();
            for (_, s) in &forwarded {
                proptest::prop_assert!(opentelemetry_proto::tonic::trace::v1::Span::decode(s.raw_bytes()).is_ok());
            }
            let body = encode_request(&out(&forwarded));
            proptest::prop_assert!(ExportTraceServiceRequest::decode(body).is_ok());
        }
        // Valid spans always pass.
        let valid = fixtures::encode(&fixtures::request("svc", fixtures::pipeline_trace(seed as u128 + 1, 4, true)));
        for (_, s) in ingest(&valid, &Interest::default()).unwrap().spans {
            proptest::prop_assert!(validate::span(s.raw()).is_ok());
        }
    }
}

#[test]
fn a_held_span_keeps_its_whole_request_accounted() {
    let retained = Arc::new(Retained::default());
    let body = fixtures::encode(&fixtures::request(
        "svc",
        (1..=50u128).flat_map(|t| fixtures::pipeline_trace(t, 4, false)),
    ));
    let got = ingest_retained(&body, &Interest::default(), Some(&retained)).unwrap();
    assert_eq!(retained.bytes(), body.len() as u64);
    // Keep one span, drop the other 199: the body is still in memory, and still counted.
    let one = got.spans.into_iter().next().unwrap();
    assert_eq!(retained.bytes(), body.len() as u64);
    drop(one);
    assert_eq!(retained.bytes(), 0);
    // A request whose spans are all rejected is released at once.
    let mut bad = span(9, 1).build();
    bad.trace_id = vec![1];
    let body = fixtures::encode(&fixtures::request_with("svc", vec![], vec![bad]));
    let got = ingest_retained(&body, &Interest::default(), Some(&retained)).unwrap();
    assert!(got.spans.is_empty());
    drop(got);
    assert_eq!(retained.bytes(), 0);
}

/// The trace ids (as the numbers `fixtures::trace_id` was given) of the spans in an encoded
/// request, in order.
pub(super) fn trace_ids_of(body: Bytes) -> Vec<u128> {
    let req = ExportTraceServiceRequest::decode(body).unwrap();
    fixtures::spans_of(&req)
        .iter()
        .map(|s| u128::from_be_bytes(s.trace_id.as_slice().try_into().unwrap()))
        .collect()
}

#[test]
fn salvage_takes_out_only_the_malformed_spans() {
    let req = fixtures::request(
        "svc",
        [
            span(1, 1).attr("note", "MARKER-ATTR"),
            span(2, 1),
            span(3, 1),
        ],
    );
    let body = patch(&fixtures::encode(&req), b"MARKER-ATTR", b"\xffARKER-ATTR");
    assert!(ExportTraceServiceRequest::decode(body.clone()).is_err());
    let s = salvage::salvage(&body).expect("one span removed");
    assert_eq!((s.spans, s.removed), (2, 1));
    assert_eq!(trace_ids_of(s.body), [2, 3]);
    // A valid batch has nothing to salvage.
    assert!(salvage::salvage(&fixtures::encode(&req)).is_none());
}
