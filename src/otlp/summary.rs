//! Span summaries, for requests kept in the storage log: what decisions read of each span,
//! copied out of the request body into one small buffer per request, so that buffered spans do
//! not keep the body in memory. The bytes are read back from the log when a trace is kept.
//!
//! The summary buffer of a request holds, per span, a record: the offset of the span's encoding
//! in the request body (4 bytes, little-endian), the length of the fields that follow (4 bytes),
//! then those fields re-encoded as a `Span` message: the name (always, first, so its length
//! prefix is at offset [`NAME_AT`]), the `trace_state` when non-empty, the end time when the
//! duration does not fit the span's 32 bits, and the `flags` and the events when the rules read
//! them ([`Interest::span_flags`], [`Interest::span_events`]). After the records come the service names and the string
//! values of the picked attributes. Spans keep their summary's offset in place of their
//! encoding's and the length of their encoding, so [`crate::otlp::Span::raw_len`] is unchanged.

use super::ingest::Interest;
use super::model::{AttrValue, Picked, Resource, Retained, Scope, ScopeAttrs, Span, TraceId};
use super::wire::{put_len_key, put_varint, Reader, WireType};
use bytes::Bytes;
use hashbrown::HashMap;
use std::sync::Arc;

/// Bytes before each record's fields: the span's offset in the body and the fields' length.
pub(crate) const RECORD_HEADER: usize = 8;
/// Offset of the name's length prefix in a summary's fields (the name's key is one byte).
pub(crate) const NAME_AT: u8 = 1;

const TRACE_STATE_FIELD: u32 = 3;
const NAME_FIELD: u32 = 5;
const END_KEY: u64 = (8 << 3) | 1;
const EVENTS_FIELD: u32 = 11;
const FLAGS_FIELD: u32 = 16;
const FLAGS_KEY: u64 = ((FLAGS_FIELD as u64) << 3) | 5;

/// The byte range of the fields of the record at `at` of a summary buffer.
#[inline]
pub(crate) fn fields_range(buf: &[u8], at: usize) -> (usize, usize) {
    let len = u32::from_le_bytes(buf[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
    (at + RECORD_HEADER, at + RECORD_HEADER + len)
}

/// The offset in the request body of the span whose record is at `at`.
#[inline]
pub(crate) fn body_offset(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

/// Replaces the spans of one request (as ingest returned them, holding the request body) by
/// summaries sharing one buffer, accounted in `retained` (with the request's lease) for as long
/// as any of them lives. Spans that are summaries already, and requests whose summary buffer
/// would not fit 32-bit offsets, are returned as they are.
pub fn summarize(
    spans: Vec<(TraceId, Span)>,
    interest: &Interest,
    retained: &Arc<Retained>,
) -> Vec<(TraceId, Span)> {
    let Some((_, first)) = spans.first() else {
        return spans;
    };
    if first.is_summary() {
        return spans;
    }
    let lease = first.lease().cloned();
    let wanted = Wanted {
        flags: interest.span_flags(),
        events: interest.span_events(),
    };

    // Pass 1: the records, then the strings, in the order pass 2 takes them back.
    let estimate: usize = spans
        .iter()
        .map(|(_, s)| RECORD_HEADER + 4 + s.name_bytes().len())
        .sum();
    let mut buf = Vec::with_capacity(estimate);
    let mut ats = Vec::with_capacity(spans.len());
    let mut strings = Vec::new();
    let mut seen_resources = hashbrown::HashSet::new();
    let mut scopes = 0usize;
    let mut last_scope = 0usize;
    let mut with_attrs = 0usize;
    for (_, s) in &spans {
        ats.push(buf.len());
        write_record(&mut buf, s, wanted);
        // Spans come grouped by scope (ingest returns them in request order).
        let scope_key = Arc::as_ptr(&s.scope) as usize;
        if scope_key != last_scope {
            last_scope = scope_key;
            scopes += 1;
            let resource = &s.scope.resource;
            if seen_resources.insert(Arc::as_ptr(resource) as usize) {
                copy_str(resource.service.as_ref(), &mut buf, &mut strings);
                copy_picked(&resource.attrs, &mut buf, &mut strings);
            }
        }
        copy_picked(s.attrs(), &mut buf, &mut strings);
        with_attrs += usize::from(s.has_attrs());
    }
    if u32::try_from(buf.len()).is_err() {
        return spans;
    }
    let held = buf.len()
        + spans.len() * std::mem::size_of::<Span>()
        + with_attrs * Scope::SPAN_ATTRS_ENTRY
        + seen_resources.len() * std::mem::size_of::<Resource>()
        + scopes * std::mem::size_of::<Scope>();
    let guard = retained.hold_leased(held, lease);
    let body = Bytes::from(buf);

    // Pass 2: the summaries, and each new scope's picked span attributes.
    let mut strings = strings.into_iter();
    let mut resources: HashMap<usize, Arc<Resource>> = HashMap::new();
    // Old scope (by address) to its index in `scopes`.
    let mut scope_of: HashMap<usize, usize> = HashMap::new();
    let mut scopes: Vec<(Arc<Scope>, ScopeAttrs)> = Vec::new();
    let mut out = Vec::with_capacity(spans.len());
    let mut last: Option<(usize, usize)> = None;
    for ((id, s), at) in spans.iter().zip(ats) {
        let scope_key = Arc::as_ptr(&s.scope) as usize;
        let i = match last {
            Some((key, i)) if key == scope_key => i,
            _ => {
                let i = *scope_of.entry(scope_key).or_insert_with(|| {
                    let resource = resources
                        .entry(Arc::as_ptr(&s.scope.resource) as usize)
                        .or_insert_with(|| {
                            let old = &s.scope.resource;
                            Arc::new(Resource {
                                body: body.clone(),
                                encoded: Bytes::new(),
                                schema_url: Bytes::new(),
                                service: old
                                    .service
                                    .as_ref()
                                    .map(|_| take_str(&body, &mut strings)),
                                attrs: rebuild_picked(&old.attrs, &body, &mut strings),
                                retained: Some(guard.clone()),
                            })
                        })
                        .clone();
                    let scope = Arc::new(Scope::new(resource, Bytes::new(), Bytes::new()));
                    scopes.push((scope, Vec::new()));
                    scopes.len() - 1
                });
                last = Some((scope_key, i));
                i
            }
        };
        let (scope, attrs) = &mut scopes[i];
        if s.has_attrs() {
            attrs.push((at as u32, rebuild_picked(s.attrs(), &body, &mut strings)));
        }
        out.push((*id, s.summarized(scope.clone(), at as u32)));
    }
    for (scope, attrs) in scopes {
        scope.set_span_attrs(attrs);
    }
    out
}

/// The span of `spans` (in the order of their request, as ingest returns them) whose encoding
/// starts at `offset` of the request body.
pub fn find_at(spans: &[Span], offset: u32) -> Option<&Span> {
    spans
        .binary_search_by_key(&offset, Span::body_offset)
        .ok()
        .map(|i| &spans[i])
}

/// The fields of a span that only some rules read, copied into its summary when they do.
#[derive(Clone, Copy)]
struct Wanted {
    flags: bool,
    events: bool,
}

/// Writes the summary record of `s` (see the module's documentation).
fn write_record(buf: &mut Vec<u8>, s: &Span, wanted: Wanted) {
    let at = buf.len();
    buf.extend_from_slice(&s.body_offset().to_le_bytes());
    buf.extend_from_slice(&[0; 4]);
    let name = s.name_bytes();
    put_len_key(buf, NAME_FIELD, name.len());
    buf.extend_from_slice(name);
    if let Some(state) = s.trace_state() {
        put_len_key(buf, TRACE_STATE_FIELD, state.len());
        buf.extend_from_slice(state.as_bytes());
    }
    if s.has_far_end() {
        put_varint(buf, END_KEY);
        buf.extend_from_slice(&s.end().to_le_bytes());
    }
    if wanted.flags || wanted.events {
        copy_flags_and_events(buf, s.raw(), wanted);
    }
    let len = (buf.len() - at - RECORD_HEADER) as u32;
    buf[at + 4..at + 8].copy_from_slice(&len.to_le_bytes());
}

/// Copies the `flags` and the events of the span `raw` (those `wanted`) into its record: the
/// one walk over all of a span's fields a summary takes, only for the rules that read them.
fn copy_flags_and_events(buf: &mut Vec<u8>, raw: &[u8], wanted: Wanted) {
    let mut flags = None;
    let mut r = Reader::new(raw);
    while let Ok(Some((field, wt))) = r.next_field() {
        if field == FLAGS_FIELD && wt == WireType::Fixed32 && wanted.flags && flags.is_none() {
            match r.fixed32() {
                Ok(f) => flags = Some(f),
                Err(_) => break,
            }
        } else if field == EVENTS_FIELD && wt == WireType::Len && wanted.events {
            let Ok((s, e)) = r.len_range() else { break };
            put_len_key(buf, EVENTS_FIELD, e - s);
            buf.extend_from_slice(&raw[s..e]);
        } else if r.skip(wt).is_err() {
            break;
        }
    }
    if let Some(f) = flags {
        put_varint(buf, FLAGS_KEY);
        buf.extend_from_slice(&f.to_le_bytes());
    }
}

fn copy_str(s: Option<&Bytes>, buf: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) {
    if let Some(s) = s {
        ranges.push((buf.len(), buf.len() + s.len()));
        buf.extend_from_slice(s);
    }
}

fn copy_picked(p: &[(u16, AttrValue)], buf: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) {
    for (_, v) in p {
        if let AttrValue::Str(s) = v {
            copy_str(Some(s), buf, ranges);
        }
    }
}

fn take_str(body: &Bytes, ranges: &mut impl Iterator<Item = (usize, usize)>) -> Bytes {
    ranges
        .next()
        .map_or_else(Bytes::new, |(s, e)| body.slice(s..e))
}

fn rebuild_picked(
    p: &[(u16, AttrValue)],
    body: &Bytes,
    ranges: &mut impl Iterator<Item = (usize, usize)>,
) -> Picked {
    p.iter()
        .map(|(i, v)| match v {
            AttrValue::Str(_) => (*i, AttrValue::Str(take_str(body, ranges))),
            v => (*i, v.clone()),
        })
        .collect()
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
