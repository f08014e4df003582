//! Pre-encoded request templates whose trace ids are patched in place per send, so the load
//! generator never re-encodes: a request carries the first 4 spans of its new traces and the
//! last 4 spans of the traces started by the previous request of the same sender. A trace's
//! spans come from 4 services, so every request holds 4 resource groups (one per service), as
//! a Collector or an agent batching several services sends them.

use bytes::{Bytes, BytesMut};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use std::collections::HashMap;
use std::sync::Arc;
use tailsift::fixtures::{self, SpanBuilder};

/// Spans per generated trace.
pub const SPANS_PER_TRACE: usize = 8;
/// Spans of a trace in its first request (the rest go in the next request).
pub const FIRST_HALF: usize = 4;
/// Share of traces with an error span (their last span has status ERROR).
pub const ERROR_PERCENT: usize = 1;
/// The services a trace's spans come from (span i from service i mod 4): one resource group
/// each per request.
pub const SERVICES: [&str; 4] = ["genai-gateway", "retriever", "llm-router", "safety-filter"];
/// Length of each span's `prompt` attribute.
pub const PROMPT_BYTES: usize = 64;

/// A fast, good-enough generator for trace ids (splitmix64, the fixtures' generator).
#[derive(Clone)]
pub struct Rng(tailsift::fixtures::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(tailsift::fixtures::SplitMix64(seed))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// A random, valid (non-zero) trace id.
    pub fn trace_id(&mut self) -> [u8; 16] {
        loop {
            let v = ((self.next_u64() as u128) << 64) | self.next_u64() as u128;
            if v != 0 {
                return v.to_be_bytes();
            }
        }
    }
}

/// One encoded request and where each trace's id sits in it.
pub struct Template {
    pub body: Bytes,
    /// Per new trace (first halves): byte offsets of its trace id.
    pub first: Vec<Vec<usize>>,
    /// Per finishing trace (second halves): byte offsets of its trace id.
    pub second: Vec<Vec<usize>>,
    pub spans: usize,
    pub error_traces: usize,
    /// Sum of the encoded sizes of the spans (the `Span` messages, without their field key).
    pub span_bytes: usize,
}

impl Template {
    /// A request with the first halves of `first` new traces and the second halves of
    /// `errors.len()` finishing traces (`errors[i]`: that trace ends with an error span).
    pub fn build(first: usize, errors: &[bool], placeholder_seed: u64) -> Template {
        let mut rng = Rng::new(placeholder_seed ^ 0x5eed_7e3a_11a7_e000);
        let first_ids: Vec<[u8; 16]> = (0..first).map(|_| rng.trace_id()).collect();
        let second_ids: Vec<[u8; 16]> = (0..errors.len()).map(|_| rng.trace_id()).collect();
        // Spans per service, in trace order within each.
        let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES.len()];
        for id in &first_ids {
            for (i, s) in trace_spans(id, false, &mut rng)
                .into_iter()
                .enumerate()
                .take(FIRST_HALF)
            {
                by_service[i % SERVICES.len()].push(s);
            }
        }
        for (id, &err) in second_ids.iter().zip(errors) {
            for (i, s) in trace_spans(id, err, &mut rng)
                .into_iter()
                .enumerate()
                .skip(FIRST_HALF)
            {
                by_service[i % SERVICES.len()].push(s);
            }
        }
        let span_bytes = by_service.iter().flatten().map(|s| s.encoded_len()).sum();
        let n = by_service.iter().map(Vec::len).sum();
        let req = fixtures::services_request(SERVICES.iter().copied().zip(by_service));
        let body = req.encode_to_vec();
        let mut where_: HashMap<[u8; 16], Vec<usize>> = HashMap::new();
        for id in first_ids.iter().chain(&second_ids) {
            where_.insert(*id, Vec::new());
        }
        for off in 0..body.len().saturating_sub(15) {
            let w: [u8; 16] = body[off..off + 16].try_into().expect("16 bytes");
            if let Some(v) = where_.get_mut(&w) {
                v.push(off);
            }
        }
        let offsets = |ids: &[[u8; 16]], per: usize| -> Vec<Vec<usize>> {
            ids.iter()
                .map(|id| {
                    let v = where_[id].clone();
                    assert_eq!(v.len(), per, "placeholder trace id found {} times", v.len());
                    v
                })
                .collect()
        };
        Template {
            first: offsets(&first_ids, FIRST_HALF),
            second: offsets(&second_ids, SPANS_PER_TRACE - FIRST_HALF),
            body: Bytes::from(body),
            spans: n,
            error_traces: errors.iter().filter(|e| **e).count(),
            span_bytes,
        }
    }

    /// The body with the given trace ids patched in (`first.len()` and `second.len()` must
    /// match the template).
    pub fn render(&self, first: &[[u8; 16]], second: &[[u8; 16]]) -> Bytes {
        debug_assert_eq!(first.len(), self.first.len());
        debug_assert_eq!(second.len(), self.second.len());
        let mut b = BytesMut::from(&self.body[..]);
        for (offs, id) in self.first.iter().zip(first) {
            for &o in offs {
                b[o..o + 16].copy_from_slice(id);
            }
        }
        for (offs, id) in self.second.iter().zip(second) {
            for &o in offs {
                b[o..o + 16].copy_from_slice(id);
            }
        }
        b.freeze()
    }
}

/// The 8 spans of one pipeline trace: 8 to 10 attributes each, one 64-byte `prompt` of
/// English-like text (not one repeated letter, so compression sees realistic payloads), start
/// times spread over a minute.
fn trace_spans(id: &[u8; 16], error: bool, rng: &mut Rng) -> Vec<Span> {
    let trace = u128::from_be_bytes(*id);
    let shift_ns = rng.next_u64() % 60_000_000_000;
    fixtures::pipeline_trace(trace, SPANS_PER_TRACE as u64, error)
        .into_iter()
        .enumerate()
        .map(|(i, b): (usize, SpanBuilder)| {
            let i = i + 1;
            let mut b = b;
            if i % 2 == 0 {
                b = b.attr_int("stage.index", i as i64);
            }
            if i % 3 == 0 {
                b = b.attr("gen_ai.system", "openai");
            }
            let mut span = b.build();
            span.start_time_unix_nano += shift_ns;
            span.end_time_unix_nano += shift_ns + rng.next_u64() % 5_000_000;
            for kv in &mut span.attributes {
                if kv.key == "prompt" {
                    kv.value = Some(AnyValue {
                        value: Some(any_value::Value::StringValue(
                            tailsift::fixtures::english_prompt(PROMPT_BYTES, || rng.next_u64()),
                        )),
                    });
                }
            }
            span
        })
        .collect()
}

/// The templates a sender cycles through: `variants` full requests whose finishing traces
/// carry exactly 1% errors overall, plus first-only and second-only requests for the start
/// and end of a stream; odd sizes (a last, partial group) are built on demand.
pub struct Templates {
    pub traces_per_request: usize,
    pub full: Vec<Arc<Template>>,
    pub first_only: Arc<Template>,
    pub second_only: Arc<Template>,
    extra: HashMap<(usize, usize), Arc<Template>>,
}

impl Templates {
    pub fn new(traces_per_request: usize, seed: u64) -> Templates {
        let t = traces_per_request;
        // Enough variants that t x variants is a multiple of 100, so 1% is exact.
        let variants = 100 / gcd(t, 100);
        let slots = t * variants;
        let mut errors = vec![false; slots];
        let mut rng = Rng::new(seed ^ 0xe7707);
        let want = slots * ERROR_PERCENT / 100;
        let mut placed = 0;
        while placed < want {
            let i = (rng.next_u64() % slots as u64) as usize;
            if !errors[i] {
                errors[i] = true;
                placed += 1;
            }
        }
        let full = errors
            .chunks(t)
            .enumerate()
            .map(|(j, e)| Arc::new(Template::build(t, e, j as u64)))
            .collect();
        Templates {
            traces_per_request: t,
            full,
            first_only: Arc::new(Template::build(t, &[], 1 << 40)),
            second_only: Arc::new(Template::build(0, &vec![false; t], 2 << 40)),
            extra: HashMap::new(),
        }
    }

    /// A template with `first` new traces and `second` finishing traces (no errors) for the
    /// rare requests of unusual shape.
    pub fn odd(&mut self, first: usize, second: usize) -> Arc<Template> {
        self.extra
            .entry((first, second))
            .or_insert_with(|| {
                Arc::new(Template::build(
                    first,
                    &vec![false; second],
                    3 << 40 | (first << 20 | second) as u64,
                ))
            })
            .clone()
    }

    /// Mean encoded size of a span (the `Span` message bytes tailsift holds).
    pub fn mean_span_bytes(&self) -> f64 {
        let (b, n) = self
            .full
            .iter()
            .fold((0, 0), |(b, n), t| (b + t.span_bytes, n + t.spans));
        b as f64 / n.max(1) as f64
    }
}

impl Clone for Templates {
    fn clone(&self) -> Self {
        Templates {
            traces_per_request: self.traces_per_request,
            full: self.full.clone(),
            first_only: self.first_only.clone(),
            second_only: self.second_only.clone(),
            extra: HashMap::new(),
        }
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    #[test]
    fn rendered_request_has_the_patched_ids_and_exact_error_share() {
        let t = Templates::new(8, 1);
        assert_eq!(t.full.len(), 25);
        let errors: usize = t.full.iter().map(|x| x.error_traces).sum();
        assert_eq!(errors, 2); // 1% of 200
        let tpl = &t.full[0];
        let mut rng = Rng::new(9);
        let a: Vec<_> = (0..8).map(|_| rng.trace_id()).collect();
        let b: Vec<_> = (0..8).map(|_| rng.trace_id()).collect();
        let req = ExportTraceServiceRequest::decode(tpl.render(&a, &b)).unwrap();
        let spans = fixtures::spans_of(&req);
        assert_eq!(spans.len(), 64);
        // One resource group per service, each with first and second halves.
        assert_eq!(req.resource_spans.len(), SERVICES.len());
        let first = spans
            .iter()
            .filter(|s| a.iter().any(|id| id[..] == s.trace_id[..]))
            .count();
        let second = spans
            .iter()
            .filter(|s| b.iter().any(|id| id[..] == s.trace_id[..]))
            .count();
        assert_eq!((first, second), (32, 32));
        for s in &spans {
            assert!((8..=10).contains(&s.attributes.len()));
            assert_eq!(
                fixtures::attr_str(s, "prompt").map(str::len),
                Some(PROMPT_BYTES)
            );
        }
        let mean = t.mean_span_bytes();
        assert!((250.0..=360.0).contains(&mean), "mean span size {mean}");
    }
}
