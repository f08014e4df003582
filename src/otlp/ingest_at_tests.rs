//! Tests of [`ingest_at`]: the spans at given offsets of a body, as [`ingest_leased`] makes
//! them, without decoding the others.

use super::tests::patch;
use super::wire::{Reader, WireType};
use super::*;
use crate::fixtures::{self, span, SplitMix64};
use crate::storage::{Lease, Storage};
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::trace::v1::ScopeSpans;
use std::sync::Arc;

/// Three resource groups, the second with two scopes (the second scope with a schema url),
/// spans of several traces spread over them.
fn request() -> ExportTraceServiceRequest {
    let spans = |trace: u128, n: u64| -> Vec<_> {
        fixtures::pipeline_trace(trace, n, trace.is_multiple_of(2))
            .into_iter()
            .map(fixtures::SpanBuilder::build)
            .collect()
    };
    let mut req = fixtures::services_request([
        ("checkout", spans(1, 3)),
        ("search", spans(2, 4)),
        ("cart", spans(3, 2)),
    ]);
    req.resource_spans[1].scope_spans.push(ScopeSpans {
        scope: Some(InstrumentationScope {
            name: "second-scope".into(),
            version: "2.0".into(),
            ..Default::default()
        }),
        spans: spans(4, 3),
        schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
    });
    req
}

/// The offsets of every span message of `body` (valid or not), by its framing alone.
fn span_offsets(body: &[u8]) -> Vec<u32> {
    fn fields(buf: &[u8], range: (usize, usize), field: u32, mut f: impl FnMut((usize, usize))) {
        let mut r = Reader::within(buf, range);
        while let Some((n, wt)) = r.next_field().unwrap() {
            if n == field && wt == WireType::Len {
                f(r.len_range().unwrap());
            } else {
                r.skip(wt).unwrap();
            }
        }
    }
    let mut out = Vec::new();
    fields(body, (0, body.len()), 1, |rs| {
        fields(body, rs, 2, |ss| {
            fields(body, ss, 2, |s| out.push(s.0 as u32))
        });
    });
    out
}

fn lease(storage: &Storage, body: &Bytes) -> Arc<Lease> {
    storage
        .append_request(body, std::time::SystemTime::now())
        .unwrap()
        .lease
}

/// Asserts that `got` are the spans of `all` at `offsets`, made alike: trace id, bytes,
/// scope, resource, service, fields decoded, and shared scopes and resources as there.
fn assert_same(got: &[(TraceId, Span)], all: &[(TraceId, Span)], offsets: &[u32]) {
    let want: Vec<&(TraceId, Span)> = all
        .iter()
        .filter(|(_, s)| offsets.contains(&s.body_offset()))
        .collect();
    assert_eq!(got.len(), want.len(), "offsets {offsets:?}");
    for ((gid, g), (wid, w)) in got.iter().zip(&want) {
        assert_eq!(gid, wid);
        assert_eq!(g.body_offset(), w.body_offset());
        assert_eq!(g.raw(), w.raw());
        assert_eq!(g.scope.encoded, w.scope.encoded);
        assert_eq!(g.scope.schema_url, w.scope.schema_url);
        assert_eq!(g.scope.resource.encoded, w.scope.resource.encoded);
        assert_eq!(g.scope.resource.schema_url, w.scope.resource.schema_url);
        assert_eq!(g.service(), w.service());
        assert_eq!(g.name(), w.name());
        assert_eq!(g.is_root(), w.is_root());
        assert_eq!(g.status, w.status);
        assert_eq!(g.duration_nanos(), w.duration_nanos());
        assert_eq!(g.trace_state(), w.trace_state());
    }
    for (i, (_, a)) in got.iter().enumerate() {
        for (j, (_, b)) in got.iter().enumerate() {
            let (wa, wb) = (&want[i].1, &want[j].1);
            assert_eq!(
                Arc::ptr_eq(&a.scope, &b.scope),
                Arc::ptr_eq(&wa.scope, &wb.scope)
            );
            assert_eq!(
                Arc::ptr_eq(&a.scope.resource, &b.scope.resource),
                Arc::ptr_eq(&wa.scope.resource, &wb.scope.resource)
            );
        }
    }
}

#[test]
fn any_subset_of_offsets_gives_the_spans_ingest_gives_there() {
    let body = fixtures::encode(&request());
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open_for_tests(dir.path());
    let lease = lease(&storage, &body);
    let retained = Arc::new(Retained::default());
    let all = ingest_leased(
        &body,
        &Interest::default(),
        Some(&retained),
        Some(lease.clone()),
    )
    .unwrap();
    assert!(all.rejected.is_empty());
    assert_eq!(all.spans.len(), 12);
    let offsets: Vec<u32> = all.spans.iter().map(|(_, s)| s.body_offset()).collect();
    assert_eq!(offsets, span_offsets(&body));

    let mut subsets: Vec<Vec<u32>> = vec![offsets.clone()];
    subsets.extend(offsets.iter().map(|&o| vec![o]));
    subsets.push(offsets.iter().copied().step_by(2).collect());
    subsets.push(offsets.iter().copied().skip(1).step_by(3).collect());
    let mut rng = SplitMix64(7);
    for _ in 0..64 {
        let bits = rng.next_u64();
        subsets.push(
            offsets
                .iter()
                .enumerate()
                .filter(|(i, _)| bits >> i & 1 == 1)
                .map(|(_, &o)| o)
                .collect(),
        );
    }
    for subset in &subsets {
        let got = ingest_at(&body, subset, Some(&retained), Some(lease.clone())).unwrap();
        assert!(got.rejected.is_empty());
        assert_same(&got.spans, &all.spans, subset);
        for (_, s) in &got.spans {
            assert!(Arc::ptr_eq(s.lease().unwrap(), &lease));
            assert!(!Arc::ptr_eq(&s.scope, &all.spans[0].1.scope), "made anew");
        }
    }

    // The body is accounted for as ingest accounts for it, for as long as a span lives.
    drop(all);
    assert_eq!(retained.bytes(), 0);
    let got = ingest_at(&body, &offsets[3..5], Some(&retained), Some(lease)).unwrap();
    assert_eq!(retained.bytes(), body.len() as u64);
    let one = got.spans[1].1.clone();
    drop(got);
    assert_eq!(retained.bytes(), body.len() as u64);
    drop(one);
    assert_eq!(retained.bytes(), 0);
}

#[test]
fn offsets_where_no_span_starts_are_ignored_and_none_gives_no_spans() {
    let body = fixtures::encode(&request());
    let all = ingest(&body, &Interest::default()).unwrap();
    let offsets = span_offsets(&body);
    let retained = Arc::new(Retained::default());
    let none = ingest_at(&body, &[], Some(&retained), None).unwrap();
    assert!(none.spans.is_empty() && none.rejected.is_empty());
    assert_eq!(retained.bytes(), 0, "nothing holds the body");

    let (a, b) = (offsets[2], offsets[7]);
    let mut odd = vec![0, 1, a - 1, a, a + 1, b - 2, b, b + 3];
    odd.extend([body.len() as u32, body.len() as u32 + 100, u32::MAX]);
    let got = ingest_at(&body, &odd, None, None).unwrap();
    assert!(got.rejected.is_empty());
    assert_same(&got.spans, &all.spans, &[a, b]);

    let nowhere = ingest_at(&body, &[0, 1, 2, u32::MAX], None, None).unwrap();
    assert!(nowhere.spans.is_empty() && nowhere.rejected.is_empty());
}

#[test]
fn spans_that_are_not_wanted_are_not_decoded() {
    // A span with an all-zero trace id and one whose name is not UTF-8, among valid ones.
    let req = fixtures::request(
        "svc",
        [
            span(1, 1).name("ok-1"),
            span(0, 2).name("zero-trace"),
            span(3, 3).name("BADNAME"),
            span(4, 4).name("ok-4"),
        ],
    );
    let body = patch(&fixtures::encode(&req), b"BADNAME", b"BAD\xffAME");
    let offsets = span_offsets(&body);
    assert_eq!(offsets.len(), 4);

    // Ingest rejects both (the request as a whole is accepted).
    let all = ingest(&body, &Interest::default()).unwrap();
    assert_eq!(
        all.rejected,
        [Rejection::InvalidTraceId, Rejection::MalformedSpan]
    );
    let kept: Vec<u32> = all.spans.iter().map(|(_, s)| s.body_offset()).collect();
    assert_eq!(kept, [offsets[0], offsets[3]]);

    // Not wanted, they are skipped without a look: no rejection, the wanted spans as ingest's.
    let got = ingest_at(&body, &kept, None, None).unwrap();
    assert!(got.rejected.is_empty(), "{:?}", got.rejected);
    assert_same(&got.spans, &all.spans, &kept);

    // Wanted, they are decoded and rejected as ingest rejects them.
    let got = ingest_at(&body, &offsets[1..3], None, None).unwrap();
    assert!(got.spans.is_empty());
    assert_eq!(got.rejected, all.rejected);
}

#[test]
fn wanted_spans_of_a_malformed_scope_or_resource_are_rejected_as_ingest_rejects_them() {
    let req = fixtures::services_request([
        ("one", vec![span(1, 1).build()]),
        ("two", vec![span(2, 1).build()]),
    ]);
    // The first scope's name, then the second resource's service name, made invalid UTF-8.
    let body = fixtures::encode(&req);
    let body = patch(&body, b"tailsift-fixtures", b"tailsift-fixture\xff");
    let body = patch(&body, b"two", b"t\xffo");
    let offsets = span_offsets(&body);
    let all = ingest(&body, &Interest::default()).unwrap();
    assert!(all.spans.is_empty());
    assert_eq!(
        all.rejected,
        [Rejection::MalformedScope, Rejection::MalformedResource]
    );
    let got = ingest_at(&body, &offsets, None, None).unwrap();
    assert!(got.spans.is_empty());
    assert_eq!(got.rejected, all.rejected);
    // Not wanted, they are not looked at.
    let got = ingest_at(&body, &[], None, None).unwrap();
    assert!(got.rejected.is_empty());
}

#[test]
fn a_request_ingest_refuses_is_refused_whatever_the_offsets() {
    let body = fixtures::encode(&request());
    let offsets = span_offsets(&body);
    let refused = |b: &Bytes| {
        let whole = ingest(b, &Interest::default()).is_err();
        for wanted in [
            &offsets[..],
            &offsets[..1],
            &offsets[offsets.len() - 1..],
            &[],
        ] {
            assert_eq!(
                ingest_at(b, wanted, None, None).is_err(),
                whole,
                "{wanted:?}"
            );
        }
        whole
    };
    // Every prefix: broken framing (most) or a shorter valid request (cut between groups).
    let mut broken = 0;
    for len in 0..body.len() {
        broken += usize::from(refused(&body.slice(..len)));
    }
    assert!(broken > body.len() / 2, "{broken}");
    // A byte changed anywhere: in the framing of a group, of a scope, of a span, or inside
    // them (which may reject a span or a group but not the request).
    let mut rng = SplitMix64(11);
    let mut broken = 0;
    for _ in 0..2000 {
        let mut v = body.to_vec();
        let at = rng.next_u64() as usize % v.len();
        v[at] = rng.next_u64() as u8;
        broken += usize::from(refused(&Bytes::from(v)));
    }
    assert!(broken > 0);
}
