//! The grouping key of an adaptive rule: compiled from the configured key fields (registering the
//! attributes it reads with ingest), read from a trace's spans as a 64-bit hash without
//! allocating, and rendered as a readable label only when a key is first seen.

use crate::config::KeyField;
use crate::otlp::model::root;
use crate::otlp::{AttrValue, Interest, Span};
use std::hash::{DefaultHasher, Hasher};

#[derive(Debug, Clone)]
enum Part {
    Service,
    RootName,
    RootAttr(u16),
    SpanAttr(u16),
    ResourceAttr(u16),
}

/// A compiled grouping key.
#[derive(Debug, Clone)]
pub struct KeySpec {
    parts: Vec<Part>,
}

/// One field's value in one trace.
enum Val<'a> {
    Missing,
    Bytes(&'a [u8]),
    Attr(&'a AttrValue),
}

/// Shown for a key field the trace does not have.
const MISSING: &str = "-";
/// Between the fields of a key label.
const SEPARATOR: &str = " | ";

impl KeySpec {
    /// Compiles the key fields, registering the attributes they read.
    pub fn compile(fields: &[KeyField], interest: &mut Interest) -> KeySpec {
        let parts = fields
            .iter()
            .map(|f| match f {
                KeyField::Service => Part::Service,
                KeyField::RootName => Part::RootName,
                KeyField::RootAttribute(k) => Part::RootAttr(interest.span_key(k)),
                KeyField::SpanAttribute(k) => Part::SpanAttr(interest.span_key(k)),
                KeyField::ResourceAttribute(k) => Part::ResourceAttr(interest.resource_key(k)),
            })
            .collect();
        KeySpec { parts }
    }

    fn value<'a>(part: &Part, spans: &'a [Span], root: Option<&'a Span>) -> Val<'a> {
        let root_first = || root.into_iter().chain(spans.iter());
        let found = match part {
            Part::Service => root_first().find_map(|s| s.service_bytes()).map(Val::Bytes),
            Part::RootName => root.map(|r| Val::Bytes(r.name_bytes())),
            Part::RootAttr(i) => root.and_then(|r| r.attr(*i)).map(Val::Attr),
            Part::SpanAttr(i) => spans.iter().find_map(|s| s.attr(*i)).map(Val::Attr),
            Part::ResourceAttr(i) => root_first()
                .find_map(|s| s.resource_attr(*i))
                .map(Val::Attr),
        };
        found.unwrap_or(Val::Missing)
    }

    /// The key's hash: equal for traces with equal key values.
    pub fn hash(&self, spans: &[Span]) -> u64 {
        let root = root(spans);
        let mut h = DefaultHasher::new();
        let bytes = |h: &mut DefaultHasher, b: &[u8]| {
            h.write_u8(1);
            h.write_usize(b.len());
            h.write(b);
        };
        for p in &self.parts {
            match Self::value(p, spans, root) {
                Val::Missing => h.write_u8(0),
                Val::Bytes(b) => bytes(&mut h, b),
                Val::Attr(AttrValue::Str(b)) => bytes(&mut h, b),
                Val::Attr(AttrValue::Int(i)) => {
                    h.write_u8(2);
                    h.write_i64(*i);
                }
                Val::Attr(AttrValue::Double(d)) => {
                    h.write_u8(3);
                    h.write_u64(d.to_bits());
                }
                Val::Attr(AttrValue::Bool(b)) => h.write_u8(4 + u8::from(*b)),
                Val::Attr(AttrValue::Other) => h.write_u8(6),
            }
        }
        h.finish()
    }

    /// The key as a readable label: the field values joined by ` | `, `-` for a missing one.
    pub fn label(&self, spans: &[Span]) -> String {
        let root = root(spans);
        let mut out = String::new();
        for (i, p) in self.parts.iter().enumerate() {
            if i > 0 {
                out.push_str(SEPARATOR);
            }
            match Self::value(p, spans, root) {
                Val::Missing => out.push_str(MISSING),
                Val::Bytes(b) => out.push_str(&String::from_utf8_lossy(b)),
                Val::Attr(v) => match v {
                    AttrValue::Str(b) => out.push_str(&String::from_utf8_lossy(b)),
                    AttrValue::Int(i) => out.push_str(&i.to_string()),
                    AttrValue::Double(d) => out.push_str(&d.to_string()),
                    AttrValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                    AttrValue::Other => out.push('?'),
                },
            }
        }
        truncate_label(out)
    }
}

/// Longest key label kept (metrics label values and the key table); longer values are cut on a
/// character boundary with a `…`. The key's hash covers the whole value, so keys stay distinct.
pub const MAX_LABEL_BYTES: usize = 128;

fn truncate_label(mut s: String) -> String {
    if s.len() > MAX_LABEL_BYTES {
        crate::output::fidelity::truncate(&mut s, MAX_LABEL_BYTES);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, span};

    fn spec(fields: &[&str]) -> (KeySpec, Interest) {
        let mut interest = Interest::default();
        let fields: Vec<KeyField> = fields.iter().map(|f| KeyField::parse(f).unwrap()).collect();
        (KeySpec::compile(&fields, &mut interest), interest)
    }

    fn spans(interest: &Interest, service: &str, b: Vec<fixtures::SpanBuilder>) -> Vec<Span> {
        let req = fixtures::request_with(
            service,
            vec![fixtures::kv_str("region", "eu")],
            b.into_iter().map(|s| s.build()).collect(),
        );
        fixtures::ingested(&req, interest)
    }

    #[test]
    fn label_and_hash_follow_the_fields() {
        let (k, i) = spec(&[
            "service",
            "root.name",
            "root.attributes.http.route",
            "span.attributes.model",
            "resource.attributes.region",
        ]);
        let a = spans(
            &i,
            "checkout",
            vec![
                span(1, 2).parent(1).attr("model", "big"),
                span(1, 1).name("GET /cart").attr("http.route", "/cart"),
            ],
        );
        assert_eq!(k.label(&a), "checkout | GET /cart | /cart | big | eu");
        let b = spans(&i, "checkout", vec![span(2, 1).name("GET /cart")]);
        assert_eq!(k.label(&b), "checkout | GET /cart | - | - | eu");
        assert_ne!(k.hash(&a), k.hash(&b));
        let a2 = spans(
            &i,
            "checkout",
            vec![
                span(3, 1).name("GET /cart").attr("http.route", "/cart"),
                span(3, 2).parent(1).attr("model", "big"),
            ],
        );
        assert_eq!(k.hash(&a), k.hash(&a2), "same values, same key");
    }

    #[test]
    fn long_values_make_bounded_labels_but_distinct_keys() {
        let (k, i) = spec(&["root.name"]);
        let long_a = "x".repeat(5000) + "a";
        let long_b = "x".repeat(5000) + "b";
        let a = spans(&i, "svc", vec![span(1, 1).name(&long_a)]);
        let b = spans(&i, "svc", vec![span(2, 1).name(&long_b)]);
        assert!(k.label(&a).len() <= MAX_LABEL_BYTES && k.label(&a).ends_with('…'));
        assert_ne!(k.hash(&a), k.hash(&b));
    }

    #[test]
    fn a_trace_without_root_has_missing_root_fields() {
        let (k, i) = spec(&["service", "root.name"]);
        let s = spans(&i, "svc", vec![span(1, 2).parent(1)]);
        assert_eq!(k.label(&s), "svc | -");
    }

    #[test]
    fn typed_values_are_distinct() {
        let (k, i) = spec(&["root.attributes.code"]);
        let s1 = spans(&i, "s", vec![span(1, 1).attr("code", "200")]);
        let s2 = spans(&i, "s", vec![span(2, 1).attr_int("code", 200)]);
        assert_eq!(k.label(&s1), k.label(&s2));
        assert_ne!(k.hash(&s1), k.hash(&s2));
    }
}
