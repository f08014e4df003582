//! Every condition and action, evaluated on small traces built with the fixtures.

use super::*;
use crate::config::Config;
use crate::fixtures::{self, span, SpanBuilder};
use crate::otlp::ingest;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as PbKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as PbStatus;

/// A config whose rules are `yaml_rules` (one rule a line), with a `lite` fidelity profile;
/// deserialized only, not validated.
pub(super) fn config_with(yaml_rules: &str) -> Config {
    let yaml = format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:0 }} }} }}\n\
         exporters: {{ f: {{ protocol: file, path: x.jsonl }} }}\n\
         fidelity: {{ lite: {{ hash_attributes: [prompt] }} }}\n\
         sampling:\n  rules:\n{}",
        yaml_rules
            .lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    );
    serde_yaml::from_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn rules(yaml_rules: &str) -> RuleSet {
    RuleSet::compile(&config_with(yaml_rules)).unwrap()
}

fn trace_with(
    rs: &RuleSet,
    service: &str,
    resource: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
    spans: Vec<SpanBuilder>,
) -> (TraceId, Vec<Span>) {
    let req = fixtures::request_with(
        service,
        resource,
        spans.into_iter().map(SpanBuilder::build).collect(),
    );
    let got = ingest(&fixtures::encode(&req), rs.interest()).unwrap();
    assert!(got.rejected.is_empty());
    let id = got.spans[0].0;
    (id, got.spans.into_iter().map(|(_, s)| s).collect())
}

/// The name of the rule that decides the trace, and whether it keeps it.
fn judge(rs: &RuleSet, spans: Vec<SpanBuilder>) -> (String, bool) {
    judge_in(rs, "svc", vec![], spans)
}

fn judge_in(
    rs: &RuleSet,
    service: &str,
    resource: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
    spans: Vec<SpanBuilder>,
) -> (String, bool) {
    let (id, spans) = trace_with(rs, service, resource, spans);
    let v = rs.decide(&id, &spans);
    (rs.name_of(v).to_string(), v.keep)
}

fn root(t: u128) -> SpanBuilder {
    span(t, 1).name("GET /").kind(PbKind::Server).at(0, 100)
}

fn child(t: u128, id: u64) -> SpanBuilder {
    span(t, id).parent(1).at(10, 20)
}

const EXAMPLE_RULES: &str = r#"
- name: errors
  when: { span: { status: error } }
  keep: true
- name: slow-rerank
  when: { span: { name: rerank, min_duration: 1s } }
  keep: true
- name: experiments
  when: { span: { attributes: { experiment.id: { exists: true } } } }
  keep: true
  fidelity: full
- name: healthz
  when: { root: { name: "GET /healthz" } }
  drop: true
- name: premium
  when: { root: { attributes: { user.tier: premium } } }
  probability: 0.5
  fidelity: lite
- name: rest
  drop: true
"#;

#[test]
fn example_rules_decide_as_named() {
    let rs = rules(EXAMPLE_RULES);
    assert_eq!(
        judge(&rs, vec![root(1), child(1, 2).error()]),
        ("errors".into(), true)
    );
    assert_eq!(
        judge(&rs, vec![root(2), child(2, 2).name("rerank").at(0, 1500)]),
        ("slow-rerank".into(), true)
    );
    assert_eq!(
        judge(&rs, vec![root(3), child(3, 2).name("rerank").at(0, 900)]),
        ("rest".into(), false)
    );
    assert_eq!(
        judge(
            &rs,
            vec![root(4), child(4, 2).attr("experiment.id", "exp-7")]
        ),
        ("experiments".into(), true)
    );
    assert_eq!(
        judge(&rs, vec![root(5).name("GET /healthz")]),
        ("healthz".into(), false)
    );
    assert_eq!(judge(&rs, vec![root(6)]), ("rest".into(), false));
    // Order: an erroring health check is kept by the earlier `errors` rule.
    assert_eq!(
        judge(&rs, vec![root(7).name("GET /healthz").error()]),
        ("errors".into(), true)
    );
    // The premium attribute must be on the root span.
    assert_eq!(
        judge(&rs, vec![root(8), child(8, 2).attr("user.tier", "premium")]).0,
        "rest"
    );
    assert_eq!(
        judge(&rs, vec![root(9).attr("user.tier", "premium")]).0,
        "premium"
    );
    assert_eq!(
        rs.fidelity_of(Verdict::new(Some(4), true))
            .unwrap()
            .name
            .as_ref(),
        "lite"
    );
    assert!(
        rs.fidelity_of(Verdict::new(Some(2), true)).is_none(),
        "fidelity: full"
    );
}

#[test]
fn premium_probability_is_consistent_and_about_half() {
    let rs = rules(EXAMPLE_RULES);
    let mut kept = 0;
    let n = 2000u128;
    for i in 0..n {
        // Spread trace ids over the randomness space.
        let t = (i.wrapping_mul(0x9e3779b97f4a7c15_f39cc0605cedc834)) | 1;
        let a = judge(&rs, vec![root(t).attr("user.tier", "premium")]);
        let b = judge(&rs, vec![root(t).attr("user.tier", "premium"), child(t, 5)]);
        assert_eq!(a, b, "same trace id, same verdict");
        assert_eq!(a.0, "premium");
        kept += a.1 as u32;
    }
    let frac = kept as f64 / n as f64;
    assert!((0.45..0.55).contains(&frac), "kept {frac}");
}

#[test]
fn no_matching_rule_keeps_the_trace() {
    let rs = rules("- name: only-errors\n  when: { span: { status: error } }\n  drop: true");
    assert_eq!(judge(&rs, vec![root(1)]), (DEFAULT_RULE.into(), true));
}

#[test]
fn rule_without_when_matches_everything() {
    let rs = rules("- name: all\n  keep: true");
    assert_eq!(judge(&rs, vec![root(1)]), ("all".into(), true));
}

#[test]
fn span_name_forms() {
    let rs = rules(
        "- name: list\n  when: { span: { name: [a, b] } }\n  keep: true\n\
         - name: re\n  when: { span: { name: { regex: 'llm\\..*' } } }\n  keep: true\n\
         - name: rest\n  drop: true",
    );
    assert_eq!(judge(&rs, vec![root(1), child(1, 2).name("b")]).0, "list");
    assert_eq!(
        judge(&rs, vec![root(1), child(1, 2).name("llm.generate")]).0,
        "re"
    );
    assert_eq!(
        judge(&rs, vec![root(1), child(1, 2).name("xllm.generate")]).0,
        "rest"
    );
}

#[test]
fn service_and_resource() {
    let rs = rules(
        "- name: svc\n  when: { span: { service: checkout } }\n  keep: true\n\
         - name: res\n  when: { span: { resource: { deployment.environment: { regex: 'prod.*' } } } }\n  keep: true\n\
         - name: rest\n  drop: true",
    );
    assert_eq!(judge_in(&rs, "checkout", vec![], vec![root(1)]).0, "svc");
    let in_env = |env: &str| {
        let resource = vec![fixtures::kv_str("deployment.environment", env)];
        judge_in(&rs, "cart", resource, vec![root(1)]).0
    };
    assert_eq!(in_env("prod-eu"), "res");
    assert_eq!(in_env("staging"), "rest");
}

#[test]
fn kind_and_status() {
    let rs = rules(
        "- name: clients\n  when: { span: { kind: [client, producer] } }\n  keep: true\n\
         - name: ok\n  when: { root: { status: ok } }\n  keep: true\n\
         - name: unset\n  when: { root: { status: unset, kind: server } }\n  drop: true",
    );
    assert_eq!(
        judge(&rs, vec![root(1), child(1, 2).kind(PbKind::Producer)]).0,
        "clients"
    );
    assert_eq!(judge(&rs, vec![root(1).status(PbStatus::Ok)]).0, "ok");
    assert_eq!(judge(&rs, vec![root(1)]).0, "unset");
    assert_eq!(
        judge(&rs, vec![root(1).kind(PbKind::Internal)]).0,
        DEFAULT_RULE
    );
}

#[test]
fn span_durations_hold_on_the_same_span() {
    let rs = rules("- name: mid\n  when: { span: { name: gen, min_duration: 100ms, max_duration: 200ms } }\n  keep: true\n- name: rest\n  drop: true");
    assert_eq!(
        judge(&rs, vec![root(1), child(1, 2).name("gen").at(0, 150)]).0,
        "mid"
    );
    assert_eq!(
        judge(&rs, vec![root(1), child(1, 2).name("gen").at(0, 100)]).0,
        "mid",
        "bounds are inclusive"
    );
    assert_eq!(
        judge(&rs, vec![root(1), child(1, 2).name("gen").at(0, 250)]).0,
        "rest"
    );
    // One span named gen (too short) and another span long enough: no single span matches.
    assert_eq!(
        judge(
            &rs,
            vec![root(1).at(0, 150), child(1, 2).name("gen").at(0, 10)]
        )
        .0,
        "rest"
    );
}

#[test]
fn attribute_matchers() {
    let rs = rules(
        "- name: range\n  when: { span: { attributes: { http.status_code: { min: 500, max: 599 } } } }\n  keep: true\n\
         - name: list\n  when: { span: { attributes: { region: [eu-west-1, eu-central-1] } } }\n  keep: true\n\
         - name: missing\n  when: { root: { attributes: { user.id: { exists: false } } } }\n  drop: true\n\
         - name: bool\n  when: { span: { attributes: { cache.hit: true } } }\n  keep: true\n\
         - name: rest\n  probability: 0",
    );
    assert_eq!(
        judge(
            &rs,
            vec![root(1)
                .attr_int("http.status_code", 503)
                .attr("user.id", "u")]
        )
        .0,
        "range"
    );
    assert_eq!(
        judge(
            &rs,
            vec![root(1)
                .attr_int("http.status_code", 404)
                .attr("region", "eu-central-1")]
        )
        .0,
        "list"
    );
    assert_eq!(judge(&rs, vec![root(1)]).0, "missing");
    assert_eq!(
        judge(
            &rs,
            vec![root(1).attr("user.id", "u").attr_value(
                "cache.hit",
                opentelemetry_proto::tonic::common::v1::any_value::Value::BoolValue(true)
            )]
        )
        .0,
        "bool"
    );
    assert_eq!(
        judge(&rs, vec![root(1).attr("user.id", "u")]),
        ("rest".into(), false)
    );
}

#[test]
fn trace_matcher() {
    let rs = rules(
        "- name: long\n  when: { trace: { min_duration: 5s } }\n  keep: true\n\
         - name: big\n  when: { trace: { min_spans: 3, max_spans: 4 } }\n  keep: true\n\
         - name: rest\n  drop: true",
    );
    // Trace duration spans from the earliest start to the latest end, across spans.
    assert_eq!(
        judge(&rs, vec![root(1).at(0, 100), child(1, 2).at(4990, 20)]).0,
        "long"
    );
    assert_eq!(judge(&rs, vec![root(1), child(1, 2), child(1, 3)]).0, "big");
    assert_eq!(
        judge(
            &rs,
            vec![root(1), child(1, 2), child(1, 3), child(1, 4), child(1, 5)]
        )
        .0,
        "rest"
    );
}

#[test]
fn root_conditions_need_a_root() {
    let rs = rules("- name: r\n  when: { root: { name: { regex: '.*' } } }\n  keep: true\n- name: rest\n  drop: true");
    assert_eq!(judge(&rs, vec![child(1, 2)]).0, "rest");
    assert_eq!(judge(&rs, vec![child(1, 2), root(1)]).0, "r");
}

#[test]
fn any_not_and_all_parts() {
    let rs = rules(
        "- name: combo\n  when:\n    span: { service: svc }\n    any:\n      - { span: { name: a } }\n      - { span: { name: b } }\n    not: { span: { status: error } }\n  keep: true\n- name: rest\n  drop: true",
    );
    assert_eq!(judge(&rs, vec![root(1), child(1, 2).name("a")]).0, "combo");
    assert_eq!(judge(&rs, vec![root(1), child(1, 2).name("b")]).0, "combo");
    assert_eq!(judge(&rs, vec![root(1), child(1, 2).name("c")]).0, "rest");
    assert_eq!(
        judge(
            &rs,
            vec![root(1), child(1, 2).name("a"), child(1, 3).error()]
        )
        .0,
        "rest"
    );
    assert_eq!(
        judge_in(&rs, "other", vec![], vec![root(1), child(1, 2).name("a")]).0,
        "rest"
    );
}

#[test]
fn probability_extremes() {
    let rs = rules("- name: none\n  when: { span: { name: x } }\n  probability: 0\n- name: all\n  probability: 1");
    for t in 1..50u128 {
        let t = t * 0x1234_5678_9abc_def1_2345_6789;
        assert_eq!(judge(&rs, vec![root(t).name("x")]), ("none".into(), false));
        assert_eq!(judge(&rs, vec![root(t)]), ("all".into(), true));
    }
}

#[test]
fn only_referenced_attributes_are_decoded() {
    let rs = rules("- name: e\n  when: { span: { attributes: { experiment.id: { exists: true } } } }\n  keep: true");
    let (_, spans) = trace_with(
        &rs,
        "svc",
        vec![],
        vec![root(1).attr("experiment.id", "e1").attr("prompt", "big")],
    );
    assert_eq!(spans[0].attrs().len(), 1);
}
