//! Tiers pass through cleanly: a span that already went through a tailsift (a sidecar in front
//! of a central tier, or a replay of a kept file) keeps the first tier's `sampling.rule` and
//! is not reduced twice. What tailsift adds (`sampling.rule`, `<key>.length`, `sha256:`
//! digests) never matches a profile's patterns again.

use crate::otlp::wire::{Reader, WireType};

/// The attribute tailsift annotates kept spans with.
pub const RULE_ATTRIBUTE: &str = "sampling.rule";

/// Span field 9: attributes; KeyValue field 1: key.
const SPAN_ATTRIBUTES: u32 = 9;
const KEY: u32 = 1;

/// Whether the encoded span has an attribute `key` (a walk over its fields, no decode).
/// A span that cannot be walked counts as not having it (validation reports it elsewhere).
pub fn has_attribute(raw: &[u8], key: &str) -> bool {
    let mut r = Reader::new(raw);
    while let Ok(Some((field, wt))) = r.next_field() {
        if field == SPAN_ATTRIBUTES && wt == WireType::Len {
            let Ok(kv) = r.slice() else { return false };
            let mut k = Reader::new(kv);
            while let Ok(Some((f, t))) = k.next_field() {
                if f == KEY && t == WireType::Len {
                    if k.slice().is_ok_and(|b| b == key.as_bytes()) {
                        return true;
                    }
                    break;
                }
                if k.skip(t).is_err() {
                    break;
                }
            }
        } else if r.skip(wt).is_err() {
            return false;
        }
    }
    false
}

/// Whether `key` is an attribute tailsift added: the rule annotation, or the `.length` it
/// records beside a value it hashed (`hashed` says which keys a profile hashes).
pub fn added_by_tailsift(key: &str, hashed: impl Fn(&str) -> bool) -> bool {
    key == RULE_ATTRIBUTE || key.strip_suffix(".length").is_some_and(hashed)
}

/// Whether a value is already a digest written by a profile (`sha256:` and 16 hex digits).
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == super::fidelity::HASH_HEX_DIGITS && h.bytes().all(|c| c.is_ascii_hexdigit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::span;
    use prost::Message;

    #[test]
    fn finds_an_attribute_by_key_without_decoding() {
        let s = span(1, 1)
            .attr("a", "x")
            .attr(RULE_ATTRIBUTE, "errors")
            .build();
        assert!(has_attribute(&s.encode_to_vec(), RULE_ATTRIBUTE));
        let s = span(1, 1).attr("a", "sampling.rule").build();
        assert!(
            !has_attribute(&s.encode_to_vec(), RULE_ATTRIBUTE),
            "a value is not a key"
        );
        assert!(!has_attribute(b"\xff\xff", RULE_ATTRIBUTE));
    }

    #[test]
    fn a_span_from_an_earlier_tier_keeps_one_annotation_and_one_reduction() {
        use crate::decide::{Decider, Verdict};
        use crate::otlp::{encode_request, ingest};
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        let yaml = "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:0 } } }\n\
                    exporters: { f: { protocol: file, path: x.jsonl } }\n\
                    fidelity: { lite: { hash_attributes: [prompt, \"payload.*\"] } }\n\
                    sampling: { rules: [ { name: all, keep: true, fidelity: lite } ] }\n";
        let cfg = crate::config::parse(yaml, "t.yaml").expect("valid");
        let rules = crate::rules::RuleSet::compile(&cfg).expect("compiles");
        let fwd = super::super::Forwarder::from_config(&cfg.sampling);
        let mut body = crate::fixtures::encode(&crate::fixtures::request(
            "svc",
            vec![span(1, 1)
                .attr("prompt", "hello")
                .attr("payload.negative_prompt", "no")],
        ));
        // Two tiers: what the first forwards is what the second receives.
        for _ in 0..2 {
            let spans = ingest(&body, rules.interest()).expect("valid").spans;
            let mut cache = Default::default();
            let out: Vec<_> = spans
                .into_iter()
                .map(|(_, s)| {
                    let v = Verdict::new(Some(0), true);
                    fwd.forward(&rules as &dyn Decider, v, s, &mut cache)
                        .expect("forwarded")
                })
                .collect();
            body = encode_request(out.iter());
        }
        let req = ExportTraceServiceRequest::decode(body.as_ref()).expect("decodes");
        let s = &req.resource_spans[0].scope_spans[0].spans[0];
        let mut keys: Vec<&str> = s.attributes.iter().map(|kv| kv.key.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "payload.negative_prompt",
                "payload.negative_prompt.length",
                "prompt",
                "prompt.length",
                "sampling.rule"
            ]
        );
    }

    #[test]
    fn knows_what_it_added() {
        let hashed = |k: &str| k == "prompt" || k.starts_with("payload.");
        assert!(added_by_tailsift("sampling.rule", hashed));
        assert!(added_by_tailsift("prompt.length", hashed));
        assert!(added_by_tailsift("payload.negative_prompt.length", hashed));
        assert!(!added_by_tailsift("http.response.length", hashed));
        assert!(is_digest("sha256:0123456789abcdef"));
        assert!(!is_digest("sha256:short"));
    }
}
