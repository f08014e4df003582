//! Errors before validation: YAML syntax, unknown keys, wrong types, bad units. Each names the
//! key path and, where the YAML parser knows it, the line and column.

use super::{parse_failure, BASE};
use crate::config::{parse, ConfigError};

#[test]
fn unknown_key_at_top_level() {
    let (path, line, message, shown) = parse_failure(&format!("{BASE}exporter: {{}}\n"));
    assert_eq!(path.as_deref(), Some("exporter"));
    assert_eq!(line, Some(3));
    assert!(
        message.starts_with("unknown field `exporter`, expected one of"),
        "{message}"
    );
    assert!(message.contains("`exporters`"), "{message}");
    assert!(
        shown.starts_with("config.yaml:3:1: exporter: unknown field `exporter`"),
        "{shown}"
    );
}

#[test]
fn unknown_key_deep_in_a_rule() {
    let yaml = format!(
        "{BASE}sampling:\n  rules:\n    - name: a\n      when:\n        span:\n          nmae: rerank\n      keep: true\n"
    );
    let (path, line, message, shown) = parse_failure(&yaml);
    assert_eq!(path.as_deref(), Some("sampling.rules[0].when.span.nmae"));
    assert_eq!(line, Some(8));
    assert!(
        message.starts_with("unknown field `nmae`, expected one of `name`"),
        "{message}"
    );
    assert!(
        shown.starts_with(
            "config.yaml:8:11: sampling.rules[0].when.span.nmae: unknown field `nmae`"
        ),
        "{shown}"
    );
    // serde_yaml's own path prefix and location suffix are not repeated in the message.
    assert!(!message.contains("sampling."), "{message}");
    assert!(!message.contains(" at line "), "{message}");
}

#[test]
fn unknown_key_in_an_exporter() {
    let yaml = "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }\n\
                exporters:\n  tempo:\n    protocol: otlp_grpc\n    endpoint: http://tempo:4317\n    hedaers: { a: b }\n";
    let (path, line, message, _) = parse_failure(yaml);
    assert_eq!(path.as_deref(), Some("exporters.tempo.hedaers"));
    assert_eq!(line, Some(6));
    assert!(message.contains("unknown field `hedaers`"), "{message}");
    assert!(message.contains("`headers`"), "{message}");
}

#[test]
fn unknown_key_in_a_matcher_form() {
    let yaml = format!(
        "{BASE}sampling:\n  rules:\n    - {{ name: a, when: {{ span: {{ attributes: {{ k: {{ exist: true }} }} }} }}, keep: true }}\n"
    );
    let (path, _, message, _) = parse_failure(&yaml);
    assert_eq!(
        path.as_deref(),
        Some("sampling.rules[0].when.span.attributes.k")
    );
    assert!(message.contains("unknown key `exist`"), "{message}");
}

#[test]
fn string_where_a_number_belongs() {
    let (path, line, message, shown) =
        parse_failure(&format!("{BASE}sampling:\n  max_traces: lots\n"));
    assert_eq!(path.as_deref(), Some("sampling.max_traces"));
    assert_eq!(line, Some(4));
    assert!(
        message.contains("invalid type: string \"lots\""),
        "{message}"
    );
    assert!(
        shown.starts_with("config.yaml:4:15: sampling.max_traces: invalid type"),
        "{shown}"
    );
}

#[test]
fn string_where_a_probability_belongs() {
    let (path, _, message, _) = parse_failure(&format!(
        "{BASE}sampling:\n  rules:\n    - {{ name: a, probability: half }}\n"
    ));
    assert_eq!(path.as_deref(), Some("sampling.rules[0].probability"));
    assert!(
        message.contains("invalid type: string \"half\", expected f64"),
        "{message}"
    );
}

#[test]
fn duration_without_unit() {
    let (path, line, message, _) =
        parse_failure(&format!("{BASE}sampling:\n  decision_wait: 10\n"));
    assert_eq!(path.as_deref(), Some("sampling.decision_wait"));
    assert_eq!(line, Some(4));
    assert!(message.contains("`10` has no unit"), "{message}");
    assert!(message.contains("`10s`"), "{message}");
}

#[test]
fn duration_with_unknown_unit() {
    let (path, _, message, _) =
        parse_failure(&format!("{BASE}sampling:\n  root_wait: 10 parsecs\n"));
    assert_eq!(path.as_deref(), Some("sampling.root_wait"));
    assert!(message.contains("unknown unit `parsecs`"), "{message}");
    assert!(message.contains("ms, s, m or h"), "{message}");
}

#[test]
fn duration_deep_in_a_matcher() {
    let (path, _, message, _) = parse_failure(&format!(
        "{BASE}sampling:\n  rules:\n    - {{ name: a, when: {{ trace: {{ min_duration: 1.5 }} }}, keep: true }}\n"
    ));
    assert_eq!(
        path.as_deref(),
        Some("sampling.rules[0].when.trace.min_duration")
    );
    assert!(message.contains("`1.5` has no unit"), "{message}");
}

#[test]
fn bad_sizes() {
    let (path, _, message, _) = parse_failure(&format!(
        "{BASE}sampling:\n  max_buffer_bytes: 512 parsecs\n"
    ));
    assert_eq!(path.as_deref(), Some("sampling.max_buffer_bytes"));
    assert!(message.contains("unknown unit `parsecs`"), "{message}");

    let (path, _, message, _) = parse_failure(&format!("{BASE}sampling:\n  memory_limit: -1\n"));
    assert_eq!(path.as_deref(), Some("sampling.memory_limit"));
    assert!(message.contains("negative"), "{message}");

    let (path, _, message, _) = parse_failure(&format!(
        "{BASE}fidelity:\n  lite: {{ max_attribute_bytes: MiB }}\n"
    ));
    assert_eq!(path.as_deref(), Some("fidelity.lite.max_attribute_bytes"));
    assert!(
        message.contains("does not start with a number"),
        "{message}"
    );
}

#[test]
fn misspelled_enum_values_name_the_accepted_ones() {
    let (path, _, message, _) = parse_failure(&format!(
        "{BASE}sampling:\n  rules:\n    - {{ name: a, when: {{ span: {{ status: erorr }} }}, keep: true }}\n"
    ));
    assert_eq!(path.as_deref(), Some("sampling.rules[0].when.span.status"));
    assert!(
        message.contains("unknown variant `erorr`, expected one of `unset`, `ok`, `error`"),
        "{message}"
    );

    let (path, _, message, _) = parse_failure(&format!(
        "{BASE}sampling:\n  rules:\n    - {{ name: a, when: {{ span: {{ kind: [server, clinet] }} }}, keep: true }}\n"
    ));
    assert_eq!(path.as_deref(), Some("sampling.rules[0].when.span.kind[1]"));
    assert!(message.contains("unknown variant `clinet`"), "{message}");

    let (path, _, message, _) = parse_failure(
        "receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }\nexporters: { t: { protocol: grpc } }\n",
    );
    assert_eq!(path.as_deref(), Some("exporters.t.protocol"));
    assert!(message.contains("unknown variant `grpc`"), "{message}");
    assert!(message.contains("`otlp_grpc`"), "{message}");
}

#[test]
fn missing_required_key() {
    let (path, _, message, _) =
        parse_failure("receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }\n");
    assert_eq!(path, None);
    assert!(message.contains("missing field `exporters`"), "{message}");

    let (path, _, message, _) =
        parse_failure(&format!("{BASE}sampling:\n  rules:\n    - keep: true\n"));
    assert_eq!(path.as_deref(), Some("sampling.rules[0]"));
    assert!(message.contains("missing field `name`"), "{message}");
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
