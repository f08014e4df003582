//! What is applied over the file when it is loaded: `--set`, `${env:VAR}`, `headers_from_file`,
//! and the notes about decimal sizes.

use super::{assert_errors, assert_has, assert_none_say, BASE, EXAMPLE};
use crate::config::{parse_with, ConfigError};

fn env(name: &str) -> Option<String> {
    match name {
        "GRPC" => Some("0.0.0.0:14317".into()),
        "ORG" => Some("team-b".into()),
        "TRACES" => Some("5000".into()),
        _ => None,
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn set_overrides_listen_addresses_and_other_values() {
    let set = [
        "receivers.otlp.grpc.endpoint=0.0.0.0:4317".to_string(),
        "telemetry.metrics.endpoint=[::]:9464".to_string(),
        "sampling.decision_wait=2m".to_string(),
        "sampling.rules[4].probability=0.1".to_string(),
    ];
    let c = parse_with(&EXAMPLE, "example.yaml", &set, &no_env).unwrap();
    assert_eq!(c.receivers.otlp.grpc.unwrap().endpoint, "0.0.0.0:4317");
    assert_eq!(c.telemetry.metrics.unwrap().endpoint, "[::]:9464");
    assert_eq!(c.sampling.decision_wait.get().as_secs(), 120);
    assert_eq!(c.sampling.rules[4].probability, Some(0.1));
}

#[test]
fn set_values_are_validated_like_the_file_and_errors_name_the_key_path() {
    let set = ["sampling.decision_wait=0s".to_string()];
    match parse_with(BASE, "c.yaml", &set, &no_env) {
        Err(ConfigError::Invalid { errors, .. }) => {
            assert_has(&errors, "sampling.decision_wait", &["must be"])
        }
        other => panic!("{other:?}"),
    }
    let set = ["receivers.otlp.grpc.endpoint.port=1".to_string()];
    let e = parse_with(BASE, "c.yaml", &set, &no_env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "c.yaml: --set receivers.otlp.grpc.endpoint.port: `receivers.otlp.grpc.endpoint` is a string, not a mapping"
    );
    let set = ["sampling.bogus=1".to_string()];
    let e = parse_with(BASE, "c.yaml", &set, &no_env)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("c.yaml: sampling.bogus: unknown field `bogus`"),
        "{e}"
    );
}

#[test]
fn env_references_are_expanded_in_values() {
    let yaml = "
receivers: { otlp: { grpc: { endpoint: \"${env:GRPC}\" } } }
sampling: { max_traces: \"${env:TRACES}\" }
exporters:
  t:
    protocol: otlp_grpc
    endpoint: http://tempo:4317
    headers: { X-Scope-OrgID: \"${env:ORG}\", X-Literal: \"$${env:ORG}\" }
";
    let c = parse_with(yaml, "c.yaml", &[], &env).unwrap();
    assert_eq!(c.receivers.otlp.grpc.unwrap().endpoint, "0.0.0.0:14317");
    assert_eq!(c.sampling.max_traces, 5000, "a whole value is read as YAML");
    let h = &c.exporters["t"].headers;
    assert_eq!(h["X-Scope-OrgID"], "team-b");
    assert_eq!(h["X-Literal"], "${env:ORG}");
}

#[test]
fn an_unset_variable_is_an_error_naming_the_key_path_and_the_variable() {
    let yaml =
        format!("{BASE}telemetry: {{ metrics: {{ endpoint: \"${{env:METRICS_ADDR}}\" }} }}\n");
    match parse_with(&yaml, "c.yaml", &[], &env) {
        Err(ConfigError::Invalid { errors, .. }) => assert_has(
            &errors,
            "telemetry.metrics.endpoint",
            &["`METRICS_ADDR` is not set", "${env:METRICS_ADDR:-value}"],
        ),
        other => panic!("{other:?}"),
    }
    // `--set` values are expanded too.
    let set = ["receivers.otlp.grpc.endpoint=${env:GRPC}".to_string()];
    let c = parse_with(BASE, "c.yaml", &set, &env).unwrap();
    assert_eq!(c.receivers.otlp.grpc.unwrap().endpoint, "0.0.0.0:14317");
}

fn with_header_file(block: &str) -> Result<crate::config::Config, ConfigError> {
    let yaml = format!(
        "receivers: {{ otlp: {{ grpc: {{ endpoint: 127.0.0.1:4317 }} }} }}\nexporters:\n{block}"
    );
    parse_with(&yaml, "c.yaml", &[], &no_env)
}

#[test]
fn header_values_are_read_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "Bearer abc123\n").unwrap();
    let c = with_header_file(&format!(
        "  t: {{ protocol: otlp_http, endpoint: http://t:4318, headers: {{ X-A: b }}, headers_from_file: {{ Authorization: {:?} }} }}\n",
        token.display()
    ))
    .unwrap();
    let h = &c.exporters["t"].headers;
    assert_eq!(
        h["Authorization"], "Bearer abc123",
        "trailing newline removed"
    );
    assert_eq!(h["X-A"], "b");
}

#[test]
fn header_files_are_rejected_with_their_key_path_and_never_their_value() {
    let dir = tempfile::tempdir().unwrap();
    let (empty, bad, good) = (
        dir.path().join("empty"),
        dir.path().join("bad"),
        dir.path().join("good"),
    );
    std::fs::write(&empty, "\n").unwrap();
    std::fs::write(&bad, "secret\nsecond line").unwrap();
    std::fs::write(&good, "secret").unwrap();
    let missing = dir.path().join("missing");
    let block = format!(
        "  t:\n    protocol: otlp_grpc\n    endpoint: http://t:4317\n    headers: {{ X-Dup: a }}\n    headers_from_file:\n      X-Missing: {missing:?}\n      X-Empty: {empty:?}\n      X-Bad: {bad:?}\n      X-Dup: {good:?}\n      \"bad name\": {good:?}\n  f: {{ protocol: file, path: out.jsonl, headers_from_file: {{ X-A: {good:?} }} }}\n"
    );
    let Err(ConfigError::Invalid { errors, .. }) = with_header_file(&block) else {
        panic!("expected validation errors");
    };
    assert_errors(
        &errors,
        "
        exporters.t.headers_from_file.X-Missing: cannot read | missing
        exporters.t.headers_from_file.X-Empty: is empty
        exporters.t.headers_from_file.X-Bad: not hold a valid HTTP header value
        exporters.t.headers_from_file.X-Dup: also given in `headers`
        exporters.t.headers_from_file[\"bad name\"]: not a valid HTTP header name
        exporters.f.headers_from_file: not allowed for protocol `file`
        ",
    );
    assert_none_say(&errors, "secret", "a header's value is never shown");
}

#[test]
fn decimal_sizes_are_noted() {
    let yaml = format!("{BASE}sampling: {{ max_buffer_bytes: 512MB, memory_limit: 1GiB }}\n");
    let c = parse_with(&yaml, "c.yaml", &[], &no_env).unwrap();
    assert_eq!(c.sampling.max_buffer_bytes.get(), 512_000_000);
    assert_eq!(
        c.notes,
        vec!["sampling.max_buffer_bytes: `512MB` is a decimal size: 512,000,000 bytes (write `512MiB` for 536,870,912 bytes)"]
    );
}
