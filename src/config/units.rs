//! Human-friendly units in the config file: durations (`500ms`, `10s`, `2m`) and sizes (`256KiB`, `512MiB`).

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

/// A duration written as a number and a unit: `ms`, `s`, `m` or `h` (e.g. `250ms`, `10s`, `1m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub std::time::Duration);

/// A size in bytes: a plain integer, or a number with `B`, `KiB`, `MiB` or `GiB` (e.g. `512MiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl Dur {
    pub const fn secs(s: u64) -> Self {
        Dur(std::time::Duration::from_secs(s))
    }
    pub const fn millis(ms: u64) -> Self {
        Dur(std::time::Duration::from_millis(ms))
    }
    pub fn get(self) -> std::time::Duration {
        self.0
    }
}

impl ByteSize {
    pub const fn mib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024)
    }
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Parses `250ms`, `10s`, `1.5s`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = number_end(t).ok_or_else(|| {
        format!("duration `{s}` has no unit: write it as e.g. `500ms`, `10s` or `2m`")
    })?;
    let units = [("ms", 1e-3), ("s", 1.0), ("m", 60.0), ("h", 3600.0)];
    let secs = scaled(s, t.split_at(split), "duration", &units, "ms, s, m or h")?;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("duration `{s}` is out of range"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Parses `1024`, `64KiB`, `512MiB`, `2GiB` (also `KB`/`MB`/`GB` as powers of 1000).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = number_end(t).unwrap_or(t.len());
    let units = [
        ("", 1.0),
        ("B", 1.0),
        ("KiB", 1024.0),
        ("MiB", 1024.0 * 1024.0),
        ("GiB", 1024.0 * 1024.0 * 1024.0),
        ("KB", 1e3),
        ("kB", 1e3),
        ("MB", 1e6),
        ("GB", 1e9),
    ];
    let v = scaled(s, t.split_at(split), "size", &units, "B, KiB, MiB or GiB")?;
    if !v.is_finite() || v < 0.0 || v > u64::MAX as f64 {
        return Err(format!("size `{s}` is out of range"));
    }
    Ok(v.round() as u64)
}

/// Where the number at the start of `t` ends, if anything follows it.
fn number_end(t: &str) -> Option<usize> {
    t.find(|c: char| !(c.is_ascii_digit() || c == '.'))
}

/// The number `num` times the factor of `unit` in `units`; `s` (the text as written), `what`
/// (`duration`, `size`) and `known` (the units to suggest) word the errors.
fn scaled(
    s: &str,
    (num, unit): (&str, &str),
    what: &str,
    units: &[(&str, f64)],
    known: &str,
) -> Result<f64, String> {
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{what} `{s}` does not start with a number"))?;
    let unit = unit.trim();
    let (_, scale) = units
        .iter()
        .find(|(u, _)| *u == unit)
        .ok_or_else(|| format!("{what} `{s}` has unknown unit `{unit}` (use {known})"))?;
    Ok(n * scale)
}

/// `1234567` as `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A size as an operator reads it: `768MiB (805306368 bytes)`, `1.5GiB (1610612736 bytes)`,
/// `512 bytes`. One decimal at most; the exact byte count is always given.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, scale) in UNITS {
        if bytes >= scale {
            let v = bytes as f64 / scale as f64;
            let shown = if bytes.is_multiple_of(scale) {
                format!("{}", bytes / scale)
            } else {
                format!("{v:.1}")
            };
            return format!("{shown}{unit} ({bytes} bytes)");
        }
    }
    format!("{bytes} bytes")
}

/// A duration as the config writes it: `250ms`, `10s`, `1.5s`, `2m`, `1h`, `2m30s`.
pub fn format_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return if ms > 0 {
            format!("{ms}ms")
        } else {
            format!("{}µs", d.as_micros())
        };
    }
    let secs = d.as_secs();
    if d.subsec_millis() != 0 {
        let s = format!("{:.3}", d.as_secs_f64());
        return format!("{}s", s.trim_end_matches('0').trim_end_matches('.'));
    }
    match (secs / 3600, (secs % 3600) / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h{m}m"),
        (h, m, s) => format!("{h}h{m}m{s}s"),
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_duration(
            d,
            "a duration such as `500ms`, `10s` or `2m`",
            parse_duration,
        )
        .map(Dur)
    }
}

/// Deserializes a duration written as a string `parse` reads (described by `expecting`); a
/// bare number is refused with a hint to add a unit, except 0.
pub(crate) fn deserialize_duration<'de, D: Deserializer<'de>>(
    d: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<std::time::Duration, String>,
) -> Result<std::time::Duration, D::Error> {
    struct V {
        expecting: &'static str,
        parse: fn(&str) -> Result<std::time::Duration, String>,
    }
    impl Visitor<'_> for V {
        type Value = std::time::Duration;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            (self.parse)(v).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            if v == 0 {
                Ok(std::time::Duration::ZERO)
            } else {
                Err(E::custom(format!(
                    "duration `{v}` has no unit: write it as e.g. `{v}s` or `{v}ms`"
                )))
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Err(E::custom(format!(
                "duration `{v}` has no unit: write it as e.g. `10s`"
            )))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Err(E::custom(format!(
                "duration `{v}` has no unit: write it as e.g. `1.5s`"
            )))
        }
    }
    d.deserialize_any(V { expecting, parse })
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size such as `65536`, `256KiB` or `512MiB`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v).map(ByteSize).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("size `{v}` is negative")))
            }
        }
        d.deserialize_any(V)
    }
}

// Defaults for `#[serde(default = "...")]`, written where the key is declared: `"secs::<10>"`
// is 10 seconds, `"millis::<20>"` 20 milliseconds, `"mib::<16>"` 16 MiB, `"count::<100>"` 100.

pub(super) fn secs<const N: u64>() -> Dur {
    Dur::secs(N)
}

pub(super) fn millis<const N: u64>() -> Dur {
    Dur::millis(N)
}

pub(super) fn mib<const N: u64>() -> ByteSize {
    ByteSize::mib(N)
}

pub(super) fn count<const N: usize>() -> usize {
    N
}
