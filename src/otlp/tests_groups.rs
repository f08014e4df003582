//! Tests of resource and scope validation: a malformed group is rejected alone (partial
//! success), the request's other groups go on, and salvage takes such groups out of a batch.

use super::tests::{nested_too_deeply, patch, trace_ids_of};
use super::*;
use crate::fixtures::{self, span};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{EntityRef, InstrumentationScope};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message;

/// Appends field `field` holding `value` (length-delimited) to `out`.
fn put_len(out: &mut Vec<u8>, field: u32, value: &[u8]) {
    wire::put_len_key(out, field, value.len());
    out.extend_from_slice(value);
}

/// A `ResourceSpans` with the given raw `Resource` bytes and one scope holding `spans`.
fn resource_spans_raw(resource: &[u8], spans: Vec<u128>) -> Vec<u8> {
    let ss = ScopeSpans {
        spans: spans.into_iter().map(|t| span(t, 1).build()).collect(),
        ..Default::default()
    };
    let mut rs = Vec::new();
    put_len(&mut rs, 1, resource);
    put_len(&mut rs, 2, &ss.encode_to_vec());
    rs
}

/// A request of the given raw `ResourceSpans`.
fn request_raw(groups: &[Vec<u8>]) -> Bytes {
    let mut req = Vec::new();
    for g in groups {
        put_len(&mut req, 1, g);
    }
    Bytes::from(req)
}

fn good_resource(service: &str) -> Vec<u8> {
    opentelemetry_proto::tonic::resource::v1::Resource {
        attributes: vec![fixtures::kv_str("service.name", service)],
        entity_refs: vec![EntityRef {
            r#type: "service".into(),
            id_keys: vec!["service.name".into()],
            ..Default::default()
        }],
        ..Default::default()
    }
    .encode_to_vec()
}

/// The two poisons the attack used: `entity_refs` holding a non-UTF-8 string, and a varint
/// where the `EntityRef` message belongs.
fn poisoned_resources() -> Vec<Vec<u8>> {
    let mut bad_utf8 = good_resource("MARKER");
    let at = bad_utf8
        .windows(12)
        .position(|w| w == b"service.name")
        .unwrap();
    // The second `service.name` is the entity ref's id key.
    let at = at
        + 1
        + bad_utf8[at + 1..]
            .windows(12)
            .position(|w| w == b"service.name")
            .unwrap();
    bad_utf8[at] = 0xff;
    let mut wrong_type = good_resource("poison");
    wrong_type.extend_from_slice(&[3 << 3, 0x05]);
    vec![bad_utf8, wrong_type]
}

#[test]
fn a_malformed_resource_rejects_its_group_only() {
    for poison in poisoned_resources() {
        assert!(
            opentelemetry_proto::tonic::resource::v1::Resource::decode(&poison[..]).is_err(),
            "prost refuses the poison"
        );
        let body = request_raw(&[
            resource_spans_raw(&good_resource("a"), vec![1, 2]),
            resource_spans_raw(&poison, vec![3, 4, 5]),
            resource_spans_raw(&good_resource("b"), vec![6]),
        ]);
        let got = ingest(&body, &Interest::default()).unwrap();
        assert_eq!(got.spans.len(), 3);
        assert_eq!(got.rejected, vec![Rejection::MalformedResource; 3]);
        let msg = got.rejection_message().unwrap();
        assert!(
            msg.contains("3 span(s) under a malformed resource"),
            "{msg}"
        );
        // What is forwarded decodes with prost.
        let out: Vec<OutSpan> = got
            .spans
            .iter()
            .map(|(_, s)| OutSpan {
                scope: s.scope.clone(),
                raw: s.raw_bytes(),
                suffix: Bytes::new(),
            })
            .collect();
        let back = ExportTraceServiceRequest::decode(encode_request(out.iter())).unwrap();
        assert_eq!(fixtures::spans_of(&back).len(), 3);
    }
}

#[test]
fn a_resource_or_schema_url_of_the_wrong_wire_type_rejects_the_group() {
    // `ResourceSpans.resource` as a varint, then `schema_url` as a fixed32.
    for bad in [vec![0x08, 0x01], vec![0x1d, 0, 0, 0, 0]] {
        let mut rs = resource_spans_raw(&good_resource("a"), vec![1]);
        rs.extend_from_slice(&bad);
        let body = request_raw(&[rs, resource_spans_raw(&good_resource("b"), vec![2])]);
        let got = ingest(&body, &Interest::default()).unwrap();
        assert_eq!(got.spans.len(), 1);
        assert_eq!(got.rejected, vec![Rejection::MalformedResource]);
    }
}

#[test]
fn a_malformed_scope_rejects_its_spans_only() {
    let mut req = fixtures::request("svc", [span(1, 1), span(2, 1)]);
    let rs = &mut req.resource_spans[0];
    rs.scope_spans.push(ScopeSpans {
        scope: Some(InstrumentationScope {
            name: "MARKER-SCOPE".into(),
            ..Default::default()
        }),
        spans: vec![span(3, 1).build()],
        ..Default::default()
    });
    rs.scope_spans.push(ScopeSpans {
        schema_url: "MARKER-URL".into(),
        spans: vec![span(4, 1).build(), span(5, 1).build()],
        ..Default::default()
    });
    let good = fixtures::encode(&req);
    let got = ingest(&good, &Interest::default()).unwrap();
    assert_eq!((got.spans.len(), got.rejected.len()), (5, 0));

    let body = patch(&good, b"MARKER-SCOPE", b"MARKER-SCOP\xc3");
    let got = ingest(&body, &Interest::default()).unwrap();
    assert_eq!(got.spans.len(), 4);
    assert_eq!(got.rejected, vec![Rejection::MalformedScope]);

    let body = patch(&good, b"MARKER-URL", b"\xfeARKER-URL");
    let got = ingest(&body, &Interest::default()).unwrap();
    assert_eq!(got.spans.len(), 3);
    assert_eq!(got.rejected, vec![Rejection::MalformedScope; 2]);
    assert!(got
        .rejection_message()
        .unwrap()
        .contains("2 span(s) under a malformed instrumentation scope"));
}

#[test]
fn resource_attributes_nested_too_deeply_reject_the_group() {
    let v = nested_too_deeply();
    let req = fixtures::request_with(
        "svc",
        vec![fixtures::kv("deep", v)],
        vec![span(1, 1).build()],
    );
    let got = ingest(&fixtures::encode(&req), &Interest::default()).unwrap();
    assert_eq!(got.rejected, vec![Rejection::MalformedResource]);
}

#[test]
fn broken_container_framing_refuses_the_request() {
    // `ResourceSpans.scope_spans` as a varint: no way to tell what the group held.
    let mut rs = resource_spans_raw(&good_resource("a"), vec![1]);
    rs.extend_from_slice(&[0x10, 0x01]);
    assert!(ingest(&request_raw(&[rs]), &Interest::default()).is_err());
    // `resource_spans` as a varint.
    assert!(ingest(&Bytes::from_static(&[0x08, 0x01]), &Interest::default()).is_err());
    // A span encoded as a number is that span's problem only.
    let mut ss = Vec::new();
    put_len(&mut ss, 2, &span(1, 1).build().encode_to_vec());
    ss.extend_from_slice(&[0x10, 0x07]);
    let mut rs = Vec::new();
    put_len(&mut rs, 2, &ss);
    let got = ingest(&request_raw(&[rs]), &Interest::default()).unwrap();
    assert_eq!(got.spans.len(), 1);
    assert_eq!(got.rejected, vec![Rejection::MalformedSpan]);
}

/// Replaces the first occurrence of `marker` in `body` with `with` (same length).
#[test]
fn salvage_takes_out_a_malformed_resource_group() {
    for poison in poisoned_resources() {
        // A batch as a storage replay or an older version might hold it.
        let body = request_raw(&[
            resource_spans_raw(&good_resource("a"), vec![1, 2]),
            resource_spans_raw(&poison, vec![3, 4, 5]),
        ]);
        assert!(ExportTraceServiceRequest::decode(body.clone()).is_err());
        let s = salvage::salvage(&body).expect("a group removed");
        assert_eq!((s.spans, s.removed), (2, 3));
        assert_eq!(trace_ids_of(s.body), [1, 2]);
    }
}

#[test]
fn a_resource_with_every_field_set_is_accepted() {
    // Valid resources with every field set pass, and equal prost's view.
    let r = opentelemetry_proto::tonic::resource::v1::Resource {
        attributes: vec![fixtures::kv_str("service.name", "x")],
        dropped_attributes_count: 3,
        entity_refs: vec![EntityRef {
            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            r#type: "k8s.pod".into(),
            id_keys: vec!["k8s.pod.uid".into()],
            description_keys: vec!["k8s.pod.name".into(), "k8s.pod.label".into()],
        }],
    };
    let enc = r.encode_to_vec();
    assert!(validate::resource(&enc, (0, enc.len())).is_ok());
    let body = fixtures::encode(&ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(r),
            scope_spans: vec![ScopeSpans {
                spans: vec![span(1, 1).build()],
                ..Default::default()
            }],
            ..Default::default()
        }],
    });
    let got = ingest(&body, &Interest::default()).unwrap();
    assert_eq!((got.spans.len(), got.rejected.len()), (1, 0));
}

proptest::proptest! {
    /// Whatever bytes a client puts in a resource or scope, what the checks pass prost decodes:
    /// the checks are never looser than the official parser.
    #[test]
    fn what_the_checks_pass_prost_decodes(
        flips in proptest::collection::vec((0usize..512, 0u8..=255), 1..4),
        cut in 0usize..512,
        extra in proptest::collection::vec(0u8..=255, 0..6),
    ) {
        use opentelemetry_proto::tonic::common::v1::{any_value::Value, ArrayValue, AnyValue};
        let nested = Value::ArrayValue(ArrayValue {
            values: vec![AnyValue { value: Some(Value::IntValue(-7)) }, AnyValue { value: Some(Value::BytesValue(vec![1, 2])) }],
        });
        let resource = opentelemetry_proto::tonic::resource::v1::Resource {
            attributes: vec![fixtures::kv_str("service.name", "svc"), fixtures::kv("n", nested)],
            dropped_attributes_count: 2,
            entity_refs: vec![EntityRef {
                schema_url: "https://x".into(),
                r#type: "service".into(),
                id_keys: vec!["service.name".into()],
                description_keys: vec!["host".into()],
            }],
        };
        let scope = InstrumentationScope {
            name: "lib".into(),
            version: "1".into(),
            attributes: vec![fixtures::kv_int("k", 3)],
            dropped_attributes_count: 1,
        };
        for (enc, is_resource) in [(resource.encode_to_vec(), true), (scope.encode_to_vec(), false)] {
            let mut v = enc.clone();
            for &(at, b) in &flips {
                let i = at % v.len();
                v[i] = b;
            }
            if cut % 2 == 0 {
                v.truncate(cut % (v.len() + 1));
            }
            v.extend_from_slice(&extra);
            let range = (0, v.len());
            if is_resource {
                if validate::resource(&v, range).is_ok() {
                    proptest::prop_assert!(opentelemetry_proto::tonic::resource::v1::Resource::decode(&v[..]).is_ok());
                }
                proptest::prop_assert!(validate::resource(&enc, (0, enc.len())).is_ok());
            } else {
                if validate::scope(&v, range).is_ok() {
                    proptest::prop_assert!(InstrumentationScope::decode(&v[..]).is_ok());
                }
                proptest::prop_assert!(validate::scope(&enc, (0, enc.len())).is_ok());
            }
        }
    }
}
