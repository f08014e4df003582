//! Validation of the pipeline-aware options: trace aggregates, `slower_than`, `min_per_key`,
//! media reduction and `sampling.capture`.

use super::schema::{SpanMatcher, TraceMatcher};
use super::schema_pipelines::{CaptureSettings, MediaReduction, MinPerKey, SlowerThan};
use super::validate::{dur, Errors};
use std::time::Duration;

/// Smallest `media.min_bytes`: shorter values cannot hold an image worth reducing.
pub const MIN_MEDIA_BYTES: u64 = 64;

fn bounds_problem<T: PartialOrd + std::fmt::Display>(
    min: Option<T>,
    max: Option<T>,
) -> Option<String> {
    match (&min, &max) {
        (None, None) => Some("give `min`, `max` or both".to_string()),
        (Some(lo), Some(hi)) if lo > hi => Some(format!(
            "min ({lo}) is greater than max ({hi}): no trace can match"
        )),
        _ => None,
    }
}

fn no_slower_than(m: &SpanMatcher, p: &str, errs: &mut Errors) {
    if m.slower_than.is_some() {
        errs.push(
            format!("{p}.slower_than"),
            "`slower_than` is not allowed inside a trace aggregate: use it under `span:`",
        );
    }
}

/// `trace: { sum, max, count }`.
pub(super) fn check_aggregates(t: &TraceMatcher, p: &str, errs: &mut Errors) {
    for (field, agg) in [("sum", &t.sum), ("max", &t.max)] {
        let Some(a) = agg else { continue };
        let ap = format!("{p}.{field}");
        if a.attribute.trim().is_empty() {
            errs.push(
                format!("{ap}.attribute"),
                "name the numeric span attribute to aggregate, e.g. `gen_ai.usage.input_tokens`",
            );
        }
        if [a.min, a.max].iter().flatten().any(|v| !v.is_finite()) {
            errs.push(&ap, "`min` and `max` must be finite numbers");
        } else if let Some(m) = bounds_problem(a.min, a.max) {
            errs.push(&ap, m);
        }
        if let Some(s) = &a.span {
            no_slower_than(s, &format!("{ap}.span"), errs);
            super::validate_rules::check_span(s, &format!("{ap}.span"), errs);
        }
    }
    if let Some(c) = &t.count {
        let cp = format!("{p}.count");
        if let Some(m) = bounds_problem(c.min, c.max) {
            errs.push(&cp, m);
        }
        no_slower_than(&c.span, &format!("{cp}.span"), errs);
        super::validate_rules::check_span(&c.span, &format!("{cp}.span"), errs);
    }
}

/// `span: { slower_than }`.
pub(super) fn check_slower_than(s: &SlowerThan, p: &str, errs: &mut Errors) {
    let p = format!("{p}.slower_than");
    if !(s.quantile.is_finite() && s.quantile > 0.0 && s.quantile < 1.0) {
        errs.push(
            format!("{p}.quantile"),
            format!("must be above 0 and below 1, got {}", s.quantile),
        );
    }
    if s.by.is_empty() {
        errs.push(
            format!("{p}.by"),
            "the list is empty: give at least one field, e.g. `[service, name]`",
        );
    }
    for (i, f) in s.by.iter().enumerate() {
        if let Err(m) = crate::stages::StageField::parse(f) {
            errs.push(format!("{p}.by[{i}]"), m);
        }
    }
    if s.min_samples == 0 {
        errs.push(
            format!("{p}.min_samples"),
            "must be at least 1 (a quantile of no spans means nothing)",
        );
    }
    let day = Duration::from_secs(1)..=Duration::from_secs(86_400);
    errs.between_durations(format!("{p}.window"), s.window, day, "1s and 24h");
    errs.between(format!("{p}.max_stages"), s.max_stages, 1..=100_000);
}

/// `adaptive: { min_per_key }`.
pub(super) fn check_min_per_key(m: &MinPerKey, p: &str, errs: &mut Errors) {
    let p = format!("{p}.min_per_key");
    if m.traces == 0 {
        errs.push(
            format!("{p}.traces"),
            "must be at least 1 (leave `min_per_key` out for no floor)",
        );
    }
    let day = Duration::from_secs(1)..=Duration::from_secs(86_400);
    errs.between_durations(format!("{p}.every"), m.every, day, "1s and 24h");
}

/// `fidelity.<name>.media`.
pub(super) fn check_media(m: &MediaReduction, p: &str, errs: &mut Errors) {
    if m.min_bytes.0 < MIN_MEDIA_BYTES {
        errs.push(
            format!("{p}.media.min_bytes"),
            format!(
                "must be at least {MIN_MEDIA_BYTES} bytes, got {}: shorter values are not media",
                m.min_bytes.0
            ),
        );
    }
}

/// `sampling.capture`.
pub(super) fn check_capture(c: &CaptureSettings, errs: &mut Errors) {
    let p = "sampling.capture";
    for (i, a) in c.attributes.iter().enumerate() {
        if a.trim().is_empty() {
            errs.push(format!("{p}.attributes[{i}]"), "attribute key is empty");
        }
    }
    errs.between(format!("{p}.max_captures"), c.max_captures, 1..=10_000);
    if c.max_ttl.get() < Duration::from_secs(1) {
        errs.push(
            format!("{p}.max_ttl"),
            format!("must be at least 1s, got {}", dur(c.max_ttl)),
        );
    }
}
