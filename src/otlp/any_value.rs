//! `KeyValue` and `AnyValue` read in place over encoded bytes: the one decoding of attribute
//! values, used by ingest (picked attributes) and by the Collector policies (span events).

use super::wire::{Reader, WireError, WireType};

/// A byte range of an encoded message.
pub type Range = (usize, usize);

/// An `AnyValue` read in place: a string stays a byte range (not yet checked as UTF-8).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueAt {
    Str(usize, usize),
    Int(i64),
    Double(f64),
    Bool(bool),
    /// Arrays, maps, bytes and empty values.
    Other,
}

/// Reads a `KeyValue` in place: the key's byte range and the value's (decode the value with
/// [`any_value`] only when the key is wanted).
#[inline]
pub fn key_value(buf: &[u8], range: Range) -> Result<(Range, Option<Range>), WireError> {
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

/// Decodes the `AnyValue` at `range`; the last value field wins, as in protobuf.
#[inline]
pub fn any_value(buf: &[u8], range: Range) -> Result<ValueAt, WireError> {
    let mut value = ValueAt::Other;
    let mut r = Reader::within(buf, range);
    while let Some((field, wt)) = r.next_field()? {
        value = match (field, wt) {
            (1, WireType::Len) => {
                let (s, e) = r.len_range()?;
                ValueAt::Str(s, e)
            }
            (2, WireType::Varint) => ValueAt::Bool(r.varint()? != 0),
            (3, WireType::Varint) => ValueAt::Int(r.varint()? as i64),
            (4, WireType::Fixed64) => ValueAt::Double(f64::from_bits(r.fixed64()?)),
            _ => {
                r.skip(wt)?;
                ValueAt::Other
            }
        };
    }
    Ok(value)
}
