//! The streaming OTLP/JSON to protobuf transcoder: serde visitors over `serde_json` that write
//! each field's protobuf encoding as it is read. No message is built in memory: the output is
//! about the size of the input or smaller, whatever the input holds.

use super::fields::{Field, Kind, Ty};
use super::scalar;
use crate::otlp::wire::{put_varint, varint_len};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Starts a length-delimited field: its key and a one-byte length placeholder. Returns where
/// its contents start.
fn begin(out: &mut Vec<u8>, num: u32) -> usize {
    put_varint(out, (u64::from(num) << 3) | 2);
    out.push(0);
    out.len()
}

/// Ends a field started by [`begin`]: writes its length, widening the placeholder if needed.
fn end(out: &mut Vec<u8>, start: usize) {
    let len = out.len() - start;
    if len < 0x80 {
        out[start - 1] = len as u8;
        return;
    }
    let mut prefix = Vec::with_capacity(varint_len(len as u64));
    put_varint(&mut prefix, len as u64);
    out.splice(start - 1..start, prefix);
}

/// A message: a JSON object whose known keys are written as fields, in the order read.
pub struct Msg<'o> {
    pub out: &'o mut Vec<u8>,
    pub kind: Kind,
}

impl<'de> DeserializeSeed<'de> for Msg<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Msg<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an OTLP {:?} object", self.kind)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut bad_parent = false;
        while let Some(field) = map.next_key_seed(Key(self.kind))? {
            match field {
                Some(field) => map.next_value_seed(Value {
                    out: &mut *self.out,
                    field,
                    bad_parent: &mut bad_parent,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if bad_parent {
            // An empty span id after every other: ingest rejects this span alone.
            self.out.extend_from_slice(&[0x12, 0x00]);
        }
        Ok(())
    }
}

/// A JSON key: the field it names, or `None` for a key to ignore.
struct Key(Kind);

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Option<&'static Field>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Option<&'static Field>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.field(key))
    }
}

/// A field's value; JSON `null` stands for an absent field.
struct Value<'o, 'p> {
    out: &'o mut Vec<u8>,
    field: &'static Field,
    bad_parent: &'p mut bool,
}

impl<'de> DeserializeSeed<'de> for Value<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Value<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a value for `{}`", self.field.camel)
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let (out, num) = (self.out, self.field.num);
        match self.field.ty {
            Ty::Msg(kind) => {
                let start = begin(out, num);
                d.deserialize_map(Msg {
                    out: &mut *out,
                    kind,
                })?;
                end(out, start);
                Ok(())
            }
            Ty::Repeated(kind) => d.deserialize_seq(Repeated { out, num, kind }),
            Ty::Strs => d.deserialize_seq(Strings { out, num }),
            _ => d.deserialize_any(scalar::Scalar {
                out,
                field: self.field,
                bad_parent: self.bad_parent,
            }),
        }
    }
}

/// A repeated message field: a JSON array of objects.
struct Repeated<'o> {
    out: &'o mut Vec<u8>,
    num: u32,
    kind: Kind,
}

impl<'de> Visitor<'de> for Repeated<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an array of OTLP {:?} objects", self.kind)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            let start = begin(self.out, self.num);
            let msg = Msg {
                out: &mut *self.out,
                kind: self.kind,
            };
            if seq.next_element_seed(msg)?.is_none() {
                // No element after all: take back the key and placeholder.
                self.out
                    .truncate(start - 1 - varint_len((u64::from(self.num) << 3) | 2));
                return Ok(());
            }
            end(self.out, start);
        }
    }
}

/// A repeated string field: a JSON array of strings.
struct Strings<'o> {
    out: &'o mut Vec<u8>,
    num: u32,
}

impl<'de> Visitor<'de> for Strings<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(OneString {
                out: &mut *self.out,
                num: self.num,
            })?
            .is_some()
        {}
        Ok(())
    }
}

/// One element of a repeated string: written even when empty.
struct OneString<'o> {
    out: &'o mut Vec<u8>,
    num: u32,
}

impl<'de> DeserializeSeed<'de> for OneString<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for OneString<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        scalar::put_bytes(self.out, self.num, s.as_bytes());
        Ok(())
    }
}
