//! Rejections of the pipeline-aware keys: trace aggregates, `slower_than`, `min_per_key`,
//! `presets`/`media` and `sampling.capture`.

use super::{assert_errors, assert_has, invalid, parse_failure, BASE};
use crate::config::parse;

fn with_rule(rule: &str) -> String {
    format!("{BASE}sampling:\n  rules:\n    - {rule}\n")
}

#[test]
fn accepts_every_new_form() {
    let y = format!(
        "{BASE}fidelity: {{ lite: {{ presets: [gen_ai], media: {{ min_bytes: 4KiB }} }} }}\n\
         sampling:\n  capture: {{ attributes: [user.id], max_captures: 5, max_ttl: 1h }}\n  rules:\n\
         \x20   - {{ name: a, when: {{ trace: {{ sum: {{ attribute: t, min: 1 }}, max: {{ attribute: f, max: 9, span: {{ name: x }} }}, count: {{ span: {{ name: chat }}, min: 2, max: 5 }} }} }}, keep: true, fidelity: lite }}\n\
         \x20   - {{ name: b, when: {{ span: {{ name: synth, slower_than: {{ quantile: 0.95, by: [service, name, kind, attributes.model, resource.region] }} }} }}, keep: true }}\n\
         \x20   - {{ name: c, adaptive: {{ target_traces_per_sec: 5, min_per_key: {{ traces: 1, every: 15m }} }} }}\n"
    );
    let c = parse(&y, "p.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.sampling.capture.max_captures, 5);
    let st = c.sampling.rules[1]
        .when
        .as_ref()
        .unwrap()
        .span
        .as_ref()
        .unwrap();
    let st = st.slower_than.as_ref().unwrap();
    assert_eq!((st.min_samples, st.max_stages), (100, 1000), "defaults");
}

#[test]
fn rejects_bad_aggregates() {
    let errs = invalid(&with_rule(
        "{ name: a, when: { trace: { sum: { attribute: \"\" }, max: { attribute: f, min: 5, max: 1 }, count: { span: { slower_than: { quantile: 0.5 } } } } }, keep: true }",
    ));
    assert_errors(
        &errs,
        "
        sampling.rules[0].when.trace.sum.attribute: numeric span attribute
        sampling.rules[0].when.trace.sum: give `min`, `max` or both
        sampling.rules[0].when.trace.max: min (5) is greater than max (1)
        sampling.rules[0].when.trace.count: give `min`, `max` or both
        sampling.rules[0].when.trace.count.span.slower_than: not allowed inside
        ",
    );
    let errs = invalid(&with_rule(
        "{ name: a, when: { trace: { sum: { attribute: t, min: .inf } } }, keep: true }",
    ));
    assert_has(&errs, "sampling.rules[0].when.trace.sum", &["finite"]);
    let (path, _, msg, _) = parse_failure(&with_rule(
        "{ name: a, when: { trace: { count: { min: 1 } } }, keep: true }",
    ));
    assert_eq!(
        path.as_deref(),
        Some("sampling.rules[0].when.trace.count"),
        "{msg}"
    );
}

#[test]
fn rejects_bad_slower_than() {
    let errs = invalid(&with_rule(
        "{ name: a, when: { span: { slower_than: { quantile: 1, by: [], min_samples: 0, window: 500ms, max_stages: 0 } } }, keep: true }",
    ));
    assert_errors(
        &errs,
        "
        sampling.rules[0].when.span.slower_than.quantile: above 0 and below 1, got 1
        sampling.rules[0].when.span.slower_than.by: empty
        sampling.rules[0].when.span.slower_than.min_samples: at least 1
        sampling.rules[0].when.span.slower_than.window: between 1s and 24h
        sampling.rules[0].when.span.slower_than.max_stages: between 1 and 100000
        ",
    );
    let errs = invalid(&with_rule(
        "{ name: a, when: { span: { slower_than: { quantile: 0.9, by: [service, route, attributes.] } } }, keep: true }",
    ));
    assert_errors(
        &errs,
        "
        sampling.rules[0].when.span.slower_than.by[1]: unknown stage field `route`
        sampling.rules[0].when.span.slower_than.by[2]: unknown stage field
        ",
    );
}

#[test]
fn rejects_bad_min_per_key() {
    let errs = invalid(&with_rule(
        "{ name: a, adaptive: { target_traces_per_sec: 5, min_per_key: { traces: 0, every: 0s } } }",
    ));
    assert_errors(
        &errs,
        "
        sampling.rules[0].adaptive.min_per_key.traces: at least 1
        sampling.rules[0].adaptive.min_per_key.every: between 1s and 24h
        ",
    );
}

#[test]
fn rejects_bad_media_and_unknown_presets() {
    let errs = invalid(&format!(
        "{BASE}fidelity: {{ lite: {{ media: {{ min_bytes: 10 }} }} }}\n"
    ));
    assert_has(
        &errs,
        "fidelity.lite.media.min_bytes",
        &["at least 64 bytes, got 10"],
    );
    let (path, _, msg, _) = parse_failure(&format!(
        "{BASE}fidelity: {{ lite: {{ presets: [openai] }} }}\n"
    ));
    assert_eq!(path.as_deref(), Some("fidelity.lite.presets[0]"), "{msg}");
    assert!(msg.contains("gen_ai"), "{msg}");
}

#[test]
fn rejects_bad_capture_settings() {
    let errs = invalid(&format!(
        "{BASE}sampling:\n  capture: {{ attributes: [\"\"], max_captures: 0, max_ttl: 0s }}\n"
    ));
    assert_errors(
        &errs,
        "
        sampling.capture.attributes[0]: empty
        sampling.capture.max_captures: between 1 and 10000
        sampling.capture.max_ttl: at least 1s
        ",
    );
}
