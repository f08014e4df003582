//! Errors before validation: YAML syntax, unknown keys, wrong types, bad units. Each names the
//! key path and, where the YAML parser knows it, the line and column.

use super::{assert_parse_error, parse_failure, BASE};
use crate::config::{parse, ConfigError};

#[test]
fn unknown_key_at_top_level() {
    let (line, shown) = assert_parse_error(
        &format!("{BASE}exporter: {{}}\n"),
        "exporter",
        &["unknown field `exporter`, expected one of", "`exporters`"],
    );
    assert_eq!(line, Some(3));
    let want = "config.yaml:3:1: exporter: unknown field `exporter`";
    assert!(shown.starts_with(want), "{shown}");
}

#[test]
fn unknown_key_deep_in_a_rule() {
    let yaml = format!(
        "{BASE}sampling:\n  rules:\n    - name: a\n      when:\n        span:\n          nmae: rerank\n      keep: true\n"
    );
    let (line, shown) = assert_parse_error(
        &yaml,
        "sampling.rules[0].when.span.nmae",
        &["unknown field `nmae`, expected one of `name`"],
    );
    assert_eq!(line, Some(8));
    let want = "config.yaml:8:11: sampling.rules[0].when.span.nmae: unknown field `nmae`, expected";
    assert!(shown.starts_with(want), "{shown}");
    // serde_yaml's own path prefix and location suffix are not repeated in the message.
    assert_eq!(shown.matches("sampling.").count(), 1, "{shown}");
    assert!(!shown.contains(" at line "), "{shown}");
}

#[test]
fn unknown_key_in_an_exporter() {
    let yaml = "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }\n\
                exporters:\n  tempo:\n    protocol: otlp_grpc\n    endpoint: http://tempo:4317\n    hedaers: { a: b }\n";
    let needles = ["unknown field `hedaers`", "`headers`"];
    let (line, _) = assert_parse_error(yaml, "exporters.tempo.hedaers", &needles);
    assert_eq!(line, Some(6));
}

#[test]
fn a_wrong_type_or_a_missing_unit_names_the_line() {
    let (line, shown) = assert_parse_error(
        &format!("{BASE}sampling:\n  max_traces: lots\n"),
        "sampling.max_traces",
        &["invalid type: string \"lots\""],
    );
    assert_eq!(line, Some(4));
    let want = "config.yaml:4:15: sampling.max_traces: invalid type";
    assert!(shown.starts_with(want), "{shown}");
    let (line, _) = assert_parse_error(
        &format!("{BASE}sampling:\n  decision_wait: 10\n"),
        "sampling.decision_wait",
        &["`10` has no unit", "`10s`"],
    );
    assert_eq!(line, Some(4));
}

#[test]
fn wrong_values_name_their_key_path() {
    // YAML appended to `BASE`, the key path of the error and words of its message.
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "sampling:\n  rules:\n    - { name: a, when: { span: { attributes: { k: { exist: true } } } }, keep: true }\n",
            "sampling.rules[0].when.span.attributes.k",
            &["unknown key `exist`"],
        ),
        (
            "sampling:\n  rules:\n    - { name: a, probability: half }\n",
            "sampling.rules[0].probability",
            &["invalid type: string \"half\", expected f64"],
        ),
        (
            "sampling:\n  root_wait: 10 parsecs\n",
            "sampling.root_wait",
            &["unknown unit `parsecs`", "ms, s, m or h"],
        ),
        (
            "sampling:\n  rules:\n    - { name: a, when: { trace: { min_duration: 1.5 } }, keep: true }\n",
            "sampling.rules[0].when.trace.min_duration",
            &["`1.5` has no unit"],
        ),
        (
            "sampling:\n  max_buffer_bytes: 512 parsecs\n",
            "sampling.max_buffer_bytes",
            &["unknown unit `parsecs`"],
        ),
        (
            "sampling:\n  memory_limit: -1\n",
            "sampling.memory_limit",
            &["negative"],
        ),
        (
            "fidelity:\n  lite: { max_attribute_bytes: MiB }\n",
            "fidelity.lite.max_attribute_bytes",
            &["does not start with a number"],
        ),
        // A misspelled enum value names the accepted ones.
        (
            "sampling:\n  rules:\n    - { name: a, when: { span: { status: erorr } }, keep: true }\n",
            "sampling.rules[0].when.span.status",
            &["unknown variant `erorr`, expected one of `unset`, `ok`, `error`"],
        ),
        (
            "sampling:\n  rules:\n    - { name: a, when: { span: { kind: [server, clinet] } }, keep: true }\n",
            "sampling.rules[0].when.span.kind[1]",
            &["unknown variant `clinet`"],
        ),
    ];
    for &(yaml, path, needles) in cases {
        assert_parse_error(&format!("{BASE}{yaml}"), path, needles);
    }
    assert_parse_error(
        "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }\nexporters: { t: { protocol: grpc } }\n",
        "exporters.t.protocol",
        &["unknown variant `grpc`", "`otlp_grpc`"],
    );
}

#[test]
fn missing_required_key() {
    let (path, _, message, _) =
        parse_failure("receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }\n");
    assert_eq!(path, None);
    assert!(message.contains("missing field `exporters`"), "{message}");

    assert_parse_error(
        &format!("{BASE}sampling:\n  rules:\n    - keep: true\n"),
        "sampling.rules[0]",
        &["missing field `name`"],
    );
}

#[test]
fn yaml_syntax_error_has_line_and_column() {
    let err = parse("receivers: { otlp: {}\nexporters: {}\n", "config.yaml").unwrap_err();
    let ConfigError::Parse { line, column, .. } = &err else {
        panic!("expected a parse error: {err:?}");
    };
    assert_eq!(*line, Some(2));
    assert!(column.is_some());
    let shown = err.to_string();
    assert!(shown.starts_with("config.yaml:2:"), "{shown}");
    assert!(shown.contains("while parsing a flow mapping"), "{shown}");
}

#[test]
fn duplicate_keys_are_rejected() {
    let (path, line, message, _) = parse_failure(
        "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }\n\
         exporters:\n  out: { protocol: file, path: a }\n  out: { protocol: file, path: b }\n",
    );
    assert_eq!(path.as_deref(), Some("exporters"));
    assert_eq!(line, Some(3));
    assert!(
        message.contains("duplicate entry with key \"out\""),
        "{message}"
    );

    let (_, _, message, _) =
        parse_failure(&format!("{BASE}sampling: {{ shards: 1, shards: 2 }}\n"));
    assert!(
        message.contains("duplicate entry with key \"shards\""),
        "{message}"
    );
}

#[test]
fn empty_file_is_explained() {
    for text in ["", "\n", "# nothing but a comment\n"] {
        let (path, line, message, shown) = parse_failure(text);
        assert_eq!((path, line), (None, None));
        assert!(message.contains("the configuration is empty"), "{message}");
        assert!(
            shown.starts_with("config.yaml: the configuration is empty"),
            "{shown}"
        );
    }
}

#[test]
fn several_documents_are_rejected() {
    let (_, _, message, _) = parse_failure(&format!("{BASE}---\n{BASE}"));
    assert!(message.contains("more than one document"), "{message}");
}

#[test]
fn parse_error_display_without_location() {
    let e = ConfigError::Parse {
        origin: "c.yaml".into(),
        path: Some("sampling.tick".into()),
        line: None,
        column: None,
        message: "bad".into(),
    };
    assert_eq!(e.to_string(), "c.yaml: sampling.tick: bad");
}
