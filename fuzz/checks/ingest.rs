//! Protobuf ingest: any bytes as an `ExportTraceServiceRequest` body, read with an interest in
//! a few span and resource attributes. Beyond "no panic": every accepted span is a slice of the
//! body with a valid id and a UTF-8 name; the accepted spans re-encode into a request that
//! ingest reads back to the same spans; salvage of that re-encoded batch (what the exporter
//! does when a backend refuses it) leaves only spans that validate, and is idempotent; a span
//! that passes `validate::span`, and a batch after salvage, decode with prost (a backend
//! accepts them).

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tailsift::otlp::{encode_request, ingest, salvage::salvage, validate, Interest, OutSpan};

fn interest() -> Interest {
    let mut i = Interest::default();
    for k in [
        "http.route",
        "http.status_code",
        "user.tier",
        "error",
        "prompt",
    ] {
        i.span_key(k);
    }
    for k in ["deployment.environment", "service.name", "host.name"] {
        i.resource_key(k);
    }
    i
}

fn inside(body: &Bytes, part: &Bytes) -> bool {
    let (b, p) = (body.as_ptr() as usize, part.as_ptr() as usize);
    part.is_empty() || (p >= b && p + part.len() <= b + body.len())
}

/// The spans as the exporter would send them, re-encoded under their resource and scope.
fn reencode(spans: &[(tailsift::otlp::TraceId, tailsift::otlp::Span)]) -> Bytes {
    let out: Vec<OutSpan> = spans
        .iter()
        .map(|(_, s)| OutSpan {
            scope: s.scope.clone(),
            raw: s.raw_bytes(),
            suffix: Bytes::new(),
        })
        .collect();
    encode_request(out.iter())
}

fn sorted(spans: &[(tailsift::otlp::TraceId, tailsift::otlp::Span)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v: Vec<_> = spans
        .iter()
        .map(|(t, s)| (t.to_vec(), s.raw().to_vec()))
        .collect();
    v.sort();
    v
}

pub fn check(data: &[u8]) {
    // A span alone: validation never panics, and a span it passes is valid protobuf.
    if validate::span(data).is_ok() {
        if let Err(e) = opentelemetry_proto::tonic::trace::v1::Span::decode(data) {
            panic!("validate::span passed a span prost refuses: {e}");
        }
    }

    let body = Bytes::copy_from_slice(data);
    let interest = interest();
    let Ok(got) = ingest(&body, &interest) else {
        return;
    };
    assert_eq!(got.rejection_message().is_some(), !got.rejected.is_empty());
    for (id, s) in &got.spans {
        assert!(
            inside(&body, &s.raw_bytes()),
            "a span's bytes lie inside the body"
        );
        assert!(inside(&body, &s.scope.encoded) && inside(&body, &s.scope.resource.encoded));
        assert_ne!(*id, [0u8; 16], "an accepted span has a non-zero trace id");
        assert!(
            std::str::from_utf8(s.name_bytes()).is_ok(),
            "the name is UTF-8"
        );
        assert_eq!(s.name().len(), s.name_bytes().len());
        let _ = (
            s.trace_state(),
            s.service(),
            s.duration_nanos(),
            s.held_bytes(),
        );
        for i in 0..5 {
            let _ = s.attr(i);
        }
        for i in 0..3 {
            let _ = s.resource_attr(i);
        }
    }

    // What the exporter sends: ingest reads it back to the same spans, nothing rejected.
    let batch = reencode(&got.spans);
    let again = ingest(&batch, &interest).expect("a re-encoded batch is a valid request");
    assert!(again.rejected.is_empty(), "no re-encoded span is rejected");
    assert_eq!(
        sorted(&again.spans),
        sorted(&got.spans),
        "re-encoding keeps every span"
    );

    // What the exporter does when a backend refuses the batch.
    match salvage(&batch) {
        None => {
            for (_, s) in &again.spans {
                assert!(
                    validate::span(s.raw()).is_ok(),
                    "salvage left a span that fails validation"
                );
            }
            if let Err(e) = ExportTraceServiceRequest::decode(batch.clone()) {
                panic!("a batch salvage finds nothing wrong with is refused by prost: {e}");
            }
        }
        Some(s) => {
            assert!(s.removed > 0);
            assert_eq!(s.spans + s.removed, again.spans.len());
            let left = ingest(&s.body, &interest).expect("a salvaged batch is a valid request");
            assert_eq!(left.spans.len(), s.spans);
            assert!(left.rejected.is_empty());
            for (_, sp) in &left.spans {
                assert!(
                    validate::span(sp.raw()).is_ok(),
                    "a salvaged span validates"
                );
            }
            assert!(salvage(&s.body).is_none(), "salvage is idempotent");
            if let Err(e) = ExportTraceServiceRequest::decode(s.body.clone()) {
                panic!("a salvaged batch is refused by prost: {e}");
            }
        }
    }
}
