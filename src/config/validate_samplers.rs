//! Validation of the rate-based rule actions (`adaptive`, `rate_limit`) and of
//! `sampling.adjusted_count_attribute`.

use super::schema::Sampling;
use super::schema_samplers::{AdaptiveAction, KeyField, RateLimitAction};
use super::validate::Errors;
use std::time::Duration;

fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

pub(super) fn check_adaptive(a: &AdaptiveAction, p: &str, errs: &mut Errors) {
    let p = format!("{p}.adaptive");
    if !positive(a.target_traces_per_sec) {
        errs.push(
            format!("{p}.target_traces_per_sec"),
            format!(
                "must be a number greater than 0, got {}",
                a.target_traces_per_sec
            ),
        );
    }
    if a.key.is_empty() {
        errs.push(
            format!("{p}.key"),
            "the list is empty: give at least one field, e.g. `[service, root.name]`",
        );
    }
    for (i, k) in a.key.iter().enumerate() {
        if let Err(m) = KeyField::parse(k) {
            errs.push(format!("{p}.key[{i}]"), m);
        }
    }
    let hour = Duration::from_secs(1)..=Duration::from_secs(3600);
    errs.between_durations(
        format!("{p}.adjust_every"),
        a.adjust_every,
        hour,
        "1s and 1h",
    );
    if !(a.min_probability.is_finite() && a.min_probability > 0.0 && a.min_probability <= 1.0) {
        errs.push(
            format!("{p}.min_probability"),
            format!(
                "must be above 0 and at most 1, got {} (a key must always keep some traces)",
                a.min_probability
            ),
        );
    }
    if let Some(m) = &a.min_per_key {
        super::validate_pipelines::check_min_per_key(m, &p, errs);
    }
    errs.between(format!("{p}.max_keys"), a.max_keys, 1..=100_000);
}

pub(super) fn check_rate_limit(r: &RateLimitAction, p: &str, errs: &mut Errors) {
    let p = format!("{p}.rate_limit");
    if r.traces_per_sec.is_none() && r.spans_per_sec.is_none() {
        errs.push(
            &p,
            "no rate: give `traces_per_sec`, `spans_per_sec`, or both",
        );
    }
    for (field, v) in [
        ("traces_per_sec", r.traces_per_sec),
        ("spans_per_sec", r.spans_per_sec),
    ] {
        if let Some(v) = v.filter(|v| !positive(*v)) {
            errs.push(
                format!("{p}.{field}"),
                format!("must be a number greater than 0, got {v}"),
            );
        }
    }
    if let Some(b) = r.burst.filter(|b| !(b.is_finite() && *b >= 1.0)) {
        errs.push(format!("{p}.burst"), format!("must be at least 1, got {b}"));
    }
}

pub(super) fn check_accounting(s: &Sampling, errs: &mut Errors) {
    if let Some(a) = &s.adjusted_count_attribute {
        let p = "sampling.adjusted_count_attribute";
        if a.trim().is_empty() {
            errs.push(
                p,
                "empty attribute name: give one (e.g. `SampleRate`) or leave the key out",
            );
        } else if a == "sampling.rule" {
            errs.push(
                p,
                "`sampling.rule` is the rule annotation: choose another name (e.g. `SampleRate`)",
            );
        }
    }
}
