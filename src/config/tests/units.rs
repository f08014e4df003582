//! `parse_duration`, `parse_size` and the `Dur` / `ByteSize` deserializers.

use crate::config::units::{parse_duration, parse_size};
use crate::config::{ByteSize, Dur};
use std::time::Duration;

#[test]
fn durations_in_every_unit() {
    let cases = [
        ("250ms", Duration::from_millis(250)),
        ("10s", Duration::from_secs(10)),
        ("1.5s", Duration::from_millis(1500)),
        ("2m", Duration::from_secs(120)),
        ("1h", Duration::from_secs(3600)),
        ("0s", Duration::ZERO),
        (" 10s ", Duration::from_secs(10)),
        ("10 s", Duration::from_secs(10)),
        ("0.5ms", Duration::from_micros(500)),
        (".5s", Duration::from_millis(500)),
        ("0.3s", Duration::from_millis(300)),
        ("1.1s", Duration::from_millis(1100)),
        ("100ms", Duration::from_millis(100)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_duration(text), Ok(want), "{text:?}");
    }
}

#[test]
fn sizes_in_every_unit() {
    let cases = [
        ("0", 0),
        ("1024", 1024),
        ("100B", 100),
        ("64KiB", 64 * 1024),
        ("512MiB", 512 << 20),
        ("2GiB", 2 << 30),
        ("1.5KiB", 1536),
        ("1KB", 1000),
        ("1kB", 1000),
        ("3MB", 3_000_000),
        ("1GB", 1_000_000_000),
        (" 16 MiB ", 16 << 20),
    ];
    for (text, want) in cases {
        assert_eq!(parse_size(text), Ok(want), "{text:?}");
    }
}

#[test]
fn durations_and_sizes_rejected_with_reason() {
    type Parse = fn(&str) -> Result<(), String>;
    let duration: Parse = |text| parse_duration(text).map(drop);
    let size: Parse = |text| parse_size(text).map(drop);
    let cases = [
        (duration, "10", "has no unit"),
        (duration, "", "has no unit"),
        (duration, "s", "does not start with a number"),
        (duration, "-1s", "does not start with a number"),
        (duration, "1.2.3s", "does not start with a number"),
        (duration, "10 parsecs", "unknown unit `parsecs`"),
        (duration, "10S", "unknown unit `S`"),
        (duration, "1e3s", "unknown unit `e3s`"),
        (duration, "10d", "unknown unit `d`"),
        (duration, "9999999999999h", "out of range"),
        (size, "", "does not start with a number"),
        (size, "MiB", "does not start with a number"),
        (size, "-1", "does not start with a number"),
        (size, "12 parsecs", "unknown unit `parsecs`"),
        (size, "1mib", "unknown unit `mib`"),
        (size, "1TiB", "unknown unit `TiB`"),
        (size, "99999999999999GiB", "out of range"),
    ];
    for (parse, text, want) in cases {
        let err = parse(text).expect_err(text);
        assert!(err.contains(want), "{text:?}: {err}");
    }
}

#[test]
fn dur_deserializes_strings_and_only_zero_as_a_bare_number() {
    let d: Dur = serde_yaml::from_str("500ms").unwrap();
    assert_eq!(d, Dur::millis(500));
    let d: Dur = serde_yaml::from_str("0").unwrap();
    assert_eq!(d.get(), Duration::ZERO);
    for bad in ["10", "-5", "1.5", "true"] {
        let err = serde_yaml::from_str::<Dur>(bad).unwrap_err().to_string();
        assert!(
            err.contains("no unit") || err.contains("expected a duration"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn byte_size_deserializes_numbers_and_strings() {
    let b: ByteSize = serde_yaml::from_str("4096").unwrap();
    assert_eq!(b, ByteSize(4096));
    let b: ByteSize = serde_yaml::from_str("4MiB").unwrap();
    assert_eq!(b, ByteSize::mib(4));
    let err = serde_yaml::from_str::<ByteSize>("-4")
        .unwrap_err()
        .to_string();
    assert!(err.contains("negative"), "{err}");
    let err = serde_yaml::from_str::<ByteSize>("1.5")
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected a size"), "{err}");
}

#[test]
fn sizes_and_durations_are_shown_as_parsed() {
    use crate::config::units::{format_duration, format_size, group_digits};
    assert_eq!(format_size(805306368), "768MiB (805306368 bytes)");
    assert_eq!(format_size(512_000_000), "488.3MiB (512000000 bytes)");
    assert_eq!(format_size(3 << 29), "1.5GiB (1610612736 bytes)");
    assert_eq!(format_size(2048), "2KiB (2048 bytes)");
    assert_eq!(format_size(512), "512 bytes");
    assert_eq!(group_digits(512_000_000), "512,000,000");
    assert_eq!(group_digits(999), "999");
    let d = |ms| format_duration(Duration::from_millis(ms));
    assert_eq!(d(250), "250ms");
    assert_eq!(d(10_000), "10s");
    assert_eq!(d(1500), "1.5s");
    assert_eq!(d(120_000), "2m");
    assert_eq!(d(150_000), "2m30s");
    assert_eq!(d(3_600_000), "1h");
    assert_eq!(format_duration(Duration::from_micros(500)), "500µs");
    for text in ["250ms", "10s", "1.5s", "2m", "2m30s", "1h"] {
        if let Ok(parsed) = parse_duration(text) {
            assert_eq!(format_duration(parsed), text);
        }
    }
}
