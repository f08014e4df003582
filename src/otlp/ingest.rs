//! Lazy decoding of an `ExportTraceServiceRequest`: one pass that slices out each span's bytes
//! and decodes only the summary fields and the attributes the rules refer to.

use super::ingest_span::{key_value, picked_value, span};
use super::model::{AttrValue, Picked, Resource, Retained, RetainedBody, Scope};
use super::rejection::at;
pub use super::rejection::{Ingested, MalformedRequest, Rejection};
use super::validate;
use super::wire::{Reader, WireType};
use bytes::Bytes;
use std::sync::Arc;

/// Attribute keys that the loaded rules read; everything else stays encoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interest {
    pub(super) span_keys: Keys,
    resource_keys: Keys,
    /// Whether the rules read span events (kept in span summaries, see [`super::summary`]).
    span_events: bool,
    /// Whether the rules read spans' `flags` (kept in span summaries too).
    span_flags: bool,
}

impl Interest {
    /// Registers a span attribute key and returns its index.
    pub fn span_key(&mut self, key: &str) -> u16 {
        self.span_keys.intern(key)
    }
    /// Registers a resource attribute key and returns its index.
    pub fn resource_key(&mut self, key: &str) -> u16 {
        self.resource_keys.intern(key)
    }
    /// Registers that the rules read span events.
    pub fn want_span_events(&mut self) {
        self.span_events = true;
    }
    /// Whether the rules read span events.
    pub fn span_events(&self) -> bool {
        self.span_events
    }
    /// Registers that the rules read spans' `flags`.
    pub fn want_span_flags(&mut self) {
        self.span_flags = true;
    }
    /// Whether the rules read spans' `flags`.
    pub fn span_flags(&self) -> bool {
        self.span_flags
    }
}

/// A few attribute keys, and which lengths they have: most keys of a span are none of them,
/// and one bit test of their length says so without comparing bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Keys {
    keys: Vec<Box<[u8]>>,
    /// Bit `n` set: a key of `n` bytes (bit 63: of 63 bytes or more).
    lengths: u64,
}

impl Keys {
    fn intern(&mut self, key: &str) -> u16 {
        if let Some(i) = self.find(key.as_bytes()) {
            return i;
        }
        self.keys.push(key.as_bytes().into());
        self.lengths |= Self::bit(key.len());
        (self.keys.len() - 1) as u16
    }

    #[inline(always)]
    fn bit(len: usize) -> u64 {
        1 << len.min(63)
    }

    /// The index of `key`, if it is one of these.
    #[inline]
    pub(super) fn find(&self, key: &[u8]) -> Option<u16> {
        if self.lengths & Self::bit(key.len()) == 0 {
            return None;
        }
        self.keys.iter().position(|k| **k == *key).map(|i| i as u16)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A byte range of the request body.
pub(super) type Range = (usize, usize);

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
    ingest_leased(body, interest, retained, None)
}

/// [`ingest_retained`] for a body appended to the storage log: its spans hold `lease`.
pub fn ingest_leased(
    body: &Bytes,
    interest: &Interest,
    retained: Option<&Arc<Retained>>,
    lease: Option<Arc<crate::storage::Lease>>,
) -> Result<Ingested, MalformedRequest> {
    let mut out = Ingested::default();
    // Sized once from a quick walk of the framing, instead of growing span by span; never
    // more than valid spans could fill (invalid ones are not kept).
    out.spans
        .reserve_exact(span_count(body).min(body.len() / MIN_VALID_SPAN_BYTES));
    let guard = retained.map(|r| r.hold_leased(body.len(), lease));
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

/// The smallest encoding of a span ingest accepts, inside its scope: its key and length, a
/// 16-byte trace id and an 8-byte span id, each with its key and length.
pub(super) const MIN_VALID_SPAN_BYTES: usize = 2 + 18 + 10;

/// How many spans the request holds, by its framing alone (resource spans, scope spans, spans);
/// what is counted before a framing error, if any (the decoding pass reports the error).
fn span_count(body: &[u8]) -> usize {
    fn fields(buf: &[u8], range: Range, field: u32, mut f: impl FnMut(Range)) -> Option<()> {
        let mut r = Reader::within(buf, range);
        while let Some((n, wt)) = r.next_field().ok()? {
            if n == field && wt == WireType::Len {
                f(r.len_range().ok()?);
            } else {
                r.skip(wt).ok()?;
            }
        }
        Some(())
    }
    let mut n = 0;
    fields(body, (0, body.len()), 1, |rs| {
        fields(body, rs, 2, |ss| {
            fields(body, ss, 2, |_| n += 1);
        });
    });
    n
}

/// A container field (`resource_spans`, `scope_spans`) must be length-delimited: whatever else
/// the request holds cannot be told apart from broken framing.
pub(super) fn want(wt: WireType, what: &'static str) -> Result<(), MalformedRequest> {
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
    match group_resource(body, range, interest, guard)? {
        Some(resource) => each_scope_spans(body, range, |ss| {
            scope_spans(body, ss, &resource, interest, out)
        }),
        // A malformed resource concerns its group only: its spans are rejected, the request's
        // other groups go on (the group's own framing was checked, so its spans can be counted).
        None => reject_group(body, range, Rejection::MalformedResource, out),
    }
}

/// The resource the spans of the `ResourceSpans` at `range` share, or `None` when it (or the
/// group's `schema_url`) is not valid: then every span of the group is rejected.
pub(super) fn group_resource(
    body: &Bytes,
    range: Range,
    interest: &Interest,
    guard: &Option<Arc<RetainedBody>>,
) -> Result<Option<Arc<Resource>>, MalformedRequest> {
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
    let valid = !wrong_type
        && resource.is_none_or(|res| validate::resource(body, res).is_ok())
        && schema_url.is_none_or(|url| validate::utf8(body, url).is_ok());
    if !valid {
        return Ok(None);
    }
    let (service, attrs) = match resource {
        Some(res) => resource_summary(body, res, interest)?,
        None => (None, Picked::new()),
    };
    Ok(Some(Arc::new(Resource {
        body: body.clone(),
        encoded: slice_or_empty(body, resource),
        schema_url: slice_or_empty(body, schema_url),
        service,
        attrs,
        retained: guard.clone(),
    })))
}

/// Calls `f` with the range of each `ScopeSpans` of the `ResourceSpans` at `range`.
pub(super) fn each_scope_spans(
    body: &[u8],
    range: Range,
    mut f: impl FnMut(Range) -> Result<(), MalformedRequest>,
) -> Result<(), MalformedRequest> {
    let mut r = Reader::within(body, range);
    while let Some((field, wt)) = r.next_field().map_err(at("resource_spans"))? {
        if field == 2 && wt == WireType::Len {
            f(r.len_range().map_err(at("scope_spans"))?)?;
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
    each_scope_spans(body, range, |ss| count_spans(body, ss, why, out))
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

pub(super) fn resource_summary(
    body: &Bytes,
    range: Range,
    interest: &Interest,
) -> Result<(Option<Bytes>, Picked), MalformedRequest> {
    let mut service = None;
    let mut picked = Picked::new();
    let mut r = Reader::within(body, range);
    while let Some((field, wt)) = r.next_field().map_err(at("resource"))? {
        if field == 1 && wt == WireType::Len {
            let kv = r.len_range().map_err(at("resource.attributes"))?;
            let (key, value) = key_value(body, kv).map_err(at("resource.attributes"))?;
            let key = &body[key.0..key.1];
            let pick = interest.resource_keys.find(key);
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
    Ok((service, picked))
}

fn scope_spans(
    body: &Bytes,
    range: Range,
    resource: &Arc<Resource>,
    interest: &Interest,
    out: &mut Ingested,
) -> Result<(), MalformedRequest> {
    let Some(scope) = group_scope(body, range, resource)? else {
        return count_spans(body, range, Rejection::MalformedScope, out);
    };
    let mut attrs = Vec::new();
    let mut r = Reader::within(body, range);
    while let Some((field, wt)) = r.next_field().map_err(at("scope_spans"))? {
        if field == 2 && wt == WireType::Len {
            let raw = r.len_range().map_err(at("span"))?;
            match span(body, raw, &scope, interest, &mut attrs)? {
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
    scope.set_span_attrs(attrs);
    Ok(())
}

/// The scope the spans of the `ScopeSpans` at `range` share, or `None` when it (or the
/// `schema_url`) is not valid: then every span of it is rejected.
pub(super) fn group_scope(
    body: &Bytes,
    range: Range,
    resource: &Arc<Resource>,
) -> Result<Option<Arc<Scope>>, MalformedRequest> {
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
        return Ok(None);
    }
    Ok(Some(Arc::new(Scope::new(
        resource.clone(),
        slice_or_empty(body, scope),
        slice_or_empty(body, schema_url),
    ))))
}
