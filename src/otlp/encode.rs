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

/// One `ScopeSpans` of the request being encoded: spans under equal scopes (by encoding) and
/// equal resources are merged.
struct ScopeGroup<'a> {
    scope: &'a Arc<Scope>,
    /// Index of its resource group.
    resource: usize,
    spans: usize,
    /// Encoded size of its spans (each with its key and length).
    spans_len: usize,
    /// Where its spans start in the grouped order.
    start: usize,
}

impl ScopeGroup<'_> {
    fn encoded_len(&self) -> usize {
        opt_field(&self.scope.encoded) + self.spans_len + opt_field(&self.scope.schema_url)
    }
}

/// Past this many distinct scope `Arc`s, they are found through a map instead of a scan.
const SCAN_SCOPES: usize = 16;

/// Groups spans by resource and scope (equal encodings are merged) and encodes the request:
/// resources in the order their first span came, scopes likewise within their resource, spans
/// in the order they came. A handful of allocations per request, whatever its size.
pub fn encode_request<'a>(spans: impl IntoIterator<Item = &'a OutSpan>) -> Bytes {
    // Each distinct scope `Arc` is placed once (compared by bytes against the groups so far);
    // later spans of the same `Arc` find their group through the pointer.
    let mut spans: Vec<(&OutSpan, usize)> = spans.into_iter().map(|s| (s, 0)).collect();
    // Each resource group with the encoded size of its contents.
    let mut resources: Vec<(&Arc<Resource>, usize)> = Vec::new();
    let mut groups: Vec<ScopeGroup> = Vec::new();
    let mut placed: Vec<(*const Scope, usize)> = Vec::new();
    let mut placed_map: hashbrown::HashMap<*const Scope, usize> = hashbrown::HashMap::new();
    let mut last: Option<(*const Scope, usize)> = None;
    for (s, slot) in &mut spans {
        let ptr = Arc::as_ptr(&s.scope);
        let found = match last.filter(|(p, _)| *p == ptr) {
            Some((_, g)) => Some(g),
            None if placed_map.is_empty() => {
                placed.iter().find(|(p, _)| *p == ptr).map(|&(_, g)| g)
            }
            None => placed_map.get(&ptr).copied(),
        };
        let g = match found {
            Some(g) => g,
            None => {
                let res = &s.scope.resource;
                let ri = match resources.iter().position(|(r, _)| same_resource(r, res)) {
                    Some(i) => i,
                    None => {
                        resources.push((res, 0));
                        resources.len() - 1
                    }
                };
                let g = match groups
                    .iter()
                    .position(|g| g.resource == ri && same_scope(g.scope, &s.scope))
                {
                    Some(g) => g,
                    None => {
                        groups.push(ScopeGroup {
                            scope: &s.scope,
                            resource: ri,
                            spans: 0,
                            spans_len: 0,
                            start: 0,
                        });
                        groups.len() - 1
                    }
                };
                if placed_map.is_empty() && placed.len() < SCAN_SCOPES {
                    placed.push((ptr, g));
                } else {
                    placed_map.extend(placed.drain(..));
                    placed_map.insert(ptr, g);
                }
                g
            }
        };
        last = Some((ptr, g));
        *slot = g;
        let group = &mut groups[g];
        group.spans += 1;
        group.spans_len += len_field_size(s.encoded_len());
    }

    // Scope groups in output order: by resource, then as first seen; spans counted into place.
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| groups[g].resource);
    let mut next = 0;
    for &g in &order {
        groups[g].start = next;
        next += groups[g].spans;
    }
    // Span indices in grouped order: each group's `start` serves as its cursor, then is reset.
    let mut grouped: Vec<usize> = vec![0; spans.len()];
    for (i, &(_, g)) in spans.iter().enumerate() {
        grouped[groups[g].start] = i;
        groups[g].start += 1;
    }
    for g in &mut groups {
        g.start -= g.spans;
    }

    for g in &groups {
        resources[g.resource].1 += len_field_size(g.encoded_len());
    }
    for (r, len) in &mut resources {
        *len += opt_field(&r.encoded) + opt_field(&r.schema_url);
    }
    let total: usize = resources.iter().map(|&(_, l)| len_field_size(l)).sum();

    let mut out = BytesMut::with_capacity(total);
    let mut order = order.iter().map(|&g| &groups[g]).peekable();
    for (ri, (res, len)) in resources.iter().enumerate() {
        put_len_key(&mut out, 1, *len);
        put_opt(&mut out, 1, &res.encoded);
        while let Some(g) = order.next_if(|g| g.resource == ri) {
            put_len_key(&mut out, 2, g.encoded_len());
            put_opt(&mut out, 1, &g.scope.encoded);
            for &i in &grouped[g.start..g.start + g.spans] {
                let s = spans[i].0;
                put_len_key(&mut out, 2, s.encoded_len());
                out.put_slice(&s.raw);
                out.put_slice(&s.suffix);
            }
            put_opt(&mut out, 3, &g.scope.schema_url);
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
