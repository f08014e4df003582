//! Sample-rate accounting on kept spans, written without decoding them: fields appended to a
//! span's encoding replace scalar fields (protobuf merge), so a new `trace_state` carrying the
//! threshold (`ot=th:...`, never lower than the incoming one) is one appended field 3, and the
//! optional adjusted-count attribute (`1/p`, e.g. `SampleRate`) one appended field 9.

use crate::config::Sampling;
use crate::decide::Verdict;
use crate::otlp::tracestate;
use crate::otlp::wire::{len_field_size, put_len_key, put_varint};
use crate::otlp::Span;
use bytes::{BufMut, Bytes, BytesMut};

/// The accounting settings.
#[derive(Debug, Clone, Default)]
pub struct Accounting {
    /// Span attribute that carries the adjusted count, if any.
    attribute: Option<Box<str>>,
}

impl Accounting {
    pub fn new(attribute: Option<&str>) -> Accounting {
        Accounting {
            attribute: attribute.map(Into::into),
        }
    }

    pub fn from_config(s: &Sampling) -> Accounting {
        Accounting::new(s.adjusted_count_attribute.as_deref())
    }

    /// The accounting fields for a span with incoming tracestate `ts` kept under threshold
    /// `threshold` (0: kept outright, the tracestate is left as it came).
    fn fields(&self, ts: Option<&str>, threshold: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut effective = threshold;
        if threshold > 0 {
            // A malformed tracestate is left as it came.
            if let Some((new_ts, written)) = tracestate::with_threshold(ts.unwrap_or(""), threshold)
            {
                put_len_key(&mut out, 3, new_ts.len());
                out.put_slice(new_ts.as_bytes());
                effective = written;
            }
        } else if let Some(ts) = ts {
            effective = tracestate::read(ts).th.unwrap_or(0);
        }
        if let Some(attr) = &self.attribute {
            if effective > 0 {
                put_double_attribute(&mut out, attr, tracestate::adjusted_count(effective));
            }
        }
        out
    }
}

/// Encodes a double-valued `KeyValue` as span field 9 (`attributes`).
fn put_double_attribute(out: &mut Vec<u8>, key: &str, value: f64) {
    let any_len = 1 + 8;
    let kv_len = len_field_size(key.len()) + len_field_size(any_len);
    put_len_key(out, 9, kv_len);
    put_len_key(out, 1, key.len());
    out.put_slice(key.as_bytes());
    put_len_key(out, 2, any_len);
    put_varint(out, (4 << 3) | 1);
    out.put_f64_le(value);
}

/// The last suffix built, reused while consecutive kept spans (the spans of one trace,
/// usually) share rule, threshold and incoming tracestate.
#[derive(Debug, Default)]
pub struct SuffixCache {
    last: Option<CachedSuffix>,
}

/// ((rule, generation of the rules), threshold, incoming tracestate) and the suffix built for
/// them: after a reload, rule 2 of the old rules and rule 2 of the new ones annotate differently.
type CachedSuffix = ((Option<u16>, u16), u64, Option<Box<str>>, Bytes);

impl Accounting {
    /// The encoded fields to append to a kept span: `annotation` (empty when not annotating),
    /// then a new `trace_state` when the verdict has a threshold, then the adjusted-count
    /// attribute when configured and the span's effective threshold is above 0. Reads the
    /// span's incoming tracestate from its original encoding.
    pub fn suffix(
        &self,
        cache: &mut SuffixCache,
        annotation: &Bytes,
        v: Verdict,
        span: &Span,
    ) -> Bytes {
        let ts = span.trace_state();
        if v.threshold == 0 && (self.attribute.is_none() || ts.is_none()) {
            return annotation.clone();
        }
        if let Some((rule, th, last_ts, bytes)) = &cache.last {
            if *rule == (v.rule, v.generation) && *th == v.threshold && last_ts.as_deref() == ts {
                return bytes.clone();
            }
        }
        let fields = self.fields(ts, v.threshold);
        let out = if fields.is_empty() {
            annotation.clone()
        } else {
            let mut b = BytesMut::with_capacity(annotation.len() + fields.len());
            b.put_slice(annotation);
            b.put_slice(&fields);
            b.freeze()
        };
        cache.last = Some((
            (v.rule, v.generation),
            v.threshold,
            ts.map(Into::into),
            out.clone(),
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, span};
    use crate::otlp::{encode_request, ingest, Interest, OutSpan};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message;

    /// Ingests one span with the given tracestate, appends its suffix, and decodes the result.
    fn kept(acc: &Accounting, ts: &str, v: Verdict) -> opentelemetry_proto::tonic::trace::v1::Span {
        let mut b = span(1, 1);
        b.0.trace_state = ts.to_string();
        let req = fixtures::request("svc", [b]);
        let got = ingest(&fixtures::encode(&req), &Interest::default()).unwrap();
        let s = got.spans.into_iter().next().unwrap().1;
        let annotation = crate::otlp::encode::string_attribute_field("sampling.rule", "r");
        let suffix = acc.suffix(&mut SuffixCache::default(), &annotation, v, &s);
        let out = encode_request([&OutSpan {
            scope: s.scope.clone(),
            raw: s.raw_bytes(),
            suffix,
        }]);
        let decoded = ExportTraceServiceRequest::decode(out).unwrap();
        fixtures::spans_of(&decoded)[0].clone()
    }

    fn attr_f64(s: &opentelemetry_proto::tonic::trace::v1::Span, key: &str) -> Option<f64> {
        match crate::fixtures::attr(s, key)? {
            Value::DoubleValue(d) => Some(*d),
            _ => None,
        }
    }

    fn verdict(threshold: u64) -> Verdict {
        Verdict {
            threshold,
            ..Verdict::new(Some(0), true)
        }
    }

    #[test]
    fn writes_the_threshold_and_keeps_other_vendors() {
        let acc = Accounting::new(None);
        let s = kept(&acc, "vendor=abc", verdict(0xc0000000000000));
        assert_eq!(s.trace_state, "ot=th:c,vendor=abc");
        assert_eq!(fixtures::attr_str(&s, "sampling.rule"), Some("r"));
        let s = kept(&acc, "", verdict(1 << 55));
        assert_eq!(s.trace_state, "ot=th:8");
    }

    #[test]
    fn the_tracestate_written_and_the_adjusted_count() {
        // The incoming tracestate, the verdict's threshold, the tracestate written and the
        // `SampleRate` attribute (the adjusted count).
        let cases = [
            // Never lowers the threshold; counts the effective probability.
            (
                "ot=th:c;rv:0123456789abcd",
                1 << 55,
                "ot=th:c;rv:0123456789abcd",
                Some(4.0),
            ),
            ("ot=th:4", 0xc0000000000000, "ot=th:c", Some(4.0)),
            // Keeping outright leaves the tracestate as it came; upstream sampling is counted.
            ("ot=th:8,x=y", 0, "ot=th:8,x=y", Some(2.0)),
            ("", 0, "", None),
            // A malformed tracestate is left intact.
            (
                "this is not=a tracestate,,=",
                1 << 55,
                "this is not=a tracestate,,=",
                Some(2.0),
            ),
        ];
        let acc = Accounting::new(Some("SampleRate"));
        for (incoming, threshold, written, count) in cases {
            let s = kept(&acc, incoming, verdict(threshold));
            assert_eq!(s.trace_state, written, "{incoming}");
            assert_eq!(attr_f64(&s, "SampleRate"), count, "{incoming}");
        }
    }
}
