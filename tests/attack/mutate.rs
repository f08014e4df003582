//! Hostile request bodies: valid OTLP requests (with error spans, so a keep rule keeps what
//! survives) taken apart with byte flips, truncations, duplicated and removed fields, wrong wire
//! types, huge lengths, deep nesting, invalid UTF-8 and bad ids; and the same for OTLP/JSON.

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, RngCore};
use tailsift::fixtures::{kv_str, span};

/// Trace ids of hostile requests carry this tag in their top 16 bits (good ones do not).
pub const HOSTILE_TAG: u128 = 0xbad0;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_len(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_varint(out, ((field as u64) << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// An `ExportTraceServiceRequest` with one resource and one scope, from encoded parts.
pub fn wrap(resource: &[u8], spans: &[Vec<u8>]) -> Vec<u8> {
    let mut scope_spans = Vec::new();
    let mut scope = Vec::new();
    put_len(&mut scope, 1, b"attack");
    put_len(&mut scope_spans, 1, &scope);
    for s in spans {
        put_len(&mut scope_spans, 2, s);
    }
    let mut rs = Vec::new();
    put_len(&mut rs, 1, resource);
    put_len(&mut rs, 2, &scope_spans);
    let mut req = Vec::new();
    put_len(&mut req, 1, &rs);
    req
}

/// A `Resource` with `service.name`.
pub fn resource(service: &str) -> Vec<u8> {
    opentelemetry_proto::tonic::resource::v1::Resource {
        attributes: vec![kv_str("service.name", service)],
        ..Default::default()
    }
    .encode_to_vec()
}

/// A trace of `n` spans (root first, the last one an error) as prost spans.
pub fn trace(trace: u128, n: u64) -> Vec<Span> {
    (1..=n)
        .map(|i| {
            let mut b = span(trace, i).attr("http.route", "/v1/generate");
            b = if i == 1 {
                b.kind(SpanKind::Server)
            } else {
                b.parent(1)
            };
            if i == n {
                b = b.error();
            }
            b.build()
        })
        .collect()
}

/// `AnyValue` nested `depth` arrays deep, as span field 9 (`attributes`), encoded without
/// recursion: the length prefixes are built from the inside out, then written outside in.
pub fn deep_attribute(depth: usize) -> Vec<u8> {
    let mut leaf = Vec::new();
    put_len(&mut leaf, 1, b"leaf"); // innermost AnyValue: string_value
    let mut len = leaf.len();
    let mut heads: Vec<Vec<u8>> = Vec::with_capacity(depth);
    for _ in 0..depth {
        // AnyValue { array_value (5): ArrayValue { values (1): <inner> } }
        let mut array = vec![0x0a];
        put_varint(&mut array, len as u64);
        let mut head = vec![0x2a];
        put_varint(&mut head, (array.len() + len) as u64);
        head.extend_from_slice(&array);
        len += head.len();
        heads.push(head);
    }
    let mut value: Vec<u8> = heads.into_iter().rev().flatten().collect();
    value.extend_from_slice(&leaf);
    let mut kv = Vec::new();
    put_len(&mut kv, 1, b"deep");
    put_len(&mut kv, 2, &value);
    let mut field = Vec::new();
    put_len(&mut field, 9, &kv);
    field
}

/// `Resource.entity_refs` (field 3) that no protobuf decoder accepts: a varint where a message
/// belongs, or an `EntityRef` whose `type` is not UTF-8.
pub fn poisoned_resource(rng: &mut StdRng) -> Vec<u8> {
    let mut r = resource("poison");
    if rng.random_bool(0.5) {
        r.extend_from_slice(&[0x18, 0x01]);
    } else {
        let mut entity = Vec::new();
        put_len(&mut entity, 2, &[0xff, 0xfe, b's']);
        put_len(&mut r, 3, &entity);
    }
    r
}

/// A span field no protobuf decoder accepts, though the span's own checks pass it: an unknown
/// field numbered 2^29 (over protobuf's limit), or an unknown field whose 10-byte varint
/// overflows 64 bits.
pub fn poisoned_span_field(rng: &mut StdRng) -> Vec<u8> {
    if rng.random_bool(0.5) {
        vec![0x80, 0x80, 0x80, 0x80, 0x10, 0x00]
    } else {
        let mut f = vec![0xa0, 0x01];
        f.extend_from_slice(&[0xff; 9]);
        f.push(0x7f);
        f
    }
}

/// What was done to a request, for the failure report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    Bytes,
    Fields,
    BadIds,
    Deep,
    BadUtf8,
    EntityRefs,
    SpanPoison,
}

/// Random structural damage at the message level: duplicated, removed or reordered spans and
/// fields, bad ids, non-UTF-8 names, deep values, fields no decoder accepts (resources, scopes
/// and spans that once poisoned whole batches), then byte-level damage on top sometimes.
pub fn protobuf(rng: &mut StdRng, n: u64) -> (Attack, Vec<u8>) {
    let id = (HOSTILE_TAG << 112) | (n as u128) << 8 | 1;
    let mut spans = trace(id, rng.random_range(1..=4));
    let mut res = resource("attacker");
    let mut raw: Vec<Vec<u8>> = Vec::new();
    let attack = match rng.random_range(0..10) {
        0..=2 => Attack::Bytes,
        3 => {
            // Duplicated and removed fields and spans.
            let s = spans[0].clone();
            spans.push(s);
            if rng.random_bool(0.5) {
                spans[0].span_id.clear();
            }
            res.extend_from_within(..);
            Attack::Fields
        }
        4 => {
            let s = rng.random_range(0..spans.len());
            match rng.random_range(0..4) {
                0 => spans[s].trace_id = vec![0; 16],
                1 => spans[s].trace_id.truncate(15),
                2 => spans[s].span_id = vec![0; 8],
                _ => spans[s].span_id.push(7),
            }
            Attack::BadIds
        }
        5 => {
            let depth = [20, 40, 120, 2000, 20_000][rng.random_range(0..5)];
            let mut s = spans.pop().expect("a span").encode_to_vec();
            s.extend_from_slice(&deep_attribute(depth));
            raw.push(s);
            Attack::Deep
        }
        6 => {
            let s = rng.random_range(0..spans.len());
            spans[s].name = "span-\u{7f}".into();
            let mut enc = spans.remove(s).encode_to_vec();
            let at = enc.iter().position(|b| *b == 0x7f).expect("marker");
            enc[at] = 0xff;
            raw.push(enc);
            Attack::BadUtf8
        }
        7 => {
            res = poisoned_resource(rng);
            Attack::EntityRefs
        }
        8 => {
            let mut s = spans.pop().expect("a span").encode_to_vec();
            s.extend_from_slice(&poisoned_span_field(rng));
            raw.push(s);
            Attack::SpanPoison
        }
        _ => Attack::Fields,
    };
    raw.extend(spans.iter().map(Message::encode_to_vec));
    let mut body = wrap(&res, &raw);
    if attack == Attack::Bytes || rng.random_bool(0.2) {
        bytes(rng, &mut body);
    }
    (attack, body)
}

/// Byte-level damage: flips, truncation, duplicated and removed ranges, wrong wire types,
/// huge lengths.
pub fn bytes(rng: &mut StdRng, body: &mut Vec<u8>) {
    for _ in 0..rng.random_range(1..=3) {
        if body.is_empty() {
            body.push(0x0a);
        }
        let at = rng.random_range(0..body.len());
        match rng.random_range(0..6) {
            0 => body[at] ^= 1 << rng.random_range(0..8),
            1 => body.truncate(at),
            2 => {
                let end = rng.random_range(at..=body.len());
                let dup = body[at..end].to_vec();
                body.splice(at..at, dup);
            }
            3 => {
                let end = rng.random_range(at..=body.len());
                body.drain(at..end);
            }
            4 => body[at] = (body[at] & !7) | [0, 1, 2, 3, 4, 5, 6, 7][rng.random_range(0..8)],
            _ => {
                let mut huge = vec![0x0a];
                put_varint(&mut huge, rng.next_u64() >> rng.random_range(0..40));
                body.splice(at..at, huge);
            }
        }
    }
}

/// OTLP/JSON damage: the JSON of a valid request with `"NaN"` doubles, bad ids, deep nesting,
/// lone surrogates, huge numbers, truncation or flipped bytes.
pub fn json(rng: &mut StdRng, n: u64) -> Vec<u8> {
    let id = (HOSTILE_TAG << 112) | (n as u128) << 8 | 2;
    let req = tailsift::fixtures::request_with("attacker-json", vec![], trace(id, 2));
    let text = serde_json::to_string(&req).expect("JSON");
    let hex = format!("{id:032x}");
    let out = match rng.random_range(0..8) {
        0 => text.replacen(
            "\"attributes\":[",
            "\"attributes\":[{\"key\":\"ratio\",\"value\":{\"doubleValue\":\"NaN\"}},",
            1,
        ),
        1 => text.replacen(&hex, "zz", 1),
        2 => text.replacen(&hex, &hex[1..], 1),
        3 => {
            let depth = rng.random_range(100..100_000);
            text.replacen(
                "\"attributes\":[",
                &format!("\"attributes\":[{}{}", "[".repeat(depth), "]".repeat(depth)),
                1,
            ) + ","
        }
        4 => text.replacen("span-1", "\\ud800", 1),
        5 => text.replacen("\"kind\":2", "\"kind\":1e999999", 1),
        6 => {
            let mut b = text.into_bytes();
            bytes(rng, &mut b);
            return b;
        }
        _ => text.replacen("}", "}\u{0}\u{ff}", 1),
    };
    out.into_bytes()
}
