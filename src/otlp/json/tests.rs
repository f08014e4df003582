//! The transcoder against the old path (serde into opentelemetry-proto's owned types, then
//! prost), and against hostile bodies: bombs, deep nesting, bad ids, special doubles.

use super::*;
use crate::fixtures::{self, span};
use crate::otlp::{ingest, Interest, Rejection};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

/// The old conversion: what the transcoder must agree with on valid input.
fn via_serde(json: &[u8]) -> ExportTraceServiceRequest {
    serde_json::from_slice(json).expect("valid for the serde path")
}

fn via_transcoder(json: &[u8]) -> ExportTraceServiceRequest {
    let pb = json_to_protobuf(json).expect("valid for the transcoder");
    ExportTraceServiceRequest::decode(pb).expect("transcoder output decodes")
}

#[test]
fn the_simulate_fixture_transcodes_as_the_serde_path_did() {
    let data = include_str!("../../../tests/fixtures/simulate/traces.jsonl");
    let mut lines = 0;
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let old = via_serde(line.as_bytes());
        let pb = json_to_protobuf(line.as_bytes()).unwrap();
        // Same message, and the same bytes once fields are in prost's order.
        assert_eq!(ExportTraceServiceRequest::decode(pb.clone()).unwrap(), old);
        assert_eq!(pb.len(), old.encoded_len());
        lines += 1;
    }
    assert!(lines > 0);
}

#[test]
fn rendered_batches_transcode_as_the_serde_path_did() {
    let mut s = span(7, 3)
        .parent(2)
        .attr("a", "b")
        .attr_int("n", -5)
        .attr_value("d", Value::DoubleValue(1.5))
        .attr_value("yes", Value::BoolValue(false))
        .attr_value("raw", Value::BytesValue(vec![0, 1, 254, 255]))
        .error()
        .build();
    s.events.push(Default::default());
    s.links
        .push(opentelemetry_proto::tonic::trace::v1::span::Link {
            trace_id: fixtures::trace_id(9).to_vec(),
            span_id: fixtures::span_id(1).to_vec(),
            flags: 0x301,
            ..Default::default()
        });
    s.flags = 0x101;
    let req = fixtures::request_with("svc", vec![fixtures::kv_int("pid", 0)], vec![s]);
    let line = protobuf_to_json(&fixtures::encode(&req)).unwrap();
    assert_eq!(via_transcoder(line.as_bytes()), req);
    assert_eq!(via_serde(line.as_bytes()), req);
    assert_eq!(
        json_to_protobuf(line.as_bytes()).unwrap().len(),
        req.encoded_len()
    );
}

#[test]
fn proto3_json_spellings_are_accepted() {
    let json = r#"{"resource_spans":[{"resource":{"entity_refs":[{"type":"service","id_keys":["service.name"]}]},
      "scope_spans":[{"spans":[{"trace_id":"5B8EFFF798038103D269B633813FC60C","span_id":"eee19b7ec3c1b174",
        "kind":"SPAN_KIND_CLIENT","start_time_unix_nano":1544712660000000000,"end_time_unix_nano":"1544712661000000000",
        "status":{"code":"STATUS_CODE_ERROR","message":null},"flags":"257","unknownField":{"deep":[1,2,{}]},
        "attributes":[{"key":"nan","value":{"doubleValue":"NaN"}},{"key":"inf","value":{"double_value":"Infinity"}},
          {"key":"ninf","value":{"doubleValue":"-Infinity"}},{"key":"i","value":{"intValue":-3}},
          {"key":"u","value":{"bytesValue":"_-8"}},{"key":"p","value":{"bytesValue":"AAE="}}]}]}]}]}"#;
    let req = via_transcoder(json.as_bytes());
    let s = fixtures::spans_of(&req)[0];
    assert_eq!(
        s.trace_id,
        hex::decode("5b8efff798038103d269b633813fc60c").unwrap()
    );
    assert_eq!((s.kind, s.flags), (3, 257));
    assert_eq!(s.status.as_ref().unwrap().code, 2);
    assert_eq!(s.end_time_unix_nano - s.start_time_unix_nano, 1_000_000_000);
    let v = |i: usize| s.attributes[i].value.clone().unwrap().value.unwrap();
    assert!(matches!(v(0), Value::DoubleValue(d) if d.is_nan()));
    assert_eq!(v(1), Value::DoubleValue(f64::INFINITY));
    assert_eq!(v(2), Value::DoubleValue(f64::NEG_INFINITY));
    assert_eq!(v(3), Value::IntValue(-3));
    assert_eq!(v(4), Value::BytesValue(vec![0xff, 0xef]));
    assert_eq!(v(5), Value::BytesValue(vec![0, 1]));
    let entity = &req.resource_spans[0].resource.as_ref().unwrap().entity_refs[0];
    assert_eq!(entity.r#type, "service");
    assert_eq!(entity.id_keys, vec!["service.name".to_string()]);
}

#[test]
fn a_span_with_a_bad_id_is_rejected_alone() {
    let json = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"not hex at all","spanId":"eee19b7ec3c1b174","name":"a"},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b17","name":"b"},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"xyz","name":"c"},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b175","name":"good"}]}]}]}"#;
    let pb = json_to_protobuf(json.as_bytes()).unwrap();
    let got = ingest(&pb, &Interest::default()).unwrap();
    assert_eq!(got.spans.len(), 1);
    assert_eq!(got.spans[0].1.name(), "good");
    assert_eq!(
        got.rejected,
        vec![
            Rejection::InvalidTraceId,
            Rejection::InvalidSpanId,
            Rejection::InvalidSpanId
        ]
    );
}

#[test]
fn empty_object_bombs_stay_about_their_own_size() {
    for (head, tail) in [
        (r#"{"resourceSpans":["#, "{}]}"),
        (r#"{"resourceSpans":[{"scopeSpans":[{"spans":["#, "{}]}]}]}"),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"value":{"arrayValue":{"values":["#,
            "{}]}}}]}]}]}]}",
        ),
    ] {
        let mut json = head.as_bytes().to_vec();
        while json.len() < 4 << 20 {
            json.extend_from_slice(b"{},");
        }
        json.extend_from_slice(tail.as_bytes());
        let pb = json_to_protobuf(&json).unwrap();
        assert!(
            pb.len() <= json.len(),
            "{} bytes from {}",
            pb.len(),
            json.len()
        );
        assert!(ingest(&pb, &Interest::default()).is_ok());
    }
}

#[test]
fn deep_nesting_is_a_clear_error() {
    let deep = |open: &str, close: &str, n: usize| {
        let mut s =
            String::from(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"value":"#);
        s.push_str(&open.repeat(n));
        s.push_str(r#"{"stringValue":"x"}"#);
        s.push_str(&close.repeat(n));
        s.push_str("}]}]}]}]}");
        s
    };
    let arrays = (r#"{"arrayValue":{"values":["#, "]}}");
    let ok = deep(arrays.0, arrays.1, 30);
    assert!(json_to_protobuf(ok.as_bytes()).is_ok());
    for n in [40, 100_000] {
        let err = json_to_protobuf(deep(arrays.0, arrays.1, n).as_bytes()).unwrap_err();
        assert!(matches!(err, JsonError::TooDeep { .. }), "{err}");
        assert!(err.to_string().contains("nested deeper than 128"), "{err}");
    }
    // An unknown field is skipped without recursion (serde_json keeps one byte per level).
    let ignored = format!(r#"{{"x":{}1{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(json_to_protobuf(ignored.as_bytes()).unwrap().len(), 0);
}

#[test]
fn invalid_input_is_an_error_naming_the_field() {
    for (json, says) in [
        (r#"{"resourceSpans":5}"#, "array"),
        (r#"{"resourceSpans":[null]}"#, "null"),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_NOPE"}]}]}]}"#,
            "kind",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":-1}]}]}]}"#,
            "startTimeUnixNano",
        ),
        (
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"flags":4294967296}]}]}]}"#,
            "flags",
        ),
        (
            r#"{"resourceSpans":[{"resource":{"attributes":[{"value":{"bytesValue":"!!"}}]}}]}"#,
            "bytesValue",
        ),
        (r#"{"resourceSpans":[{"schemaUrl":7}]}"#, "schemaUrl"),
        (r#"{"resourceSpans":[]} trailing"#, "trailing"),
        ("not json", "expected"),
    ] {
        let err = json_to_protobuf(json.as_bytes()).unwrap_err().to_string();
        assert!(err.contains(says), "{json}: {err}");
    }
}

mod prop {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
    use opentelemetry_proto::tonic::trace::v1::{span, Span, Status};
    use proptest::prelude::*;

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            ".{0,8}".prop_map(Value::StringValue),
            any::<bool>().prop_map(Value::BoolValue),
            any::<i64>().prop_map(Value::IntValue),
            (-1e300f64..1e300).prop_map(Value::DoubleValue),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::BytesValue),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(|v| {
                    Value::ArrayValue(ArrayValue {
                        values: v.into_iter().map(|v| AnyValue { value: Some(v) }).collect(),
                    })
                }),
                proptest::collection::vec(("[a-z_.]{0,6}", inner), 0..3).prop_map(|kv| {
                    Value::KvlistValue(KeyValueList {
                        values: kv.into_iter().map(|(k, v)| fixtures::kv(&k, v)).collect(),
                    })
                }),
            ]
        })
    }

    fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
        proptest::collection::vec(("\\PC{0,6}", any_value()), 0..4)
            .prop_map(|kv| kv.into_iter().map(|(k, v)| fixtures::kv(&k, v)).collect())
    }

    fn a_span() -> impl Strategy<Value = Span> {
        (
            (
                any::<u128>(),
                any::<u64>(),
                any::<u64>(),
                0i32..6,
                any::<u32>(),
            ),
            (any::<u64>(), any::<u64>(), "\\PC{0,8}", attrs(), 0u32..3),
            (
                proptest::option::of((0i32..3, ".{0,5}")),
                attrs(),
                any::<u32>(),
            ),
        )
            .prop_map(
                |(
                    (t, id, parent, kind, flags),
                    (start, end, name, attributes, dropped),
                    (status, ev_attrs, link_flags),
                )| Span {
                    trace_id: t.to_be_bytes().to_vec(),
                    span_id: id.to_be_bytes().to_vec(),
                    parent_span_id: if parent % 2 == 0 {
                        vec![]
                    } else {
                        parent.to_be_bytes().to_vec()
                    },
                    name,
                    kind,
                    flags,
                    start_time_unix_nano: start,
                    end_time_unix_nano: end,
                    attributes,
                    dropped_attributes_count: dropped,
                    status: status.map(|(code, message)| Status { code, message }),
                    events: vec![span::Event {
                        time_unix_nano: start,
                        name: "ev".into(),
                        attributes: ev_attrs,
                        dropped_attributes_count: dropped,
                    }],
                    links: vec![span::Link {
                        trace_id: t.to_le_bytes().to_vec(),
                        span_id: id.to_le_bytes().to_vec(),
                        trace_state: "k=v".into(),
                        flags: link_flags,
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// For generated valid requests, the transcoder gives the message the serde path gave,
        /// with the same encoded size.
        #[test]
        fn transcoder_agrees_with_the_serde_path(spans in proptest::collection::vec(a_span(), 1..4), res in attrs()) {
            let req = fixtures::request_with("svc", res, spans);
            let line = protobuf_to_json(&fixtures::encode(&req)).unwrap();
            let old = via_serde(line.as_bytes());
            let pb = json_to_protobuf(line.as_bytes()).unwrap();
            prop_assert_eq!(pb.len(), old.encoded_len());
            prop_assert_eq!(ExportTraceServiceRequest::decode(pb).unwrap(), old);
        }

        #[test]
        fn transcoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = json_to_protobuf(&data);
        }
    }
}
