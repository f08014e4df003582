//! Raw re-emission: writes kept spans' bytes under their resource and scope wrappers as one
//! `ExportTraceServiceRequest`, with no decode/encode round trip.

use super::model::{Resource, Scope};
use super::wire::{len_field_size, put_len_key};
use bytes::{BufMut, Bytes, BytesMut};
use std::sync::Arc;

/// A span on its way out: its encoded bytes, optionally followed by extra encoded fields
/// (protobuf merges appended fields: a repeated field gains entries, a scalar field is replaced).
#[derive(Debug, Clone)]
pub struct OutSpan {
    pub scope: Arc<Scope>,
    pub raw: Bytes,
    pub suffix: Bytes,
}

impl OutSpan {
    /// Encoded size of the span inside an export request, without its resource and scope
    /// wrappers.
    pub fn encoded_len(&self) -> usize {
        self.raw.len() + self.suffix.len()
    }
}

/// The spans under one scope.
type ScopeGroup<'a> = (&'a Arc<Scope>, Vec<&'a OutSpan>);

fn same_resource(a: &Resource, b: &Resource) -> bool {
    std::ptr::eq(a, b) || (a.encoded == b.encoded && a.schema_url == b.schema_url)
}

fn same_scope(a: &Scope, b: &Scope) -> bool {
    std::ptr::eq(a, b)
        || (a.encoded == b.encoded
            && a.schema_url == b.schema_url
            && same_resource(&a.resource, &b.resource))
}

fn opt_field(b: &Bytes) -> usize {
    if b.is_empty() {
        0
    } else {
        len_field_size(b.len())
    }
}

fn put_opt(out: &mut BytesMut, field: u32, b: &Bytes) {
    if !b.is_empty() {
        put_len_key(out, field, b.len());
        out.put_slice(b);
    }
}

/// Groups spans by resource and scope (equal encodings are merged) and encodes the request.
pub fn encode_request<'a>(spans: impl IntoIterator<Item = &'a OutSpan>) -> Bytes {
    // resources -> scopes -> spans, preserving first-seen order. Each distinct scope `Arc` is
    // placed once (compared by bytes against the groups so far); later spans of the same `Arc`
    // find their group through the pointer, so the byte comparison is not repeated per span.
    let mut groups: Vec<(&Arc<Resource>, Vec<ScopeGroup>)> = Vec::new();
    let mut placed: hashbrown::HashMap<*const Scope, (usize, usize)> = hashbrown::HashMap::new();
    let mut last: Option<(*const Scope, usize, usize)> = None;
    for s in spans {
        let ptr = Arc::as_ptr(&s.scope);
        let (gi, si) = match last.filter(|(p, _, _)| *p == ptr) {
            Some((_, gi, si)) => (gi, si),
            None => match placed.get(&ptr) {
                Some(&(gi, si)) => (gi, si),
                None => {
                    let res = &s.scope.resource;
                    let gi = match groups.iter().position(|(r, _)| same_resource(r, res)) {
                        Some(i) => i,
                        None => {
                            groups.push((res, Vec::new()));
                            groups.len() - 1
                        }
                    };
                    let scopes = &mut groups[gi].1;
                    let si = match scopes.iter().position(|(sc, _)| same_scope(sc, &s.scope)) {
                        Some(i) => i,
                        None => {
                            scopes.push((&s.scope, Vec::new()));
                            scopes.len() - 1
                        }
                    };
                    placed.insert(ptr, (gi, si));
                    (gi, si)
                }
            },
        };
        last = Some((ptr, gi, si));
        groups[gi].1[si].1.push(s);
    }

    let scope_len = |sc: &Scope, spans: &[&OutSpan]| -> usize {
        opt_field(&sc.encoded)
            + spans
                .iter()
                .map(|s| len_field_size(s.encoded_len()))
                .sum::<usize>()
            + opt_field(&sc.schema_url)
    };
    let resource_len = |r: &Resource, scopes: &[ScopeGroup]| -> usize {
        opt_field(&r.encoded)
            + scopes
                .iter()
                .map(|(sc, sp)| len_field_size(scope_len(sc, sp)))
                .sum::<usize>()
            + opt_field(&r.schema_url)
    };
    let total: usize = groups
        .iter()
        .map(|(r, sc)| len_field_size(resource_len(r, sc)))
        .sum();

    let mut out = BytesMut::with_capacity(total);
    for (res, scopes) in &groups {
        put_len_key(&mut out, 1, resource_len(res, scopes));
        put_opt(&mut out, 1, &res.encoded);
        for (sc, spans) in scopes {
            put_len_key(&mut out, 2, scope_len(sc, spans));
            put_opt(&mut out, 1, &sc.encoded);
            for s in spans {
                put_len_key(&mut out, 2, s.encoded_len());
                out.put_slice(&s.raw);
                out.put_slice(&s.suffix);
            }
            put_opt(&mut out, 3, &sc.schema_url);
        }
        put_opt(&mut out, 3, &res.schema_url);
    }
    debug_assert_eq!(out.len(), total);
    out.freeze()
}

/// Encodes a string-valued `KeyValue` as span field 9 (`attributes`), ready to append to a span.
pub fn string_attribute_field(key: &str, value: &str) -> Bytes {
    let any_len = len_field_size(value.len());
    let kv_len = len_field_size(key.len()) + len_field_size(any_len);
    let mut out = BytesMut::with_capacity(len_field_size(kv_len));
    put_len_key(&mut out, 9, kv_len);
    put_len_key(&mut out, 1, key.len());
    out.put_slice(key.as_bytes());
    put_len_key(&mut out, 2, any_len);
    put_len_key(&mut out, 1, value.len());
    out.put_slice(value.as_bytes());
    out.freeze()
}
