//! Lazy decoding of an `ExportTraceServiceRequest`: one pass that slices out each span's bytes
//! and decodes only the summary fields and the attributes the rules refer to.

use super::model::{status, AttrValue, Picked, Resource, Scope, Span, TraceId};
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
}

impl Rejection {
    pub fn reason(self) -> &'static str {
        match self {
            Rejection::InvalidTraceId => "invalid_trace_id",
            Rejection::InvalidSpanId => "invalid_span_id",
        }
    }
}

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
        let bad_trace = self
            .rejected
            .iter()
            .filter(|r| **r == Rejection::InvalidTraceId)
            .count();
        let bad_span = self.rejected.len() - bad_trace;
        let mut parts = Vec::new();
        if bad_trace > 0 {
            parts.push(format!(
                "{bad_trace} span(s) with an invalid trace id (must be 16 bytes, not all zero)"
            ));
        }
        if bad_span > 0 {
            parts.push(format!(
                "{bad_span} span(s) with an invalid span id (must be 8 bytes, not all zero)"
            ));
        }
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

/// Decodes one encoded `ExportTraceServiceRequest`.
pub fn ingest(body: &Bytes, interest: &Interest) -> Result<Ingested, MalformedRequest> {
    let mut out = Ingested::default();
    let mut r = Reader::new(body);
    while let Some((field, wt)) = r.next_field().map_err(at("request"))? {
        if field == 1 && wt == WireType::Len {
            let rs = r.bytes().map_err(at("resource_spans"))?;
            resource_spans(&rs, interest, &mut out)?;
        } else {
            r.skip(wt).map_err(at("request"))?;
        }
    }
    Ok(out)
}

fn resource_spans(
    buf: &Bytes,
    interest: &Interest,
    out: &mut Ingested,
) -> Result<(), MalformedRequest> {
    // The resource and schema_url may come after the scope spans, so find them first.
    let mut resource = Bytes::new();
    let mut schema_url = Bytes::new();
    let mut r = Reader::new(buf);
    while let Some((field, wt)) = r.next_field().map_err(at("resource_spans"))? {
        match (field, wt) {
            (1, WireType::Len) => resource = r.bytes().map_err(at("resource"))?,
            (3, WireType::Len) => {
                schema_url = r.bytes().map_err(at("resource_spans.schema_url"))?
            }
            _ => r.skip(wt).map_err(at("resource_spans"))?,
        }
    }
    let (service, attrs) = resource_summary(&resource, interest)?;
    let resource = Arc::new(Resource {
        encoded: resource,
        schema_url,
        service,
        attrs,
    });
    let mut r = Reader::new(buf);
    while let Some((field, wt)) = r.next_field().map_err(at("resource_spans"))? {
        if field == 2 && wt == WireType::Len {
            let ss = r.bytes().map_err(at("scope_spans"))?;
            scope_spans(&ss, &resource, interest, out)?;
        } else {
            r.skip(wt).map_err(at("resource_spans"))?;
        }
    }
    Ok(())
}

fn resource_summary(
    buf: &Bytes,
    interest: &Interest,
) -> Result<(Option<Bytes>, Picked), MalformedRequest> {
    let mut service = None;
    let mut picked = Vec::new();
    let mut r = Reader::new(buf);
    while let Some((field, wt)) = r.next_field().map_err(at("resource"))? {
        if field == 1 && wt == WireType::Len {
            let kv = r.bytes().map_err(at("resource.attributes"))?;
            let (key, value) = key_value(&kv).map_err(at("resource.attributes"))?;
            if &key[..] == b"service.name" {
                if let AttrValue::Str(s) = &value {
                    service = Some(s.clone());
                }
            }
            if let Some(i) = lookup(&interest.resource_keys, &key) {
                picked.push((i, value));
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
    buf: &Bytes,
    resource: &Arc<Resource>,
    interest: &Interest,
    out: &mut Ingested,
) -> Result<(), MalformedRequest> {
    let mut scope = Bytes::new();
    let mut schema_url = Bytes::new();
    let mut r = Reader::new(buf);
    while let Some((field, wt)) = r.next_field().map_err(at("scope_spans"))? {
        match (field, wt) {
            (1, WireType::Len) => scope = r.bytes().map_err(at("scope"))?,
            (3, WireType::Len) => schema_url = r.bytes().map_err(at("scope_spans.schema_url"))?,
            _ => r.skip(wt).map_err(at("scope_spans"))?,
        }
    }
    let scope = Arc::new(Scope {
        resource: resource.clone(),
        encoded: scope,
        schema_url,
    });
    let mut r = Reader::new(buf);
    while let Some((field, wt)) = r.next_field().map_err(at("scope_spans"))? {
        if field == 2 && wt == WireType::Len {
            let raw = r.bytes().map_err(at("span"))?;
            match span(raw, &scope, interest)? {
                Ok(s) => out.spans.push(s),
                Err(rej) => out.rejected.push(rej),
            }
        } else {
            r.skip(wt).map_err(at("scope_spans"))?;
        }
    }
    Ok(())
}

type SpanResult = Result<Result<(TraceId, Span), Rejection>, MalformedRequest>;

fn span(raw: Bytes, scope: &Arc<Scope>, interest: &Interest) -> SpanResult {
    let mut trace_id: Option<TraceId> = None;
    let mut bad_trace = false;
    let mut span_id_ok = false;
    let mut parent_len = 0usize;
    let (mut start, mut end) = (0u64, 0u64);
    let mut name_at = (0u32, 0u32);
    let (mut kind, mut status_code) = (0u8, status::UNSET);
    let mut picked = Vec::new();
    let mut r = Reader::new(&raw);
    while let Some((field, wt)) = r.next_field().map_err(at("span"))? {
        match (field, wt) {
            (1, WireType::Len) => {
                let (s, e) = r.len_range().map_err(at("span.trace_id"))?;
                match <TraceId>::try_from(&raw[s..e]) {
                    Ok(id) if id != [0; 16] => trace_id = Some(id),
                    _ => bad_trace = true,
                }
            }
            (2, WireType::Len) => {
                let (s, e) = r.len_range().map_err(at("span.span_id"))?;
                span_id_ok = e - s == 8 && raw[s..e] != [0; 8];
            }
            (4, WireType::Len) => {
                let (s, e) = r.len_range().map_err(at("span.parent_span_id"))?;
                parent_len = e - s;
            }
            (5, WireType::Len) => {
                let (s, e) = r.len_range().map_err(at("span.name"))?;
                std::str::from_utf8(&raw[s..e]).map_err(|_| MalformedRequest {
                    what: "span.name",
                    source: WireError::Invalid("not valid UTF-8"),
                })?;
                name_at = (s as u32, e as u32);
            }
            (6, WireType::Varint) => kind = r.varint().map_err(at("span.kind"))?.min(255) as u8,
            (7, WireType::Fixed64) => {
                start = r.fixed64().map_err(at("span.start_time_unix_nano"))?
            }
            (8, WireType::Fixed64) => end = r.fixed64().map_err(at("span.end_time_unix_nano"))?,
            (9, WireType::Len) if !interest.span_keys.is_empty() => {
                let kv = r.bytes().map_err(at("span.attributes"))?;
                let (key, value) = key_value(&kv).map_err(at("span.attributes"))?;
                if let Some(i) = lookup(&interest.span_keys, &key) {
                    picked.push((i, value));
                }
            }
            (15, WireType::Len) => {
                let st = r.bytes().map_err(at("span.status"))?;
                status_code = status_of(&st).map_err(at("span.status"))?;
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
        raw.clone(),
        scope.clone(),
        start,
        end,
        name_at,
        kind,
        status_code,
        parent_len == 0,
        boxed(picked),
    );
    Ok(Ok((trace_id, span)))
}

fn status_of(buf: &Bytes) -> Result<u8, WireError> {
    let mut code = status::UNSET;
    let mut r = Reader::new(buf);
    while let Some((field, wt)) = r.next_field()? {
        if field == 3 && wt == WireType::Varint {
            code = r.varint()?.min(255) as u8;
        } else {
            r.skip(wt)?;
        }
    }
    Ok(code)
}

/// Decodes a `KeyValue`: its key bytes and a summary of its value.
fn key_value(buf: &Bytes) -> Result<(Bytes, AttrValue), WireError> {
    let mut key = Bytes::new();
    let mut value = AttrValue::Other;
    let mut r = Reader::new(buf);
    while let Some((field, wt)) = r.next_field()? {
        match (field, wt) {
            (1, WireType::Len) => key = r.bytes()?,
            (2, WireType::Len) => value = any_value(&r.bytes()?)?,
            _ => r.skip(wt)?,
        }
    }
    Ok((key, value))
}

fn any_value(buf: &Bytes) -> Result<AttrValue, WireError> {
    let mut value = AttrValue::Other;
    let mut r = Reader::new(buf);
    while let Some((field, wt)) = r.next_field()? {
        value = match (field, wt) {
            (1, WireType::Len) => AttrValue::Str(r.bytes()?),
            (2, WireType::Varint) => AttrValue::Bool(r.varint()? != 0),
            (3, WireType::Varint) => AttrValue::Int(r.varint()? as i64),
            (4, WireType::Fixed64) => AttrValue::Double(f64::from_bits(r.fixed64()?)),
            _ => {
                r.skip(wt)?;
                AttrValue::Other
            }
        };
    }
    Ok(value)
}
