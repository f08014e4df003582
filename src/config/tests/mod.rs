//! Tests of the config module: the README example, every validation rejection, parse errors
//! and units.

mod cluster;
mod example;
mod exporters;
mod overrides;
mod parse_errors;
mod rules;
mod samplers;
mod sampling;
mod telemetry;
mod tls;
mod units;

use super::{parse, Config, ConfigError, ValidationError};

/// The README example configuration: it must always parse and validate.
pub(super) const EXAMPLE: &str = r#"
receivers:
  otlp:
    grpc: { endpoint: 0.0.0.0:4317 }
    http: { endpoint: 0.0.0.0:4318 }
sampling:
  decision_wait: 10s
  root_wait: 2s
  max_spans_per_trace: 10000
  max_traces: 200000
  max_buffer_bytes: 512MiB
  decision_cache: { kept: 100000, dropped: 1000000 }
  annotate: true
  rules:
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
fidelity:
  lite:
    hash_attributes: [prompt, "payload.*"]
    max_attribute_bytes: 256
    drop_events: false
exporters:
  tempo:
    protocol: otlp_grpc
    endpoint: http://tempo:4317
    headers: { X-Scope-OrgID: team-a }
  jaeger:
    protocol: otlp_http
    endpoint: http://jaeger:4318
  archive:
    protocol: file
    path: kept-traces.jsonl
telemetry:
  metrics: { endpoint: 0.0.0.0:8888 }
  logs: { level: info, format: text }
"#;

/// The smallest valid configuration; tests append keys to it.
pub(super) const BASE: &str = "\
receivers: { otlp: { grpc: { endpoint: 127.0.0.1:4317 } } }
exporters: { out: { protocol: file, path: out.jsonl } }
";

/// The example, parsed (and validated).
pub(super) fn example() -> Config {
    parse(EXAMPLE, "example.yaml").unwrap_or_else(|e| panic!("example must be valid:\n{e}"))
}

/// Validation errors of `yaml`, which must parse but not validate.
pub(super) fn invalid(yaml: &str) -> Vec<ValidationError> {
    match parse(yaml, "config.yaml") {
        Err(ConfigError::Invalid { errors, .. }) => errors,
        Err(other) => panic!("expected validation errors, got a different error:\n{other}"),
        Ok(_) => panic!("expected validation errors, but the config is valid:\n{yaml}"),
    }
}

/// Validation errors of a config (built in code), which must not validate.
pub(super) fn invalid_config(c: &Config) -> Vec<ValidationError> {
    match c.validate() {
        Err(errors) => {
            assert!(!errors.is_empty(), "validate returned an empty error list");
            errors
        }
        Ok(()) => panic!("expected validation errors, but the config is valid"),
    }
}

/// Asserts that some error has exactly `path` and a message containing every one of `needles`.
#[track_caller]
pub(super) fn assert_has(errors: &[ValidationError], path: &str, needles: &[&str]) {
    let found = errors
        .iter()
        .any(|e| e.path == path && needles.iter().all(|n| e.message.contains(n)));
    assert!(
        found,
        "no error at `{path}` containing {needles:?}; errors were:\n{}",
        errors
            .iter()
            .map(|e| format!("  {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Asserts that `yaml` fails to parse (before validation) and returns the error's parts.
#[track_caller]
pub(super) fn parse_failure(yaml: &str) -> (Option<String>, Option<usize>, String, String) {
    match parse(yaml, "config.yaml") {
        Err(e @ ConfigError::Parse { .. }) => {
            let shown = e.to_string();
            let ConfigError::Parse {
                path,
                line,
                message,
                ..
            } = e
            else {
                unreachable!()
            };
            (path, line, message, shown)
        }
        Err(other) => panic!("expected a parse error, got:\n{other}"),
        Ok(_) => panic!("expected a parse error, but the config is valid:\n{yaml}"),
    }
}
