//! Scalar fields of OTLP/JSON written as protobuf: ids in hex, 64-bit integers as strings or
//! numbers, enums as numbers or names, doubles with `"NaN"`/`"Infinity"`, bytes in base64.
//! Defaults are omitted as proto3 encoders do, except in `AnyValue`'s oneof.

use super::fields::{Field, Ty};
use crate::otlp::wire::put_varint;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::de::{self, Visitor};
use std::fmt;

const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const LEN: u64 = 2;
const FIXED32: u64 = 5;

fn key(out: &mut Vec<u8>, num: u32, wt: u64) {
    put_varint(out, (u64::from(num) << 3) | wt);
}

/// A length-delimited field holding `b`.
pub fn put_bytes(out: &mut Vec<u8>, num: u32, b: &[u8]) {
    key(out, num, LEN);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// The value of one scalar field, written as it is read.
pub struct Scalar<'o, 'p> {
    pub out: &'o mut Vec<u8>,
    pub field: &'static Field,
    pub bad_parent: &'p mut bool,
}

/// A JSON number or numeric string, before it meets its field's type.
enum Num {
    U(u64),
    I(i64),
    F(f64),
}

fn invalid<E: de::Error>(field: &Field, what: impl fmt::Display) -> E {
    E::custom(format_args!("`{}`: {what}", field.camel))
}

impl Scalar<'_, '_> {
    fn invalid<E: de::Error>(&self, what: impl fmt::Display) -> E {
        invalid(self.field, what)
    }

    fn number<E: de::Error>(self, n: Num) -> Result<(), E> {
        let (out, field) = (self.out, self.field);
        let num = field.num;
        let int = |n: &Num| -> Option<i128> {
            match *n {
                Num::U(u) => Some(i128::from(u)),
                Num::I(i) => Some(i128::from(i)),
                Num::F(f) if f.fract() == 0.0 && f.abs() < 1.9e19 => Some(f as i128),
                Num::F(_) => None,
            }
        };
        let ranged = |lo: i128, hi: i128| {
            int(&n)
                .filter(|v| (lo..=hi).contains(v))
                .ok_or_else(|| invalid::<E>(field, "out of range or not an integer"))
        };
        match field.ty {
            Ty::Fixed64 => {
                let v = ranged(0, u64::MAX.into())? as u64;
                if v != 0 {
                    key(out, num, FIXED64);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Ty::Fixed32 => {
                let v = ranged(0, u32::MAX.into())? as u32;
                if v != 0 {
                    key(out, num, FIXED32);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Ty::Uint32 => {
                let v = ranged(0, u32::MAX.into())? as u64;
                if v != 0 {
                    key(out, num, VARINT);
                    put_varint(out, v);
                }
            }
            Ty::Int32 | Ty::Enum(_) | Ty::OneInt32 => {
                let v = ranged(i32::MIN.into(), i32::MAX.into())? as i64;
                if v != 0 || field.ty == Ty::OneInt32 {
                    key(out, num, VARINT);
                    put_varint(out, v as u64);
                }
            }
            Ty::OneInt64 => {
                let v = ranged(i64::MIN.into(), i64::MAX.into())? as i64;
                key(out, num, VARINT);
                put_varint(out, v as u64);
            }
            Ty::OneDouble => {
                let v = match n {
                    Num::U(u) => u as f64,
                    Num::I(i) => i as f64,
                    Num::F(f) => f,
                };
                key(out, num, FIXED64);
                out.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            _ => return Err(invalid(field, "a number is not valid here")),
        }
        Ok(())
    }

    fn string<E: de::Error>(self, s: &str) -> Result<(), E> {
        let num = self.field.num;
        match self.field.ty {
            Ty::Str => {
                if !s.is_empty() {
                    put_bytes(self.out, num, s.as_bytes());
                }
            }
            Ty::OneStr => put_bytes(self.out, num, s.as_bytes()),
            Ty::SpanId | Ty::LinkId => match hex(s) {
                Some(id) if !id.is_empty() => put_bytes(self.out, num, &id),
                Some(_) => {}
                None => put_bytes(self.out, num, &[]),
            },
            Ty::ParentId => match hex(s) {
                Some(id) if !id.is_empty() => put_bytes(self.out, num, &id),
                Some(_) => {}
                None => *self.bad_parent = true,
            },
            Ty::OneBytes => {
                let b = base64(s).ok_or_else(|| self.invalid("not valid base64"))?;
                put_bytes(self.out, num, &b);
            }
            Ty::Enum(names) => {
                if let Some(&(_, v)) = names.iter().find(|(name, _)| *name == s) {
                    return self.number(Num::I(v.into()));
                }
                return self.numeric_string(s);
            }
            Ty::OneDouble => {
                let special = match s {
                    "NaN" => Some(f64::NAN),
                    "Infinity" => Some(f64::INFINITY),
                    "-Infinity" => Some(f64::NEG_INFINITY),
                    _ => None,
                };
                return match special {
                    Some(f) => self.number(Num::F(f)),
                    None => self.numeric_string(s),
                };
            }
            _ => return self.numeric_string(s),
        }
        Ok(())
    }

    /// A number written as a JSON string (64-bit integers are, by the proto3 JSON rules).
    fn numeric_string<E: de::Error>(self, s: &str) -> Result<(), E> {
        let n = if let Ok(u) = s.parse::<u64>() {
            Num::U(u)
        } else if let Ok(i) = s.parse::<i64>() {
            Num::I(i)
        } else if let Ok(f) = s.parse::<f64>().map_err(drop).and_then(finite) {
            Num::F(f)
        } else {
            return Err(self.invalid(format_args!("{s:?} is not a number")));
        };
        self.number(n)
    }
}

fn finite(f: f64) -> Result<f64, ()> {
    if f.is_finite() {
        Ok(f)
    } else {
        Err(())
    }
}

/// Lowercase or uppercase hex; `None` when not hex.
fn hex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}

/// Standard or URL-safe base64, padded or not (as proto3 JSON parsers accept).
fn base64(s: &str) -> Option<Vec<u8>> {
    const CFG: GeneralPurposeConfig =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CFG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CFG);
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).ok()
}

impl<'de> Visitor<'de> for Scalar<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a value for `{}`", self.field.camel)
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        match self.field.ty {
            Ty::OneBool => {
                key(self.out, self.field.num, VARINT);
                self.out.push(b as u8);
                Ok(())
            }
            _ => Err(self.invalid("a boolean is not valid here")),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.number(Num::U(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.number(Num::I(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.number(Num::F(v))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        self.string(s)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}
