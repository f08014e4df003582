//! Values written the way the Collector's YAML loader reads them: Go durations (`1m30s`),
//! integers with `_` separators or `0x` prefixes (`100_000`), and string lists whose items may
//! be plain scalars (`values: [200, 404]`).

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::time::Duration;

/// A Go duration: `300ms`, `10s`, `1m30s`, `1.5h`, `250us`, `0`. Units: ns, us (µs), ms, s, m, h.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(pub Duration);

/// An integer: a YAML number, or a string such as `100_000`, `0x10` (as Go's YAML reads them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Int(pub i64);

/// A list of strings; numbers and booleans in it are taken as their text (`[200, 404]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrList(pub Vec<String>);

/// Parses Go's `time.ParseDuration` syntax (negative durations are rejected).
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!("`{s}` is not a Go duration: write e.g. `500ms`, `10s`, `1m30s` or `1.5h` (units ns, us, ms, s, m, h)")
    };
    let t = s.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.starts_with('-') {
        return Err(format!("duration `{s}` is negative"));
    }
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err(bad());
    }
    let mut rest = t;
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let (num, tail) = rest.split_at(num_end);
        if num.is_empty() || num == "." {
            return Err(bad());
        }
        let n: f64 = num.parse().map_err(|_| bad())?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        nanos += n * scale;
        rest = tail;
    }
    // Go's limit: a duration is an int64 of nanoseconds (about 292 years).
    if !nanos.is_finite() || nanos > i64::MAX as f64 {
        return Err(format!("duration `{s}` is out of range"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// Parses an integer as Go's YAML loader does: `_` separators, `0x`/`0o`/`0b` prefixes.
pub fn parse_int(s: &str) -> Option<i64> {
    let t: String = s.trim().chars().filter(|&c| c != '_').collect();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(&t)),
    };
    let lower = digits.to_ascii_lowercase();
    let v = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        digits.parse().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::units::deserialize_duration(
            d,
            "a Go duration such as `10s` or `1m30s`",
            parse_go_duration,
        )
        .map(GoDuration)
    }
}

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::custom(format!("`{v}` is out of range")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int, E> {
                if v.fract() == 0.0 && v.abs() < 9.0e18 {
                    Ok(Int(v as i64))
                } else {
                    Err(E::custom(format!("expected an integer, got `{v}`")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int, E> {
                parse_int(v)
                    .map(Int)
                    .ok_or_else(|| E::custom(format!("expected an integer, got `{v}`")))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for StrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Item(String);
        impl<'de> Deserialize<'de> for Item {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = Item;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<Item, E> {
                        Ok(Item(v.to_string()))
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Item, E> {
                        Ok(Item(v.to_string()))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Item, E> {
                        Ok(Item(v.to_string()))
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Item, E> {
                        Ok(Item(v.to_string()))
                    }
                    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Item, E> {
                        Ok(Item(v.to_string()))
                    }
                }
                d.deserialize_any(V)
            }
        }
        struct L;
        impl<'de> Visitor<'de> for L {
            type Value = StrList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrList, A::Error> {
                let mut out = Vec::new();
                while let Some(Item(s)) = seq.next_element()? {
                    out.push(s);
                }
                Ok(StrList(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<StrList, E> {
                Ok(StrList::default())
            }
        }
        d.deserialize_any(L)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ms = |n| Duration::from_millis(n);
        assert_eq!(parse_go_duration("10s"), Ok(ms(10_000)));
        assert_eq!(parse_go_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_go_duration("1.5h"), Ok(ms(5_400_000)));
        assert_eq!(parse_go_duration("300ms"), Ok(ms(300)));
        assert_eq!(parse_go_duration("2h45m"), Ok(ms(9_900_000)));
        assert_eq!(parse_go_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_go_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "10", "s", "1d", "-1s", "1.s.", "ten seconds"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn integers_like_go_yaml() {
        assert_eq!(parse_int("100_000"), Some(100_000));
        assert_eq!(parse_int("0x10"), Some(16));
        assert_eq!(parse_int("-5"), Some(-5));
        assert_eq!(parse_int("1e3"), None);
        assert_eq!(parse_int("abc"), None);
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,30}") {
            let _ = parse_go_duration(&s);
            let _ = parse_int(&s);
        }
    }

    #[test]
    fn yaml_forms() {
        let i: Int = serde_yaml::from_str("100_000").unwrap();
        assert_eq!(i, Int(100_000));
        let d: GoDuration = serde_yaml::from_str("1m").unwrap();
        assert_eq!(d.0, Duration::from_secs(60));
        assert!(serde_yaml::from_str::<GoDuration>("10").is_err());
        let l: StrList = serde_yaml::from_str("[a, 200, true]").unwrap();
        assert_eq!(l.0, ["a", "200", "true"]);
    }
}
