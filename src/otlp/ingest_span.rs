//! Lazy decoding of one `Span`: its summary fields and the attributes the rules refer to, read
//! in place over the request body.

pub(super) use super::any_value::key_value;
use super::any_value::{any_value, ValueAt};
use super::ingest::{Interest, Range};
use super::model::Picked;
use super::model::{status, AttrValue, Scope, ScopeAttrs, Span, TraceId};
use super::rejection::{at, MalformedRequest, Rejection};
use super::validate;
use super::wire::{Reader, WireError, WireType};
use bytes::Bytes;
use std::sync::Arc;

type SpanResult = Result<Result<(TraceId, Span), Rejection>, MalformedRequest>;

/// Reads the span at `range`. When it has attributes the rules refer to, they are pushed onto
/// `attrs` under the span's offset, for the caller to give `scope` once its spans are read
/// ([`Scope::set_span_attrs`]).
pub(super) fn span(
    body: &Bytes,
    range: Range,
    scope: &Arc<Scope>,
    interest: &Interest,
    attrs: &mut ScopeAttrs,
) -> SpanResult {
    // The span's own bytes were delimited by a valid length: whatever is wrong inside them
    // concerns this span only, so it is rejected alone (OTLP partial success).
    match span_inner(body, range, scope, interest, attrs) {
        Ok(r) => Ok(r),
        Err(_) => Ok(Err(Rejection::MalformedSpan)),
    }
}

fn span_inner(
    body: &Bytes,
    range: Range,
    scope: &Arc<Scope>,
    interest: &Interest,
    attrs: &mut ScopeAttrs,
) -> SpanResult {
    let buf: &[u8] = body;
    let mut trace_id: Option<TraceId> = None;
    let mut bad_trace = false;
    let mut span_id_ok = false;
    let mut parent_len = 0usize;
    let (mut start, mut end) = (0u64, 0u64);
    let mut name_at = None;
    let (mut kind, mut status_code) = (0u8, status::UNSET);
    let mut picked = Picked::new();
    let mut has_trace_state = false;
    let mut r = Reader::within(buf, range);
    while let Some((field, wt)) = r.next_field().map_err(at("span"))? {
        // The fields read here, with their declared wire types; any other field is skipped,
        // unless it is a known one of the wrong wire type (last arm).
        match (field, wt) {
            (3, WireType::Len) => {
                let (s, e) = r.len_range().map_err(at("span.trace_state"))?;
                validate::utf8(buf, (s, e)).map_err(at("span.trace_state"))?;
                has_trace_state = s < e;
            }
            (1, WireType::Len) => {
                let id = r.slice().map_err(at("span.trace_id"))?;
                match <TraceId>::try_from(id) {
                    Ok(id) if id != [0; 16] => trace_id = Some(id),
                    _ => bad_trace = true,
                }
            }
            (2, WireType::Len) => {
                let id = r.slice().map_err(at("span.span_id"))?;
                span_id_ok = id.len() == 8 && id != [0; 8];
            }
            (4, WireType::Len) => parent_len = r.slice().map_err(at("span.parent_span_id"))?.len(),
            (5, WireType::Len) => {
                let len_at = r.position();
                let (s, e) = r.len_range().map_err(at("span.name"))?;
                validate::utf8(buf, (s, e)).map_err(|_| MalformedRequest {
                    what: "span.name",
                    source: WireError::Invalid("not valid UTF-8"),
                })?;
                name_at = Some(len_at - range.0);
            }
            (6, WireType::Varint) => kind = r.varint().map_err(at("span.kind"))?.min(255) as u8,
            (7, WireType::Fixed64) => {
                start = r.fixed64().map_err(at("span.start_time_unix_nano"))?
            }
            (8, WireType::Fixed64) => end = r.fixed64().map_err(at("span.end_time_unix_nano"))?,
            (9, WireType::Len) if !interest.span_keys.is_empty() => {
                let kv = r.len_range().map_err(at("span.attributes"))?;
                let (key, value) = key_value(body, kv).map_err(at("span.attributes"))?;
                if let Some(i) = interest.span_keys.find(&buf[key.0..key.1]) {
                    picked.push((i, picked_value(body, value).map_err(at("span.attributes"))?));
                }
            }
            (15, WireType::Len) => {
                let st = r.len_range().map_err(at("span.status"))?;
                status_code = status_of(buf, st).map_err(at("span.status"))?;
            }
            _ if validate::span_field_type(field).is_some_and(|t| t != wt) => {
                return Ok(Err(Rejection::MalformedSpan));
            }
            _ => r.skip(wt).map_err(at("span"))?,
        }
    }
    let trace_id = match trace_id {
        Some(id) if !bad_trace => id,
        _ => return Ok(Err(Rejection::InvalidTraceId)),
    };
    if !span_id_ok {
        return Ok(Err(Rejection::InvalidSpanId));
    }
    let has_attrs = !picked.is_empty();
    let Some(span) = Span::new(
        range,
        scope.clone(),
        start,
        end,
        name_at,
        kind,
        status_code,
        parent_len == 0,
        has_attrs,
    ) else {
        return Ok(Err(Rejection::MalformedSpan));
    };
    if has_attrs {
        // `Span::new` checked that the offset fits 32 bits.
        attrs.push((range.0 as u32, picked));
    }
    Ok(Ok((trace_id, span.with_trace_state(has_trace_state))))
}

fn status_of(buf: &[u8], range: Range) -> Result<u8, WireError> {
    let mut code = status::UNSET;
    let mut r = Reader::within(buf, range);
    while let Some((field, wt)) = r.next_field()? {
        if field == 3 && wt == WireType::Varint {
            code = r.varint()?.min(255) as u8;
        } else {
            r.skip(wt)?;
        }
    }
    Ok(code)
}

fn to_attr(v: ValueAt, body: &Bytes) -> AttrValue {
    match v {
        ValueAt::Str(s, e) => AttrValue::Str(body.slice(s..e)),
        ValueAt::Int(i) => AttrValue::Int(i),
        ValueAt::Double(d) => AttrValue::Double(d),
        ValueAt::Bool(b) => AttrValue::Bool(b),
        ValueAt::Other => AttrValue::Other,
    }
}

/// Decodes the value of a picked attribute.
pub(super) fn picked_value(body: &Bytes, value: Option<Range>) -> Result<AttrValue, WireError> {
    match value {
        Some(v) => Ok(to_attr(any_value(body, v)?, body)),
        None => Ok(AttrValue::Other),
    }
}
