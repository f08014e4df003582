//! The rate-based actions (`adaptive`, `rate_limit`) and `sampling.adjusted_count_attribute`:
//! accepted forms, defaults, and every rejection with its key path.

use super::{
    assert_errors, assert_has, assert_only, assert_parse_error, invalid, invalid_rules, with_rules,
    BASE,
};
use crate::config::{parse, KeyField};
use std::time::Duration;

#[test]
fn accepts_adaptive_and_rate_limit_with_defaults() {
    let y = with_rules(&[
        "{ name: rl, when: { span: { status: error } }, rate_limit: { traces_per_sec: 5 } }",
        "{ name: rest, adaptive: { target_traces_per_sec: 50, key: [service, root.name, root.attributes.http.route] }, fidelity: lite }",
    ]);
    let c = parse(&y, "s.yaml").unwrap_or_else(|e| panic!("{e}"));
    let a = c.sampling.rules[1].adaptive.as_ref().unwrap();
    assert_eq!(a.target_traces_per_sec, 50.0);
    assert_eq!(a.adjust_every.get(), Duration::from_secs(15));
    assert_eq!(a.min_probability, 0.0001);
    assert_eq!(a.max_keys, 500);
    assert!(
        !a.expose_keys,
        "keys are hashed in metrics unless asked for"
    );
    assert_eq!(
        KeyField::parse(&a.key[2]),
        Ok(KeyField::RootAttribute("http.route".into()))
    );
    let rl = c.sampling.rules[0].rate_limit.as_ref().unwrap();
    assert_eq!(
        (rl.traces_per_sec, rl.spans_per_sec, rl.burst),
        (Some(5.0), None, None)
    );
    assert_eq!(c.sampling.adjusted_count_attribute, None);
}

#[test]
fn adaptive_key_defaults_to_service_and_root_name() {
    let y = with_rules(&["{ name: rest, adaptive: { target_traces_per_sec: 1 } }"]);
    let c = parse(&y, "s.yaml").unwrap();
    assert_eq!(
        c.sampling.rules[0].adaptive.as_ref().unwrap().key,
        vec!["service".to_string(), "root.name".to_string()]
    );
}

#[test]
fn exactly_one_action_still_holds() {
    let errs = invalid_rules(&[
        "{ name: a, keep: true, adaptive: { target_traces_per_sec: 1 } }",
        "{ name: b, when: { span: { status: ok } }, probability: 0.5, rate_limit: { traces_per_sec: 1 } }",
        "{ name: c, drop: true, adaptive: { target_traces_per_sec: 1 }, rate_limit: { spans_per_sec: 1 } }",
    ]);
    assert_errors(
        &errs,
        "
        sampling.rules[0]: more than one action (`keep`, `adaptive`)
        sampling.rules[1]: more than one action (`probability`, `rate_limit`)
        sampling.rules[2]: more than one action (`drop`, `adaptive`, `rate_limit`) | `adaptive` or `rate_limit`
        ",
    );
    let errs = invalid_rules(&["{ name: a }"]);
    assert_has(
        &errs,
        "sampling.rules[0]",
        &["no action", "`adaptive: {...}`", "`rate_limit: {...}`"],
    );
}

#[test]
fn rejects_adaptive_values_out_of_range() {
    let errs = invalid_rules(&[
        "{ name: a, when: { span: { status: ok } }, adaptive: { target_traces_per_sec: 0, key: [], adjust_every: 500ms, min_probability: 0, max_keys: 0 } }",
        "{ name: b, when: { span: { status: error } }, adaptive: { target_traces_per_sec: .inf, key: [service, root.nmae, root.attributes.], adjust_every: 2h, min_probability: 1.5, max_keys: 100001 } }",
    ]);
    assert_only(
        &errs,
        "
        sampling.rules[0].adaptive.target_traces_per_sec: greater than 0, got 0
        sampling.rules[0].adaptive.key: the list is empty
        sampling.rules[0].adaptive.adjust_every: between 1s and 1h, got 500ms
        sampling.rules[0].adaptive.min_probability: above 0 and at most 1, got 0
        sampling.rules[0].adaptive.max_keys: between 1 and 100000, got 0
        sampling.rules[1].adaptive.target_traces_per_sec: got inf
        sampling.rules[1].adaptive.key[1]: unknown key field `root.nmae` | `root.attributes.<key>`
        sampling.rules[1].adaptive.key[2]: unknown key field `root.attributes.`
        sampling.rules[1].adaptive.adjust_every: got 7200s
        sampling.rules[1].adaptive.min_probability: got 1.5
        sampling.rules[1].adaptive.max_keys: got 100001
        ",
    );
}

#[test]
fn rejects_rate_limit_without_rate_or_with_bad_values() {
    let errs = invalid_rules(&[
        "{ name: a, when: { span: { status: ok } }, rate_limit: { burst: 5 } }",
        "{ name: b, rate_limit: { traces_per_sec: -1, spans_per_sec: .nan, burst: 0.5 } }",
    ]);
    assert_only(
        &errs,
        "
        sampling.rules[0].rate_limit: no rate | `traces_per_sec` | `spans_per_sec`
        sampling.rules[1].rate_limit.traces_per_sec: greater than 0, got -1
        sampling.rules[1].rate_limit.spans_per_sec: got NaN
        sampling.rules[1].rate_limit.burst: at least 1, got 0.5
        ",
    );
}

#[test]
fn unknown_keys_in_the_new_actions_are_parse_errors() {
    assert_parse_error(
        &with_rules(&["{ name: a, adaptive: { target_traces_per_second: 5 } }"]),
        "sampling.rules[0].adaptive.target_traces_per_second",
        &["unknown field `target_traces_per_second`"],
    );
    assert_parse_error(
        &with_rules(&["{ name: a, rate_limit: { traces: 5 } }"]),
        "sampling.rules[0].rate_limit.traces",
        &["unknown field `traces`"],
    );
}

#[test]
fn adjusted_count_attribute() {
    let y = format!("{BASE}sampling: {{ adjusted_count_attribute: SampleRate }}\n");
    let c = parse(&y, "s.yaml").unwrap();
    assert_eq!(
        c.sampling.adjusted_count_attribute.as_deref(),
        Some("SampleRate")
    );
    let errs = invalid(&format!(
        "{BASE}sampling: {{ adjusted_count_attribute: \" \" }}\n"
    ));
    assert_has(
        &errs,
        "sampling.adjusted_count_attribute",
        &["empty attribute name"],
    );
    let errs = invalid(&format!(
        "{BASE}sampling: {{ adjusted_count_attribute: sampling.rule }}\n"
    ));
    assert_has(
        &errs,
        "sampling.adjusted_count_attribute",
        &["rule annotation"],
    );
}
