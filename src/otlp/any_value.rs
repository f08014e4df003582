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
    match sdk_shaped(buf, range) {
        Some(kv) => Ok(kv),
        None => any_key_value(buf, range),
    }
}

/// [`key_value`] for the shape SDKs write, read without the field loop: the key (field 1) with
/// a one-byte length, then either nothing or the value (field 2) with a one- or two-byte length
/// ending the message. `None` for any other shape (which the field loop reads).
#[inline]
fn sdk_shaped(buf: &[u8], (start, end): Range) -> Option<(Range, Option<Range>)> {
    let b = buf.get(start..end)?;
    let (&tag, &key_len) = (b.first()?, b.get(1)?);
    if tag != 0x0a || key_len >= 0x80 {
        return None;
    }
    let key_end = 2 + key_len as usize;
    let key = (start + 2, start + key_end);
    if key_end == b.len() {
        return Some((key, None));
    }
    if *b.get(key_end)? != 0x12 {
        return None;
    }
    let (len, head) = match *b.get(key_end + 1)? {
        l if l < 0x80 => (l as usize, 2),
        l => {
            let h = *b.get(key_end + 2)?;
            if h >= 0x80 {
                return None;
            }
            (usize::from(l & 0x7f) | usize::from(h) << 7, 3)
        }
    };
    let value_start = key_end + head;
    if value_start + len != b.len() {
        return None;
    }
    Some((key, Some((start + value_start, start + b.len()))))
}

/// [`key_value`] for any encoding: fields in any order, repeated (the last wins), unknown.
fn any_key_value(buf: &[u8], range: Range) -> Result<(Range, Option<Range>), WireError> {
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

#[cfg(test)]
mod key_value_tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use prost::Message;

    fn kv(key: &str, value: Option<any_value::Value>) -> Vec<u8> {
        KeyValue {
            key: key.into(),
            value: value.map(|v| AnyValue { value: Some(v) }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    /// The shortcut reads what the field loop reads, for every shape: SDK-shaped pairs of
    /// every length class, and hand-made ones it must hand over (fields reversed or repeated,
    /// unknown fields, three-byte lengths, truncated bytes).
    #[test]
    fn the_sdk_shortcut_agrees_with_the_field_loop() {
        use any_value::Value;
        let mut cases = vec![];
        for key in [
            "",
            "k",
            &"k".repeat(127),
            &"k".repeat(128),
            &"k".repeat(300),
        ] {
            for value in [
                None,
                Some(Value::StringValue(String::new())),
                Some(Value::StringValue("v".into())),
                Some(Value::StringValue("v".repeat(125))),
                Some(Value::StringValue("v".repeat(126))),
                Some(Value::StringValue("v".repeat(16_000))),
                Some(Value::StringValue("v".repeat(20_000))),
                Some(Value::IntValue(-1)),
                Some(Value::DoubleValue(1.5)),
                Some(Value::BoolValue(true)),
            ] {
                cases.push(kv(key, value));
            }
        }
        let value = kv("", Some(Value::IntValue(7)));
        cases.push([&value[..], &kv("key", None)[..]].concat()); // value, then key
        cases.push([&kv("a", None)[..], &kv("b", None)[..]].concat()); // the key twice
        cases.push([&kv("a", Some(Value::IntValue(1)))[..], &value[..]].concat()); // value twice
        cases.push([&kv("a", None)[..], &[0x18, 0x01][..]].concat()); // an unknown field
        cases.push(vec![0x0a, 0x05, b'a']); // a key past the end
        cases.push(vec![0x0a, 0x01, b'a', 0x12, 0x05, 1]); // a value past the end
        cases.push(vec![0x0a, 0x01, b'a', 0x12]); // a value without its length
        cases.push(vec![0x0a]);
        cases.push(vec![]);
        for bytes in &cases {
            // Inside a larger buffer, so that the range's offsets are checked too.
            let buf = [&[0xff; 3][..], bytes, &[0xff; 2][..]].concat();
            let range = (3, 3 + bytes.len());
            let slow = any_key_value(&buf, range).ok();
            if let Some(fast) = sdk_shaped(&buf, range) {
                assert_eq!(Some(fast), slow, "{bytes:02x?}");
            }
            assert_eq!(key_value(&buf, range).ok(), slow, "{bytes:02x?}");
        }
        // SDK-shaped pairs take the shortcut.
        let plain = kv("prompt", Some(Value::StringValue("v".repeat(200))));
        assert!(sdk_shaped(&plain, (0, plain.len())).is_some());
    }
}
