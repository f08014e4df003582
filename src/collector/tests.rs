//! Unit tests of the collector module: loading a `tail_sampling:` block (settings mapping,
//! conflicts, rejections with key paths) and the decisions that depend on the daemon's state.

use super::{PolicySet, NOT_SAMPLED, SHUTDOWN, TOO_LARGE};
use crate::config::tests::{assert_errors, assert_has};
use crate::config::{parse, Config, ConfigError, ValidationError};
use crate::decide::{Explanation, Verdict};
use crate::fixtures::{encode, request, span, trace_id};
use crate::otlp::{ingest, Span};
use std::time::Duration;
use tokio::time::Instant;

const BASE: &str = r#"
receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" } } }
exporters: { out: { protocol: file, path: /dev/null } }
"#;

fn load(yaml: &str) -> Config {
    parse(&format!("{BASE}{yaml}"), "t.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn invalid(yaml: &str) -> Vec<ValidationError> {
    match parse(&format!("{BASE}{yaml}"), "t.yaml") {
        Err(ConfigError::Invalid { errors, .. }) => errors,
        Err(e) => panic!("expected validation errors, got: {e}"),
        Ok(_) => panic!("accepted:\n{yaml}"),
    }
}

fn parse_error(yaml: &str) -> String {
    match parse(&format!("{BASE}{yaml}"), "t.yaml") {
        Err(e @ ConfigError::Parse { .. }) => e.to_string(),
        Err(e) => panic!("expected a parse error, got: {e}"),
        Ok(_) => panic!("accepted:\n{yaml}"),
    }
}

const ALWAYS: &str = "tail_sampling:\n  policies: [{ name: all, type: always_sample }]\n";

#[test]
fn collector_defaults_set_the_buffer() {
    let c = load(ALWAYS);
    assert_eq!(c.sampling.decision_wait.0, Duration::from_secs(30));
    assert_eq!(
        c.sampling.root_wait.0,
        Duration::from_secs(30),
        "no early decision"
    );
    assert_eq!(c.sampling.max_traces, 50_000);
    assert_eq!(
        c.sampling.decision_cache.kept, 100_000,
        "tailsift's default"
    );
}

#[test]
fn collector_keys_map_to_sampling() {
    let c = load(
        r#"
sampling: { max_buffer_bytes: 64MiB }
tail_sampling:
  decision_wait: 1m30s
  num_traces: 100_000
  decision_wait_after_root_received: 2s
  decision_cache: { sampled_cache_size: 1000, non_sampled_cache_size: 0 }
  expected_new_traces_per_sec: 10
  block_on_overflow: true
  policies: [{ name: all, type: always_sample }]
"#,
    );
    let s = &c.sampling;
    assert_eq!(s.decision_wait.0, Duration::from_secs(90));
    assert_eq!(s.root_wait.0, Duration::from_secs(2));
    assert_eq!(s.max_traces, 100_000);
    assert_eq!((s.decision_cache.kept, s.decision_cache.dropped), (1000, 0));
    assert_eq!(
        s.max_buffer_bytes.0,
        64 << 20,
        "tailsift-only keys still apply"
    );
}

#[test]
fn a_zero_root_wait_turns_the_early_decision_off() {
    let c = load(
        "tail_sampling:\n  decision_wait: 4s\n  decision_wait_after_root_received: 0s\n  policies: [{ name: all, type: always_sample }]\n",
    );
    assert_eq!(c.sampling.root_wait.0, Duration::from_secs(4));
}

#[test]
fn sampling_keys_apply_when_the_block_leaves_them_out() {
    let c = load(&format!(
        "sampling: {{ decision_wait: 5s, root_wait: 1s }}\n{ALWAYS}"
    ));
    assert_eq!(c.sampling.decision_wait.0, Duration::from_secs(5));
    assert_eq!(c.sampling.root_wait.0, Duration::from_secs(1));
}

#[test]
fn a_setting_given_twice_is_an_error() {
    let errs = invalid(
        r#"
sampling: { decision_wait: 5s, max_traces: 10 }
tail_sampling:
  decision_wait: 10s
  num_traces: 20
  policies: [{ name: all, type: always_sample }]
"#,
    );
    assert_errors(
        &errs,
        "
        tail_sampling.decision_wait: sampling.decision_wait | one place
        tail_sampling.num_traces: sampling.max_traces
        ",
    );
}

#[test]
fn rules_and_tail_sampling_exclude_each_other() {
    let errs = invalid(&format!(
        "sampling: {{ rules: [{{ name: r, keep: true }}] }}\n{ALWAYS}"
    ));
    assert_has(
        &errs,
        "tail_sampling",
        &["sampling.rules", "one or the other"],
    );
}

#[test]
fn rejects_bad_settings_once_with_their_path() {
    let errs = invalid(
        r#"
tail_sampling:
  decision_wait: 0s
  num_traces: 0
  decision_wait_after_root_received: 1m
  maximum_trace_size_bytes: -1
  policies: []
"#,
    );
    assert_errors(
        &errs,
        "
        tail_sampling.decision_wait: greater than 0
        tail_sampling.num_traces: at least 1
        tail_sampling.decision_wait_after_root_received: not be longer
        tail_sampling.maximum_trace_size_bytes: negative
        tail_sampling.policies: at least one policy
        ",
    );
    assert!(
        !errs.iter().any(|e| e.path.starts_with("sampling.")),
        "reported twice: {errs:#?}"
    );
}

#[test]
fn rejects_bad_policies_with_their_path() {
    let errs = invalid(
        r#"
tail_sampling:
  policies:
    - { name: a, type: string_attribute, string_attribute: { key: k, values: ["("], enabled_regex_matching: true } }
    - { name: a, type: status_code, status_code: { status_codes: [error] } }
    - { name: "", type: numeric_attribute, numeric_attribute: { key: k } }
    - { name: d, type: boolean_attribute, string_attribute: { key: k } }
    - { name: e, type: and, and: { and_sub_policy: [ { name: x, type: drop, drop: { drop_sub_policy: [ { name: y, type: always_sample } ] } } ] } }
    - { name: f, type: ottl_condition, ottl_condition: { span: [ 'Len(name) > 3' ] } }
    - { name: g, type: composite, composite: { max_total_spans_per_second: 10, policy_order: [nope], composite_sub_policy: [ { name: s, type: always_sample } ], rate_allocation: [ { policy: t, percent: 50 } ] } }
    - { name: h, type: latency, latency: { threshold_ms: 500, upper_threshold_ms: 100 } }
    - { name: i, type: span_count, span_count: { min_spans: 5, max_spans: 2 } }
    - { name: j, type: rate_limiting, rate_limiting: { spans_per_second: 0 } }
    - { name: _not_sampled, type: always_sample }
    - { name: k, type: not }
"#,
    );
    assert_errors(
        &errs,
        "
        tail_sampling.policies[0].string_attribute.values[0]: invalid regular expression
        tail_sampling.policies[1].name: duplicate policy name `a`
        tail_sampling.policies[1].status_code.status_codes[0]: `error` | OK, ERROR or UNSET
        tail_sampling.policies[2].name: required
        tail_sampling.policies[2].numeric_attribute: min_value, max_value
        tail_sampling.policies[3].string_attribute: type is `boolean_attribute`
        tail_sampling.policies[3].boolean_attribute.key: required
        tail_sampling.policies[4].and.and_sub_policy[0].type: only allowed at the top level
        tail_sampling.policies[5].ottl_condition.span[0]: unsupported function `Len`
        tail_sampling.policies[6].composite.policy_order[0]: `nope`
        tail_sampling.policies[6].composite.rate_allocation[0].policy: `t`
        tail_sampling.policies[7].latency.upper_threshold_ms: greater than threshold_ms
        tail_sampling.policies[8].span_count.max_spans: less than min_spans
        tail_sampling.policies[9].rate_limiting.spans_per_second: greater than 0
        tail_sampling.policies[10].name: reserved
        tail_sampling.policies[11].not: not_sub_policy
        ",
    );
}

#[test]
fn rejects_the_remaining_policy_mistakes() {
    let errs = invalid(
        r#"
tail_sampling:
  expected_new_traces_per_sec: -1
  decision_cache: { sampled_cache_size: -1, non_sampled_cache_size: -2 }
  policies:
    - { name: a, type: trace_state, trace_state: { values: [] } }
    - { name: b, type: composite, composite: { max_total_spans_per_second: 0, composite_sub_policy: [ { name: x, type: always_sample }, { name: x, type: always_sample }, { type: always_sample } ], rate_allocation: [ { policy: x, percent: 150 } ], policy_order: [x, x] } }
    - { name: c, type: and, and: { and_sub_policy: [] } }
    - { name: d, type: latency, latency: { threshold_ms: -1 } }
    - { name: e, type: probabilistic, probabilistic: { sampling_percentage: -5 } }
    - { name: f, type: ottl_condition, ottl_condition: { error_mode: ignore } }
    - { name: g, type: bytes_limiting, bytes_limiting: { bytes_per_second: 10, burst_capacity: -1 } }
    - { name: h, type: numeric_attribute, numeric_attribute: { key: k, min_value: 10, max_value: 5 } }
    - { name: i, type: status_code, status_code: { status_codes: [] } }
    - { name: j, type: string_attribute, string_attribute: { values: [] } }
    - { name: k, type: drop, drop: { drop_sub_policy: [] } }
    - { name: l, type: span_count, span_count: { min_spans: -1 } }
"#,
    );
    assert_errors(
        &errs,
        "
        tail_sampling.expected_new_traces_per_sec: negative
        tail_sampling.decision_cache.sampled_cache_size: negative
        tail_sampling.decision_cache.non_sampled_cache_size: negative
        tail_sampling.policies[0].trace_state.key: required
        tail_sampling.policies[0].trace_state.values: at least one
        tail_sampling.policies[1].composite.max_total_spans_per_second: greater than 0
        tail_sampling.policies[1].composite.composite_sub_policy[1].name: `x` | another sub-policy
        tail_sampling.policies[1].composite.composite_sub_policy[2].name: required
        tail_sampling.policies[1].composite.rate_allocation[0].percent: 0 to 100
        tail_sampling.policies[1].composite.policy_order[1]: listed twice
        tail_sampling.policies[2].and.and_sub_policy: at least one sub-policy
        tail_sampling.policies[3].latency.threshold_ms: negative
        tail_sampling.policies[4].probabilistic.sampling_percentage: 0 to 100
        tail_sampling.policies[5].ottl_condition: at least one condition
        tail_sampling.policies[6].bytes_limiting.burst_capacity: negative
        tail_sampling.policies[7].numeric_attribute.min_value: greater than max_value
        tail_sampling.policies[8].status_code.status_codes: at least one
        tail_sampling.policies[9].string_attribute.key: required
        tail_sampling.policies[9].string_attribute.values: at least one
        tail_sampling.policies[10].drop.drop_sub_policy: at least one sub-policy
        tail_sampling.policies[11].span_count.min_spans: negative
        ",
    );
}

#[test]
fn unknown_keys_and_types_are_parse_errors() {
    let e = parse_error("tail_sampling:\n  policies: [{ name: a, type: always_sampled }]\n");
    assert!(e.contains("unknown variant `always_sampled`"), "{e}");
    let e = parse_error("tail_sampling:\n  decison_wait: 10s\n  policies: []\n");
    assert!(
        e.contains("tail_sampling") && e.contains("decison_wait"),
        "{e}"
    );
    let e = parse_error(
        "tail_sampling:\n  policies: [{ name: a, type: string_attribute, string_attribute: { key: k, value: true } }]\n",
    );
    assert!(
        e.contains("string_attribute") && e.contains("unknown field `value`"),
        "{e}"
    );
    let e = parse_error("tail_sampling:\n  decision_wait: 10\n  policies: []\n");
    assert!(e.contains("no unit"), "{e}");
}

fn compile(yaml: &str) -> PolicySet {
    let c = load(yaml);
    PolicySet::compile(c.tail_sampling.as_ref().expect("tail_sampling")).expect("compiles")
}

fn trace(set: &PolicySet, n: u64, payload: usize) -> ([u8; 16], Vec<Span>) {
    let req = request(
        "svc",
        (1..=n).map(|i| span(7, i).attr("payload", &"x".repeat(payload))),
    );
    let body = encode(&req);
    let spans = ingest(&body, set.interest()).unwrap().spans;
    (trace_id(7), spans.into_iter().map(|(_, s)| s).collect())
}

/// `set`'s verdict on a trace of `n` spans with `payload` bytes each.
fn decide(set: &PolicySet, n: u64, payload: usize) -> Verdict {
    let (id, spans) = trace(set, n, payload);
    set.decide(&id, &spans, Instant::now())
}

/// `set`'s account of its decision on a trace of `n` small spans.
fn explain(set: &PolicySet, n: u64) -> Explanation {
    let (id, spans) = trace(set, n, 1);
    set.explain(&id, &spans, Instant::now())
}

#[test]
fn maximum_trace_size_bytes_drops_before_any_policy() {
    let set = compile(
        "tail_sampling:\n  maximum_trace_size_bytes: 2000\n  policies: [{ name: all, type: always_sample }]\n",
    );
    let v = decide(&set, 2, 10);
    assert!(v.keep);
    assert_eq!(set.name_of(v), "all");
    let v = decide(&set, 4, 1000);
    assert!(!v.keep);
    assert_eq!(set.name_of(v), TOO_LARGE);
}

#[test]
fn drop_pending_traces_on_shutdown() {
    for (flag, keep) in [(true, false), (false, true)] {
        let set = compile(&format!(
            "tail_sampling:\n  drop_pending_traces_on_shutdown: {flag}\n  policies: [{{ name: all, type: always_sample }}]\n"
        ));
        assert!(decide(&set, 1, 1).keep);
        set.begin_shutdown();
        let v = decide(&set, 1, 1);
        assert_eq!(v.keep, keep, "drop_pending_traces_on_shutdown: {flag}");
        if flag {
            assert_eq!(set.name_of(v), SHUTDOWN);
        }
    }
}

#[test]
fn names_and_annotations_cover_every_verdict() {
    use crate::decide::Decider;
    let set = compile(
        "tail_sampling:\n  policies: [{ name: never, type: span_count, span_count: { min_spans: 100 } }]\n",
    );
    let v = decide(&set, 1, 1);
    assert!(!v.keep);
    assert_eq!(set.name_of(v), NOT_SAMPLED);
    let names: Vec<String> = set.rule_names().iter().map(|n| n.to_string()).collect();
    assert_eq!(names[0], "never");
    assert_eq!(names.len(), 4);
    assert!(!set.annotation_of(v).is_empty());
    assert!(set.fidelity_of(v).is_none());
}

#[test]
fn explain_lists_each_policy_and_the_deciding_one() {
    let set = compile(
        "tail_sampling:\n  policies:\n    - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }\n    - { name: big, type: span_count, span_count: { min_spans: 2 } }\n",
    );
    let e = explain(&set, 3);
    assert!(e.verdict.keep);
    assert_eq!(e.rule, "big");
    let checks: Vec<(String, bool)> = e
        .checks
        .iter()
        .map(|c| (c.name.to_string(), c.matched))
        .collect();
    assert_eq!(
        checks,
        vec![("errors".to_string(), false), ("big".to_string(), true)]
    );
    let text = e.to_string();
    assert!(
        text.contains("`errors`: no match (did not hold: the policy did not sample)"),
        "{text}"
    );
    assert!(text.contains("sampled by this policy"), "{text}");

    let e = explain(&set, 1);
    assert!(!e.verdict.keep);
    assert_eq!(e.rule, NOT_SAMPLED);
    assert!(e.to_string().contains("no policy sampled it"), "{e}");
}

#[test]
fn deeply_nested_conditions_and_policies_are_errors_not_crashes() {
    // A condition nested 100,000 deep names its key path.
    let deep = format!(
        "{}name == \"x\"{}",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let errs = invalid(&format!(
        "tail_sampling:\n  policies:\n    - {{ name: f, type: ottl_condition, ottl_condition: {{ span: [ '{deep}' ] }} }}\n"
    ));
    assert_has(
        &errs,
        "tail_sampling.policies[0].ottl_condition.span[0]",
        &["nested more than 64 levels"],
    );
    // Policies nested 1,000 deep in YAML: serde_yaml's recursion limit, a parse error.
    let nested = format!(
        "{}{{ name: leaf, type: always_sample }}{}",
        "{ name: n, type: not, not: { not_sub_policy: ".repeat(1000),
        " } }".repeat(1000)
    );
    let e = parse_error(&format!("tail_sampling:\n  policies:\n    - {nested}\n"));
    assert!(e.contains("recursion limit"), "{}", &e[..e.len().min(300)]);
}
