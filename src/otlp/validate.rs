//! Structural checks of what ingest forwards without reading: every string is UTF-8, every
//! known field has its declared wire type, nesting is bounded. What passes decodes cleanly in
//! prost and Go protobuf (the stricter of the two where they differ: prost refuses a known
//! field of the wrong wire type, Go keeps it as unknown), so one client's malformed data can
//! never make a whole export batch (other clients' kept traces) undeliverable. The messages and
//! field numbers are those of the opentelemetry-proto crate 0.33 (`Resource.entity_refs`
//! included).
//!
//! Where each check runs:
//! - `Resource` (with its `entity_refs`), `InstrumentationScope` and both `schema_url`s: in full
//!   at ingest, once per request; a failure rejects that group's spans (partial success).
//! - `Span`: at ingest its own fields (wire types, ids, name and tracestate UTF-8); the rest
//!   (attributes, events, links, status) once the span is kept, before it joins an export batch
//!   (`Pipeline::push_kept`). Most spans are dropped by decision, and a check of every attribute
//!   costs about as much as the rest of ingest, so only kept spans pay for it. Checking before
//!   the batch, rather than only when a backend refuses one, does not depend on how a backend
//!   (or a proxy in front of it) answers an invalid batch: one answering with a retryable code
//!   would otherwise have the whole batch retried until it expires.
//! - Everything again in [`super::salvage`] when a backend refuses a batch anyway (a batch from
//!   elsewhere, or a check that missed what a backend refuses).

use super::wire::{Reader, WireError, WireType};

/// Deepest nesting of attribute values (arrays and maps inside values) accepted.
pub const MAX_DEPTH: u32 = 32;

type Range = (usize, usize);
type Check = Result<(), WireError>;

const BAD_UTF8: WireError = WireError::Invalid("a string is not valid UTF-8");
pub(crate) const BAD_TYPE: WireError = WireError::Invalid("a field has the wrong wire type");
const TOO_DEEP: WireError = WireError::Invalid("attribute values are nested too deeply");

#[inline]
pub fn utf8(buf: &[u8], (s, e): Range) -> Check {
    let b = &buf[s..e];
    // Most attribute strings are ASCII: a word-at-a-time check, no decoder.
    if b.is_ascii() || std::str::from_utf8(b).is_ok() {
        Ok(())
    } else {
        Err(BAD_UTF8)
    }
}

#[inline]
fn want(wt: WireType, expected: WireType) -> Check {
    if wt == expected {
        Ok(())
    } else {
        Err(BAD_TYPE)
    }
}

/// Walks a message, checking each field with `f(field, wire type, reader)`; `f` returns false
/// for fields it does not know, which are skipped whatever their type.
fn walk(
    buf: &[u8],
    range: Range,
    mut f: impl FnMut(u32, WireType, &mut Reader) -> Result<bool, WireError>,
) -> Check {
    let mut r = Reader::within(buf, range);
    while let Some((field, wt)) = r.next_field()? {
        if !f(field, wt, &mut r)? {
            r.skip(wt)?;
        }
    }
    Ok(())
}

/// A string field: length-delimited, UTF-8.
fn string(wt: WireType, r: &mut Reader, buf: &[u8]) -> Result<bool, WireError> {
    want(wt, WireType::Len)?;
    utf8(buf, r.len_range()?)?;
    Ok(true)
}

fn scalar(wt: WireType, expected: WireType, r: &mut Reader) -> Result<bool, WireError> {
    want(wt, expected)?;
    r.skip(wt)?;
    Ok(true)
}

fn nested(
    wt: WireType,
    r: &mut Reader,
    check: impl FnOnce(Range) -> Check,
) -> Result<bool, WireError> {
    want(wt, WireType::Len)?;
    check(r.len_range()?)?;
    Ok(true)
}

/// `KeyValue`.
pub fn key_value(buf: &[u8], range: Range, depth: u32) -> Check {
    if let Some(done) = simple_key_value(buf, range) {
        return done;
    }
    walk(buf, range, |field, wt, r| match field {
        1 => string(wt, r, buf),
        2 => nested(wt, r, |v| any_value(buf, v, depth + 1)),
        3 => scalar(wt, WireType::Varint, r),
        _ => Ok(false),
    })
}

/// The common shape `0a len key 12 len (0a len string | 10/18 varint | 21 fixed64)`, checked
/// without the general walk; `None` for any other shape.
#[inline]
fn simple_key_value(buf: &[u8], range: Range) -> Option<Check> {
    let mut r = Reader::within(buf, range);
    if r.next_field().ok()? != Some((1, WireType::Len)) {
        return None;
    }
    let key = r.len_range().ok()?;
    if r.next_field().ok()? != Some((2, WireType::Len)) {
        return None;
    }
    let value = r.len_range().ok()?;
    if r.next_field().ok()?.is_some() {
        return None;
    }
    let mut v = Reader::within(buf, value);
    let check = match v.next_field().ok()? {
        None => Ok(()),
        Some((1, WireType::Len)) => v.len_range().and_then(|s| utf8(buf, s)),
        Some((2 | 3, WireType::Varint)) => v.varint().map(drop),
        Some((4, WireType::Fixed64)) => v.fixed64().map(drop),
        _ => return None,
    };
    if check.is_ok() && v.next_field().ok()?.is_some() {
        return None;
    }
    Some(check.and_then(|_| utf8(buf, key)))
}

/// `AnyValue`.
pub fn any_value(buf: &[u8], range: Range, depth: u32) -> Check {
    if depth > MAX_DEPTH {
        return Err(TOO_DEEP);
    }
    walk(buf, range, |field, wt, r| match field {
        1 => string(wt, r, buf),
        2 | 3 => scalar(wt, WireType::Varint, r),
        4 => scalar(wt, WireType::Fixed64, r),
        5 => nested(wt, r, |a| {
            walk(buf, a, |f, wt, r| match f {
                1 => nested(wt, r, |v| any_value(buf, v, depth + 1)),
                _ => Ok(false),
            })
        }),
        6 => nested(wt, r, |m| {
            walk(buf, m, |f, wt, r| match f {
                1 => nested(wt, r, |kv| key_value(buf, kv, depth + 1)),
                _ => Ok(false),
            })
        }),
        7 => scalar(wt, WireType::Len, r),
        8 => scalar(wt, WireType::Varint, r),
        _ => Ok(false),
    })
}

/// `Span.Event`.
pub fn event(buf: &[u8], range: Range) -> Check {
    walk(buf, range, |field, wt, r| match field {
        1 => scalar(wt, WireType::Fixed64, r),
        2 => string(wt, r, buf),
        3 => nested(wt, r, |kv| key_value(buf, kv, 0)),
        4 => scalar(wt, WireType::Varint, r),
        _ => Ok(false),
    })
}

/// `Span.Link`.
pub fn link(buf: &[u8], range: Range) -> Check {
    walk(buf, range, |field, wt, r| match field {
        1 | 2 => scalar(wt, WireType::Len, r),
        3 => string(wt, r, buf),
        4 => nested(wt, r, |kv| key_value(buf, kv, 0)),
        5 => scalar(wt, WireType::Varint, r),
        6 => scalar(wt, WireType::Fixed32, r),
        _ => Ok(false),
    })
}

/// `Status`.
pub fn status(buf: &[u8], range: Range) -> Check {
    walk(buf, range, |field, wt, r| match field {
        1 | 3 => scalar(wt, WireType::Varint, r),
        2 => string(wt, r, buf),
        _ => Ok(false),
    })
}

/// `InstrumentationScope`.
pub fn scope(buf: &[u8], range: Range) -> Check {
    walk(buf, range, |field, wt, r| match field {
        1 | 2 => string(wt, r, buf),
        3 => nested(wt, r, |kv| key_value(buf, kv, 0)),
        4 => scalar(wt, WireType::Varint, r),
        _ => Ok(false),
    })
}

/// `Resource`.
pub fn resource(buf: &[u8], range: Range) -> Check {
    walk(buf, range, |field, wt, r| match field {
        1 => nested(wt, r, |kv| key_value(buf, kv, 0)),
        2 => scalar(wt, WireType::Varint, r),
        3 => nested(wt, r, |e| entity_ref(buf, e)),
        _ => Ok(false),
    })
}

/// `EntityRef` (`Resource.entity_refs`): `schema_url`, `type`, `id_keys`, `description_keys`,
/// all strings.
pub fn entity_ref(buf: &[u8], range: Range) -> Check {
    walk(buf, range, |field, wt, r| match field {
        1..=4 => string(wt, r, buf),
        _ => Ok(false),
    })
}

/// A whole encoded `Span`: its fields' wire types, and everything nested in it.
pub fn span(buf: &[u8]) -> Check {
    walk(buf, (0, buf.len()), |field, wt, r| {
        if let Some(t) = span_field_type(field) {
            want(wt, t)?;
        }
        match field {
            3 | 5 => string(wt, r, buf),
            9 => nested(wt, r, |kv| key_value(buf, kv, 0)),
            11 => nested(wt, r, |ev| event(buf, ev)),
            13 => nested(wt, r, |l| link(buf, l)),
            15 => nested(wt, r, |st| status(buf, st)),
            _ => Ok(false),
        }
    })
}

/// The wire type of each `Span` field, for the fields ingest reads itself.
pub fn span_field_type(field: u32) -> Option<WireType> {
    Some(match field {
        1..=5 | 9 | 11 | 13 | 15 => WireType::Len,
        6 | 10 | 12 | 14 => WireType::Varint,
        7 | 8 => WireType::Fixed64,
        16 => WireType::Fixed32,
        _ => return None,
    })
}
