//! Span fields that only some policies read, decoded from the span's encoded bytes when a trace
//! is decided (nothing is added to the per-span summary): `flags` and events; and the W3C
//! tracestate lookup of the `trace_state` policy (the raw value comes from
//! [`crate::otlp::Span::trace_state`]).

use crate::otlp::any_value::{self, ValueAt};
use crate::otlp::wire::{Reader, WireError, WireType};

/// The span's `flags` (field 16, fixed32), 0 when absent.
pub fn flags(raw: &[u8]) -> u32 {
    let mut r = Reader::new(raw);
    while let Ok(Some((field, wt))) = r.next_field() {
        if field == 16 && wt == WireType::Fixed32 {
            return r.fixed32().unwrap_or(0);
        }
        if r.skip(wt).is_err() {
            break;
        }
    }
    0
}

/// A decoded attribute value borrowed from the encoded span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RawValue<'a> {
    Str(&'a str),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// Arrays, maps, bytes, empty values.
    Other,
}

/// One span event: its name and its attributes, borrowed from the encoded span.
#[derive(Debug, Default)]
pub struct Event<'a> {
    pub name: &'a str,
    pub attrs: Vec<(&'a [u8], RawValue<'a>)>,
}

impl<'a> Event<'a> {
    pub fn attr(&self, key: &[u8]) -> Option<RawValue<'a>> {
        self.attrs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// The span's events (field 11). A malformed event ends the list.
pub fn events(raw: &[u8]) -> Vec<Event<'_>> {
    let mut out = Vec::new();
    let mut r = Reader::new(raw);
    while let Ok(Some((field, wt))) = r.next_field() {
        if field == 11 && wt == WireType::Len {
            match r.len_range().and_then(|range| event(raw, range)) {
                Ok(e) => out.push(e),
                Err(_) => break,
            }
        } else if r.skip(wt).is_err() {
            break;
        }
    }
    out
}

fn event(buf: &[u8], range: (usize, usize)) -> Result<Event<'_>, WireError> {
    let mut e = Event::default();
    let mut r = Reader::within(buf, range);
    while let Some((field, wt)) = r.next_field()? {
        match (field, wt) {
            (2, WireType::Len) => e.name = std::str::from_utf8(r.slice()?).unwrap_or(""),
            (3, WireType::Len) => {
                let kv = r.len_range()?;
                e.attrs.push(key_value(buf, kv)?);
            }
            _ => r.skip(wt)?,
        }
    }
    Ok(e)
}

fn key_value(buf: &[u8], range: (usize, usize)) -> Result<(&[u8], RawValue<'_>), WireError> {
    let (key, value) = any_value::key_value(buf, range)?;
    let value = match value {
        Some(v) => match any_value::any_value(buf, v)? {
            ValueAt::Str(s, e) => std::str::from_utf8(&buf[s..e])
                .map(RawValue::Str)
                .unwrap_or(RawValue::Other),
            ValueAt::Int(i) => RawValue::Int(i),
            ValueAt::Double(d) => RawValue::Double(d),
            ValueAt::Bool(b) => RawValue::Bool(b),
            ValueAt::Other => RawValue::Other,
        },
        None => RawValue::Other,
    };
    Ok((&buf[key.0..key.1], value))
}

/// Looks `key` up in a W3C tracestate header value (`k1=v1,k2=v2`). A malformed header (bad
/// key or value, duplicate key, more than 32 members) yields `None`, as the Collector's parser
/// (go.opentelemetry.io/otel/trace.ParseTraceState) rejects it as a whole.
pub fn trace_state_get<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let mut found = None;
    let mut keys: Vec<&str> = Vec::new();
    for member in header.split(',') {
        if member.trim_matches([' ', '\t']).is_empty() {
            continue;
        }
        let (k, v) = member.split_once('=')?;
        let k = k.trim_start_matches([' ', '\t']);
        let v = v.trim_end_matches([' ', '\t']);
        if !valid_key(k) || !valid_value(v) || keys.contains(&k) {
            return None;
        }
        keys.push(k);
        if keys.len() > 32 {
            return None;
        }
        if k == key {
            found = Some(v);
        }
    }
    found
}

fn valid_key(k: &str) -> bool {
    let simple = |s: &str, max: usize| {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= max
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter().all(|&c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, b'_' | b'-' | b'*' | b'/')
            })
    };
    match k.split_once('@') {
        None => simple(k, 256) && k.as_bytes()[0].is_ascii_lowercase(),
        Some((tenant, system)) => {
            simple(tenant, 241) && simple(system, 14) && system.as_bytes()[0].is_ascii_lowercase()
        }
    }
}

fn valid_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && !v.ends_with(' ')
        && v.bytes()
            .all(|c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracestate_lookup() {
        assert_eq!(trace_state_get("key3=value1", "key3"), Some("value1"));
        assert_eq!(
            trace_state_get("a=1, key3=value2 ,b=2", "key3"),
            Some("value2")
        );
        assert_eq!(
            trace_state_get("ot=th:8;rv:ab,vendor@sys=x", "ot"),
            Some("th:8;rv:ab")
        );
        assert_eq!(trace_state_get("a=1", "key3"), None);
        assert_eq!(trace_state_get("", "key3"), None);
        // Malformed headers are rejected as a whole.
        assert_eq!(trace_state_get("key3=value1,Bad=2", "key3"), None);
        assert_eq!(trace_state_get("key3=value1,key3=value2", "key3"), None);
        assert_eq!(trace_state_get("key3", "key3"), None);
    }
}
