//! Rejections under `sampling.rules`: names, actions, fidelity, reachability, conditions.

use super::{
    assert_errors, assert_has, assert_none_say, assert_only, invalid, invalid_rules, parse_failure,
    with_rules, BASE,
};
use crate::config::parse;

#[test]
fn accepts_every_action_and_fidelity_form() {
    let y = with_rules(&[
        "{ name: a, when: { span: { status: [error, unset], kind: server } }, keep: true, fidelity: lite }",
        "{ name: b, when: { trace: { min_spans: 2, max_spans: 2 } }, probability: 0 }",
        "{ name: c, when: { not: { root: {} } }, probability: 1, fidelity: full }",
        "{ name: d, when: { any: [ { span: { name: { regex: 'db\\..*' } } } ] }, drop: true }",
        "{ name: e, keep: true }",
    ]);
    let c = parse(&y, "rules.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.sampling.rules.len(), 5);
}

#[test]
fn rejects_a_wrong_rule_at_its_key() {
    // A rule alone, the key path of its error and words of the message.
    let cases: &[(&str, &str, &[&str])] = &[
        // Empty rule name.
        (
            "{ name: \"\", keep: true }",
            "sampling.rules[0].name",
            &["non-empty `name`"],
        ),
        // Rule without action.
        (
            "{ name: a, when: { span: { status: error } } }",
            "sampling.rules[0]",
            &[
                "no action",
                "`keep: true`",
                "`drop: true`",
                "`probability: P`",
            ],
        ),
        // Drop false with hint.
        (
            "{ name: a, drop: false }",
            "sampling.rules[0].drop",
            &["`drop: false` is not an action", "write `keep: true`"],
        ),
        // Unknown fidelity profile.
        (
            "{ name: a, keep: true, fidelity: lyte }",
            "sampling.rules[0].fidelity",
            &[
                "unknown fidelity profile `lyte`",
                "`full`",
                "defined profiles: `lite`",
            ],
        ),
        // Fidelity on drop rule.
        (
            "{ name: a, drop: true, fidelity: lite }",
            "sampling.rules[0].fidelity",
            &["`drop` rule keeps nothing", "remove it"],
        ),
        // Empty when.
        (
            "{ name: a, when: {}, keep: true }",
            "sampling.rules[0].when",
            &[
                "empty condition",
                "`span`, `root`, `trace`, `any` or `not`",
                "leave out `when`",
            ],
        ),
        // Empty any.
        (
            "{ name: a, when: { any: [] }, keep: true }",
            "sampling.rules[0].when.any",
            &["`any: []` can never hold"],
        ),
    ];
    for &(rule, path, needles) in cases {
        assert_has(&invalid_rules(&[rule]), path, needles);
    }
}

#[test]
fn rejects_duplicate_rule_names_naming_both_indexes() {
    let errs = invalid_rules(&[
        "{ name: slow, when: { trace: { min_duration: 1s } }, keep: true }",
        "{ name: errors, when: { span: { status: error } }, keep: true }",
        "{ name: slow, when: { trace: { min_duration: 5s } }, keep: true }",
    ]);
    assert_only(&errs, "sampling.rules[2].name: duplicate rule name `slow` | sampling.rules[0] | sampling.rules[2]");
}

#[test]
fn rejects_rule_with_several_actions_listing_them() {
    let errs = invalid_rules(&["{ name: a, keep: true, drop: true, probability: 0.1 }"]);
    assert_has(
        &errs,
        "sampling.rules[0]",
        &["more than one action (`keep`, `drop`, `probability`)"],
    );
    let errs = invalid_rules(&["{ name: a, drop: true, probability: 0.1 }"]);
    assert_has(
        &errs,
        "sampling.rules[0]",
        &["more than one action (`drop`, `probability`)"],
    );
}

#[test]
fn rejects_keep_false_with_hint() {
    let errs = invalid_rules(&["{ name: a, keep: false }"]);
    assert_only(
        &errs,
        "sampling.rules[0].keep: `keep: false` is not an action | write `drop: true`",
    );
}

#[test]
fn rejects_probability_out_of_range_or_not_finite() {
    let errs = invalid_rules(&[
        "{ name: a, when: { span: { status: error } }, probability: 1.5 }",
        "{ name: b, when: { span: { status: ok } }, probability: -0.1 }",
        "{ name: c, when: { span: { status: unset } }, probability: .nan }",
        "{ name: d, probability: .inf }",
    ]);
    assert_errors(
        &errs,
        "
        sampling.rules[0].probability: must be between 0 and 1, got 1.5
        sampling.rules[1].probability: must be between 0 and 1, got -0.1
        sampling.rules[2].probability: must be between 0 and 1, got NaN
        sampling.rules[3].probability: must be between 0 and 1, got inf
        ",
    );
}

#[test]
fn rejects_fidelity_when_no_profile_is_defined() {
    let errs = invalid(&format!(
        "{BASE}sampling:\n  rules:\n    - {{ name: a, keep: true, fidelity: lite }}\n"
    ));
    assert_has(
        &errs,
        "sampling.rules[0].fidelity",
        &["unknown fidelity profile `lite`", "no profile is defined"],
    );
}

#[test]
fn rejects_rules_after_catch_all_naming_both() {
    let errs = invalid_rules(&[
        "{ name: errors, when: { span: { status: error } }, keep: true }",
        "{ name: rest, drop: true }",
        "{ name: slow, when: { trace: { min_duration: 1s } }, keep: true }",
        "{ name: never, keep: true }",
    ]);
    assert_only(
        &errs,
        "
        sampling.rules[2]: rule `slow` can never match | rule `rest` (sampling.rules[1]) | no `when`
        sampling.rules[3]: rule `never` can never match | rule `rest`
        ",
    );
}

#[test]
fn rejects_null_when_instead_of_treating_it_as_catch_all() {
    let (path, line, message, _) = parse_failure(&format!(
        "{BASE}sampling:\n  rules:\n    - name: a\n      when:\n      keep: true\n"
    ));
    assert_eq!(path.as_deref(), Some("sampling.rules[0].when"));
    // serde_yaml places it at the rule (line 5) or at `when` itself (line 6).
    assert!(line.is_some_and(|l| (5..=6).contains(&l)), "{line:?}");
    assert!(message.contains("empty value"), "{message}");
}

#[test]
fn rejects_nested_empty_conditions_with_paths() {
    let errs = invalid_rules(&[
        "{ name: a, when: { not: {} }, keep: true }",
        "{ name: b, when: { any: [ { span: { status: error } }, {} ] }, keep: true }",
    ]);
    assert_has(&errs, "sampling.rules[0].when.not", &["empty condition"]);
    assert_has(&errs, "sampling.rules[1].when.any[1]", &["empty condition"]);
    let why = "the catch-all hint is only for the top-level `when`";
    assert_none_say(&errs, "leave out `when`", why);
}

#[test]
fn rejects_bad_regexes_with_the_regex_error_and_deep_paths() {
    let errs = invalid_rules(&[
        "{ name: a, when: { span: { name: { regex: 'rerank(' } } }, keep: true }",
        "{ name: b, when: { root: { service: { regex: '[z-a]' } } }, keep: true }",
        "{ name: c, when: { span: { attributes: { user.id: { regex: '*x' } } } }, keep: true }",
        "{ name: d, when: { span: { resource: { host: { regex: '(?P<' } } } }, keep: true }",
        "{ name: e, when: { trace: { min_spans: 1 }, any: [ { span: { status: error } }, { not: { span: { name: { regex: 'a{2,1}' } } } } ] }, keep: true }",
    ]);
    assert_only(
        &errs,
        "
        sampling.rules[0].when.span.name: invalid regex `rerank(` | unclosed group
        sampling.rules[1].when.root.service: invalid regex `[z-a]` | range
        sampling.rules[2].when.span.attributes[\"user.id\"]: invalid regex `*x` | repetition operator missing expression
        sampling.rules[3].when.span.resource.host: invalid regex `(?P<`
        sampling.rules[4].when.any[1].not.span.name: invalid regex `a{2,1}`
        ",
    );
    assert_none_say(&errs, "\n", "one line each");
}

#[test]
fn rejects_span_min_duration_above_max() {
    let errs = invalid_rules(&[
        "{ name: a, when: { root: { min_duration: 2s, max_duration: 1s } }, keep: true }",
    ]);
    assert_has(
        &errs,
        "sampling.rules[0].when.root.min_duration",
        &["min_duration (2s) is longer than max_duration (1s)"],
    );
}

#[test]
fn rejects_trace_min_above_max() {
    let errs = invalid_rules(&[
        "{ name: a, when: { trace: { min_duration: 1m, max_duration: 30s, min_spans: 10, max_spans: 5 } }, keep: true }",
    ]);
    assert_has(
        &errs,
        "sampling.rules[0].when.trace.min_duration",
        &["min_duration (60s) is longer than max_duration (30s)"],
    );
    assert_has(
        &errs,
        "sampling.rules[0].when.trace.min_spans",
        &["min_spans (10) is greater than max_spans (5)"],
    );
}

#[test]
fn rejects_empty_kind_and_status_lists() {
    let errs =
        invalid_rules(&["{ name: a, when: { span: { kind: [], status: [] } }, keep: true }"]);
    assert_has(
        &errs,
        "sampling.rules[0].when.span.kind",
        &["list is empty"],
    );
    assert_has(
        &errs,
        "sampling.rules[0].when.span.status",
        &["list is empty"],
    );
}

#[test]
fn rejects_empty_attribute_key_and_nan_range() {
    let errs = invalid_rules(&[
        "{ name: a, when: { span: { attributes: { \"\": x, size: { min: .nan } } } }, keep: true }",
    ]);
    assert_has(
        &errs,
        "sampling.rules[0].when.span.attributes[\"\"]",
        &["attribute key is empty"],
    );
    assert_has(
        &errs,
        "sampling.rules[0].when.span.attributes.size",
        &["not NaN"],
    );
}

#[test]
fn deeply_nested_conditions_are_a_parse_error_not_a_crash() {
    // serde_yaml stops at its recursion limit (128). Its parse time grows with the square of the
    // depth, so the test stays at 2,000 levels.
    for (open, close) in [("{ not: ", " }"), ("{ any: [ ", " ] }")] {
        let deep = format!(
            "{}{{ span: {{ kind: server }} }}{}",
            open.repeat(2000),
            close.repeat(2000)
        );
        let (_, _, message, _) = parse_failure(&format!(
            "{BASE}sampling:\n  rules:\n    - {{ name: a, when: {deep}, keep: true }}\n"
        ));
        assert!(message.contains("recursion limit"), "{message}");
    }
}
