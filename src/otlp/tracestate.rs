//! W3C `tracestate` and its OpenTelemetry `ot` entry ("TraceState: Probability Sampling"):
//! reading the sampling threshold `th` and the explicit randomness `rv`, and writing a new
//! threshold while leaving every other entry and sub-key as it came.
//!
//! A threshold is a 56-bit rejection threshold `T`: a span is kept when its randomness
//! `R >= T`, so the keep probability is `(2^56 - T) / 2^56`. `th` writes `T` as 1 to 14 hex
//! digits, left-aligned in 56 bits, trailing zeros removed (`th:8` is 50%, `th:0` keeps all).

/// 2^56: one more than the largest threshold and randomness value.
const RANGE: u64 = 1 << 56;
/// Most entries in a W3C tracestate.
const MAX_ENTRIES: usize = 32;
/// Longest `ot` value (OpenTelemetry tracestate handling).
const MAX_OT_LEN: usize = 256;

fn hex_value(s: &str, max_digits: usize) -> Option<u64> {
    if s.is_empty() || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// Parses a `th` value: 1 to 14 hex digits, left-aligned in 56 bits (`c` is 0xc0000000000000).
pub fn parse_threshold(s: &str) -> Option<u64> {
    let v = hex_value(s, 14)?;
    Some(v << (4 * (14 - s.len())))
}

/// Formats a threshold (below 2^56) as a `th` value: 14 hex digits with trailing zeros removed,
/// `0` for zero. Values of 2^56 and above (keep nothing) cannot be written and are clamped.
pub fn format_threshold(t: u64) -> String {
    let t = t.min(RANGE - 1);
    if t == 0 {
        return "0".to_string();
    }
    let s = format!("{t:014x}");
    s.trim_end_matches('0').to_string()
}

/// Parses an `rv` value: exactly 14 hex digits.
pub fn parse_randomness(s: &str) -> Option<u64> {
    if s.len() != 14 {
        return None;
    }
    hex_value(s, 14)
}

/// The sampling sub-keys of a tracestate's `ot` entry; absent or invalid values are `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OtSampling {
    /// The rejection threshold `th`.
    pub th: Option<u64>,
    /// The explicit randomness `rv`, which replaces the trace id's low 56 bits.
    pub rv: Option<u64>,
}

/// Adjusted count (how many traces one kept trace stands for) of a threshold: `2^56 / (2^56 - T)`.
pub fn adjusted_count(threshold: u64) -> f64 {
    let keep = RANGE.saturating_sub(threshold);
    if keep == 0 {
        f64::INFINITY
    } else {
        RANGE as f64 / keep as f64
    }
}

/// The W3C list members (`key=value`), whitespace around them trimmed, empty members skipped.
fn members(ts: &str) -> impl Iterator<Item = &str> {
    ts.split(',')
        .map(|m| m.trim_matches([' ', '\t']))
        .filter(|m| !m.is_empty())
}

/// Reads `th` and `rv` from a tracestate header value. Lenient: a malformed list or sub-key
/// yields `None` for what cannot be read.
pub fn read(tracestate: &str) -> OtSampling {
    let mut out = OtSampling::default();
    let Some(ot) = members(tracestate).find_map(|m| m.strip_prefix("ot=")) else {
        return out;
    };
    for sub in ot.split(';') {
        match sub.split_once(':') {
            Some(("th", v)) => out.th = parse_threshold(v),
            Some(("rv", v)) => out.rv = parse_randomness(v),
            _ => {}
        }
    }
    out
}

fn valid_key(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/@".contains(&c))
        && b.iter().filter(|&&c| c == b'@').count() <= 1
}

fn valid_value(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 256
        && v.bytes()
            .all(|c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && !v.ends_with(' ')
}

fn valid_ot_sub(sub: &str) -> bool {
    match sub.split_once(':') {
        Some((k, v)) => {
            !k.is_empty()
                && k.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && v.bytes()
                    .all(|c| (0x21..=0x7e).contains(&c) && c != b';' && c != b',')
        }
        None => false,
    }
}

/// The tracestate after a sampler with threshold `t` kept the span: `th` becomes the larger of
/// the incoming (valid) `th` and `t` (a threshold is never lowered), the `ot` entry moves to the
/// front (W3C mutation rules), and other sub-keys and entries stay as they were. Returns the
/// new tracestate and the threshold written, or `None` when the tracestate is malformed: then
/// it must be left as it is.
pub fn with_threshold(tracestate: &str, t: u64) -> Option<(String, u64)> {
    let t = t.min(RANGE - 1);
    let mut ot: Option<&str> = None;
    let mut others: Vec<&str> = Vec::new();
    for m in members(tracestate) {
        let (k, v) = m.split_once('=')?;
        if !valid_key(k) || !valid_value(v) {
            return None;
        }
        if k == "ot" {
            if ot.is_some() {
                return None; // duplicate key
            }
            ot = Some(v);
        } else {
            others.push(m);
        }
    }
    if others.len() + usize::from(ot.is_some()) > MAX_ENTRIES {
        return None;
    }
    let mut th = t;
    let mut rest: Vec<&str> = Vec::new();
    for sub in ot.into_iter().flat_map(|v| v.split(';')) {
        if !valid_ot_sub(sub) {
            return None;
        }
        match sub.split_once(':') {
            Some(("th", v)) => {
                // An invalid incoming th carries no information: it is replaced.
                if let Some(incoming) = parse_threshold(v) {
                    th = th.max(incoming);
                }
            }
            _ => rest.push(sub),
        }
    }
    let mut value = format!("th:{}", format_threshold(th));
    for sub in &rest {
        value.push(';');
        value.push_str(sub);
    }
    if value.len() > MAX_OT_LEN {
        return None;
    }
    // Adding `ot` to a full list drops the rightmost entry (W3C).
    others.truncate(MAX_ENTRIES - 1);
    let mut out = String::with_capacity(tracestate.len() + value.len() + 4);
    out.push_str("ot=");
    out.push_str(&value);
    for m in others {
        out.push(',');
        out.push_str(m);
    }
    Some((out, th))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn thresholds_from_the_specification() {
        assert_eq!(parse_threshold("8"), Some(1 << 55));
        assert_eq!(parse_threshold("c"), Some(0xc0000000000000));
        assert_eq!(parse_threshold("0"), Some(0));
        assert_eq!(parse_threshold("fffffffffffff"), Some(0xfffffffffffff0));
        assert_eq!(parse_threshold(""), None);
        assert_eq!(parse_threshold("123456789abcdef"), None, "15 digits");
        assert_eq!(parse_threshold("xyz"), None);
        assert_eq!(format_threshold(1 << 55), "8");
        assert_eq!(format_threshold(0xc0000000000000), "c");
        assert_eq!(format_threshold(0), "0");
        assert_eq!(format_threshold(0x0123456789abcd), "0123456789abcd");
        assert_eq!(adjusted_count(0xc0000000000000), 4.0);
        assert_eq!(adjusted_count(0), 1.0);
    }

    #[test]
    fn randomness_is_exactly_14_digits() {
        assert_eq!(parse_randomness("0123456789abcd"), Some(0x0123456789abcd));
        assert_eq!(parse_randomness("123456789abcd"), None);
        assert_eq!(parse_randomness("0123456789abcde"), None);
    }

    #[test]
    fn reads_th_and_rv_among_other_entries() {
        let s = read("vendor=abc, ot=th:c;rv:0123456789abcd;x:1 ,other=1");
        assert_eq!(s.th, Some(0xc0000000000000));
        assert_eq!(s.rv, Some(0x0123456789abcd));
        assert_eq!(read("vendor=x").th, None);
        assert_eq!(read("ot=th:zz;rv:12"), OtSampling::default());
        assert_eq!(read(""), OtSampling::default());
    }

    #[test]
    fn writes_th_moving_ot_first_and_keeping_the_rest() {
        let (s, th) = with_threshold("", 1 << 55).unwrap();
        assert_eq!((s.as_str(), th), ("ot=th:8", 1 << 55));
        let (s, _) = with_threshold("a=1,ot=rv:0123456789abcd;k:v,b@t=2", 1 << 55).unwrap();
        assert_eq!(s, "ot=th:8;rv:0123456789abcd;k:v,a=1,b@t=2");
        // An existing lower th is raised; the other sub-keys keep their order.
        let (s, _) = with_threshold("ot=x:1;th:4;rv:0123456789abcd", 1 << 55).unwrap();
        assert_eq!(s, "ot=th:8;x:1;rv:0123456789abcd");
    }

    #[test]
    fn never_lowers_an_incoming_threshold() {
        let (s, th) = with_threshold("ot=th:e", 1 << 55).unwrap();
        assert_eq!((s.as_str(), th), ("ot=th:e", 0xe0000000000000));
    }

    #[test]
    fn an_invalid_incoming_th_is_replaced() {
        let (s, th) = with_threshold("ot=th:nothex;rv:0123456789abcd", 1 << 55).unwrap();
        assert_eq!(s, "ot=th:8;rv:0123456789abcd");
        assert_eq!(th, 1 << 55);
    }

    #[test]
    fn malformed_tracestate_is_left_alone() {
        for bad in [
            "novalue",
            "Upper=1",
            "a=1,a=,b=2",
            "ot=th:8,ot=th:4",
            "ot=garbage",
            "ot=th:8;;",
            "a=x=y",
        ] {
            assert_eq!(with_threshold(bad, 1 << 55), None, "{bad}");
        }
        let many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        assert_eq!(with_threshold(&many.join(","), 1), None);
    }

    #[test]
    fn a_full_list_loses_its_rightmost_entry() {
        let many: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        let (s, _) = with_threshold(&many.join(","), 1 << 55).unwrap();
        let entries: Vec<&str> = s.split(',').collect();
        assert_eq!(entries.len(), 32);
        assert_eq!(entries[0], "ot=th:8");
        assert_eq!(entries[31], "k30=v");
    }

    #[test]
    fn ingest_records_the_tracestate_without_growing_the_span() {
        use crate::fixtures::{self, span};
        use crate::otlp::{ingest, Interest, Span};
        let mut with = span(1, 1);
        with.0.trace_state = "ot=th:8;rv:0123456789abcd,vendor=x".into();
        let req = fixtures::request("svc", [with, span(1, 2).parent(1)]);
        let got = ingest(&fixtures::encode(&req), &Interest::default()).unwrap();
        assert_eq!(
            got.spans[0].1.trace_state(),
            Some("ot=th:8;rv:0123456789abcd,vendor=x")
        );
        assert_eq!(got.spans[1].1.trace_state(), None);
        // The offset fits in the summary's padding: no bytes added per buffered span.
        assert!(
            std::mem::size_of::<Span>() <= 88,
            "{}",
            std::mem::size_of::<Span>()
        );
    }

    proptest! {
        #[test]
        fn format_parse_roundtrip(t in 0u64..RANGE) {
            prop_assert_eq!(parse_threshold(&format_threshold(t)), Some(t));
        }

        #[test]
        fn written_threshold_is_the_max(a in 0u64..RANGE, b in 0u64..RANGE) {
            let incoming = format!("ot=th:{}", format_threshold(a));
            let (s, th) = with_threshold(&incoming, b).unwrap();
            prop_assert_eq!(th, a.max(b));
            prop_assert_eq!(read(&s).th, Some(a.max(b)));
        }

        #[test]
        fn never_panics(s in "\\PC{0,80}", t: u64) {
            let _ = read(&s);
            let _ = with_threshold(&s, t);
        }
    }
}
