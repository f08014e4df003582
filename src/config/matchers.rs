//! Deserialization of the flexible matcher forms: `name: x`, `name: [x, y]`, `name: { regex: ... }`,
//! and attribute values `{ exists: true }`, `{ min: N, max: N }`; `x` or `[x, y]` for
//! [`OneOrMany`]; and optional keys that must not be left empty.

use super::schema::{OneOrMany, Scalar, StringMatcher, ValueMatcher};
use serde::de::value::SeqAccessDeserializer;
use serde::de::{Deserializer, Error, IntoDeserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_yaml::Value;
use std::fmt;
use std::marker::PhantomData;

/// Compiles a config regex to match the whole string, as the config documents (validation and
/// the rules use this one function, so what validates is what runs). Matching runs on bytes:
/// names and values were validated as UTF-8 once, at ingest.
pub fn whole(re: &str) -> Result<regex::bytes::Regex, regex::Error> {
    regex::bytes::Regex::new(&format!("^(?:{re})$"))
}

fn scalar(v: &Value) -> Result<Scalar, String> {
    match v {
        Value::String(s) => Ok(Scalar::Str(s.clone())),
        Value::Bool(b) => Ok(Scalar::Bool(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(Scalar::Int(i))
            } else if let Some(f) = n.as_f64() {
                Ok(Scalar::Float(f))
            } else {
                Err(format!("number `{n}` is out of range"))
            }
        }
        Value::Null => Err("a value is required here, not null".into()),
        _ => Err("expected a string, number or boolean".into()),
    }
}

impl<'de> Deserialize<'de> for StringMatcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match v {
            Value::String(s) => Ok(StringMatcher::Exact(s)),
            Value::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(s) => out.push(s),
                        _ => {
                            return Err(D::Error::custom("every item of the list must be a string"))
                        }
                    }
                }
                if out.is_empty() {
                    return Err(D::Error::custom("the list of names is empty"));
                }
                Ok(StringMatcher::OneOf(out))
            }
            Value::Mapping(m) => {
                let mut regex = None;
                for (k, val) in m {
                    match (k.as_str(), val) {
                        (Some("regex"), Value::String(r)) => regex = Some(r),
                        (Some("regex"), _) => {
                            return Err(D::Error::custom("`regex` must be a string"))
                        }
                        (Some(other), _) => {
                            return Err(D::Error::custom(format!(
                                "unknown key `{other}`, expected `regex`"
                            )))
                        }
                        (None, _) => return Err(D::Error::custom("keys must be strings")),
                    }
                }
                regex
                    .map(StringMatcher::Regex)
                    .ok_or_else(|| D::Error::custom("expected `{ regex: ... }`"))
            }
            _ => Err(D::Error::custom(
                "expected a string, a list of strings, or `{ regex: ... }`",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for ValueMatcher {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        match &v {
            Value::Sequence(items) => {
                if items.is_empty() {
                    return Err(D::Error::custom("the list of values is empty"));
                }
                items
                    .iter()
                    .map(scalar)
                    .collect::<Result<Vec<_>, _>>()
                    .map(ValueMatcher::OneOf)
                    .map_err(D::Error::custom)
            }
            Value::Mapping(m) => {
                let (mut exists, mut regex, mut min, mut max) = (None, None, None, None);
                for (k, val) in m {
                    let key = k
                        .as_str()
                        .ok_or_else(|| D::Error::custom("keys must be strings"))?;
                    match key {
                        "exists" => {
                            exists = Some(val.as_bool().ok_or_else(|| {
                                D::Error::custom("`exists` must be true or false")
                            })?)
                        }
                        "regex" => {
                            regex = Some(
                                val.as_str()
                                    .ok_or_else(|| D::Error::custom("`regex` must be a string"))?
                                    .to_string(),
                            )
                        }
                        "min" => {
                            min = Some(val.as_f64().ok_or_else(|| D::Error::custom("`min` must be a number"))?)
                        }
                        "max" => {
                            max = Some(val.as_f64().ok_or_else(|| D::Error::custom("`max` must be a number"))?)
                        }
                        other => {
                            return Err(D::Error::custom(format!(
                                "unknown key `{other}`, expected one of `exists`, `regex`, `min`, `max`"
                            )))
                        }
                    }
                }
                let forms = exists.is_some() as u8
                    + regex.is_some() as u8
                    + (min.is_some() || max.is_some()) as u8;
                if forms != 1 {
                    return Err(D::Error::custom(
                        "use exactly one of `{ exists: ... }`, `{ regex: ... }` or `{ min: ..., max: ... }`",
                    ));
                }
                if let (Some(lo), Some(hi)) = (min, max) {
                    if lo > hi {
                        return Err(D::Error::custom(format!(
                            "`min` ({lo}) is greater than `max` ({hi})"
                        )));
                    }
                }
                Ok(if let Some(e) = exists {
                    ValueMatcher::Exists(e)
                } else if let Some(r) = regex {
                    ValueMatcher::Regex(r)
                } else {
                    ValueMatcher::Range { min, max }
                })
            }
            other => scalar(other)
                .map(ValueMatcher::Exact)
                .map_err(D::Error::custom),
        }
    }
}

/// For an optional key whose absence means something (a rule without `when` matches every
/// trace): `when:` written with nothing after it is a mistake, not the same as leaving it out.
/// Use with `#[serde(default, deserialize_with = "...")]`.
pub(super) fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<T>::deserialize(d)? {
        Some(v) => Ok(Some(v)),
        None => Err(D::Error::custom(
            "empty value: give a condition here, or leave the key out to match every trace",
        )),
    }
}

/// A scalar becomes `One`, a list `Many`. Unlike `#[serde(untagged)]`, a bad value reports the
/// inner type's own error (e.g. "unknown variant `erorr`, expected one of `unset`, `ok`, `error`").
impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                Vec::<T>::deserialize(SeqAccessDeserializer::new(seq)).map(OneOrMany::Many)
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_bool<E: Error>(self, v: bool) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
            fn visit_f64<E: Error>(self, v: f64) -> Result<Self::Value, E> {
                T::deserialize(v.into_deserializer()).map(OneOrMany::One)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}
