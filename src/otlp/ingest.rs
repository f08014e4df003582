//! Lazy decoding of an `ExportTraceServiceRequest`: one pass that slices out each span's bytes
//! and decodes only the summary fields and the attributes the rules refer to.

use super::model::{
    status, AttrValue, Picked, Resource, Retained, RetainedBody, Scope, Span, TraceId,
};
use super::validate;
use super::wire::{Reader, WireError, WireType};
use bytes::Bytes;
use std::sync::Arc;

/// Attribute keys that the loaded rules read; everything else stays encoded.
#[derive(Debug, Clone, Default)]
pub struct Interest {
    span_keys: Vec<Box<[u8]>>,
    resource_keys: Vec<Box<[u8]>>,
}

impl Interest {
    /// Registers a span attribute key and returns its index.
    pub fn span_key(&mut self, key: &str) -> u16 {
        intern(&mut self.span_keys, key)
    }
    /// Registers a resource attribute key and returns its index.
    pub fn resource_key(&mut self, key: &str) -> u16 {
        intern(&mut self.resource_keys, key)
    }
}

fn intern(keys: &mut Vec<Box<[u8]>>, key: &str) -> u16 {
    if let Some(i) = keys.iter().position(|k| &**k == key.as_bytes()) {
        return i as u16;
    }
    keys.push(key.as_bytes().into());
    (keys.len() - 1) as u16
}

#[inline]
fn lookup(keys: &[Box<[u8]>], key: &[u8]) -> Option<u16> {
    keys.iter().position(|k| **k == *key).map(|i| i as u16)
}

/// Why a span was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    InvalidTraceId,
    InvalidSpanId,
    /// Not a valid `Span` message (a string that is not UTF-8, a field of the wrong wire type,
    /// a truncated or too deeply nested part).
    MalformedSpan,
    /// Under a `Resource` (or `ResourceSpans.schema_url`) that is not valid: the whole group
    /// is rejected, since every span of it would be forwarded under that resource.
    MalformedResource,
    /// Under an `InstrumentationScope` (or `ScopeSpans.schema_url`) that is not valid.
    MalformedScope,
}

impl Rejection {
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::InvalidTraceId => "invalid_trace_id",
            Rejection::InvalidSpanId => "invalid_span_id",
            Rejection::MalformedSpan => "malformed_span",
            Rejection::MalformedResource => "malformed_resource",
            Rejection::MalformedScope => "malformed_scope",
        }
    }

    /// How the partial-success message describes `n` spans rejected for this reason.
    fn describe(self, n: usize) -> String {
        match self {
            Rejection::InvalidTraceId => {
                format!("{n} span(s) with an invalid trace id (must be 16 bytes, not all zero)")
            }
            Rejection::InvalidSpanId => {
                format!("{n} span(s) with an invalid span id (must be 8 bytes, not all zero)")
            }
            Rejection::MalformedSpan => format!(
                "{n} malformed span(s) (a string that is not UTF-8, a field of the wrong wire type, or a truncated part)"
            ),
            Rejection::MalformedResource => format!(
                "{n} span(s) under a malformed resource (a string that is not UTF-8, a field of the wrong wire type, a truncated or too deeply nested part)"
            ),
            Rejection::MalformedScope => format!(
                "{n} span(s) under a malformed instrumentation scope (a string that is not UTF-8, a field of the wrong wire type, a truncated or too deeply nested part)"
            ),
        }
    }
}

const REJECTIONS: [Rejection; 5] = [
    Rejection::InvalidTraceId,
    Rejection::InvalidSpanId,
    Rejection::MalformedSpan,
    Rejection::MalformedResource,
    Rejection::MalformedScope,
];

/// The spans of one request, each with its trace id, and the spans rejected individually.
#[derive(Debug, Default)]
pub struct Ingested {
    pub spans: Vec<(TraceId, Span)>,
    pub rejected: Vec<Rejection>,
}

impl Ingested {
    /// The OTLP partial-success message for the rejected spans, if any.
    pub fn rejection_message(&self) -> Option<String> {
        if self.rejected.is_empty() {
            return None;
        }
        let parts: Vec<String> = REJECTIONS
            .iter()
            .map(|&k| (k, self.rejected.iter().filter(|r| **r == k).count()))
            .filter(|&(_, n)| n > 0)
            .map(|(k, n)| k.describe(n))
            .collect();
        Some(format!("rejected {}", parts.join(" and ")))
    }
}

/// A request that is not a valid OTLP trace export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed ExportTraceServiceRequest: {what}: {source}")]
pub struct MalformedRequest {
    pub what: &'static str,
    pub source: WireError,
}

fn at(what: &'static str) -> impl Fn(WireError) -> MalformedRequest {
    move |source| MalformedRequest { what, source }
}

/// A byte range of the request body.
type Range = (usize, usize);

fn slice_or_empty(body: &Bytes, r: Option<Range>) -> Bytes {
    r.map_or_else(Bytes::new, |(s, e)| body.slice(s..e))
}

/// Decodes one encoded `ExportTraceServiceRequest`.
///
/// Nested messages are walked in place over the body's bytes; the only reference-counted
/// slices made are one per span (its encoding), one per resource and scope, and one per
/// picked string attribute.
pub fn ingest(body: &Bytes, interest: &Interest) -> Result<Ingested, MalformedRequest> {
    ingest_retained(body, interest, None)
}

/// [`ingest`], accounting for the body in `retained` for as long as any of its spans lives.
pub fn ingest_retained(
    body: &Bytes,
    interest: &Interest,
    retained: Option<&Arc<Retained>>,
) -> Result<Ingested, MalformedRequest> {
    let mut out = Ingested::default();
    let guard = retained.map(|r| r.hold(body.len()));
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.next_field().map_err(at("request"))? {
        if field == 1 {
            want(wt, "resource_spans")?;
            let rs = r.len_range().map_err(at("resource_spans"))?;
            resource_spans(body, rs, interest, &guard, &mut out)?;
        } else {
            r.skip(wt).map_err(at("request"))?;
        }
    }
    Ok(out)
}

/// A container field (`resource_spans`, `scope_spans`) must be length-delimited: whatever else
/// the request holds cannot be told apart from broken framing.
fn want(wt: WireType, what: &'static str) -> Result<(), MalformedRequest> {
    if wt == WireType::Len {
        Ok(())
    } else {
        Err(MalformedRequest {
            what,
            source: validate::BAD_TYPE,
        })
    }
}

fn resource_spans(
    body: &Bytes,
    range: Range,
    interest: &Interest,
    guard: &Option<Arc<RetainedBody>>,
    out: &mut Ingested,
) -> Result<(), MalformedRequest> {
    // The resource and schema_url may come after the scope spans, so find them first.
    let (mut resource, mut schema_url, mut wrong_type) = (None, None, false);
    let mut r = Reader::within(body, range);
    while let Some((field, wt)) = r.next_field().map_err(at("resource_spans"))? {
        match (field, wt) {
            (1, WireType::Len) => resource = Some(r.len_range().map_err(at("resource"))?),
            (3, WireType::Len) => {
                schema_url = Some(r.len_range().map_err(at("resource_spans.schema_url"))?)
            }
            _ => {
                if field == 2 {
                    want(wt, "resource_spans.scope_spans")?;
                }
                wrong_type |= field == 1 || field == 3;
                r.skip(wt).map_err(at("resource_spans"))?
            }
        }
    }
    // A malformed resource concerns its group only: its spans are rejected, the request's
    // other groups go on (the group's own framing was checked above, so its spans can be counted).
    let valid = !wrong_type
        && resource.is_none_or(|res| validate::resource(body, res).is_ok())
        && schema_url.is_none_or(|url| validate::utf8(body, url).is_ok());
    if !valid {
        return reject_group(body, range, Rejection::MalformedResource, out);
    }
    let (service, attrs) = match resource {
        Some(res) => resource_summary(body, res, interest)?,
        None => (None, None),
    };
    let resource = Arc::new(Resource {
        encoded: slice_or_empty(body, resource),
        schema_url: slice_or_empty(body, schema_url),
        service,
        attrs,
        retained: guard.clone(),
    });
    let mut r = Reader::within(body, range);
    while let Some((field, wt)) = r.next_field().map_err(at("resource_spans"))? {
        if field == 2 && wt == WireType::Len {
            let ss = r.len_range().map_err(at("scope_spans"))?;
            scope_spans(body, ss, &resource, interest, out)?;
        } else {
            r.skip(wt).map_err(at("resource_spans"))?;
        }
    }
    Ok(())
}

/// Rejects every span of a `ResourceSpans` group for `why`.
fn reject_group(
    body: &[u8],
    range: Range,
    why: Rejection,
    out: &mut Ingested,
) -> Result<(), MalformedRequest> {
    let mut r = Reader::within(body, range);
    while let Some((field, wt)) = r.next_field().map_err(at("resource_spans"))? {
        if field == 2 && wt == WireType::Len {
            let ss = r.len_range().map_err(at("scope_spans"))?;
            count_spans(body, ss, why, out)?;
        } else {
            r.skip(wt).map_err(at("resource_spans"))?;
        }
    }
    Ok(())
}

/// Rejects every span of a `ScopeSpans` for `why`.
fn count_spans(
    body: &[u8],
    range: Range,
    why: Rejection,
    out: &mut Ingested,
) -> Result<(), MalformedRequest> {
    let mut r = Reader::within(body, range);
    while let Some((field, wt)) = r.next_field().map_err(at("scope_spans"))? {
        if field == 2 {
            r.skip(wt).map_err(at("span"))?;
            out.rejected.push(why);
        } else {
            r.skip(wt).map_err(at("scope_spans"))?;
        }
    }
    Ok(())
}

fn resource_summary(
    body: &Bytes,
    range: Range,
    interest: &Interest,
) -> Result<(Option<Bytes>, Picked), MalformedRequest> {
    let mut service = None;
    let mut picked = Vec::new();
    let mut r = Reader::within(body, range);
    while let Some((field, wt)) = r.next_field().map_err(at("resource"))? {
        if field == 1 && wt == WireType::Len {
            let kv = r.len_range().map_err(at("resource.attributes"))?;
            let (key, value) = key_value(body, kv).map_err(at("resource.attributes"))?;
            let key = &body[key.0..key.1];
            let pick = lookup(&interest.resource_keys, key);
            if key == b"service.name" || pick.is_some() {
                let value = picked_value(body, value).map_err(at("resource.attributes"))?;
                if key == b"service.name" {
                    if let AttrValue::Str(s) = &value {
                        service = Some(s.clone());
                    }
                }
                if let Some(i) = pick {
                    picked.push((i, value));
                }
            }
        } else {
            r.skip(wt).map_err(at("resource"))?;
        }
    }
    Ok((service, boxed(picked)))
}

fn boxed(v: Vec<(u16, AttrValue)>) -> Picked {
    if v.is_empty() {
        None
    } else {
        Some(v.into_boxed_slice())
    }
}

fn scope_spans(
    body: &Bytes,
    range: Range,
    resource: &Arc<Resource>,
    interest: &Interest,
    out: &mut Ingested,
) -> Result<(), MalformedRequest> {
    let (mut scope, mut schema_url, mut wrong_type) = (None, None, false);
    let mut r = Reader::within(body, range);
    while let Some((field, wt)) = r.next_field().map_err(at("scope_spans"))? {
        match (field, wt) {
            (1, WireType::Len) => scope = Some(r.len_range().map_err(at("scope"))?),
            (3, WireType::Len) => {
                schema_url = Some(r.len_range().map_err(at("scope_spans.schema_url"))?)
            }
            _ => {
                wrong_type |= field == 1 || field == 3;
                r.skip(wt).map_err(at("scope_spans"))?
            }
        }
    }
    let valid = !wrong_type
        && scope.is_none_or(|sc| validate::scope(body, sc).is_ok())
        && schema_url.is_none_or(|url| validate::utf8(body, url).is_ok());
    if !valid {
        return count_spans(body, range, Rejection::MalformedScope, out);
    }
    let scope = Arc::new(Scope {
        resource: resource.clone(),
        encoded: slice_or_empty(body, scope),
        schema_url: slice_or_empty(body, schema_url),
    });
    let mut r = Reader::within(body, range);
    while let Some((field, wt)) = r.next_field().map_err(at("scope_spans"))? {
        if field == 2 && wt == WireType::Len {
            let raw = r.len_range().map_err(at("span"))?;
            match span(body, raw, &scope, interest)? {
                Ok(s) => out.spans.push(s),
                Err(rej) => out.rejected.push(rej),
            }
        } else if field == 2 {
            // A span encoded as a number: that span alone is malformed.
            r.skip(wt).map_err(at("scope_spans"))?;
            out.rejected.push(Rejection::MalformedSpan);
        } else {
            r.skip(wt).map_err(at("scope_spans"))?;
        }
    }
    Ok(())
}

type SpanResult = Result<Result<(TraceId, Span), Rejection>, MalformedRequest>;

fn span(body: &Bytes, range: Range, scope: &Arc<Scope>, interest: &Interest) -> SpanResult {
    // The span's own bytes were delimited by a valid length: whatever is wrong inside them
    // concerns this span only, so it is rejected alone (OTLP partial success).
    match span_inner(body, range, scope, interest) {
        Ok(r) => Ok(r),
        Err(_) => Ok(Err(Rejection::MalformedSpan)),
    }
}

fn span_inner(body: &Bytes, range: Range, scope: &Arc<Scope>, interest: &Interest) -> SpanResult {
    let buf: &[u8] = body;
    let mut trace_id: Option<TraceId> = None;
    let mut bad_trace = false;
    let mut span_id_ok = false;
    let mut parent_len = 0usize;
    let (mut start, mut end) = (0u64, 0u64);
    let mut name_at = (0u32, 0u32);
    let (mut kind, mut status_code) = (0u8, status::UNSET);
    let mut picked = Vec::new();
    let mut trace_state_at = 0usize;
    let mut r = Reader::within(buf, range);
    while let Some((field, wt)) = r.next_field().map_err(at("span"))? {
        if validate::span_field_type(field).is_some_and(|t| t != wt) {
            return Ok(Err(Rejection::MalformedSpan));
        }
        match (field, wt) {
            (3, WireType::Len) => {
                let len_at = r.position();
                let (s, e) = r.len_range().map_err(at("span.trace_state"))?;
                validate::utf8(buf, (s, e)).map_err(at("span.trace_state"))?;
                trace_state_at = if s < e { len_at - range.0 } else { 0 };
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
                let (s, e) = r.len_range().map_err(at("span.name"))?;
                std::str::from_utf8(&buf[s..e]).map_err(|_| MalformedRequest {
                    what: "span.name",
                    source: WireError::Invalid("not valid UTF-8"),
                })?;
                name_at = ((s - range.0) as u32, (e - range.0) as u32);
            }
            (6, WireType::Varint) => kind = r.varint().map_err(at("span.kind"))?.min(255) as u8,
            (7, WireType::Fixed64) => {
                start = r.fixed64().map_err(at("span.start_time_unix_nano"))?
            }
            (8, WireType::Fixed64) => end = r.fixed64().map_err(at("span.end_time_unix_nano"))?,
            (9, WireType::Len) if !interest.span_keys.is_empty() => {
                let kv = r.len_range().map_err(at("span.attributes"))?;
                let (key, value) = key_value(body, kv).map_err(at("span.attributes"))?;
                if let Some(i) = lookup(&interest.span_keys, &buf[key.0..key.1]) {
                    picked.push((i, picked_value(body, value).map_err(at("span.attributes"))?));
                }
            }
            (15, WireType::Len) => {
                let st = r.len_range().map_err(at("span.status"))?;
                status_code = status_of(buf, st).map_err(at("span.status"))?;
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
    let span = Span::new(
        body.slice(range.0..range.1),
        scope.clone(),
        start,
        end,
        name_at,
        kind,
        status_code,
        parent_len == 0,
        boxed(picked),
    )
    .with_trace_state_at(trace_state_at);
    Ok(Ok((trace_id, span)))
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

/// An attribute value read in place: strings stay a byte range until picked.
enum RawValue {
    Str(usize, usize),
    Int(i64),
    Double(f64),
    Bool(bool),
    Other,
}

impl RawValue {
    fn to_attr(&self, body: &Bytes) -> AttrValue {
        match *self {
            RawValue::Str(s, e) => AttrValue::Str(body.slice(s..e)),
            RawValue::Int(i) => AttrValue::Int(i),
            RawValue::Double(d) => AttrValue::Double(d),
            RawValue::Bool(b) => AttrValue::Bool(b),
            RawValue::Other => AttrValue::Other,
        }
    }
}

/// Reads a `KeyValue` in place: the key's byte range and the value's (the value is decoded
/// only for keys the rules want, see [`any_value`]).
fn key_value(buf: &[u8], range: Range) -> Result<(Range, Option<Range>), WireError> {
    let mut key = (range.0, range.0);
    let mut value = None;
    let mut r = Reader::within(buf, range);
    while let Some((field, wt)) = r.next_field()? {
        match (field, wt) {
            (1, WireType::Len) => key = r.len_range()?,
            (2, WireType::Len) => value = Some(r.len_range()?),
            _ => r.skip(wt)?,
        }
    }
    Ok((key, value))
}

/// Decodes the value of a picked attribute.
fn picked_value(body: &Bytes, value: Option<Range>) -> Result<AttrValue, WireError> {
    match value {
        Some(v) => Ok(any_value(body, v)?.to_attr(body)),
        None => Ok(AttrValue::Other),
    }
}

fn any_value(buf: &[u8], range: Range) -> Result<RawValue, WireError> {
    let mut value = RawValue::Other;
    let mut r = Reader::within(buf, range);
    while let Some((field, wt)) = r.next_field()? {
        value = match (field, wt) {
            (1, WireType::Len) => {
                let (s, e) = r.len_range()?;
                RawValue::Str(s, e)
            }
            (2, WireType::Varint) => RawValue::Bool(r.varint()? != 0),
            (3, WireType::Varint) => RawValue::Int(r.varint()? as i64),
            (4, WireType::Fixed64) => RawValue::Double(f64::from_bits(r.fixed64()?)),
            _ => {
                r.skip(wt)?;
                RawValue::Other
            }
        };
    }
    Ok(value)
}
